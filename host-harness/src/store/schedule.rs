//! The service's schedule (`connector-harness serve`): one row per tenant saying when it syncs next, how its
//! last sync ended, and which replica holds it; a provisioning flow has a row too, under `flow:NAME`, run and
//! leased the same way. A replica claims a due tenant by taking its lease: the owner, an epoch raised at every
//! claim, and an expiry the holder keeps pushing back. Every later write to the row
//! names owner and epoch, so a holder whose lease was taken over changes nothing; its sync's page writes are
//! fenced the same way by the sync's own owner (`Store::adopt`). Times are the store's clock (`Db::now_ms`), in
//! epoch ms, never a replica's own: a replica whose clock runs ahead takes no lease early.

use std::time::Duration;

use anyhow::{Result, bail};

use super::sql::{Row, args};
use super::lifecycle::{hostname, owner_is_gone};
use super::{DiffCounts, Store, SyncId};

// The table is created per store (`sqlite.rs`, `postgres.rs`).

/// How a flow's row in the schedule begins (tenant names may not: `tenant/file.rs`).
pub const FLOW_JOB: &str = "flow:";

/// A tenant's state as a person reads it (the schedule's `state` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantState {
    /// Not running; due at its next run.
    Waiting,
    /// Held by a replica, syncing.
    Running,
    /// After a transient failure.
    BackingOff,
    /// After a failure a person must fix: credentials, configuration, permissions, limits.
    NeedsAttention,
    /// Its holder died with it too often; it waits for `trigger`.
    Quarantined,
}

impl TenantState {
    /// Every state, for metrics.
    pub const ALL: [TenantState; 5] = [Self::Waiting, Self::Running, Self::BackingOff, Self::NeedsAttention, Self::Quarantined];

    /// The state as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Running => "running",
            Self::BackingOff => "backing-off",
            Self::NeedsAttention => "needs-attention",
            Self::Quarantined => "quarantined",
        }
    }
}

/// A tenant whose lease expired under the same holder this many times in a row is quarantined: its sync
/// probably kills whatever runs it.
pub const QUARANTINE_AFTER_TAKEOVERS: i64 = 3;

/// A tenant held by this replica: every write to its schedule row names owner and epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantLease {
    /// The tenant held.
    pub tenant: String,
    /// The replica holding it.
    pub owner: String,
    /// Raised at every claim; every write checks it.
    pub epoch: i64,
}

/// A claimed tenant: its lease, and whether the lease was taken from a holder that let it expire.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The lease the claim took.
    pub lease: TenantLease,
    /// Whether the lease was taken from a replica that stopped renewing it.
    pub taken_over: bool,
    /// Failures in a row before this run (for the next backoff).
    pub failures: i64,
}

/// How a run ended, as the schedule records it.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// Waiting, backing off or needing attention.
    pub state: TenantState,
    /// `synced`, `failed` or `interrupted`.
    pub outcome: &'static str,
    /// When the tenant runs next, from now.
    pub next_in: Duration,
    /// Failures in a row (0 after a success).
    pub failures: i64,
    /// Why the run failed, redacted.
    pub error: Option<String>,
    /// The run's sync, if it began one.
    pub sync_id: Option<SyncId>,
    /// What the run stored, in words.
    pub counts: Option<String>,
    /// The records (resources, entitlements, grants) its sync holds.
    pub records: Option<u64>,
    /// The requests it sent.
    pub requests: u64,
    /// What its sync added, removed and changed since the tenant's previous complete sync.
    pub changes: Option<DiffCounts>,
}

/// How far a running sync has got, as its heartbeat last wrote it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunProgress {
    /// Records (resources, entitlements, grants) stored.
    pub records: i64,
    /// Requests sent.
    pub requests: i64,
    /// Pages stored.
    pub pages: i64,
}

