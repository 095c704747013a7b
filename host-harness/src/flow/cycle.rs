//! One cycle of a flow, from the store to the target and back: held under the flow's lease (no two processes
//! run one flow at once); each tenant synced first when its data is older than the flow's interval, when asked,
//! and, for the target, when the last cycle died half-way (so a rerun matches what that cycle created instead
//! of creating it twice); planned (`inputs.rs`, `plan.rs`); stopped before any write when its removals pass the
//! flow's threshold or the target tenant was not granted a write it needs; then each action written through the
//! target's component and recorded — its log entry, the link it made or ended, what it made of the target — in
//! one transaction. Accounts and groups are written first; pushed groups' members are planned again after, with
//! the accounts and groups the cycle made. A cycle in which most writes fail ends needing attention, like a
//! failing sync.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use anyhow::{Result, anyhow, bail};
use serde_json::{Value, json};

use super::FlowSpec;
use super::inputs::{Planned, check_early, plan_from_store};
use super::plan::Action;
use super::spec::Removal;
use crate::contract::model::{Capabilities, CreateOutcome, DeleteOutcome, Grant, GrantOutcome, Metadata, Resource, ResourceId, RevokeOutcome};
use crate::driver::{NoProgress, OpenSession, Start, SyncReport};
use crate::fleet::{Components, SyncTrace, sync_tenant};
use crate::options::SyncOptions;
use crate::records::GrantRow;
use crate::runtime::{CallError, Instance, Runtime};
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
    /// Whether `serve` runs it: its syncs and its lease are then the service's (`Store::for_service`).
    pub service: bool,
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
    /// Its actions by kind and outcome: `("create", "done") → 3`.
    pub fn tally(&self) -> BTreeMap<(&str, &str), u64> {
        let mut tally = BTreeMap::new();
        for entry in &self.entries {
            *tally.entry((entry.action.as_str(), entry.outcome.as_str())).or_default() += 1;
        }
        tally
    }

    /// The tally as JSON, by kind then outcome: `{"create": {"done": 3}, "skip": {"skipped": 1}}`.
    pub fn counts(&self) -> Value {
        let mut counts: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
        for ((action, outcome), n) in self.tally() {
            counts.entry(action).or_default().insert(outcome, n);
        }
        json!(counts)
    }

    /// The tally in a few words, for the service's schedule: `3 create, 1 add-member, 1 skipped; 12 unchanged`.
    pub fn summary(&self) -> String {
        let mut done: BTreeMap<&str, u64> = BTreeMap::new();
        let mut other: BTreeMap<&str, u64> = BTreeMap::new();
        for ((action, outcome), n) in self.tally() {
            match outcome {
                "done" | "already" => *done.entry(action).or_default() += n,
                outcome => *other.entry(outcome).or_default() += n,
            }
        }
        let words: Vec<String> = done.iter().chain(&other).map(|(what, n)| format!("{n} {what}")).collect();
        format!("{}; {} unchanged", if words.is_empty() { "nothing to do".into() } else { words.join(", ") }, self.unchanged())
    }

    /// How many `action`s were carried out (or found already done), for a log field.
    pub fn done(&self, action: &str) -> u64 {
        self.tally().iter().filter(|((a, outcome), _)| *a == action && matches!(*outcome, "done" | "already")).map(|(_, n)| n).sum()
    }

    /// How many actions ended `outcome` (`failed`, `skipped`), for a log field.
    pub fn ended(&self, outcome: &str) -> u64 {
        self.tally().iter().filter(|((_, o), _)| *o == outcome).map(|(_, n)| n).sum()
    }

    /// The resources the plan found already in line.
    pub fn unchanged(&self) -> u64 {
        self.planned.as_ref().map_or(0, |p| p.plan.unchanged as u64)
    }

    /// The log entries whose outcome is `outcome`.
    pub fn with_outcome<'s>(&'s self, outcome: &'s str) -> impl Iterator<Item = &'s LogEntry> + 's {
        self.entries.iter().filter(move |e| e.outcome == outcome)
    }
}

