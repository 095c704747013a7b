//! The service's schedule (`connector-harness serve`): one row per tenant saying when it syncs next, how its
//! last sync ended, and which replica holds it. A replica claims a due tenant by taking its lease: the owner,
//! an epoch raised at every claim, and an expiry the holder keeps pushing back. Every later write to the row
//! names owner and epoch, so a holder whose lease was taken over changes nothing; its sync's page writes are
//! fenced the same way by the sync's own owner (`Store::adopt`). Times are the store's clock, in epoch ms.

use std::time::Duration;

use anyhow::{Result, bail};
use rusqlite::{OptionalExtension, params};

use super::{Store, SyncId, now_ms, owner_is_gone};

/// Version 4: the schedule. `state` is what a person reads: `waiting`, `running`, `backing-off` (after a
/// transient failure), `needs-attention` (credentials or configuration) or `quarantined` (its holder died with
/// it too often; it waits for `trigger`).
pub(super) const SCHEMA_V4: &str = "
CREATE TABLE schedule (
    tenant TEXT PRIMARY KEY,
    enabled INTEGER NOT NULL DEFAULT 1,
    interval_ms INTEGER NOT NULL,
    next_run_ms INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'waiting',
    lease_owner TEXT,
    lease_epoch INTEGER NOT NULL DEFAULT 0,
    lease_expires_ms INTEGER,
    failures INTEGER NOT NULL DEFAULT 0,
    takeovers INTEGER NOT NULL DEFAULT 0,
    last_outcome TEXT,
    last_error TEXT,
    last_sync_id INTEGER,
    last_counts TEXT,
    last_started_ms INTEGER,
    last_finished_ms INTEGER
);
CREATE INDEX schedule_due ON schedule (next_run_ms);
";

/// A tenant whose lease expired under the same holder this many times in a row is quarantined: its sync
/// probably kills whatever runs it.
pub const QUARANTINE_AFTER_TAKEOVERS: i64 = 3;

/// A tenant held by this replica: every write to its schedule row names owner and epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantLease {
    pub tenant: String,
    pub owner: String,
    pub epoch: i64,
}

/// A claimed tenant: its lease, and whether the lease was taken from a holder that let it expire.
#[derive(Debug, Clone)]
pub struct Claim {
    pub lease: TenantLease,
    pub taken_over: bool,
    /// Failures in a row before this run (for the next backoff).
    pub failures: i64,
}

/// How a run ended, as the schedule records it.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// `waiting`, `backing-off` or `needs-attention`.
    pub state: &'static str,
    /// `synced`, `failed` or `interrupted`.
    pub outcome: &'static str,
    pub next_in: Duration,
    pub failures: i64,
    pub error: Option<String>,
    pub sync_id: Option<SyncId>,
    pub counts: Option<String>,
}

/// One tenant's row, for `status` and the status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRow {
    pub tenant: String,
    pub enabled: bool,
    pub interval_ms: i64,
    pub next_run_ms: i64,
    pub state: String,
    pub lease_owner: Option<String>,
    pub lease_epoch: i64,
    pub lease_expires_ms: Option<i64>,
    pub failures: i64,
    pub last_outcome: Option<String>,
    pub last_error: Option<String>,
    pub last_sync_id: Option<SyncId>,
    pub last_counts: Option<String>,
    pub last_started_ms: Option<i64>,
    pub last_finished_ms: Option<i64>,
}

