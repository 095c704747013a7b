//! The SCIM 2.0 protocol client (RFC 7644): endpoints, `ListResponse` paging, discovery, writes and SCIM
//! error bodies. It knows the wire format and nothing about resources or grants.

use std::cell::Cell;

use serde_json::{Value, json};

use connector_sdk::error::{ConnectorError, Result};
use connector_sdk::http::{HttpClient, Meaning, Method, Response, Statuses, percent_encode};
use connector_sdk::json::{self, JsonApi};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The two resource endpoints the connector reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Users,
    Groups,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Users => "/Users",
            Endpoint::Groups => "/Groups",
        }
    }
}

/// One page of a `ListResponse`.
#[derive(Debug)]
pub struct ListPage {
    pub resources: Vec<Value>,
    /// `totalResults`, when the server sent a number.
    pub total: Option<u64>,
}

/// What a create came to: the new resource, or the server's `409` (a `uniqueness` conflict) in its own words.
#[derive(Debug)]
pub enum Created {
    New(Value),
    Conflict(String),
}

/// What the service provider says it supports (`/ServiceProviderConfig`, RFC 7643 §5); unknown when the
/// server does not offer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// `patch.supported`; `None` when the server did not say.
    pub patch: Option<bool>,
}

pub struct ScimApi<H> {
    api: JsonApi<H>,
    /// `/ServiceProviderConfig`, read once, when a write first needs it.
    features: Cell<Option<Features>>,
}

impl<H: HttpClient> ScimApi<H> {
    pub fn new(http: H, base_url: String) -> Self {
        Self { api: JsonApi::new(http, base_url, STATUSES), features: Cell::new(None) }
    }

    pub fn base_url(&self) -> &str {
        self.api.base_url()
    }

    /// `GET /<endpoint>?startIndex=…&count=…`: one page. A server without the endpoint (404, 501) is `None`.
    pub fn list(&self, endpoint: Endpoint, start_index: u64, count: u32, attributes: &[String]) -> Result<Option<ListPage>> {
        let mut path = format!("{}?startIndex={start_index}&count={count}", endpoint.path());
        if !attributes.is_empty() {
            path.push_str(&format!("&attributes={}", percent_encode(&attributes.join(","))));
        }
        let context = format!("GET {} startIndex={start_index}", endpoint.path());
        let response = self.send(Method::Get, &path, None, &context)?;
        if matches!(response.status, 404 | 501) {
            return Ok(None);
        }
        self.api.check(&response, &context)?;
        parse_list(&response.body, &context).map(Some)
    }

    /// `GET /<endpoint>/<id>[?attributes=…]`; `None` on 404.
    pub fn get(&self, endpoint: Endpoint, id: &str, attributes: Option<&str>) -> Result<Option<Value>> {
        let mut path = format!("{}/{}", endpoint.path(), percent_encode(id));
        if let Some(attributes) = attributes {
            path.push_str(&format!("?attributes={}", percent_encode(attributes)));
        }
        let context = format!("GET {}/{id}", endpoint.path());
        let response = self.send(Method::Get, &path, None, &context)?;
        if response.status == 404 {
            return Ok(None);
        }
        self.api.check(&response, &context)?;
        parse_object(&response.body, &context).map(Some)
    }

    /// The first resource matching `attribute eq "value"`, if any.
    pub fn find(&self, endpoint: Endpoint, attribute: &str, value: &str) -> Result<Option<Value>> {
        let filter = format!("{attribute} eq {}", Value::String(value.to_string()));
        let path = format!("{}?filter={}&startIndex=1&count=2", endpoint.path(), percent_encode(&filter));
        let context = format!("GET {}?filter={attribute} eq …", endpoint.path());
        let response = self.send(Method::Get, &path, None, &context)?;
        self.api.check(&response, &context)?;
        let page = parse_list(&response.body, &context)?;
        match page.resources.len() {
            0 | 1 => Ok(page.resources.into_iter().next()),
            n => Err(ConnectorError::bad_response(&context, format!("{n} resources share the unique {attribute} `{value}`"))),
        }
    }

