//! The `connector-harness` command line. It lives in the library so tests can run it in-process exactly as the
//! binary does; `main.rs` only wires up real stdio and logging.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget};

use crate::contract::model::{
    AuthScheme, CreateOutcome, CredentialsPlacement, DeleteOutcome, Grant, GrantOutcome, Metadata as ConnectorMetadata, ParameterPlacement,
    ResourceId, RevokeOutcome, TraitKind,
};
use crate::display::{one_line, printable};
use crate::driver::{OpenSession, Progress, Start, SyncReport};
use crate::options::SyncOptions;
use crate::fleet::{Fleet, ProgressFactory};
use crate::grants::WriteGrants;
use crate::guest_log::GuestOutput;
use crate::interrupt::{Interrupt, Interrupted};
use crate::runtime::{CallError, Instance, LoadedComponent, Runtime};
use crate::secrets::Redactor;
use crate::store::{Store, SyncCounts, SyncId};
use crate::options::LimitsSpec;
use crate::tenant::{DEFAULT_TENANT, ResolvedTenant, TenantSpec};

#[derive(Parser)]
#[command(name = "connector-harness", version, about = "Runs identity-connector WebAssembly components: inspect, validate, sync, query")]
struct Cli {
    /// Where compiled components are cached (default: ~/.cache/connector-harness).
    #[arg(long, global = true)]
    cache_dir: Option<PathBuf>,
    /// Compile the component on every run instead of using the cache.
    #[arg(long, global = true)]
    no_cache: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show a component's metadata: config schema, auth scheme, capabilities.
    Inspect {
        #[arg(long)]
        component: PathBuf,
        /// Print the metadata as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a tenant's config and credentials with one cheap call.
    Validate(TenantArgs),
    /// Sync a tenant, or every tenant of a tenants file, into the store.
    Sync {
        #[command(flatten)]
        tenant: TenantArgs,
        /// A TOML file of many tenants ([limits] for all, then one [[tenant]] table each): sync them all.
        #[arg(long, conflicts_with_all = SINGLE_TENANT_ARGS)]
        tenants: Option<PathBuf>,
        /// With --tenants: how many tenants sync at once [default: 4].
        #[arg(long, requires = "tenants", conflicts_with_all = SINGLE_TENANT_ARGS, value_parser = clap::value_parser!(u32).range(1..=256))]
        parallel: Option<u32>,
        #[arg(long)]
        store: PathBuf,
        /// Continue the tenant's interrupted or failed sync from its last checkpoint instead of starting over.
        #[arg(long)]
        resume: bool,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// List the resources of the latest complete sync.
    Resources {
        #[command(flatten)]
        read: ReadArgs,
        /// Only this resource type.
        #[arg(long = "type")]
        resource_type: Option<String>,
    },
    /// List the grants of the latest complete sync.
    Grants {
        #[command(flatten)]
        read: ReadArgs,
        /// Only grants of this entitlement (e.g. group:42:member).
        #[arg(long, conflicts_with = "principal")]
        entitlement: Option<String>,
        /// Only grants held by this principal (TYPE:ID, e.g. user:123).
        #[arg(long)]
        principal: Option<String>,
    },
    /// Write the latest complete sync to stdout.
    Export {
        #[command(flatten)]
        read: ReadArgs,
        #[arg(long, value_enum)]
        format: ExportFormat,
    },
    /// What changed between the last two complete syncs.
    Diff {
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Grant an entitlement to a principal (writes to the source: needs --provisioning).
    Grant {
        #[command(flatten)]
        write: WriteArgs,
        /// The entitlement, e.g. group:42:member.
        #[arg(long)]
        entitlement: String,
        /// TYPE:ID, e.g. user:123.
        #[arg(long)]
        principal: String,
    },
    /// Revoke a grant (writes to the source: needs --provisioning).
    Revoke {
        #[command(flatten)]
        write: WriteArgs,
        /// The grant id, e.g. group:42:member:user:123.
        #[arg(long)]
        grant: String,
    },
    /// Create an account (writes to the source: needs --provisioning).
    CreateAccount {
        #[command(flatten)]
        write: WriteArgs,
        /// A field, KEY=VALUE, by the source's field names (repeatable).
        #[arg(long = "field", value_name = "KEY=VALUE")]
        fields: Vec<String>,
    },
    /// Change an account's fields (writes to the source: needs --provisioning).
    UpdateAccount {
        #[command(flatten)]
        write: WriteArgs,
        /// The account's id.
        #[arg(long)]
        id: String,
        #[arg(long = "field", value_name = "KEY=VALUE")]
        fields: Vec<String>,
    },
    /// Create a resource such as a group (writes to the source: needs --provisioning).
    CreateResource {
        #[command(flatten)]
        write: WriteArgs,
        #[arg(long = "type")]
        resource_type: String,
        #[arg(long = "field", value_name = "KEY=VALUE")]
        fields: Vec<String>,
    },
    /// Delete old syncs now: keep each tenant's newest complete ones, drop what nobody can read or resume.
    Prune {
        #[arg(long)]
        store: PathBuf,
        /// Only this tenant [default: every tenant in the store].
        #[arg(long)]
        tenant: Option<String>,
        /// Complete syncs to keep per tenant (at least 2).
        #[arg(long, default_value_t = crate::options::DEFAULT_KEEP_SYNCS)]
        keep: usize,
    },
    /// Fetch one resource, TYPE:ID, live from the source and print it as an export line.
    Get {
        #[command(flatten)]
        tenant: TenantArgs,
        /// TYPE:ID, e.g. user:123.
        resource: String,
    },
    /// Delete a resource, TYPE:ID (writes to the source: needs --provisioning).
    Delete {
        #[command(flatten)]
        write: WriteArgs,
        #[arg(long)]
        resource: String,
    },
}

/// The flags of `sync` that describe one tenant, which a tenants file replaces.
const SINGLE_TENANT_ARGS: [&str; 7] = ["component", "tenant", "tenant_file", "config", "secrets", "secret_envs", "resume"];

#[derive(Args)]
struct WriteArgs {
    #[command(flatten)]
    tenant: TenantArgs,
    /// Allow this command to change the source system.
    #[arg(long)]
    provisioning: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportFormat {
    /// One JSON object per line: resource types, resources, entitlements, grants.
    Jsonl,
    /// SCIM 2.0 User and Group resources, one per line.
    Scim,
}

#[derive(Args)]
struct TenantArgs {
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
}

/// Limits of a sync; a tenant file's [limits] table overrides them for its tenant.
#[derive(Args)]
struct LimitArgs {
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
}

#[derive(Args)]
struct ReadArgs {
    #[arg(long)]
    store: PathBuf,
    #[arg(long, default_value = DEFAULT_TENANT)]
    tenant: String,
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
        }
    }

    /// A sync's options: these flags, then the tenant's own limits over them.
    fn options(&self, tenant: &LimitsSpec, interrupt: &Interrupt) -> Result<SyncOptions> {
        let mut options = SyncOptions { interrupt: interrupt.clone(), ..SyncOptions::default() };
        self.spec().overlaid(tenant).apply(&mut options)?;
        Ok(options)
    }
}

impl ReadArgs {
    fn open(&self) -> Result<(Store, SyncId)> {
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

/// Runs the CLI with `args` (the program name first). Returns the process exit code.
pub fn run(args: Vec<OsString>, out: &mut dyn Write, err: &mut dyn Write, show_progress: bool) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors and go to stdout.
            if e.use_stderr() {
                let _ = write!(err, "{}", e.render());
                return 2;
            }
            let _ = write!(out, "{}", e.render());
            return 0;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let redactor = Redactor::default();
    let interrupt = match &cli.command {
        // Only a sync has something to save when signalled; any other command just dies, as usual.
        Command::Sync { .. } => match runtime.block_on(async { Interrupt::on_signals() }) {
            Ok(interrupt) => interrupt,
            Err(e) => {
                let _ = writeln!(err, "error: cannot listen for signals: {e}");
                return 1;
            }
        },
        _ => Interrupt::default(),
    };
    match runtime.block_on(execute(cli, out, err, &redactor, show_progress, &interrupt)) {
        Ok(()) => 0,
        // A reader that stopped reading (`export | head`) is not an error.
        Err(e) if is_broken_pipe(&e) => 0,
        Err(e) => {
            let _ = writeln!(err, "error: {}", one_line(&redactor.redact(&format!("{e:#}"))));
            match (e.downcast_ref::<Interrupted>(), interrupt.signalled()) {
                (Some(interrupted), _) => interrupted.signal.exit_code(),
                (None, Some(signal)) => signal.exit_code(),
                (None, None) => 1,
            }
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

async fn execute(cli: Cli, out: &mut dyn Write, err: &mut dyn Write, redactor: &Redactor, show_progress: bool, interrupt: &Interrupt) -> Result<()> {
    let cache_dir = if cli.no_cache { None } else { cli.cache_dir.clone().or_else(Runtime::default_cache_dir) };
    match cli.command {
        Command::Inspect { component, json } => {
            let runtime = Runtime::new(cache_dir)?;
            let loaded = runtime.load(&component)?;
            let metadata = runtime.metadata(&loaded).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&metadata_json(&metadata, &loaded))?)?;
            } else {
                print_metadata(out, &metadata, &loaded)?;
            }
            Ok(())
        }
        Command::Validate(args) => {
            let (runtime, loaded, _, tenant) = prepare(&args, cache_dir, redactor).await?;
            let mut session = OpenSession::open(&runtime, &loaded, &tenant, &SyncOptions::default(), false).await?;
            let validation = session.instance().validate().await.map_err(|e| session.explain(anyhow!("validation failed: {e}")))?;
            writeln!(out, "ok: tenant `{}`: {} ({} requests)", tenant.name, printable(&validation, 4 << 10), session.requests().requests)?;
            Ok(())
        }
        Command::Sync { tenants: Some(file), parallel, store, limits, .. } => {
            let parallel = parallel.unwrap_or(4);
            let options = limits.options(&LimitsSpec::default(), interrupt)?;
            let tenants = TenantSpec::many_from_file(&file)?;
            let runtime = Arc::new(Runtime::with_pool(cache_dir, parallel + 2)?);
            let bars = indicatif::MultiProgress::with_draw_target(if show_progress { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() });
            let progress: ProgressFactory = Arc::new(move |tenant: &str| Box::new(ProgressDisplay::new(bars.add(ProgressBar::new_spinner()), tenant)) as Box<dyn Progress + Send>);
            let started = Instant::now();
            let (mut synced, mut failed) = (0, 0);
            let mut printed: std::io::Result<()> = Ok(());
            let fleet = Fleet { runtime, store, options, parallel: parallel as usize, progress };
            fleet.sync_all(tenants, redactor, |run| {
                let line = match &run.outcome {
                    Ok(report) => {
                        synced += 1;
                        synced_line(&run.name, report)
                    }
                    Err(e) => {
                        failed += 1;
                        format!("failed tenant `{}`: {}", run.name, one_line(e))
                    }
                };
                // Already redacted, with the tenant's own redactor.
                if printed.is_ok() {
                    printed = run.log.iter().try_for_each(|log_line| writeln!(err, "{log_line}")).and_then(|()| writeln!(out, "{line}"));
                }
            })
            .await?;
            printed?;
            writeln!(out, "{} tenants: {synced} synced, {failed} failed, in {:.2} s", synced + failed, started.elapsed().as_secs_f64())?;
            if let Some(signal) = interrupt.signalled() {
                return Err(Interrupted { signal, sync: None }.into());
            }
            if failed > 0 {
                bail!("{failed} of {} tenants failed", synced + failed);
            }
            Ok(())
        }
        Command::Sync { tenant: args, store, resume, limits, .. } => {
            let (runtime, loaded, metadata, tenant) = prepare(&args, cache_dir, redactor).await?;
            let options = limits.options(&tenant.limits, interrupt)?;
            // The component accepts the config before the store is created or touched.
            let opened = OpenSession::open(&runtime, &loaded, &tenant, &options, false).await;
            let mut session = match opened {
                Ok(session) => session,
                Err(failed) => {
                    print_log(err, &tenant.name, &failed.log, redactor)?;
                    return Err(failed.error);
                }
            };
            let mut store = Store::open(&store)?;
            let start = if resume { resume_point(&store, &tenant.name, &loaded)? } else { Start::Fresh };
            let display = ProgressDisplay::new(if show_progress { ProgressBar::new_spinner() } else { ProgressBar::hidden() }, &tenant.name);
            let report = session.sync(&loaded, &metadata, &mut store, &options, &display, start).await;
            drop(display);
            print_log(err, &tenant.name, &session.take_log(), redactor)?;
            writeln!(out, "{}", synced_line(&tenant.name, &report?))?;
            Ok(())
        }
        Command::Resources { read, resource_type } => {
            let (store, sync) = read.open()?;
            if let Some(t) = &resource_type
                && !store.has_resource_type(sync, t)? {
                    let known: Vec<String> = store.counts(sync)?.resources.into_iter().map(|(t, _)| t).collect();
                    bail!("unknown resource type `{t}` (sync {sync} has: {})", known.join(", "));
                }
            store.for_each_resource(sync, resource_type.as_deref(), |line| Ok(writeln!(out, "{line}")?))?;
            store.check_unchanged()
        }
        Command::Grants { read, entitlement, principal } => {
            let (store, sync) = read.open()?;
            let principal = match &principal {
                Some(p) => Some(p.split_once(':').ok_or_else(|| anyhow!("--principal takes TYPE:ID, got `{p}`"))?),
                None => None,
            };
            store.for_each_grant(sync, entitlement.as_deref(), principal, |g| {
                Ok(writeln!(out, "{}", crate::records::grant_line(&g.id, &g.entitlement, &g.principal_type, &g.principal_id))?)
            })?;
            store.check_unchanged()
        }
        Command::Export { read, format } => {
            let (store, sync) = read.open()?;
            let mut buffered = std::io::BufWriter::new(out);
            match format {
                ExportFormat::Jsonl => store.export_jsonl(sync, &mut buffered)?,
                ExportFormat::Scim => crate::scim::export(&store, sync, &mut buffered)?,
            }
            buffered.flush()?;
            store.check_unchanged()
        }
        Command::Grant { write, entitlement, principal } => {
            let mut session = writer("grant", &write, cache_dir, redactor).await?;
            let principal = parse_id(&principal, "--principal")?;
            let outcome = session.call(async |i| i.grant(&principal, &entitlement).await).await?;
            let (word, grant) = match outcome {
                GrantOutcome::Granted(g) => ("granted", g),
                GrantOutcome::AlreadyExists(g) => ("already_exists", g),
            };
            let line = crate::records::grant_line(&grant.id, &grant.entitlement, &grant.principal.resource_type, &grant.principal.id);
            writeln!(out, "{}", serde_json::json!({"outcome": word, "grant": line}))?;
            Ok(())
        }
        Command::Revoke { write, grant } => {
            let mut session = writer("revoke", &write, cache_dir, redactor).await?;
            let mut parts = grant.rsplitn(3, ':');
            let (Some(principal_id), Some(principal_type), Some(entitlement)) = (parts.next(), parts.next(), parts.next()) else {
                bail!("--grant takes ENTITLEMENT:PRINCIPAL_TYPE:PRINCIPAL_ID, got `{grant}`");
            };
            let principal = ResourceId { resource_type: principal_type.into(), id: principal_id.into() };
            let target = Grant { id: grant.clone(), entitlement: entitlement.into(), principal };
            let word = match session.call(async |i| i.revoke(&target).await).await? {
                RevokeOutcome::Revoked => "revoked",
                RevokeOutcome::AlreadyRevoked => "already_revoked",
            };
            writeln!(out, "{}", serde_json::json!({"outcome": word, "grant": grant}))?;
            Ok(())
        }
        Command::CreateAccount { write, fields } => {
            let mut session = writer("create-account", &write, cache_dir, redactor).await?;
            let fields = parse_fields(&fields)?;
            let user_type = session.user_type().await?;
            let outcome = session.call(async |i| i.create_account(&user_type, &fields).await).await?;
            print_created(out, outcome)
        }
        Command::UpdateAccount { write, id, fields } => {
            let mut session = writer("update-account", &write, cache_dir, redactor).await?;
            let fields = parse_fields(&fields)?;
            let user_type = session.user_type().await?;
            let target = ResourceId { resource_type: user_type, id };
            let resource = session.call(async |i| i.update_resource(&target, &fields).await).await?;
            writeln!(out, "{}", serde_json::json!({"outcome": "updated", "resource": crate::records::resource(&resource)}))?;
            Ok(())
        }
        Command::CreateResource { write, resource_type, fields } => {
            let mut session = writer("create-resource", &write, cache_dir, redactor).await?;
            let fields = parse_fields(&fields)?;
            let outcome = session.call(async |i| i.create_resource(&resource_type, &fields).await).await?;
            print_created(out, outcome)
        }
        Command::Delete { write, resource } => {
            let mut session = writer("delete", &write, cache_dir, redactor).await?;
            let target = parse_id(&resource, "--resource")?;
            let word = match session.call(async |i| i.delete_resource(&target).await).await? {
                DeleteOutcome::Deleted => "deleted",
                DeleteOutcome::DidNotExist => "did_not_exist",
            };
            let resource = serde_json::json!({"resource_type": target.resource_type, "id": target.id});
            writeln!(out, "{}", serde_json::json!({"outcome": word, "resource": resource}))?;
            Ok(())
        }
        Command::Diff { read } => {
            let store = Store::open_existing(&read.store)?;
            let syncs = store.complete_syncs(&read.tenant, 2)?;
            let [new, old] = syncs.as_slice() else {
                bail!("tenant `{}` has {} complete sync(s); diff needs two", read.tenant, syncs.len());
            };
            let counts = store.diff(old.id, new.id, out)?;
            writeln!(out, "sync {} → sync {}: {} added, {} removed, {} changed", old.id, new.id, counts.added, counts.removed, counts.changed)?;
            store.check_unchanged()
        }
        Command::Prune { store, tenant, keep } => {
            if keep < 2 {
                bail!("--keep must be at least 2: diff compares the last two complete syncs");
            }
            if !store.is_file() {
                bail!("no store at {}", store.display());
            }
            let mut store = Store::open(&store)?;
            let tenants = match tenant {
                Some(tenant) => vec![tenant],
                None => store.tenants()?,
            };
            for tenant in tenants {
                let pruned = store.prune(&tenant, keep)?;
                let ids = pruned.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
                let listed = if ids.is_empty() { String::new() } else { format!(" ({ids})") };
                writeln!(out, "tenant `{}`: pruned {} sync(s){listed}", printable(&tenant, 256), pruned.len())?;
            }
            Ok(())
        }
        Command::Get { tenant, resource } => {
            let target = parse_id(&resource, "get")?;
            let (runtime, loaded, _, tenant) = prepare(&tenant, cache_dir, redactor).await?;
            let mut session = OpenSession::open(&runtime, &loaded, &tenant, &SyncOptions::default(), false).await?;
            let found = session.instance().get_resource(&target).await.map_err(|e| session.explain(anyhow!("get {resource}: {e}")))?;
            writeln!(out, "{}", crate::records::resource_line(&found))?;
            Ok(())
        }
    }
}

/// A session opened for writes.
struct Writer {
    session: OpenSession,
}

/// Refuses a write command the tenant is granted no writes for (no --provisioning, no `provisioning` in its
/// tenant file) before loading anything, then opens a session with the tenant's grants; the runtime checks
/// each write against them (see `grants`).
async fn writer(command: &str, args: &WriteArgs, cache_dir: Option<PathBuf>, redactor: &Redactor) -> Result<Writer> {
    let mut spec = tenant_spec(&args.tenant, redactor)?;
    if args.provisioning {
        spec.writes = WriteGrants::All;
    }
    if !spec.writes.any() {
        bail!("`{command}` writes to the source system: pass --provisioning to allow it");
    }
    let (runtime, loaded, _, tenant) = resolve(spec, cache_dir, redactor).await?;
    let session = OpenSession::open(&runtime, &loaded, &tenant, &SyncOptions::default(), true).await?;
    Ok(Writer { session })
}

impl Writer {
    /// The resource type whose resources are accounts (the one with the user trait).
    async fn user_type(&mut self) -> Result<String> {
        let types = self.call(async |i| i.resource_types().await).await?;
        types
            .into_iter()
            .find(|t| t.traits.contains(&TraitKind::User))
            .map(|t| t.id)
            .ok_or_else(|| anyhow!("the connector has no resource type with the user trait"))
    }

    async fn call<T>(&mut self, f: impl AsyncFnOnce(&mut Instance) -> Result<T, CallError>) -> Result<T> {
        let result = f(self.session.instance()).await;
        result.map_err(|e| self.session.explain(anyhow!("{e}")))
    }
}

fn parse_id(value: &str, flag: &str) -> Result<ResourceId> {
    match value.split_once(':') {
        Some((t, id)) if !t.is_empty() && !id.is_empty() => Ok(ResourceId { resource_type: t.into(), id: id.into() }),
        _ => bail!("{flag} takes TYPE:ID, got `{value}`"),
    }
}

fn parse_fields(fields: &[String]) -> Result<Vec<(String, String)>> {
    fields
        .iter()
        .map(|f| match f.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
            _ => bail!("--field takes KEY=VALUE, got `{f}`"),
        })
        .collect()
}

fn print_created(out: &mut dyn Write, outcome: CreateOutcome) -> Result<()> {
    let (word, resource) = match outcome {
        CreateOutcome::Created(r) => ("created", r),
        CreateOutcome::AlreadyExists(r) => ("already_exists", r),
    };
    writeln!(out, "{}", serde_json::json!({"outcome": word, "resource": crate::records::resource(&resource)}))?;
    Ok(())
}

/// The interrupted sync `--resume` continues: the tenant's newest, unfinished, made by this same component.
fn resume_point(store: &Store, tenant: &str, component: &LoadedComponent) -> Result<Start> {
    let Some((sync, sha256, checkpoint)) = store.resumable(tenant)? else {
        bail!("tenant `{tenant}` has no interrupted sync to resume");
    };
    if sha256 != component.sha256 {
        bail!("sync {} was made by a different component (sha256 {sha256}); run a fresh sync instead", sync.id);
    }
    let checkpoint = match checkpoint {
        Some(text) => Some(serde_json::from_str(&text).map_err(|e| anyhow!("sync {} has an unreadable checkpoint ({e}); run a fresh sync instead", sync.id))?),
        None => None,
    };
    Ok(Start::Resume { sync_id: sync.id, checkpoint })
}

/// Loads the component, reads its metadata and resolves the tenant against it: every input is checked before
/// anything is written anywhere.
async fn prepare(args: &TenantArgs, cache_dir: Option<PathBuf>, redactor: &Redactor) -> Result<(Runtime, LoadedComponent, ConnectorMetadata, ResolvedTenant)> {
    resolve(tenant_spec(args, redactor)?, cache_dir, redactor).await
}

/// The tenant as its file and flags describe it. From here on, an error may quote a secret: the redactor
/// learns them before anything can fail.
fn tenant_spec(args: &TenantArgs, redactor: &Redactor) -> Result<TenantSpec> {
    let mut spec = match &args.tenant_file {
        Some(path) => TenantSpec::from_file(path)?,
        None => TenantSpec { name: DEFAULT_TENANT.into(), ..Default::default() },
    };
    spec.apply_flags(args.tenant.as_deref(), args.component.as_deref(), &args.config, &args.secrets, &args.secret_envs)?;
    redactor.add_secrets(&spec.secrets);
    Ok(spec)
}

async fn resolve(spec: TenantSpec, cache_dir: Option<PathBuf>, redactor: &Redactor) -> Result<(Runtime, LoadedComponent, ConnectorMetadata, ResolvedTenant)> {
    let runtime = Runtime::new(cache_dir)?;
    let loaded = runtime.load(spec.component_path()?)?;
    let metadata = runtime.metadata(&loaded).await?;
    let tenant = ResolvedTenant::resolve(spec, &metadata, redactor.clone())?;
    Ok((runtime, loaded, metadata, tenant))
}

/// The component's log, on stderr, each line prefixed with its tenant.
fn print_log(err: &mut dyn Write, tenant: &str, log: &GuestOutput, redactor: &Redactor) -> std::io::Result<()> {
    log.lines(tenant).iter().try_for_each(|line| writeln!(err, "{}", redactor.redact(line)))
}

/// The one-line summary of a finished sync.
fn synced_line(tenant: &str, report: &SyncReport) -> String {
    format!(
        "synced tenant `{tenant}` (sync {}): {}; {} requests ({} token), {} received, {} retries, guest memory {}, in {:.2} s",
        report.sync_id,
        describe_counts(&report.counts),
        report.egress.requests,
        report.egress.token_requests,
        human_bytes(report.egress.bytes_received),
        report.retries,
        human_bytes(report.peak_guest_memory as u64),
        report.elapsed.as_secs_f64(),
    )
}

fn describe_counts(counts: &SyncCounts) -> String {
    let types: Vec<String> = counts.resources.iter().map(|(t, n)| format!("{n} {}", printable(t, 256))).collect();
    format!("{}; {} entitlements, {} grants", types.join(", "), counts.entitlements, counts.grants)
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

fn auth_json(auth: &AuthScheme) -> serde_json::Value {
    match auth {
        AuthScheme::None => serde_json::json!({"scheme": "none"}),
        AuthScheme::Bearer(field) => serde_json::json!({"scheme": "bearer", "secret_field": field}),
        AuthScheme::OAuth2ClientCredentials(o) => serde_json::json!({
            "scheme": "oauth2-client-credentials",
            "token_path": o.token_path,
            "client_id_field": o.client_id_field,
            "client_secret_field": o.client_secret_field,
            "credentials_in": match o.credentials_in { CredentialsPlacement::FormBody => "form-body", CredentialsPlacement::JsonBody => "json-body", CredentialsPlacement::Basic => "basic" },
            "grant_type_in": match o.grant_type_in { ParameterPlacement::Query => "query", ParameterPlacement::FormBody => "form-body" },
            "extra_params": o.extra_params,
        }),
    }
}

fn metadata_json(m: &ConnectorMetadata, loaded: &LoadedComponent) -> serde_json::Value {
    serde_json::json!({
        "name": m.name,
        "version": m.version,
        "description": m.description,
        "component": {"path": loaded.path, "sha256": loaded.sha256, "contract": format!("identity:connector@{}", loaded.contract)},
        "base_url_field": m.base_url_field,
        "auth": auth_json(&m.auth),
        "config_schema": m.config_schema.iter().map(|f| serde_json::json!({
            "key": f.key, "display_name": f.display_name, "description": f.description,
            "required": f.required, "secret": f.secret, "default": f.default_value,
        })).collect::<Vec<_>>(),
        "capabilities": m.capabilities.iter().map(|c| serde_json::json!({
            "resource_type": c.resource_type, "capabilities": c.capabilities.names(), "listed_with": c.listed_with,
        })).collect::<Vec<_>>(),
    })
}

/// The metadata for people. Every text but the path and hash is the component's, printed escaped.
fn print_metadata(out: &mut dyn Write, m: &ConnectorMetadata, loaded: &LoadedComponent) -> Result<()> {
    let p = |text: &str| printable(text, 1 << 10);
    writeln!(out, "{} {} — {}", p(&m.name), p(&m.version), p(&m.description))?;
    writeln!(out, "component: {} (sha256 {}, contract identity:connector@{})", loaded.path.display(), loaded.sha256, loaded.contract)?;
    // JSON text escapes control characters itself.
    writeln!(out, "auth: {}", auth_json(&m.auth))?;
    writeln!(out, "egress: only the origin of config `{}`", p(&m.base_url_field))?;
    writeln!(out, "config:")?;
    for f in &m.config_schema {
        let flags = [(f.required, "required"), (!f.required, "optional"), (f.secret, "secret")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(", ");
        let default = f.default_value.as_ref().map(|d| format!(" [default: {}]", p(d))).unwrap_or_default();
        writeln!(out, "  {:<16} {:<18} {}{default}", p(&f.key), flags, p(&f.description))?;
    }
    writeln!(out, "capabilities:")?;
    for c in &m.capabilities {
        let listed = c.listed_with.as_ref().map(|t| format!(" (listed with {})", p(t))).unwrap_or_default();
        writeln!(out, "  {:<16} {}{listed}", p(&c.resource_type), c.capabilities.names().join(", "))?;
    }
    Ok(())
}

/// A spinner on the terminal: what is being listed, how much is stored, and any wait for a retry. It clears
/// itself when dropped.
struct ProgressDisplay {
    bar: ProgressBar,
}

impl ProgressDisplay {
    fn new(bar: ProgressBar, tenant: &str) -> Self {
        bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {prefix} {elapsed} {wide_msg}").unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()));
        bar.set_prefix(format!("sync {tenant}"));
        bar.enable_steady_tick(Duration::from_millis(120));
        Self { bar }
    }
}

impl Drop for ProgressDisplay {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for ProgressDisplay {
    fn page(&self, resource_type: &str, stored: &SyncCounts) {
        self.bar.set_message(format!("listing {resource_type}: {}", describe_counts(stored)));
    }

    fn waiting(&self, call: &str, wait: Duration, reason: &str) {
        self.bar.set_message(format!("{call}: {reason}; retrying in {:.1} s", wait.as_secs_f64()));
    }
}
