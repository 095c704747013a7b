//! The engine and its cache: one wasmtime engine with a pooling allocator and an epoch ticker, components
//! compiled once and cached precompiled on disk, linked against WASI and wasi-http, and instantiated into a
//! fresh sandboxed store per tenant session.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi_http::WasiHttpView;

use super::instance::Instance;
use super::sandbox::{Sandbox, TenantState};
use super::versions::{Pre, contract_version};
use crate::contract::model::Metadata;
use crate::egress::EgressPolicy;
use crate::files;
use crate::grants::Granter;
use crate::guest_log::GuestLog;

/// How often the epoch ticks: the granularity of call deadlines and of a busy guest yielding to others.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The wasmtime engine, its linker and its cache of compiled components: one per process.
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

/// Instances a runtime made with `Runtime::new` can hold at once (a sync needs two: metadata and session).
pub const DEFAULT_POOL_SLOTS: u32 = 8;

/// A component compiled for this engine and linked: instantiating it for a tenant is cheap.
pub struct LoadedComponent {
    pub(super) pre: Pre,
    /// The contract version the component exports (e.g. "0.1.0").
    pub contract: String,
    /// The SHA-256 of the component's bytes.
    pub sha256: String,
    /// Where it was loaded from.
    pub path: PathBuf,
    /// Whether this load compiled the component (false: read from the precompiled cache).
    pub compiled: bool,
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

    /// The compile cache's default place: `$XDG_CACHE_HOME/connector-harness` or `~/.cache/connector-harness`.
    pub fn default_cache_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("connector-harness"))
    }

    /// Reads, checks, compiles (or finds in the cache) and links the component at `path`.
    pub fn load(&self, path: &Path) -> Result<LoadedComponent> {
        let bytes = files::read_bounded(path, files::COMPONENT_MAX_BYTES, "component")?;
        check_is_component(&bytes).with_context(|| format!("{} is not usable", path.display()))?;
        let sha256 = hex(&Sha256::digest(&bytes));
        let (component, compiled) = self.compile_cached(&bytes, &sha256).with_context(|| format!("cannot compile {}", path.display()))?;
        let contract = contract_version(&self.engine, &component).with_context(|| format!("{} is not usable", path.display()))?;
        let linked = self.linker.instantiate_pre(&component).map_err(|e| anyhow!("{} does not implement the identity:connector world: {e:#}", path.display()))?;
        let pre = Pre::new(&contract, linked).map_err(|e| anyhow!("{} {e:#}", path.display()))?;
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
        self.instantiate_with(component, state.policy().clone(), sandbox, state.log().clone()).await
    }

    async fn instantiate_with(&self, component: &LoadedComponent, policy: Arc<EgressPolicy>, sandbox: &Sandbox, log: GuestLog) -> Result<Instance> {
        let state = TenantState::new(policy, sandbox, log);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        // Yield to the executor on every tick, so a deadline can stop even a guest that never returns.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        let bindings = component.pre.instantiate(&mut store).await.map_err(|e| anyhow!("cannot instantiate the component: {e:#}"))?;
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

/// Bytes as lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