impl Cycle<'_> {
    /// Runs `flow`'s next cycle between the tenants `source` and `target`. An error (a sync that failed, a
    /// write not granted, the lease lost) leaves the flow needing attention, as does a report's `attention`.
    pub async fn run(&self, flow: &FlowSpec, source: &TenantSpec, target: &TenantSpec, choices: Choices) -> Result<CycleReport> {
        let store = self.open()?;
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
        let prepared = self.components.of(target)?;
        check_early(store, flow, &prepared.metadata.write_schemas)?;
        for (spec, unfinished) in [(source, None), (target, lease.unfinished)] {
            if let Some(why) = self.sync_first(store, flow, &spec.name, choices, unfinished)? {
                tracing::info!(flow = %flow.name, "syncing tenant `{}` first: {why}", spec.name);
                let prepared = self.components.of(spec)?;
                let open = || self.open();
                let mut trace = SyncTrace::default();
                let synced = sync_tenant(self.runtime, &prepared, spec.clone(), self.defaults, open, self.redactor, &NoProgress, &mut trace, |_, _, _| Ok(Start::Fresh)).await;
                report.log.extend(trace.log);
                let synced = synced.map_err(|e| anyhow!("syncing tenant `{}` first failed: {e:#}", spec.name))?;
                report.synced.push((spec.name.clone(), synced));
            }
        }
        let planned = plan_from_store(store, flow, &prepared.metadata.write_schemas)?;
        let allowed = planned.allowed.max(choices.allow_deletions.unwrap_or(0));
        let removals = planned.plan.removals() as u64;
        let needed = needed(flow, &planned.plan.actions, &planned.account_type);
        let mut writer = Writer { cycle: self, flow, spec: target, metadata: &prepared.metadata, account_type: planned.account_type.clone(), needed, session: None, tried: 0, failed: 0 };
        let mut log = Log { store, lease, target: &target.name, report };
        if removals > allowed {
            let why = format!("{removals} removals exceed max_deletions ({allowed}): the cycle stopped before any write; `flow apply --allow-deletions {removals}` lifts it once");
            for action in &planned.plan.actions {
                log.record(action, Ended::Not("held", why.clone()))?;
            }
            log.report.attention = Some(why);
            log.report.planned = Some(planned);
            return Ok(());
        }
        // Accounts and groups first; then members, planned again with what those writes made.
        let first: Vec<Action> = planned.plan.actions.iter().filter(|a| !a.is_membership()).cloned().collect();
        let mut stopped = writer.apply(&first, &mut log).await?;
        if !stopped && flow.groups.is_some() {
            let members = planned.members(store, flow)?;
            stopped = writer.apply(&members, &mut log).await?;
        }
        log.report.planned = Some(planned);
        if !stopped && writer.failed * 2 > writer.tried {
            let last = log.report.with_outcome("failed").last().and_then(|e| e.detail.clone()).unwrap_or_default();
            log.report.attention = Some(format!("{} of {} writes failed (the last: {last})", writer.failed, writer.tried));
        }
        Ok(())
    }

    fn open(&self) -> Result<Store> {
        let store = Store::open(self.store)?;
        Ok(if self.service { store.for_service() } else { store })
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
}

/// Writes a cycle's actions through the target's component, opening its session at the first write.
struct Writer<'a> {
    cycle: &'a Cycle<'a>,
    flow: &'a FlowSpec,
    spec: &'a TenantSpec,
    metadata: &'a Metadata,
    account_type: String,
    /// The writes the cycle may make (`needed`).
    needed: Vec<(&'static str, String, Capabilities)>,
    session: Option<(OpenSession, ResolvedTenant)>,
    /// Writes tried and failed, over the cycle.
    tried: usize,
    failed: usize,
}

