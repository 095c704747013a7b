//! One cycle of a flow, from the store to the target and back: held under the flow's lease (no two processes
//! run one flow at once); each tenant synced first when its data is older than the flow's interval, when asked,
//! and, for the target, when the last cycle died half-way (so a rerun matches what that cycle created instead
//! of creating it twice); planned (`inputs.rs`, `plan.rs`); stopped before any write when its removals pass the
//! flow's threshold or the target tenant was not granted a write it needs; then each action written through the
//! target's component and recorded — its log entry, the link it made or ended, what it made of the account — in
//! one transaction. A cycle in which most writes fail ends needing attention, like a failing sync.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use anyhow::{Result, anyhow, bail};
use serde_json::{Value, json};

use super::FlowSpec;
use super::inputs::{Planned, plan_from_store};
use super::plan::Action;
use super::spec::Removal;
use crate::contract::model::{Capabilities, CreateOutcome, DeleteOutcome, ResourceId};
use crate::driver::{NoProgress, OpenSession, Start, SyncReport};
use crate::fleet::{Components, sync_tenant};
use crate::options::SyncOptions;
use crate::runtime::Runtime;
use crate::secrets::Redactor;
use crate::store::{CycleLease, LinkChange, LinkKind, LogEntry, Store, StoreLocation, Written, now_ms};
use crate::tenant::{ResolvedTenant, TenantSpec};

/// What a cycle runs with.
pub struct Cycle<'a> {
    /// The engine both tenants' components run on.
    pub runtime: &'a Runtime,
    /// Both tenants' components, loaded.
    pub components: &'a Components,
    /// The store holding both tenants' syncs and the flow's links and log.
    pub store: &'a StoreLocation,
    /// Limits of the syncs and the write session, under each tenant's own.
    pub defaults: &'a SyncOptions,
    /// Learns both tenants' secrets; every error passes through it.
    pub redactor: &'a Redactor,
}

/// What the person running a cycle asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Choices {
    /// Sync both tenants first, however recent their data.
    pub sync: bool,
    /// Let this cycle make up to this many removals, over the flow's threshold (once).
    pub allow_deletions: Option<u64>,
}

/// What a cycle did.
pub struct CycleReport {
    /// Its number.
    pub cycle: i64,
    /// The syncs it ran first, by tenant.
    pub synced: Vec<(String, SyncReport)>,
    /// What the components printed, prefixed with their tenant and redacted.
    pub log: Vec<String>,
    /// Its plan and what it was made from, once planned.
    pub planned: Option<Planned>,
    /// Each action's log entry, in order.
    pub entries: Vec<LogEntry>,
    /// Why the flow needs attention after it, if it does.
    pub attention: Option<String>,
}

impl CycleReport {
    /// Actions per kind and outcome: `{"create": {"done": 3}, "skip": {"skipped": 1}}`.
    pub fn counts(&self) -> Value {
        let mut counts: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
        for entry in &self.entries {
            *counts.entry(&entry.action).or_default().entry(&entry.outcome).or_default() += 1;
        }
        json!(counts)
    }

    /// The log entries whose outcome is `outcome`.
    pub fn with_outcome<'s>(&'s self, outcome: &'s str) -> impl Iterator<Item = &'s LogEntry> + 's {
        self.entries.iter().filter(move |e| e.outcome == outcome)
    }
}

/// What one write did.
struct Done {
    /// `done`, or `already` when the target was already so.
    outcome: &'static str,
    /// The account written.
    target: String,
    link: LinkChange,
    account: After,
}

/// What a write left of the account, for the target's current view.
enum After {
    /// As it was.
    Unchanged,
    /// Its export line, as the connector read it back.
    Is(String),
    /// Nothing.
    Deleted,
}

