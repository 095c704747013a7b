//! `connector-harness serve`: keeps every tenant of a tenants file fresh, and runs its provisioning flows
//! (`flow_job.rs`) on their intervals. The scheduler claims due tenants (and flows) from
//! the store's schedule (`store/schedule.rs`) while it has a free slot, runs each sync on a thread of its own
//! with a heartbeat keeping its lease, and records how it ended: the next run an interval away (with jitter),
//! or backing off after a failure. A sync interrupted by a crash or a drain is resumed from its checkpoint by
//! whoever claims the tenant next. Probes, metrics and a status page are served over HTTP (`http.rs`). The
//! tenants file is read again on SIGHUP and when it or a file it names changes (`configuration.rs`).
//!
//! On SIGTERM or SIGINT the replica stops claiming and turns not-ready, lets running syncs finish for up to
//! the drain timeout, then stops them at their next page, hands their tenants back for an immediate resume,
//! and exits 0. A second signal exits at once.

mod configuration;
mod flow_job;
pub mod http;
mod metrics;
mod page;
pub mod policy;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::display::one_line;
use crate::driver::{Resumable, Start, SyncReport};
use crate::failure::{Failure, FailureKind};
use crate::egress::EgressCounts;
use crate::fleet::{Components, SyncTrace, sync_tenant};
use crate::gateway::Gateway;
use crate::interrupt::{Interrupt, Interrupted, Signal};
use crate::options::SyncOptions;
use crate::runtime::{LoadedComponent, Runtime};
use crate::secrets::Redactor;
use crate::store::{Claim, FLOW_JOB, RunRecord, Store, StoreLocation, SyncId, TenantLease, TenantState, hostname};
use crate::tenant::ResolvedTenant;
use configuration::{Configuration, WatchedFiles};

pub use page::{lease_text, next_run_text, relative_time};
pub use policy::Policy;

/// How the service runs; every field has a flag (`cli/serve.rs`).
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The tenants file it serves.
    pub tenants_file: PathBuf,
    /// The store, shared by every replica.
    pub store: StoreLocation,
    /// The port of the probes, metrics and status page.
    pub listen: SocketAddr,
    /// The SCIM gateway's port, for the tenants that enable it (`gateway/`).
    pub scim_listen: Option<SocketAddr>,
    /// Syncs at once on this replica.
    pub parallel: usize,
    /// This replica's name in leases and logs (the pod's name on Kubernetes).
    pub replica: String,
    /// Intervals, jitter and backoff.
    pub policy: Policy,
    /// How long a claimed tenant stays this replica's without a heartbeat.
    pub lease_ttl: Duration,
    /// How often an idle replica looks for due tenants.
    pub poll: Duration,
    /// How long running syncs get to finish on SIGTERM.
    pub drain_timeout: Duration,
    /// An unfinished sync older than this is started over rather than resumed.
    pub max_resume_age: Duration,
    /// The limits of every sync, under each tenant's own.
    pub options: SyncOptions,
    /// Where compiled components are cached.
    pub cache_dir: Option<PathBuf>,
}

impl ServiceConfig {
    /// This replica's name when none is given: the host name.
    pub fn default_replica() -> String {
        hostname()
    }
}

/// What the scheduler and its syncs share.
struct Shared {
    config: ServiceConfig,
    /// This process's lease owner: the replica's name, the pid and a nonce (`store::owner_is_gone` reads it).
    owner: String,
    runtime: Arc<Runtime>,
    /// The tenants file as last read: replaced whole by a reload.
    configuration: RwLock<Arc<Configuration>>,
    /// The SCIM gateway, when `--scim-listen` serves one; its tenants follow reloads.
    gateway: Option<Arc<Gateway>>,
    redactor: Redactor,
    observed: Arc<Observed>,
}

