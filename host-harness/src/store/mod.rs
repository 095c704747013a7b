//! The store: many syncs of many tenants, in one SQLite file (the embedded default) or one PostgreSQL database
//! (shared by many replicas). A sync's rows are written page by page as they arrive; readers see a tenant's
//! latest *complete* sync, so a failed or running sync never replaces the last good one. Secrets are never
//! written here. Every statement is written once for both (`db.rs`); opening and schemas are per store
//! (`sqlite.rs`, `postgres.rs`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::contract::model::*;
use crate::display::printable;
use crate::records::{self, GrantRow};

pub(crate) mod db;
mod postgres;
mod schedule;
mod sqlite;

use db::{Db, Row, args};
pub use schedule::{Claim, RunRecord, ScheduleRow, TenantLease, TenantState, Triggered};

pub type SyncId = i64;

/// Where a store is: an SQLite file (a path, or `sqlite:PATH`) or a PostgreSQL database (`postgres://…`, or a
/// libpq key=value string such as `host=db dbname=harness user=h`).
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    Sqlite(PathBuf),
    Postgres(String),
}

/// As `Display`: a PostgreSQL connection string may hold a password.
impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreLocation({self})")
    }
}

impl std::str::FromStr for StoreLocation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") || postgres::is_key_value(text) {
            return Ok(Self::Postgres(text.to_string()));
        }
        let path = text.strip_prefix("sqlite:").unwrap_or(text);
        if path.is_empty() {
            return Err("a store is a file path, sqlite:PATH or postgres://…".into());
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }
}

/// The location as messages show it: a PostgreSQL URL without its password.
impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => f.write_str(&postgres::display_url(url)),
        }
    }
}

impl StoreLocation {
    /// Whether the store exists already (a PostgreSQL database is assumed to).
    pub fn exists(&self) -> bool {
        match self {
            Self::Sqlite(path) => path.is_file(),
            Self::Postgres(_) => true,
        }
    }
}

pub struct Store {
    db: Db,
    location: StoreLocation,
    /// Whether the syncs this handle begins or adopts are the service's (`for_service`).
    service: bool,
    /// For an immutable read-only view of an SQLite file: the file as it was when opened (see `check_unchanged`).
    snapshot: Option<sqlite::FileStamp>,
}

/// One page for the `PageWriter`, with a label naming it in errors, and its resources' JSON lines.
pub struct PageJob {
    resources: Vec<Resource>,
    lines: Vec<String>,
    entitlements: Vec<Entitlement>,
    grants: Vec<Grant>,
    checkpoint: String,
    label: String,
}

impl PageJob {
    /// Renders the resources' lines here, on the caller's thread: the page writer is a sync's one serial step,
    /// and at concurrency 8 it sets the pace (BENCHMARKS.md, session 8).
    pub fn new(resources: Vec<Resource>, entitlements: Vec<Entitlement>, grants: Vec<Grant>, checkpoint: String, label: String) -> Self {
        let lines = resources.iter().map(records::resource_line).collect();
        Self { resources, lines, entitlements, grants, checkpoint, label }
    }
}

/// A page the `PageWriter` has committed.
pub struct PageDone {
    pub label: String,
    pub resources: usize,
    pub new_resources: usize,
}

/// Writes pages on a thread of its own, over its own connection, so that storing page N overlaps fetching page
/// N+1. At most `PAGES_QUEUED` pages wait, so that a sync's fetching does not stall on one slow commit, and
/// memory stays at a few pages. Each page is committed with its checkpoint; the pages waiting when the writer
/// gets to them are committed together, in one transaction, as they would be one after another.
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

/// A sync's grants that name something it does not hold (`Store::dangling_grants`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dangling {
    pub grants: u64,
    /// The first few of their ids.
    pub examples: Vec<String>,
}

impl std::fmt::Display for Dangling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let more = if self.grants > self.examples.len() as u64 { ", …" } else { "" };
        let examples: Vec<String> = self.examples.iter().map(|id| printable(id, 200)).collect();
        write!(f, "{} grants name a principal or entitlement the source did not list, kept as it says them (e.g. {}{more})", self.grants, examples.join(", "))
    }
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

