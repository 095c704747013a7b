//! The sync driver: resource types → resources (paged) → entitlements → grants, each page stored as it
//! arrives. Retries of `rate-limited` and `unavailable` live here (the guest never sleeps), with exponential
//! backoff and jitter that honours the source's Retry-After, bounded in attempts and total wait.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use connector_sdk::page::LOOPING;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};

use crate::contract::model::*;
use crate::contract::{ConnectorError, describe};
use crate::egress::{EgressCounts, EgressPolicy};
use crate::failure::{Failure, FailureKind};
use crate::guest_log::{GuestLog, GuestOutput};
use crate::interrupt::Interrupted;
use crate::options::SyncOptions;
use crate::runtime::{CallError, Instance, LoadedComponent, Runtime};
use crate::secrets::Redactor;
use crate::store::{Dangling, Lease, PageDone, PageJob, PageWriter, Store, SyncCounts, SyncId, SyncInfo};
use crate::tenant::ResolvedTenant;
use crate::throttle::Throttle;

/// What the driver reports while it runs (a terminal progress display, a log, or nothing).
pub trait Progress: Sync {
    fn page(&self, _resource_type: &str, _stored: &SyncCounts) {}
    fn waiting(&self, _call: &str, _wait: Duration, _reason: &str) {}
}

pub struct NoProgress;
impl Progress for NoProgress {}

/// Where a sync stands, stored with every page so an interrupted sync can resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Checkpoint {
    /// The pages of the listings not stored yet: every other page of every listed type is.
    Listings { pending: Vec<PagePosition> },
    /// As written before listings ran concurrently: every listed type before `resource_type` is done, and so
    /// are its pages up to `next` (none: all). Read on resume; no longer written.
    Resources { resource_type: String, next: Option<String> },
    /// Listing is done, and of the per-resource entitlement and grant calls (in the order the driver makes
    /// them: type by type, each type's resources by id) the first `done` resources' are stored. (A checkpoint
    /// written before this field existed reads as 0: the phase is redone whole.)
    PerResource {
        #[serde(default)]
        done: usize,
    },
}

/// A checkpoint as stored with each page: where the sync stands, and the source it was reading
/// (`ResolvedTenant::source`), so that a sync is never continued from another source.
#[derive(Debug, Serialize, Deserialize)]
struct StoredCheckpoint {
    #[serde(default)]
    source: Option<String>,
    #[serde(flatten)]
    at: Checkpoint,
}

/// The text stored with a page: `at`, and the `source` the sync reads.
fn stored_checkpoint(source: &str, at: Checkpoint) -> Result<String> {
    Ok(serde_json::to_string(&StoredCheckpoint { source: Some(source.to_string()), at })?)
}

/// One page of a listing: its type, and its token (none: the first page).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PagePosition {
    pub resource_type: String,
    pub token: Option<String>,
}

/// What a tenant's newest unfinished sync offers to continue from.
pub enum Resumable {
    /// The tenant has no unfinished sync newer than its latest complete one.
    Nothing,
    /// It has one, but it cannot be continued; why.
    Refused(String),
    Ready { sync: SyncInfo, checkpoint: Option<Checkpoint> },
}

impl Resumable {
    /// The tenant's newest unfinished sync, if this same component made it from the same source (config,
    /// origins, credentials) and its checkpoint reads.
    pub fn of(store: &Store, tenant: &ResolvedTenant, component: &LoadedComponent) -> Result<Self> {
        let Some((sync, sha256, checkpoint)) = store.resumable(&tenant.name)? else { return Ok(Self::Nothing) };
        if sha256 != component.sha256 {
            return Ok(Self::Refused(format!("sync {} was made by a different component (sha256 {sha256}); run a fresh sync instead", sync.id)));
        }
        let stored = match checkpoint.map(|text| serde_json::from_str::<StoredCheckpoint>(&text)).transpose() {
            Ok(stored) => stored,
            Err(e) => return Ok(Self::Refused(format!("sync {} has an unreadable checkpoint ({e}); run a fresh sync instead", sync.id))),
        };
        Ok(match stored {
            Some(stored) if stored.source.as_deref() != Some(tenant.source.as_str()) => Self::Refused(format!(
                "sync {} was reading another source (the tenant's config, origins or credentials have changed since); run a fresh sync instead",
                sync.id
            )),
            stored => Self::Ready { sync, checkpoint: stored.map(|s| s.at) },
        })
    }
}