    /// `GET /ResourceTypes`: the endpoints the server serves (e.g. "/Groups"), or `None` when it does not say.
    pub fn resource_type_endpoints(&self) -> Result<Option<Vec<String>>> {
        let context = "GET /ResourceTypes";
        let response = self.send(Method::Get, "/ResourceTypes", None, context)?;
        if matches!(response.status, 404 | 501) {
            return Ok(None);
        }
        self.api.check(&response, context)?;
        // A ListResponse, or (some servers) a bare array.
        let types = match json::parse(&response.body, context)? {
            Value::Array(items) => items,
            other => list_of(other, context)?.resources,
        };
        Ok(Some(types.iter().filter_map(|t| t["endpoint"].as_str()).map(|e| format!("/{}", e.trim_start_matches('/'))).collect()))
    }

    /// What the server supports, read once (`GET /ServiceProviderConfig`).
    pub fn features(&self) -> Result<Features> {
        if let Some(features) = self.features.get() {
            return Ok(features);
        }
        let features = self.service_provider_config()?;
        self.features.set(Some(features));
        Ok(features)
    }

    /// `GET /ServiceProviderConfig`; unknown features when the server does not offer it.
    fn service_provider_config(&self) -> Result<Features> {
        let context = "GET /ServiceProviderConfig";
        let response = self.send(Method::Get, "/ServiceProviderConfig", None, context)?;
        if matches!(response.status, 404 | 501) {
            return Ok(Features { patch: None });
        }
        self.api.check(&response, context)?;
        let body = parse_object(&response.body, context)?;
        Ok(Features { patch: body["patch"]["supported"].as_bool() })
    }

    pub fn create(&self, endpoint: Endpoint, body: &Value) -> Result<Created> {
        let context = format!("POST {}", endpoint.path());
        let response = self.send(Method::Post, endpoint.path(), Some(body), &context)?;
        if response.status == 409 {
            return Ok(Created::Conflict(error_text(&response.body)));
        }
        self.api.check(&response, &context)?;
        parse_object(&response.body, &context).map(Created::New)
    }

    /// `PATCH /<endpoint>/<id>` with `operations`: the resource when the server returned it (200), `None` for
    /// 204. A missing resource is `not-found`; a server without PATCH answers `unsupported`.
    pub fn patch(&self, endpoint: Endpoint, id: &str, operations: Vec<Value>) -> Result<Option<Value>> {
        let path = format!("{}/{}", endpoint.path(), percent_encode(id));
        let context = format!("PATCH {}/{id}", endpoint.path());
        let body = json!({"schemas": [PATCH_OP], "Operations": operations});
        let response = self.send(Method::Patch, &path, Some(&body), &context)?;
        self.api.check(&response, &context)?;
        if response.status == 204 || response.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        parse_object(&response.body, &context).map(Some)
    }

    /// `PUT /<endpoint>/<id>` with the whole resource: the resource as stored.
    pub fn put(&self, endpoint: Endpoint, id: &str, resource: &Value) -> Result<Value> {
        let path = format!("{}/{}", endpoint.path(), percent_encode(id));
        let context = format!("PUT {}/{id}", endpoint.path());
        let response = self.send(Method::Put, &path, Some(resource), &context)?;
        self.api.check(&response, &context)?;
        parse_object(&response.body, &context)
    }

    /// `DELETE /<endpoint>/<id>`; false when there was nothing to delete (404).
    pub fn delete(&self, endpoint: Endpoint, id: &str) -> Result<bool> {
        let path = format!("{}/{}", endpoint.path(), percent_encode(id));
        self.api.delete(&self.api.url(&path), &format!("DELETE {}/{id}", endpoint.path()))
    }

    /// `method path` on the base URL, whatever its status.
    fn send(&self, method: Method, path: &str, body: Option<&Value>, context: &str) -> Result<Response> {
        self.api.send(method, &self.api.url(path), body, context)
    }
}

/// The usual statuses, with the server's SCIM error (`scimType`, `detail`) verbatim. 401 is final: a static
/// bearer token has no refresh.
pub const STATUSES: Statuses = Statuses { words: error_text, special: &[(401, Meaning::Unauthenticated, Some("the bearer token was refused"))] };

