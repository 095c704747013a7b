//! The wasmtime side: one engine with a pooling allocator, components compiled once and cached precompiled on
//! disk, one pre-instantiated component shared by every tenant, and a fresh sandboxed store per tenant session.
//! The sandbox's limits (memory, wall clock per call, no files, no environment, no sockets, stdio captured
//! into a capped log) are all set here, and a tenant the egress policy stopped is stopped here.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker, ResourceAny, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::contract::model::*;
use crate::contract::{ConnectorError, v0_1, v0_2, v0_3, v0_4};
use crate::egress::{EgressHooks, EgressPolicy};
use crate::grants::Granter;
use crate::files;
use crate::guest_log::{GuestLog, GuestOutput};

/// How often the epoch ticks: the granularity of call deadlines and of a busy guest yielding to others.
const EPOCH_TICK: Duration = Duration::from_millis(10);

pub struct Runtime {
    engine: Engine,
    linker: Linker<TenantState>,
    cache_dir: Option<PathBuf>,
}

/// What one component instance may occupy in the pool. A connector component is three core instances (the
/// program and wit-component's two shims) with one memory and two tables; the margins admit other toolchains.
const CORE_INSTANCES_PER_COMPONENT: u32 = 16;
const MEMORIES_PER_COMPONENT: u32 = 2;
const TABLES_PER_COMPONENT: u32 = 8;

/// Host memory a guest can make the host hold, which its memory cap does not count: handles to host resources
/// (requests, responses, bodies, streams, header sets; a connector needs a few dozen at a time), the size of
/// one header set, and random bytes per call (allocated by the host before they are copied in; a hash seed
/// needs 16).
const MAX_HOST_RESOURCES: usize = 1_000;
const MAX_HEADER_SET_BYTES: usize = 64 << 10;
const MAX_RANDOM_BYTES: u64 = 64 << 10;

/// Instances a runtime made with `Runtime::new` can hold at once (a sync needs two: metadata and session).
pub const DEFAULT_POOL_SLOTS: u32 = 8;

/// Per-session sandbox limits.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// Linear memory cap for the whole component instance.
    pub memory_bytes: usize,
    /// Wall-clock deadline of one call into the component, network waits included.
    pub call_timeout: Duration,
    /// Wall-clock deadline of a whole sync, retry waits included (enforced by the driver).
    pub sync_timeout: Duration,
    /// How much of the guest's stdout and stderr is kept.
    pub log_bytes: usize,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self { memory_bytes: 256 << 20, call_timeout: Duration::from_secs(300), sync_timeout: Duration::from_secs(3600), log_bytes: 64 << 10 }
    }
}

/// A component compiled for this engine and linked: instantiating it for a tenant is cheap.
pub struct LoadedComponent {
    pre: Pre,
    /// The contract version the component exports (e.g. "0.1.0").
    pub contract: String,
    pub sha256: String,
    pub path: PathBuf,
    /// Whether this load compiled the component (false: read from the precompiled cache).
    pub compiled: bool,
}

pub struct TenantState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: EgressHooks,
    limits: MeasuredLimits,
    log: GuestLog,
}

/// `StoreLimits`, remembering the largest linear memory it allowed.
struct MeasuredLimits {
    inner: StoreLimits,
    peak_memory: usize,
}

impl ResourceLimiter for MeasuredLimits {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        if allowed {
            self.peak_memory = self.peak_memory.max(desired);
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

impl WasiView for TenantState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for TenantState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

impl Runtime {
    /// `cache_dir`: where precompiled components are kept; `None` compiles on every load.
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Self> {
        Self::with_pool(cache_dir, DEFAULT_POOL_SLOTS)
    }

