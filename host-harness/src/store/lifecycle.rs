//! A sync's life in the store: begun under a lease, its lease kept alive by a heartbeat, taken over or adopted
//! when its owner is gone, ended complete, failed or interrupted, and pruned once nobody can read or resume it.

use std::time::Duration;

use anyhow::{Result, bail};

use super::read::{SYNC_INFO_COLUMNS, SyncInfo, sync_info};
use super::sql::args;
use super::{Store, SyncId};

/// How often a running sync says it is alive, and how long without a word makes it presumed dead (on another
/// machine; on this one, a sync whose process is gone is dead at once).
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// How long a sync's owner may be silent before it is presumed gone.
pub const LEASE_EXPIRY: Duration = Duration::from_secs(30);

/// A running sync held by this process: every write to it names the owner, and is refused once another
/// process has taken the sync over.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The sync held.
    pub sync: SyncId,
    pub(super) owner: String,
}

/// How the owner of a service's sync ends: `host:pid:serve-<nonce>`.
const SERVICE_NONCE: &str = "serve-";

impl Lease {
    /// A lease of `sync` for this process; `service` marks it the service's.
    fn new(sync: SyncId, service: bool) -> Self {
        Self { sync, owner: new_owner(service) }
    }

    /// Whether `owner` is a service's (`new`).
    fn is_service(owner: &str) -> bool {
        owner.rsplit(':').next().is_some_and(|nonce| nonce.starts_with(SERVICE_NONCE))
    }
}

/// A new owner of a lease, naming this process: `host:pid:nonce`; `service` marks it the service's.
pub(super) fn new_owner(service: bool) -> String {
    let tag = if service { SERVICE_NONCE } else { "" };
    format!("{}:{}:{tag}{:016x}", hostname(), std::process::id(), rand::random::<u64>())
}

/// Whether a running sync's owner still holds it at `now` (the store's clock): a process that is not gone from
/// this machine, heard from within `LEASE_EXPIRY`.
pub(super) fn held_by_live_owner(owner: Option<&str>, heartbeat_ms: Option<i64>, now: i64) -> bool {
    owner.is_some_and(|owner| !owner_is_gone(owner)) && silence(heartbeat_ms, now) < LEASE_EXPIRY
}

/// How long, at `now`, since a sync's owner was last heard from.
pub(super) fn silence(heartbeat_ms: Option<i64>, now: i64) -> Duration {
    Duration::from_millis(now.saturating_sub(heartbeat_ms.unwrap_or(0)).max(0) as u64)
}

/// Whether a lease's owner (`host:pid:nonce`) is a process of this machine that no longer exists.
pub(crate) fn owner_is_gone(owner: &str) -> bool {
    let mut parts = owner.rsplitn(3, ':');
    let (Some(_nonce), Some(Ok(pid)), Some(host)) = (parts.next(), parts.next().map(str::parse::<libc::pid_t>), parts.next()) else {
        return false;
    };
    // SAFETY: kill with signal 0 sends nothing; it only asks whether the process exists.
    let exists = unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH);
    host == hostname() && !exists
}

/// This machine's host name.
pub fn hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that much.
    let ok = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) } == 0;
    let end = buffer.iter().position(|b| *b == 0).unwrap_or(buffer.len());
    if ok { String::from_utf8_lossy(&buffer[..end]).into_owned() } else { "unknown-host".into() }
}

