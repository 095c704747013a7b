//! The local store: one SQLite file holding many syncs of many tenants. A sync's rows are written page by page
//! as they arrive; readers see a tenant's latest *complete* sync, so a failed or running sync never replaces
//! the last good one. Secrets are never written here.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use rusqlite::{Connection, OptionalExtension, params};

use crate::contract::model::*;
use crate::display::printable;
use crate::records::{self, GrantRow};

mod schedule;
pub use schedule::{Claim, RunRecord, ScheduleRow, TenantLease};

pub type SyncId = i64;

pub struct Store {
    conn: Connection,
    path: std::path::PathBuf,
    /// For an immutable read-only view: the file as it was when opened (see `check_unchanged`).
    snapshot: Option<FileStamp>,
}

/// One page for the `PageWriter`, with a label naming it in errors.
pub struct PageJob {
    pub resources: Vec<Resource>,
    pub entitlements: Vec<Entitlement>,
    pub grants: Vec<Grant>,
    pub checkpoint: String,
    pub label: String,
}

/// A page the `PageWriter` has committed.
pub struct PageDone {
    pub label: String,
    pub resources: usize,
    pub new_resources: usize,
}

/// Writes pages on a thread of its own, over its own connection, so that storing page N overlaps fetching page
/// N+1. One page at most waits in the queue, so memory stays at about two pages. Each page is still committed
/// with its checkpoint in one transaction.
pub struct PageWriter {
    jobs: Option<tokio::sync::mpsc::Sender<PageJob>>,
    done: tokio::sync::mpsc::UnboundedReceiver<Result<PageDone>>,
    thread: Option<std::thread::JoinHandle<Duration>>,
    pending: usize,
    /// Keeps the lease alive while pages are fetched; stops when the writer is finished or dropped.
    heartbeat: Option<Heartbeat>,
}

impl PageWriter {
    /// Queues a page (waiting while one is already queued). Returns the pages committed since the last call.
    pub async fn send(&mut self, job: PageJob) -> Result<Vec<PageDone>> {
        let done = self.collect(false).await?;
        let jobs = self.jobs.as_ref().ok_or_else(|| anyhow::anyhow!("the page writer is closed"))?;
        if jobs.send(job).await.is_err() {
            // The writer stopped: its error is waiting in `done`.
            self.collect(true).await?;
            bail!("the store's page writer stopped");
        }
        self.pending += 1;
        Ok(done)
    }

    /// Waits until every queued page is committed.
    pub async fn flush(&mut self) -> Result<Vec<PageDone>> {
        self.collect(true).await
    }

    async fn collect(&mut self, wait: bool) -> Result<Vec<PageDone>> {
        let mut out = Vec::new();
        while self.pending > 0 {
            let next = if wait { self.done.recv().await } else { self.done.try_recv().ok() };
            let Some(result) = next else { break };
            self.pending -= 1;
            out.push(result?);
        }
        Ok(out)
    }

    /// Commits what is queued, stops the thread, and says how long it spent writing.
    pub async fn finish(mut self) -> Result<(Vec<PageDone>, Duration)> {
        let done = self.flush().await;
        self.jobs = None;
        self.heartbeat = None;
        let busy = self.thread.take().map(|t| t.join().unwrap_or_default()).unwrap_or_default();
        Ok((done?, busy))
    }
}

/// Renews a lease every `HEARTBEAT` on a thread and connection of its own, so a long call into the component
/// (minutes, with retries) does not make a live sync look dead. Dropping it stops the thread.
struct Heartbeat {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Heartbeat {
    fn start(store: Store, lease: Lease) -> Result<Self> {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name("sync-heartbeat".into()).spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(HEARTBEAT) {
                // A failed renewal is not fatal here: the next page commit checks the lease and says why.
                let _ = store.conn.execute(
                    "UPDATE syncs SET heartbeat_ms = ?3 WHERE id = ?1 AND owner = ?2 AND state = 'running'",
                    params![lease.sync, lease.owner, now_ms()],
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

/// How long a connection waits for another's lock before it reports the store busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `step` again while SQLite answers "busy" or "locked" without having waited (it does not wait where
/// waiting could deadlock, as when a new file switches to WAL), up to `BUSY_TIMEOUT`.
fn retry_busy<T>(mut step: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match step() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(rand::random_range(5..50)));
            }
            other => return other,
        }
    }
}

/// Brings the schema to `SCHEMA_VERSION` in one immediate transaction, so that of many processes opening a
/// new store at once one migrates and the others wait, then find it done.
fn migrate(conn: &Connection) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    if version > SCHEMA_VERSION {
        bail!("it was written by a newer connector-harness (schema {version}; this one writes {SCHEMA_VERSION})");
    }
    Ok(retry_busy(|| {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let migrated = (|| {
            let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if version < 1 {
                conn.execute_batch(SCHEMA_V1)?;
            }
            if version < 2 {
                conn.execute_batch(SCHEMA_V2)?;
            }
            if version < 3 {
                conn.execute_batch(SCHEMA_V3)?;
            }
            if version < 4 {
                conn.execute_batch(schedule::SCHEMA_V4)?;
            }
            conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
        })();
        match migrated {
            Ok(()) => conn.execute_batch("COMMIT"),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    })?)
}

/// How a reader opens the store. A reader that may write the file and its directory shares the writers' locks
/// like any connection (any `-wal` and `-shm` it creates get the store's own permissions and owner). One that
/// may not must never create those files (another user's would block the owner's next sync): it uses the
/// writers' `-shm` when a writer has one open, and otherwise reads the file as immutable and checks afterwards
/// that nobody wrote meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadMode {
    Shared,
    Immutable,
}