    /// A runtime whose pooling allocator holds `slots` component instances at once: memories, tables and
    /// stacks are reserved up front and recycled (and wiped) between tenants instead of mapped per instance.
    pub fn with_pool(cache_dir: Option<PathBuf>, slots: u32) -> Result<Self> {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(slots)
            .total_core_instances(slots * CORE_INSTANCES_PER_COMPONENT)
            .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
            .total_memories(slots * MEMORIES_PER_COMPONENT)
            .max_memories_per_component(MEMORIES_PER_COMPONENT)
            .total_tables(slots * TABLES_PER_COMPONENT)
            .max_tables_per_component(TABLES_PER_COMPONENT)
            .total_stacks(slots);
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = Engine::new(&config).map_err(|e| anyhow!("cannot create the wasm engine: {e}"))?;
        spawn_epoch_ticker(&engine);
        let mut linker = Linker::new(&engine);
        // All of WASI p2, because a std guest imports more than the proxy world (environment, exit, …);
        // what it can do with it is decided by the empty `WasiCtx` each store gets.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| anyhow!("{e}"))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(|e| anyhow!("{e}"))?;
        link_outgoing_handler(&mut linker)?;
        Ok(Self { engine, linker, cache_dir })
    }

    pub fn default_cache_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("connector-harness"))
    }

    pub fn load(&self, path: &Path) -> Result<LoadedComponent> {
        let bytes = files::read_bounded(path, files::COMPONENT_MAX_BYTES, "component")?;
        check_is_component(&bytes).with_context(|| format!("{} is not usable", path.display()))?;
        let sha256 = hex(&Sha256::digest(&bytes));
        let (component, compiled) = self.compile_cached(&bytes, &sha256).with_context(|| format!("cannot compile {}", path.display()))?;
        let contract = contract_version(&self.engine, &component).with_context(|| format!("{} is not usable", path.display()))?;
        let not_world = |e: wasmtime::Error| anyhow!("{} does not implement the identity:connector world: {e:#}", path.display());
        let linked = self.linker.instantiate_pre(&component).map_err(not_world)?;
        let pre = match contract.as_str() {
            v0_3::VERSION => Pre::V0_3(v0_3::IdentityConnectorPre::new(linked).map_err(not_world)?),
            v0_4::VERSION => Pre::V0_4(v0_4::IdentityConnectorPre::new(linked).map_err(not_world)?),
            v0_2::VERSION => Pre::V0_2(v0_2::IdentityConnectorPre::new(linked).map_err(not_world)?),
            v0_1::VERSION => Pre::V0_1(v0_1::IdentityConnectorPre::new(linked).map_err(not_world)?),
            other => bail!("{} exports identity:connector@{other}, which this host does not support (it runs {})", path.display(), SUPPORTED.join(", ")),
        };
        Ok(LoadedComponent { pre, contract, sha256, path: path.to_path_buf(), compiled })
    }

    fn compile_cached(&self, bytes: &[u8], sha256: &str) -> Result<(Component, bool)> {
        let Some(dir) = &self.cache_dir else {
            return Ok((Component::new(&self.engine, bytes).map_err(|e| anyhow!("{e:#}"))?, true));
        };
        // Keyed by the component and by everything about the engine that makes artifacts incompatible.
        let engine_key = {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            self.engine.precompile_compatibility_hash().hash(&mut hasher);
            hasher.finish()
        };
        let file = dir.join(format!("{sha256}-{engine_key:016x}.cwasm"));
        // Read into memory rather than mmapped: a cache file changed in place under a mapping would crash the
        // host (SIGBUS), and the copy costs about a millisecond.
        if let Ok(cached) = files::read_bounded(&file, files::COMPONENT_MAX_BYTES * 4, "cached component") {
            // SAFETY: the file is in the host's own cache directory, named by the component's hash and the
            // engine's compatibility hash; tenants never supply precompiled artifacts. wasmtime checks the
            // header and rejects bytes that are not a compatible artifact.
            match unsafe { Component::deserialize(&self.engine, &cached) } {
                Ok(component) => return Ok((component, false)),
                Err(e) => tracing::warn!("ignoring unusable cache entry {}: {e}", file.display()),
            }
        }
        let artifact = self.engine.precompile_component(bytes).map_err(|e| anyhow!("{e:#}"))?;
        if let Err(e) = write_atomically(dir, &file, &artifact) {
            tracing::warn!("cannot cache the compiled component in {}: {e:#}", dir.display());
        }
        // SAFETY: `artifact` was just produced by this engine.
        let component = unsafe { Component::deserialize(&self.engine, &artifact) }.map_err(|e| anyhow!("{e:#}"))?;
        Ok((component, true))
    }

