//! Many tenants, one host (`sync --tenants FILE --parallel N`): one engine and its pooling allocator, each
//! distinct component loaded once (compiled, or read from the precompiled cache) and shared by its tenants, and
//! N tenants syncing at a time, each in a sandbox of its own with its own limits, credentials, redactor and
//! log. A tenant's failure is its own: the others run to the end.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Result, anyhow};
use tokio::task::JoinSet;

use crate::contract::model::Metadata as ConnectorMetadata;
use crate::driver::{OpenSession, Progress, Start, SyncReport};
use crate::failure::{Failure, FailureKind};
use crate::options::SyncOptions;
use crate::guest_log::GuestOutput;
use crate::runtime::{LoadedComponent, Runtime};
use crate::secrets::Redactor;
use crate::store::{Store, StoreLocation};
use crate::tenant::{ResolvedTenant, TenantSpec};

/// How one tenant's sync ended.
pub struct TenantRun {
    /// The tenant's name.
    pub name: String,
    /// The report, or the error (already redacted with the tenant's credentials).
    pub outcome: Result<SyncReport, String>,
    /// The guest's log, as prefixed and redacted lines.
    pub log: Vec<String>,
}

/// A component ready for its tenants: compiled, linked, and its metadata read.
pub struct Prepared {
    /// The tenant's component, loaded once for all its tenants.
    pub loaded: LoadedComponent,
    /// What the component declares.
    pub metadata: ConnectorMetadata,
}

/// Each distinct component of a set of tenants, loaded once; a component that could not be loaded keeps its
/// error for its own tenants alone.
#[derive(Default)]
pub struct Components(HashMap<PathBuf, Result<Arc<Prepared>, String>>);

/// Makes the progress display of one tenant's sync.
pub type ProgressFactory = Arc<dyn Fn(&str) -> Box<dyn Progress + Send> + Send + Sync>;

/// How a set of tenants is synced.
pub struct Fleet {
    /// The engine every tenant runs on.
    pub runtime: Arc<Runtime>,
    /// The store every tenant syncs into.
    pub store: StoreLocation,
    /// The limits of tenants that set none of their own.
    pub options: SyncOptions,
    /// How many tenants sync at once.
    pub parallel: usize,
    /// Makes each tenant's progress display.
    pub progress: ProgressFactory,
}

/// What every tenant's thread shares.
struct Shared {
    fleet: Fleet,
    components: Components,
}

impl Fleet {
    /// Syncs every tenant, `parallel` at a time, calling `finished` as each ends. Each tenant's redactor is a
    /// child of `redactor`, which so learns every tenant's credentials.
    pub async fn sync_all(self, tenants: Vec<(String, Result<TenantSpec>)>, redactor: &Redactor, mut finished: impl FnMut(TenantRun)) -> Result<()> {
        // The schema is created once, before tenants race to open the file. This connection stays open while
        // the tenants run: SQLite checkpoints and removes the WAL whenever its last connection closes, which
        // would otherwise happen after every tenant.
        let _held = Store::open(&self.store)?;
        let components = Components::load(&self.runtime, tenants.iter().filter_map(|(_, spec)| spec.as_ref().ok())).await;
        let parallel = self.parallel.max(1);
        let shared = Arc::new(Shared { fleet: self, components });
        let handle = tokio::runtime::Handle::current();
        let mut waiting = tenants.into_iter();
        let mut running = JoinSet::new();
        loop {
            // Once signalled, no new tenant starts; running ones stop and are marked interrupted.
            while running.len() < parallel && shared.fleet.options.interrupt.signalled().is_none() {
                let Some((name, spec)) = waiting.next() else { break };
                let (shared, handle, redactor) = (shared.clone(), handle.clone(), redactor.child());
                // Each running tenant drives its sync on a thread of its own: guests run in parallel on every
                // core, and a busy guest delays no other tenant by more than an epoch tick.
                running.spawn_blocking(move || {
                    let mut trace = SyncTrace::default();
                    let outcome = handle.block_on(shared.sync_one(spec, &redactor, &mut trace));
                    TenantRun { outcome: outcome.map_err(|e| redactor.redact(&format!("{e:#}")).replace('\n', " ")), name, log: trace.log }
                });
            }
            match running.join_next().await {
                Some(joined) => finished(joined.map_err(|e| anyhow!("a tenant's task failed: {e}"))?),
                None => return Ok(()),
            }
        }
    }
}