impl Writer<'_> {
    /// Applies `actions`, logging each: skips at once, writes on the target's instances, as many at once as its
    /// session has (`--concurrency`), each logged as it ends. Whether the cycle stopped (a signal, or a
    /// component that cannot go on).
    async fn apply(&mut self, actions: &[Action], log: &mut Log<'_>) -> Result<bool> {
        let mut writes = Vec::new();
        for action in actions {
            match action {
                Action::Skip { why, .. } => log.record(action, Ended::Not("skipped", why.clone()))?,
                _ => writes.push(action.clone()),
            }
        }
        if writes.is_empty() {
            return Ok(false);
        }
        let types = Types { account: self.account_type.clone(), group: self.flow.groups.as_ref().map(|g| g.target_type.clone()).unwrap_or_default() };
        let (interrupt, redactor, total) = (self.cycle.defaults.interrupt.clone(), self.cycle.redactor, writes.len());
        let (session, tenant) = self.session().await?;
        let (mut tried, mut failed, mut not_made) = (0usize, 0usize, 0usize);
        let broken = session
            .call_each(writes, call_of, |i, action| attempt(i, action, &types), || interrupt.signalled().is_some(), async |action, outcome| match outcome {
                None => {
                    not_made += 1;
                    Ok(())
                }
                Some(Ok(done)) => {
                    tried += 1;
                    log.record(&action, Ended::Done(&done))
                }
                Some(Err(e)) => {
                    (tried, failed) = (tried + 1, failed + 1);
                    log.record(&action, Ended::Not("failed", crate::display::one_line(&format!("{e:#}"))))
                }
            })
            .await?;
        log.report.log.extend(session.take_log().lines(&tenant.name).iter().map(|line| redactor.redact(line)));
        (self.tried, self.failed) = (self.tried + tried, self.failed + failed);
        if let Some(why) = broken {
            log.report.attention = Some(format!("the target's component cannot go on ({}); {not_made} of {total} writes were not tried", crate::display::one_line(&why)));
            return Ok(true);
        }
        if let Some(signal) = interrupt.signalled().filter(|_| not_made > 0) {
            log.report.attention = Some(format!("interrupted by {} after {tried} of {total} writes", signal.name()));
            return Ok(true);
        }
        Ok(false)
    }

    /// The target's session for writes, opened once every write the flow may need is known to be granted.
    async fn session(&mut self) -> Result<(&mut OpenSession, &ResolvedTenant)> {
        if self.session.is_none() {
            let tenant = ResolvedTenant::resolve(self.spec.clone(), self.metadata, self.cycle.redactor.clone())?;
            let granter = tenant.granter(true);
            for (call, resource_type, capability) in &self.needed {
                if let Some(refusal) = granter.refusal(call, resource_type, *capability) {
                    bail!("target tenant `{}`: {refusal}; no write was made", tenant.name);
                }
            }
            let mut options = self.cycle.defaults.clone();
            tenant.limits.apply(&mut options)?;
            let loaded = &self.cycle.components.of(self.spec)?.loaded;
            let session = OpenSession::open_many(self.cycle.runtime, loaded, &tenant, &options, true).await.map_err(|e| e.error)?;
            self.session = Some((session, tenant));
        }
        let (session, tenant) = self.session.as_mut().expect("opened above");
        Ok((session, tenant))
    }
}

/// Every write a cycle may make on the target, as (call, resource type, capability): those of its planned
/// accounts and groups, and with group push, granting and revoking members. Checked before the cycle's first
/// write, so a missing grant stops it before it has changed anything.
fn needed(flow: &FlowSpec, actions: &[Action], account_type: &str) -> Vec<(&'static str, String, Capabilities)> {
    let group_type = flow.groups.as_ref().map(|g| g.target_type.clone());
    let mut needed = Vec::new();
    for action in actions {
        let of = |group: bool| if group { group_type.clone().unwrap_or_default() } else { account_type.to_string() };
        let write = match action {
            Action::Create { group: false, .. } => ("create-account", of(false), Capabilities::CREATE),
            Action::Create { group: true, .. } => ("create-resource", of(true), Capabilities::CREATE),
            Action::Adopt { fields, .. } if fields.is_empty() => continue,
            Action::Adopt { group, .. } | Action::Update { group, .. } => ("update-resource", of(*group), Capabilities::UPDATE),
            Action::Remove { removal: Removal::Disable { .. }, .. } => ("update-resource", of(false), Capabilities::UPDATE),
            Action::Remove { removal: Removal::Delete, .. } => ("delete-resource", of(false), Capabilities::DELETE),
            Action::AddMember { .. } | Action::RemoveMember { .. } | Action::Skip { .. } => continue,
        };
        if !needed.contains(&write) {
            needed.push(write);
        }
    }
    if let Some(group) = group_type {
        needed.extend([("grant", group.clone(), Capabilities::GRANT), ("revoke", group, Capabilities::REVOKE)]);
    }
    needed
}

