//! A JSON API client and the few JSON helpers every mapping uses. `JsonApi` sends each request through the
//! host's HTTP, names it for errors by its `context` (`GET /users page 2`), reads its status with the API's
//! `Statuses`, and parses its body; a connector's own API client wraps it with the source's paths and shapes.

use serde_json::Value;

use crate::error::{ConnectorError, Result};
use crate::http::{HttpClient, Method, Request, Response, Statuses, in_context};

/// A JSON API at `base_url`, over `http`.
pub struct JsonApi<H> {
    http: H,
    base_url: String,
    statuses: Statuses,
}

impl<H: HttpClient> JsonApi<H> {
    /// `base_url`: what relative paths are joined to, and what a transport error names.
    pub fn new(http: H, base_url: impl Into<String>, statuses: Statuses) -> Self {
        Self { http, base_url: base_url.into(), statuses }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `path` (starting with `/`) on the base URL.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends one request to `url` with a JSON `body`; the response as it came, whatever its status.
    pub fn send(&self, method: Method, url: &str, body: Option<&Value>, context: &str) -> Result<Response> {
        let request = Request { method, url: url.to_string(), body: body.map(|b| b.to_string().into_bytes()) };
        self.http.send(&request).map_err(|e| in_context(e, context, &self.base_url))
    }

    /// `send`, with any status but a 2xx as the connector's error.
    pub fn call(&self, method: Method, url: &str, body: Option<&Value>, context: &str) -> Result<Response> {
        let response = self.send(method, url, body, context)?;
        self.check(&response, context)?;
        Ok(response)
    }

    /// `call`, its body parsed (an empty body is `null`).
    pub fn json(&self, method: Method, url: &str, body: Option<&Value>, context: &str) -> Result<Value> {
        let response = self.call(method, url, body, context)?;
        if response.body.is_empty() {
            return Ok(Value::Null);
        }
        parse(&response.body, context)
    }

    /// `GET url`, parsed; `None` when the API says 404 (for reads that may find nothing).
    pub fn find(&self, url: &str, context: &str) -> Result<Option<Value>> {
        let response = self.send(Method::Get, url, None, context)?;
        if response.status == 404 {
            return Ok(None);
        }
        self.check(&response, context)?;
        parse(&response.body, context).map(Some)
    }

    /// `DELETE url`: `true` when done, `false` when there was nothing to delete (404).
    pub fn delete(&self, url: &str, context: &str) -> Result<bool> {
        let response = self.send(Method::Delete, url, None, context)?;
        if response.status == 404 {
            return Ok(false);
        }
        self.check(&response, context)?;
        Ok(true)
    }

    /// The API's reading of a response's status (see `Statuses`).
    pub fn check(&self, response: &Response, context: &str) -> Result<()> {
        self.statuses.check(response, context)
    }
}

/// A JSON body, or a bad response naming the call.
pub fn parse(body: &[u8], context: &str) -> Result<Value> {
    serde_json::from_slice(body).map_err(|e| not_json(body, &e, context))
}

/// The bad response for a body that did not parse.
pub fn not_json(body: &[u8], error: &serde_json::Error, context: &str) -> ConnectorError {
    let what = if body.is_empty() { "empty body".to_string() } else { format!("body is not valid JSON ({error})") };
    ConnectorError::bad_response(context, what)
}

/// A string value, trimmed, if it is one and not blank.
pub fn text(value: &Value) -> Option<String> {
    value.as_str().and_then(nonblank)
}

/// `text` trimmed, unless it is blank: what a connector keeps of a text field.
pub fn nonblank(text: &str) -> Option<String> {
    Some(text.trim()).filter(|s| !s.is_empty()).map(str::to_string)
}

/// `record` without `keys` (what the mapping took, and the API's own noise), as a profile's JSON object.
pub fn profile_without(record: &Value, keys: &[&str]) -> String {
    let mut rest = record.as_object().cloned().unwrap_or_default();
    for key in keys {
        rest.remove(*key);
    }
    Value::Object(rest).to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fake::FakeHttp;

    #[test]
    fn calls_are_named_checked_and_parsed() {
        let raw = |status: u16, body: &str| Response { status, retry_after: None, body: body.as_bytes().to_vec() };
        let http = FakeHttp::new()
            .with("https://api.test/users/7", 200, json!({"id": "7"}))
            .answer(Method::Get, "https://api.test/users/8", raw(404, ""))
            .answer(Method::Get, "https://api.test/broken", raw(200, "{"))
            .answer(Method::Delete, "https://api.test/users/8", raw(404, ""));
        let api = JsonApi::new(&http, "https://api.test", Statuses::PLAIN);
        assert_eq!(api.find(&api.url("/users/7"), "GET /users/7"), Ok(Some(json!({"id": "7"}))));
        assert_eq!(api.find(&api.url("/users/8"), "GET /users/8"), Ok(None));
        assert_eq!(api.delete(&api.url("/users/8"), "DELETE /users/8"), Ok(false));
        let broken = api.json(Method::Get, &api.url("/broken"), None, "GET /broken").unwrap_err().to_string();
        assert!(broken.starts_with("bad response: GET /broken: body is not valid JSON"), "{broken}");
    }

    #[test]
    fn mappings_read_text_and_keep_the_rest_as_the_profile() {
        let record = json!({"id": "7", "name": "  Ada ", "blank": " ", "_links": {}, "title": "Engineer"});
        assert_eq!((text(&record["name"]), text(&record["blank"]), text(&record["id"])), (Some("Ada".into()), None, Some("7".into())));
        assert_eq!(profile_without(&record, &["id", "name", "blank", "_links"]), r#"{"title":"Engineer"}"#);
    }
}