/// Whether a sync starts afresh or continues an interrupted one.
pub enum Start {
    Fresh,
    /// Continue a sync whose owner is gone (`Store::take_over`).
    Resume { sync_id: SyncId, checkpoint: Option<Checkpoint> },
    /// Continue a sync under the tenant's lease, whoever wrote to it before (`Store::adopt`).
    Adopt { sync_id: SyncId, checkpoint: Option<Checkpoint> },
}

#[derive(Debug, Clone)]
pub struct SyncReport {
    pub sync_id: SyncId,
    pub counts: SyncCounts,
    /// Grants naming what the sync does not hold.
    pub dangling: Dangling,
    pub egress: EgressCounts,
    pub retries: u64,
    pub elapsed: Duration,
    /// Time inside component calls (which includes the component's HTTP waits, `egress.wait`).
    pub component_time: Duration,
    /// Time writing pages to the store.
    pub store_time: Duration,
    /// The component's largest linear memory, in bytes.
    pub peak_guest_memory: usize,
}

/// A session that could not be opened, with what the component printed while it tried.
#[derive(Debug)]
pub struct OpenError {
    pub error: anyhow::Error,
    pub log: GuestOutput,
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl std::error::Error for OpenError {}

/// A component instance with its session open for one tenant: config and credentials have been accepted by
/// the component, and nothing has been written anywhere yet.
pub struct OpenSession {
    /// The tenant's instances: one, or for a sync `options.concurrency`, sharing its egress policy and log
    /// (`open_for_sync`). A sync lends each call's instance to a task of its own, so that the instances use every
    /// core, and gets it back; a sync cut short loses those that were in a call.
    instances: Vec<Instance>,
    /// What the instances print.
    log: GuestLog,
    policy: Arc<EgressPolicy>,
    redactor: Redactor,
    tenant: String,
    /// `ResolvedTenant::source`, stored with every checkpoint.
    source: String,
    started: Instant,
}

impl OpenSession {
    /// `provisioning`: whether this session is for writes (then the tenant's granted writes apply; a sync
    /// session may write nothing).
    pub async fn open(runtime: &Runtime, component: &LoadedComponent, tenant: &ResolvedTenant, options: &SyncOptions, provisioning: bool) -> Result<Self, OpenError> {
        let started = Instant::now();
        let policy = tenant.egress_policy(options);
        let mut instance = runtime.instantiate(component, policy.clone(), &options.sandbox).await.map_err(|error| OpenError { error, log: GuestOutput::default() })?;
        if let Err(e) = instance.open(&tenant.guest_config, tenant.granter(provisioning)).await {
            let error = explain(&policy, &tenant.redactor, anyhow::Error::new(e).context("cannot open the connector"));
            return Err(OpenError { error, log: instance.take_log() });
        }
        let (redactor, name, source) = (tenant.redactor.clone(), tenant.name.clone(), tenant.source.clone());
        Ok(Self { log: instance.log(), instances: vec![instance], policy, redactor, tenant: name, source, started })
    }

    /// A session for a sync: `options.concurrency` instances, so pages a component hands back as independent
    /// are fetched several at once. Instances past the first are a bonus: one that cannot be had (the runtime's
    /// pool is full) or opened leaves the sync with fewer.
    pub async fn open_for_sync(runtime: &Runtime, component: &LoadedComponent, tenant: &ResolvedTenant, options: &SyncOptions) -> Result<Self, OpenError> {
        let mut session = Self::open(runtime, component, tenant, options, false).await?;
        for _ in 1..options.concurrency {
            let opened = match runtime.instantiate_sibling(component, &session.instances[0], &options.sandbox).await {
                Ok(mut sibling) => sibling.open(&tenant.guest_config, tenant.granter(false)).await.map(|()| sibling).map_err(anyhow::Error::from),
                Err(e) => Err(e),
            };
            match opened {
                Ok(sibling) => session.instances.push(sibling),
                Err(e) => {
                    tracing::debug!("tenant {}: syncing with {} instances: {e:#}", tenant.name, session.instances.len());
                    break;
                }
            }
        }
        Ok(session)
    }