impl ReadMode {
    fn of(path: &Path) -> Self {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if (writable(path) && writable(dir)) || wal_path(path).exists() { ReadMode::Shared } else { ReadMode::Immutable }
    }
}

/// The write-ahead log SQLite keeps beside a store in WAL mode while a writer has it open.
fn wal_path(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}-wal", path.display()))
}

/// Whether this process may write `path` (by its real user, as the kernel would decide).
fn writable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: a valid NUL-terminated path; access only reads it.
    unsafe { libc::access(c_path.as_ptr(), libc::W_OK) == 0 }
}

/// A path as the path part of an SQLite `file:` URI.
fn uri_path(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let text = absolute.display().to_string();
    text.replace('%', "%25").replace('?', "%3F").replace('#', "%23")
}

/// What changes when a store file is written: its size and modification time, and whether a `-wal` exists.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    wal: bool,
}

impl FileStamp {
    fn of(path: &Path) -> Result<Self> {
        let metadata = std::fs::metadata(path)?;
        Ok(Self { len: metadata.len(), modified: metadata.modified().ok(), wal: wal_path(path).exists() })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncInfo {
    pub id: SyncId,
    pub tenant: String,
    pub state: String,
    pub connector: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncCounts {
    /// Resources per type, by type id.
    pub resources: Vec<(String, u64)>,
    pub entitlements: u64,
    pub grants: u64,
}

/// A sync's counts in a few words: `1500 user, 163 group; 163 entitlements, 1500 grants`.
impl std::fmt::Display for SyncCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let types: Vec<String> = self.resources.iter().map(|(t, n)| format!("{n} {}", printable(t, 256))).collect();
        write!(f, "{}; {} entitlements, {} grants", types.join(", "), self.entitlements, self.grants)
    }
}

impl SyncCounts {
    pub fn add(&mut self, resource_type: &str, resources: u64, entitlements: u64, grants: u64) {
        match self.resources.iter_mut().find(|(t, _)| t == resource_type) {
            Some((_, n)) => *n += resources,
            None => self.resources.push((resource_type.to_string(), resources)),
        }
        self.entitlements += entitlements;
        self.grants += grants;
    }
}

/// The schema's version, kept in SQLite's `user_version`: 0 is a new file, 1 the first schema (written before
/// versions were recorded), 2 adds the sync's owner and heartbeat and the `interrupted` state, 3 why a grant is
/// immutable, 4 the service's schedule (`schedule.rs`).
const SCHEMA_VERSION: i64 = 4;

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS syncs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    connector TEXT NOT NULL,
    connector_version TEXT NOT NULL,
    component_sha256 TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'complete', 'failed')),
    started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at TEXT,
    error TEXT,
    checkpoint TEXT,
    requests INTEGER,
    bytes_received INTEGER
);
CREATE INDEX IF NOT EXISTS syncs_by_tenant ON syncs (tenant, state, id);
CREATE TABLE IF NOT EXISTS resource_types (
    sync_id INTEGER NOT NULL REFERENCES syncs (id),
    id TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (sync_id, id)
) WITHOUT ROWID;
-- A rowid table: rows are large (the JSON line), which WITHOUT ROWID handles badly.
CREATE TABLE IF NOT EXISTS resources (
    sync_id INTEGER NOT NULL REFERENCES syncs (id),
    resource_type TEXT NOT NULL,
    id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (sync_id, resource_type, id)
);
CREATE TABLE IF NOT EXISTS entitlements (
    sync_id INTEGER NOT NULL REFERENCES syncs (id),
    id TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (sync_id, id)
) WITHOUT ROWID;
-- A grant is its entitlement and principal; keyed so, the key doubles as the index by entitlement.
CREATE TABLE IF NOT EXISTS grants (
    sync_id INTEGER NOT NULL REFERENCES syncs (id),
    entitlement_id TEXT NOT NULL,
    principal_type TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (sync_id, entitlement_id, principal_type, principal_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS grants_by_principal ON grants (sync_id, principal_type, principal_id);
";

/// Version 2: `syncs` rebuilt with who runs a sync and when it last said so, and the `interrupted` state.
const SCHEMA_V2: &str = "
CREATE TABLE syncs_v2 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    connector TEXT NOT NULL,
    connector_version TEXT NOT NULL,
    component_sha256 TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'complete', 'failed', 'interrupted')),
    started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at TEXT,
    error TEXT,
    checkpoint TEXT,
    requests INTEGER,
    bytes_received INTEGER,
    owner TEXT,
    heartbeat_ms INTEGER
);
INSERT INTO syncs_v2 (id, tenant, connector, connector_version, component_sha256, state, started_at, finished_at, error, checkpoint, requests, bytes_received)
    SELECT id, tenant, connector, connector_version, component_sha256, state, started_at, finished_at, error, checkpoint, requests, bytes_received FROM syncs;