/// A SCIM error body (RFC 7644 §3.12) as one line: `scimType` and `detail` as the server wrote them; any
/// other body, shortened.
pub fn error_text(body: &[u8]) -> String {
    let text = || {
        let t: String = String::from_utf8_lossy(body).chars().take(300).collect();
        if t.trim().is_empty() { "(no body)".to_string() } else { t }
    };
    let Ok(error) = serde_json::from_slice::<Value>(body) else { return text() };
    let detail = error["detail"].as_str();
    match (error["scimType"].as_str(), detail) {
        (Some(kind), Some(detail)) => format!("{kind}: {detail}"),
        (Some(kind), None) => kind.to_string(),
        (None, Some(detail)) => detail.to_string(),
        (None, None) => text(),
    }
}

fn parse_object(body: &[u8], context: &str) -> Result<Value> {
    let value = json::parse(body, context)?;
    if !value.is_object() {
        return Err(ConnectorError::bad_response(context, "expected a JSON object"));
    }
    Ok(value)
}

/// A `ListResponse`, read tolerantly: `totalResults` as a number or a numeric string; `Resources` absent when
/// there are none.
fn parse_list(body: &[u8], context: &str) -> Result<ListPage> {
    list_of(json::parse(body, context)?, context)
}

fn list_of(mut body: Value, context: &str) -> Result<ListPage> {
    if !body.is_object() {
        return Err(ConnectorError::bad_response(context, "expected a JSON object"));
    }
    let total = match &body["totalResults"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    let resources = match body.get_mut("Resources").map(Value::take) {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(ConnectorError::bad_response(context, "`Resources` is not an array")),
    };
    if let Some(bad) = resources.iter().position(|r| r["id"].as_str().is_none_or(str::is_empty)) {
        return Err(ConnectorError::bad_response(context, format!("resource {} of the page has no `id`", bad + 1)));
    }
    Ok(ListPage { resources, total })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, retry_after: Option<&str>, body: &str) -> Response {
        Response { status, retry_after: retry_after.map(str::to_string), body: body.as_bytes().to_vec() }
    }

    #[test]
    fn scim_errors_are_surfaced_verbatim() {
        let conflict = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"userName taken"}"#;
        assert_eq!(STATUSES.check(&answer(409, None, conflict), "POST /Users"), Err(ConnectorError::Rejected("POST /Users: HTTP 409: uniqueness: userName taken".into())));
        let numeric_status = r#"{"status":404,"detail":"Resource 7 not found"}"#;
        assert_eq!(STATUSES.check(&answer(404, None, numeric_status), "GET /Users/7"), Err(ConnectorError::NotFound("GET /Users/7: HTTP 404: Resource 7 not found".into())));
        assert_eq!(
            STATUSES.check(&answer(429, Some("3"), ""), "c"),
            Err(ConnectorError::RateLimited { message: "c: HTTP 429: (no body)".into(), retry_after_ms: Some(3000) })
        );
        assert!(matches!(STATUSES.check(&answer(401, None, ""), "c"), Err(ConnectorError::Unauthenticated(_))));
        assert!(matches!(STATUSES.check(&answer(501, None, ""), "c"), Err(ConnectorError::Unsupported(_))));
        assert!(matches!(STATUSES.check(&answer(503, None, "<html>"), "c"), Err(ConnectorError::Unavailable { .. })));
    }

    #[test]
    fn list_responses_are_read_tolerantly() {
        let page = parse_list(br#"{"totalResults":"2","Resources":[{"id":"a"},{"id":"b"}]}"#, "c").unwrap();
        assert_eq!((page.total, page.resources.len()), (Some(2), 2));
        let empty = parse_list(br#"{"schemas":[],"totalResults":0}"#, "c").unwrap();
        assert_eq!((empty.total, empty.resources.len()), (Some(0), 0));
        let err = parse_list(br#"{"totalResults":1,"Resources":[{"userName":"x"}]}"#, "GET /Users startIndex=1").unwrap_err();
        assert_eq!(err.to_string(), "bad response: GET /Users startIndex=1: resource 1 of the page has no `id`");
        let err = parse_list(br#"{"totalResults":1,"Resources":[{"id":"#, "GET /Users startIndex=1").unwrap_err();
        assert!(err.to_string().starts_with("bad response: GET /Users startIndex=1: body is not valid JSON"), "{err}");
    }
}