    /// The session's instance, for single calls (writes, lookups) in a session that runs no sync.
    pub fn instance(&mut self) -> &mut Instance {
        self.instances.first_mut().expect("a session that runs no sync keeps its instance")
    }

    /// An error from this session as the user should read it.
    pub fn explain(&self, e: anyhow::Error) -> anyhow::Error {
        explain(&self.policy, &self.redactor, e)
    }

    /// What the component printed since the last call of this (see `GuestLog`).
    pub fn take_log(&self) -> GuestOutput {
        self.log.take()
    }

    pub fn requests(&self) -> EgressCounts {
        self.policy.stats.snapshot()
    }

    /// Runs one full sync into `store`, or finishes an interrupted one. On failure the sync is recorded as
    /// failed (with the redacted error and its checkpoint, so it can be resumed) and the tenant's previous
    /// complete sync stays the one readers see.
    pub async fn sync(&mut self, component: &LoadedComponent, metadata: &Metadata, store: &mut Store, options: &SyncOptions, progress: &dyn Progress, start: Start) -> Result<SyncReport> {
        let (lease, resume) = match start {
            Start::Fresh => (store.begin_sync(&self.tenant, &metadata.name, &metadata.version, &component.sha256)?, None),
            Start::Resume { sync_id, checkpoint } => (store.take_over(sync_id)?, checkpoint),
            Start::Adopt { sync_id, checkpoint } => (store.adopt(sync_id)?, checkpoint),
        };
        let sync_id = lease.sync;
        let writer = store.page_writer(&lease)?;
        let throttle = self.policy.throttle.clone();
        let calls = Calls { throttle: &throttle, progress, in_calls: Mutex::default() };
        let mut run = Run { instances: &mut self.instances, store, writer, sync_id, source: &self.source, options, progress, calls: &calls, stored: SyncCounts::default() };
        let deadline = options.sandbox.sync_timeout;
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(deadline, run.all(metadata, resume)) => match outcome {
                Ok(outcome) => outcome,
                Err(_) => Err(anyhow!("the sync ran past its {} s deadline", deadline.as_secs_f64())),
            },
            signal = options.interrupt.wait() => Err(Interrupted { signal, sync: Some(sync_id) }.into()),
        };
        // Whatever happened, the pages already queued are committed before the sync is marked either way.
        let writer = run.writer;
        let (retries, component_time) = calls.totals();
        let written = writer.finish().await;
        let outcome = outcome.and_then(|()| {
            let (done, busy) = written?;
            check_repeats(done)?;
            Ok(busy)
        });
        match outcome {
            Ok(store_time) => {
                let egress = self.policy.stats.snapshot();
                // Said once a sync, before it is complete (`Store::dangling_grants` is the rule); only a report, so
                // a failure to count fails nothing.
                let dangling = store.dangling_grants(sync_id).unwrap_or_else(|e| {
                    tracing::warn!(tenant = %self.tenant, "sync {sync_id}: grants naming what the sync does not hold could not be counted: {e:#}");
                    Dangling::default()
                });
                if dangling.grants > 0 {
                    tracing::warn!(tenant = %self.tenant, "sync {sync_id}: {dangling}");
                }
                store.finish_sync(&lease, egress.requests, egress.bytes_received)?;
                if let Err(e) = store.prune(&self.tenant, options.keep_syncs) {
                    tracing::warn!("sync {sync_id} is complete, but older syncs could not be pruned: {e:#}");
                }
                Ok(SyncReport {
                    sync_id,
                    counts: store.counts(sync_id)?,
                    dangling,
                    egress,
                    retries,
                    elapsed: self.started.elapsed(),
                    component_time,
                    store_time,
                    peak_guest_memory: self.instances.iter().map(Instance::peak_memory).max().unwrap_or(0),
                })
            }
            Err(e) => Err(self.record_failure(store, &lease, e)),
        }
    }