DROP TABLE syncs;
ALTER TABLE syncs_v2 RENAME TO syncs;
CREATE INDEX syncs_by_tenant ON syncs (tenant, state, id);
";

/// Version 3: a grant the source derives (and the connector cannot revoke) says why.
const SCHEMA_V3: &str = "ALTER TABLE grants ADD COLUMN immutable TEXT;";

/// How often a running sync says it is alive, and how long without a word makes it presumed dead (on another
/// machine; on this one, a sync whose process is gone is dead at once).
pub const HEARTBEAT: Duration = Duration::from_secs(5);
pub const LEASE_EXPIRY: Duration = Duration::from_secs(30);

/// A running sync held by this process: every write to it names the owner, and is refused once another
/// process has taken the sync over.
#[derive(Debug, Clone)]
pub struct Lease {
    pub sync: SyncId,
    owner: String,
}

impl Lease {
    fn new(sync: SyncId) -> Self {
        Self { sync, owner: format!("{}:{}:{:016x}", hostname(), std::process::id(), rand::random::<u64>()) }
    }
}

/// Whether a running sync's owner still holds it: a process that is not gone from this machine, heard from
/// within `LEASE_EXPIRY`.
fn held_by_live_owner(owner: Option<&str>, heartbeat_ms: Option<i64>) -> bool {
    owner.is_some_and(|owner| !owner_is_gone(owner)) && silence(heartbeat_ms) < LEASE_EXPIRY
}

