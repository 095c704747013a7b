//! The PingOne management API client: requests, HAL collections paged by `_links.next.href`, and PingOne's
//! error bodies. It knows the wire format and nothing about resources or grants.

use serde_json::Value;

use connector_sdk::error::{ConnectorError, Result};
use connector_sdk::http::{HttpClient, Method, Request, Response, in_context, percent_encode, retry_after_ms};

/// One page of a collection: `_embedded.<key>`, and the next page's link.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<Value>,
    pub next: Option<String>,
}

pub struct PingOneApi<H> {
    http: H,
    /// `<api_base>/environments/<id>`.
    environment_url: String,
    /// `<api_base>`, for the built-in roles and to check next links against.
    api_base: String,
}

impl<H: HttpClient> PingOneApi<H> {
    pub fn new(http: H, api_base: &str, environment_url: String) -> Self {
        Self { http, environment_url, api_base: api_base.to_string() }
    }

    /// An environment path (`/users`) as a URL.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.environment_url)
    }

    /// `GET` one page of a collection: `url` is a first page's URL or a `next` link the API gave. A link
    /// that leaves the environment's API is refused rather than followed.
    pub fn page(&self, url: &str, key: &str, context: &str) -> Result<Page> {
        if !url.starts_with(&format!("{}/", self.api_base)) {
            return Err(ConnectorError::bad_response(context, format!("a page link outside the API ({})", printable(url))));
        }
        let body = self.json(Method::Get, url, None, context)?;
        let items = match &body["_embedded"][key] {
            Value::Array(items) => items.clone(),
            Value::Null => Vec::new(),
            _ => return Err(ConnectorError::bad_response(context, format!("`_embedded.{key}` is not a list"))),
        };
        let next = body["_links"]["next"]["href"].as_str().map(str::to_string);
        Ok(Page { items, next })
    }

    /// The first page of an environment collection (`/users`) with `query` (already encoded).
    pub fn first_page_url(&self, path: &str, query: &str) -> String {
        format!("{}{path}?{query}", self.environment_url)
    }

    /// Every item of a collection that may page (the lists PingOne documents without paging still might).
    pub fn all(&self, url: &str, key: &str, context: &str) -> Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut next = Some(url.to_string());
        let mut links = connector_sdk::page::Links::new(10_000);
        while let Some(url) = next {
            links.follow(&url, context)?;
            let page = self.page(&url, key, context)?;
            items.extend(page.items);
            next = page.next;
        }
        Ok(items)
    }

    /// The built-in roles (`GET /v1/roles`: no environment in the path).
    pub fn platform_roles(&self) -> Result<Vec<Value>> {
        self.all(&format!("{}/roles", self.api_base), "roles", "GET /roles")
    }

    /// A JSON object from `method url`; `None` on 404 (for reads that may find nothing).
    pub fn find(&self, url: &str, context: &str) -> Result<Option<Value>> {
        let response = self.send(Method::Get, url, None, context)?;
        if response.status == 404 {
            return Ok(None);
        }
        check(&response, context)?;
        parse(&response.body, context).map(Some)
    }

    pub fn json(&self, method: Method, url: &str, body: Option<&Value>, context: &str) -> Result<Value> {
        let response = self.send(method, url, body, context)?;
        check(&response, context)?;
        if response.body.is_empty() {
            return Ok(Value::Null);
        }
        parse(&response.body, context)
    }

    /// A write that answers no body: `Ok(true)` when done, `Ok(false)` on 404.
    pub fn delete(&self, url: &str, context: &str) -> Result<bool> {
        let response = self.send(Method::Delete, url, None, context)?;
        if response.status == 404 {
            return Ok(false);
        }
        check(&response, context)?;
        Ok(true)
    }

    pub fn send(&self, method: Method, url: &str, body: Option<&Value>, context: &str) -> Result<Response> {
        let request = Request { method, url: url.to_string(), body: body.map(|b| b.to_string().into_bytes()) };
        self.http.send(&request).map_err(|e| in_context(e, context, &self.api_base))
    }
}