    /// Records how a sync ended badly, and returns the error to report: a signal leaves the sync interrupted,
    /// anything else failed with its redacted error (both resumable). A sync another process took over is
    /// left as that process has it.
    fn record_failure(&self, store: &mut Store, lease: &Lease, e: anyhow::Error) -> anyhow::Error {
        let (e, marked) = match e.downcast_ref::<Interrupted>() {
            Some(interrupted) => {
                let marked = store.interrupt_sync(lease, &format!("interrupted by {}", interrupted.signal.name()));
                (e, marked)
            }
            None => {
                let e = explain(&self.policy, &self.redactor, e);
                let marked = store.fail_sync(lease, &format!("{e:#}"));
                (e, marked)
            }
        };
        if let Err(not_marked) = marked {
            tracing::debug!("sync {} not marked: {not_marked:#}", lease.sync);
        }
        e
    }
}

/// A page that brought no resource this sync did not already have means the source is repeating itself.
fn check_repeats(done: Vec<PageDone>) -> Result<()> {
    match done.into_iter().find(|d| d.resources > 0 && d.new_resources == 0) {
        Some(d) => bail!("{}: bad response: it repeats {} resources already listed; {LOOPING}", d.label, d.resources),
        None => Ok(()),
    }
}

/// An error as the user should read it: redacted, and with the host's own reason when authentication failed
/// (the guest only knows its request was refused or could not be sent, and names its own request).
pub fn explain(policy: &EgressPolicy, redactor: &Redactor, e: anyhow::Error) -> anyhow::Error {
    let message = format!("{e:#}");
    // Why the host stopped the tenant says more than what the token request made of it.
    let auth_failure = policy.auth.last_failure().filter(|_| policy.stopped().is_none());
    match auth_failure {
        Some(reason) => {
            // The driver's note on its retries still holds.
            let retries = message.rfind(" (gave up after ").map_or("", |at| &message[at..]);
            Failure::error(FailureKind::NeedsAttention, format!("authentication failed: {reason}{retries}"))
        }
        None => Failure::error(FailureKind::of(&e), redactor.redact(&message)),
    }
}

struct Run<'a> {
    instances: &'a mut Vec<Instance>,
    store: &'a mut Store,
    writer: PageWriter,
    sync_id: SyncId,
    source: &'a str,
    options: &'a SyncOptions,
    progress: &'a dyn Progress,
    calls: &'a Calls<'a>,
    /// What this run has stored, tallied as pages go in (for progress; the store's own count is the truth).
    stored: SyncCounts,
}

