//! SCIM error responses (RFC 7644 §3.12): `status` as a string, a `scimType` where the RFC names one, and a
//! `detail` written for the client — never a secret, a stack or a store's error text (those go to the log).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The media type of every SCIM body.
pub const SCIM_JSON: &str = "application/scim+json";

/// A request the gateway refuses or cannot answer.
#[derive(Debug)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        Self { status, scim_type, detail: detail.into() }
    }

    /// 400 `invalidValue`: a value the write cannot take, or a mandatory one missing.
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidValue"), detail)
    }

    /// 400 `invalidSyntax`: a body that is not the JSON the request needs.
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidSyntax"), detail)
    }

    /// 404 for a resource the tenant does not have.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, format!("{what} {} not found", crate::display::printable(id, 128)))
    }

    /// 500 or 503 for a failure the client cannot fix: `detail` is already fit to show.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, None, detail)
    }
}

/// A `ScimError` passes through `anyhow` from the store's thread (`Gateway::with_store`) and back.
impl std::error::Error for ScimError {}

impl std::fmt::Display for ScimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.detail)
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(scim_type) = self.scim_type {
            body["scimType"] = json!(scim_type);
        }
        let mut response = (self.status, [(header::CONTENT_TYPE, SCIM_JSON)], body.to_string()).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"scim\""));
        }
        response
    }
}
