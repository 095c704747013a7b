//! The flags several commands share: a tenant (component, config, secrets, or a tenant file), a store to read,
//! the limits of a sync, and the write switch; and turning a tenant's flags into a resolved tenant.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use crate::contract::model::Metadata as ConnectorMetadata;
use crate::interrupt::Interrupt;
use crate::options::{LimitsSpec, SyncOptions};
use crate::runtime::{LoadedComponent, Runtime};
use crate::secrets::Redactor;
use crate::store::{Store, StoreLocation, SyncId};
use crate::tenant::{DEFAULT_TENANT, ResolvedTenant, TenantSpec};

#[derive(Args)]
pub struct WriteArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Allow this command to change the source system (every write the connector declares).
    #[arg(long)]
    pub provisioning: bool,
}

#[derive(Args)]
pub struct TenantArgs {
    /// The connector component (.wasm).
    #[arg(long)]
    component: Option<PathBuf>,
    /// Tenant name, the key of its syncs in the store.
    #[arg(long)]
    tenant: Option<String>,
    /// A TOML file with tenant, component, [config] and [secrets]; flags override it.
    #[arg(long)]
    tenant_file: Option<PathBuf>,
    /// A non-secret config value, KEY=VALUE (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// A secret config value, KEY=VALUE (repeatable). Prefer --secret-env: command lines are visible to others.
    #[arg(long = "secret", value_name = "KEY=VALUE")]
    secrets: Vec<String>,
    /// A secret read from an environment variable, KEY=ENVVAR (repeatable).
    #[arg(long = "secret-env", value_name = "KEY=ENVVAR")]
    secret_envs: Vec<String>,
    /// A PEM file of CA certificates to trust besides the platform's (a TLS-inspecting proxy, a private CA).
    #[arg(long)]
    ca_file: Option<PathBuf>,
}

/// Limits of a sync; a tenant file's [limits] table overrides them for its tenant.
#[derive(Args)]
pub struct LimitArgs {
    /// Linear memory cap of the component, in MiB.
    #[arg(long, default_value_t = 256)]
    memory_mib: usize,
    /// Wall-clock deadline of one call into the component, in seconds.
    #[arg(long, default_value_t = 300.0)]
    call_timeout_secs: f64,
    /// Wall-clock deadline of a whole sync, retry waits included, in seconds.
    #[arg(long, default_value_t = 3600.0)]
    sync_timeout_secs: f64,
    /// Most requests one sync may send (token requests included); unlimited when not given.
    #[arg(long)]
    max_requests: Option<u64>,
    /// How much of the component's stdout and stderr is kept and shown, in KiB.
    #[arg(long, default_value_t = 64)]
    log_kib: usize,
    /// Attempts per call when the source is rate limiting or unavailable.
    #[arg(long, default_value_t = 6)]
    max_attempts: u32,
    /// Total seconds one sync may spend waiting to retry.
    #[arg(long, default_value_t = 300)]
    max_retry_wait_secs: u64,
    /// Largest response body accepted from the source, in MiB.
    #[arg(long, default_value_t = 64)]
    max_response_mib: u64,
    /// Seconds to wait for a response to start.
    #[arg(long, default_value_t = 60.0)]
    first_byte_timeout_secs: f64,
    /// Attempts per call when the source answers something malformed.
    #[arg(long, default_value_t = 3)]
    bad_response_attempts: u32,
    /// Most records (resources, entitlements, grants) one sync may store.
    #[arg(long, default_value_t = crate::options::DEFAULT_MAX_RECORDS)]
    max_records: u64,
    /// Complete syncs kept per tenant (at least 2); older ones are pruned after each complete sync.
    #[arg(long, default_value_t = crate::options::DEFAULT_KEEP_SYNCS)]
    keep_syncs: usize,
    /// Instances of the component one sync runs at once, for pages it hands back as independent.
    #[arg(long, default_value_t = crate::options::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// Most requests per second to the source, over all instances (token requests included); uncapped when
    /// not given. A 429's Retry-After is honoured on top of it.
    #[arg(long)]
    max_requests_per_second: Option<f64>,
}