/// One finished run of a tenant or flow (`Store::runs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRow {
    /// The tenant, or `flow:NAME`.
    pub tenant: String,
    /// Its claim's epoch: runs in order.
    pub epoch: i64,
    /// The process that ran it (`replica:pid:nonce`).
    pub owner: String,
    /// When it was claimed (the store's clock, epoch ms).
    pub started_ms: i64,
    /// When it ended.
    pub finished_ms: i64,
    /// The state it left the tenant in (`waiting`, `backing-off`, `needs-attention`).
    pub state: String,
    /// `synced`, `applied`, `failed` or `interrupted`.
    pub outcome: String,
    /// Why it failed, redacted.
    pub error: Option<String>,
    /// The sync it made or continued.
    pub sync_id: Option<SyncId>,
    /// What it stored (or a flow's cycle did), in words.
    pub counts: Option<String>,
    /// The records its sync holds.
    pub records: Option<i64>,
    /// The requests it sent.
    pub requests: i64,
    /// What its sync added, removed and changed since the previous complete one.
    pub changes: Option<DiffCounts>,
}

impl RunRow {
    /// How long it ran, in ms.
    pub fn duration_ms(&self) -> i64 {
        self.finished_ms - self.started_ms
    }
}

/// Runs kept per tenant.
const RUNS_KEPT: i64 = 100;

/// What `trigger` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Triggered {
    /// The tenant is due now: the next replica to poll runs it.
    DueNow {
        /// How long ago (ms, the store's clock) a replica serving it was last heard from; `None` if no replica
        /// serves it.
        last_heard_ms: Option<i64>,
    },
    /// It is running on `replica`, and runs again as soon as that run ends.
    AfterCurrentRun {
        /// The replica running it.
        replica: String,
    },
}

/// One tenant's row, for `status` and the status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRow {
    /// The tenant.
    pub tenant: String,
    /// Whether a live replica serves it.
    pub enabled: bool,
    /// Its interval.
    pub interval_ms: i64,
    /// When it runs next (the store's clock, epoch ms).
    pub next_run_ms: i64,
    /// Its `TenantState`, as text.
    pub state: String,
    /// The replica holding its lease, if any.
    pub lease_owner: Option<String>,
    /// The lease's epoch.
    pub lease_epoch: i64,
    /// When the lease lapses.
    pub lease_expires_ms: Option<i64>,
    /// Failures in a row.
    pub failures: i64,
    /// How its last run ended.
    pub last_outcome: Option<String>,
    /// Why its last run failed.
    pub last_error: Option<String>,
    /// Its last run's sync.
    pub last_sync_id: Option<SyncId>,
    /// What its last run stored, in words.
    pub last_counts: Option<String>,
    /// When its last run started.
    pub last_started_ms: Option<i64>,
    /// When its last run ended.
    pub last_finished_ms: Option<i64>,
    /// When its latest complete sync ended (RFC 3339), whoever ran it: the age of the data readers see.
    pub last_success_at: Option<String>,
    /// While it runs, how far it has got.
    pub progress: Option<RunProgress>,
}

const SCHEDULE_COLUMNS: &str = "tenant, enabled, interval_ms, next_run_ms, state, lease_owner, lease_epoch, lease_expires_ms, failures, \
     last_outcome, last_error, last_sync_id, last_counts, last_started_ms, last_finished_ms, progress_records, progress_requests, progress_pages, \
     (SELECT finished_at FROM syncs WHERE syncs.tenant = schedule.tenant AND syncs.state = 'complete' ORDER BY syncs.id DESC LIMIT 1)";

impl ScheduleRow {
    /// When its latest complete sync ended, in epoch ms (`last_success_at` read).
    pub fn last_success_ms(&self) -> Option<i64> {
        let at = humantime::parse_rfc3339_weak(self.last_success_at.as_deref()?).ok()?;
        at.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_millis() as i64)
    }
}

fn schedule_row(r: &Row) -> Result<ScheduleRow> {
    Ok(ScheduleRow {
        tenant: r.string(0)?,
        enabled: r.int(1)? != 0,
        interval_ms: r.int(2)?,
        next_run_ms: r.int(3)?,
        state: r.string(4)?,
        lease_owner: r.opt_string(5)?,
        lease_epoch: r.int(6)?,
        lease_expires_ms: r.opt_int(7)?,
        failures: r.int(8)?,
        last_outcome: r.opt_string(9)?,
        last_error: r.opt_string(10)?,
        last_sync_id: r.opt_int(11)?,
        last_counts: r.opt_string(12)?,
        last_started_ms: r.opt_int(13)?,
        last_finished_ms: r.opt_int(14)?,
        progress: match (r.opt_int(15)?, r.opt_int(16)?, r.opt_int(17)?) {
            (Some(records), Some(requests), Some(pages)) => Some(RunProgress { records, requests, pages }),
            _ => None,
        },
        last_success_at: r.opt_string(18)?,
    })
}

