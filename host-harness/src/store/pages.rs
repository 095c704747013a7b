//! Writing a sync's pages: one page and its checkpoint per transaction, on a writer thread of its own
//! (`PageWriter`) so that storing page N overlaps fetching page N+1.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::db::Db;
use super::lifecycle::{Heartbeat, Lease};
use super::read::stored_grant_id;
use super::sql::{args, rows_of};
use super::sqlite::Checkpointer;
use super::{Store, StoreLocation, SyncId, resource_data};
use crate::contract::model::*;
use crate::records;

/// One page for the `PageWriter`, with a label naming it in errors.
pub struct PageJob {
    rows: PageRows,
    checkpoint: String,
    label: String,
}

impl PageJob {
    /// A page's rows, with the checkpoint that says it is in and a label naming it in errors.
    pub fn new(rows: PageRows, checkpoint: String, label: String) -> Self {
        Self { rows, checkpoint, label }
    }
}

/// The rows one page writes, made before the page reaches the page writer: it is a sync's one serial step, and at
/// concurrency 8 it sets the pace (BENCHMARKS.md, sessions 8 and 17). What is left for it is SQL.
pub struct PageRows {
    resources: Vec<PageResource>,
    /// Accounts by lowercased login, for a SCIM `userName eq` (`gateway/`): the login and the account's index in
    /// `resources`.
    logins: Vec<(String, usize)>,
    /// Reported twice in one page, an entitlement is its last report.
    entitlements: Vec<PageEntitlement>,
    /// One a key, in key order.
    grants: Vec<PageGrant>,
    /// Resources, entitlements and grants as the page reported them, a record reported twice counted twice.
    reported: (usize, usize, usize),
}

struct PageResource {
    resource_type: String,
    id: String,
    display_name: String,
    /// What is stored of the line (`resource_data`).
    data: Vec<u8>,
}

struct PageEntitlement {
    id: String,
    resource_type: String,
    resource_id: String,
    /// The entitlement's line.
    data: String,
}

struct PageGrant {
    entitlement: String,
    principal_type: String,
    principal_id: String,
    /// The id, when its key does not make it (`stored_grant_id`).
    id: Option<String>,
    immutable: Option<String>,
}

impl PageRows {
    /// A page's rows: each resource's stored line packed (`resource_data`), one entitlement and one grant a key.
    pub fn of(resources: Vec<Resource>, entitlements: Vec<Entitlement>, grants: Vec<Grant>) -> Self {
        let reported = (resources.len(), entitlements.len(), grants.len());
        let mut logins = Vec::new();
        let resources = resources
            .into_iter()
            .enumerate()
            .map(|(at, r)| {
                if let Some(login) = r.user.as_ref().and_then(|user| user.login.as_ref()) {
                    logins.push((login.to_ascii_lowercase(), at));
                }
                let data = resource_data::of(&r);
                PageResource { resource_type: r.id.resource_type, id: r.id.id, display_name: r.display_name, data }
            })
            .collect();
        let mut unique = std::collections::BTreeMap::new();
        for e in entitlements {
            let data = records::entitlement(&e).to_string();
            unique.insert(e.id.clone(), PageEntitlement { id: e.id, resource_type: e.resource.resource_type, resource_id: e.resource.id, data });
        }
        let entitlements = unique.into_values().collect();
        // One grant reported twice (a user listed as a group's member, and again through a nested group) keeps
        // its immutable mark if either report carries one: a derived membership stays derived. Sorted by key
        // (stably: one grant's reports stay in their order), each grant's reports merge into the first, which
        // takes the last report's id.
        let mut grants = grants;
        grants.sort_by(|a, b| grant_key(a).cmp(&grant_key(b)));
        grants.dedup_by(|later, first| {
            let same = grant_key(later) == grant_key(first);
            if same {
                first.id = std::mem::take(&mut later.id);
                first.immutable = later.immutable.take().or(first.immutable.take());
            }
            same
        });
        let grants = grants
            .into_iter()
            .map(|g| {
                let id = stored_grant_id(&g.id, &g.entitlement, &g.principal.resource_type, &g.principal.id).map(str::to_string);
                PageGrant { entitlement: g.entitlement, principal_type: g.principal.resource_type, principal_id: g.principal.id, id, immutable: g.immutable }
            })
            .collect();
        Self { resources, logins, entitlements, grants, reported }
    }

