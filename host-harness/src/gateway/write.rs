//! Writes: `POST`, `PUT`, `PATCH` and `DELETE` of Users and Groups, each made through the tenant's component
//! (one session per request, its calls retried as a sync's are) under its provisioning grants, then recorded —
//! the provisioning log's row and what the write made of the resource, for the next read — in one transaction.
//! A SCIM resource is mapped to the connector's fields by its write schema's SCIM paths. A `PUT` or `PATCH` is
//! applied to the resource as the gateway has it, and only the fields whose values differ are written; `active`
//! becomes the connector's disable (a field, or a delete). Nothing is acknowledged that the source did not do.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::discovery::Writable;
use super::error::ScimError;
use super::read::{Reader, with_etag};
use super::resources::Kind;
use super::{Gateway, GatewayTenant, Request, log_name, patch};
use crate::contract::model::{AccountDisable, Capabilities, CreateOutcome, DeleteOutcome, Entitlement, Grant, GrantOutcome, Resource, ResourceId, RevokeOutcome, Write, WriteSchema};
use crate::driver::OpenSession;
use crate::runtime::{CallError, Instance};
use crate::store::{GrantRow, LogEntry, TraitTypes, Written, now_ms};

/// One request's writes.
pub(super) struct Writer<'a> {
    pub gateway: &'a Arc<Gateway>,
    pub tenant: &'a str,
    pub served: &'a Arc<GatewayTenant>,
    pub request: &'a Request,
}

/// A call the gateway makes on the tenant's component.
#[derive(Debug, Clone)]
enum Call {
    CreateAccount(String, Vec<(String, String)>),
    CreateResource(String, Vec<(String, String)>),
    Update(ResourceId, Vec<(String, String)>),
    Delete(ResourceId),
    Grant(ResourceId, String),
    Revoke(Grant),
}

impl Call {
    fn name(&self) -> &'static str {
        match self {
            Call::CreateAccount(..) => "create-account",
            Call::CreateResource(..) => "create-resource",
            Call::Update(..) => "update-resource",
            Call::Delete(..) => "delete-resource",
            Call::Grant(..) => "grant",
            Call::Revoke(..) => "revoke",
        }
    }

    /// The resource type and capability the call needs granted.
    fn needs(&self, group_type: &str) -> (String, Capabilities) {
        match self {
            Call::CreateAccount(t, _) | Call::CreateResource(t, _) => (t.clone(), Capabilities::CREATE),
            Call::Update(id, _) => (id.resource_type.clone(), Capabilities::UPDATE),
            Call::Delete(id) => (id.resource_type.clone(), Capabilities::DELETE),
            Call::Grant(..) => (group_type.to_string(), Capabilities::GRANT),
            Call::Revoke(..) => (group_type.to_string(), Capabilities::REVOKE),
        }
    }
}

/// What a call did.
enum Made {
    /// A resource created or updated, and whether it already was so (a create that found it).
    Resource(Box<Resource>, bool),
    /// A resource deleted, and whether it was already gone.
    Deleted(ResourceId, bool),
    Granted(Grant, bool),
    Revoked(Grant, bool),
}

/// What the audit row records of a write, besides its outcome.
struct Audit {
    action: &'static str,
    target: Option<String>,
    fields: Vec<String>,
}

