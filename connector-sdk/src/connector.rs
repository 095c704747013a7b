//! The two traits a connector implements.

use crate::error::{ConnectorError, Result};
use crate::http::HttpClient;
use crate::model::*;

/// A connector: what it is (its metadata) and how a session with one tenant's system is opened.
pub trait Connector: 'static {
    /// A session over any HTTP client: the host's `wasi:http` in the component, a fake in tests.
    type Session<H: HttpClient + 'static>: ConnectorSession;

    /// The config schema, auth scheme and capabilities. Callable without config; the host reads it once.
    fn metadata() -> Metadata;

    /// Opens a session. `config` holds the non-secret config only (the host keeps secrets and authenticates
    /// every request itself). Writes must refuse with `ProvisioningDisabled` unless `provisioning` is set.
    fn open<H: HttpClient + 'static>(http: H, config: &[(String, String)], provisioning: bool) -> Result<Self::Session<H>>;
}

/// A session's calls. A page token is opaque to the host: it hands back whatever the previous page returned,
/// so every call must be repeatable (the host retries and resumes by repeating calls).
pub trait ConnectorSession {
    /// The resource types this session lists.
    fn resource_types(&self) -> Result<Vec<ResourceType>>;

    /// One page of a type's resources (of `parent`'s children, when given); with entitlements and grants too
    /// when the type's capabilities say `inline-entitlements` or `inline-grants`.
    fn list_resources(&self, resource_type: &str, parent: Option<&ResourceId>, token: Option<&str>) -> Result<ResourcePage>;

    /// Checks the config and credentials with one cheap call; a short account of what was checked.
    fn validate(&self) -> Result<String> {
        Err(unsupported("validate"))
    }

    fn list_entitlements(&self, _resource: &ResourceId, _token: Option<&str>) -> Result<EntitlementPage> {
        Err(unsupported("list-entitlements"))
    }

    fn list_grants(&self, _resource: &ResourceId, _token: Option<&str>) -> Result<GrantPage> {
        Err(unsupported("list-grants"))
    }

    fn get_resource(&self, _id: &ResourceId) -> Result<Resource> {
        Err(unsupported("get-resource"))
    }

    fn grant(&self, _principal: &ResourceId, _entitlement: &str) -> Result<GrantOutcome> {
        Err(unsupported("grant"))
    }

    fn revoke(&self, _grant: &Grant) -> Result<RevokeOutcome> {
        Err(unsupported("revoke"))
    }

    fn create_account(&self, _fields: &[(String, String)]) -> Result<CreateOutcome> {
        Err(unsupported("create-account"))
    }

    fn update_resource(&self, _id: &ResourceId, _fields: &[(String, String)]) -> Result<Resource> {
        Err(unsupported("update-resource"))
    }

    fn create_resource(&self, _resource_type: &str, _fields: &[(String, String)]) -> Result<CreateOutcome> {
        Err(unsupported("create-resource"))
    }

    fn delete_resource(&self, _id: &ResourceId) -> Result<DeleteOutcome> {
        Err(unsupported("delete-resource"))
    }
}

fn unsupported(call: &str) -> ConnectorError {
    ConnectorError::Unsupported(format!("this connector does not implement {call}"))
}
