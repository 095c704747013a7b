//! Why a sync failed, as a scheduler needs to know it (`service`): a failure the source or the network may cure
//! by itself is retried soon, backing off; one a person must fix (credentials, configuration, permissions, the
//! tenant's limits) is retried gently and shown as needing attention. The error's text is unchanged.

use crate::contract::ConnectorError;
use crate::runtime::CallError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Transient,
    NeedsAttention,
}

impl FailureKind {
    pub fn of_connector(e: &ConnectorError) -> Self {
        match e {
            ConnectorError::InvalidConfig(_)
            | ConnectorError::Unauthenticated(_)
            | ConnectorError::PermissionDenied(_)
            | ConnectorError::ProvisioningDisabled
            | ConnectorError::Unsupported(_) => Self::NeedsAttention,
            _ => Self::Transient,
        }
    }

    pub fn of_call(e: &CallError) -> Self {
        match e {
            CallError::Connector(e) => Self::of_connector(e),
            // The host stopped the tenant at one of its limits or origins, or refused a call it was not granted:
            // the same sync would be stopped again.
            CallError::Stopped(_) | CallError::Refused(_) => Self::NeedsAttention,
            CallError::Trap(_) | CallError::Timeout { .. } | CallError::Poisoned(_) => Self::Transient,
        }
    }

    /// The kind an error carries (as a `Failure` or a `CallError` anywhere in its chain); transient if none.
    pub fn of(e: &anyhow::Error) -> Self {
        e.chain()
            .find_map(|cause| {
                cause.downcast_ref::<Failure>().map(|f| f.kind).or_else(|| cause.downcast_ref::<CallError>().map(Self::of_call))
            })
            .unwrap_or(Self::Transient)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::NeedsAttention => "needs-attention",
        }
    }
}

/// An error whose message is final (already explained and redacted) and whose kind is known.
#[derive(Debug)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl Failure {
    pub fn error(kind: FailureKind, message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Self { kind, message: message.into() })
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}