    /// The component's metadata, from an instance with no network and a short deadline: describing itself is
    /// all the component does here, and every tenant of the component waits for it.
    pub async fn metadata(&self, component: &LoadedComponent) -> Result<Metadata> {
        let sandbox = Sandbox { call_timeout: Duration::from_secs(10), ..Sandbox::default() };
        let mut instance = self.instantiate(component, Arc::new(EgressPolicy::deny_all("metadata")), &sandbox).await?;
        Ok(instance.metadata().await?)
    }

    /// A fresh sandboxed instance whose network access goes through `policy`.
    pub async fn instantiate(&self, component: &LoadedComponent, policy: Arc<EgressPolicy>, sandbox: &Sandbox) -> Result<Instance> {
        self.instantiate_with(component, policy, sandbox, GuestLog::new(sandbox.log_bytes)).await
    }

    /// Another instance for the same tenant as `sibling`: the same egress policy (origins, token, request
    /// budget, counters) and the same log, under its own memory cap.
    pub async fn instantiate_sibling(&self, component: &LoadedComponent, sibling: &Instance, sandbox: &Sandbox) -> Result<Instance> {
        let state = sibling.store.data();
        self.instantiate_with(component, state.hooks.0.clone(), sandbox, state.log.clone()).await
    }

    async fn instantiate_with(&self, component: &LoadedComponent, policy: Arc<EgressPolicy>, sandbox: &Sandbox, log: GuestLog) -> Result<Instance> {
        let state = TenantState {
            // No arguments, environment, preopened directories, sockets or name lookups; stdout and stderr go to
            // the capped log, stdin is empty.
            wasi: WasiCtx::builder()
                .allow_tcp(false)
                .allow_udp(false)
                .allow_ip_name_lookup(false)
                .max_random_size(MAX_RANDOM_BYTES)
                .stdout(log.clone())
                .stderr(log.clone())
                .build(),
            http: {
                let mut http = WasiHttpCtx::new();
                http.set_field_size_limit(MAX_HEADER_SET_BYTES);
                http
            },
            table: {
                let mut table = ResourceTable::new();
                table.set_max_capacity(MAX_HOST_RESOURCES);
                table
            },
            hooks: EgressHooks(policy),
            limits: MeasuredLimits {
                inner: StoreLimitsBuilder::new().memory_size(sandbox.memory_bytes).instances(64).trap_on_grow_failure(true).build(),
                peak_memory: 0,
            },
            log,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        // Yield to the executor on every tick, so a deadline can stop even a guest that never returns.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        let failed = |e: wasmtime::Error| anyhow!("cannot instantiate the component: {e:#}");
        let bindings = match &component.pre {
            Pre::V0_1(pre) => Bindings::V0_1(pre.instantiate_async(&mut store).await.map_err(failed)?),
            Pre::V0_2(pre) => Bindings::V0_2(pre.instantiate_async(&mut store).await.map_err(failed)?),
            Pre::V0_3(pre) => Bindings::V0_3(pre.instantiate_async(&mut store).await.map_err(failed)?),
            Pre::V0_4(pre) => Bindings::V0_4(pre.instantiate_async(&mut store).await.map_err(failed)?),
        };
        Ok(Instance { store, bindings, session: None, granter: Granter::default(), call_timeout: sandbox.call_timeout, poisoned: None })
    }
}

/// The `wasi:http` version whose `outgoing-handler` wasmtime-wasi-http links (guests built against any
/// 0.2.x match it by semver).
const OUTGOING_HANDLER: &str = "wasi:http/outgoing-handler@0.2.12";

/// Replaces wasmtime-wasi-http's `outgoing-handler.handle`, which reads the guest's `request-options` but never
/// takes them out of the resource table: one handle leaked per request, so a sync of about a thousand pages
/// hit `MAX_HOST_RESOURCES`. This one calls the same implementation, then drops the options the guest gave up.
fn link_outgoing_handler(linker: &mut Linker<TenantState>) -> Result<()> {
    use wasmtime::component::Resource;
    use wasmtime_wasi_http::p2::bindings::http::{outgoing_handler, types as http_types};
    use wasmtime_wasi_http::p2::types::{HostFutureIncomingResponse, HostOutgoingRequest};
    type Params = (Resource<HostOutgoingRequest>, Option<Resource<wasmtime_wasi_http::RequestOptions>>);
    type Answer = (Result<Resource<HostFutureIncomingResponse>, http_types::ErrorCode>,);

    linker.allow_shadowing(true);
    let mut instance = linker.instance(OUTGOING_HANDLER).map_err(|e| anyhow!("{e:#}"))?;
    let defined = instance.func_wrap("handle", |mut store: wasmtime::StoreContextMut<'_, TenantState>, (request, options): Params| -> wasmtime::Result<Answer> {
        let mut http = store.data_mut().http();
        let lent = options.as_ref().map(|o| Resource::new_borrow(o.rep()));
        let answer = outgoing_handler::Host::handle(&mut http, request, lent);
        if let Some(options) = options {
            http.table.delete(options)?;
        }
        match answer {
            Ok(future) => Ok((Ok(future),)),
            Err(error) => Ok((Err(http_types::Host::convert_error_code(&mut http, error)?),)),
        }
    });
    linker.allow_shadowing(false);
    defined.map_err(|e| anyhow!("{e:#}"))
}