impl Store {
    /// Makes the schedule match the tenants file: a new tenant first runs at `first_run(interval)` from now (a
    /// random point, so a fresh deployment does not start every tenant at once); a known one keeps its state
    /// and takes the file's interval; one the file no longer lists is disabled.
    pub fn register_tenants(&mut self, tenants: &[(String, Duration)], mut first_run: impl FnMut(Duration) -> Duration) -> Result<()> {
        let now = now_ms();
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute("UPDATE schedule SET enabled = 0", [])?;
        {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO schedule (tenant, interval_ms, next_run_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant) DO UPDATE SET enabled = 1, interval_ms = excluded.interval_ms",
            )?;
            for (tenant, interval) in tenants {
                upsert.execute(params![tenant, interval.as_millis() as i64, now + first_run(*interval).as_millis() as i64])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Claims the tenant due longest ago whose lease is free, expired, or held by a process of this machine
    /// that is gone. A tenant taken over `QUARANTINE_AFTER_TAKEOVERS` times in a row is quarantined instead.
    pub fn claim_due(&mut self, owner: &str, ttl: Duration) -> Result<Option<Claim>> {
        let now = now_ms();
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let candidates: Vec<(String, Option<String>, Option<i64>, i64, i64)> = {
            let mut stmt = tx.prepare_cached(
                "SELECT tenant, lease_owner, lease_expires_ms, takeovers, failures FROM schedule
                 WHERE enabled = 1 AND state != 'quarantined' AND next_run_ms <= ?1 ORDER BY next_run_ms, tenant",
            )?;
            stmt.query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?.collect::<rusqlite::Result<_>>()?
        };
        let mut claimed = None;
        for (tenant, holder, expires, takeovers, failures) in candidates {
            let free = match (&holder, expires) {
                (None, _) => true,
                (Some(holder), expires) => expires.is_none_or(|at| at < now) || owner_is_gone(holder),
            };
            if !free {
                continue;
            }
            let taken_over = holder.is_some();
            if taken_over && takeovers + 1 >= QUARANTINE_AFTER_TAKEOVERS {
                tx.execute(
                    "UPDATE schedule SET state = 'quarantined', lease_owner = NULL, lease_expires_ms = NULL, takeovers = takeovers + 1,
                     last_error = 'quarantined: its sync was abandoned by a dying replica ' || (takeovers + 1) || ' times in a row; `trigger` it once fixed'
                     WHERE tenant = ?1",
                    [&tenant],
                )?;
                continue;
            }
            let epoch: i64 = tx.query_row(
                "UPDATE schedule SET lease_owner = ?2, lease_epoch = lease_epoch + 1, lease_expires_ms = ?3, state = 'running',
                 last_started_ms = ?4, takeovers = CASE WHEN ?5 THEN takeovers + 1 ELSE takeovers END
                 WHERE tenant = ?1 RETURNING lease_epoch",
                params![tenant, owner, now + ttl.as_millis() as i64, now, taken_over],
                |r| r.get(0),
            )?;
            claimed = Some(Claim { lease: TenantLease { tenant, owner: owner.to_string(), epoch }, taken_over, failures });
            break;
        }
        tx.commit()?;
        Ok(claimed)
    }

    /// Pushes the lease's expiry back by `ttl`. False if the lease is no longer this holder's.
    pub fn renew(&self, lease: &TenantLease, ttl: Duration) -> Result<bool> {
        let renewed = self.conn.execute(
            "UPDATE schedule SET lease_expires_ms = ?4 WHERE tenant = ?1 AND lease_owner = ?2 AND lease_epoch = ?3",
            params![lease.tenant, lease.owner, lease.epoch, now_ms() + ttl.as_millis() as i64],
        )?;
        Ok(renewed == 1)
    }

    /// Records how the run ended and releases the lease. False if the lease is no longer this holder's (then
    /// nothing is written).
    pub fn finish_run(&mut self, lease: &TenantLease, run: &RunRecord) -> Result<bool> {
        let now = now_ms();
        let finished = self.conn.execute(
            "UPDATE schedule SET lease_owner = NULL, lease_expires_ms = NULL, state = ?4, last_outcome = ?5, next_run_ms = ?6,
             failures = ?7, last_error = ?8, last_sync_id = coalesce(?9, last_sync_id), last_counts = coalesce(?10, last_counts),
             last_finished_ms = ?11, takeovers = 0
             WHERE tenant = ?1 AND lease_owner = ?2 AND lease_epoch = ?3",
            params![
                lease.tenant, lease.owner, lease.epoch, run.state, run.outcome, now + run.next_in.as_millis() as i64, run.failures,
                run.error, run.sync_id, run.counts, now
            ],
        )?;
        Ok(finished == 1)
    }

    /// Hands the tenant back for any replica to resume at once (a draining replica whose sync did not finish).
    pub fn release(&mut self, lease: &TenantLease, sync_id: Option<SyncId>) -> Result<bool> {
        let released = self.conn.execute(
            "UPDATE schedule SET lease_owner = NULL, lease_expires_ms = NULL, state = 'waiting', next_run_ms = ?4,
             last_outcome = 'interrupted', last_sync_id = coalesce(?5, last_sync_id), last_finished_ms = ?4
             WHERE tenant = ?1 AND lease_owner = ?2 AND lease_epoch = ?3",
            params![lease.tenant, lease.owner, lease.epoch, now_ms(), sync_id],
        )?;
        Ok(released == 1)
    }

    /// Makes a tenant due now, and lifts its quarantine. Its lease, if held, is left to its holder.
    pub fn trigger(&mut self, tenant: &str) -> Result<()> {
        let triggered = self.conn.execute(
            "UPDATE schedule SET next_run_ms = ?2, takeovers = 0,
             state = CASE WHEN state = 'quarantined' THEN 'waiting' ELSE state END WHERE tenant = ?1",
            params![tenant, now_ms()],
        )?;
        if triggered == 0 {
            bail!("tenant `{tenant}` is not in the service's schedule (a tenant is added when `serve` starts with it in its tenants file)");
        }
        Ok(())
    }

    /// Every tenant's schedule row, by name; an error if no service ever ran on this store.
    pub fn schedule(&self) -> Result<Vec<ScheduleRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT tenant, enabled, interval_ms, next_run_ms, state, lease_owner, lease_epoch, lease_expires_ms, failures,
             last_outcome, last_error, last_sync_id, last_counts, last_started_ms, last_finished_ms FROM schedule ORDER BY tenant",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ScheduleRow {
                tenant: r.get(0)?,
                enabled: r.get(1)?,
                interval_ms: r.get(2)?,
                next_run_ms: r.get(3)?,
                state: r.get(4)?,
                lease_owner: r.get(5)?,
                lease_epoch: r.get(6)?,
                lease_expires_ms: r.get(7)?,
                failures: r.get(8)?,
                last_outcome: r.get(9)?,
                last_error: r.get(10)?,
                last_sync_id: r.get(11)?,
                last_counts: r.get(12)?,
                last_started_ms: r.get(13)?,
                last_finished_ms: r.get(14)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Whether the store answers at all (for readiness), within SQLite's busy timeout.
    pub fn ping(&self) -> Result<()> {
        self.conn.query_row("SELECT count(*) FROM schedule", [], |r| r.get::<_, i64>(0)).optional()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        (dir, store)
    }

    fn record(outcome: &'static str, next_in: Duration) -> RunRecord {
        RunRecord { state: "waiting", outcome, next_in, failures: 0, error: None, sync_id: Some(1), counts: None }
    }

    #[test]
    fn a_due_tenant_is_claimed_once_and_its_lease_fences_every_later_write() {
        let (_dir, mut store) = store();
        let hour = Duration::from_secs(3600);
        store.register_tenants(&[("a".into(), hour), ("b".into(), hour)], |_| Duration::ZERO).unwrap();
        let ttl = Duration::from_secs(60);
        let first = store.claim_due("r1:1:0", ttl).unwrap().unwrap();
        assert_eq!((first.lease.tenant.as_str(), first.lease.epoch, first.taken_over), ("a", 1, false));
        let second = store.claim_due("r2:1:0", ttl).unwrap().unwrap();
        assert_eq!(second.lease.tenant, "b", "a held tenant is skipped");
        assert!(store.claim_due("r2:1:0", ttl).unwrap().is_none(), "nothing else is due");

        // r1's lease expires (it paused); r2 takes the tenant over with the next epoch.
        store.conn.execute("UPDATE schedule SET lease_expires_ms = 0 WHERE tenant = 'a'", []).unwrap();
        let taken = store.claim_due("r2:1:0", ttl).unwrap().unwrap();
        assert_eq!((taken.lease.tenant.as_str(), taken.lease.epoch, taken.taken_over), ("a", 2, true));
        // r1 wakes: it can neither renew nor record its run nor hand the tenant back.
        assert!(!store.renew(&first.lease, ttl).unwrap());
        assert!(!store.finish_run(&first.lease, &record("synced", hour)).unwrap());
        assert!(!store.release(&first.lease, None).unwrap());
        assert!(store.renew(&taken.lease, ttl).unwrap());
        assert!(store.finish_run(&taken.lease, &record("synced", hour)).unwrap());
        let a = &store.schedule().unwrap()[0];
        assert_eq!((a.state.as_str(), a.lease_owner.as_deref(), a.last_outcome.as_deref()), ("waiting", None, Some("synced")));
        assert!(a.next_run_ms > now_ms() + 3_500_000, "next run an interval away");
    }

    #[test]
    fn a_tenant_abandoned_again_and_again_is_quarantined_until_triggered() {
        let (_dir, mut store) = store();
        store.register_tenants(&[("a".into(), Duration::from_secs(60))], |_| Duration::ZERO).unwrap();
        let ttl = Duration::from_secs(60);
        store.claim_due("r1:1:0", ttl).unwrap().unwrap();
        for takeover in 1..QUARANTINE_AFTER_TAKEOVERS {
            store.conn.execute("UPDATE schedule SET lease_expires_ms = 0", []).unwrap();
            let claim = store.claim_due("r1:1:0", ttl).unwrap().unwrap();
            assert!(claim.taken_over, "takeover {takeover}");
        }
        store.conn.execute("UPDATE schedule SET lease_expires_ms = 0", []).unwrap();
        assert!(store.claim_due("r1:1:0", ttl).unwrap().is_none(), "quarantined, not claimed");
        let row = &store.schedule().unwrap()[0];
        assert_eq!(row.state, "quarantined");
        assert_eq!(row.last_error.as_deref(), Some("quarantined: its sync was abandoned by a dying replica 3 times in a row; `trigger` it once fixed"));
        store.trigger("a").unwrap();
        assert!(store.claim_due("r1:1:0", ttl).unwrap().is_some_and(|c| !c.taken_over), "claimable again, a fresh count");
        assert_eq!(
            store.trigger("nobody").unwrap_err().to_string(),
            "tenant `nobody` is not in the service's schedule (a tenant is added when `serve` starts with it in its tenants file)"
        );
    }

    #[test]
    fn registering_keeps_known_tenants_state_and_disables_dropped_ones() {
        let (_dir, mut store) = store();
        let minute = Duration::from_secs(60);
        store.register_tenants(&[("a".into(), minute), ("b".into(), minute)], |_| Duration::ZERO).unwrap();
        let claim = store.claim_due("r1:1:0", minute).unwrap().unwrap();
        store.finish_run(&claim.lease, &RunRecord { state: "backing-off", failures: 1, ..record("failed", minute) }).unwrap();
        store.register_tenants(&[("a".into(), minute * 2)], |_| Duration::ZERO).unwrap();
        let rows = store.schedule().unwrap();
        assert_eq!((rows[0].state.as_str(), rows[0].failures, rows[0].interval_ms, rows[0].enabled), ("backing-off", 1, 120_000, true));
        assert!(!rows[1].enabled, "b left the file");
        assert!(store.claim_due("r1:1:0", minute).unwrap().is_none(), "a is backing off, and b is disabled");
    }
}