/// What one write did.
struct Done {
    /// `done`, or `already` when the target was already so.
    outcome: &'static str,
    /// The target account, group or grant written.
    target: Option<String>,
    link: LinkChange,
    after: After,
}

/// What a write left in the target, for its current view.
enum After {
    /// Nothing new.
    Unchanged,
    /// A resource, as the connector read it back; `None` once deleted.
    Resource { resource_type: String, id: String, line: Option<String> },
    /// A grant, held or revoked.
    Grant { grant: GrantRow, present: bool },
}

impl Done {
    fn resource(outcome: &'static str, link: LinkChange, resource: Resource) -> Self {
        let line = crate::records::resource(&resource).to_string();
        let (resource_type, id) = (resource.id.resource_type, resource.id.id);
        Self { outcome, target: Some(id.clone()), link, after: After::Resource { resource_type, id, line: Some(line) } }
    }

    fn grant(outcome: &'static str, grant: &Grant, present: bool) -> Self {
        let grant = GrantRow::from(grant);
        Self { outcome, target: Some(grant.id.clone()), link: LinkChange::Keep, after: After::Grant { grant, present } }
    }
}

/// Writes the log of one cycle, numbering its entries.
struct Log<'a> {
    store: &'a Store,
    lease: &'a CycleLease,
    /// The target tenant.
    target: &'a str,
    report: &'a mut CycleReport,
}

/// How an action ended, for its log entry.
enum Ended<'d> {
    /// Written (or found already so).
    Done(&'d Done),
    /// Not written: `held`, `skipped` or `failed`, and why.
    Not(&'static str, String),
}

impl Log<'_> {
    fn record(&mut self, action: &Action, ended: Ended) -> Result<()> {
        let (outcome, target, detail, done) = match ended {
            Ended::Done(done) => (done.outcome, done.target.clone(), None, Some(done)),
            Ended::Not(outcome, why) => (outcome, None, Some(why), None),
        };
        let entry = LogEntry {
            flow: self.lease.flow.clone(),
            cycle: self.lease.cycle,
            seq: self.report.entries.len() as i64 + 1,
            source_id: Some(action.source().to_string()),
            target_id: target.or_else(|| action.target()),
            action: action.name().to_string(),
            fields: action.field_names(),
            outcome: outcome.to_string(),
            detail: detail.or_else(|| match action {
                Action::Remove { why, .. } => Some(format!("the user {why}")),
                _ => None,
            }),
            at_ms: now_ms(),
        };
        let tenant = self.target;
        let written = done.and_then(|done| match &done.after {
            After::Unchanged => None,
            After::Resource { resource_type, id, line } => Some(Written::Resource { tenant, resource_type, id, line: line.as_deref() }),
            After::Grant { grant, present } => Some(Written::Grant { tenant, grant, present: *present }),
        });
        self.store.record_action(self.lease, &entry, done.map_or(&LinkChange::Keep, |done| &done.link), written.as_ref())?;
        self.report.entries.push(entry);
        Ok(())
    }
}

/// The target's resource types a cycle writes.
struct Types {
    account: String,
    /// Empty without group push.
    group: String,
}

/// The component call an action makes.
fn call_of(action: &Action) -> &'static str {
    match action {
        Action::Create { group: false, .. } => "create-account",
        Action::Create { group: true, .. } => "create-resource",
        Action::Adopt { .. } | Action::Update { .. } | Action::Remove { removal: Removal::Disable { .. }, .. } => "update-resource",
        Action::Remove { removal: Removal::Delete, .. } => "delete-resource",
        Action::AddMember { .. } => "grant",
        Action::RemoveMember { .. } => "revoke",
        Action::Skip { .. } => "none",
    }
}