impl Shared {
    fn configuration(&self) -> Arc<Configuration> {
        self.configuration.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// What the HTTP endpoints read: the probes' state, the metrics, and the store for the status page.
struct Observed {
    store: StoreLocation,
    replica: String,
    poll: Duration,
    metrics: metrics::Metrics,
    loaded: AtomicBool,
    draining: AtomicBool,
    last_tick: Mutex<Instant>,
    store_probe: http::StoreProbe,
}

impl Observed {
    fn tick(&self) {
        *self.last_tick.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    fn since_tick(&self) -> Duration {
        self.last_tick.lock().unwrap_or_else(|e| e.into_inner()).elapsed()
    }
}

/// Runs the service until a signal has been handled, then returns (for exit code 0).
pub async fn serve(config: ServiceConfig, redactor: &Redactor, shutdown: &Interrupt) -> Result<()> {
    raise_open_file_limit();
    let mut configuration = Configuration::read(&config.tenants_file, &config.policy, redactor)?;
    let watched = WatchedFiles::new(&config.tenants_file);
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    // The ports first: a replica that cannot listen has touched nothing.
    let listener = tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
    let scim_listener = match config.scim_listen {
        Some(address) => Some(tokio::net::TcpListener::bind(address).await.with_context(|| format!("cannot listen on {address} (--scim-listen)"))?),
        None => None,
    };
    let mut store = Store::open(&config.store)?;
    if let StoreLocation::Sqlite(path) = &config.store {
        for (owner, heard_ms) in store.replicas_heard(config.lease_ttl)?.iter().filter(|(owner, _)| !crate::store::owner_is_gone(owner)) {
            tracing::warn!(
                "store {} is SQLite, which serves one replica, and replica `{owner}` was heard from {:.0} s ago: if it still runs, stop one of them (several replicas share a PostgreSQL store)",
                path.display(),
                *heard_ms as f64 / 1000.0
            );
        }
    }
    let owner = format!("{}:{}:{:016x}", config.replica, std::process::id(), rand::random::<u64>());
    register(&mut store, &owner, &config, &configuration)?;
    log_next_runs(&store, configuration.intervals.keys())?;
    let observed = Arc::new(Observed {
        store: config.store.clone(),
        replica: config.replica.clone(),
        poll: config.poll,
        metrics: metrics::Metrics::new(),
        loaded: AtomicBool::new(false),
        draining: AtomicBool::new(false),
        last_tick: Mutex::new(Instant::now()),
        store_probe: http::StoreProbe::new(config.store.clone()),
    });
    warn_of_unserved_scim(&configuration, scim_listener.is_some());
    let (stop_http, http_stopped) = watch::channel(false);
    tracing::info!(listen = %listener.local_addr()?, tenants = configuration.specs.len(), flows = configuration.flows.len(), replica = %config.replica, "serving");
    let server = tokio::spawn(http::serve(listener, observed.clone(), http_stopped.clone()));

    // Components compile while the probes already answer (not ready yet).
    let runtime = Arc::new(Runtime::with_pool(config.cache_dir.clone(), (config.parallel * config.options.concurrency) as u32 + 2)?);
    configuration.load_components(&runtime, &Components::default()).await;
    let gateway = scim_listener.map(|listener| {
        let tenants = Gateway::tenants_of(&configuration.scim_tenants(), &configuration.components, &config, redactor);
        tracing::info!(listen = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), tenants = tenants.len(), "serving SCIM");
        let gateway = Arc::new(Gateway::new(tenants, runtime.clone(), config.store.clone()));
        (gateway.clone(), tokio::spawn(crate::gateway::serve(listener, gateway, http_stopped)))
    });
    observed.loaded.store(true, Ordering::SeqCst);
    let (gateway, gateway_server) = gateway.unzip();
    let configuration = RwLock::new(Arc::new(configuration));
    let shared = Arc::new(Shared { config, owner, runtime, configuration, gateway, redactor: redactor.clone(), observed });

    let store = Reconnecting { location: shared.config.store.clone(), store: Some(store) };
    let scheduler = Scheduler { shared, store, running: JoinSet::new(), cancels: HashMap::new(), watched, hangup, reload: None };
    let result = scheduler.run(shutdown).await;
    let _ = stop_http.send(true);
    let _ = server.await;
    if let Some(gateway) = gateway_server {
        let _ = gateway.await;
    }
    result
}

/// Puts `configuration`'s tenants and flows into the schedule as this replica's.
fn register(store: &mut Store, owner: &str, config: &ServiceConfig, configuration: &Configuration) -> Result<()> {
    let mut rng = rand::rng();
    store.register_tenants(owner, &configuration.schedule_keys(), config.lease_ttl, |interval| config.policy.first_run(interval, &mut rng))
}

/// Logs when each of `keys` (schedule keys) runs next.
fn log_next_runs<'k>(store: &Store, keys: impl IntoIterator<Item = &'k String>) -> Result<()> {
    let keys: std::collections::HashSet<&String> = keys.into_iter().collect();
    let now = store.clock_ms()?;
    for row in store.schedule()?.iter().filter(|row| keys.contains(&row.tenant)) {
        tracing::info!(tenant = %row.tenant, state = %row.state, next_run = %crate::display::clock_time(row.next_run_ms), "next run {}", relative_time(row.next_run_ms, now));
    }
    Ok(())
}

/// Says so when tenants set `scim` but the gateway is not served, or the other way round.
fn warn_of_unserved_scim(configuration: &Configuration, listening: bool) {
    let scim_tenants = configuration.scim_tenants();
    if listening && scim_tenants.is_empty() {
        tracing::warn!("--scim-listen is set, but no tenant sets `scim = {{ token = … }}`: the gateway serves none");
    }
    if !listening {
        for spec in &scim_tenants {
            tracing::warn!(tenant = %spec.name, "the tenant sets `scim`, but serve has no --scim-listen: its SCIM gateway is not served");
        }
    }
}

/// The claim loop: claims due tenants while a slot is free, reaps syncs as they end, and drains on a signal.
struct Scheduler {
    shared: Arc<Shared>,
    /// The scheduler's connection, reopened after a failure (a database restart ends every connection).
    store: Reconnecting,
    running: JoinSet<String>,
    /// How to stop each running tenant's sync, by tenant.
    cancels: HashMap<String, Arc<watch::Sender<Option<Signal>>>>,
    /// The tenants file and the files it names, compared at every poll.
    watched: WatchedFiles,
    hangup: tokio::signal::unix::Signal,
    /// Why the tenants file is to be read again, until it has been.
    reload: Option<&'static str>,
}

impl Scheduler {
    async fn run(mut self, shutdown: &Interrupt) -> Result<()> {
        let observed = self.shared.observed.clone();
        while shutdown.signalled().is_none() {
            observed.tick();
            if self.watched.changed() {
                self.reload = self.reload.or(Some("a file changed"));
            }
            if let Some(reason) = self.reload {
                self.reload = (!self.reload_now(reason).await).then_some(reason);
            }
            self.keep_serving();
            self.claim_while_free();
            match self.store.with(|store| store.schedule()) {
                Ok(rows) => observed.metrics.observe_schedule(&rows),
                Err(e) => tracing::warn!("cannot read the schedule: {}", one_line(&format!("{e:#}"))),
            }
            let poll = self.shared.config.poll.mul_f64(rand::random_range(0.8..1.2));
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                Some(ended) = self.running.join_next(), if !self.running.is_empty() => self.reap(ended),
                Some(()) = self.hangup.recv() => self.reload = Some("SIGHUP"),
                _ = shutdown.wait() => {}
            }
        }
        self.drain().await;
        if let Err(e) = self.store.with(|store| store.stop_serving(&self.shared.owner)) {
            tracing::warn!("cannot say this replica stopped serving (the others will, once it is silent): {}", one_line(&format!("{e:#}")));
        }
        Ok(())
    }

