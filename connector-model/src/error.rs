//! A connector's typed errors: plain Rust here, converted one-to-one into the WIT `connector-error` at the
//! component boundary. `rate-limited` and `unavailable` tell the host to retry the same call; the rest are final.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorError {
    InvalidConfig(String),
    Unauthenticated(String),
    PermissionDenied(String),
    NotFound(String),
    RateLimited { message: String, retry_after_ms: Option<u64> },
    Unavailable { message: String, retry_after_ms: Option<u64> },
    BadResponse(String),
    ProvisioningDisabled,
    Unsupported(String),
    /// The source refused a write as invalid; carries the source's own words.
    Rejected(String),
    Internal(String),
}

pub type Result<T, E = ConnectorError> = std::result::Result<T, E>;

impl ConnectorError {
    pub fn bad_response(context: &str, detail: impl fmt::Display) -> Self {
        Self::BadResponse(format!("{context}: {detail}"))
    }

    /// For the errors a retry may cure, the wait the source asked for (if it did); `None` for final errors.
    pub fn retryable(&self) -> Option<Option<u64>> {
        match self {
            Self::RateLimited { retry_after_ms, .. } | Self::Unavailable { retry_after_ms, .. } => Some(*retry_after_ms),
            _ => None,
        }
    }
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let retry = |ms: &Option<u64>| ms.map(|ms| format!(" (retry after {ms} ms)")).unwrap_or_default();
        match self {
            Self::InvalidConfig(m) => write!(f, "invalid config: {m}"),
            Self::Unauthenticated(m) => write!(f, "unauthenticated: {m}"),
            Self::PermissionDenied(m) => write!(f, "permission denied: {m}"),
            Self::NotFound(m) => write!(f, "not found: {m}"),
            Self::RateLimited { message, retry_after_ms } => {
                write!(f, "rate limited: {message}{}", retry(retry_after_ms))
            }
            Self::Unavailable { message, retry_after_ms } => {
                write!(f, "unavailable: {message}{}", retry(retry_after_ms))
            }
            Self::BadResponse(m) => write!(f, "bad response: {m}"),
            Self::ProvisioningDisabled => write!(f, "provisioning is disabled for this session"),
            Self::Unsupported(m) => write!(f, "unsupported: {m}"),
            Self::Rejected(m) => write!(f, "rejected: {m}"),
            Self::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for ConnectorError {}