const RUN_COLUMNS: &str = "tenant, epoch, owner, started_ms, finished_ms, state, outcome, error, sync_id, counts, records, requests, added, removed, changed";

fn run_row(r: &Row) -> Result<RunRow> {
    Ok(RunRow {
        tenant: r.string(0)?,
        epoch: r.int(1)?,
        owner: r.string(2)?,
        started_ms: r.int(3)?,
        finished_ms: r.int(4)?,
        state: r.string(5)?,
        outcome: r.string(6)?,
        error: r.opt_string(7)?,
        sync_id: r.opt_int(8)?,
        counts: r.opt_string(9)?,
        records: r.opt_int(10)?,
        requests: r.int(11)?,
        changes: match (r.opt_int(12)?, r.opt_int(13)?, r.opt_int(14)?) {
            (Some(added), Some(removed), Some(changed)) => Some(DiffCounts { added: added as u64, removed: removed as u64, changed: changed as u64 }),
            _ => None,
        },
    })
}

impl Store {
    /// Puts the tenants file of replica `owner` (`replica:pid:nonce`) into the schedule: a new tenant, or one that
    /// never ran, first runs at `first_run(interval)` from now (within seconds, spread so a fresh deployment does
    /// not start every tenant at once); a known one keeps its state and takes the file's interval. The replica is
    /// recorded as serving them, and `keep_serving` follows.
    pub fn register_tenants(&mut self, owner: &str, tenants: &[(String, Duration)], alive_for: Duration, mut first_run: impl FnMut(Duration) -> Duration) -> Result<()> {
        let db = &self.db;
        db.transaction(|| {
            let now = db.now_ms()?;
            db.execute("DELETE FROM replica_tenants WHERE owner = ?1", args![owner])?;
            for (tenant, interval) in tenants {
                // A tenant that never ran (a replica stopped before its first sync) is due as soon as a new one.
                db.execute(
                    "INSERT INTO schedule (tenant, interval_ms, next_run_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (tenant) DO UPDATE SET enabled = 1, interval_ms = excluded.interval_ms,
                     next_run_ms = CASE WHEN schedule.last_outcome IS NULL AND excluded.next_run_ms < schedule.next_run_ms
                                   THEN excluded.next_run_ms ELSE schedule.next_run_ms END",
                    args![tenant, interval.as_millis() as i64, now + first_run(*interval).as_millis() as i64],
                )?;
                db.execute("INSERT INTO replica_tenants (owner, tenant) VALUES (?1, ?2) ON CONFLICT DO NOTHING", args![owner, tenant])?;
            }
            self.keep_serving_at(owner, alive_for, now)?;
            Ok(())
        })
    }

    /// Says replica `owner` is alive; forgets replicas not heard from within `alive_for`; and disables the
    /// tenants no live replica serves any more (taken out of every tenants file). A tenant another live replica
    /// serves is left as it is, whatever this replica's file says. Called at every poll. False when the replica
    /// had been forgotten (it was silent too long, paused say): it must `register_tenants` again.
    pub fn keep_serving(&mut self, owner: &str, alive_for: Duration) -> Result<bool> {
        let db = &self.db;
        db.transaction(|| self.keep_serving_at(owner, alive_for, db.now_ms()?))
    }

    fn keep_serving_at(&self, owner: &str, alive_for: Duration, now: i64) -> Result<bool> {
        let db = &self.db;
        let known = db.execute("UPDATE replicas SET seen_ms = ?2 WHERE owner = ?1", args![owner, now])? == 1;
        if !known {
            db.execute("INSERT INTO replicas (owner, seen_ms) VALUES (?1, ?2)", args![owner, now])?;
        }
        let stale = now - alive_for.as_millis() as i64;
        db.execute("DELETE FROM replica_tenants WHERE owner IN (SELECT owner FROM replicas WHERE seen_ms < ?1)", args![stale])?;
        db.execute("DELETE FROM replicas WHERE seen_ms < ?1", args![stale])?;
        db.execute("UPDATE schedule SET enabled = 0 WHERE enabled = 1 AND tenant NOT IN (SELECT tenant FROM replica_tenants)", &[])?;
        Ok(known)
    }