    /// Says this replica is alive and serves its tenants (registering them again if it had been forgotten).
    fn keep_serving(&mut self) {
        let (owner, ttl) = (&self.shared.owner, self.shared.config.lease_ttl);
        let kept = self.store.with(|store| {
            if store.keep_serving(owner, ttl)? {
                return Ok(());
            }
            tracing::info!("this replica had been silent past its lease time; its tenants are registered again");
            register(store, owner, &self.shared.config, &self.shared.configuration())
        });
        if let Err(e) = kept {
            tracing::warn!("cannot say this replica is alive: {}", one_line(&format!("{e:#}")));
        }
    }

    fn claim_while_free(&mut self) {
        let metrics = &self.shared.observed.metrics;
        while self.running.len() < self.shared.config.parallel {
            let claimed = self.store.with(|store| store.claim_due(&self.shared.owner, self.shared.config.lease_ttl));
            let claim = match claimed {
                Ok(Some(claim)) => claim,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("cannot claim a tenant: {}", one_line(&format!("{e:#}")));
                    break;
                }
            };
            if claim.taken_over {
                metrics.takeovers.inc();
                tracing::warn!(tenant = %claim.lease.tenant, epoch = claim.lease.epoch, "took the tenant over from a replica whose lease expired");
            }
            let (cancel, interrupt) = Interrupt::manual();
            let cancel = Arc::new(cancel);
            self.cancels.insert(claim.lease.tenant.clone(), cancel.clone());
            let (shared, configuration, handle) = (self.shared.clone(), self.shared.configuration(), tokio::runtime::Handle::current());
            // Each sync drives its guests on a thread of its own, as `fleet.rs` does.
            self.running.spawn_blocking(move || {
                let tenant = claim.lease.tenant.clone();
                handle.block_on(run_claim(&shared, &configuration, claim, interrupt, cancel));
                tenant
            });
        }
        self.count_running();
    }

    /// Reads the tenants file again and serves what it says from now on: an added tenant is scheduled, a removed
    /// one no longer claimed here (a run of it under way finishes), a changed one runs as it now reads from its
    /// next run. False when the schedule could not be told, to be tried again at the next poll.
    async fn reload_now(&mut self, reason: &str) -> bool {
        let shared = self.shared.clone();
        let current = shared.configuration();
        let mut next = match Configuration::read(&shared.config.tenants_file, &shared.config.policy, &shared.redactor) {
            Ok(next) => next,
            Err(e) => {
                let why = one_line(&shared.redactor.redact(&format!("{e:#}")));
                tracing::error!(reason, "the tenants file is not reloaded, the running configuration is kept: {why}");
                return true;
            }
        };
        // A new component may take a while to compile: the loop is alive meanwhile (running syncs go on), so it
        // keeps ticking for the liveness probe.
        {
            let loading = next.load_components(&shared.runtime, &current.components);
            tokio::pin!(loading);
            loop {
                tokio::select! {
                    () = &mut loading => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => shared.observed.tick(),
                }
            }
        }
        if let Err(e) = self.store.with(|store| register(store, &shared.owner, &shared.config, &next)) {
            tracing::warn!(reason, "cannot put the reloaded tenants file into the schedule; trying again at the next poll: {}", one_line(&format!("{e:#}")));
            return false;
        }
        if let Some(gateway) = &shared.gateway {
            gateway.replace_tenants(Gateway::tenants_of(&next.scim_tenants(), &next.components, &shared.config, &shared.redactor));
        }
        warn_of_unserved_scim(&next, shared.gateway.is_some());
        let changes = next.changes_since(&current);
        *shared.configuration.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        tracing::info!(reason, added = changes.added.len(), removed = changes.removed.len(), changed = changes.changed.len(), "reloaded the tenants file: {changes}");
        if let Err(e) = self.store.with(|store| log_next_runs(store, &changes.added)) {
            tracing::warn!("cannot read the schedule: {}", one_line(&format!("{e:#}")));
        }
        true
    }

    fn reap(&mut self, ended: Result<String, tokio::task::JoinError>) {
        match ended {
            Ok(tenant) => {
                self.cancels.remove(&tenant);
            }
            Err(e) => tracing::error!("a sync's task failed: {e}"),
        }
        self.count_running();
    }

    /// Each running sync holds its tenant's lease.
    fn count_running(&self) {
        let metrics = &self.shared.observed.metrics;
        metrics.in_progress.set(self.running.len() as i64);
        metrics.leases_held.set(self.running.len() as i64);
    }

    /// Stops claiming and turns not-ready; running syncs get the drain timeout to finish, then are stopped at
    /// their next page and their tenants handed back.
    async fn drain(&mut self) {
        self.shared.observed.draining.store(true, Ordering::SeqCst);
        let timeout = self.shared.config.drain_timeout;
        tracing::info!(running = self.running.len(), "draining: no new syncs; running ones have {} s to finish", timeout.as_secs_f64());
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut stopped = false;
        loop {
            tokio::select! {
                ended = self.running.join_next() => match ended {
                    Some(ended) => self.reap(ended),
                    None => break,
                },
                () = &mut deadline, if !stopped => {
                    tracing::info!(running = self.running.len(), "drain timeout: stopping the running syncs and handing their tenants back");
                    for cancel in self.cancels.values() {
                        cancel.send_replace(Some(Signal::Terminate));
                    }
                    stopped = true;
                }
            }
        }
        tracing::info!("drained");
    }
}