impl Cycle<'_> {
    /// Runs `flow`'s next cycle between the tenants `source` and `target`. An error (a sync that failed, a
    /// write not granted, the lease lost) leaves the flow needing attention, as does a report's `attention`.
    pub async fn run(&self, flow: &FlowSpec, source: &TenantSpec, target: &TenantSpec, choices: Choices) -> Result<CycleReport> {
        let store = Store::open(self.store)?;
        let lease = store.begin_cycle(&flow.name)?;
        let mut report = CycleReport { cycle: lease.cycle, synced: Vec::new(), log: Vec::new(), planned: None, entries: Vec::new(), attention: None };
        let outcome = self.run_held(&store, &lease, flow, [source, target], choices, &mut report).await.map_err(|e| anyhow!("{}", self.redactor.redact(&format!("{e:#}"))));
        let attention = match &outcome {
            Ok(()) => report.attention.clone(),
            Err(e) => Some(format!("{e:#}")),
        };
        store.end_cycle(&lease, attention.as_deref(), &report.counts().to_string())?;
        outcome.map(|()| report)
    }

    async fn run_held(&self, store: &Store, lease: &CycleLease, flow: &FlowSpec, [source, target]: [&TenantSpec; 2], choices: Choices, report: &mut CycleReport) -> Result<()> {
        for (spec, unfinished) in [(source, None), (target, lease.unfinished)] {
            if let Some(why) = self.sync_first(store, flow, &spec.name, choices, unfinished)? {
                tracing::info!(flow = %flow.name, "syncing tenant `{}` first: {why}", spec.name);
                let prepared = self.components.of(spec)?;
                let open = || Store::open(self.store);
                let synced = sync_tenant(self.runtime, &prepared, spec.clone(), self.defaults, open, self.redactor, &NoProgress, &mut report.log, |_, _, _| Ok(Start::Fresh)).await;
                let synced = synced.map_err(|e| anyhow!("syncing tenant `{}` first failed: {e:#}", spec.name))?;
                report.synced.push((spec.name.clone(), synced));
            }
        }
        let prepared = self.components.of(target)?;
        let planned = plan_from_store(store, flow, &prepared.metadata.write_schemas)?;
        let account_type = planned.account_type.clone();
        let actions = planned.plan.actions.clone();
        let allowed = planned.allowed.max(choices.allow_deletions.unwrap_or(0));
        let removals = planned.plan.removals() as u64;
        report.planned = Some(planned);
        let mut log = Log { store, lease, report };

        if removals > allowed {
            let why = format!("{removals} removals exceed max_deletions ({allowed}): the cycle stopped before any write; `flow apply --allow-deletions {removals}` lifts it once");
            for action in &actions {
                log.record(action, "held", None, Some(why.clone()), &LinkChange::Keep, None)?;
            }
            log.report.attention = Some(why);
            return Ok(());
        }
        let mut session = None;
        if actions.iter().any(|a| !matches!(a, Action::Skip { .. })) {
            session = Some(self.open_target(target, &prepared.metadata, &actions, &account_type).await?);
        }
        let (mut tried, mut failed) = (0usize, 0usize);
        for (done, action) in actions.iter().enumerate() {
            if let Some(signal) = self.defaults.interrupt.signalled() {
                log.report.attention = Some(format!("interrupted by {} after {done} of {} actions", signal.name(), actions.len()));
                break;
            }
            let (Some((session, tenant)), false) = (session.as_mut(), matches!(action, Action::Skip { .. })) else {
                let Action::Skip { why, .. } = action else { unreachable!("only skips are made without a session") };
                log.record(action, "skipped", None, Some(why.clone()), &LinkChange::Keep, None)?;
                continue;
            };
            tried += 1;
            let written = write(session, action, &account_type).await;
            log.report.log.extend(session.take_log().lines(&tenant.name).iter().map(|line| self.redactor.redact(line)));
            match written {
                Ok(done) => {
                    let line = match &done.account {
                        After::Unchanged => None,
                        After::Is(line) => Some(Some(line.as_str())),
                        After::Deleted => Some(None),
                    };
                    let written = line.map(|line| Written::Resource { tenant: &tenant.name, resource_type: &account_type, id: &done.target, line });
                    log.record(action, done.outcome, Some(done.target.clone()), None, &done.link, written.as_ref())?;
                }
                Err(e) => {
                    failed += 1;
                    let why = crate::display::one_line(&format!("{e:#}"));
                    log.record(action, "failed", action.target().map(str::to_string), Some(why.clone()), &LinkChange::Keep, None)?;
                    if !session.usable() {
                        log.report.attention = Some(format!("the target's component cannot go on ({why}); {} of {} actions were not tried", actions.len() - done - 1, actions.len()));
                        break;
                    }
                }
            }
        }
        if log.report.attention.is_none() && failed * 2 > tried {
            let last = log.report.with_outcome("failed").last().and_then(|e| e.detail.clone()).unwrap_or_default();
            log.report.attention = Some(format!("{failed} of {tried} writes failed (the last: {last})"));
        }
        Ok(())
    }

    /// Why `tenant` must be synced before the plan, if it must: asked to, never synced, older than the flow's
    /// interval, or (the target) written by a cycle that died before it ended.
    fn sync_first(&self, store: &Store, flow: &FlowSpec, tenant: &str, choices: Choices, unfinished: Option<i64>) -> Result<Option<String>> {
        if choices.sync {
            return Ok(Some("asked to (--sync)".into()));
        }
        if let Some(cycle) = unfinished {
            return Ok(Some(format!("cycle {cycle} ended before it finished, and may have written what the store does not know")));
        }
        let Some(latest) = store.complete_syncs(tenant, 1)?.into_iter().next() else {
            return Ok(Some("it has never synced".into()));
        };
        let age = humantime::parse_rfc3339(&latest.started_at).ok().and_then(|at| SystemTime::now().duration_since(at).ok()).unwrap_or(Duration::MAX);
        Ok((age > flow.interval).then(|| format!("its latest sync ({}) is older than the flow's interval ({})", latest.id, humantime::format_duration(flow.interval))))
    }

    /// The target's session for writes, once every write the plan needs is known to be granted.
    async fn open_target(&self, spec: &TenantSpec, metadata: &crate::contract::model::Metadata, actions: &[Action], account_type: &str) -> Result<(OpenSession, ResolvedTenant)> {
        let tenant = ResolvedTenant::resolve(spec.clone(), metadata, self.redactor.clone())?;
        let granter = tenant.granter(true);
        for action in actions {
            let (call, capability) = match action {
                Action::Create { .. } => ("create-account", Capabilities::CREATE),
                Action::Adopt { fields, .. } if fields.is_empty() => continue,
                Action::Adopt { .. } | Action::Update { .. } | Action::Remove { removal: Removal::Disable { .. }, .. } => ("update-resource", Capabilities::UPDATE),
                Action::Remove { removal: Removal::Delete, .. } => ("delete-resource", Capabilities::DELETE),
                Action::Skip { .. } => continue,
            };
            if let Some(refusal) = granter.refusal(call, account_type, capability) {
                bail!("target tenant `{}`: {refusal}; no write was made", tenant.name);
            }
        }
        let mut options = self.defaults.clone();
        tenant.limits.apply(&mut options)?;
        let session = OpenSession::open(self.runtime, &self.components.of(spec)?.loaded, &tenant, &options, true).await.map_err(|e| e.error)?;
        Ok((session, tenant))
    }
}