impl Run<'_> {
    async fn all(&mut self, metadata: &Metadata, resume: Option<Checkpoint>) -> Result<()> {
        let types = {
            let mut pool = Pool::<()>::lend(self.instances);
            let instance = pool.idle.pop().ok_or_else(|| anyhow!("the session has no instance left"))?;
            let (instance, types) = self.calls.call(instance, "resource-types", |mut i: Instance| async move { (i.resource_types().await, i) }).await;
            pool.idle.push(instance);
            types?
        };
        let declared: HashSet<&str> = types.iter().map(|t| t.id.as_str()).collect();
        self.store.put_resource_types(self.sync_id, &types, &metadata.capabilities)?;
        let capabilities = |id: &str| metadata.capabilities.iter().find(|c| c.resource_type == id);
        let listed: Vec<&ResourceType> = types
            .iter()
            .filter(|t| capabilities(&t.id).is_some_and(|c| c.capabilities.contains(Capability::List) && c.listed_with.is_none()))
            .collect();
        // On resume, fetch only what the checkpoint says is not stored.
        let first_pages = || listed.iter().map(|t| PagePosition { resource_type: t.id.clone(), token: None });
        let mut resources_done = 0;
        let pending: Vec<PagePosition> = match resume {
            None => first_pages().collect(),
            Some(Checkpoint::PerResource { done }) => {
                resources_done = done;
                Vec::new()
            }
            Some(Checkpoint::Listings { pending }) => {
                if let Some(unknown) = pending.iter().find(|p| !listed.iter().any(|t| t.id == p.resource_type)) {
                    bail!("cannot resume: the checkpoint is in `{}`, which the component does not list", unknown.resource_type);
                }
                pending
            }
            Some(Checkpoint::Resources { resource_type, next }) => {
                let at = listed.iter().position(|t| t.id == resource_type).ok_or_else(|| {
                    anyhow!("cannot resume: the checkpoint is in `{resource_type}`, which the component does not list")
                })?;
                let current = next.map(|token| PagePosition { resource_type, token: Some(token) });
                current.into_iter().chain(first_pages().skip(at + 1)).collect()
            }
        };
        self.listings(pending, &declared).await?;
        // Per-resource calls only for types whose pages did not carry their entitlements and grants.
        let mut calls = Vec::new();
        for resource_type in &types {
            let Some(caps) = capabilities(&resource_type.id).map(|c| c.capabilities) else { continue };
            // Whether each call left to make is for grants (else entitlements).
            let kinds: Vec<PerResource> = [(Capability::InlineEntitlements, PerResource::Entitlements), (Capability::InlineGrants, PerResource::Grants)]
                .into_iter()
                .filter(|(inline, _)| !caps.contains(*inline))
                .map(|(_, kind)| kind)
                .collect();
            if kinds.is_empty() {
                // Its pages carried everything: its ids (a million users, say) are not even read.
                continue;
            }
            check_repeats(self.writer.flush().await?)?;
            let ids = self.store.resource_ids(self.sync_id, &resource_type.id)?;
            for kind in kinds {
                calls.extend(ids.iter().map(|id| (kind, ResourceId { resource_type: resource_type.id.clone(), id: id.clone() })));
            }
        }
        self.per_resource(calls, resources_done).await
    }

    /// Fetches every page of the listings from `pending` on, several at once when the component hands back
    /// independent tokens and the session has several instances. Each page is stored as it arrives, in any
    /// order, with the positions still pending as its checkpoint.
    async fn listings(&mut self, pending: Vec<PagePosition>, declared: &HashSet<&str>) -> Result<()> {
        let calls = self.calls;
        let mut frontier: Vec<PagePosition> = pending.clone();
        let mut seen: HashSet<PagePosition> = pending.iter().cloned().collect();
        let mut queue: VecDeque<PagePosition> = pending.into();
        let mut pool = Pool::lend(self.instances);
        let mut running = FuturesUnordered::new();
        loop {
            while let Some((instance, position)) = pool.next(&mut queue, running.len(), calls.throttle.window()) {
                running.push(fetch_page(calls, instance, position));
            }
            let Some((instance, position, page)) = running.next().await else { break };
            // Home at once, so that an error below leaves it to the session; the next token takes it again.
            pool.idle.push(instance);
            let resource_type = position.resource_type.as_str();
            let page = page.map_err(|e| anyhow!("listing {resource_type}: {e:#}"))?;
            if let Some(r) = page.resources.iter().find(|r| !declared.contains(r.id.resource_type.as_str())) {
                bail!("the component listed a resource of undeclared type `{}`", r.id.resource_type);
            }
            let at = |token: &String| PagePosition { resource_type: resource_type.to_string(), token: Some(token.clone()) };
            let next = page.next_token.as_ref().map(at);
            let independent: Vec<PagePosition> = page.independent_tokens.iter().map(at).collect();
            for follow_up in next.iter().chain(&independent) {
                if !seen.insert(follow_up.clone()) {
                    let token = follow_up.token.as_deref().unwrap_or("");
                    bail!("listing {resource_type}: the component returned page token `{token}` twice; {LOOPING}");
                }
            }
            frontier.retain(|p| p != &position);
            frontier.extend(next.iter().chain(&independent).cloned());
            queue.extend(independent);
            let checkpoint = stored_checkpoint(self.source, Checkpoint::Listings { pending: frontier.clone() })?;
            tally(&mut self.stored, self.options.max_records, resource_type, page.resources.len(), page.entitlements.len(), page.grants.len())?;
            let label = format!("listing {resource_type}: {}", position.token.as_deref().map_or("the first page".to_string(), |t| format!("the page at token `{t}`")));
            let job = PageJob::new(page.resources, page.entitlements, page.grants, checkpoint, label);
            let done = self.writer.send(job).await?;
            check_repeats(done)?;
            self.progress.page(resource_type, &self.stored);
            // A next token continues on the instance that issued it (the last one home): its session may hold
            // what the next call needs (a page whose grants it hands back over several calls), so no request is
            // repeated.
            if let Some(next) = next {
                pool.park(next);
            }
        }
        Ok(())
    }

    /// Pages through each resource's entitlements or grants, for types whose listing did not carry them: the
    /// resources on all the session's instances at once, each resource's pages one after another on one
    /// instance. `resources` is in a fixed order (type by type, ids in order), and the first `done` of them are
    /// stored already (a resumed sync); each page's checkpoint counts the resources before the first one not
    /// finished, so a resume redoes only what was in flight or not begun.
    async fn per_resource(&mut self, resources: Vec<(PerResource, ResourceId)>, done: usize) -> Result<()> {
        let calls = self.calls;
        let mut queue: VecDeque<ResourceCall> =
            resources.into_iter().enumerate().skip(done).map(|(index, (kind, resource))| ResourceCall { index, kind, resource, token: None }).collect();
        let mut finished: std::collections::BTreeSet<usize> = std::collections::BTreeSet::new();
        let mut frontier = done;
        let mut pool = Pool::lend(self.instances);
        let mut running = FuturesUnordered::new();
        let mut seen: HashSet<(PerResource, ResourceId, String)> = HashSet::new();
        loop {
            while let Some((instance, call)) = pool.next(&mut queue, running.len(), calls.throttle.window()) {
                running.push(fetch_for_resource(calls, instance, call));
            }
            let Some((instance, ResourceCall { index, kind, resource, .. }, page)) = running.next().await else { break };
            pool.idle.push(instance);
            let what = kind.name();
            let (entitlements, grants, next) = page.map_err(|e| anyhow!("{what} of {}:{}: {e:#}", resource.resource_type, resource.id))?;
            tally(&mut self.stored, self.options.max_records, &resource.resource_type, 0, entitlements.len(), grants.len())?;
            if next.is_none() {
                finished.insert(index);
                while finished.remove(&frontier) {
                    frontier += 1;
                }
            }
            let checkpoint = stored_checkpoint(self.source, Checkpoint::PerResource { done: frontier })?;
            let label = format!("{what} of {}:{}", resource.resource_type, resource.id);
            let job = PageJob::new(Vec::new(), entitlements, grants, checkpoint, label);
            check_repeats(self.writer.send(job).await?)?;
            match next {
                Some(next) if !seen.insert((kind, resource.clone(), next.clone())) => {
                    bail!("{what} of {}:{}: page token `{next}` repeated", resource.resource_type, resource.id)
                }
                Some(next) => pool.park(ResourceCall { index, kind, resource, token: Some(next) }),
                None => {}
            }
        }
        Ok(())
    }
}

