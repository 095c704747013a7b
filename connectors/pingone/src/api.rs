//! The PingOne management API client: requests, HAL collections paged by `_links.next.href`, and PingOne's
//! error bodies. It knows the wire format and nothing about resources or grants.

use serde_json::Value;

use connector_sdk::error::{ConnectorError, Result};
use connector_sdk::http::{HttpClient, Method, Response, Statuses, percent_encode};
use connector_sdk::json::JsonApi;

/// One page of a collection: `_embedded.<key>`, and the next page's link.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<Value>,
    pub next: Option<String>,
}

pub struct PingOneApi<H> {
    /// At `<api_base>`, for the built-in roles and to check next links against.
    api: JsonApi<H>,
    /// `<api_base>/environments/<id>`.
    environment_url: String,
}

impl<H: HttpClient> PingOneApi<H> {
    pub fn new(http: H, api_base: &str, environment_url: String) -> Self {
        Self { api: JsonApi::new(http, api_base, STATUSES), environment_url }
    }

    /// An environment path (`/users`) as a URL.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.environment_url)
    }

    /// `GET` one page of a collection: `url` is a first page's URL or a `next` link the API gave. A link
    /// that leaves the environment's API is refused rather than followed.
    pub fn page(&self, url: &str, key: &str, context: &str) -> Result<Page> {
        if !url.starts_with(&format!("{}/", self.api.base_url())) {
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
        self.all(&self.api.url("/roles"), "roles", "GET /roles")
    }

    /// The user `id`, if there is one.
    pub fn user(&self, id: &str) -> Result<Option<Value>> {
        self.find(&self.url(&format!("/users/{}", percent_encode(id))), "GET /users/{id}")
    }

    /// The user with this username, if any.
    pub fn user_by_username(&self, username: &str) -> Result<Option<Value>> {
        let url = self.first_page_url("/users", &format!("filter={}&limit=2", filter_eq("username", username)));
        Ok(self.page(&url, "users", "GET /users?filter=username eq")?.items.into_iter().next())
    }

    /// A JSON object from `GET url`; `None` on 404 (for reads that may find nothing).
    pub fn find(&self, url: &str, context: &str) -> Result<Option<Value>> {
        self.api.find(url, context)
    }

    pub fn json(&self, method: Method, url: &str, body: Option<&Value>, context: &str) -> Result<Value> {
        self.api.json(method, url, body, context)
    }

    /// A write that answers no body: `Ok(true)` when done, `Ok(false)` on 404.
    pub fn delete(&self, url: &str, context: &str) -> Result<bool> {
        self.api.delete(url, context)
    }

    pub fn send(&self, method: Method, url: &str, body: Option<&Value>, context: &str) -> Result<Response> {
        self.api.send(method, url, body, context)
    }

    /// PingOne's reading of a response's status (`STATUSES`).
    pub fn check(&self, response: &Response, context: &str) -> Result<()> {
        self.api.check(response, context)
    }
}

/// A filter value quoted for PingOne's SCIM filter syntax and encoded for a query string.
pub fn filter_eq(attribute: &str, value: &str) -> String {
    percent_encode(&format!("{attribute} eq {}", Value::String(value.to_string())))
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

/// PingOne's statuses: the usual meanings, with PingOne's own words. Ping says a status within a class may
/// change, so codes are what callers branch on where it matters (see `provisioning`).
pub const STATUSES: Statuses = Statuses { words: error_text, special: &[] };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_pingones_code_detail_and_error_id() {
        let body = br#"{"id":"e-1","code":"INVALID_DATA","message":"The request could not be completed.","details":[{"code":"UNIQUENESS_VIOLATION","target":"username","message":"username must be unique"}]}"#;
        let response = Response { status: 400, retry_after: None, body: body.to_vec() };
        assert_eq!(
            STATUSES.check(&response, "POST /users").unwrap_err(),
            ConnectorError::Rejected(
                "POST /users: HTTP 400: INVALID_DATA: The request could not be completed. (UNIQUENESS_VIOLATION on `username`: username must be unique) [PingOne error id e-1]".into()
            )
        );
        assert_eq!(detail_code(body).as_deref(), Some("UNIQUENESS_VIOLATION"));
        let limited = Response { status: 429, retry_after: Some("3".into()), body: br#"{"code":"REQUEST_LIMITED","message":"slow"}"#.to_vec() };
        assert!(matches!(STATUSES.check(&limited, "c"), Err(ConnectorError::RateLimited { retry_after_ms: Some(3000), .. })));
        assert_eq!(error_text(b"<html>"), "<html>");
    }
}