/// How a claimed run ends for the schedule.
enum Ending {
    /// Synced or failed: recorded, with the next run, and the sync's traffic (none for a flow's cycle).
    Recorded { record: RunRecord, egress: EgressCounts },
    /// Stopped by the drain: the tenant is handed back, its sync left to resume.
    HandedBack { sync: Option<SyncId> },
    /// Another replica holds the tenant now: nothing is written.
    LeaseLost,
}

/// Runs one claimed tenant's sync under its lease, and records how it ended.
async fn run_claim(shared: &Shared, configuration: &Configuration, claim: Claim, interrupt: Interrupt, cancel: Arc<watch::Sender<Option<Signal>>>) {
    let Claim { lease, failures, .. } = claim;
    let (config, metrics, tenant) = (&shared.config, &shared.observed.metrics, lease.tenant.as_str());
    let started = Instant::now();
    let lost = Arc::new(AtomicBool::new(false));
    let live = Arc::new(metrics::LiveProgress::default());
    let heartbeat = tokio::spawn(keep_lease(config.store.clone(), lease.clone(), config.lease_ttl, cancel, lost.clone(), live.clone()));
    let flow = tenant.strip_prefix(FLOW_JOB);
    let ending = match flow {
        Some(flow) => flow_job::run(shared, configuration, flow, failures, interrupt).await,
        None => {
            let mut trace = SyncTrace::default();
            let outcome = sync_claimed(shared, configuration, tenant, interrupt, &mut trace, &live).await;
            ending(shared, configuration, tenant, failures, outcome, trace.egress)
        }
    };
    heartbeat.abort();
    let seconds = started.elapsed().as_secs_f64();
    let ending = if lost.load(Ordering::SeqCst) { Ending::LeaseLost } else { ending };
    // A flow's cycle counts itself (`flow_job.rs`).
    let sync_ended = |outcome: &str, egress: EgressCounts, failure: Option<&str>| {
        if flow.is_none() {
            metrics.sync_ended(tenant, outcome, seconds, &egress, failure);
        }
    };
    let written = match ending {
        Ending::LeaseLost => {
            metrics.lease_lost.inc();
            sync_ended("lease-lost", EgressCounts::default(), None);
            tracing::warn!(tenant, epoch = lease.epoch, "lost the tenant's lease; this replica stopped writing to its sync");
            return;
        }
        Ending::HandedBack { sync } => {
            sync_ended("interrupted", EgressCounts::default(), None);
            tracing::info!(tenant, sync_id = sync, "handing the tenant back; its sync resumes from its checkpoint");
            Store::open(&config.store).and_then(|mut store| store.release(&lease, sync))
        }
        Ending::Recorded { record, egress } => {
            let failure = (record.outcome == "failed").then(|| if record.state == TenantState::NeedsAttention { "needs-attention" } else { "transient" });
            sync_ended(record.outcome, egress, failure);
            Store::open(&config.store).and_then(|mut store| {
                let changes = record.sync_id.and_then(|sync| changes_of(&store, tenant, sync));
                store.finish_run(&lease, &RunRecord { requests: egress.requests, changes, ..record })
            })
        }
    };
    match written {
        Ok(true) => {}
        Ok(false) => {
            metrics.lease_lost.inc();
            tracing::warn!(tenant, "the tenant's lease was taken over before its run could be recorded");
        }
        Err(e) => tracing::error!(tenant, "cannot record the run: {}", one_line(&format!("{e:#}"))),
    }
}