/// A filter value quoted for PingOne's SCIM filter syntax and encoded for a query string.
pub fn filter_eq(attribute: &str, value: &str) -> String {
    percent_encode(&format!("{attribute} eq {}", Value::String(value.to_string())))
}

fn parse(body: &[u8], context: &str) -> Result<Value> {
    serde_json::from_slice(body).map_err(|e| ConnectorError::bad_response(context, format!("not JSON ({e})")))
}

fn printable(text: &str) -> String {
    text.chars().take(200).map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// PingOne's error body, as one line: code, message, the first detail and its target, and the error id
/// Ping support asks for.
pub fn error_text(body: &[u8]) -> String {
    let Ok(error) = serde_json::from_slice::<Value>(body) else { return printable(&String::from_utf8_lossy(body)) };
    let mut text = format!("{}: {}", error["code"].as_str().unwrap_or("ERROR"), error["message"].as_str().unwrap_or("no message"));
    if let Some(detail) = error["details"].as_array().and_then(|d| d.first()) {
        let target = detail["target"].as_str().filter(|t| !t.is_empty()).map(|t| format!(" on `{t}`")).unwrap_or_default();
        text.push_str(&format!(" ({}{target}: {})", detail["code"].as_str().unwrap_or("?"), detail["message"].as_str().unwrap_or("")));
    }
    if let Some(id) = error["id"].as_str() {
        text.push_str(&format!(" [PingOne error id {id}]"));
    }
    printable(&text)
}

/// The detail code of an error body (`UNIQUENESS_VIOLATION`), if any.
pub fn detail_code(body: &[u8]) -> Option<String> {
    let error: Value = serde_json::from_slice(body).ok()?;
    error["details"][0]["code"].as_str().map(str::to_string)
}

/// PingOne's statuses as the connector's errors, with PingOne's own words. Ping says a status within a class
/// may change, so codes are what callers branch on where it matters (see `provisioning`).
pub fn check(response: &Response, context: &str) -> Result<()> {
    let status = response.status;
    let message = || format!("{context}: HTTP {status} {}", error_text(&response.body));
    let retry_after = || response.retry_after.as_deref().and_then(|v| retry_after_ms(v, std::time::SystemTime::now()));
    match status {
        200..=299 => Ok(()),
        401 => Err(ConnectorError::Unauthenticated(message())),
        403 => Err(ConnectorError::PermissionDenied(message())),
        404 => Err(ConnectorError::NotFound(message())),
        400 | 409 | 415 | 422 => Err(ConnectorError::Rejected(message())),
        429 => Err(ConnectorError::RateLimited { message: message(), retry_after_ms: retry_after() }),
        408 | 500..=599 => Err(ConnectorError::Unavailable { message: message(), retry_after_ms: retry_after() }),
        _ => Err(ConnectorError::bad_response(context, format!("unexpected HTTP {status}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_pingones_code_detail_and_error_id() {
        let body = br#"{"id":"e-1","code":"INVALID_DATA","message":"The request could not be completed.","details":[{"code":"UNIQUENESS_VIOLATION","target":"username","message":"username must be unique"}]}"#;
        let response = Response { status: 400, retry_after: None, body: body.to_vec() };
        assert_eq!(
            check(&response, "POST /users").unwrap_err(),
            ConnectorError::Rejected(
                "POST /users: HTTP 400 INVALID_DATA: The request could not be completed. (UNIQUENESS_VIOLATION on `username`: username must be unique) [PingOne error id e-1]".into()
            )
        );
        assert_eq!(detail_code(body).as_deref(), Some("UNIQUENESS_VIOLATION"));
        let limited = Response { status: 429, retry_after: Some("3".into()), body: br#"{"code":"REQUEST_LIMITED","message":"slow"}"#.to_vec() };
        assert!(matches!(check(&limited, "c"), Err(ConnectorError::RateLimited { retry_after_ms: Some(3000), .. })));
        assert_eq!(error_text(b"<html>"), "<html>");
    }
}
