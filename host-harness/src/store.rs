//! The local store: one SQLite file holding many syncs of many tenants. A sync's rows are written page by page
//! as they arrive; readers see a tenant's latest *complete* sync, so a failed or running sync never replaces
//! the last good one. Secrets are never written here.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use rusqlite::{Connection, OptionalExtension, params};

use crate::bindings::*;
use crate::records;

pub type SyncId = i64;

pub struct Store {
    conn: Connection,
    path: std::path::PathBuf,
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
        let busy = self.thread.take().map(|t| t.join().unwrap_or_default()).unwrap_or_default();
        Ok((done?, busy))
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    pub id: String,
    pub entitlement: String,
    pub principal_type: String,
    pub principal_id: String,
}

const SCHEMA: &str = "
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

impl Store {
    /// Opens or creates the store for writing.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir() {
                bail!("cannot open store {}: directory {} does not exist", path.display(), dir.display());
            }
        let conn = Connection::open(path).with_context(|| format!("cannot open store {}", path.display()))?;
        // Many tenants may write at once (`sync --tenants`); each commit is one page, so waits are short.
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        // WAL with NORMAL sync is durable at each commit's checkpoint and fast; a larger page cache keeps the
        // indexes of a big sync in memory while it is written.
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536;")
            .and_then(|_| conn.execute_batch(SCHEMA))
            .with_context(|| format!("cannot write store {}", path.display()))?;
        Ok(Self { conn, path: path.to_path_buf() })
    }

    /// A writer of `sync`'s pages on its own thread and connection (see `PageWriter`).
    pub fn page_writer(&self, sync: SyncId) -> Result<PageWriter> {
        let mut store = Store::open(&self.path)?;
        let (jobs, mut queue) = tokio::sync::mpsc::channel::<PageJob>(1);
        let (report, done) = tokio::sync::mpsc::unbounded_channel();
        let thread = std::thread::Builder::new().name("page-writer".into()).spawn(move || {
            let mut busy = Duration::ZERO;
            while let Some(job) = queue.blocking_recv() {
                let started = Instant::now();
                let result = store.put_page(sync, &job.resources, &job.entitlements, &job.grants, &job.checkpoint);
                busy += started.elapsed();
                let failed = result.is_err();
                let _ = report.send(result.map(|new_resources| PageDone { label: job.label, resources: job.resources.len(), new_resources }));
                if failed {
                    break;
                }
            }
            busy
        })?;
        Ok(PageWriter { jobs: Some(jobs), done, thread: Some(thread), pending: 0 })
    }

    /// Opens an existing store for reading; a missing file is an error, not a new empty store.
    pub fn open_existing(path: &Path) -> Result<Self> {
        if !path.is_file() {
            bail!("no store at {}: run `connector-harness sync` first", path.display());
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("cannot open store {}", path.display()))?;
        // Many tenants may write at once (`sync --tenants`); each commit is one page, so waits are short.
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        let has_schema: bool = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'syncs'", [], |r| r.get::<_, i64>(0))
            .map(|n| n > 0)
            .with_context(|| format!("{} is not a connector-harness store", path.display()))?;
        if !has_schema {
            bail!("{} is not a connector-harness store", path.display());
        }
        Ok(Self { conn, path: path.to_path_buf() })
    }

    pub fn begin_sync(&mut self, tenant: &str, connector: &str, version: &str, sha256: &str) -> Result<SyncId> {
        self.conn.execute(
            "INSERT INTO syncs (tenant, connector, connector_version, component_sha256, state) VALUES (?1, ?2, ?3, ?4, 'running')",
            params![tenant, connector, version, sha256],
        )?;
        Ok(self.conn.last_insert_rowid())
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

    /// Writes one page in one transaction, with the checkpoint that says the page is in. Returns how many of
    /// the page's resources this sync had not stored before.
    pub fn put_page(&mut self, sync: SyncId, resources: &[Resource], entitlements: &[Entitlement], grants: &[Grant], checkpoint: &str) -> Result<usize> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
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
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO grants (sync_id, entitlement_id, principal_type, principal_id, id) VALUES (?1, ?3, ?4, ?5, ?2)",
            )?;
            for g in grants {
                insert.execute(params![sync, g.id, g.entitlement, g.principal.resource_type, g.principal.id])?;
            }
            tx.execute("UPDATE syncs SET checkpoint = ?2 WHERE id = ?1", params![sync, checkpoint])?;
        }
        tx.commit()?;
        Ok(new_resources)
    }

    /// The tenant's newest sync if it is unfinished (running when the host died, or failed) and newer than its
    /// latest complete sync: (sync, component sha256, checkpoint).
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

    /// Marks an unfinished sync as running again, to be resumed.
    pub fn reopen_sync(&mut self, sync: SyncId) -> Result<()> {
        self.conn.execute("UPDATE syncs SET state = 'running', finished_at = NULL, error = NULL WHERE id = ?1", [sync])?;
        Ok(())
    }

    pub fn finish_sync(&mut self, sync: SyncId, requests: u64, bytes_received: u64) -> Result<()> {
        self.conn.execute(
            "UPDATE syncs SET state = 'complete', finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), checkpoint = NULL,
             requests = ?2, bytes_received = ?3 WHERE id = ?1",
            params![sync, requests as i64, bytes_received as i64],
        )?;
        Ok(())
    }

    /// Marks a sync failed with its (already redacted) error; its rows stay for inspection but are never read
    /// as the tenant's data.
    pub fn fail_sync(&mut self, sync: SyncId, error: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE syncs SET state = 'failed', finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), error = ?2 WHERE id = ?1",
            params![sync, error],
        )?;
        Ok(())
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
            "SELECT id, entitlement_id, principal_type, principal_id FROM grants WHERE sync_id = ?1
             AND (?2 IS NULL OR entitlement_id = ?2) AND (?3 IS NULL OR (principal_type = ?3 AND principal_id = ?4))
             ORDER BY entitlement_id, principal_type, principal_id",
        )?;
        let mut rows = stmt.query(params![sync, entitlement, ptype, pid])?;
        while let Some(row) = rows.next()? {
            each(GrantRow { id: row.get(0)?, entitlement: row.get(1)?, principal_type: row.get(2)?, principal_id: row.get(3)? })?;
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
            Ok(writeln!(out, "{}", records::grant_line(&g.id, &g.entitlement, &g.principal_type, &g.principal_id))?)
        })?;
        Ok(())
    }

    /// What changed from sync `old` to sync `new`: one line per added (+), removed (-) or changed (~) row.
    pub fn diff(&self, old: SyncId, new: SyncId, out: &mut dyn std::io::Write) -> Result<DiffCounts> {
        let mut counts = DiffCounts::default();
        // (kind, table, the key columns, the column that must be equal for the row to be unchanged). A grant is
        // its key: it is there or not.
        let tables: [(&str, &str, &[&str], &str); 3] = [
            ("resource", "resources", &["resource_type", "id"], "data"),
            ("entitlement", "entitlements", &["id"], "data"),
            ("grant", "grants", &["entitlement_id", "principal_type", "principal_id"], "principal_id"),
        ];
        for (kind, table, key, data) in tables {
            let same_key = key.iter().map(|c| format!("o.{c} = n.{c}")).collect::<Vec<_>>().join(" AND ");
            let changed = format!("o.{data} <> n.{data}");
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
                writeln!(out, "{sign} {kind} {id}")?;
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
