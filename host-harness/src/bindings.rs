//! Host-side bindings of the `identity:connector` world. Only the `connector` export is called; the world's
//! `wasi:http` import is satisfied by wasmtime-wasi-http through the egress hook (see `runtime`).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "identity-connector",
    imports: { default: async },
    exports: { default: async },
});

pub use exports::identity::connector::connector::Guest as ConnectorExports;
pub use identity::connector::types::*;

/// The longest connector message the host repeats: the guest writes it, and the host prints it.
const MESSAGE_BYTES: usize = 4 << 10;

impl ConnectorError {
    /// One line naming the kind of error and the connector's message (capped, control characters escaped).
    pub fn describe(&self) -> String {
        crate::display::printable(&self.describe_whole(), MESSAGE_BYTES)
    }

    fn describe_whole(&self) -> String {
        let retry = |ms: &Option<u64>| ms.map(|ms| format!(" (retry after {ms} ms)")).unwrap_or_default();
        match self {
            Self::InvalidConfig(m) => format!("invalid config: {m}"),
            Self::Unauthenticated(m) => format!("unauthenticated: {m}"),
            Self::PermissionDenied(m) => format!("permission denied: {m}"),
            Self::NotFound(m) => format!("not found: {m}"),
            Self::RateLimited(x) => format!("rate limited: {}{}", x.message, retry(&x.retry_after_ms)),
            Self::Unavailable(x) => format!("unavailable: {}{}", x.message, retry(&x.retry_after_ms)),
            Self::BadResponse(m) => format!("bad response: {m}"),
            Self::ProvisioningDisabled => "provisioning is disabled for this session".to_string(),
            Self::Unsupported(m) => format!("unsupported: {m}"),
            Self::Rejected(m) => format!("rejected: {m}"),
            Self::Internal(m) => format!("connector internal error: {m}"),
        }
    }

    /// The wait the source asked for, for the errors a retry may cure; `None` for final errors.
    pub fn retryable(&self) -> Option<Option<u64>> {
        match self {
            Self::RateLimited(x) | Self::Unavailable(x) => Some(x.retry_after_ms),
            _ => None,
        }
    }
}

impl Capability {
    pub fn names(self) -> Vec<&'static str> {
        [
            (Capability::LIST, "list"),
            (Capability::GET, "get"),
            (Capability::INLINE_ENTITLEMENTS, "inline-entitlements"),
            (Capability::INLINE_GRANTS, "inline-grants"),
            (Capability::CREATE, "create"),
            (Capability::UPDATE, "update"),
            (Capability::DELETE, "delete"),
            (Capability::GRANT, "grant"),
            (Capability::REVOKE, "revoke"),
        ]
        .into_iter()
        .filter(|(flag, _)| self.contains(*flag))
        .map(|(_, name)| name)
        .collect()
    }
}
