//! `serve`: the long-running service (`service/`), every flag with a `HARNESS_*` environment twin for
//! containers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;

use super::Context;
use super::args::LimitArgs;
use crate::interrupt::Interrupt;
use crate::options::LimitsSpec;
use crate::service::{Policy, ServiceConfig, serve};
use crate::store::StoreLocation;
use crate::options::parse_interval;

/// A positive duration such as `200ms`, `15s` or `1h`.
fn duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text.trim()) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be longer than zero".into()),
        Err(e) => Err(format!("not a duration such as 200ms, 15s or 1h ({e})")),
    }
}

/// A sync interval: at least a second.
fn interval(text: &str) -> Result<Duration, String> {
    parse_interval(text).map_err(|e| e.to_string())
}

/// Keep every tenant of a tenants file synced on its interval: probes, metrics and a status page on --listen.
#[derive(Args)]
pub struct ServeCommand {
    /// The tenants file (as for `sync --tenants`); each [[tenant]] may set its own `interval`.
    #[arg(long, env = "HARNESS_TENANTS")]
    tenants: PathBuf,
    #[arg(long, env = "HARNESS_STORE")]
    store: StoreLocation,
    /// Where the probes (/healthz, /readyz), /metrics and the status page (/) listen.
    #[arg(long, env = "HARNESS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the SCIM gateway listens (`/tenants/{tenant}/scim/v2/…`) for the tenants that set `scim = { token = … }`;
    /// a port of its own, so it can be exposed while the probes, metrics and status page stay internal.
    #[arg(long, env = "HARNESS_SCIM_LISTEN")]
    scim_listen: Option<SocketAddr>,
    /// How many tenants sync at once on this replica.
    #[arg(long, env = "HARNESS_PARALLEL", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    parallel: u32,
    /// This replica's name in leases, logs and the status page [default: the host name].
    #[arg(long, env = "HARNESS_REPLICA_ID")]
    replica_id: Option<String>,
    /// How often each tenant syncs, unless its table sets `interval`.
    #[arg(long, env = "HARNESS_INTERVAL", default_value = "1h", value_parser = interval)]
    interval: Duration,
    /// Each interval is stretched or shrunk at random by up to this fraction (0 to 0.9).
    #[arg(long, env = "HARNESS_JITTER", default_value_t = 0.1)]
    jitter: f64,
    /// The first wait after a transient failure; it doubles per failure in a row, up to the interval.
    #[arg(long, env = "HARNESS_BACKOFF", default_value = "1m", value_parser = duration)]
    backoff: Duration,
    /// The first wait after a failure a person must fix (credentials, configuration); it doubles up to 6 h.
    #[arg(long, env = "HARNESS_ATTENTION_BACKOFF", default_value = "15m", value_parser = duration)]
    attention_backoff: Duration,
    /// How long a claimed tenant stays this replica's without a heartbeat (renewed every quarter of it).
    #[arg(long, env = "HARNESS_LEASE_TTL", default_value = "60s", value_parser = duration)]
    lease_ttl: Duration,
    /// How often an idle replica looks for due tenants.
    #[arg(long, env = "HARNESS_POLL", default_value = "2s", value_parser = duration)]
    poll: Duration,
    /// On SIGTERM, how long running syncs may take to finish before they are stopped and handed back.
    #[arg(long, env = "HARNESS_DRAIN_TIMEOUT", default_value = "75s", value_parser = duration)]
    drain_timeout: Duration,
    /// An unfinished sync older than this is started over instead of resumed.
    #[arg(long, env = "HARNESS_MAX_RESUME_AGE", default_value = "24h", value_parser = duration)]
    max_resume_age: Duration,
    #[command(flatten)]
    limits: LimitArgs,
}

impl ServeCommand {
    pub async fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        if !(0.0..=0.9).contains(&self.jitter) {
            bail!("--jitter must be between 0 and 0.9");
        }
        if self.lease_ttl < Duration::from_secs(2) {
            bail!("--lease-ttl must be at least 2 s");
        }
        // Each sync's own stop is the service's to give (`service/mod.rs`); the process signal drains.
        let options = self.limits.options(&LimitsSpec::default(), &Interrupt::default())?;
        let config = ServiceConfig {
            tenants_file: self.tenants,
            store: self.store,
            listen: self.listen,
            scim_listen: self.scim_listen,
            parallel: self.parallel as usize,
            replica: self.replica_id.unwrap_or_else(ServiceConfig::default_replica),
            policy: Policy { interval: self.interval, jitter: self.jitter, backoff: self.backoff, attention_backoff: self.attention_backoff },
            lease_ttl: self.lease_ttl,
            poll: self.poll,
            drain_timeout: self.drain_timeout,
            max_resume_age: self.max_resume_age,
            options,
            cache_dir: cx.cache_dir.clone(),
        };
        serve(config, cx.redactor, cx.interrupt).await
    }
}