/// What the schedule records of a sync's outcome: the next run an interval away after a good sync, after a
/// failure a backoff by its kind and the failures in a row.
fn ending(shared: &Shared, configuration: &Configuration, tenant: &str, failures: i64, outcome: Result<SyncReport>, egress: EgressCounts) -> Ending {
    let (policy, metrics) = (&shared.config.policy, &shared.observed.metrics);
    let interval = configuration.intervals.get(tenant).copied().unwrap_or(policy.interval);
    let mut rng = rand::rng();
    match outcome {
        Ok(report) => {
            metrics.records_stored(tenant, &report.counts);
            let counts = report.counts.to_string();
            let (counts_by_type, egress) = (report.counts.by_type(), &report.egress);
            tracing::info!(
                tenant, sync_id = report.sync_id, seconds = report.elapsed.as_secs_f64(), requests = egress.requests, bytes = egress.bytes_received,
                resources = report.counts.resources_total(), entitlements = report.counts.entitlements, grants = report.counts.grants, by_type = %counts_by_type,
                "synced"
            );
            let next_in = policy.after_success(interval, &mut rng);
            let record = RunRecord {
                state: TenantState::Waiting, outcome: "synced", next_in, failures: 0, error: None, sync_id: Some(report.sync_id), counts: Some(counts),
                records: Some(report.counts.records()), requests: 0, changes: None,
            };
            Ending::Recorded { record, egress: report.egress }
        }
        Err(e) => match e.downcast_ref::<Interrupted>() {
            Some(interrupted) => Ending::HandedBack { sync: interrupted.sync },
            None => {
                let kind = FailureKind::of(&e);
                let error = one_line(&shared.redactor.redact(&format!("{e:#}")));
                let record = failed_run(policy, kind, failures, interval, error);
                tracing::warn!(tenant, failures = record.failures, kind = kind.name(), retry_in_secs = record.next_in.as_secs(), requests = egress.requests, "sync failed: {}", record.error.as_deref().unwrap_or(""));
                Ending::Recorded { record, egress }
            }
        },
    }
}