/// A write's call on an instance, which comes back with what it did.
type Attempt = Pin<Box<dyn Future<Output = (Result<Done, CallError>, Instance)> + Send>>;

/// Makes one action's write on instance `i` (`OpenSession::call_each` tries it again as a sync's calls are).
fn attempt(mut i: Instance, action: &Action, types: &Types) -> Attempt {
    let group = matches!(action, Action::Create { group: true, .. } | Action::Adopt { group: true, .. } | Action::Update { group: true, .. });
    let (kind, resource_type) = if group { (LinkKind::Group, types.group.clone()) } else { (LinkKind::User, types.account.clone()) };
    let id = |id: &str| ResourceId { resource_type: resource_type.clone(), id: id.to_string() };
    match action.clone() {
        Action::Create { fields, group, .. } => Box::pin(async move {
            let created = if group { i.create_resource(&resource_type, &fields).await } else { i.create_account(&resource_type, &fields).await };
            let done = created.map(|created| {
                let (outcome, resource) = match created {
                    CreateOutcome::Created(r) => ("done", r),
                    CreateOutcome::AlreadyExists(r) => ("already", r),
                };
                let link = LinkChange::Link(kind, resource.id.id.clone());
                Done::resource(outcome, link, resource)
            });
            (done, i)
        }),
        Action::Adopt { target, fields, .. } if fields.is_empty() => {
            Box::pin(async move { (Ok(Done { outcome: "done", target: Some(target.clone()), link: LinkChange::Link(kind, target), after: After::Unchanged }), i) })
        }
        Action::Adopt { target, fields, .. } => {
            let account = id(&target);
            Box::pin(async move { (i.update_resource(&account, &fields).await.map(|r| Done::resource("done", LinkChange::Link(kind, target), r)), i) })
        }
        Action::Update { target, fields, .. } => {
            let account = id(&target);
            Box::pin(async move { (i.update_resource(&account, &fields).await.map(|r| Done::resource("done", LinkChange::Keep, r)), i) })
        }
        Action::Remove { target, removal: Removal::Disable { field, value }, .. } => {
            let account = id(&target);
            Box::pin(async move { (i.update_resource(&account, &[(field, value)]).await.map(|r| Done::resource("done", LinkChange::Keep, r)), i) })
        }
        Action::Remove { target, removal: Removal::Delete, .. } => {
            let account = id(&target);
            Box::pin(async move {
                let deleted = i.delete_resource(&account).await.map(|deleted| {
                    let outcome = match deleted {
                        DeleteOutcome::Deleted => "done",
                        DeleteOutcome::DidNotExist => "already",
                    };
                    let after = After::Resource { resource_type: account.resource_type.clone(), id: target.clone(), line: None };
                    Done { outcome, target: Some(target), link: LinkChange::Unlink(LinkKind::User), after }
                });
                (deleted, i)
            })
        }
        Action::AddMember { entitlement, account, .. } => Box::pin(async move {
            let granted = i.grant(&account, &entitlement).await.map(|granted| match granted {
                GrantOutcome::Granted(g) => Done::grant("done", &g, true),
                GrantOutcome::AlreadyExists(g) => Done::grant("already", &g, true),
            });
            (granted, i)
        }),
        Action::RemoveMember { entitlement, account, .. } => Box::pin(async move {
            let grant = Grant::new(&entitlement, account);
            let revoked = i.revoke(&grant).await.map(|revoked| match revoked {
                RevokeOutcome::Revoked => Done::grant("done", &grant, false),
                RevokeOutcome::AlreadyRevoked => Done::grant("already", &grant, false),
            });
            (revoked, i)
        }),
        Action::Skip { .. } => Box::pin(async move { (Err(CallError::Refused("a skip writes nothing".into())), i) }),
    }
}