impl Writer<'_> {
    /// What this tenant's writes accept, for its schemas, given its account and group `types`.
    pub fn writable(&self, types: &TraitTypes) -> Writable<'_> {
        let schemas = &self.served.prepared.metadata.write_schemas;
        let schema_of = |t: &Option<String>| t.as_ref().and_then(|t| schemas.iter().find(|s| &s.resource_type == t));
        let users = schema_of(&types.user);
        let members = types.group.as_ref().is_some_and(|g| self.served.tenant.granter(true).refusal("grant", g, Capabilities::GRANT).is_none());
        Writable { users, groups: schema_of(&types.group), disable: users.is_some_and(|s| matches!(s.disable, Some(AccountDisable::Field(_)))), members }
    }

    fn schema(&self, kind: Kind, types: &TraitTypes) -> Result<&WriteSchema, ScimError> {
        let resource_type = match kind {
            Kind::User => &types.user,
            Kind::Group => &types.group,
        };
        resource_type
            .as_ref()
            .and_then(|t| self.served.prepared.metadata.write_schemas.iter().find(|s| &s.resource_type == t))
            .ok_or_else(|| ScimError::new(StatusCode::FORBIDDEN, None, format!("this tenant's connector writes no {}s", kind.name())))
    }

    /// Reads with `read` from the tenant's current view, with its account and group types.
    pub async fn read<T: Send + 'static>(&self, read: impl FnOnce(&Reader) -> anyhow::Result<T> + Send + 'static) -> Result<(T, TraitTypes), ScimError> {
        let (tenant, base, writable) = (self.tenant.to_string(), self.request.base.clone(), self.gateway.served_types(self.tenant));
        let (value, types) = self
            .gateway
            .with_store(move |store| {
                let writable: Vec<&str> = writable.iter().map(String::as_str).collect();
                let reader = Reader::new(store, &tenant, &writable, &base)?;
                let types = TraitTypes { user: reader.type_of(Kind::User).map(str::to_string), group: reader.type_of(Kind::Group).map(str::to_string) };
                Ok((read(&reader)?, types))
            })
            .await?;
        Ok((value, types))
    }

    /// The resource as the gateway has it now, with a group's members.
    async fn current(&self, kind: Kind, id: &str) -> Result<(Value, TraitTypes), ScimError> {
        let id_owned = id.to_string();
        let (resource, types) = self.read(move |reader| reader.resource(kind, &id_owned, true)).await?;
        let resource = resource.ok_or_else(|| ScimError::not_found(kind.name(), id))?;
        if let Some(expected) = self.request.if_match()
            && resource["meta"]["version"].as_str() != Some(expected.as_str())
        {
            return Err(ScimError::new(StatusCode::PRECONDITION_FAILED, None, format!("{} {id} has changed since version {expected}", kind.name())));
        }
        Ok((resource, types))
    }

    /// The resource after a write, as the next read will see it.
    async fn respond(&self, kind: Kind, id: &str, status: StatusCode) -> Result<Response, ScimError> {
        let id_owned = id.to_string();
        let (resource, _) = self.read(move |reader| reader.resource(kind, &id_owned, true)).await?;
        let resource = resource.ok_or_else(|| ScimError::not_found(kind.name(), id))?;
        Ok(with_etag(status, resource))
    }

    pub async fn create(&self, kind: Kind) -> Result<Response, ScimError> {
        let body = self.request.json()?;
        let (_, types) = self.read(|_| Ok(())).await?;
        let schema = self.schema(kind, &types)?;
        let mut fields = fields_for_create(schema, &body)?;
        let active = boolean(super::filter::field(&body, "active"));
        if kind == Kind::User {
            match (&schema.disable, active) {
                (Some(AccountDisable::Delete), Some(false)) => {
                    return Err(ScimError::invalid_value("`active` false: this source keeps no inactive accounts (it disables an account by deleting it)"));
                }
                (Some(AccountDisable::Field(disable)), active) if !scim_maps_active(schema) => {
                    let writable = schema.field(&disable.field).is_some_and(|f| f.writable_by(Write::Create));
                    if writable && !fields.iter().any(|(k, _)| *k == disable.field) {
                        fields.push((disable.field.clone(), if active == Some(false) { disable.disabled.clone() } else { disable.enabled.clone() }));
                    }
                }
                _ => {}
            }
            if let Some(user_name) = body.get("userName").and_then(Value::as_str).filter(|u| !u.is_empty()) {
                let login = user_name.to_string();
                let (taken, _) = self.read(move |reader| reader.login_taken(&login)).await?;
                if taken {
                    return Err(ScimError::new(StatusCode::CONFLICT, Some("uniqueness"), format!("userName {} is taken", crate::display::printable(user_name, 128))));
                }
            }
        }
        schema.check(&format!("create a {}", kind.name()), Write::Create, &fields).map_err(ScimError::invalid_value)?;
        let call = match kind {
            Kind::User => Call::CreateAccount(schema.resource_type.clone(), fields.clone()),
            Kind::Group => Call::CreateResource(schema.resource_type.clone(), fields.clone()),
        };
        let mut audit = Audit { action: "create", target: None, fields: fields.iter().map(|(k, _)| k.clone()).collect() };
        if external_id(&body).is_some() {
            audit.fields.push("externalId".into());
        }
        let created = match self.write(call, audit, &types).await? {
            Made::Resource(resource, false) => *resource,
            Made::Resource(resource, true) => {
                return Err(ScimError::new(StatusCode::CONFLICT, Some("uniqueness"), format!("the source already has this {} (id {})", kind.name(), resource.id.id)));
            }
            _ => return Err(ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, None, "the create made no resource")),
        };
        let id = created.id.id.clone();
        if kind == Kind::User
            && active == Some(false)
            && let Some(AccountDisable::Field(disable)) = &schema.disable
            && !fields.iter().any(|(k, _)| *k == disable.field)
        {
            let fields = vec![(disable.field.clone(), disable.disabled.clone())];
            let audit = Audit { action: "disable", target: Some(id.clone()), fields: vec![disable.field.clone()] };
            self.write(Call::Update(created.id.clone(), fields), audit, &types).await?;
        }
        if kind == Kind::Group {
            let members = member_ids(&body);
            self.change_members(&id, &BTreeSet::new(), &members, &types).await?;
        }
        self.keep_external_id(&schema.resource_type, &id, None, external_id(&body), false).await?;
        self.respond(kind, &id, StatusCode::CREATED).await
    }

    pub async fn replace(&self, kind: Kind, id: &str) -> Result<Response, ScimError> {
        let body = self.request.json()?;
        let (before, types) = self.current(kind, id).await?;
        let mut after = body;
        after["id"] = Value::String(id.to_string());
        if kind == Kind::Group && after.get("members").is_none() {
            // A PUT without members leaves them: clients that do not manage members send none.
            after["members"] = before["members"].clone();
        }
        self.change(kind, id, &before, &after, &types).await
    }

    pub async fn patch(&self, kind: Kind, id: &str) -> Result<Response, ScimError> {
        let body = self.request.json()?;
        let (before, types) = self.current(kind, id).await?;
        let mut after = before.clone();
        patch::apply(&mut after, &body)?;
        self.change(kind, id, &before, &after, &types).await
    }

    pub async fn delete(&self, kind: Kind, id: &str) -> Result<Response, ScimError> {
        let (before, types) = self.current(kind, id).await?;
        let schema = self.schema(kind, &types)?;
        let target = ResourceId { resource_type: schema.resource_type.clone(), id: id.to_string() };
        self.write(Call::Delete(target), Audit { action: "delete", target: Some(id.to_string()), fields: Vec::new() }, &types).await?;
        self.keep_external_id(&schema.resource_type, id, external_id(&before), None, false).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }

    /// Writes what differs between `before` and `after` (a `PUT`'s body, or the patched resource).
    async fn change(&self, kind: Kind, id: &str, before: &Value, after: &Value, types: &TraitTypes) -> Result<Response, ScimError> {
        let schema = self.schema(kind, types)?;
        let mut fields = changed_fields(schema, before, after)?;
        let target = ResourceId { resource_type: schema.resource_type.clone(), id: id.to_string() };
        let mut action = "update";
        if kind == Kind::User && !scim_maps_active(schema) {
            let (was, is) = (boolean(super::filter::field(before, "active")), boolean(super::filter::field(after, "active")));
            if let (Some(was), Some(is)) = (was, is)
                && was != is
            {
                match &schema.disable {
                    Some(AccountDisable::Field(disable)) => {
                        fields.push((disable.field.clone(), if is { disable.enabled.clone() } else { disable.disabled.clone() }));
                        if fields.len() == 1 {
                            action = if is { "enable" } else { "disable" };
                        }
                    }
                    Some(AccountDisable::Delete) if !is => {
                        // Disabled by deleting: what else changed goes with the account.
                        self.write(Call::Delete(target), Audit { action: "disable", target: Some(id.to_string()), fields: Vec::new() }, types).await?;
                        self.keep_external_id(&schema.resource_type, id, external_id(before), None, false).await?;
                        return Ok(StatusCode::NO_CONTENT.into_response());
                    }
                    _ => return Err(ScimError::new(StatusCode::BAD_REQUEST, Some("mutability"), "this source cannot change whether an account is active")),
                }
            }
        }
        if !fields.is_empty() {
            let audit = Audit { action, target: Some(id.to_string()), fields: fields.iter().map(|(k, _)| k.clone()).collect() };
            self.write(Call::Update(target, fields), audit, types).await?;
        }
        if kind == Kind::Group {
            let (was, is) = (member_ids(before), member_ids(after));
            self.change_members(id, &was, &is, types).await?;
        }
        self.keep_external_id(&schema.resource_type, id, external_id(before), external_id(after), true).await?;
        self.respond(kind, id, StatusCode::OK).await
    }

    /// Grants group `id`'s membership to the members it gains and revokes it from those it loses.
    async fn change_members(&self, id: &str, was: &BTreeSet<String>, is: &BTreeSet<String>, types: &TraitTypes) -> Result<(), ScimError> {
        let (Some(user_type), Some(group_type)) = (&types.user, &types.group) else { return Ok(()) };
        let entitlement = Entitlement::member_id(group_type, id);
        let gained: Vec<&String> = is.difference(was).collect();
        if !gained.is_empty() {
            let ids: Vec<String> = gained.iter().map(|s| s.to_string()).collect();
            let (unknown, _) = self.read(move |reader| Ok(ids.into_iter().filter(|m| !matches!(reader.record(Kind::User, m), Ok(Some(_)))).collect::<Vec<_>>())).await?;
            if let Some(unknown) = unknown.first() {
                return Err(ScimError::invalid_value(format!("member {} is not a User of this tenant", crate::display::printable(unknown, 128))));
            }
        }
        for member in gained {
            let principal = ResourceId { resource_type: user_type.clone(), id: member.clone() };
            self.write(Call::Grant(principal, entitlement.clone()), Audit { action: "add-member", target: Some(format!("{id}:{member}")), fields: Vec::new() }, types).await?;
        }
        for member in was.difference(is) {
            let grant = Grant::new(&entitlement, ResourceId { resource_type: user_type.clone(), id: member.clone() });
            self.write(Call::Revoke(grant), Audit { action: "remove-member", target: Some(format!("{id}:{member}")), fields: Vec::new() }, types).await?;
        }
        Ok(())
    }

    /// Makes `call` through the tenant's component and records it, or records why not.
    async fn write(&self, call: Call, audit: Audit, types: &TraitTypes) -> Result<Made, ScimError> {
        let made = self.call(call, types).await;
        let (outcome, detail) = match &made {
            Ok(Made::Resource(_, true) | Made::Deleted(_, true) | Made::Granted(_, true) | Made::Revoked(_, true)) => ("already", None),
            Ok(_) => ("done", None),
            Err(e) if e.status == StatusCode::FORBIDDEN => ("refused", Some(e.detail.clone())),
            Err(e) => ("failed", Some(e.detail.clone())),
        };
        let target = match &made {
            Ok(Made::Resource(resource, _)) => Some(resource.id.id.clone()),
            _ => audit.target.clone(),
        };
        let entry = self.entry(audit.action, target, audit.fields, outcome, detail);
        let written = match &made {
            Ok(Made::Resource(resource, _)) => Some(OwnedWritten::Resource(resource.id.clone(), Some(crate::records::resource_line(resource)))),
            Ok(Made::Deleted(id, _)) => Some(OwnedWritten::Resource(id.clone(), None)),
            Ok(Made::Granted(grant, _)) => Some(OwnedWritten::Grant(GrantRow::from(grant), true)),
            Ok(Made::Revoked(grant, _)) => Some(OwnedWritten::Grant(GrantRow::from(grant), false)),
            Err(_) => None,
        };
        let tenant = self.tenant.to_string();
        let recorded = self
            .gateway
            .with_store(move |store| {
                let written = written.as_ref().map(|w| w.borrowed(&tenant));
                store.record_write(&entry, written.as_ref())
            })
            .await;
        if let Err(e) = recorded
            && made.is_ok()
        {
            tracing::error!(tenant = %self.tenant, "SCIM gateway: a write the source made could not be recorded: {}", e.detail);
            return Err(ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, None, "the source made the change, but the gateway could not record it: reads show it after the next sync"));
        }
        made
    }

    /// The provisioning log's row of one write of this request.
    fn entry(&self, action: &str, target: Option<String>, fields: Vec<String>, outcome: &str, detail: Option<String>) -> LogEntry {
        LogEntry {
            flow: log_name(self.tenant),
            cycle: 0,
            seq: 0,
            source_id: Some(self.served.token_id.clone()),
            target_id: target,
            action: action.to_string(),
            fields,
            outcome: outcome.to_string(),
            detail: Some(format!("{} /{}{}", self.request.method, self.request.segments.join("/"), detail.map(|d| format!(": {d}")).unwrap_or_default())),
            at_ms: now_ms(),
        }
    }

    /// Keeps the `externalId` the client gave resource `id` (none: forgets it), when it changes: the gateway's own
    /// write, no source's. A change on its own (`logged`) is a row of the log, an update of `externalId`; one that
    /// goes with a create or a delete is that write's.
    async fn keep_external_id(&self, resource_type: &str, id: &str, was: Option<&str>, is: Option<&str>, logged: bool) -> Result<(), ScimError> {
        if was == is {
            return Ok(());
        }
        let entry = logged.then(|| self.entry("update", Some(id.to_string()), vec!["externalId".into()], "done", None));
        let (tenant, resource_type, id, is) = (self.tenant.to_string(), resource_type.to_string(), id.to_string(), is.map(str::to_string));
        self.gateway
            .with_store(move |store| {
                store.set_external_id(&tenant, &resource_type, &id, is.as_deref())?;
                entry.map_or(Ok(()), |entry| store.record_write(&entry, None).map(|_| ()))
            })
            .await
    }

    /// Makes `call` on a session of its own, once the tenant is known to be granted it. The component runs on a
    /// thread of its own, as a sync's do (`service/mod.rs`).
    async fn call(&self, call: Call, types: &TraitTypes) -> Result<Made, ScimError> {
        let (resource_type, capability) = call.needs(types.group.as_deref().unwrap_or_default());
        if let Some(refusal) = self.served.tenant.granter(true).refusal(call.name(), &resource_type, capability) {
            return Err(ScimError::new(StatusCode::FORBIDDEN, None, format!("this tenant is not granted the write: {refusal}")));
        }
        let (gateway, served, tenant, handle) = (self.gateway.clone(), self.served.clone(), self.tenant.to_string(), tokio::runtime::Handle::current());
        let ran = tokio::task::spawn_blocking(move || handle.block_on(call_on_session(&gateway, &served, &tenant, call))).await;
        ran.unwrap_or_else(|e| {
            tracing::error!(tenant = %self.tenant, "SCIM gateway: a write's thread failed: {e}");
            Err(ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, None, "internal error"))
        })
    }
}

