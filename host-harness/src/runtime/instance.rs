//! One sandboxed component instance and its session: every call checked against the session's grants first,
//! run under the instance's deadline, and its traps, timeouts and the host's own stops told apart (`CallError`).

use std::time::Duration;

use wasmtime::Store;
use wasmtime::component::ResourceAny;

use super::sandbox::{MAX_HOST_RESOURCES, TenantState};
use super::versions::{Bindings, guest_call};
use crate::contract::ConnectorError;
use crate::contract::model::*;
use crate::grants::Granter;
use crate::guest_log::{GuestLog, GuestOutput};

/// Why a call into the component did not produce the component's own answer.
#[derive(Debug)]
pub enum CallError {
    /// The connector answered with one of its typed errors.
    Connector(ConnectorError),
    /// The component trapped (a panic, the memory cap, …); the instance is unusable afterwards.
    Trap(String),
    /// The call ran past its wall-clock deadline; the instance is unusable afterwards.
    Timeout {
        /// The call.
        call: &'static str,
        /// Its deadline.
        after: Duration,
    },
    /// An earlier trap or timeout made the instance unusable.
    Poisoned(String),
    /// The host refused the call itself: the component does not declare it, or the tenant was not granted the
    /// write (see `grants`).
    Refused(String),
    /// The host stopped the tenant during the call (egress outside its origin, a limit reached, a credential in
    /// a response); the instance is unusable afterwards.
    Stopped(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Connector(e) => f.write_str(&crate::contract::describe(e)),
            CallError::Trap(m) => write!(f, "{m}"),
            CallError::Timeout { call, after } => write!(f, "the component's {call} call ran past its {} s deadline", after.as_secs_f64()),
            CallError::Poisoned(m) => write!(f, "the component instance is unusable after: {m}"),
            CallError::Refused(m) => write!(f, "{m}"),
            CallError::Stopped(m) => write!(f, "the host stopped the component: {m}"),
        }
    }
}

impl std::error::Error for CallError {}

/// One sandboxed component instance, with at most one open session.
pub struct Instance {
    pub(super) store: Store<TenantState>,
    pub(super) bindings: Bindings,
    pub(super) session: Option<ResourceAny>,
    /// What this session may be asked to do; every call below is checked against it first.
    pub(super) granter: Granter,
    pub(super) call_timeout: Duration,
    pub(super) poisoned: Option<String>,
}

fn describe_trap(call: &str, error: &wasmtime::Error) -> String {
    let chain = format!("{error:#}");
    if chain.contains("forcing trap when growing memory") {
        return format!("the component ran out of memory in {call} (the sandbox's memory cap was reached)");
    }
    if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
        return format!("the component trapped in {call}: {trap}");
    }
    if matches!(error.downcast_ref::<wasmtime::component::ResourceTableError>(), Some(wasmtime::component::ResourceTableError::Full)) {
        return format!("the component held more than {MAX_HOST_RESOURCES} host resources at once in {call} (the sandbox's cap)");
    }
    // The outer messages are wasmtime's frame ("error while executing at wasm backtrace"); the cause says why.
    let cause = error.root_cause().to_string();
    format!("the component failed in {call}: {}", cause.lines().next().unwrap_or("unknown error"))
}

/// A session call's answer, from a version's types to the model's.
fn lift<T: Into<U>, U, E: Into<ConnectorError>>(answer: Result<T, E>) -> Result<U, ConnectorError> {
    answer.map(Into::into).map_err(Into::into)
}

/// The connector's typed error, among the ways a call can fail.
fn flatten<U>(result: Result<Result<U, ConnectorError>, CallError>) -> Result<U, CallError> {
    result.and_then(|inner| inner.map_err(CallError::Connector))
}

impl Instance {
    /// What the guest printed since the last call of this, capped (see `GuestLog`).
    pub fn take_log(&self) -> GuestOutput {
        self.store.data().log().take()
    }

