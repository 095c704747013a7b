//! One tenant session's sandbox: the limits an operator sets (`Sandbox`), and the store state every instance
//! gets: an empty WASI context (no arguments, environment, files or sockets; stdio into a capped log), a
//! wasi-http context whose requests go through the tenant's egress hooks, and a capped resource table.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::egress::{EgressHooks, EgressPolicy};
use crate::guest_log::GuestLog;

/// Host memory a guest can make the host hold, which its memory cap does not count: handles to host resources
/// (requests, responses, bodies, streams, header sets; a connector needs a few dozen at a time), the size of
/// one header set, and random bytes per call (allocated by the host before they are copied in; a hash seed
/// needs 16).
pub(super) const MAX_HOST_RESOURCES: usize = 1_000;
const MAX_HEADER_SET_BYTES: usize = 64 << 10;
const MAX_RANDOM_BYTES: u64 = 64 << 10;

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

pub struct TenantState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: EgressHooks,
    pub(super) limits: MeasuredLimits,
    log: GuestLog,
}

impl TenantState {
    pub(super) fn new(policy: Arc<EgressPolicy>, sandbox: &Sandbox, log: GuestLog) -> Self {
        TenantState {
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
        }
    }

    /// The policy every request of this state's instance goes through.
    pub(super) fn policy(&self) -> &Arc<EgressPolicy> {
        &self.hooks.0
    }

    pub(super) fn log(&self) -> &GuestLog {
        &self.log
    }

    /// The largest linear memory the instance has had, in bytes.
    pub(super) fn peak_memory(&self) -> usize {
        self.limits.peak_memory
    }
}

/// `StoreLimits`, remembering the largest linear memory it allowed.
pub(super) struct MeasuredLimits {
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