/// How long since a sync's owner was last heard from.
fn silence(heartbeat_ms: Option<i64>) -> Duration {
    Duration::from_millis(now_ms().saturating_sub(heartbeat_ms.unwrap_or(0)).max(0) as u64)
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

pub fn hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that much.
    let ok = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) } == 0;
    let end = buffer.iter().position(|b| *b == 0).unwrap_or(buffer.len());
    if ok { String::from_utf8_lossy(&buffer[..end]).into_owned() } else { "unknown-host".into() }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Store {
    /// Opens or creates the store for writing, bringing its schema up to date. Safe when many processes create
    /// or open the same file at once: each step either waits for the others (busy timeout) or is retried.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            bail!("cannot open store {}: directory {} does not exist", path.display(), dir.display());
        }
        let conn = Connection::open(path).with_context(|| format!("cannot open store {}", path.display()))?;
        // Many tenants may write at once (`sync --tenants`); each commit is one page, so waits are short.
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL with NORMAL sync is durable at each commit's checkpoint and fast; a larger page cache keeps the
        // indexes of a big sync in memory while it is written. Switching a new file to WAL needs it alone for
        // a moment, and SQLite does not wait for that: retry.
        retry_busy(|| conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536;"))
            .map_err(anyhow::Error::from)
            .and_then(|()| migrate(&conn))
            .with_context(|| format!("cannot write store {}", path.display()))?;
        Ok(Self { conn, path: path.to_path_buf(), snapshot: None })
    }

    /// A writer of the lease's pages on its own thread and connection, with the lease's heartbeat on another
    /// (see `PageWriter`).
    pub fn page_writer(&self, lease: &Lease) -> Result<PageWriter> {
        let mut store = Store::open(&self.path)?;
        let heartbeat = Heartbeat::start(Store::open(&self.path)?, lease.clone())?;
        let (jobs, mut queue) = tokio::sync::mpsc::channel::<PageJob>(1);
        let (report, done) = tokio::sync::mpsc::unbounded_channel();
        let lease = lease.clone();
        let thread = std::thread::Builder::new().name("page-writer".into()).spawn(move || {
            let mut busy = Duration::ZERO;
            while let Some(job) = queue.blocking_recv() {
                let started = Instant::now();
                let result = store.put_page(&lease, &job.resources, &job.entitlements, &job.grants, &job.checkpoint);
                busy += started.elapsed();
                let failed = result.is_err();
                let _ = report.send(result.map(|new_resources| PageDone { label: job.label, resources: job.resources.len(), new_resources }));
                if failed {
                    break;
                }
            }
            busy
        })?;
        Ok(PageWriter { jobs: Some(jobs), done, thread: Some(thread), pending: 0, heartbeat: Some(heartbeat) })
    }

    /// Opens an existing store for reading, and only reading: it works on a store the reader cannot write, and
    /// leaves nothing behind that could get in a writer's way (see `ReadMode`).
    pub fn open_existing(path: &Path) -> Result<Self> {
        if !path.is_file() {
            bail!("no store at {}: run `connector-harness sync` first", path.display());
        }
        let (mut flags, uri, snapshot) = match ReadMode::of(path) {
            // Opened for writing so that, as the last connection, it can remove the -wal and -shm on close;
            // `query_only` keeps it a reader.
            ReadMode::Shared => (rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE, format!("file:{}", uri_path(path)), None),
            ReadMode::Immutable => (rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY, format!("file:{}?mode=ro&immutable=1", uri_path(path)), Some(FileStamp::of(path)?)),
        };
        flags |= rusqlite::OpenFlags::SQLITE_OPEN_URI | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&uri, flags).with_context(|| format!("cannot open store {}", path.display()))?;
        conn.pragma_update(None, "query_only", true)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| anyhow::anyhow!("cannot read store {}: {e}", path.display()))?;
        let has_schema: bool = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'syncs'", [], |r| r.get::<_, i64>(0))
            .map(|n| n > 0)
            .map_err(|e| anyhow::anyhow!("cannot read store {}: {e}", path.display()))?;
        if !has_schema {
            bail!("{} is not a connector-harness store", path.display());
        }
        if version > SCHEMA_VERSION {
            bail!("store {} was written by a newer connector-harness (schema {version}; this one reads up to {SCHEMA_VERSION})", path.display());
        }
        Ok(Self { conn, path: path.to_path_buf(), snapshot })
    }

    /// For a reader that could not share the writers' locks (an immutable view): an error if a writer changed
    /// the file while it was read, since what was read may then mix two states.
    pub fn check_unchanged(&self) -> Result<()> {
        match &self.snapshot {
            Some(before) if FileStamp::of(&self.path).ok().as_ref() != Some(before) => {
                bail!("store {} was written to while it was read, and this reader cannot share its locks; read it again", self.path.display())
            }
            _ => Ok(()),
        }
    }

    /// Starts a sync held by this process.
    pub fn begin_sync(&mut self, tenant: &str, connector: &str, version: &str, sha256: &str) -> Result<Lease> {
        let mut lease = Lease::new(0);
        self.conn.execute(
            "INSERT INTO syncs (tenant, connector, connector_version, component_sha256, state, owner, heartbeat_ms) VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6)",
            params![tenant, connector, version, sha256, lease.owner, now_ms()],
        )?;
        lease.sync = self.conn.last_insert_rowid();
        Ok(lease)
    }

    pub fn put_resource_types(&mut self, sync: SyncId, types: &[ResourceType], capabilities: &[ResourceTypeCapabilities]) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut insert = tx.prepare_cached("INSERT OR REPLACE INTO resource_types (sync_id, id, data) VALUES (?1, ?2, ?3)")?;
            for rt in types {
                let caps = capabilities.iter().find(|c| c.resource_type == rt.id);
                insert.execute(params![sync, rt.id, records::resource_type(rt, caps).to_string()])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Writes one page in one transaction, with the checkpoint that says the page is in, if the lease still
    /// holds the sync. Returns how many of the page's resources this sync had not stored before.
    pub fn put_page(&mut self, lease: &Lease, resources: &[Resource], entitlements: &[Entitlement], grants: &[Grant], checkpoint: &str) -> Result<usize> {
        let sync = lease.sync;
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let held = tx.execute(
            "UPDATE syncs SET checkpoint = ?3, heartbeat_ms = ?4 WHERE id = ?1 AND owner = ?2 AND state = 'running'",
            params![sync, lease.owner, checkpoint, now_ms()],
        )?;
        if held == 0 {
            bail!("sync {sync} was taken over by another process; this one stops writing to it");
        }
        let mut new_resources = 0;
        {
            // Insert; a resource this sync already has (a re-listed page) is updated instead, and not counted as new.
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO resources (sync_id, resource_type, id, display_name, data) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut update = tx.prepare_cached("UPDATE resources SET display_name = ?4, data = ?5 WHERE sync_id = ?1 AND resource_type = ?2 AND id = ?3")?;
            for r in resources {
                let values = params![sync, r.id.resource_type, r.id.id, r.display_name, records::resource_line(r)];
                if insert.execute(values)? == 1 {
                    new_resources += 1;
                } else {
                    update.execute(values)?;
                }
            }
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO entitlements (sync_id, id, resource_type, resource_id, data) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for e in entitlements {
                insert.execute(params![sync, e.id, e.resource.resource_type, e.resource.id, records::entitlement(e).to_string()])?;
            }
            // One grant reported twice (a user listed as a group's member, and again through a nested group) keeps
            // its immutable mark if either report carries one: a derived membership stays derived.
            let mut insert = tx.prepare_cached(
                "INSERT INTO grants (sync_id, entitlement_id, principal_type, principal_id, id, immutable) VALUES (?1, ?3, ?4, ?5, ?2, ?6)
                 ON CONFLICT (sync_id, entitlement_id, principal_type, principal_id)
                 DO UPDATE SET id = excluded.id, immutable = COALESCE(excluded.immutable, grants.immutable)",
            )?;
            for g in grants {
                insert.execute(params![sync, g.id, g.entitlement, g.principal.resource_type, g.principal.id, g.immutable])?;
            }
        }
        tx.commit()?;
        Ok(new_resources)
    }

    /// The tenant's newest sync if it is unfinished (running when the host died, interrupted, or failed) and
    /// newer than its latest complete sync: (sync, component sha256, checkpoint).
    pub fn resumable(&self, tenant: &str) -> Result<Option<(SyncInfo, String, Option<String>)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, tenant, state, connector, started_at, finished_at, error, component_sha256, checkpoint FROM syncs
                 WHERE tenant = ?1 ORDER BY id DESC LIMIT 1",
                [tenant],
                |row| Ok((Self::sync_info(row)?, row.get::<_, String>(7)?, row.get::<_, Option<String>>(8)?)),
            )
            .optional()?
            .filter(|(info, _, _)| info.state != "complete"))
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
        let lease = Lease::new(sync);
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let (state, owner, heartbeat): (String, Option<String>, Option<i64>) = tx
            .query_row("SELECT state, owner, heartbeat_ms FROM syncs WHERE id = ?1", [sync], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?
            .ok_or_else(|| anyhow::anyhow!("there is no sync {sync} in this store"))?;
        if state == "complete" {
            bail!("sync {sync} is complete; a complete sync is never reopened");
        }
        if unless_alive && state == "running" && held_by_live_owner(owner.as_deref(), heartbeat) {
            bail!(
                "sync {sync} is still running in another process (last heard from {:.0} s ago); let it finish, or resume once it has stopped",
                silence(heartbeat).as_secs_f64()
            );
        }
        tx.execute(
            "UPDATE syncs SET state = 'running', finished_at = NULL, error = NULL, owner = ?2, heartbeat_ms = ?3 WHERE id = ?1",
            params![sync, lease.owner, now_ms()],
        )?;
        tx.commit()?;
        Ok(lease)
    }

    /// Marks the lease's sync complete: from now on it is what readers see.
    pub fn finish_sync(&mut self, lease: &Lease, requests: u64, bytes_received: u64) -> Result<()> {
        self.end_sync(lease, "complete", None, Some((requests, bytes_received)))
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
        let ended = self.conn.execute(
            "UPDATE syncs SET state = ?3, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), error = ?4,
             checkpoint = CASE WHEN ?3 = 'complete' THEN NULL ELSE checkpoint END,
             requests = coalesce(?5, requests), bytes_received = coalesce(?6, bytes_received)
             WHERE id = ?1 AND owner = ?2 AND state = 'running'",
            params![lease.sync, lease.owner, state, error, requests, bytes],
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
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let doomed: Vec<SyncId> = {
            let mut stmt = tx.prepare(
                "SELECT id, state, owner, heartbeat_ms FROM syncs WHERE tenant = ?1 AND id < (
                     SELECT coalesce(max(id), 0) FROM syncs WHERE tenant = ?1 AND state = 'complete')
                 ORDER BY id DESC",
            )?;
            let rows = stmt.query_map([tenant], |r| Ok((r.get::<_, SyncId>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?, r.get::<_, Option<i64>>(3)?)))?;
            let mut complete_kept = 1; // the newest complete sync, which the query leaves out
            let mut doomed = Vec::new();
            for row in rows {
                let (id, state, owner, heartbeat) = row?;
                let delete = match state.as_str() {
                    "complete" => {
                        complete_kept += 1;
                        complete_kept > keep
                    }
                    "running" => !held_by_live_owner(owner.as_deref(), heartbeat),
                    _ => true,
                };
                if delete {
                    doomed.push(id);
                }
            }
            doomed.reverse();
            doomed
        };
        for id in &doomed {
            for table in ["grants", "entitlements", "resources", "resource_types", "syncs"] {
                let column = if table == "syncs" { "id" } else { "sync_id" };
                tx.execute(&format!("DELETE FROM {table} WHERE {column} = ?1"), [id])?;
            }
        }
        tx.commit()?;
        Ok(doomed)
    }

    /// Every tenant with a sync in the store.
    pub fn tenants(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare("SELECT DISTINCT tenant FROM syncs ORDER BY tenant")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn sync_info(row: &rusqlite::Row<'_>) -> rusqlite::Result<SyncInfo> {
        Ok(SyncInfo {
            id: row.get(0)?,
            tenant: row.get(1)?,
            state: row.get(2)?,
            connector: row.get(3)?,
            started_at: row.get(4)?,
            finished_at: row.get(5)?,
            error: row.get(6)?,
        })
    }

    /// The tenant's complete syncs, newest first.
    pub fn complete_syncs(&self, tenant: &str, limit: usize) -> Result<Vec<SyncInfo>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, tenant, state, connector, started_at, finished_at, error FROM syncs
             WHERE tenant = ?1 AND state = 'complete' ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![tenant, limit as i64], Self::sync_info)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn latest_complete(&self, tenant: &str) -> Result<SyncInfo> {
        self.complete_syncs(tenant, 1)?
            .pop()
            .ok_or_else(|| anyhow::anyhow!("tenant `{tenant}` has no complete sync in this store"))
    }

    pub fn sync(&self, id: SyncId) -> Result<Option<SyncInfo>> {
        Ok(self
            .conn
            .query_row("SELECT id, tenant, state, connector, started_at, finished_at, error FROM syncs WHERE id = ?1", [id], Self::sync_info)
            .optional()?)
    }

    pub fn counts(&self, sync: SyncId) -> Result<SyncCounts> {
        let mut stmt = self.conn.prepare(
            "SELECT rt.id, (SELECT count(*) FROM resources r WHERE r.sync_id = rt.sync_id AND r.resource_type = rt.id)
             FROM resource_types rt WHERE rt.sync_id = ?1 ORDER BY rt.id",
        )?;
        let resources = stmt.query_map([sync], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?.collect::<rusqlite::Result<_>>()?;
        let count = |table: &str| -> Result<u64> {
            Ok(self.conn.query_row(&format!("SELECT count(*) FROM {table} WHERE sync_id = ?1"), [sync], |r| r.get::<_, i64>(0))? as u64)
        };
        Ok(SyncCounts { resources, entitlements: count("entitlements")?, grants: count("grants")? })
    }

    /// Ids of one type's resources in a sync, for per-resource calls.
    pub fn resource_ids(&self, sync: SyncId, resource_type: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached("SELECT id FROM resources WHERE sync_id = ?1 AND resource_type = ?2 ORDER BY id")?;
        let ids = stmt.query_map(params![sync, resource_type], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    pub fn has_resource_type(&self, sync: SyncId, resource_type: &str) -> Result<bool> {
        Ok(self.conn.query_row("SELECT count(*) FROM resource_types WHERE sync_id = ?1 AND id = ?2", params![sync, resource_type], |r| r.get::<_, i64>(0))? > 0)
    }

    /// Calls `each` with every resource's JSON line (of one type, if given), ordered by type and id.
    pub fn for_each_resource(&self, sync: SyncId, resource_type: Option<&str>, mut each: impl FnMut(&str) -> Result<()>) -> Result<()> {
        let mut stmt = self.conn.prepare(
            "SELECT data FROM resources WHERE sync_id = ?1 AND (?2 IS NULL OR resource_type = ?2) ORDER BY resource_type, id",
        )?;
        let mut rows = stmt.query(params![sync, resource_type])?;
        while let Some(row) = rows.next()? {
            each(row.get_ref(0)?.as_str()?)?;
        }
        Ok(())
    }

    pub fn for_each_grant(&self, sync: SyncId, entitlement: Option<&str>, principal: Option<(&str, &str)>, mut each: impl FnMut(GrantRow) -> Result<()>) -> Result<()> {
        let (ptype, pid) = principal.unzip();
        let mut stmt = self.conn.prepare(
            "SELECT id, entitlement_id, principal_type, principal_id, immutable FROM grants WHERE sync_id = ?1
             AND (?2 IS NULL OR entitlement_id = ?2) AND (?3 IS NULL OR (principal_type = ?3 AND principal_id = ?4))
             ORDER BY entitlement_id, principal_type, principal_id",
        )?;
        let mut rows = stmt.query(params![sync, entitlement, ptype, pid])?;
        while let Some(row) = rows.next()? {
            each(GrantRow { id: row.get(0)?, entitlement: row.get(1)?, principal_type: row.get(2)?, principal_id: row.get(3)?, immutable: row.get(4)? })?;
        }
        Ok(())
    }

    /// Calls `each(principal, resource)` for every grant, as `type:id` keys of the principal and of the resource
    /// whose entitlement it holds.
    pub fn for_each_membership(&self, sync: SyncId, mut each: impl FnMut(String, String) -> Result<()>) -> Result<()> {
        let mut stmt = self.conn.prepare(
            "SELECT g.principal_type || ':' || g.principal_id, e.resource_type || ':' || e.resource_id
             FROM grants g JOIN entitlements e ON e.sync_id = g.sync_id AND e.id = g.entitlement_id
             WHERE g.sync_id = ?1 ORDER BY g.entitlement_id, g.principal_type, g.principal_id",
        )?;
        let mut rows = stmt.query([sync])?;
        while let Some(row) = rows.next()? {
            each(row.get(0)?, row.get(1)?)?;
        }
        Ok(())
    }

    /// Writes a sync as JSON lines: resource types, resources, entitlements, grants.
    pub fn export_jsonl(&self, sync: SyncId, out: &mut dyn std::io::Write) -> Result<()> {
        let mut stmt = self.conn.prepare("SELECT data FROM resource_types WHERE sync_id = ?1 ORDER BY id")?;
        let mut rows = stmt.query([sync])?;
        while let Some(row) = rows.next()? {
            writeln!(out, "{}", row.get_ref(0)?.as_str()?)?;
        }
        self.for_each_resource(sync, None, |line| Ok(writeln!(out, "{line}")?))?;
        let mut stmt = self.conn.prepare("SELECT data FROM entitlements WHERE sync_id = ?1 ORDER BY id")?;
        let mut rows = stmt.query([sync])?;
        while let Some(row) = rows.next()? {
            writeln!(out, "{}", row.get_ref(0)?.as_str()?)?;
        }
        self.for_each_grant(sync, None, None, |g| {
            Ok(writeln!(out, "{}", records::grant_line(&g))?)
        })?;
        Ok(())
    }

    /// What changed from sync `old` to sync `new`: one line per added (+), removed (-) or changed (~) row.
    pub fn diff(&self, old: SyncId, new: SyncId, out: &mut dyn std::io::Write) -> Result<DiffCounts> {
        let mut counts = DiffCounts::default();
        // (kind, table, the key columns, the column that must be equal for the row to be unchanged). A grant is
        // its key, and changes only in whether the source derives it.
        let tables: [(&str, &str, &[&str], &str); 3] = [
            ("resource", "resources", &["resource_type", "id"], "data"),
            ("entitlement", "entitlements", &["id"], "data"),
            ("grant", "grants", &["entitlement_id", "principal_type", "principal_id"], "immutable"),
        ];
        for (kind, table, key, data) in tables {
            let same_key = key.iter().map(|c| format!("o.{c} = n.{c}")).collect::<Vec<_>>().join(" AND ");
            let changed = format!("o.{data} IS NOT n.{data}");
            let label = |a: &str| key.iter().map(|c| format!("{a}.{c}")).collect::<Vec<_>>().join(" || ':' || ");
            let (new_label, old_label) = (label("n"), label("o"));
            let sql = format!(
                "SELECT '+', {new_label} FROM {table} n WHERE n.sync_id = ?2 AND NOT EXISTS (SELECT 1 FROM {table} o WHERE o.sync_id = ?1 AND {same_key})
                 UNION ALL
                 SELECT '-', {old_label} FROM {table} o WHERE o.sync_id = ?1 AND NOT EXISTS (SELECT 1 FROM {table} n WHERE n.sync_id = ?2 AND {same_key})
                 UNION ALL
                 SELECT '~', {new_label} FROM {table} n JOIN {table} o ON o.sync_id = ?1 AND {same_key} WHERE n.sync_id = ?2 AND ({changed})
                 ORDER BY 2, 1"
            );
            let mut stmt = self.conn.prepare(&sql)?;
            let mut rows = stmt.query(params![old, new])?;
            while let Some(row) = rows.next()? {
                let sign: String = row.get(0)?;
                let id: String = row.get(1)?;
                match sign.as_str() {
                    "+" => counts.added += 1,
                    "-" => counts.removed += 1,
                    _ => counts.changed += 1,
                }
                // Ids come from the source: escaped, so none can rewrite the terminal.
                writeln!(out, "{sign} {kind} {}", printable(&id, usize::MAX))?;
            }
        }
        Ok(counts)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffCounts {
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(store: &mut Store, lease: &Lease, ids: &[&str]) -> Result<usize> {
        let resources: Vec<Resource> = ids.iter().map(|id| account(id)).collect();
        store.put_page(lease, &resources, &[], &[], "{}")
    }

    fn account(id: &str) -> Resource {
        Resource {
            id: ResourceId { resource_type: "account".into(), id: id.into() },
            parent: None,
            display_name: format!("Account {id}"),
            description: None,
            status: ResourceStatus { kind: StatusKind::Enabled, detail: None },
            user: None,
            group: None,
            profile: "{}".into(),
            created_at: None,
            updated_at: None,
        }
    }

    #[test]
    fn many_processes_creating_one_store_at_once_all_succeed() {
        // Four writers racing to create, migrate and write the same new file, many times over; before creation
        // and migration took an immediate transaction, about one run in a hundred failed with "database is locked".
        for round in 0..150 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("store.db");
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
            let writers: Vec<_> = (0..4)
                .map(|n| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || -> Result<()> {
                        barrier.wait();
                        let mut store = Store::open(&path)?;
                        let lease = store.begin_sync(&format!("t{n}"), "c", "1", "sha")?;
                        page(&mut store, &lease, &["1", "2"])?;
                        store.finish_sync(&lease, 1, 1)
                    })
                })
                .collect();
            for writer in writers {
                writer.join().unwrap().unwrap_or_else(|e| panic!("round {round}: {e:#}"));
            }
            let store = Store::open_existing(&path).unwrap();
            assert_eq!(store.tenants().unwrap(), ["t0", "t1", "t2", "t3"]);
        }
    }

    #[test]
    fn a_sync_is_written_only_by_its_owner_and_a_complete_one_never_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let first = store.begin_sync("t", "c", "1", "sha").unwrap();
        // Its owner is this live process and heard from just now: nobody may take it over.
        let refused = store.take_over(first.sync).unwrap_err().to_string();
        assert_eq!(refused, "sync 1 is still running in another process (last heard from 0 s ago); let it finish, or resume once it has stopped");

        // Once silent past the lease's expiry (a process on another machine that died), it may be taken over,
        // and then its first owner can neither write to it nor end it.
        store.conn.execute("UPDATE syncs SET heartbeat_ms = heartbeat_ms - ?1", [LEASE_EXPIRY.as_millis() as i64 + 1]).unwrap();
        let second = store.take_over(first.sync).unwrap();
        assert_eq!(page(&mut store, &first, &["1"]).unwrap_err().to_string(), "sync 1 was taken over by another process; this one stops writing to it");
        assert_eq!(store.fail_sync(&first, "boom").unwrap_err().to_string(), "sync 1 was taken over by another process; this one leaves it alone");
        assert_eq!(page(&mut store, &second, &["1"]).unwrap(), 1);
        store.finish_sync(&second, 1, 1).unwrap();
        assert_eq!(store.sync(1).unwrap().unwrap().error, None, "the first owner's error never landed");
        assert_eq!(store.take_over(1).unwrap_err().to_string(), "sync 1 is complete; a complete sync is never reopened");

        // A sync whose process is gone from this machine is free at once.
        let third = store.begin_sync("t", "c", "1", "sha").unwrap();
        let dead = format!("{}:{}:0", hostname(), i32::MAX);
        store.conn.execute("UPDATE syncs SET owner = ?2 WHERE id = ?1", params![third.sync, dead]).unwrap();
        store.take_over(third.sync).unwrap();
    }

    #[test]
    fn pruning_keeps_the_newest_complete_syncs_and_what_can_still_be_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let mut run = |state: &str| {
            let lease = store.begin_sync("t", "c", "1", "sha").unwrap();
            page(&mut store, &lease, &["1", "2"]).unwrap();
            match state {
                "complete" => store.finish_sync(&lease, 1, 1).unwrap(),
                "failed" => store.fail_sync(&lease, "boom").unwrap(),
                _ => {}
            }
            lease.sync
        };
        // 1 complete, 2 failed, 3 complete, 4 complete, 5 running (live), 6 complete, 7 failed (resumable).
        let ids: Vec<SyncId> = ["complete", "failed", "complete", "complete", "running", "complete", "failed"].iter().map(|s| run(s)).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5, 6, 7]);
        let other = store.begin_sync("u", "c", "1", "sha").unwrap();
        store.finish_sync(&other, 1, 1).unwrap();

        assert_eq!(store.prune("t", 3).unwrap(), [1, 2], "complete 3, 4, 6 kept; the live 5 and the resumable 7 too");
        assert_eq!(store.prune("t", 2).unwrap(), [3]);
        assert_eq!(store.complete_syncs("t", 10).unwrap().iter().map(|s| s.id).collect::<Vec<_>>(), [6, 4]);
        assert_eq!(store.resumable("t").unwrap().map(|(s, _, _)| s.id), Some(7));
        let rows: i64 = store.conn.query_row("SELECT count(*) FROM resources WHERE sync_id IN (1, 2, 3)", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 0, "their rows went with them");
        assert_eq!(store.complete_syncs("u", 10).unwrap().len(), 1, "other tenants are untouched");
    }

    #[test]
    fn a_store_of_the_first_schema_is_migrated_and_keeps_its_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SCHEMA_V1).unwrap();
            conn.execute("INSERT INTO syncs (tenant, connector, connector_version, component_sha256, state) VALUES ('t', 'c', '1', 'sha', 'complete')", []).unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.latest_complete("t").unwrap().id, 1);
        let lease = store.begin_sync("t", "c", "1", "sha").unwrap();
        store.interrupt_sync(&lease, "interrupted by SIGINT").unwrap();
        assert_eq!(store.sync(2).unwrap().unwrap().state, "interrupted");
    }
}