    /// The log this instance prints to, which its siblings share.
    pub fn log(&self) -> GuestLog {
        self.store.data().log().clone()
    }

    /// The largest linear memory the component has had, in bytes.
    pub fn peak_memory(&self) -> usize {
        self.store.data().peak_memory()
    }

    /// What the component declares.
    pub async fn metadata(&mut self) -> Result<Metadata, CallError> {
        guest_call!(self, "metadata", |guest, store, w| async { guest.call_metadata(store).await.map(Metadata::from) })
    }

    /// Opens the session; the guest is told whether it may write at all, and `granter` decides each call.
    pub async fn open(&mut self, config: &[(String, String)], granter: Granter) -> Result<(), CallError> {
        let provisioning = granter.provisioning();
        let session = flatten(guest_call!(self, "open", |guest, store, w| async { guest.call_open(store, config, provisioning).await.map(lift) }))?;
        self.session = Some(session);
        self.granter = granter;
        Ok(())
    }

    /// The open session, if `call` on `resource_type` is declared by the component and, for a write, granted to
    /// the tenant: the host refuses before the guest is called otherwise.
    fn permitted(&self, call: &str, resource_type: &str, capability: Capabilities) -> Result<ResourceAny, CallError> {
        match self.granter.refusal(call, resource_type, capability) {
            Some(reason) => Err(CallError::Refused(reason)),
            None => self.session(),
        }
    }

    /// The open session, if the write `call` is permitted and its `fields` are ones the type's write schema
    /// accepts.
    fn permitted_write(&self, call: &str, resource_type: &str, capability: Capabilities, write: Write, fields: &[(String, String)]) -> Result<ResourceAny, CallError> {
        let session = self.permitted(call, resource_type, capability)?;
        match self.granter.fields_refusal(call, resource_type, write, fields) {
            Some(reason) => Err(CallError::Refused(reason)),
            None => Ok(session),
        }
    }

    /// Whether the instance can still be called: a trap, a timeout or a broken rule leaves it unusable.
    pub fn usable(&self) -> bool {
        self.poisoned.is_none()
    }

    fn session(&self) -> Result<ResourceAny, CallError> {
        self.session.ok_or_else(|| CallError::Poisoned("no session is open".into()))
    }

    /// The connector's short account of what it checked.
    pub async fn validate(&mut self) -> Result<String, CallError> {
        let s = self.session()?;
        flatten(guest_call!(self, "validate", |guest, store, w| async {
            guest.session().call_validate(store, s).await.map(|answer| answer.map(|v| v.summary).map_err(ConnectorError::from))
        }))
    }

    /// The resource types the session lists.
    pub async fn resource_types(&mut self) -> Result<Vec<ResourceType>, CallError> {
        let s = self.session()?;
        flatten(guest_call!(self, "resource-types", |guest, store, w| async {
            let answer = guest.session().call_resource_types(store, s).await;
            answer.map(|types| types.map(|t| t.into_iter().map(ResourceType::from).collect()).map_err(ConnectorError::from))
        }))
    }

    /// A page of `resource_type` at `token`.
    pub async fn list_resources(&mut self, resource_type: &str, parent: Option<&ResourceId>, token: Option<&str>) -> Result<ResourcePage, CallError> {
        let s = self.session()?;
        flatten(guest_call!(self, "list-resources", |guest, store, w| async {
            let parent = parent.cloned().map(w::ResourceId::from);
            guest.session().call_list_resources(store, s, resource_type, parent.as_ref(), token).await.map(lift)
        }))
    }

    /// A page of `resource`'s entitlements.
    pub async fn list_entitlements(&mut self, resource: &ResourceId, token: Option<&str>) -> Result<EntitlementPage, CallError> {
        let s = self.session()?;
        flatten(guest_call!(self, "list-entitlements", |guest, store, w| async { guest.session().call_list_entitlements(store, s, &w::ResourceId::from(resource.clone()), token).await.map(lift) }))
    }