    /// Replica `owner` stops serving (it drains): its tenants are left to the other replicas.
    pub fn stop_serving(&mut self, owner: &str) -> Result<()> {
        let db = &self.db;
        db.transaction(|| {
            db.execute("DELETE FROM replica_tenants WHERE owner = ?1", args![owner])?;
            db.execute("DELETE FROM replicas WHERE owner = ?1", args![owner])?;
            Ok(())
        })
    }

    /// The `serve` processes heard from within `within`, and how long ago (ms), latest first.
    pub fn replicas_heard(&self, within: Duration) -> Result<Vec<(String, i64)>> {
        let now = self.db.now_ms()?;
        let since = now - within.as_millis() as i64;
        let rows = self.db.rows("SELECT owner, seen_ms FROM replicas WHERE seen_ms >= ?1 ORDER BY seen_ms DESC", args![since])?;
        rows.iter().map(|row| Ok((row.string(0)?, now - row.int(1)?))).collect()
    }

    /// Claims, of the tenants replica `owner` serves (`register_tenants`), the one due longest ago whose lease is
    /// free, expired, or held by a process of this machine that is gone. A tenant taken over
    /// `QUARANTINE_AFTER_TAKEOVERS` times in a row is quarantined instead. Replicas claiming at once pass over
    /// each other's candidates (`skip_locked`).
    pub fn claim_due(&mut self, owner: &str, ttl: Duration) -> Result<Option<Claim>> {
        let db = &self.db;
        db.transaction(|| {
            let now = db.now_ms()?;
            // Only rows that look free are locked: unheld, expired, or held on this machine (whose holder may be
            // a process that is gone).
            let this_machine = format!("{}:%", hostname());
            let candidates = db.rows(
                &format!(
                    "SELECT tenant, lease_owner, lease_expires_ms, takeovers, failures FROM schedule
                     WHERE enabled = 1 AND state != 'quarantined' AND next_run_ms <= ?1
                     AND (lease_owner IS NULL OR lease_expires_ms < ?1 OR lease_owner LIKE ?2)
                     AND tenant IN (SELECT tenant FROM replica_tenants WHERE owner = ?3)
                     ORDER BY next_run_ms, tenant LIMIT 16{}",
                    db.skip_locked()
                ),
                args![now, this_machine.as_str(), owner],
            )?;
            for candidate in candidates {
                let (tenant, holder, expires, takeovers, failures) = (candidate.text(0)?, candidate.opt_text(1)?, candidate.opt_int(2)?, candidate.int(3)?, candidate.int(4)?);
                let free = match holder {
                    None => true,
                    Some(holder) => expires.is_none_or(|at| at < now) || owner_is_gone(holder),
                };
                if !free {
                    continue;
                }
                // This very process's own expired lease (its store was unreachable for a while) is no takeover.
                let taken_over = holder.is_some_and(|holder| holder != owner);
                if taken_over && takeovers + 1 >= QUARANTINE_AFTER_TAKEOVERS {
                    db.execute(
                        "UPDATE schedule SET state = 'quarantined', lease_owner = NULL, lease_expires_ms = NULL, takeovers = takeovers + 1,
                         last_error = 'quarantined: its sync was abandoned by a dying replica ' || (takeovers + 1) || ' times in a row; `trigger` it once fixed'
                         WHERE tenant = ?1",
                        args![tenant],
                    )?;
                    continue;
                }
                let row = db.row(
                    "UPDATE schedule SET lease_owner = ?2, lease_epoch = lease_epoch + 1, lease_expires_ms = ?3, state = 'running',
                     progress_records = 0, progress_requests = 0, progress_pages = 0, last_started_ms = ?4, takeovers = CASE WHEN ?5 THEN takeovers + 1 ELSE takeovers END
                     WHERE tenant = ?1 RETURNING lease_epoch",
                    args![tenant, owner, now + ttl.as_millis() as i64, now, taken_over],
                )?;
                let epoch = row.ok_or_else(|| anyhow::anyhow!("the claimed tenant vanished"))?.int(0)?;
                return Ok(Some(Claim { lease: TenantLease { tenant: tenant.to_string(), owner: owner.to_string(), epoch }, taken_over, failures }));
            }
            Ok(None)
        })
    }

