//! `sync`: one tenant (resumable, with a progress line on a terminal), or every tenant of a tenants file, N at
//! a time; each ends in one summary line.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget};

use super::Context;
use super::args::{LimitArgs, TenantArgs, prepare};
use crate::display::one_line;
use crate::driver::{OpenSession, Progress, Resumable, Start, SyncReport};
use crate::fleet::{Fleet, ProgressFactory};
use crate::guest_log::GuestOutput;
use crate::interrupt::Interrupted;
use crate::options::LimitsSpec;
use crate::runtime::{LoadedComponent, Runtime};
use crate::secrets::Redactor;
use crate::store::{Store, StoreLocation, SyncCounts};
use crate::tenant::{ResolvedTenant, TenantSpec};

/// The flags of `sync` that describe one tenant, which a tenants file replaces.
const SINGLE_TENANT_ARGS: [&str; 7] = ["component", "tenant", "tenant_file", "config", "secrets", "secret_envs", "resume"];

/// Sync a tenant, or every tenant of a tenants file, into the store.
#[derive(Args)]
pub struct SyncCommand {
    #[command(flatten)]
    tenant: TenantArgs,
    /// A TOML file of many tenants ([limits] for all, then one [[tenant]] table each): sync them all.
    #[arg(long, conflicts_with_all = SINGLE_TENANT_ARGS)]
    tenants: Option<PathBuf>,
    /// With --tenants: how many tenants sync at once [default: 4].
    #[arg(long, requires = "tenants", conflicts_with_all = SINGLE_TENANT_ARGS, value_parser = clap::value_parser!(u32).range(1..=256))]
    parallel: Option<u32>,
    /// The store: an SQLite file (created if need be), or postgres://… for a shared PostgreSQL database.
    #[arg(long)]
    store: StoreLocation,
    /// Continue the tenant's interrupted or failed sync from its last checkpoint instead of starting over.
    #[arg(long)]
    resume: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

impl SyncCommand {
    pub async fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        match self.tenants.clone() {
            Some(file) => self.many(file, cx).await,
            None => self.one(cx).await,
        }
    }

    async fn one(self, cx: &mut Context<'_>) -> Result<()> {
        let (runtime, loaded, metadata, tenant) = prepare(&self.tenant, cx.cache_dir.clone(), cx.redactor).await?;
        let options = self.limits.options(&tenant.limits, cx.interrupt)?;
        // The component accepts the config before the store is created or touched.
        let opened = OpenSession::open_for_sync(&runtime, &loaded, &tenant, &options).await;
        let mut session = match opened {
            Ok(session) => session,
            Err(failed) => {
                print_log(cx.err, &tenant.name, &failed.log, cx.redactor)?;
                return Err(failed.error);
            }
        };
        let mut store = Store::open(&self.store)?;
        let start = if self.resume { resume_point(&store, &tenant, &loaded)? } else { Start::Fresh };
        let display = ProgressDisplay::new(if cx.show_progress { ProgressBar::new_spinner() } else { ProgressBar::hidden() }, &tenant.name);
        let report = session.sync(&loaded, &metadata, &mut store, &options, &display, start).await;
        drop(display);
        print_log(cx.err, &tenant.name, &session.take_log(), cx.redactor)?;
        writeln!(cx.out, "{}", synced_line(&tenant.name, &report?))?;
        Ok(())
    }

    async fn many(self, file: PathBuf, cx: &mut Context<'_>) -> Result<()> {
        let parallel = self.parallel.unwrap_or(4);
        let options = self.limits.options(&LimitsSpec::default(), cx.interrupt)?;
        let tenants = TenantSpec::many_from_file(&file)?;
        // Each running tenant may run several instances (`--concurrency`).
        let runtime = Arc::new(Runtime::with_pool(cx.cache_dir.clone(), parallel * options.concurrency as u32 + 2)?);
        let bars = indicatif::MultiProgress::with_draw_target(if cx.show_progress { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() });
        let progress: ProgressFactory = Arc::new(move |tenant: &str| Box::new(ProgressDisplay::new(bars.add(ProgressBar::new_spinner()), tenant)) as Box<dyn Progress + Send>);
        let started = Instant::now();
        let (mut synced, mut failed) = (0, 0);
        let mut printed: std::io::Result<()> = Ok(());
        let fleet = Fleet { runtime, store: self.store, options, parallel: parallel as usize, progress };
        let (out, err) = (&mut *cx.out, &mut *cx.err);
        fleet
            .sync_all(tenants, cx.redactor, |run| {
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
        if let Some(signal) = cx.interrupt.signalled() {
            return Err(Interrupted { signal, sync: None }.into());
        }
        if failed > 0 {
            bail!("{failed} of {} tenants failed", synced + failed);
        }
        Ok(())
    }
}

/// The interrupted sync `--resume` continues: the tenant's newest, unfinished, made by this same component from
/// the same source.
fn resume_point(store: &Store, tenant: &ResolvedTenant, component: &LoadedComponent) -> Result<Start> {
    match Resumable::of(store, tenant, component)? {
        Resumable::Nothing => bail!("tenant `{}` has no interrupted sync to resume", tenant.name),
        Resumable::Refused(why) => bail!("{why}"),
        Resumable::Ready { sync, checkpoint } => Ok(Start::Resume { sync_id: sync.id, checkpoint }),
    }
}

/// The component's log, on stderr, each line prefixed with its tenant.
fn print_log(err: &mut dyn Write, tenant: &str, log: &GuestOutput, redactor: &Redactor) -> std::io::Result<()> {
    log.lines(tenant).iter().try_for_each(|line| writeln!(err, "{}", redactor.redact(line)))
}

/// The one-line summary of a finished sync.
pub(super) fn synced_line(tenant: &str, report: &SyncReport) -> String {
    let dangling = if report.dangling.grants > 0 { format!("; {}", report.dangling) } else { String::new() };
    format!(
        "synced tenant `{tenant}` (sync {}): {}; {} requests ({} token), {} received, {} retries, guest memory {}, in {:.2} s{dangling}",
        report.sync_id,
        report.counts,
        report.egress.requests,
        report.egress.token_requests,
        human_bytes(report.egress.bytes_received),
        report.retries,
        human_bytes(report.peak_guest_memory as u64),
        report.elapsed.as_secs_f64(),
    )
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
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
        self.bar.set_message(format!("listing {resource_type}: {}", stored));
    }

    fn waiting(&self, call: &str, wait: Duration, reason: &str) {
        self.bar.set_message(format!("{call}: {reason}; retrying in {:.1} s", wait.as_secs_f64()));
    }
}
