//! The store: many syncs of many tenants, in one SQLite file (the embedded default) or one PostgreSQL database
//! (shared by many replicas). A sync's rows are written page by page as they arrive; readers see a tenant's
//! latest *complete* sync, so a failed or running sync never replaces the last good one. Secrets are never
//! written here. Every statement is written once for both (`db.rs`); opening and schemas are per store
//! (`sqlite.rs`, `postgres.rs`).

use anyhow::{Result, bail};

mod db;
mod external_ids;
mod flows;
mod lifecycle;
mod location;
mod pages;
mod postgres;
mod postgres_tls;
mod read;
mod schedule;
mod schema;
mod sql;
mod sqlite;
mod written;

use db::Db;
pub use crate::records::GrantRow;
pub use flows::{CycleLease, FlowState, LinkChange, LinkKind, LogEntry, Written, WriteActivity};
pub use lifecycle::{HEARTBEAT, LEASE_EXPIRY, Lease, hostname, now_ms};
pub(crate) use lifecycle::owner_is_gone;
pub use location::StoreLocation;
pub use pages::{PageDone, PageJob, PageWriter};
pub use read::{Dangling, DiffCounts, SyncCounts, SyncInfo, TraitTypes};
pub use schedule::{Claim, FLOW_JOB, RunProgress, RunRecord, RunRow, ScheduleRow, TenantLease, TenantState, Triggered};

/// A sync's id in the store.
pub type SyncId = i64;

/// A connection to the store, for reading or for writing syncs.
pub struct Store {
    db: Db,
    location: StoreLocation,
    /// Whether the syncs this handle begins or adopts are the service's (`for_service`).
    service: bool,
    /// For an immutable read-only view of an SQLite file: the file as it was when opened (see `check_unchanged`).
    snapshot: Option<sqlite::FileStamp>,
}

impl Store {
    /// Opens or creates the store for writing, bringing its schema up to date. Safe when many processes create
    /// or open the same store at once.
    pub fn open(location: &StoreLocation) -> Result<Self> {
        let db = match location {
            StoreLocation::Sqlite(path) => Db::Sqlite(sqlite::open(path)?),
            StoreLocation::Postgres(url) => {
                let conn = postgres::PgConn::connect(url)?;
                postgres::migrate(&conn, schema::SCHEMA_VERSION).map_err(|e| anyhow::anyhow!("cannot write store {location}: {e:#}"))?;
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
                postgres::check_schema(&conn, schema::SCHEMA_VERSION).map_err(|e| anyhow::anyhow!("cannot read store {location}: {e:#}"))?;
                Ok(Self { db: Db::Postgres(conn), location: location.clone(), service: false, snapshot: None })
            }
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_of_the_first_schema_is_migrated_and_keeps_its_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(schema::SCHEMA_V1).unwrap();
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
        assert_eq!(schema("PRAGMA user_version"), schema::SCHEMA_VERSION);
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
