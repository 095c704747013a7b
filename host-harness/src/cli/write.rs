//! The write commands: `grant`, `revoke`, `create-account`, `update-account`, `create-resource` and `delete`.
//! Each prints its outcome and the resulting resource or grant as JSON; repeating a write is harmless. The
//! tenant must be granted the write, and the runtime checks each call (see `grants`).

use std::io::Write;

use anyhow::{Result, anyhow, bail};
use clap::Args;

use super::Context;
use super::args::{WriteArgs, resolve, tenant_spec};
use crate::contract::model::{CreateOutcome, DeleteOutcome, Grant, GrantOutcome, ResourceId, RevokeOutcome, TraitKind};
use crate::driver::OpenSession;
use crate::grants::WriteGrants;
use crate::options::SyncOptions;
use crate::runtime::{CallError, Instance};

/// Grant an entitlement to a principal (writes to the source: needs --provisioning or a granted write).
#[derive(Args)]
pub struct GrantCommand {
    #[command(flatten)]
    write: WriteArgs,
    /// The entitlement, e.g. group:42:member.
    #[arg(long)]
    entitlement: String,
    /// TYPE:ID, e.g. user:123.
    #[arg(long)]
    principal: String,
}

impl GrantCommand {
    pub async fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        let mut session = writer("grant", &self.write, cx).await?;
        let principal = parse_id(&self.principal, "--principal")?;
        let outcome = session.call(async |i| i.grant(&principal, &self.entitlement).await).await?;
        let (word, grant) = match outcome {
            GrantOutcome::Granted(g) => ("granted", g),
            GrantOutcome::AlreadyExists(g) => ("already_exists", g),
        };
        let line = crate::records::grant_line(&(&grant).into());
        writeln!(cx.out, "{}", serde_json::json!({"outcome": word, "grant": line}))?;
        Ok(())
    }
}

/// Revoke a grant (writes to the source: needs --provisioning or a granted write).
#[derive(Args)]
pub struct RevokeCommand {
    #[command(flatten)]
    write: WriteArgs,
    /// The grant id, e.g. group:42:member:user:123.
    #[arg(long)]
    grant: String,
}

impl RevokeCommand {
    pub async fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        let mut session = writer("revoke", &self.write, cx).await?;
        let grant = self.grant;
        let mut parts = grant.rsplitn(3, ':');
        let (Some(principal_id), Some(principal_type), Some(entitlement)) = (parts.next(), parts.next(), parts.next()) else {
            bail!("--grant takes ENTITLEMENT:PRINCIPAL_TYPE:PRINCIPAL_ID, got `{grant}`");
        };
        let principal = ResourceId { resource_type: principal_type.into(), id: principal_id.into() };
        let target = Grant { id: grant.clone(), entitlement: entitlement.into(), principal, immutable: None };
        let word = match session.call(async |i| i.revoke(&target).await).await? {
            RevokeOutcome::Revoked => "revoked",
            RevokeOutcome::AlreadyRevoked => "already_revoked",
        };
        writeln!(cx.out, "{}", serde_json::json!({"outcome": word, "grant": grant}))?;
        Ok(())
    }
}

/// Create an account (writes to the source: needs --provisioning or a granted write).
#[derive(Args)]
pub struct CreateAccountCommand {
    #[command(flatten)]
    write: WriteArgs,
    /// A field, KEY=VALUE, by the source's field names (repeatable).
    #[arg(long = "field", value_name = "KEY=VALUE")]
    fields: Vec<String>,
}

impl CreateAccountCommand {
    pub async fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        let mut session = writer("create-account", &self.write, cx).await?;
        let fields = parse_fields(&self.fields)?;
        let user_type = session.user_type().await?;
        let outcome = session.call(async |i| i.create_account(&user_type, &fields).await).await?;
        print_created(cx.out, outcome)
    }
}

/// Change an account's fields (writes to the source: needs --provisioning or a granted write).
#[derive(Args)]
pub struct UpdateAccountCommand {
    #[command(flatten)]
    write: WriteArgs,
    /// The account's id.
    #[arg(long)]
    id: String,
    #[arg(long = "field", value_name = "KEY=VALUE")]
    fields: Vec<String>,
}