impl Components {
    /// Loads each distinct component of `specs` once.
    pub async fn load<'a>(runtime: &Runtime, specs: impl IntoIterator<Item = &'a TenantSpec>) -> Self {
        Self::default().reload(runtime, specs).await
    }

    /// The components of `specs`, those already loaded here taken as they are (a component file replaced at the
    /// same path is loaded again only by a new process).
    pub async fn reload<'a>(&self, runtime: &Runtime, specs: impl IntoIterator<Item = &'a TenantSpec>) -> Self {
        let mut components = HashMap::new();
        for spec in specs {
            let Some(path) = &spec.component else { continue };
            if components.contains_key(path) {
                continue;
            }
            if let Some(Ok(loaded)) = self.0.get(path) {
                components.insert(path.clone(), Ok(loaded.clone()));
                continue;
            }
            let prepared = async {
                let loaded = runtime.load(path)?;
                let metadata = runtime.metadata(&loaded).await?;
                Ok::<_, anyhow::Error>(Arc::new(Prepared { loaded, metadata }))
            };
            components.insert(path.clone(), prepared.await.map_err(|e| format!("{e:#}")));
        }
        Self(components)
    }

    /// The tenant of `spec` resolved against its loaded component.
    pub fn of(&self, spec: &TenantSpec) -> Result<Arc<Prepared>> {
        match self.0.get(spec.component_path()?) {
            Some(Ok(prepared)) => Ok(prepared.clone()),
            Some(Err(e)) => Err(anyhow!("{e}")),
            None => Err(anyhow!("the tenant's component was not loaded")),
        }
    }

    /// The components that could not be loaded, with why.
    pub fn failed(&self) -> impl Iterator<Item = (&PathBuf, &String)> {
        self.0.iter().filter_map(|(path, prepared)| prepared.as_ref().err().map(|e| (path, e)))
    }
}

/// What a sync leaves besides its report, whether it completed or not.
#[derive(Debug, Default)]
pub struct SyncTrace {
    /// What its component printed, prefixed with the tenant and redacted.
    pub log: Vec<String>,
    /// Its traffic (none when the component could not be opened).
    pub egress: crate::egress::EgressCounts,
}

/// One tenant's sync into the store `open` opens: resolve its config against its component, open a session
/// (nothing is written if the component refuses the config), then sync from where `start` says. `trace` gets
/// the guest's lines, prefixed and redacted, and the sync's traffic, whether it completed or not.
#[allow(clippy::too_many_arguments)]
pub async fn sync_tenant(
    runtime: &Runtime,
    prepared: &Prepared,
    spec: TenantSpec,
    defaults: &SyncOptions,
    open: impl FnOnce() -> Result<Store>,
    redactor: &Redactor,
    progress: &dyn Progress,
    trace: &mut SyncTrace,
    start: impl FnOnce(&Store, &ResolvedTenant, &LoadedComponent) -> Result<Start>,
) -> Result<SyncReport> {
    // Every line of the sync, the token endpoint's and the retries' included, carries its tenant.
    let span = tracing::info_span!("sync", tenant = %spec.name);
    let sync = async move {
        let tenant = ResolvedTenant::resolve(spec, &prepared.metadata, redactor.clone()).map_err(|e| Failure::error(FailureKind::NeedsAttention, format!("{e:#}")))?;
        let mut options = defaults.clone();
        tenant.limits.apply(&mut options).map_err(|e| Failure::error(FailureKind::NeedsAttention, format!("{e:#}")))?;
        let printed = |output: GuestOutput| output.lines(&tenant.name).iter().map(|line| redactor.redact(line)).collect();
        let mut session = match OpenSession::open_for_sync(runtime, &prepared.loaded, &tenant, &options).await {
            Ok(session) => session,
            Err(failed) => {
                trace.log = printed(failed.log);
                return Err(failed.error);
            }
        };
        let result = async {
            let mut store = open()?;
            let start = start(&store, &tenant, &prepared.loaded)?;
            session.sync(&prepared.loaded, &prepared.metadata, &mut store, &options, progress, start).await
        }
        .await;
        trace.log = printed(session.take_log());
        trace.egress = session.requests();
        result
    };
    tracing::Instrument::instrument(sync, span).await
}

impl Shared {
    async fn sync_one(&self, spec: Result<TenantSpec>, redactor: &Redactor, trace: &mut SyncTrace) -> Result<SyncReport> {
        let spec = spec?;
        let prepared = self.components.of(&spec)?;
        let display = (self.fleet.progress)(&spec.name);
        let open = || Store::open(&self.fleet.store);
        sync_tenant(&self.fleet.runtime, &prepared, spec, &self.fleet.options, open, redactor, display.as_ref(), trace, |_, _, _| Ok(Start::Fresh)).await
    }
}
