//! The embedded SQLite store: one file, many processes (each page commit is short), and readers that never get
//! in a writer's way. Opening, the schema's migrations and the read modes live here; everything else the store
//! does is the SQL both stores share (`db.rs`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use rusqlite::Connection;

use super::schema::{OLDEST_READ, SCHEMA_VERSION, SQLITE_STEPS};

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
/// new store at once one migrates and the others wait, then find it done. The version it migrated from (0 for a
/// new file), if it migrated.
fn migrate(conn: &Connection) -> Result<Option<i64>> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version == SCHEMA_VERSION {
        return Ok(None);
    }
    if version > SCHEMA_VERSION {
        bail!("it was written by a newer connector-harness (schema {version}; this one writes {SCHEMA_VERSION})");
    }
    // Version 2 rebuilds `syncs`, and dropping the old table would delete, as far as foreign keys are concerned,
    // every sync the other tables refer to. SQLite's way to change a schema: keys off (which only works outside
    // a transaction), checked before the commit, and on again.
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    let migrated = retry_busy(|| {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let migrated = (|| {
            let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if version == SCHEMA_VERSION {
                return Ok(None);
            }
            for (to, script) in SQLITE_STEPS {
                if version < to {
                    conn.execute_batch(script)?;
                }
            }
            let dangling: i64 = conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0))?;
            if dangling > 0 {
                return Err(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY), Some(format!("{dangling} rows refer to syncs that do not exist"))));
            }
            conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
            Ok(Some(version))
        })();
        match migrated {
            Ok(from) => conn.execute_batch("COMMIT").map(|()| from),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    });
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    Ok(migrated?)
}

/// Opens or creates the store file for writing, bringing its schema up to date. Safe when many processes
/// create or open the same file at once: each step either waits for the others (busy timeout) or is retried.
/// With the connection, the version this open migrated the store from, if it did.
pub fn open(path: &Path) -> Result<(Connection, Option<i64>)> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        bail!("cannot open store {}: directory {} does not exist", path.display(), dir.display());
    }
    let conn = Connection::open(path).with_context(|| format!("cannot open store {}", path.display()))?;
    // Many tenants may write at once (`sync --tenants`); each commit is one page, so waits are short.
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // A page's multi-row inserts come in several sizes (`store/mod.rs`); keep them all prepared.
    conn.set_prepared_statement_cache_capacity(128);
    // WAL with NORMAL sync is durable at each commit's checkpoint and fast; a larger page cache keeps the
    // indexes of a big sync in memory while it is written. Switching a new file to WAL needs it alone for
    // a moment, and SQLite does not wait for that: retry.
    retry_busy(|| conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536;"))
        .map_err(anyhow::Error::from)
        .and_then(|()| migrate(&conn))
        .with_context(|| format!("cannot write store {}", path.display()))
        .map(|from| (conn, from))
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
pub struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    wal: bool,
}

impl FileStamp {
    pub fn of(path: &Path) -> Result<Self> {
        let metadata = std::fs::metadata(path)?;
        Ok(Self { len: metadata.len(), modified: metadata.modified().ok(), wal: wal_path(path).exists() })
    }
}

/// Opens an existing store for reading, and only reading: it works on a store the reader cannot write, and
/// leaves nothing behind that could get in a writer's way (see `ReadMode`). For an immutable view, the file's
/// stamp as it was when opened.
pub fn open_existing(path: &Path) -> Result<(Connection, Option<FileStamp>)> {
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
    // A store of the first schema was written before its version was kept: 0 with tables is 1.
    let version = version.max(1);
    if version < OLDEST_READ {
        // A reader never migrates (it may not write the file); a sync does, and keeps every sync stored.
        bail!(
            "store {} has schema {version}, older than this connector-harness reads ({OLDEST_READ} or later): any `connector-harness sync --store {}` brings it up to date",
            path.display(),
            path.display()
        );
    }
    Ok((conn, snapshot))
}

/// Copies a page writer's commits from the WAL into the store file (checkpoints) on a thread and connection of its
/// own. SQLite otherwise copies inside a commit, on the writer's thread, which is a sync's one serial step: a sixth
/// of its time at 100,000 people (BENCHMARKS.md, session 17). The writer's commits nudge this thread instead; a
/// passive checkpoint takes no lock a writer waits for. Dropping it stops the thread.
pub(super) struct Checkpointer {
    /// `true` asks for a checkpoint, `false` stops the thread; asked while one runs, two checkpoints are one.
    nudge: std::sync::mpsc::SyncSender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// WAL pages at which the writer asks for a checkpoint: SQLite's own threshold (`wal_autocheckpoint`).
const CHECKPOINT_AT: std::ffi::c_int = 1000;

/// WAL pages (16 MiB) at which the writer copies them itself, as SQLite would. The WAL starts again from its
/// beginning only when a checkpoint has copied all of it before the writer's next commit: a writer that commits
/// without pause can outrun the thread for ever, and without this its WAL would grow to the size of the sync.
const CHECKPOINT_HERE_AT: std::ffi::c_int = 4000;

impl Checkpointer {
    /// Takes over the checkpoints of `writer`, a connection to the store at `path`.
    pub(super) fn take_over(writer: &mut Connection, path: &Path) -> Result<Self> {
        let (conn, _) = open(path)?;
        let (nudge, nudged) = std::sync::mpsc::sync_channel::<bool>(1);
        let ask = nudge.clone();
        // Replaces SQLite's automatic checkpoints, which use the same hook.
        writer.wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, pages: std::ffi::c_int| {
            if pages >= CHECKPOINT_HERE_AT {
                // Busy while the thread copies: the next commit tries again. Nothing is lost either way.
                let _ = wal.checkpoint();
            } else if pages >= CHECKPOINT_AT {
                let _ = ask.try_send(true);
            }
            Ok(())
        }))?;
        let thread = std::thread::Builder::new().name("store-checkpoint".into()).spawn(move || {
            while let Ok(true) = nudged.recv() {
                let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            }
        })?;
        Ok(Self { nudge, thread: Some(thread) })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let _ = self.nudge.send(false);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
