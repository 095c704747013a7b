//! A tenant: which component, its config and its secrets, from command-line flags or a TOML file (`file.rs`),
//! resolved against the component's declared config schema and auth scheme (`resolve.rs`, with the token
//! endpoint in `token_url.rs`). Secret values stop here: the guest gets only the non-secret config, and the
//! egress hook gets the auth plan.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::grants::WriteGrants;
use crate::options::LimitsSpec;
use crate::secrets::Secrets;

mod file;
mod resolve;
mod token_url;

pub use resolve::ResolvedTenant;

/// The tenant's name when neither a flag nor a file names it.
pub const DEFAULT_TENANT: &str = "default";

/// A tenant as its file and flags say it, before it meets its component.
#[derive(Debug, Default, Clone)]
pub struct TenantSpec {
    /// The tenant's name, in every line about it.
    pub name: String,
    /// The component to run.
    pub component: Option<PathBuf>,
    /// Non-secret config, by key.
    pub config: BTreeMap<String, String>,
    /// Secrets, by key.
    pub secrets: Secrets,
    /// The tenant's own limits.
    pub limits: LimitsSpec,
    /// The writes the operator granted this tenant (see `grants`).
    pub writes: WriteGrants,
    /// A PEM file of CA certificates to trust besides the platform's (see `transport`).
    pub ca_file: Option<PathBuf>,
    /// How often `serve` syncs the tenant, if not at the service's default interval.
    pub interval: Option<std::time::Duration>,
    /// The bearer token of the tenant's SCIM gateway, when `serve --scim-listen` serves one (`gateway/`).
    pub scim_token: Option<crate::secrets::Secret>,
}