/// How the schedule records a failed run (a sync's or a flow cycle's): backing off by its kind, from the
/// failures in a row before it (`failures`) plus this one.
fn failed_run(policy: &Policy, kind: FailureKind, failures: i64, interval: Duration, error: String) -> RunRecord {
    let failures = failures + 1;
    let next_in = policy.after_failure(kind, failures as u32, interval, &mut rand::rng());
    let state = match kind {
        FailureKind::Transient => TenantState::BackingOff,
        FailureKind::NeedsAttention => TenantState::NeedsAttention,
    };
    RunRecord { state, outcome: "failed", next_in, failures, error: Some(error), sync_id: None, counts: None, records: None, requests: 0, changes: None }
}

/// What sync `sync` of `tenant` changed since the tenant's previous complete sync, for its history on the status
/// page; only a report, so a failure to count fails nothing.
fn changes_of(store: &Store, tenant: &str, sync: SyncId) -> Option<crate::store::DiffCounts> {
    store.changes_since_previous(tenant, sync).unwrap_or_else(|e| {
        tracing::warn!(tenant, "sync {sync} is complete, but what it changed could not be counted: {}", one_line(&format!("{e:#}")));
        None
    })
}

/// The tenant's sync: resumed from its checkpoint when an unfinished one can be, else fresh.
async fn sync_claimed(shared: &Shared, configuration: &Configuration, tenant: &str, interrupt: Interrupt, trace: &mut SyncTrace, live: &metrics::LiveProgress) -> Result<SyncReport> {
    let spec = match configuration.specs.get(tenant) {
        Some(Ok(spec)) => spec.clone(),
        Some(Err(e)) => return Err(Failure::error(FailureKind::NeedsAttention, e.clone())),
        None => return Err(anyhow!("tenant `{tenant}` is not in this replica's tenants file")),
    };
    let prepared = configuration.components.of(&spec).map_err(|e| Failure::error(FailureKind::NeedsAttention, format!("{e:#}")))?;
    let options = SyncOptions { interrupt, ..shared.config.options.clone() };
    let redactor = shared.redactor.child();
    let max_age = shared.config.max_resume_age;
    let open = || Ok(Store::open(&shared.config.store)?.for_service());
    let progress = metrics::SyncProgress::new(&shared.observed.metrics, tenant, live);
    let result =
        sync_tenant(&shared.runtime, &prepared, spec, &options, open, &redactor, &progress, trace, |store, resolved, loaded| resume_point(store, resolved, loaded, max_age)).await;
    for line in trace.log.drain(..) {
        tracing::info!(tenant, "{line}");
    }
    result
}