/// A session's instances lent to a run, for calls of kind `W`: those not in a call are `idle`, or `parked` with
/// the next call of a chain they are in (a next token goes on on the instance that issued it) until the
/// throttle's window has room. All go back to the session when the run ends, however it ends (those in a call
/// when it is cut short go with their task).
struct Pool<'s, W, I = Instance> {
    home: &'s mut Vec<I>,
    idle: Vec<I>,
    parked: VecDeque<(I, W)>,
}

impl<'s, W, I> Pool<'s, W, I> {
    fn lend(home: &'s mut Vec<I>) -> Self {
        let idle = std::mem::take(home);
        Self { home, idle, parked: VecDeque::new() }
    }

    /// Parks the instance just home with the next call of its chain.
    fn park(&mut self, call: W) {
        let instance = self.idle.pop().expect("the instance just home");
        self.parked.push_back((instance, call));
    }

    /// The next call to start, if fewer than `window` are `running`: a parked chain first (it holds an
    /// instance), else the first of `queue` on an idle instance.
    fn next(&mut self, queue: &mut VecDeque<W>, running: usize, window: usize) -> Option<(I, W)> {
        if running >= window {
            return None;
        }
        if let Some(parked) = self.parked.pop_front() {
            return Some(parked);
        }
        let call = queue.pop_front()?;
        match self.idle.pop() {
            Some(instance) => Some((instance, call)),
            None => {
                queue.push_front(call);
                None
            }
        }
    }
}