async fn call_on_session(gateway: &Gateway, served: &GatewayTenant, tenant: &str, call: Call) -> Result<Made, ScimError> {
    let mut session = OpenSession::open(&gateway.runtime, &served.prepared.loaded, &served.tenant, &served.options, true).await.map_err(|e| {
        let why = crate::display::one_line(&format!("{:#}", e.error));
        tracing::warn!(tenant = %tenant, "SCIM gateway: cannot open the connector: {why}");
        ScimError::new(StatusCode::BAD_GATEWAY, None, format!("cannot reach the source: {why}"))
    })?;
    let mut outcome = None;
    let broken = session
        .call_each(vec![call], Call::name, |instance, call| attempt(instance, call.clone()), || false, async |_, ended| {
            outcome = ended;
            Ok(())
        })
        .await
        .map_err(|e| ScimError::new(StatusCode::BAD_GATEWAY, None, crate::display::one_line(&format!("{e:#}"))))?;
    for line in session.take_log().lines(tenant) {
        tracing::info!(tenant = %tenant, "{}", served.tenant.redactor.redact(&line));
    }
    match outcome {
        Some(Ok(made)) => Ok(made),
        Some(Err(e)) => Err(source_error(e)),
        None => Err(ScimError::new(StatusCode::BAD_GATEWAY, None, broken.unwrap_or_else(|| "the write was not made".into()))),
    }
}

