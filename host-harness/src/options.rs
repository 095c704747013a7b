//! A sync's options and limits, and the one mapping onto them from limit flags and tenant-file keys
//! (`LimitsSpec::apply`). A leaf module: the driver, the tenant and the CLI all read it, and it reads none
//! of them.

use std::time::Duration;

use anyhow::{Result, bail};
use serde::Deserialize;

use crate::egress::EgressLimits;
use crate::interrupt::Interrupt;
use crate::runtime::Sandbox;

/// How calls and requests are tried again.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per call when the source is rate limiting or unavailable, the first one included.
    pub max_attempts: u32,
    /// Attempts per call when the source answered something malformed (a truncated body, say): a repeat may
    /// help, but not often.
    pub bad_response_attempts: u32,
    /// The first backoff.
    pub base_delay: Duration,
    /// The longest backoff.
    pub max_delay: Duration,
    /// Total time one sync may spend waiting between attempts.
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            bad_response_attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_total_wait: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1`: the source's Retry-After when it gave one, else exponential
    /// backoff with full jitter in its upper half.
    pub fn delay(&self, attempt: u32, retry_after_ms: Option<u64>) -> Duration {
        if let Some(ms) = retry_after_ms {
            return Duration::from_millis(ms);
        }
        let exponential = self.base_delay.saturating_mul(1u32 << (attempt - 1).min(16)).min(self.max_delay);
        exponential.mul_f64(rand::random_range(0.5..=1.0))
    }
}

/// Everything that bounds one sync.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The component's sandbox.
    pub sandbox: Sandbox,
    /// The network.
    pub egress: EgressLimits,
    /// Retries.
    pub retry: RetryPolicy,
    /// Most records (resources, entitlements and grants) one sync may store: a source that lies about its size
    /// cannot fill the disk.
    pub max_records: u64,
    /// Complete syncs kept per tenant; older ones, and unfinished ones nobody can resume, are pruned after each
    /// complete sync. At least 2, so `diff` has two to compare.
    pub keep_syncs: usize,
    /// Stops the sync, leaving it resumable, when the process is signalled.
    pub interrupt: Interrupt,
    /// Instances of the component one sync runs at once, fetching pages a component hands back as
    /// independent (each instance under the same sandbox limits, egress policy and request budget).
    pub concurrency: usize,
}

/// `max_records` unless set.
pub const DEFAULT_MAX_RECORDS: u64 = 25_000_000;
/// `keep_syncs` unless set.
pub const DEFAULT_KEEP_SYNCS: usize = 3;
/// `concurrency` unless set.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// Each instance may use the whole memory cap, so this bounds what one tenant's sync can hold.
pub const MAX_CONCURRENCY: usize = 32;

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            sandbox: Sandbox::default(),
            egress: EgressLimits::default(),
            retry: RetryPolicy::default(),
            max_records: DEFAULT_MAX_RECORDS,
            keep_syncs: DEFAULT_KEEP_SYNCS,
            interrupt: Interrupt::default(),
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// A number of seconds as a duration, if it is positive (and finite).
pub fn positive_secs(value: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(value).ok().filter(|d| !d.is_zero())
}

/// Sandbox and sync limits a tenant file may set; what it leaves out keeps the command line's value.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// `--memory-mib`.
    pub memory_mib: Option<usize>,
    /// `--call-timeout-secs`.
    pub call_timeout_secs: Option<f64>,
    /// `--sync-timeout-secs`.
    pub sync_timeout_secs: Option<f64>,
    /// `--max-requests`.
    pub max_requests: Option<u64>,
    /// `--max-response-mib`.
    pub max_response_mib: Option<u64>,
    /// `--log-kib`.
    pub log_kib: Option<usize>,
    /// `--max-attempts`.
    pub max_attempts: Option<u32>,
    /// `--max-retry-wait-secs`.
    pub max_retry_wait_secs: Option<u64>,
    /// `--first-byte-timeout-secs`.
    pub first_byte_timeout_secs: Option<f64>,
    /// `--bad-response-attempts`.
    pub bad_response_attempts: Option<u32>,
    /// `--max-records`.
    pub max_records: Option<u64>,
    /// `--keep-syncs`.
    pub keep_syncs: Option<usize>,
    /// `--concurrency`.
    pub concurrency: Option<usize>,
    /// `--max-requests-per-second`.
    pub max_requests_per_second: Option<f64>,
}

impl LimitsSpec {
    /// `self`, with `over`'s values where it has them.
    pub fn overlaid(&self, over: &LimitsSpec) -> LimitsSpec {
        LimitsSpec {
            memory_mib: over.memory_mib.or(self.memory_mib),
            call_timeout_secs: over.call_timeout_secs.or(self.call_timeout_secs),
            sync_timeout_secs: over.sync_timeout_secs.or(self.sync_timeout_secs),
            max_requests: over.max_requests.or(self.max_requests),
            max_response_mib: over.max_response_mib.or(self.max_response_mib),
            log_kib: over.log_kib.or(self.log_kib),
            max_attempts: over.max_attempts.or(self.max_attempts),
            max_retry_wait_secs: over.max_retry_wait_secs.or(self.max_retry_wait_secs),
            first_byte_timeout_secs: over.first_byte_timeout_secs.or(self.first_byte_timeout_secs),
            bad_response_attempts: over.bad_response_attempts.or(self.bad_response_attempts),
            max_records: over.max_records.or(self.max_records),
            keep_syncs: over.keep_syncs.or(self.keep_syncs),
            concurrency: over.concurrency.or(self.concurrency),
            max_requests_per_second: over.max_requests_per_second.or(self.max_requests_per_second),
        }
    }

    /// Sets what this spec sets in `options`: the one mapping from limits, by flag or by tenant-file key, to a
    /// sync's options.
    pub fn apply(&self, options: &mut SyncOptions) -> Result<()> {
        let secs = |value: f64, key: &str| {
            positive_secs(value).ok_or_else(|| anyhow::anyhow!("limit `{key}` (--{}) must be a positive number of seconds", key.replace('_', "-")))
        };
        if let Some(value) = self.first_byte_timeout_secs {
            options.egress.first_byte_timeout = secs(value, "first_byte_timeout_secs")?;
        }
        if let Some(attempts) = self.bad_response_attempts {
            options.retry.bad_response_attempts = attempts.max(1);
        }
        if let Some(max) = self.max_records {
            options.max_records = max;
        }
        if let Some(keep) = self.keep_syncs {
            if keep < 2 {
                bail!("limit `keep_syncs` (--keep-syncs) must be at least 2: diff compares the last two complete syncs");
            }
            options.keep_syncs = keep;
        }
        if let Some(n) = self.concurrency {
            if !(1..=MAX_CONCURRENCY).contains(&n) {
                bail!("limit `concurrency` (--concurrency) must be from 1 to {MAX_CONCURRENCY}");
            }
            options.concurrency = n;
        }
        if let Some(rate) = self.max_requests_per_second {
            if !(rate.is_finite() && rate > 0.0) {
                bail!("limit `max_requests_per_second` (--max-requests-per-second) must be a positive number");
            }
            options.egress.max_requests_per_second = Some(rate);
        }
        if let Some(mib) = self.memory_mib {
            options.sandbox.memory_bytes = mib << 20;
        }
        if let Some(value) = self.call_timeout_secs {
            options.sandbox.call_timeout = secs(value, "call_timeout_secs")?;
        }
        if let Some(value) = self.sync_timeout_secs {
            options.sandbox.sync_timeout = secs(value, "sync_timeout_secs")?;
        }
        if let Some(kib) = self.log_kib {
            options.sandbox.log_bytes = kib << 10;
        }
        if let Some(max) = self.max_requests {
            options.egress.max_requests = Some(max);
        }
        if let Some(mib) = self.max_response_mib {
            options.egress.max_response_bytes = mib << 20;
        }
        if let Some(attempts) = self.max_attempts {
            options.retry.max_attempts = attempts.max(1);
        }
        if let Some(secs) = self.max_retry_wait_secs {
            options.retry.max_total_wait = Duration::from_secs(secs);
        }
        Ok(())
    }
}

/// A sync interval such as `40m` or `1h`: at least a second.
pub fn parse_interval(text: &str) -> Result<std::time::Duration> {
    let interval = humantime::parse_duration(text.trim()).map_err(|e| anyhow::anyhow!("`{text}` is not a duration such as 40m or 1h ({e})"))?;
    if interval < std::time::Duration::from_secs(1) {
        bail!("`{text}` is shorter than a second");
    }
    Ok(interval)
}
