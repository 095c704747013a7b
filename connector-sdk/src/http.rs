//! The one seam between a connector and the network. Inside the component it is `waki` over the host's
//! `wasi:http` (see `export`); natively, tests and benchmarks bring their own (see `fake`). Authentication is
//! not the client's business: the host adds credentials to requests for the tenant's origin.

use crate::error::{ConnectorError, Result};

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

/// The usual meaning of an HTTP status, as the connector's errors: 2xx is fine; 429 and 408/5xx are for the host
/// to retry (with the source's Retry-After); 401, 403 and 404 are what they say; 400/409/422 are the source
/// refusing a write, in its own words (the body, shortened); anything else is a bad response. `context`
/// names the call (`GET /users page 2`). A connector whose API says more maps those statuses itself first.
pub fn check_status(response: &Response, context: &str) -> Result<()> {
    let status = response.status;
    let retry_after = || response.retry_after.as_deref().and_then(|v| retry_after_ms(v, std::time::SystemTime::now()));
    let message = format!("{context}: HTTP {status}");
    let body = || String::from_utf8_lossy(&response.body).chars().take(500).collect::<String>();
    match status {
        200..=299 => Ok(()),
        401 => Err(ConnectorError::Unauthenticated(format!("{message}: the credentials were refused"))),
        403 => Err(ConnectorError::PermissionDenied(message)),
        404 => Err(ConnectorError::NotFound(message)),
        400 | 409 | 422 => Err(ConnectorError::Rejected(format!("{message}: {}", body()))),
        429 => Err(ConnectorError::RateLimited { message, retry_after_ms: retry_after() }),
        408 | 500..=599 => Err(ConnectorError::Unavailable { message, retry_after_ms: retry_after() }),
        _ => Err(ConnectorError::bad_response(context, format!("unexpected HTTP {status}"))),
    }
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

/// Percent-encodes everything but unreserved characters: safe as one path segment or one query value.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Milliseconds to wait from a `Retry-After` value: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub fn retry_after_ms(value: &str, now: std::time::SystemTime) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds.saturating_mul(1000));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).map(|d| d.as_millis() as u64).unwrap_or(0))
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
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(retry_after_ms("7", now), Some(7000));
        assert_eq!(retry_after_ms("Wed, 21 Oct 2015 07:28:30 GMT", now), Some(30_000));
        assert_eq!(retry_after_ms("Wed, 21 Oct 2015 07:27:00 GMT", now), Some(0));
        assert_eq!(retry_after_ms("soon", now), None);
    }

    #[test]
    fn statuses_map_to_what_the_host_does_with_them() {
        let answer = |status: u16, retry_after: Option<&str>| Response { status, retry_after: retry_after.map(str::to_string), body: b"{\"error\":\"taken\"}".to_vec() };
        assert_eq!(check_status(&answer(204, None), "c"), Ok(()));
        assert_eq!(check_status(&answer(429, Some("2")), "c"), Err(ConnectorError::RateLimited { message: "c: HTTP 429".into(), retry_after_ms: Some(2000) }));
        assert_eq!(check_status(&answer(503, None), "c"), Err(ConnectorError::Unavailable { message: "c: HTTP 503".into(), retry_after_ms: None }));
        assert_eq!(check_status(&answer(409, None), "c"), Err(ConnectorError::Rejected("c: HTTP 409: {\"error\":\"taken\"}".into())));
        assert!(matches!(check_status(&answer(401, None), "c"), Err(ConnectorError::Unauthenticated(_))));
        assert!(matches!(check_status(&answer(302, None), "c"), Err(ConnectorError::BadResponse(_))));
    }

    #[test]
    fn ids_are_encoded_as_one_path_segment() {
        assert_eq!(percent_encode("42"), "42");
        assert_eq!(percent_encode("a/b c"), "a%2Fb%20c");
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