    /// A page of the grants of `resource`'s entitlements.
    pub async fn list_grants(&mut self, resource: &ResourceId, token: Option<&str>) -> Result<GrantPage, CallError> {
        let s = self.session()?;
        flatten(guest_call!(self, "list-grants", |guest, store, w| async { guest.session().call_list_grants(store, s, &w::ResourceId::from(resource.clone()), token).await.map(lift) }))
    }

    /// One resource, live from the source.
    pub async fn get_resource(&mut self, id: &ResourceId) -> Result<Resource, CallError> {
        let s = self.permitted("get", &id.resource_type, Capabilities::GET)?;
        flatten(guest_call!(self, "get-resource", |guest, store, w| async { guest.session().call_get_resource(store, s, &w::ResourceId::from(id.clone())).await.map(lift) }))
    }

    /// Grants `entitlement` to `principal` (a write).
    pub async fn grant(&mut self, principal: &ResourceId, entitlement: &str) -> Result<GrantOutcome, CallError> {
        let s = self.permitted("grant", entitlement.split(':').next().unwrap_or_default(), Capabilities::GRANT)?;
        flatten(guest_call!(self, "grant", |guest, store, w| async { guest.session().call_grant(store, s, &w::ResourceId::from(principal.clone()), entitlement).await.map(lift) }))
    }

    /// Revokes `grant` (a write).
    pub async fn revoke(&mut self, grant: &Grant) -> Result<RevokeOutcome, CallError> {
        let s = self.permitted("revoke", grant.entitlement.split(':').next().unwrap_or_default(), Capabilities::REVOKE)?;
        flatten(guest_call!(self, "revoke", |guest, store, w| async { guest.session().call_revoke(store, s, &w::Grant::from(grant.clone())).await.map(lift) }))
    }

    /// Creates an account, a resource of `account_type` (the type with the user trait).
    pub async fn create_account(&mut self, account_type: &str, fields: &[(String, String)]) -> Result<CreateOutcome, CallError> {
        let s = self.permitted_write("create-account", account_type, Capabilities::CREATE, Write::Create, fields)?;
        let fields = fields.to_vec();
        flatten(guest_call!(self, "create-account", |guest, store, w| async { guest.session().call_create_account(store, s, &fields).await.map(lift) }))
    }

    /// Changes a resource's fields (a write).
    pub async fn update_resource(&mut self, id: &ResourceId, fields: &[(String, String)]) -> Result<Resource, CallError> {
        let s = self.permitted_write("update-resource", &id.resource_type, Capabilities::UPDATE, Write::Update, fields)?;
        let fields = fields.to_vec();
        flatten(guest_call!(self, "update-resource", |guest, store, w| async { guest.session().call_update_resource(store, s, &w::ResourceId::from(id.clone()), &fields).await.map(lift) }))
    }

    /// Creates a resource of `resource_type` (a write).
    pub async fn create_resource(&mut self, resource_type: &str, fields: &[(String, String)]) -> Result<CreateOutcome, CallError> {
        let s = self.permitted_write("create-resource", resource_type, Capabilities::CREATE, Write::Create, fields)?;
        let fields = fields.to_vec();
        flatten(guest_call!(self, "create-resource", |guest, store, w| async { guest.session().call_create_resource(store, s, resource_type, &fields).await.map(lift) }))
    }

    /// Deletes a resource (a write).
    pub async fn delete_resource(&mut self, id: &ResourceId) -> Result<DeleteOutcome, CallError> {
        let s = self.permitted("delete-resource", &id.resource_type, Capabilities::DELETE)?;
        flatten(guest_call!(self, "delete-resource", |guest, store, w| async { guest.session().call_delete_resource(store, s, &w::ResourceId::from(id.clone())).await.map(lift) }))
    }
}