    /// Pushes the lease's expiry back by `ttl`. False if the lease is no longer this holder's.
    pub fn renew(&self, lease: &TenantLease, ttl: Duration) -> Result<bool> {
        self.renew_reporting(lease, ttl, None)
    }

    /// `renew`, also recording how far the run has got, for the status page.
    pub fn renew_reporting(&self, lease: &TenantLease, ttl: Duration, progress: Option<RunProgress>) -> Result<bool> {
        let RunProgress { records, requests, pages } = progress.unwrap_or_default();
        let renewed = self.db.execute(
            &format!(
                "UPDATE schedule SET lease_expires_ms = {} + ?4, progress_records = CASE WHEN ?5 THEN ?6 ELSE progress_records END,
                 progress_requests = CASE WHEN ?5 THEN ?7 ELSE progress_requests END, progress_pages = CASE WHEN ?5 THEN ?8 ELSE progress_pages END
                 WHERE tenant = ?1 AND lease_owner = ?2 AND lease_epoch = ?3",
                self.db.clock_sql()
            ),
            args![&lease.tenant, &lease.owner, lease.epoch, ttl.as_millis() as i64, progress.is_some(), records, requests, pages],
        )?;
        Ok(renewed == 1)
    }

    /// Records how the run ended and releases the lease. False if the lease is no longer this holder's (then
    /// nothing is written). A tenant triggered while it ran (its `next_run_ms` moved past the run's start) is due
    /// again at once.
    pub fn finish_run(&mut self, lease: &TenantLease, run: &RunRecord) -> Result<bool> {
        let db = &self.db;
        db.transaction(|| {
            let now = db.now_ms()?;
            self.record_run(lease, now, run.state.as_str(), run.outcome, run)?;
            let finished = db.execute(
                "UPDATE schedule SET lease_owner = NULL, lease_expires_ms = NULL, state = ?4, last_outcome = ?5,
                 next_run_ms = CASE WHEN next_run_ms > last_started_ms THEN CAST(?11 AS BIGINT) ELSE CAST(?6 AS BIGINT) END,
                 failures = ?7, last_error = ?8, last_sync_id = coalesce(?9, last_sync_id), last_counts = coalesce(?10, last_counts),
                 last_finished_ms = ?11, takeovers = 0, progress_records = NULL, progress_requests = NULL, progress_pages = NULL
                 WHERE tenant = ?1 AND lease_owner = ?2 AND lease_epoch = ?3",
                args![
                    &lease.tenant, &lease.owner, lease.epoch, run.state.as_str(), run.outcome, now + run.next_in.as_millis() as i64, run.failures,
                    run.error.as_deref(), run.sync_id, run.counts.as_deref(), now
                ],
            )?;
            Ok(finished == 1)
        })
    }

    /// Hands the tenant back for any replica to resume at once (a draining replica whose sync did not finish).
    pub fn release(&mut self, lease: &TenantLease, sync_id: Option<SyncId>) -> Result<bool> {
        let db = &self.db;
        db.transaction(|| {
            let now = db.now_ms()?;
            let interrupted = RunRecord { state: TenantState::Waiting, outcome: "interrupted", next_in: Duration::ZERO, failures: 0, error: None, sync_id, counts: None, records: None, requests: 0, changes: None };
            self.record_run(lease, now, "waiting", "interrupted", &interrupted)?;
            let released = db.execute(
                "UPDATE schedule SET lease_owner = NULL, lease_expires_ms = NULL, state = 'waiting', next_run_ms = ?4,
                 last_outcome = 'interrupted', last_sync_id = coalesce(?5, last_sync_id), last_finished_ms = ?4,
                 progress_records = NULL, progress_requests = NULL, progress_pages = NULL
                 WHERE tenant = ?1 AND lease_owner = ?2 AND lease_epoch = ?3",
                args![&lease.tenant, &lease.owner, lease.epoch, now, sync_id],
            )?;
            Ok(released == 1)
        })
    }