#[derive(Args)]
pub struct ReadArgs {
    #[arg(long)]
    pub store: StoreLocation,
    #[arg(long, default_value = DEFAULT_TENANT)]
    pub tenant: String,
    /// Read this sync, even an unfinished (partial) one, instead of the tenant's latest complete sync.
    #[arg(long = "sync", value_name = "ID")]
    sync_id: Option<i64>,
}

impl LimitArgs {
    /// The flags as a limits table, every key set: a tenant's own table then overlays it (`LimitsSpec::apply`).
    fn spec(&self) -> LimitsSpec {
        LimitsSpec {
            memory_mib: Some(self.memory_mib),
            call_timeout_secs: Some(self.call_timeout_secs),
            sync_timeout_secs: Some(self.sync_timeout_secs),
            max_requests: self.max_requests,
            max_response_mib: Some(self.max_response_mib),
            log_kib: Some(self.log_kib),
            max_attempts: Some(self.max_attempts),
            max_retry_wait_secs: Some(self.max_retry_wait_secs),
            first_byte_timeout_secs: Some(self.first_byte_timeout_secs),
            bad_response_attempts: Some(self.bad_response_attempts),
            max_records: Some(self.max_records),
            keep_syncs: Some(self.keep_syncs),
            concurrency: Some(self.concurrency),
            max_requests_per_second: self.max_requests_per_second,
        }
    }

    /// A sync's options: these flags, then the tenant's own limits over them.
    pub fn options(&self, tenant: &LimitsSpec, interrupt: &Interrupt) -> Result<SyncOptions> {
        let mut options = SyncOptions { interrupt: interrupt.clone(), ..SyncOptions::default() };
        self.spec().overlaid(tenant).apply(&mut options)?;
        Ok(options)
    }
}

impl ReadArgs {
    pub fn open(&self) -> Result<(Store, SyncId)> {
        let store = Store::open_existing(&self.store)?;
        let id = match self.sync_id {
            Some(id) => match store.sync(id)? {
                Some(sync) if sync.tenant == self.tenant => sync.id,
                Some(sync) => bail!("sync {id} belongs to tenant `{}`, not `{}`", sync.tenant, self.tenant),
                None => bail!("there is no sync {id} in this store"),
            },
            None => store.latest_complete(&self.tenant)?.id,
        };
        Ok((store, id))
    }
}

/// Loads the component, reads its metadata and resolves the tenant against it: every input is checked before
/// anything is written anywhere.
pub async fn prepare(args: &TenantArgs, cache_dir: Option<PathBuf>, redactor: &Redactor) -> Result<(Runtime, LoadedComponent, ConnectorMetadata, ResolvedTenant)> {
    resolve(tenant_spec(args, redactor)?, cache_dir, redactor).await
}

/// The tenant as its file and flags describe it. From here on, an error may quote a secret: the redactor
/// learns them before anything can fail.
pub fn tenant_spec(args: &TenantArgs, redactor: &Redactor) -> Result<TenantSpec> {
    let mut spec = match &args.tenant_file {
        Some(path) => TenantSpec::from_file(path)?,
        None => TenantSpec { name: DEFAULT_TENANT.into(), ..Default::default() },
    };
    spec.apply_flags(args.tenant.as_deref(), args.component.as_deref(), &args.config, &args.secrets, &args.secret_envs)?;
    if let Some(ca_file) = &args.ca_file {
        spec.ca_file = Some(ca_file.clone());
    }
    redactor.add_secrets(&spec.secrets);
    Ok(spec)
}

pub async fn resolve(spec: TenantSpec, cache_dir: Option<PathBuf>, redactor: &Redactor) -> Result<(Runtime, LoadedComponent, ConnectorMetadata, ResolvedTenant)> {
    let runtime = Runtime::new(cache_dir)?;
    let loaded = runtime.load(spec.component_path()?)?;
    let metadata = runtime.metadata(&loaded).await?;
    let tenant = ResolvedTenant::resolve(spec, &metadata, redactor.clone())?;
    Ok((runtime, loaded, metadata, tenant))
}