impl UpdateAccountCommand {
    pub async fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        let mut session = writer("update-account", &self.write, cx).await?;
        let fields = parse_fields(&self.fields)?;
        let user_type = session.user_type().await?;
        let target = ResourceId { resource_type: user_type, id: self.id };
        let resource = session.call(async |i| i.update_resource(&target, &fields).await).await?;
        writeln!(cx.out, "{}", serde_json::json!({"outcome": "updated", "resource": crate::records::resource(&resource)}))?;
        Ok(())
    }
}

/// Create a resource such as a group (writes to the source: needs --provisioning or a granted write).
#[derive(Args)]
pub struct CreateResourceCommand {
    #[command(flatten)]
    write: WriteArgs,
    #[arg(long = "type")]
    resource_type: String,
    #[arg(long = "field", value_name = "KEY=VALUE")]
    fields: Vec<String>,
}

impl CreateResourceCommand {
    pub async fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        let mut session = writer("create-resource", &self.write, cx).await?;
        let fields = parse_fields(&self.fields)?;
        let outcome = session.call(async |i| i.create_resource(&self.resource_type, &fields).await).await?;
        print_created(cx.out, outcome)
    }
}

/// Delete a resource, TYPE:ID (writes to the source: needs --provisioning or a granted write).
#[derive(Args)]
pub struct DeleteCommand {
    #[command(flatten)]
    write: WriteArgs,
    #[arg(long)]
    resource: String,
}

impl DeleteCommand {
    pub async fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        let mut session = writer("delete", &self.write, cx).await?;
        let target = parse_id(&self.resource, "--resource")?;
        let word = match session.call(async |i| i.delete_resource(&target).await).await? {
            DeleteOutcome::Deleted => "deleted",
            DeleteOutcome::DidNotExist => "did_not_exist",
        };
        let resource = serde_json::json!({"resource_type": target.resource_type, "id": target.id});
        writeln!(cx.out, "{}", serde_json::json!({"outcome": word, "resource": resource}))?;
        Ok(())
    }
}

/// A session opened for writes.
struct Writer {
    session: OpenSession,
}

/// Refuses a write command the tenant is granted no writes for (no --provisioning, no `provisioning` in its
/// tenant file) before loading anything, then opens a session with the tenant's grants; the runtime checks
/// each write against them (see `grants`).
async fn writer(command: &str, args: &WriteArgs, cx: &Context<'_>) -> Result<Writer> {
    let mut spec = tenant_spec(&args.tenant, cx.redactor)?;
    if args.provisioning {
        spec.writes = WriteGrants::All;
    }
    if !spec.writes.any() {
        bail!("`{command}` writes to the source system: pass --provisioning to allow it");
    }
    let (runtime, loaded, _, tenant) = resolve(spec, cx.cache_dir.clone(), cx.redactor).await?;
    let session = OpenSession::open(&runtime, &loaded, &tenant, &SyncOptions::default(), true).await?;
    Ok(Writer { session })
}

impl Writer {
    /// The resource type whose resources are accounts (the one with the user trait).
    async fn user_type(&mut self) -> Result<String> {
        let types = self.call(async |i| i.resource_types().await).await?;
        types
            .into_iter()
            .find(|t| t.traits.contains(&TraitKind::User))
            .map(|t| t.id)
            .ok_or_else(|| anyhow!("the connector has no resource type with the user trait"))
    }

    async fn call<T>(&mut self, f: impl AsyncFnOnce(&mut Instance) -> Result<T, CallError>) -> Result<T> {
        let result = f(self.session.instance()).await;
        result.map_err(|e| self.session.explain(anyhow!("{e}")))
    }
}

pub(super) fn parse_id(value: &str, flag: &str) -> Result<ResourceId> {
    match value.split_once(':') {
        Some((t, id)) if !t.is_empty() && !id.is_empty() => Ok(ResourceId { resource_type: t.into(), id: id.into() }),
        _ => bail!("{flag} takes TYPE:ID, got `{value}`"),
    }
}

fn parse_fields(fields: &[String]) -> Result<Vec<(String, String)>> {
    fields
        .iter()
        .map(|f| match f.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
            _ => bail!("--field takes KEY=VALUE, got `{f}`"),
        })
        .collect()
}

fn print_created(out: &mut dyn Write, outcome: CreateOutcome) -> Result<()> {
    let (word, resource) = match outcome {
        CreateOutcome::Created(r) => ("created", r),
        CreateOutcome::AlreadyExists(r) => ("already_exists", r),
    };
    writeln!(out, "{}", serde_json::json!({"outcome": word, "resource": crate::records::resource(&resource)}))?;
    Ok(())
}