/// How the owner of a service's sync ends: `host:pid:serve-<nonce>`.
const SERVICE_NONCE: &str = "serve-";

impl Lease {
    /// A lease of `sync` for this process; `service` marks it the service's.
    fn new(sync: SyncId, service: bool) -> Self {
        let tag = if service { SERVICE_NONCE } else { "" };
        Self { sync, owner: format!("{}:{}:{tag}{:016x}", hostname(), std::process::id(), rand::random::<u64>()) }
    }

    /// Whether `owner` is a service's (`new`).
    fn is_service(owner: &str) -> bool {
        owner.rsplit(':').next().is_some_and(|nonce| nonce.starts_with(SERVICE_NONCE))
    }
}

/// Whether a running sync's owner still holds it at `now` (the store's clock): a process that is not gone from
/// this machine, heard from within `LEASE_EXPIRY`.
fn held_by_live_owner(owner: Option<&str>, heartbeat_ms: Option<i64>, now: i64) -> bool {
    owner.is_some_and(|owner| !owner_is_gone(owner)) && silence(heartbeat_ms, now) < LEASE_EXPIRY
}

/// How long, at `now`, since a sync's owner was last heard from.
fn silence(heartbeat_ms: Option<i64>, now: i64) -> Duration {
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

/// Rows per multi-row INSERT: a page is written in a few statements (one round trip each to PostgreSQL), well
/// under both stores' limits on parameters (SQLite 32,766, PostgreSQL 65,535).
const ROWS_PER_INSERT: usize = 256;

/// Pages that may wait for the page writer, which commits those waiting together (see `PageWriter`).
const PAGES_QUEUED: usize = 4;

/// `rows` rows of `columns` numbered parameters: `(?1, ?2), (?3, ?4)`.
fn rows_of(columns: usize, rows: usize) -> String {
    let mut text = String::with_capacity(rows * columns * 6);
    for row in 0..rows {
        if row > 0 {
            text.push_str(", ");
        }
        text.push('(');
        for column in 0..columns {
            if column > 0 {
                text.push_str(", ");
            }
            text.push_str(&format!("?{}", row * columns + column + 1));
        }
        text.push(')');
    }
    text
}

/// The current time as the store records it in text: `2026-11-23T18:24:09.123Z`.
fn timestamp_now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

const SYNC_INFO_COLUMNS: &str = "id, tenant, state, connector, started_at, finished_at, error";

fn sync_info(row: &Row) -> Result<SyncInfo> {
    Ok(SyncInfo {
        id: row.int(0)?,
        tenant: row.string(1)?,
        state: row.string(2)?,
        connector: row.string(3)?,
        started_at: row.string(4)?,
        finished_at: row.opt_string(5)?,
        error: row.opt_string(6)?,
    })
}

impl Store {
    /// Opens or creates the store for writing, bringing its schema up to date. Safe when many processes create
    /// or open the same store at once.
    pub fn open(location: &StoreLocation) -> Result<Self> {
        let db = match location {
            StoreLocation::Sqlite(path) => Db::Sqlite(sqlite::open(path)?),
            StoreLocation::Postgres(url) => {
                let conn = postgres::PgConn::connect(url)?;
                postgres::migrate(&conn, sqlite::SCHEMA_VERSION).map_err(|e| anyhow::anyhow!("cannot write store {location}: {e:#}"))?;
                Db::Postgres(conn)
            }
        };
        Ok(Self { db, location: location.clone(), service: false, snapshot: None })
    }

    /// The same store, for `serve`: the syncs it begins or adopts are marked as the service's, which another
    /// replica holding the tenant's lease may adopt; an operator's own `sync` it never adopts while it runs.
    pub fn for_service(mut self) -> Self {
        self.service = true;
        self
    }

    /// Whether sync `sync` runs now in a process that is not the service's (an operator's `sync`): alive on this
    /// machine or heard from within `LEASE_EXPIRY` of the store's clock.
    pub fn run_by_operator(&self, sync: SyncId) -> Result<bool> {
        let Some(row) = self.db.row("SELECT state, owner, heartbeat_ms FROM syncs WHERE id = ?1", args![sync])? else { return Ok(false) };
        let (state, owner, heartbeat) = (row.text(0)?, row.opt_text(1)?, row.opt_int(2)?);
        let operator = owner.is_some_and(|owner| !Lease::is_service(owner));
        Ok(state == "running" && operator && held_by_live_owner(owner, heartbeat, self.db.now_ms()?))
    }

    /// Opens an existing store for reading, and only reading. An SQLite file it cannot write is read without
    /// leaving anything behind that could get in a writer's way (see `sqlite::open_existing`).
    pub fn open_existing(location: &StoreLocation) -> Result<Self> {
        match location {
            StoreLocation::Sqlite(path) => {
                let (conn, snapshot) = sqlite::open_existing(path)?;
                Ok(Self { db: Db::Sqlite(conn), location: location.clone(), service: false, snapshot })
            }
            StoreLocation::Postgres(url) => {
                let conn = postgres::PgConn::connect(url)?;
                postgres::check_schema(&conn, sqlite::SCHEMA_VERSION).map_err(|e| anyhow::anyhow!("cannot read store {location}: {e:#}"))?;
                Ok(Self { db: Db::Postgres(conn), location: location.clone(), service: false, snapshot: None })
            }
        }
    }

    /// A writer of the lease's pages on its own thread and connection, with the lease's heartbeat on another
    /// (see `PageWriter`).
    pub fn page_writer(&self, lease: &Lease) -> Result<PageWriter> {
        let store = Store::open(&self.location)?;
        let heartbeat = Heartbeat::start(Store::open(&self.location)?, lease.clone())?;
        let (jobs, mut queue) = tokio::sync::mpsc::channel::<PageJob>(PAGES_QUEUED);
        let (report, done) = tokio::sync::mpsc::unbounded_channel();
        let lease = lease.clone();
        let thread = std::thread::Builder::new().name("page-writer".into()).spawn(move || {
            let mut busy = Duration::ZERO;
            while let Some(first) = queue.blocking_recv() {
                let mut batch = vec![first];
                while batch.len() < PAGES_QUEUED
                    && let Ok(job) = queue.try_recv()
                {
                    batch.push(job);
                }
                let started = Instant::now();
                let result = store.db.transaction(|| batch.iter().map(|job| store.write_page(&lease, &job.resources, &job.lines, &job.entitlements, &job.grants, &job.checkpoint)).collect::<Result<Vec<_>>>());
                busy += started.elapsed();
                match result {
                    Ok(new) => {
                        for (job, new_resources) in batch.into_iter().zip(new) {
                            let _ = report.send(Ok(PageDone { label: job.label, resources: job.resources.len(), new_resources }));
                        }
                    }
                    Err(e) => {
                        let _ = report.send(Err(e));
                        break;
                    }
                }
            }
            busy
        })?;
        Ok(PageWriter { jobs: Some(jobs), done, thread: Some(thread), pending: 0, heartbeat: Some(heartbeat) })
    }

    /// For a reader that could not share the writers' locks (an immutable view): an error if a writer changed
    /// the file while it was read, since what was read may then mix two states.
    pub fn check_unchanged(&self) -> Result<()> {
        match (&self.snapshot, &self.location) {
            (Some(before), StoreLocation::Sqlite(path)) if sqlite::FileStamp::of(path).ok().as_ref() != Some(before) => {
                bail!("store {} was written to while it was read, and this reader cannot share its locks; read it again", path.display())
            }
            _ => Ok(()),
        }
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

    pub fn put_resource_types(&mut self, sync: SyncId, types: &[ResourceType], capabilities: &[ResourceTypeCapabilities]) -> Result<()> {
        self.db.transaction(|| {
            for rt in types {
                let caps = capabilities.iter().find(|c| c.resource_type == rt.id);
                self.db.execute(
                    "INSERT INTO resource_types (sync_id, id, data) VALUES (?1, ?2, ?3) ON CONFLICT (sync_id, id) DO UPDATE SET data = excluded.data",
                    args![sync, &rt.id, records::resource_type(rt, caps).to_string().as_str()],
                )?;
            }
            Ok(())
        })
    }

    /// Writes one page in one transaction, with the checkpoint that says the page is in, if the lease still
    /// holds the sync. Returns how many of the page's resources this sync had not stored before.
    pub fn put_page(&mut self, lease: &Lease, resources: &[Resource], entitlements: &[Entitlement], grants: &[Grant], checkpoint: &str) -> Result<usize> {
        let lines: Vec<String> = resources.iter().map(records::resource_line).collect();
        self.db.transaction(|| self.write_page(lease, resources, &lines, entitlements, grants, checkpoint))
    }

    /// `put_page` in the caller's transaction, with the resources' `lines` rendered.
    fn write_page(&self, lease: &Lease, resources: &[Resource], lines: &[String], entitlements: &[Entitlement], grants: &[Grant], checkpoint: &str) -> Result<usize> {
        let sync = lease.sync;
        let db = &self.db;
        let held = db.execute(
            &format!("UPDATE syncs SET checkpoint = ?3, heartbeat_ms = {} WHERE id = ?1 AND owner = ?2 AND state = 'running'", db.clock_sql()),
            args![sync, &lease.owner, checkpoint],
        )?;
        if held == 0 {
            bail!("sync {sync} was taken over by another process; this one stops writing to it");
        }
        // Insert; a resource this sync already has (a re-listed page) is updated instead, and not counted as new.
        let mut new_resources = 0;
        for (chunk, lines) in resources.chunks(ROWS_PER_INSERT).zip(lines.chunks(ROWS_PER_INSERT)) {
            let mut values = Vec::with_capacity(chunk.len() * 5);
            for (r, line) in chunk.iter().zip(lines) {
                values.extend_from_slice(args![sync, &r.id.resource_type, &r.id.id, &r.display_name, line.as_str()]);
            }
            let sql = format!("INSERT INTO resources (sync_id, resource_type, id, display_name, data) VALUES {} ON CONFLICT DO NOTHING RETURNING 1", rows_of(5, chunk.len()));
            let inserted = db.rows(&sql, &values)?.len();
            new_resources += inserted;
            if inserted < chunk.len() {
                for row in values.chunks(5) {
                    db.execute("UPDATE resources SET display_name = ?4, data = ?5 WHERE sync_id = ?1 AND resource_type = ?2 AND id = ?3", row)?;
                }
            }
        }
        // Reported twice in one page, an entitlement is its last report.
        let mut unique = std::collections::BTreeMap::new();
        for e in entitlements {
            unique.insert(e.id.as_str(), (e, records::entitlement(e).to_string()));
        }
        let unique: Vec<_> = unique.into_values().collect();
        for chunk in unique.chunks(ROWS_PER_INSERT) {
            let mut values = Vec::with_capacity(chunk.len() * 5);
            for (e, data) in chunk {
                values.extend_from_slice(args![sync, &e.id, &e.resource.resource_type, &e.resource.id, data.as_str()]);
            }
            let sql = format!(
                "INSERT INTO entitlements (sync_id, id, resource_type, resource_id, data) VALUES {}
                 ON CONFLICT (sync_id, id) DO UPDATE SET resource_type = excluded.resource_type, resource_id = excluded.resource_id, data = excluded.data",
                rows_of(5, chunk.len())
            );
            db.execute(&sql, &values)?;
        }
        // One grant reported twice (a user listed as a group's member, and again through a nested group) keeps
        // its immutable mark if either report carries one: a derived membership stays derived.
        let mut unique: std::collections::BTreeMap<(&str, &str, &str), (&str, Option<&str>)> = std::collections::BTreeMap::new();
        for g in grants {
            let key = (g.entitlement.as_str(), g.principal.resource_type.as_str(), g.principal.id.as_str());
            let earlier = unique.get(&key).and_then(|(_, immutable)| *immutable);
            unique.insert(key, (g.id.as_str(), g.immutable.as_deref().or(earlier)));
        }
        let unique: Vec<_> = unique.into_iter().collect();
        for chunk in unique.chunks(ROWS_PER_INSERT) {
            let mut values = Vec::with_capacity(chunk.len() * 6);
            for ((entitlement, principal_type, principal_id), (id, immutable)) in chunk {
                values.extend_from_slice(args![sync, *entitlement, *principal_type, *principal_id, *id, *immutable]);
            }
            let sql = format!(
                "INSERT INTO grants (sync_id, entitlement_id, principal_type, principal_id, id, immutable) VALUES {}
                 ON CONFLICT (sync_id, entitlement_id, principal_type, principal_id)
                 DO UPDATE SET id = excluded.id, immutable = COALESCE(excluded.immutable, grants.immutable)",
                rows_of(6, chunk.len())
            );
            db.execute(&sql, &values)?;
        }
        Ok(new_resources)
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
                for table in ["grants", "entitlements", "resources", "resource_types", "syncs"] {
                    let column = if table == "syncs" { "id" } else { "sync_id" };
                    db.execute(&format!("DELETE FROM {table} WHERE {column} = ?1"), args![*id])?;
                }
            }
            Ok(doomed)
        })
    }

    /// Every tenant with a sync in the store.
    pub fn tenants(&self) -> Result<Vec<String>> {
        self.db.rows("SELECT DISTINCT tenant FROM syncs ORDER BY tenant", &[])?.iter().map(|r| r.string(0)).collect()
    }

    /// The tenant's complete syncs, newest first.
    pub fn complete_syncs(&self, tenant: &str, limit: usize) -> Result<Vec<SyncInfo>> {
        self.db
            .rows(&format!("SELECT {SYNC_INFO_COLUMNS} FROM syncs WHERE tenant = ?1 AND state = 'complete' ORDER BY id DESC LIMIT ?2"), args![tenant, limit as i64])?
            .iter()
            .map(sync_info)
            .collect()
    }

    pub fn latest_complete(&self, tenant: &str) -> Result<SyncInfo> {
        self.complete_syncs(tenant, 1)?
            .pop()
            .ok_or_else(|| anyhow::anyhow!("tenant `{tenant}` has no complete sync in this store"))
    }

    pub fn sync(&self, id: SyncId) -> Result<Option<SyncInfo>> {
        self.db.row(&format!("SELECT {SYNC_INFO_COLUMNS} FROM syncs WHERE id = ?1"), args![id])?.as_ref().map(sync_info).transpose()
    }

    /// The grants of `sync` that name what the sync does not hold: a principal no listing returned, or an
    /// entitlement that none did (or whose resource none did). They are kept, as the source says them (a member id
    /// of a deleted user, a role assignment at a scope the listings do not show); this counts them, with the
    /// first few grant ids as examples.
    pub fn dangling_grants(&self, sync: SyncId) -> Result<Dangling> {
        // The sound entitlements are few: listed once (`NOT IN`), not looked up per grant.
        const DANGLING: &str = "FROM grants g WHERE g.sync_id = ?1 AND (
            g.entitlement_id NOT IN (SELECT e.id FROM entitlements e WHERE e.sync_id = ?1 AND EXISTS (
                SELECT 1 FROM resources r WHERE r.sync_id = ?1 AND r.resource_type = e.resource_type AND r.id = e.resource_id))
            OR NOT EXISTS (SELECT 1 FROM resources r WHERE r.sync_id = ?1 AND r.resource_type = g.principal_type AND r.id = g.principal_id))";
        let grants = self.db.row(&format!("SELECT count(*) {DANGLING}"), args![sync])?.map_or(Ok(0), |row| row.int(0))? as u64;
        let mut examples = Vec::new();
        if grants > 0 {
            let first = self.db.rows(&format!("SELECT g.id {DANGLING} ORDER BY g.entitlement_id, g.principal_type, g.principal_id LIMIT 3"), args![sync])?;
            examples = first.iter().map(|row| row.string(0)).collect::<Result<_>>()?;
        }
        Ok(Dangling { grants, examples })
    }

    pub fn counts(&self, sync: SyncId) -> Result<SyncCounts> {
        let resources = self
            .db
            .rows(
                "SELECT rt.id, (SELECT count(*) FROM resources r WHERE r.sync_id = rt.sync_id AND r.resource_type = rt.id)
                 FROM resource_types rt WHERE rt.sync_id = ?1 ORDER BY rt.id",
                args![sync],
            )?
            .iter()
            .map(|r| Ok((r.string(0)?, r.int(1)? as u64)))
            .collect::<Result<_>>()?;
        let count = |table: &str| -> Result<u64> {
            let row = self.db.row(&format!("SELECT count(*) FROM {table} WHERE sync_id = ?1"), args![sync])?;
            Ok(row.map(|r| r.int(0)).transpose()?.unwrap_or(0) as u64)
        };
        Ok(SyncCounts { resources, entitlements: count("entitlements")?, grants: count("grants")? })
    }

    /// Ids of one type's resources in a sync, for per-resource calls.
    pub fn resource_ids(&self, sync: SyncId, resource_type: &str) -> Result<Vec<String>> {
        self.db.rows("SELECT id FROM resources WHERE sync_id = ?1 AND resource_type = ?2 ORDER BY id", args![sync, resource_type])?.iter().map(|r| r.string(0)).collect()
    }

    pub fn has_resource_type(&self, sync: SyncId, resource_type: &str) -> Result<bool> {
        Ok(self.db.row("SELECT id FROM resource_types WHERE sync_id = ?1 AND id = ?2", args![sync, resource_type])?.is_some())
    }

    /// Calls `each` with every resource's JSON line (of one type, if given), ordered by type and id.
    pub fn for_each_resource(&self, sync: SyncId, resource_type: Option<&str>, mut each: impl FnMut(&str) -> Result<()>) -> Result<()> {
        self.db.for_each(
            "SELECT data FROM resources WHERE sync_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR resource_type = ?2) ORDER BY resource_type, id",
            args![sync, resource_type],
            |row| each(row.text(0)?),
        )
    }

    pub fn for_each_grant(&self, sync: SyncId, entitlement: Option<&str>, principal: Option<(&str, &str)>, mut each: impl FnMut(GrantRow) -> Result<()>) -> Result<()> {
        let (ptype, pid) = principal.unzip();
        self.db.for_each(
            "SELECT id, entitlement_id, principal_type, principal_id, immutable FROM grants WHERE sync_id = ?1
             AND (CAST(?2 AS TEXT) IS NULL OR entitlement_id = ?2) AND (CAST(?3 AS TEXT) IS NULL OR (principal_type = ?3 AND principal_id = ?4))
             ORDER BY entitlement_id, principal_type, principal_id",
            args![sync, entitlement, ptype, pid],
            |row| {
                each(GrantRow { id: row.string(0)?, entitlement: row.string(1)?, principal_type: row.string(2)?, principal_id: row.string(3)?, immutable: row.opt_string(4)? })
            },
        )
    }

    /// Calls `each(principal, resource)` for every grant, as `type:id` keys of the principal and of the resource
    /// whose entitlement it holds.
    pub fn for_each_membership(&self, sync: SyncId, mut each: impl FnMut(String, String) -> Result<()>) -> Result<()> {
        self.db.for_each(
            "SELECT g.principal_type || ':' || g.principal_id, e.resource_type || ':' || e.resource_id
             FROM grants g JOIN entitlements e ON e.sync_id = g.sync_id AND e.id = g.entitlement_id
             WHERE g.sync_id = ?1 ORDER BY g.entitlement_id, g.principal_type, g.principal_id",
            args![sync],
            |row| each(row.string(0)?, row.string(1)?),
        )
    }

    /// Writes a sync as JSON lines: resource types, resources, entitlements, grants.
    pub fn export_jsonl(&self, sync: SyncId, out: &mut dyn std::io::Write) -> Result<()> {
        self.db.for_each("SELECT data FROM resource_types WHERE sync_id = ?1 ORDER BY id", args![sync], |row| Ok(writeln!(out, "{}", row.text(0)?)?))?;
        self.for_each_resource(sync, None, |line| Ok(writeln!(out, "{line}")?))?;
        self.db.for_each("SELECT data FROM entitlements WHERE sync_id = ?1 ORDER BY id", args![sync], |row| Ok(writeln!(out, "{}", row.text(0)?)?))?;
        self.for_each_grant(sync, None, None, |g| Ok(writeln!(out, "{}", records::grant_line(&g))?))?;
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
            let changed = format!("o.{data} IS DISTINCT FROM n.{data}");
            let label = |a: &str| key.iter().map(|c| format!("{a}.{c}")).collect::<Vec<_>>().join(" || ':' || ");
            let (new_label, old_label) = (label("n"), label("o"));
            let sql = format!(
                "SELECT '+' AS sign, {new_label} AS label FROM {table} n WHERE n.sync_id = ?2 AND NOT EXISTS (SELECT 1 FROM {table} o WHERE o.sync_id = ?1 AND {same_key})
                 UNION ALL
                 SELECT '-', {old_label} FROM {table} o WHERE o.sync_id = ?1 AND NOT EXISTS (SELECT 1 FROM {table} n WHERE n.sync_id = ?2 AND {same_key})
                 UNION ALL
                 SELECT '~', {new_label} FROM {table} n JOIN {table} o ON o.sync_id = ?1 AND {same_key} WHERE n.sync_id = ?2 AND ({changed})
                 ORDER BY 2, 1"
            );
            self.db.for_each(&sql, args![old, new], |row| {
                let sign = row.text(0)?;
                match sign {
                    "+" => counts.added += 1,
                    "-" => counts.removed += 1,
                    _ => counts.changed += 1,
                }
                // Ids come from the source: escaped, so none can rewrite the terminal.
                writeln!(out, "{sign} {kind} {}", printable(row.text(1)?, usize::MAX))?;
                Ok(())
            })?;
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

    #[test]
    fn a_key_value_connection_string_is_postgres_and_never_shown_with_its_password() {
        let location: StoreLocation = "host=db.internal dbname=harness user=h password=s3cret".parse().unwrap();
        assert_eq!(location, StoreLocation::Postgres("host=db.internal dbname=harness user=h password=s3cret".into()));
        assert_eq!(location.to_string(), "host=db.internal dbname=harness user=h password=***");
        assert_eq!(format!("{location:?}"), "StoreLocation(host=db.internal dbname=harness user=h password=***)");
        let url: StoreLocation = "postgres://h@db/harness?password=s3cret".parse().unwrap();
        assert_eq!(url.to_string(), "postgres://h@db/harness?password=***");
        assert_eq!("state=1.db".parse::<StoreLocation>().unwrap(), StoreLocation::Sqlite("state=1.db".into()), "a file may have = in its name");
    }

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

    #[test]
    fn multi_row_inserts_number_their_parameters_row_by_row() {
        assert_eq!(rows_of(2, 3), "(?1, ?2), (?3, ?4), (?5, ?6)");
        assert_eq!(rows_of(1, 1), "(?1)");
    }

    #[test]
    fn a_store_of_the_first_schema_is_migrated_and_keeps_its_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(sqlite::SCHEMA_V1).unwrap();
            conn.execute("INSERT INTO syncs (tenant, connector, connector_version, component_sha256, state) VALUES ('t', 'c', '1', 'sha', 'complete')", []).unwrap();
            conn.execute("INSERT INTO grants (sync_id, entitlement_id, principal_type, principal_id, id) VALUES (1, 'team:1:member', 'user', '7', 'team:1:member:user:7')", []).unwrap();
        }
        // A reader says, in one line, what brings it up to date.
        let error = Store::open_existing(&StoreLocation::Sqlite(path.clone())).err().unwrap().to_string();
        let shown = path.display();
        assert_eq!(error, format!("store {shown} has schema 1, older than this connector-harness reads (3 or later): any `connector-harness sync --store {shown}` brings it up to date"));
        let mut store = Store::open(&StoreLocation::Sqlite(path.clone())).unwrap();
        assert_eq!(store.latest_complete("t").unwrap().id, 1);
        let conn = rusqlite::Connection::open(&path).unwrap();
        let schema = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(schema("PRAGMA user_version"), sqlite::SCHEMA_VERSION);
        assert_eq!(schema("SELECT count(*) FROM sqlite_master WHERE name = 'grants_by_principal'"), 0, "version 5 drops it");
        let mut grants = Vec::new();
        store
            .for_each_grant(1, None, None, |g| {
                grants.push(g.id);
                Ok(())
            })
            .unwrap();
        assert_eq!(grants, ["team:1:member:user:7"]);
        let lease = store.begin_sync("t", "c", "1", "sha").unwrap();
        store.interrupt_sync(&lease, "interrupted by SIGINT").unwrap();
        assert_eq!(store.sync(2).unwrap().unwrap().state, "interrupted");
    }
}