    /// Resources, entitlements and grants as the page reported them, a record reported twice counted twice.
    pub fn reported(&self) -> (usize, usize, usize) {
        self.reported
    }

    /// The type of each resource on the page.
    pub fn resource_types(&self) -> impl Iterator<Item = &str> {
        self.resources.iter().map(|r| r.resource_type.as_str())
    }
}

/// What makes a grant one grant: its entitlement and principal.
fn grant_key(g: &Grant) -> (&str, &str, &str) {
    (&g.entitlement, &g.principal.resource_type, &g.principal.id)
}

/// A page the `PageWriter` has committed.
pub struct PageDone {
    /// The page's label.
    pub label: String,
    /// Resources on the page.
    pub resources: usize,
    /// Of those, how many the sync had not stored before.
    pub new_resources: usize,
    /// The page's rows, freed where this report is read rather than on the writer's thread, where freeing them
    /// took a twelfth of its time (BENCHMARKS.md, session 17).
    _rows: PageRows,
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

/// Rows per multi-row INSERT: a page is written in a few statements (one round trip each to PostgreSQL), well
/// under both stores' limits on parameters (SQLite 32,766, PostgreSQL 65,535).
const ROWS_PER_INSERT: usize = 256;

/// Pages that may wait for the page writer, which commits those waiting together (see `PageWriter`).
const PAGES_QUEUED: usize = 4;

impl Store {
    /// A writer of the lease's pages on its own thread and connection, with the lease's heartbeat on another
    /// (see `PageWriter`).
    pub fn page_writer(&self, lease: &Lease) -> Result<PageWriter> {
        let mut store = Store::open(&self.location)?;
        let checkpointer = match (&mut store.db, &self.location) {
            (Db::Sqlite(conn), StoreLocation::Sqlite(path)) => Some(Checkpointer::take_over(conn, path)?),
            _ => None,
        };
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
                let result = store.db.transaction(|| batch.iter().map(|job| store.write_page(&lease, &job.rows, &job.checkpoint)).collect::<Result<Vec<_>>>());
                busy += started.elapsed();
                match result {
                    Ok(new) => {
                        for (job, new_resources) in batch.into_iter().zip(new) {
                            let _ = report.send(Ok(PageDone { label: job.label, resources: job.rows.resources.len(), new_resources, _rows: job.rows }));
                        }
                    }
                    Err(e) => {
                        let _ = report.send(Err(e));
                        break;
                    }
                }
            }
            drop(checkpointer);
            busy
        })?;
        Ok(PageWriter { jobs: Some(jobs), done, thread: Some(thread), pending: 0, heartbeat: Some(heartbeat) })
    }

    /// Records the resource types a sync lists, with what the component declares of each.
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
    pub fn put_page(&mut self, lease: &Lease, resources: Vec<Resource>, entitlements: Vec<Entitlement>, grants: Vec<Grant>, checkpoint: &str) -> Result<usize> {
        let rows = PageRows::of(resources, entitlements, grants);
        self.db.transaction(|| self.write_page(lease, &rows, checkpoint))
    }

    /// `put_page` in the caller's transaction.
    fn write_page(&self, lease: &Lease, rows: &PageRows, checkpoint: &str) -> Result<usize> {
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
        for chunk in rows.resources.chunks(ROWS_PER_INSERT) {
            let mut values = Vec::with_capacity(chunk.len() * 5);
            for r in chunk {
                values.extend_from_slice(args![sync, &r.resource_type, &r.id, &r.display_name, r.data.as_slice()]);
            }
            // The rows inserted are the rows changed: those skipped on a conflict are not counted by either store.
            let sql = format!("INSERT INTO resources (sync_id, resource_type, id, display_name, data) VALUES {} ON CONFLICT DO NOTHING", rows_of(5, chunk.len()));
            let inserted = db.execute(&sql, &values)? as usize;
            new_resources += inserted;
            if inserted < chunk.len() {
                for row in values.chunks(5) {
                    db.execute("UPDATE resources SET display_name = ?4, data = ?5 WHERE sync_id = ?1 AND resource_type = ?2 AND id = ?3", row)?;
                }
            }
        }
        for chunk in rows.logins.chunks(ROWS_PER_INSERT) {
            let mut values = Vec::with_capacity(chunk.len() * 4);
            for (login, at) in chunk {
                let r = &rows.resources[*at];
                values.extend_from_slice(args![sync, login, &r.resource_type, &r.id]);
            }
            db.execute(&format!("INSERT INTO logins (sync_id, login, resource_type, id) VALUES {} ON CONFLICT DO NOTHING", rows_of(4, chunk.len())), &values)?;
        }
        for chunk in rows.entitlements.chunks(ROWS_PER_INSERT) {
            let mut values = Vec::with_capacity(chunk.len() * 5);
            for e in chunk {
                values.extend_from_slice(args![sync, &e.id, &e.resource_type, &e.resource_id, &e.data]);
            }
            let sql = format!(
                "INSERT INTO entitlements (sync_id, id, resource_type, resource_id, data) VALUES {}
                 ON CONFLICT (sync_id, id) DO UPDATE SET resource_type = excluded.resource_type, resource_id = excluded.resource_id, data = excluded.data",
                rows_of(5, chunk.len())
            );
            db.execute(&sql, &values)?;
        }
        for chunk in rows.grants.chunks(ROWS_PER_INSERT) {
            let mut values = Vec::with_capacity(chunk.len() * 6);
            for g in chunk {
                values.extend_from_slice(args![sync, &g.entitlement, &g.principal_type, &g.principal_id, g.id.as_ref(), g.immutable.as_ref()]);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(n: usize, noise: &str) -> Resource {
        Resource {
            id: ResourceId { resource_type: "user".into(), id: n.to_string() },
            parent: None,
            display_name: format!("Person {n}"),
            description: None,
            status: ResourceStatus { kind: StatusKind::Enabled, detail: None },
            user: None,
            group: None,
            profile: format!(r#"{{"noise":"{noise}"}}"#),
            created_at: None,
            updated_at: None,
        }
    }

    /// The page writer leaves its checkpoints to `sqlite::Checkpointer` (its thread, or the writer itself when the
    /// thread falls behind): however fast pages come, the WAL is copied into the store as the sync goes, and does
    /// not grow to the size of the sync.
    #[tokio::test]
    async fn a_page_writers_wal_stays_small_however_fast_it_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let mut store = Store::open(&StoreLocation::Sqlite(path.clone())).unwrap();
        let lease = store.begin_sync("t", "c", "1", "sha").unwrap();
        let mut writer = store.page_writer(&lease).unwrap();
        // 4 KB of hex a person, which LZ4 cannot shrink much: 40 pages of 250 are about 40 MB stored.
        let noise = |n: usize| (0..250).map(|i| format!("{:016x}", (n * 250 + i).wrapping_mul(0x9E37_79B9_7F4A_7C15))).collect::<String>();
        for page in 0..40 {
            let people = (page * 250..(page + 1) * 250).map(|n| person(n, &noise(n).repeat(2))).collect();
            writer.send(PageJob::new(PageRows::of(people, Vec::new(), Vec::new()), "{}".into(), format!("page {page}"))).await.unwrap();
        }
        writer.finish().await.unwrap();
        store.finish_sync(&lease, 40, 0).unwrap();
        assert_eq!(store.resource_ids(lease.sync, "user").unwrap().len(), 10_000);
        let stored = std::fs::metadata(&path).unwrap().len();
        let wal = std::fs::metadata(dir.path().join("store.db-wal")).map_or(0, |m| m.len());
        assert!(stored > 30 << 20, "the store file holds the sync: {stored} bytes");
        assert!(wal < stored / 2, "the WAL grew to {wal} bytes beside a store of {stored}");
    }
}
