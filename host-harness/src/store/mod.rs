//! The store: many syncs of many tenants, in one SQLite file (the embedded default) or one PostgreSQL database
//! (shared by many replicas). A sync's rows are written page by page as they arrive; readers see a tenant's
//! latest *complete* sync, so a failed or running sync never replaces the last good one. Secrets are never
//! written here. Every statement is written once for both (`db.rs`); opening and schemas are per store
//! (`sqlite.rs`, `postgres.rs`).

use anyhow::{Result, bail};

mod dangling;
mod db;
mod external_ids;
mod flows;
mod lifecycle;
mod location;
mod pages;
mod postgres;
mod postgres_tls;
mod read;
mod resource_data;
mod schedule;
mod schema;
mod sql;
mod sqlite;
mod written;

use db::Db;
pub use crate::records::GrantRow;
pub use dangling::Dangling;
pub use flows::{CycleLease, FlowState, LinkChange, LinkKind, LogEntry, Written, WriteActivity};
pub use lifecycle::{HEARTBEAT, LEASE_EXPIRY, Lease, hostname, now_ms};
pub(crate) use lifecycle::owner_is_gone;
pub use location::StoreLocation;
pub use pages::{PageDone, PageJob, PageRows, PageWriter};
pub use read::{DiffCounts, SyncCounts, SyncInfo, TraitTypes};
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
        let (db, migrated_from) = match location {
            StoreLocation::Sqlite(path) => {
                let (conn, from) = sqlite::open(path)?;
                (Db::Sqlite(conn), from)
            }
            StoreLocation::Postgres(url) => {
                let conn = postgres::PgConn::connect(url)?;
                let from = postgres::migrate(&conn, schema::SCHEMA_VERSION).map_err(|e| anyhow::anyhow!("cannot write store {location}: {e:#}"))?;
                (Db::Postgres(conn), from)
            }
        };
        let store = Self { db, location: location.clone(), service: false, snapshot: None };
        // Version 10 packs resource lines, which SQL cannot do: the process that migrated packs those stored before.
        if migrated_from.is_some_and(|v| v < 10) {
            store.pack_whole_lines().map_err(|e| anyhow::anyhow!("cannot write store {location}: {e:#}"))?;
        }
        Ok(store)
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
    use crate::contract::model::*;
    use sql::args;

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

    fn person(id: &str, name: &str) -> Resource {
        Resource {
            id: ResourceId { resource_type: "user".into(), id: id.into() },
            parent: None,
            display_name: name.into(),
            description: None,
            status: ResourceStatus { kind: StatusKind::Enabled, detail: None },
            user: None,
            group: None,
            profile: format!(r#"{{"name":"{name}","links":{{"groups":["g1"]}}}}"#),
            created_at: Some("2021-03-04T05:06:07Z".into()),
            updated_at: None,
        }
    }

    /// Writes a sync at today's schema, then turns it back into what version 9 stored (whole lines as text, every
    /// grant's id): the store a version 9 harness leaves.
    fn version_9_store(location: &StoreLocation) -> String {
        let mut store = Store::open(location).unwrap();
        let lease = store.begin_sync("acme", "test", "1", "sha").unwrap();
        let people = [person("1", "Ada"), person("2", "Zoë \"Z\""), person("3", "")];
        let group = ResourceId { resource_type: "group".into(), id: "g1".into() };
        let grants = [Grant::new("group:g1:member", people[0].id.clone()), Grant { id: "a grant named its own way".into(), ..Grant::new("group:g1:member", people[1].id.clone()) }];
        let member = Entitlement::member(group, "Member", &["user"]);
        store.put_page(&lease, people.to_vec(), vec![member], grants.to_vec(), "{}").unwrap();
        store.finish_sync(&lease, 1, 1).unwrap();
        let mut lines = Vec::new();
        store
            .for_each_resource(lease.sync, None, |line| {
                lines.push(line.to_string());
                Ok(())
            })
            .unwrap();
        let db = &store.db;
        if let Db::Postgres(_) = db {
            db.batch("ALTER TABLE resources ALTER COLUMN data TYPE TEXT USING ''; UPDATE harness_schema SET version = 9").unwrap();
        } else {
            db.batch("PRAGMA user_version = 9").unwrap();
        }
        for (person, line) in people.iter().zip(&lines) {
            db.execute("UPDATE resources SET data = ?2 WHERE id = ?1", args![&person.id.id, line.as_str()]).unwrap();
        }
        db.batch("UPDATE grants SET id = entitlement_id || ':' || principal_type || ':' || principal_id WHERE id IS NULL").unwrap();
        // Read as a reader does, without migrating, on a connection of its own (this one's statements know the
        // version 10 columns).
        let mut out = Vec::new();
        Store::open_existing(location).unwrap().export_jsonl(lease.sync, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Version 10 keeps a resource's line packed and a grant's id only where its key does not make it: a store of
    /// version 9 is migrated in place, and exports the same bytes.
    fn migrates_from_version_9(location: &StoreLocation) {
        let before = version_9_store(location);
        assert!(before.contains(r#""display_name":"Zoë \"Z\"","parent":null"#) && before.contains(r#""id":"a grant named its own way""#), "{before}");
        let store = Store::open(location).unwrap();
        let mut out = Vec::new();
        store.export_jsonl(1, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), before);
        let forms: Vec<u8> = store.db.rows("SELECT data FROM resources ORDER BY id", &[]).unwrap().iter().map(|row| row.bytes(0).unwrap()[0]).collect();
        assert_eq!(forms, [1, 1, 1], "every line packed");
        let ids: Vec<Option<String>> = store.db.rows("SELECT id FROM grants ORDER BY principal_id", &[]).unwrap().iter().map(|row| row.opt_string(0).unwrap()).collect();
        assert_eq!(ids, [None, Some("a grant named its own way".to_string())]);
    }

    #[test]
    fn a_version_9_store_is_migrated_in_place_on_both_stores_and_exports_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        migrates_from_version_9(&StoreLocation::Sqlite(dir.path().join("v9.db")));
        let server = real_servers::Postgres::start();
        migrates_from_version_9(&StoreLocation::Postgres(server.database("v9")));
    }
}