impl<W, I> Drop for Pool<'_, W, I> {
    fn drop(&mut self) {
        self.home.append(&mut self.idle);
        self.home.extend(self.parked.drain(..).map(|(instance, _)| instance));
    }
}

/// Counts a page's records against the sync's cap before they are stored.
fn tally(stored: &mut SyncCounts, max_records: u64, resource_type: &str, resources: usize, entitlements: usize, grants: usize) -> Result<()> {
    stored.add(resource_type, resources as u64, entitlements as u64, grants as u64);
    let total = stored.resources.iter().map(|(_, n)| n).sum::<u64>() + stored.entitlements + stored.grants;
    if total > max_records {
        bail!(
            "the sync passed its cap of {max_records} stored records (resources, entitlements and grants); if the source really is this large, raise the max_records limit"
        );
    }
    Ok(())
}

/// One page of a listing on one instance; the instance comes back with it, for the next page.
async fn fetch_page(calls: &Calls<'_>, instance: Instance, position: PagePosition) -> (Instance, PagePosition, Result<ResourcePage>) {
    let (instance, page) = calls
        .call(instance, "list-resources", |mut i: Instance| {
            let (resource_type, token) = (position.resource_type.clone(), position.token.clone());
            async move { (i.list_resources(&resource_type, None, token.as_deref()).await, i) }
        })
        .await;
    (instance, position, page)
}

/// The per-resource calls the driver makes for a type whose listing does not carry everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PerResource {
    Entitlements,
    Grants,
}

impl PerResource {
    fn name(self) -> &'static str {
        match self {
            Self::Entitlements => "entitlements",
            Self::Grants => "grants",
        }
    }

    /// The component call that fetches it.
    fn call_name(self) -> &'static str {
        match self {
            Self::Entitlements => "list-entitlements",
            Self::Grants => "list-grants",
        }
    }
}

/// One per-resource call: the `index`th resource's `kind` at `token`.
struct ResourceCall {
    index: usize,
    kind: PerResource,
    resource: ResourceId,
    token: Option<String>,
}

/// A page of what a call asks of its resource, as entitlements, grants and the next token; on one instance,
/// which comes back with it.
async fn fetch_for_resource(calls: &Calls<'_>, instance: Instance, call: ResourceCall) -> (Instance, ResourceCall, Result<(Vec<Entitlement>, Vec<Grant>, Option<String>)>) {
    let (instance, page) = calls
        .call(instance, call.kind.call_name(), |mut i: Instance| {
            let (kind, resource, token) = (call.kind, call.resource.clone(), call.token.clone());
            async move {
                let page = match kind {
                    PerResource::Grants => i.list_grants(&resource, token.as_deref()).await.map(|p| (p.entitlements, p.grants, p.next_token)),
                    PerResource::Entitlements => i.list_entitlements(&resource, token.as_deref()).await.map(|p| (p.entitlements, Vec::new(), p.next_token)),
                };
                (page, i)
            }
        })
        .await;
    (instance, call, page)
}

/// Calls into the component, from any of a session's instances: retries of what the connector says a retry may
/// cure, with exponential backoff and jitter that honours the source's Retry-After, bounded in attempts per
/// call and by the sync's retry budget (`Throttle`, shared with the egress's repeats of single requests).
struct Calls<'a> {
    throttle: &'a Throttle,
    progress: &'a dyn Progress,
    /// Time spent inside component calls.
    in_calls: Mutex<Duration>,
}