/// What a write made, owned until it is recorded.
enum OwnedWritten {
    Resource(ResourceId, Option<String>),
    Grant(GrantRow, bool),
}

impl OwnedWritten {
    fn borrowed<'a>(&'a self, tenant: &'a str) -> Written<'a> {
        match self {
            OwnedWritten::Resource(id, line) => Written::Resource { tenant, resource_type: &id.resource_type, id: &id.id, line: line.as_deref() },
            OwnedWritten::Grant(grant, present) => Written::Grant { tenant, grant, present: *present },
        }
    }
}

type Attempt = std::pin::Pin<Box<dyn Future<Output = (Result<Made, CallError>, Instance)> + Send>>;

fn attempt(mut i: Instance, call: Call) -> Attempt {
    Box::pin(async move {
        let made = match call {
            Call::CreateAccount(t, fields) => i.create_account(&t, &fields).await.map(created),
            Call::CreateResource(t, fields) => i.create_resource(&t, &fields).await.map(created),
            Call::Update(id, fields) => i.update_resource(&id, &fields).await.map(|r| Made::Resource(Box::new(r), false)),
            Call::Delete(id) => i.delete_resource(&id).await.map(|d| Made::Deleted(id, d == DeleteOutcome::DidNotExist)),
            Call::Grant(principal, entitlement) => i.grant(&principal, &entitlement).await.map(|g| match g {
                GrantOutcome::Granted(g) => Made::Granted(g, false),
                GrantOutcome::AlreadyExists(g) => Made::Granted(g, true),
            }),
            Call::Revoke(grant) => i.revoke(&grant).await.map(|r| {
                let already = r == RevokeOutcome::AlreadyRevoked;
                Made::Revoked(grant, already)
            }),
        };
        (made, i)
    })
}