/// The local clock, in epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Renews a lease every `HEARTBEAT` on a thread and connection of its own, so a long call into the component
/// (minutes, with retries) does not make a live sync look dead. Dropping it stops the thread.
pub(super) struct Heartbeat {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Heartbeat {
    pub(super) fn start(store: Store, lease: Lease) -> Result<Self> {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name("sync-heartbeat".into()).spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(HEARTBEAT) {
                // A failed renewal is not fatal here: the next page commit checks the lease and says why.
                let _ = store.db.execute(
                    &format!("UPDATE syncs SET heartbeat_ms = {} WHERE id = ?1 AND owner = ?2 AND state = 'running'", store.db.clock_sql()),
                    args![lease.sync, &lease.owner],
                );
            }
        })?;
        Ok(Self { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The current time as the store records it in text: `2026-11-23T18:24:09.123Z`.
fn timestamp_now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

impl Store {
    /// Whether sync `sync` runs now in a process that is not the service's (an operator's `sync`): alive on this
    /// machine or heard from within `LEASE_EXPIRY` of the store's clock.
    pub fn run_by_operator(&self, sync: SyncId) -> Result<bool> {
        let Some(row) = self.db.row("SELECT state, owner, heartbeat_ms FROM syncs WHERE id = ?1", args![sync])? else { return Ok(false) };
        let (state, owner, heartbeat) = (row.text(0)?, row.opt_text(1)?, row.opt_int(2)?);
        let operator = owner.is_some_and(|owner| !Lease::is_service(owner));
        Ok(state == "running" && operator && held_by_live_owner(owner, heartbeat, self.db.now_ms()?))
    }

    /// Starts a sync held by this process.
    pub fn begin_sync(&mut self, tenant: &str, connector: &str, version: &str, sha256: &str) -> Result<Lease> {
        let mut lease = Lease::new(0, self.service);
        let row = self.db.row(
            &format!(
                "INSERT INTO syncs (tenant, connector, connector_version, component_sha256, state, started_at, owner, heartbeat_ms)
                 VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, {}) RETURNING id",
                self.db.clock_sql()
            ),
            args![tenant, connector, version, sha256, timestamp_now().as_str(), &lease.owner],
        )?;
        lease.sync = row.ok_or_else(|| anyhow::anyhow!("the store returned no id for the new sync"))?.int(0)?;
        Ok(lease)
    }

    /// The tenant's newest sync if it is unfinished (running when the host died, interrupted, or failed) and
    /// newer than its latest complete sync: (sync, component sha256, checkpoint).
    pub fn resumable(&self, tenant: &str) -> Result<Option<(SyncInfo, String, Option<String>)>> {
        let row = self.db.row(
            &format!("SELECT {SYNC_INFO_COLUMNS}, component_sha256, checkpoint FROM syncs WHERE tenant = ?1 ORDER BY id DESC LIMIT 1"),
            args![tenant],
        )?;
        let Some(row) = row else { return Ok(None) };
        let info = sync_info(&row)?;
        if info.state == "complete" {
            return Ok(None);
        }
        Ok(Some((info, row.string(7)?, row.opt_string(8)?)))
    }

    /// Takes an unfinished sync over to resume it. Refused for a complete sync, and for one whose owner is still
    /// alive: running here, or heard from within `LEASE_EXPIRY`.
    pub fn take_over(&mut self, sync: SyncId) -> Result<Lease> {
        self.reopen(sync, true)
    }

    /// Takes an unfinished sync over even from a live owner, for the service, which holds the tenant's lease
    /// (`schedule.rs`): whoever wrote to the sync before (a replica paused past its lease) is refused from now on.
    pub fn adopt(&mut self, sync: SyncId) -> Result<Lease> {
        self.reopen(sync, false)
    }

    fn reopen(&mut self, sync: SyncId, unless_alive: bool) -> Result<Lease> {
        let lease = Lease::new(sync, self.service);
        let db = &self.db;
        db.transaction(|| {
            let row = db
                .row(&format!("SELECT state, owner, heartbeat_ms FROM syncs WHERE id = ?1{}", db.for_update()), args![sync])?
                .ok_or_else(|| anyhow::anyhow!("there is no sync {sync} in this store"))?;
            let (state, owner, heartbeat) = (row.text(0)?, row.opt_text(1)?, row.opt_int(2)?);
            if state == "complete" {
                bail!("sync {sync} is complete; a complete sync is never reopened");
            }
            let now = db.now_ms()?;
            if unless_alive && state == "running" && held_by_live_owner(owner, heartbeat, now) {
                bail!(
                    "sync {sync} is still running in another process (last heard from {:.0} s ago); let it finish, or resume once it has stopped",
                    silence(heartbeat, now).as_secs_f64()
                );
            }
            db.execute(
                "UPDATE syncs SET state = 'running', finished_at = NULL, error = NULL, owner = ?2, heartbeat_ms = ?3 WHERE id = ?1",
                args![sync, &lease.owner, now],
            )?;
            Ok(())
        })?;
        Ok(lease)
    }

    /// Marks the lease's sync complete: from now on it is what readers see.
    pub fn finish_sync(&mut self, lease: &Lease, requests: u64, bytes_received: u64) -> Result<()> {
        self.end_sync(lease, "complete", None, Some((requests, bytes_received)))?;
        // Only tidying: readers of this sync already pass over older writes.
        if let Err(e) = self.forget_written(lease.sync) {
            tracing::warn!("sync {}: writes it has read could not be forgotten: {e:#}", lease.sync);
        }
        Ok(())
    }

    /// Marks a sync failed with its (already redacted) error; its rows stay for inspection but are never read
    /// as the tenant's data.
    pub fn fail_sync(&mut self, lease: &Lease, error: &str) -> Result<()> {
        self.end_sync(lease, "failed", Some(error), None)
    }

    /// Marks a sync stopped by a signal: like a failure, resumable, but not the source's fault.
    pub fn interrupt_sync(&mut self, lease: &Lease, reason: &str) -> Result<()> {
        self.end_sync(lease, "interrupted", Some(reason), None)
    }

    fn end_sync(&mut self, lease: &Lease, state: &str, error: Option<&str>, traffic: Option<(u64, u64)>) -> Result<()> {
        let (requests, bytes) = traffic.map_or((None, None), |(r, b)| (Some(r as i64), Some(b as i64)));
        let complete = state == "complete";
        let ended = self.db.execute(
            "UPDATE syncs SET state = ?3, finished_at = ?4, error = ?5,
             checkpoint = CASE WHEN ?6 THEN NULL ELSE checkpoint END,
             requests = coalesce(?7, requests), bytes_received = coalesce(?8, bytes_received)
             WHERE id = ?1 AND owner = ?2 AND state = 'running'",
            args![lease.sync, &lease.owner, state, timestamp_now().as_str(), error, complete, requests, bytes],
        )?;
        if ended == 0 {
            bail!("sync {} was taken over by another process; this one leaves it alone", lease.sync);
        }
        Ok(())
    }

    /// Deletes the tenant's syncs nobody can read or resume any more: complete syncs beyond the newest `keep`,
    /// and unfinished syncs older than its newest complete one (a running one only once its owner is gone or
    /// silent). Returns the ids deleted, oldest first.
    pub fn prune(&mut self, tenant: &str, keep: usize) -> Result<Vec<SyncId>> {
        let db = &self.db;
        db.transaction(|| {
            let now = db.now_ms()?;
            let mut complete_kept = 1; // the newest complete sync, which the query leaves out
            let mut doomed = Vec::new();
            db.for_each(
                "SELECT id, state, owner, heartbeat_ms FROM syncs WHERE tenant = ?1 AND id < (
                     SELECT coalesce(max(id), 0) FROM syncs WHERE tenant = ?1 AND state = 'complete')
                 ORDER BY id DESC",
                args![tenant],
                |row| {
                    let delete = match row.text(1)? {
                        "complete" => {
                            complete_kept += 1;
                            complete_kept > keep
                        }
                        "running" => !held_by_live_owner(row.opt_text(2)?, row.opt_int(3)?, now),
                        _ => true,
                    };
                    if delete {
                        doomed.push(row.int(0)?);
                    }
                    Ok(())
                },
            )?;
            doomed.reverse();
            for id in &doomed {
                for table in ["grants", "entitlements", "logins", "resources", "resource_types", "syncs"] {
                    let column = if table == "syncs" { "id" } else { "sync_id" };
                    db.execute(&format!("DELETE FROM {table} WHERE {column} = ?1"), args![*id])?;
                }
            }
            Ok(doomed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreLocation;

    #[test]
    fn the_service_adopts_its_own_syncs_and_those_of_gone_owners_never_an_operators_live_one() {
        let dir = tempfile::tempdir().unwrap();
        let location = StoreLocation::Sqlite(dir.path().join("s.db"));
        let mut operator = Store::open(&location).unwrap();
        let mut service = Store::open(&location).unwrap().for_service();
        let by_operator = operator.begin_sync("t", "c", "1", "sha").unwrap();
        let by_service = service.begin_sync("t", "c", "1", "sha").unwrap();
        assert!(operator.run_by_operator(by_operator.sync).unwrap(), "an operator's sync, running in this live process");
        assert!(!operator.run_by_operator(by_service.sync).unwrap(), "the service's own");
        // Its process gone from this machine (no such pid), and silent: nobody runs it any more.
        let gone = format!("{}:{}:{:016x}", hostname(), i32::MAX, 7);
        operator.db.execute("UPDATE syncs SET owner = ?2 WHERE id = ?1", args![by_operator.sync, gone.as_str()]).unwrap();
        assert!(!operator.run_by_operator(by_operator.sync).unwrap());
    }
}