/// The contract versions this host runs, newest first.
const SUPPORTED: [&str; 4] = [v0_4::VERSION, v0_3::VERSION, v0_2::VERSION, v0_1::VERSION];

/// A linked component, by the contract version it exports.
enum Pre {
    V0_1(v0_1::IdentityConnectorPre<TenantState>),
    V0_2(v0_2::IdentityConnectorPre<TenantState>),
    V0_3(v0_3::IdentityConnectorPre<TenantState>),
    V0_4(v0_4::IdentityConnectorPre<TenantState>),
}

/// An instance's exports, by contract version.
enum Bindings {
    V0_1(v0_1::IdentityConnector),
    V0_2(v0_2::IdentityConnector),
    V0_3(v0_3::IdentityConnector),
    V0_4(v0_4::IdentityConnector),
}

/// The version of `identity:connector` a component exports, read from its export's own name
/// (`identity:connector/connector@0.1.0`): the version travels inside the binary, no custom section needed.
fn contract_version(engine: &Engine, component: &Component) -> Result<String> {
    const INTERFACE: &str = "identity:connector/connector@";
    let mut exports = component.component_type().exports(engine).map(|(name, _)| name.to_string()).collect::<Vec<_>>();
    exports.sort();
    exports
        .iter()
        .find_map(|name| name.strip_prefix(INTERFACE).map(str::to_string))
        .ok_or_else(|| anyhow!("it does not export identity:connector/connector (it exports: {})", if exports.is_empty() { "nothing".into() } else { exports.join(", ") }))
}

fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch ticker thread");
}

/// A component's binary must be a component, not a core module or something else entirely.
fn check_is_component(bytes: &[u8]) -> Result<()> {
    if bytes.len() < 8 || &bytes[0..4] != b"\0asm" {
        bail!("it is not a WebAssembly file");
    }
    match bytes[4..8] {
        [0x0d, 0x00, 0x01, 0x00] => Ok(()),
        [0x01, 0x00, 0x00, 0x00] => bail!("it is a core WebAssembly module, not a component (build it with --target wasm32-wasip2)"),
        _ => bail!("it is a WebAssembly binary of an unsupported version"),
    }
}