fn created(outcome: CreateOutcome) -> Made {
    match outcome {
        CreateOutcome::Created(r) => Made::Resource(Box::new(r), false),
        CreateOutcome::AlreadyExists(r) => Made::Resource(Box::new(r), true),
    }
}

/// A failed call as the SCIM client should read it (the text is already redacted).
fn source_error(e: anyhow::Error) -> ScimError {
    let detail = crate::display::one_line(&format!("{e:#}"));
    let kind = e.chain().find_map(|cause| cause.downcast_ref::<CallError>());
    use connector_model::ConnectorError as E;
    match kind {
        Some(CallError::Connector(E::Rejected(_) | E::InvalidConfig(_))) => ScimError::invalid_value(format!("the source refused the write: {detail}")),
        Some(CallError::Connector(E::NotFound(_))) => ScimError::new(StatusCode::NOT_FOUND, None, detail),
        Some(CallError::Connector(E::Unsupported(_))) => ScimError::new(StatusCode::NOT_IMPLEMENTED, None, detail),
        Some(CallError::Connector(E::RateLimited { .. } | E::Unavailable { .. })) => ScimError::unavailable(format!("the source is unavailable; try again: {detail}")),
        Some(CallError::Refused(_)) => ScimError::new(StatusCode::FORBIDDEN, None, detail),
        _ => ScimError::new(StatusCode::BAD_GATEWAY, None, detail),
    }
}

