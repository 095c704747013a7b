//! The one seam between a connector and the network. Inside the component it is `waki` over the host's
//! `wasi:http` (see `export`); natively, tests and benchmarks bring their own (see `fake`). Authentication is
//! not the client's business: the host adds credentials to requests for the tenant's origin.

use crate::error::{ConnectorError, Result};
pub use connector_model::wire::{percent_encode, retry_after_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// Absolute URL.
    pub url: String,
    /// A JSON body.
    pub body: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// The raw `Retry-After` header, if any.
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
}

pub trait HttpClient {
    /// Sends one request. Transport failures come back already classified (`Unavailable` for what a retry
    /// may cure, `PermissionDenied` for a request the host refused to send).
    fn send(&self, request: &Request) -> Result<Response>;
}

impl<T: HttpClient + ?Sized> HttpClient for &T {
    fn send(&self, request: &Request) -> Result<Response> {
        (**self).send(request)
    }
}

/// What an HTTP status means to the host, as one of the connector's errors (or none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    Fine,
    /// Final: 401 reaches the guest only after the host has refreshed the token once already.
    Unauthenticated,
    PermissionDenied,
    NotFound,
    /// The source refusing a write, in its own words.
    Rejected,
    /// For the host to retry, with the source's Retry-After.
    RateLimited,
    /// For the host to retry, with the source's Retry-After.
    Unavailable,
    Unsupported,
    /// A status the connector does not expect: a bad response.
    Unexpected,
}

impl Meaning {
    /// The usual meaning of a status: 2xx is fine; 429, 408 and 500/502/503/504 are for the host to retry;
    /// 401, 403 and 404 are what they say; 400, 409, 412, 413, 415 and 422 are the source refusing a write; 501
    /// is a call the source does not support; anything else is unexpected.
    pub fn usual(status: u16) -> Self {
        match status {
            200..=299 => Self::Fine,
            401 => Self::Unauthenticated,
            403 => Self::PermissionDenied,
            404 => Self::NotFound,
            400 | 409 | 412 | 413 | 415 | 422 => Self::Rejected,
            429 => Self::RateLimited,
            408 | 500 | 502 | 503 | 504 => Self::Unavailable,
            501 => Self::Unsupported,
            _ => Self::Unexpected,
        }
    }
}

/// How one API's statuses read as the connector's errors: the usual meanings (`Meaning::usual`), each error
/// in the source's own words (`HTTP <status>: <words>`), and what the connector knows better for a few statuses.
#[derive(Clone, Copy)]
pub struct Statuses {
    /// The source's words from an error body (its error format decoded); empty leaves them out.
    pub words: fn(&[u8]) -> String,
    /// Statuses the connector reads otherwise: a meaning, and words of its own in place of the body's.
    pub special: &'static [(u16, Meaning, Option<&'static str>)],
}

impl Statuses {
    /// Any API: its error bodies shortened as they are.
    pub const PLAIN: Statuses = Statuses { words: body_text, special: &[] };

    /// `Ok` for a 2xx, else the connector's error for the status; `context` names the call (`GET /users page 2`).
    pub fn check(&self, response: &Response, context: &str) -> Result<()> {
        let status = response.status;
        let special = self.special.iter().find(|(s, _, _)| *s == status);
        let meaning = special.map_or_else(|| Meaning::usual(status), |(_, meaning, _)| *meaning);
        let message = || {
            let words = special.and_then(|(_, _, words)| words.map(str::to_string)).unwrap_or_else(|| (self.words)(&response.body));
            if words.is_empty() { format!("{context}: HTTP {status}") } else { format!("{context}: HTTP {status}: {words}") }
        };
        let retry_after_ms = || response.retry_after.as_deref().and_then(|v| retry_after_ms(v, std::time::SystemTime::now()));
        Err(match meaning {
            Meaning::Fine => return Ok(()),
            Meaning::Unauthenticated => ConnectorError::Unauthenticated(message()),
            Meaning::PermissionDenied => ConnectorError::PermissionDenied(message()),
            Meaning::NotFound => ConnectorError::NotFound(message()),
            Meaning::Rejected => ConnectorError::Rejected(message()),
            Meaning::RateLimited => ConnectorError::RateLimited { message: message(), retry_after_ms: retry_after_ms() },
            Meaning::Unavailable => ConnectorError::Unavailable { message: message(), retry_after_ms: retry_after_ms() },
            Meaning::Unsupported => ConnectorError::Unsupported(message()),
            Meaning::Unexpected => ConnectorError::bad_response(context, format!("unexpected HTTP {status}")),
        })
    }
}

/// A body as words for an error message: its text, shortened, with control characters shown as `?`.
pub fn body_text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).trim().chars().take(300).map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// `Statuses::PLAIN.check`: the usual meaning of each status, with the body's text as the source's words.
pub fn check_status(response: &Response, context: &str) -> Result<()> {
    Statuses::PLAIN.check(response, context)
}

/// A failure of `HttpClient::send` named for people: which call (`context`) and which origin it was for.
/// Transport errors come back from the host unnamed; an API client wraps each send with this.
pub fn in_context(error: ConnectorError, context: &str, origin: &str) -> ConnectorError {
    match error {
        ConnectorError::Unavailable { message, retry_after_ms } => ConnectorError::Unavailable { message: format!("{context}: {message} ({origin})"), retry_after_ms },
        ConnectorError::PermissionDenied(message) => ConnectorError::PermissionDenied(format!("{context}: {message} ({origin})")),
        ConnectorError::BadResponse(message) => ConnectorError::BadResponse(format!("{context}: {message}")),
        other => other,
    }
}