fn write_atomically(dir: &Path, file: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.{}", std::process::id(), file.file_name().and_then(|n| n.to_str()).unwrap_or("tmp")));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, file)?;
    Ok(())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a call into the component did not produce the component's own answer.
#[derive(Debug)]
pub enum CallError {
    /// The connector answered with one of its typed errors.
    Connector(ConnectorError),
    /// The component trapped (a panic, the memory cap, …); the instance is unusable afterwards.
    Trap(String),
    /// The call ran past its wall-clock deadline; the instance is unusable afterwards.
    Timeout { call: &'static str, after: Duration },
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
    store: Store<TenantState>,
    bindings: Bindings,
    session: Option<ResourceAny>,
    /// What this session may be asked to do; every call below is checked against it first.
    granter: Granter,
    call_timeout: Duration,
    poisoned: Option<String>,
}

/// Runs one call under the instance's deadline, classifying traps and timeouts.
macro_rules! guest_call {
    ($self:ident, $name:literal, |$guest:ident, $store:ident, $w:ident| $call:expr) => {{
        if let Some(reason) = &$self.poisoned {
            return Err(CallError::Poisoned(reason.clone()));
        }
        let $store = &mut $self.store;
        // The same call, written once, against whichever version's bindings this instance has: `$w` names
        // that version's types, and the call converts its answer to the model inside.
        let outcome = match &$self.bindings {
            Bindings::V0_1(bindings) => {
                #[allow(unused_imports)]
                use crate::contract::v0_1::w as $w;
                let $guest = bindings.identity_connector_connector();
                tokio::time::timeout($self.call_timeout, $call).await
            }
            Bindings::V0_2(bindings) => {
                #[allow(unused_imports)]
                use crate::contract::v0_2::w as $w;
                let $guest = bindings.identity_connector_connector();
                tokio::time::timeout($self.call_timeout, $call).await
            }
            Bindings::V0_3(bindings) => {
                #[allow(unused_imports)]
                use crate::contract::v0_3::w as $w;
                let $guest = bindings.identity_connector_connector();
                tokio::time::timeout($self.call_timeout, $call).await
            }
            Bindings::V0_4(bindings) => {
                #[allow(unused_imports)]
                use crate::contract::v0_4::w as $w;
                let $guest = bindings.identity_connector_connector();
                tokio::time::timeout($self.call_timeout, $call).await
            }
        };
        // A rule broken during the call ends the session, whatever the guest made of the refusal.
        if let Some(reason) = $self.store.data().hooks.0.stopped() {
            let error = CallError::Stopped(reason);
            $self.poisoned = Some(error.to_string());
            return Err(error);
        }
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(trap)) => {
                let message = describe_trap($name, &trap);
                $self.poisoned = Some(message.clone());
                Err(CallError::Trap(message))
            }
            Err(_) => {
                let error = CallError::Timeout { call: $name, after: $self.call_timeout };
                $self.poisoned = Some(error.to_string());
                Err(error)
            }
        }
    }};
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
        self.store.data().log.take()
    }

    /// The log this instance prints to, which its siblings share.
    pub fn log(&self) -> GuestLog {
        self.store.data().log.clone()
    }

    /// The largest linear memory the component has had, in bytes.
    pub fn peak_memory(&self) -> usize {
        self.store.data().limits.peak_memory
    }

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
    fn permitted(&self, call: &str, resource_type: &str, capability: Capability) -> Result<ResourceAny, CallError> {
        match self.granter.refusal(call, resource_type, capability) {
            Some(reason) => Err(CallError::Refused(reason)),
            None => self.session(),
        }
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

    pub async fn resource_types(&mut self) -> Result<Vec<ResourceType>, CallError> {
        let s = self.session()?;
        flatten(guest_call!(self, "resource-types", |guest, store, w| async {
            let answer = guest.session().call_resource_types(store, s).await;
            answer.map(|types| types.map(|t| t.into_iter().map(ResourceType::from).collect()).map_err(ConnectorError::from))
        }))
    }

    pub async fn list_resources(&mut self, resource_type: &str, parent: Option<&ResourceId>, token: Option<&str>) -> Result<ResourcePage, CallError> {
        let s = self.session()?;
        flatten(guest_call!(self, "list-resources", |guest, store, w| async {
            let parent = parent.map(w::ResourceId::from);
            guest.session().call_list_resources(store, s, resource_type, parent.as_ref(), token).await.map(lift)
        }))
    }

    pub async fn list_entitlements(&mut self, resource: &ResourceId, token: Option<&str>) -> Result<EntitlementPage, CallError> {
        let s = self.session()?;
        flatten(guest_call!(self, "list-entitlements", |guest, store, w| async { guest.session().call_list_entitlements(store, s, &w::ResourceId::from(resource), token).await.map(lift) }))
    }

    pub async fn list_grants(&mut self, resource: &ResourceId, token: Option<&str>) -> Result<GrantPage, CallError> {
        let s = self.session()?;
        flatten(guest_call!(self, "list-grants", |guest, store, w| async { guest.session().call_list_grants(store, s, &w::ResourceId::from(resource), token).await.map(lift) }))
    }

    pub async fn get_resource(&mut self, id: &ResourceId) -> Result<Resource, CallError> {
        let s = self.permitted("get", &id.resource_type, Capability::Get)?;
        flatten(guest_call!(self, "get-resource", |guest, store, w| async { guest.session().call_get_resource(store, s, &w::ResourceId::from(id)).await.map(lift) }))
    }

    pub async fn grant(&mut self, principal: &ResourceId, entitlement: &str) -> Result<GrantOutcome, CallError> {
        let s = self.permitted("grant", entitlement.split(':').next().unwrap_or_default(), Capability::Grant)?;
        flatten(guest_call!(self, "grant", |guest, store, w| async { guest.session().call_grant(store, s, &w::ResourceId::from(principal), entitlement).await.map(lift) }))
    }

    pub async fn revoke(&mut self, grant: &Grant) -> Result<RevokeOutcome, CallError> {
        let s = self.permitted("revoke", grant.entitlement.split(':').next().unwrap_or_default(), Capability::Revoke)?;
        flatten(guest_call!(self, "revoke", |guest, store, w| async { guest.session().call_revoke(store, s, &w::Grant::from(grant)).await.map(lift) }))
    }

    /// Creates an account, a resource of `account_type` (the type with the user trait).
    pub async fn create_account(&mut self, account_type: &str, fields: &[(String, String)]) -> Result<CreateOutcome, CallError> {
        let s = self.permitted("create-account", account_type, Capability::Create)?;
        let fields = fields.to_vec();
        flatten(guest_call!(self, "create-account", |guest, store, w| async { guest.session().call_create_account(store, s, &fields).await.map(lift) }))
    }

    pub async fn update_resource(&mut self, id: &ResourceId, fields: &[(String, String)]) -> Result<Resource, CallError> {
        let s = self.permitted("update-resource", &id.resource_type, Capability::Update)?;
        let fields = fields.to_vec();
        flatten(guest_call!(self, "update-resource", |guest, store, w| async { guest.session().call_update_resource(store, s, &w::ResourceId::from(id), &fields).await.map(lift) }))
    }

    pub async fn create_resource(&mut self, resource_type: &str, fields: &[(String, String)]) -> Result<CreateOutcome, CallError> {
        let s = self.permitted("create-resource", resource_type, Capability::Create)?;
        let fields = fields.to_vec();
        flatten(guest_call!(self, "create-resource", |guest, store, w| async { guest.session().call_create_resource(store, s, resource_type, &fields).await.map(lift) }))
    }

    pub async fn delete_resource(&mut self, id: &ResourceId) -> Result<DeleteOutcome, CallError> {
        let s = self.permitted("delete-resource", &id.resource_type, Capability::Delete)?;
        flatten(guest_call!(self, "delete-resource", |guest, store, w| async { guest.session().call_delete_resource(store, s, &w::ResourceId::from(id)).await.map(lift) }))
    }
}