impl Calls<'_> {
    /// Retries made and time spent inside component calls, over the sync.
    fn totals(&self) -> (u64, Duration) {
        (self.throttle.totals().0, *self.in_calls.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Makes `call` on `instance`, each attempt on a task of its own (`attempt` builds it), so that the
    /// instances of a session run on every core; the instance comes back with the outcome.
    async fn call<T, A>(&self, mut instance: Instance, call: &str, attempt: impl Fn(Instance) -> A) -> (Instance, Result<T>)
    where
        T: Send + 'static,
        A: Future<Output = (Result<T, CallError>, Instance)> + Send + 'static,
    {
        let policy = self.throttle.policy();
        let mut attempts = 1;
        loop {
            // A source's Retry-After holds back every request in the egress (`Throttle::hold`), not here.
            let calling = Instant::now();
            let (outcome, back) = on_own_task(attempt(instance)).await;
            instance = back;
            *self.in_calls.lock().unwrap_or_else(|e| e.into_inner()) += calling.elapsed();
            let error = match outcome {
                Ok(value) => return (instance, Ok(value)),
                Err(CallError::Connector(e)) => e,
                Err(other) => return (instance, Err(other.into())),
            };
            let (limit, retry_after) = match (error.retryable(), &error) {
                (Some(retry_after), _) => (policy.max_attempts, retry_after),
                (None, ConnectorError::BadResponse(_)) if !is_loop(&error) => (policy.bad_response_attempts, None),
                (None, _) => return (instance, Err(Failure::error(FailureKind::of_connector(&error), describe(&error)))),
            };
            let kind = FailureKind::of_connector(&error);
            if attempts >= limit {
                return (instance, Err(Failure::error(kind, format!("{} (gave up after {attempts} attempts)", describe(&error)))));
            }
            let wait = policy.delay(attempts, retry_after);
            if let Err(why) = self.throttle.spend(wait) {
                return (instance, Err(Failure::error(kind, format!("{} ({why})", describe(&error)))));
            }
            if matches!(error, ConnectorError::RateLimited { .. }) {
                self.throttle.hold_for(wait);
            }
            tracing::info!("{call}: {}; attempt {} in {:.1} s", describe(&error), attempts + 1, wait.as_secs_f64());
            self.progress.waiting(call, wait, &describe(&error));
            tokio::time::sleep(wait).await;
            attempts += 1;
        }
    }
}

/// A source that sends the caller round in circles answers the same on every attempt: not worth repeating.
fn is_loop(error: &ConnectorError) -> bool {
    matches!(error, ConnectorError::BadResponse(message) if message.contains(LOOPING))
}

/// Runs `work` on a task of its own, on whichever of the runtime's threads is free. Dropped before it ends (a
/// sync cut short), it stops the task.
async fn on_own_task<R: Send + 'static>(work: impl Future<Output = R> + Send + 'static) -> R {
    match tokio_util::task::AbortOnDropHandle::new(tokio::spawn(work)).await {
        Ok(done) => done,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => panic!("the runtime stopped a component call it was running"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_that_sends_the_connector_round_in_circles_is_not_asked_again() {
        let mut links = connector_sdk::page::Links::new(10);
        links.follow("/roles?cursor=1", "GET /roles").unwrap();
        let looping = links.follow("/roles?cursor=1", "GET /roles").unwrap_err();
        assert!(is_loop(&looping), "{looping:?}");
        assert!(!is_loop(&ConnectorError::BadResponse("GET /roles: body is not valid JSON".into())), "a cut body may be asked for again");
    }

    #[test]
    fn calls_start_only_while_the_window_has_room_and_parked_chains_go_first() {
        let mut home = vec![1, 2, 3, 4];
        let mut queue: VecDeque<&str> = ["a", "b", "c"].into();
        {
            let mut pool: Pool<&str, i32> = Pool::lend(&mut home);
            assert_eq!(pool.next(&mut queue, 2, 2), None, "a full window starts nothing");
            assert_eq!(pool.next(&mut queue, 0, 2), Some((4, "a")));
            // Instance 4 comes home with a next page of its chain: parked, it goes before the queue.
            pool.idle.push(4);
            pool.park("a2");
            assert_eq!(pool.next(&mut queue, 1, 2), Some((4, "a2")));
            assert_eq!(pool.next(&mut queue, 2, 2), None);
            let waiting = pool.idle.pop().unwrap();
            pool.parked.push_back((waiting, "b2"));
            assert_eq!(pool.idle.len(), 2);
        }
        // However the run ends, every instance not in a call goes home, parked ones too.
        home.sort();
        assert_eq!(home, vec![1, 2, 3]);
        assert_eq!(queue, VecDeque::from(["b", "c"]));
    }
}
