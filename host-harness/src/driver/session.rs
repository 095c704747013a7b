//! A tenant's session: its component instances opened with the tenant's config, and one sync run over them,
//! from its lease to its report, or to the failure recorded with its redacted error.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};

use super::{NoProgress, Progress};
use super::checkpoint::Start;
use super::retry::Calls;
use super::run::{Run, check_repeats};
use super::schedule::{FollowUps, on_instances};
use crate::contract::model::Metadata;
use crate::egress::{EgressCounts, EgressPolicy};
use crate::failure::{Failure, FailureKind};
use crate::guest_log::{GuestLog, GuestOutput};
use crate::interrupt::Interrupted;
use crate::options::SyncOptions;
use crate::runtime::{CallError, Instance, LoadedComponent, Runtime};
use crate::secrets::Redactor;
use crate::store::{Dangling, Lease, Store, SyncCounts, SyncId};
use crate::tenant::ResolvedTenant;

/// What a complete sync did.
#[derive(Debug, Clone)]
pub struct SyncReport {
    /// The sync, now the one readers see.
    pub sync_id: SyncId,
    /// What it stored.
    pub counts: SyncCounts,
    /// Grants naming what the sync does not hold.
    pub dangling: Dangling,
    /// Its traffic.
    pub egress: EgressCounts,
    /// Calls and requests tried again.
    pub retries: u64,
    /// Wall time, from the session's opening.
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
    /// Why, redacted.
    pub error: anyhow::Error,
    /// What the component printed meanwhile.
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
        Self::open_many(runtime, component, tenant, options, false).await
    }

    /// `options.concurrency` instances, for a sync or (`provisioning`) for writes made several at once
    /// (`call_each`).
    pub async fn open_many(runtime: &Runtime, component: &LoadedComponent, tenant: &ResolvedTenant, options: &SyncOptions, provisioning: bool) -> Result<Self, OpenError> {
        let mut session = Self::open(runtime, component, tenant, options, provisioning).await?;
        for _ in 1..options.concurrency {
            let opened = match runtime.instantiate_sibling(component, &session.instances[0], &options.sandbox).await {
                Ok(mut sibling) => sibling.open(&tenant.guest_config, tenant.granter(provisioning)).await.map(|()| sibling).map_err(anyhow::Error::from),
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

    /// Makes a call for each item of `queue` (`attempt` makes it on an instance) on the session's instances, as
    /// many at once as the throttle's window allows, each tried again as a sync's calls are. `finished` takes
    /// each item and its outcome in the order they end — `None` for an item not called because `halt()` said
    /// so, or because an instance was left unusable (a trap, a timeout, a broken rule), whose reason this
    /// returns. Calls already made always end and reach `finished`.
    pub async fn call_each<W, T, A>(
        &mut self,
        queue: Vec<W>,
        call: impl Fn(&W) -> &'static str,
        attempt: impl Fn(Instance, &W) -> A,
        halt: impl Fn() -> bool,
        mut finished: impl AsyncFnMut(W, Option<Result<T>>) -> Result<()>,
    ) -> Result<Option<String>>
    where
        T: Send + 'static,
        A: Future<Output = (Result<T, CallError>, Instance)> + Send + 'static,
    {
        let throttle = self.policy.throttle.clone();
        let calls = Calls { throttle: &throttle, progress: &NoProgress, in_calls: Mutex::default() };
        let broken: Mutex<Option<String>> = Mutex::default();
        let is_broken = || broken.lock().unwrap_or_else(|e| e.into_inner()).is_some();
        let (policy, redactor) = (self.policy.clone(), self.redactor.clone());
        let start = |instance: Instance, item: W| {
            let skip = halt() || is_broken();
            let (calls, attempt, call, broken, policy, redactor) = (&calls, &attempt, &call, &broken, &policy, &redactor);
            async move {
                if skip {
                    return (instance, item, None);
                }
                let (instance, outcome) = calls.call(instance, call(&item), |i| attempt(i, &item)).await;
                if !instance.usable() {
                    let mut broken = broken.lock().unwrap_or_else(|e| e.into_inner());
                    broken.get_or_insert_with(|| outcome.as_ref().err().map_or_else(|| "the component instance is unusable".into(), |e| format!("{e:#}")));
                }
                (instance, item, Some(outcome.map_err(|e| explain(policy, redactor, e))))
            }
        };
        on_instances(&mut self.instances, || throttle.window(), queue, start, async |item, outcome| {
            finished(item, outcome).await?;
            Ok(FollowUps::none())
        })
        .await?;
        self.instances.retain(Instance::usable);
        Ok(broken.into_inner().unwrap_or_else(|e| e.into_inner()))
    }

    /// An error from this session as the user should read it.
    pub fn explain(&self, e: anyhow::Error) -> anyhow::Error {
        explain(&self.policy, &self.redactor, e)
    }

    /// What the component printed since the last call of this (see `GuestLog`).
    pub fn take_log(&self) -> GuestOutput {
        self.log.take()
    }

    /// The session's traffic so far.
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
        tracing::info!(tenant = %self.tenant, sync_id, resumed = resume.is_some(), "sync started");
        progress.started(&self.policy.stats);
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

/// An error as the user should read it: redacted, and with the host's own reason when authentication failed
/// (the guest only knows its request was refused or could not be sent, and names its own request): refused
/// credentials need attention; a token endpoint that cannot be reached or answers 5xx is the source being
/// unavailable, which passes.
pub fn explain(policy: &EgressPolicy, redactor: &Redactor, e: anyhow::Error) -> anyhow::Error {
    let message = format!("{e:#}");
    // Why the host stopped the tenant says more than what the token request made of it.
    let auth_failure = policy.auth.last_failure().filter(|_| policy.stopped().is_none());
    match auth_failure {
        Some((reason, kind)) => {
            // The driver's note on its retries still holds.
            let retries = message.rfind(" (gave up after ").map_or("", |at| &message[at..]);
            let what = match kind {
                FailureKind::NeedsAttention => "authentication failed",
                FailureKind::Transient => "source unavailable",
            };
            Failure::error(kind, format!("{what}: {reason}{retries}"))
        }
        None => Failure::error(FailureKind::of(&e), redactor.redact(&message)),
    }
}