/// Classifies a transport error message from a `wasi:http` client (which names the `ErrorCode`); the API
/// client adds which call it was.
pub fn transport_error(message: &str) -> ConnectorError {
    const PLAIN: [(&str, &str); 9] = [
        ("ConnectionRefused", "connection refused"),
        ("ConnectionTimeout", "timed out connecting"),
        ("HttpResponseTimeout", "timed out waiting for the response"),
        ("ConnectionReadTimeout", "timed out reading the response"),
        ("DnsError", "the host name did not resolve"),
        ("DnsTimeout", "the host name did not resolve in time"),
        ("ConnectionTerminated", "the connection was closed mid-response"),
        ("HttpResponseIncomplete", "the response was cut short"),
        ("TlsCertificateError", "the TLS certificate was not accepted"),
    ];
    if message.contains("HttpRequestDenied") {
        return ConnectorError::PermissionDenied("the host refused to send the request (egress not allowed)".into());
    }
    if message.contains("HttpResponseBodySize") {
        return ConnectorError::BadResponse("the response body is larger than the host allows".into());
    }
    let plain = PLAIN.iter().find(|(code, _)| message.contains(code)).map(|(_, text)| text.to_string());
    // A failed read of the body stream carries only a handle to the host's error, printed as debug text.
    let plain = plain.or_else(|| message.contains("LastOperationFailed").then(|| "the connection failed while the response was read".to_string()));
    ConnectorError::Unavailable { message: plain.unwrap_or_else(|| message.to_string()), retry_after_ms: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_what_the_host_does_with_them() {
        let answer = |status: u16, retry_after: Option<&str>| Response { status, retry_after: retry_after.map(str::to_string), body: b"{\"error\":\"taken\"}".to_vec() };
        assert_eq!(check_status(&answer(204, None), "c"), Ok(()));
        let taken = "{\"error\":\"taken\"}";
        assert_eq!(check_status(&answer(429, Some("2")), "c"), Err(ConnectorError::RateLimited { message: format!("c: HTTP 429: {taken}"), retry_after_ms: Some(2000) }));
        assert_eq!(check_status(&answer(503, None), "c"), Err(ConnectorError::Unavailable { message: format!("c: HTTP 503: {taken}"), retry_after_ms: None }));
        assert_eq!(check_status(&answer(409, None), "c"), Err(ConnectorError::Rejected(format!("c: HTTP 409: {taken}"))));
        assert!(matches!(check_status(&answer(401, None), "c"), Err(ConnectorError::Unauthenticated(_))));
        assert!(matches!(check_status(&answer(302, None), "c"), Err(ConnectorError::BadResponse(_))));
        assert!(matches!(check_status(&answer(501, None), "c"), Err(ConnectorError::Unsupported(_))));
    }

    #[test]
    fn a_connector_decodes_its_error_bodies_and_says_what_it_knows_better() {
        fn errors(body: &[u8]) -> String {
            String::from_utf8_lossy(body).replace("{\"errors\":[\"", "").replace("\"]}", "")
        }
        const SOURCE: Statuses = Statuses { words: errors, special: &[(401, Meaning::Unauthenticated, Some("the credentials were refused")), (409, Meaning::Unexpected, None)] };
        let answer = |status: u16| Response { status, retry_after: None, body: b"{\"errors\":[\"Email is taken\"]}".to_vec() };
        assert_eq!(SOURCE.check(&answer(422), "POST /users"), Err(ConnectorError::Rejected("POST /users: HTTP 422: Email is taken".into())));
        assert_eq!(SOURCE.check(&answer(401), "GET /users"), Err(ConnectorError::Unauthenticated("GET /users: HTTP 401: the credentials were refused".into())));
        assert_eq!(SOURCE.check(&answer(409), "c"), Err(ConnectorError::BadResponse("c: unexpected HTTP 409".into())));
        let empty = Response { status: 404, retry_after: None, body: Vec::new() };
        assert_eq!(Statuses::PLAIN.check(&empty, "GET /users/7"), Err(ConnectorError::NotFound("GET /users/7: HTTP 404".into())));
    }

    #[test]
    fn denied_requests_are_not_retryable() {
        assert!(matches!(transport_error("ErrorCode::HttpRequestDenied"), ConnectorError::PermissionDenied(_)));
        assert_eq!(transport_error("ErrorCode::ConnectionRefused"), ConnectorError::Unavailable { message: "connection refused".into(), retry_after_ms: None });
        assert!(matches!(transport_error("reading the body: ErrorCode::HttpResponseBodySize(Some(10))"), ConnectorError::BadResponse(_)));
        assert_eq!(transport_error("something new"), ConnectorError::Unavailable { message: "something new".into(), retry_after_ms: None });
        let stream = "reading the body: input_stream read failed: LastOperationFailed(Error { handle: 7 })";
        assert_eq!(transport_error(stream), ConnectorError::Unavailable { message: "the connection failed while the response was read".into(), retry_after_ms: None });
    }
}