/// Where a claimed tenant's sync starts: its newest unfinished sync when the same component made it from the
/// same source within `max_age`, its checkpoint reads, and no operator's `sync` is running it; otherwise afresh
/// (the old one is pruned after the next complete sync).
fn resume_point(store: &Store, tenant: &ResolvedTenant, component: &LoadedComponent, max_age: Duration) -> Result<Start> {
    let Resumable::Ready { sync, checkpoint } = Resumable::of(store, tenant, component)? else { return Ok(Start::Fresh) };
    if store.run_by_operator(sync.id)? {
        tracing::info!(tenant = %tenant.name, "sync {} is an operator's, running now: left to it, and a new one begun", sync.id);
        return Ok(Start::Fresh);
    }
    let age = humantime::parse_rfc3339(&sync.started_at).ok().and_then(|at| at.elapsed().ok());
    if age.is_none_or(|age| age > max_age) {
        return Ok(Start::Fresh);
    }
    Ok(Start::Adopt { sync_id: sync.id, checkpoint })
}

/// Renews the lease every quarter of its TTL (at most every `PROGRESS_EVERY`, so the status page's progress is
/// fresh) on a connection of its own, recording the run's progress. When the lease is lost, or cannot be renewed
/// for as long as it lasts, the sync is stopped: another replica may already hold the tenant.
async fn keep_lease(location: StoreLocation, lease: TenantLease, ttl: Duration, cancel: Arc<watch::Sender<Option<Signal>>>, lost: Arc<AtomicBool>, live: Arc<metrics::LiveProgress>) {
    let mut store = Reconnecting { location, store: None };
    let mut renewed = Instant::now();
    loop {
        tokio::time::sleep((ttl / 4).min(PROGRESS_EVERY)).await;
        match store.with(|store| store.renew_reporting(&lease, ttl, Some(live.now()))) {
            Ok(true) => renewed = Instant::now(),
            Ok(false) => break,
            Err(e) => {
                tracing::warn!(tenant = %lease.tenant, "cannot renew the lease: {}", one_line(&format!("{e:#}")));
                if renewed.elapsed() < ttl.mul_f64(0.9) {
                    continue;
                }
                break;
            }
        }
    }
    lost.store(true, Ordering::SeqCst);
    cancel.send_replace(Some(Signal::Terminate));
}

/// How often a running sync's progress reaches the schedule, at most: the status page refreshes every 10 s.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// A store connection opened when first needed, and again after any error on it.
struct Reconnecting {
    location: StoreLocation,
    store: Option<Store>,
}

impl Reconnecting {
    fn with<T>(&mut self, f: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
        let store = match &mut self.store {
            Some(store) => store,
            None => self.store.insert(Store::open(&self.location)?),
        };
        let result = f(store);
        if result.is_err() {
            self.store = None;
        }
        result
    }
}

/// Raises the soft limit on open files to the hard one: a service holds a store connection and pooled source
/// connections per running sync, and its port's connections, and the usual soft limit of 1,024 is small for that.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read and write the struct given, which lives for the calls.
    let raised = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max && {
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0
    } };
    if raised {
        tracing::info!("open files allowed: {}", limit.rlim_cur);
    }
}