/// A boolean attribute's value, tolerating Entra's `"True"`/`"False"`.
fn boolean(value: Option<&Value>) -> Option<bool> {
    match value? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Whether a field of the schema is `active` itself (the connector writes it as a field, not as a disable).
fn scim_maps_active(schema: &WriteSchema) -> bool {
    schema.fields.iter().any(|f| f.scim_path.as_deref().is_some_and(|p| p.eq_ignore_ascii_case("active")))
}

/// The values at a field's SCIM `path` in `resource`. A path that picks the `work` element of a multi-valued
/// attribute takes the primary (or only) element when none is typed `work`: what a client sends untyped.
fn values_at(resource: &Value, path: &str) -> Vec<String> {
    let found = crate::scim_path::values(resource, path);
    if !found.is_empty() {
        return found;
    }
    let Some((attribute, rest)) = path.split_once('[') else { return found };
    let sub = rest.split_once("].").map(|(_, sub)| sub);
    let items = super::filter::field(resource, attribute).and_then(Value::as_array).cloned().unwrap_or_default();
    let chosen = items.iter().find(|i| boolean(super::filter::field(i, "primary")) == Some(true)).or(if items.len() == 1 { items.first() } else { None });
    let Some(chosen) = chosen else { return Vec::new() };
    let value = match sub {
        Some(sub) => super::filter::field(chosen, sub),
        None => Some(chosen),
    };
    value.and_then(crate::scim_path::scalar).into_iter().collect()
}

/// The connector's fields of a create, from the body by each field's SCIM path; a required one missing is
/// named by its path.
fn fields_for_create(schema: &WriteSchema, body: &Value) -> Result<Vec<(String, String)>, ScimError> {
    let mut fields = Vec::new();
    for field in schema.fields.iter().filter(|f| f.writable_by(Write::Create)) {
        let values = field.scim_path.as_deref().map(|p| values_at(body, p)).unwrap_or_default();
        let values: Vec<String> = values.into_iter().map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
        if values.is_empty() && field.required_on_create {
            return Err(ScimError::invalid_value(match &field.scim_path {
                Some(path) => format!("`{path}` is required: the source needs it (its `{}`)", field.name),
                None => format!("the source requires `{}`, which no SCIM attribute sets", field.name),
            }));
        }
        let take = if field.multi_valued { values.len() } else { 1 };
        fields.extend(values.into_iter().take(take).map(|v| (field.name.clone(), v)));
    }
    Ok(fields)
}

/// The connector's fields whose values differ between `before` and `after`: an attribute `after` lacks is cleared
/// (a `PUT` replaces the whole resource; a `PATCH` lacks only what it removed).
fn changed_fields(schema: &WriteSchema, before: &Value, after: &Value) -> Result<Vec<(String, String)>, ScimError> {
    let mut fields = Vec::new();
    for field in &schema.fields {
        let Some(path) = field.scim_path.as_deref() else { continue };
        let (was, is) = (values_at(before, path), values_at(after, path));
        if was == is {
            continue;
        }
        if !field.writable_by(Write::Update) {
            if field.writable_by(Write::Create) && !is.is_empty() {
                return Err(ScimError::new(StatusCode::BAD_REQUEST, Some("mutability"), format!("`{path}` cannot be changed once the resource exists")));
            }
            continue;
        }
        if is.is_empty() {
            if field.required_on_create {
                return Err(ScimError::invalid_value(format!("`{path}` cannot be removed: the source requires it")));
            }
            fields.push((field.name.clone(), String::new()));
            continue;
        }
        let take = if field.multi_valued { is.len() } else { 1 };
        fields.extend(is.into_iter().take(take).map(|v| (field.name.clone(), v)));
    }
    Ok(fields)
}

/// A resource's `externalId`, if it has one.
fn external_id(resource: &Value) -> Option<&str> {
    super::filter::field(resource, "externalId").and_then(Value::as_str).filter(|e| !e.is_empty())
}

/// The ids of a group's `members`.
fn member_ids(group: &Value) -> BTreeSet<String> {
    let members = super::filter::field(group, "members").and_then(Value::as_array).cloned().unwrap_or_default();
    members.iter().filter_map(|m| super::filter::field(m, "value").and_then(Value::as_str).map(str::to_string)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::model::WriteField;
    use serde_json::json;

    fn pingboard_like() -> WriteSchema {
        WriteSchema::new("user", vec![
            WriteField::new("first_name", "").required().scim("name.givenName"),
            WriteField::new("last_name", "").required().scim("name.familyName"),
            WriteField::new("email", "").required().scim("emails[type eq \"work\"].value"),
            WriteField::new("job_title", "").scim("title"),
            WriteField::new("start_date", ""),
        ])
        .disabled_by_delete()
    }

    #[test]
    fn a_create_maps_scim_paths_to_fields_and_names_a_missing_one_by_its_path() {
        let body = json!({"userName": "ada@x.test", "name": {"givenName": "Ada", "familyName": "Lovelace"}, "emails": [{"value": "ada@x.test", "primary": true}], "title": "Analyst", "password": "secret"});
        let fields = fields_for_create(&pingboard_like(), &body).unwrap();
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(pairs, [("first_name", "Ada"), ("last_name", "Lovelace"), ("email", "ada@x.test"), ("job_title", "Analyst")]);
        let missing = fields_for_create(&pingboard_like(), &json!({"userName": "x", "name": {"givenName": "Ada"}})).unwrap_err();
        assert_eq!((missing.status, missing.scim_type, missing.detail.as_str()), (StatusCode::BAD_REQUEST, Some("invalidValue"), "`name.familyName` is required: the source needs it (its `last_name`)"));
    }

    #[test]
    fn only_differing_fields_are_written_and_a_required_one_is_never_cleared() {
        let before = json!({"name": {"givenName": "Ada", "familyName": "Lovelace"}, "emails": [{"value": "ada@x.test", "type": "work"}], "title": "Analyst"});
        let mut after = before.clone();
        after["title"] = json!("Countess");
        assert_eq!(changed_fields(&pingboard_like(), &before, &after).unwrap(), [("job_title".to_string(), "Countess".to_string())]);
        after.as_object_mut().unwrap().remove("title");
        assert_eq!(changed_fields(&pingboard_like(), &before, &after).unwrap(), [("job_title".to_string(), String::new())]);
        after["name"] = json!({"givenName": "Ada"});
        assert_eq!(changed_fields(&pingboard_like(), &before, &after).unwrap_err().detail, "`name.familyName` cannot be removed: the source requires it");
    }
}