/// Writes the log of one cycle, numbering its entries.
struct Log<'a> {
    store: &'a Store,
    lease: &'a CycleLease,
    report: &'a mut CycleReport,
}

impl Log<'_> {
    fn record(&mut self, action: &Action, outcome: &str, target: Option<String>, detail: Option<String>, link: &LinkChange, written: Option<&Written>) -> Result<()> {
        let entry = LogEntry {
            flow: self.lease.flow.clone(),
            cycle: self.lease.cycle,
            seq: self.report.entries.len() as i64 + 1,
            source_id: Some(action.source().to_string()),
            target_id: target.or_else(|| action.target().map(str::to_string)),
            action: action.name().to_string(),
            fields: action.field_names(),
            outcome: outcome.to_string(),
            detail: detail.or_else(|| match action {
                Action::Remove { why, .. } => Some(format!("the user {why}")),
                _ => None,
            }),
            at_ms: now_ms(),
        };
        self.store.record_action(self.lease, &entry, link, written)?;
        self.report.entries.push(entry);
        Ok(())
    }
}

/// Makes one action's write through the target's component (retried as a sync's calls are).
async fn write(session: &mut OpenSession, action: &Action, account_type: &str) -> Result<Done> {
    let account = |id: &str| ResourceId { resource_type: account_type.to_string(), id: id.to_string() };
    let line = |resource| After::Is(crate::records::resource(&resource).to_string());
    match action {
        Action::Create { fields, .. } => {
            let (kind, fields) = (account_type.to_string(), fields.clone());
            let created = session.call_retrying("create-account", move |mut i| {
                let (kind, fields) = (kind.clone(), fields.clone());
                async move { (i.create_account(&kind, &fields).await, i) }
            });
            let (outcome, resource) = match created.await? {
                CreateOutcome::Created(r) => ("done", r),
                CreateOutcome::AlreadyExists(r) => ("already", r),
            };
            Ok(Done { outcome, target: resource.id.id.clone(), link: LinkChange::Link(LinkKind::User, resource.id.id.clone()), account: line(resource) })
        }
        Action::Adopt { target, fields, .. } if fields.is_empty() => Ok(Done { outcome: "done", target: target.clone(), link: LinkChange::Link(LinkKind::User, target.clone()), account: After::Unchanged }),
        Action::Adopt { target, fields, .. } | Action::Update { target, fields, .. } => {
            let resource = update(session, account(target), fields.clone()).await?;
            let link = if matches!(action, Action::Adopt { .. }) { LinkChange::Link(LinkKind::User, target.clone()) } else { LinkChange::Keep };
            Ok(Done { outcome: "done", target: target.clone(), link, account: line(resource) })
        }
        Action::Remove { target, removal: Removal::Disable { field, value }, .. } => {
            let resource = update(session, account(target), vec![(field.clone(), value.clone())]).await?;
            Ok(Done { outcome: "done", target: target.clone(), link: LinkChange::Keep, account: line(resource) })
        }
        Action::Remove { target, removal: Removal::Delete, .. } => {
            let id = account(target);
            let deleted = session.call_retrying("delete-resource", move |mut i| {
                let id = id.clone();
                async move { (i.delete_resource(&id).await, i) }
            });
            let outcome = match deleted.await? {
                DeleteOutcome::Deleted => "done",
                DeleteOutcome::DidNotExist => "already",
            };
            Ok(Done { outcome, target: target.clone(), link: LinkChange::Unlink(LinkKind::User), account: After::Deleted })
        }
        Action::Skip { .. } => bail!("a skip writes nothing"),
    }
}

async fn update(session: &mut OpenSession, id: ResourceId, fields: Vec<(String, String)>) -> Result<crate::contract::model::Resource> {
    session
        .call_retrying("update-resource", move |mut i| {
            let (id, fields) = (id.clone(), fields.clone());
            async move { (i.update_resource(&id, &fields).await, i) }
        })
        .await
}
