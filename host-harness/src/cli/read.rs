//! The read commands: `resources`, `grants`, `export` and `diff`, over the latest complete sync (or one named
//! with `--sync`). They open the store read-only.

use std::io::Write;

use anyhow::{Result, anyhow, bail};
use clap::{Args, ValueEnum};

use super::Context;
use super::args::ReadArgs;
use crate::store::Store;

/// List the resources of the latest complete sync.
#[derive(Args)]
pub struct ResourcesCommand {
    #[command(flatten)]
    read: ReadArgs,
    /// Only this resource type.
    #[arg(long = "type")]
    resource_type: Option<String>,
}

impl ResourcesCommand {
    pub fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        let (store, sync) = self.read.open()?;
        if let Some(t) = &self.resource_type
            && !store.has_resource_type(sync, t)?
        {
            let known: Vec<String> = store.counts(sync)?.resources.into_iter().map(|(t, _)| t).collect();
            bail!("unknown resource type `{t}` (sync {sync} has: {})", known.join(", "));
        }
        store.for_each_resource(sync, self.resource_type.as_deref(), |line| Ok(writeln!(cx.out, "{line}")?))?;
        store.check_unchanged()
    }
}

/// List the grants of the latest complete sync.
#[derive(Args)]
pub struct GrantsCommand {
    #[command(flatten)]
    read: ReadArgs,
    /// Only grants of this entitlement (e.g. group:42:member).
    #[arg(long, conflicts_with = "principal")]
    entitlement: Option<String>,
    /// Only grants held by this principal (TYPE:ID, e.g. user:123).
    #[arg(long)]
    principal: Option<String>,
}

impl GrantsCommand {
    pub fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        let (store, sync) = self.read.open()?;
        let principal = match &self.principal {
            Some(p) => Some(p.split_once(':').ok_or_else(|| anyhow!("--principal takes TYPE:ID, got `{p}`"))?),
            None => None,
        };
        store.for_each_grant(sync, self.entitlement.as_deref(), principal, |g| {
            Ok(writeln!(cx.out, "{}", crate::records::grant_line(&g))?)
        })?;
        store.check_unchanged()
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportFormat {
    /// One JSON object per line: resource types, resources, entitlements, grants.
    Jsonl,
    /// SCIM 2.0 User and Group resources, one per line.
    Scim,
}

/// Write the latest complete sync to stdout.
#[derive(Args)]
pub struct ExportCommand {
    #[command(flatten)]
    read: ReadArgs,
    #[arg(long, value_enum)]
    format: ExportFormat,
}

impl ExportCommand {
    pub fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        let (store, sync) = self.read.open()?;
        let mut buffered = std::io::BufWriter::new(&mut *cx.out);
        match self.format {
            ExportFormat::Jsonl => store.export_jsonl(sync, &mut buffered)?,
            ExportFormat::Scim => crate::scim_export::export(&store, sync, &mut buffered)?,
        }
        buffered.flush()?;
        drop(buffered);
        store.check_unchanged()
    }
}

/// What changed between the last two complete syncs.
#[derive(Args)]
pub struct DiffCommand {
    #[command(flatten)]
    read: ReadArgs,
}

impl DiffCommand {
    pub fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        let store = Store::open_existing(&self.read.store)?;
        let syncs = store.complete_syncs(&self.read.tenant, 2)?;
        let [new, old] = syncs.as_slice() else {
            bail!("tenant `{}` has {} complete sync(s); diff needs two", self.read.tenant, syncs.len());
        };
        let counts = store.diff(old.id, new.id, cx.out)?;
        writeln!(cx.out, "sync {} → sync {}: {} added, {} removed, {} changed", old.id, new.id, counts.added, counts.removed, counts.changed)?;
        store.check_unchanged()
    }
}