    /// Adds the run ending under `lease` to the tenant's history (nothing if the lease is no longer held), and
    /// forgets all but the latest `RUNS_KEPT`.
    fn record_run(&self, lease: &TenantLease, now: i64, state: &str, outcome: &str, run: &RunRecord) -> Result<()> {
        let db = &self.db;
        let changes = run.changes.map(|c| (c.added as i64, c.removed as i64, c.changed as i64));
        db.execute(
            "INSERT INTO runs (tenant, epoch, owner, started_ms, finished_ms, state, outcome, error, sync_id, counts, records, requests, added, removed, changed)
             SELECT tenant, lease_epoch, lease_owner, coalesce(last_started_ms, ?4), ?4, ?5, ?6, ?7, ?8, ?9, ?14, ?10, ?11, ?12, ?13 FROM schedule
             WHERE tenant = ?1 AND lease_owner = ?2 AND lease_epoch = ?3
             ON CONFLICT (tenant, epoch) DO NOTHING",
            args![
                &lease.tenant, &lease.owner, lease.epoch, now, state, outcome, run.error.as_deref(), run.sync_id, run.counts.as_deref(), run.requests as i64,
                changes.map(|c| c.0), changes.map(|c| c.1), changes.map(|c| c.2), run.records.map(|n| n as i64)
            ],
        )?;
        db.execute("DELETE FROM runs WHERE tenant = ?1 AND epoch <= ?2", args![&lease.tenant, lease.epoch - RUNS_KEPT])?;
        Ok(())
    }

    /// The tenant's (or `flow:NAME`'s) latest `limit` runs, newest first.
    pub fn runs(&self, tenant: &str, limit: i64) -> Result<Vec<RunRow>> {
        self.db.rows(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE tenant = ?1 ORDER BY epoch DESC LIMIT ?2"), args![tenant, limit])?.iter().map(run_row).collect()
    }

    /// Every tenant's latest `per_tenant` runs, by tenant, newest first.
    pub fn recent_runs(&self, per_tenant: i64) -> Result<Vec<RunRow>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM (SELECT *, row_number() OVER (PARTITION BY tenant ORDER BY epoch DESC) AS n FROM runs) ranked
             WHERE n <= ?1 ORDER BY tenant, epoch DESC"
        );
        self.db.rows(&sql, args![per_tenant])?.iter().map(run_row).collect()
    }

    /// Makes a tenant due now, and lifts its quarantine. Its lease, if held, is left to its holder: a running
    /// tenant runs again as soon as its run ends (`finish_run`). Which of the two, as `Triggered`.
    pub fn trigger(&mut self, tenant: &str) -> Result<Triggered> {
        let db = &self.db;
        db.transaction(|| {
            let now = db.now_ms()?;
            let row = db.row(
                "UPDATE schedule SET next_run_ms = ?2, takeovers = 0,
                 state = CASE WHEN state = 'quarantined' THEN 'waiting' ELSE state END WHERE tenant = ?1
                 RETURNING lease_owner, lease_expires_ms",
                args![tenant, now],
            )?;
            let Some(row) = row else {
                bail!("tenant `{tenant}` is not in the service's schedule (a tenant is added when `serve` starts with it in its tenants file)");
            };
            Ok(match (row.opt_string(0)?, row.opt_int(1)?) {
                (Some(replica), Some(expires)) if expires >= now => Triggered::AfterCurrentRun { replica },
                _ => {
                    let heard = db.row(
                        "SELECT max(r.seen_ms) FROM replica_tenants t JOIN replicas r ON r.owner = t.owner WHERE t.tenant = ?1",
                        args![tenant],
                    )?;
                    Triggered::DueNow { last_heard_ms: heard.map(|r| r.opt_int(0)).transpose()?.flatten().map(|seen| now - seen) }
                }
            })
        })
    }

    /// Every tenant's schedule row, by name; an error if no service ever ran on this store.
    pub fn schedule(&self) -> Result<Vec<ScheduleRow>> {
        self.db.rows(&format!("SELECT {SCHEDULE_COLUMNS} FROM schedule ORDER BY tenant"), &[])?.iter().map(schedule_row).collect()
    }

    /// The store's clock now, in epoch ms: what the schedule's times are measured against.
    pub fn clock_ms(&self) -> Result<i64> {
        self.db.now_ms()
    }

    /// Whether the store answers at all (for readiness).
    pub fn ping(&self) -> Result<()> {
        self.db.row("SELECT count(*) FROM schedule", &[])?;
        Ok(())
    }
}
