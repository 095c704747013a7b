//! The store's one schema and its history: the version both stores are at, SQLite's steps from an empty file, and
//! PostgreSQL's table set (which started at version 4) with the later steps it shares with SQLite.

/// The schema's version, kept in SQLite's `user_version`: 0 is a new file, 1 the first schema (written before
/// versions were recorded), 2 adds the sync's owner and heartbeat and the `interrupted` state, 3 why a grant is
/// immutable, 4 the service's schedule (`schedule.rs`), 5 drops the grants' index by principal, 6 records which
/// replicas serve which tenants, 7 keeps provisioning flows' links and log (`flows.rs`), 8 indexes accounts by
/// login (`logins`), 9 keeps each run's outcome and a running sync's progress for the status page, 10 keeps no
/// value twice in a row and packs resource lines.
pub const SCHEMA_VERSION: i64 = 10;
/// The oldest schema readers read as it is: grants gained their `immutable` mark in version 3.
pub const OLDEST_READ: i64 = 3;

pub const SCHEMA_V1: &str = "
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
pub const SCHEMA_V2: &str = "
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
pub const SCHEMA_V3: &str = "ALTER TABLE grants ADD COLUMN immutable TEXT;";

/// Version 4: the service's schedule (`schedule.rs`), one row per tenant.
pub const SCHEMA_V4: &str = "
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

/// Version 5: the grants' index by principal goes. No query used it (a grant is looked up by its entitlement,
/// or the sync's grants are read in key order), and a sync's grants arrive in no order of principal, so every
/// page of grants rewrote most of the index: half of what a 100,000-person sync wrote (BENCHMARKS.md), and a
/// share that grows with the square of the company.
pub const SCHEMA_V5: &str = "DROP INDEX IF EXISTS grants_by_principal;";

/// Version 6: the running `serve` processes (`owner`: `replica:pid:nonce`), when each was last heard from, and
/// the tenants each serves (`schedule.rs`), so that a replica disables only tenants no live replica serves, and
/// claims only its own.
pub const SCHEMA_V6: &str = "
CREATE TABLE IF NOT EXISTS replicas (
    owner TEXT PRIMARY KEY,
    seen_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS replica_tenants (
    owner TEXT NOT NULL,
    tenant TEXT NOT NULL,
    PRIMARY KEY (owner, tenant)
);
";

/// Version 7: provisioning flows (`flows.rs`): each flow's last cycle, the target accounts and groups it created
/// or matched by source id, and its log, one row per action of a cycle (names of fields only, never their
/// values); and what writes made of resources and grants since a tenant's latest sync (`written.rs`).
pub const SCHEMA_V7: &str = "
CREATE TABLE IF NOT EXISTS flow_links (
    flow TEXT NOT NULL,
    kind TEXT NOT NULL,
    source_id TEXT NOT NULL,
    target_id TEXT NOT NULL,
    linked_ms BIGINT NOT NULL,
    PRIMARY KEY (flow, kind, source_id)
);
CREATE TABLE IF NOT EXISTS provisioning_log (
    flow TEXT NOT NULL,
    cycle BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    source_id TEXT,
    target_id TEXT,
    action TEXT NOT NULL,
    fields TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (flow, cycle, seq)
);
CREATE TABLE IF NOT EXISTS flows (
    flow TEXT PRIMARY KEY,
    cycle BIGINT NOT NULL,
    state TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    finished_ms BIGINT,
    error TEXT,
    counts TEXT,
    failures BIGINT NOT NULL,
    owner TEXT,
    heartbeat_ms BIGINT
);
CREATE TABLE IF NOT EXISTS written (
    tenant TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    id TEXT NOT NULL,
    since_sync BIGINT NOT NULL,
    data TEXT,
    PRIMARY KEY (tenant, resource_type, id)
);
CREATE TABLE IF NOT EXISTS written_grants (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    since_sync BIGINT NOT NULL,
    entitlement TEXT NOT NULL,
    principal_type TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    present BIGINT NOT NULL,
    PRIMARY KEY (tenant, id)
);
";

/// Version 8, for the SCIM gateway (`gateway/`): each sync's accounts by login, lowercased (ASCII), so that a
/// `userName eq` is one index lookup among a million people (filled from the accounts already stored); and the
/// `externalId` SCIM clients gave resources, which the gateway keeps since no source does.
pub const SCHEMA_V8_SQLITE: &str = "
CREATE TABLE IF NOT EXISTS external_ids (
    tenant TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    PRIMARY KEY (tenant, resource_type, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS logins (
    sync_id INTEGER NOT NULL,
    login TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (sync_id, login, resource_type, id)
) WITHOUT ROWID;
INSERT OR IGNORE INTO logins (sync_id, login, resource_type, id)
    SELECT sync_id, lower(json_extract(data, '$.user.login')), resource_type, id FROM resources
    WHERE json_extract(data, '$.user.login') IS NOT NULL;
";

/// Version 9's table of runs, the same on both stores (no `COLLATE "C"`: its keys are only compared, and runs
/// are ordered by epoch).
macro_rules! runs_table {
    () => {
        "CREATE TABLE IF NOT EXISTS runs (
    tenant TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    owner TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    finished_ms BIGINT NOT NULL,
    state TEXT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT,
    sync_id BIGINT,
    counts TEXT,
    records BIGINT,
    requests BIGINT NOT NULL,
    added BIGINT,
    removed BIGINT,
    changed BIGINT,
    PRIMARY KEY (tenant, epoch)
);
"
    };
}

/// Version 9, for the status page (`service/page/`): each run of a tenant or flow, as its schedule row recorded
/// it (`runs`, the latest 100 kept), with how long it took and, for a sync, what it added, removed and changed;
/// and a running sync's progress on its schedule row, written by its heartbeat.
pub const SCHEMA_V9: &str = concat!(
    runs_table!(),
    "ALTER TABLE schedule ADD COLUMN progress_records BIGINT;
ALTER TABLE schedule ADD COLUMN progress_requests BIGINT;
ALTER TABLE schedule ADD COLUMN progress_pages BIGINT;
"
);

/// Version 9 on PostgreSQL: SQLite's, each step safe to repeat as PostgreSQL's steps are.
pub const SCHEMA_V9_POSTGRES: &str = concat!(
    runs_table!(),
    "ALTER TABLE schedule ADD COLUMN IF NOT EXISTS progress_records BIGINT;
ALTER TABLE schedule ADD COLUMN IF NOT EXISTS progress_requests BIGINT;
ALTER TABLE schedule ADD COLUMN IF NOT EXISTS progress_pages BIGINT;
"
);

/// Version 10 keeps no value twice in a row: a grant's `id` only where it is not the one its key makes (read
/// back through `read::GRANT_ID`), and a resource's line without its columns, packed (`resource_data.rs`, which
/// also packs the lines stored before: SQL cannot). SQLite cannot drop a `NOT NULL`, so the grants table is rebuilt;
/// its `data` columns take bytes as they are.
pub const SCHEMA_V10_SQLITE: &str = "
CREATE TABLE grants_v10 (
    sync_id INTEGER NOT NULL REFERENCES syncs (id),
    entitlement_id TEXT NOT NULL,
    principal_type TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    id TEXT,
    immutable TEXT,
    PRIMARY KEY (sync_id, entitlement_id, principal_type, principal_id)
) WITHOUT ROWID;
INSERT INTO grants_v10 (sync_id, entitlement_id, principal_type, principal_id, id, immutable)
    SELECT sync_id, entitlement_id, principal_type, principal_id, NULLIF(id, entitlement_id || ':' || principal_type || ':' || principal_id), immutable FROM grants;
DROP TABLE grants;
ALTER TABLE grants_v10 RENAME TO grants;
";

/// Version 10 on PostgreSQL: the grants table rebuilt too, since an `UPDATE` of every row would leave the old
/// rows' space to a `VACUUM FULL`; and resource lines kept as bytes (`store/resource_data.rs` packs them).
pub const SCHEMA_V10_POSTGRES: &str = r#"
ALTER TABLE resources ALTER COLUMN data TYPE BYTEA USING convert_to(data, 'UTF8');
ALTER TABLE grants RENAME TO grants_v9;
ALTER INDEX grants_pkey RENAME TO grants_v9_pkey;
CREATE TABLE grants (
    sync_id BIGINT NOT NULL REFERENCES syncs (id),
    entitlement_id TEXT COLLATE "C" NOT NULL,
    principal_type TEXT COLLATE "C" NOT NULL,
    principal_id TEXT COLLATE "C" NOT NULL,
    id TEXT,
    immutable TEXT,
    PRIMARY KEY (sync_id, entitlement_id, principal_type, principal_id)
);
INSERT INTO grants (sync_id, entitlement_id, principal_type, principal_id, id, immutable)
    SELECT sync_id, entitlement_id, principal_type, principal_id, NULLIF(id, entitlement_id || ':' || principal_type || ':' || principal_id), immutable FROM grants_v9;
DROP TABLE grants_v9;
"#;

/// SQLite's steps, from an empty file: each version's script, run when the file is older.
pub const SQLITE_STEPS: [(i64, &str); 10] =
    [(1, SCHEMA_V1), (2, SCHEMA_V2), (3, SCHEMA_V3), (4, SCHEMA_V4), (5, SCHEMA_V5), (6, SCHEMA_V6), (7, SCHEMA_V7), (8, SCHEMA_V8_SQLITE), (9, SCHEMA_V9), (10, SCHEMA_V10_SQLITE)];

/// The schema at version `POSTGRES_SCHEMA_VERSION`, with the SQLite store's tables and columns; a new database
/// takes it, then the steps since. Text keys sort bytewise (`COLLATE "C"`), as SQLite's do, so exports are
/// identical whatever the database's locale.
pub const POSTGRES_SCHEMA_VERSION: i64 = 8;
/// The schema at `POSTGRES_SCHEMA_VERSION`.
pub const POSTGRES_SCHEMA: &str = r#"
CREATE TABLE syncs (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    tenant TEXT COLLATE "C" NOT NULL,
    connector TEXT NOT NULL,
    connector_version TEXT NOT NULL,
    component_sha256 TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'complete', 'failed', 'interrupted')),
    started_at TEXT NOT NULL,
    finished_at TEXT,
    error TEXT,
    checkpoint TEXT,
    requests BIGINT,
    bytes_received BIGINT,
    owner TEXT,
    heartbeat_ms BIGINT
);
CREATE INDEX syncs_by_tenant ON syncs (tenant, state, id);
CREATE TABLE resource_types (
    sync_id BIGINT NOT NULL REFERENCES syncs (id),
    id TEXT COLLATE "C" NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (sync_id, id)
);
CREATE TABLE resources (
    sync_id BIGINT NOT NULL REFERENCES syncs (id),
    resource_type TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    display_name TEXT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (sync_id, resource_type, id)
);
CREATE TABLE entitlements (
    sync_id BIGINT NOT NULL REFERENCES syncs (id),
    id TEXT COLLATE "C" NOT NULL,
    resource_type TEXT COLLATE "C" NOT NULL,
    resource_id TEXT COLLATE "C" NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (sync_id, id)
);
CREATE TABLE grants (
    sync_id BIGINT NOT NULL REFERENCES syncs (id),
    entitlement_id TEXT COLLATE "C" NOT NULL,
    principal_type TEXT COLLATE "C" NOT NULL,
    principal_id TEXT COLLATE "C" NOT NULL,
    id TEXT NOT NULL,
    immutable TEXT,
    PRIMARY KEY (sync_id, entitlement_id, principal_type, principal_id)
);
CREATE TABLE schedule (
    tenant TEXT COLLATE "C" PRIMARY KEY,
    enabled BIGINT NOT NULL DEFAULT 1,
    interval_ms BIGINT NOT NULL,
    next_run_ms BIGINT NOT NULL,
    state TEXT NOT NULL DEFAULT 'waiting',
    lease_owner TEXT,
    lease_epoch BIGINT NOT NULL DEFAULT 0,
    lease_expires_ms BIGINT,
    failures BIGINT NOT NULL DEFAULT 0,
    takeovers BIGINT NOT NULL DEFAULT 0,
    last_outcome TEXT,
    last_error TEXT,
    last_sync_id BIGINT,
    last_counts TEXT,
    last_started_ms BIGINT,
    last_finished_ms BIGINT
);
CREATE INDEX schedule_due ON schedule (next_run_ms);
CREATE TABLE replicas (
    owner TEXT PRIMARY KEY,
    seen_ms BIGINT NOT NULL
);
CREATE TABLE replica_tenants (
    owner TEXT NOT NULL,
    tenant TEXT NOT NULL,
    PRIMARY KEY (owner, tenant)
);
CREATE TABLE flow_links (
    flow TEXT COLLATE "C" NOT NULL,
    kind TEXT NOT NULL,
    source_id TEXT COLLATE "C" NOT NULL,
    target_id TEXT NOT NULL,
    linked_ms BIGINT NOT NULL,
    PRIMARY KEY (flow, kind, source_id)
);
CREATE TABLE provisioning_log (
    flow TEXT COLLATE "C" NOT NULL,
    cycle BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    source_id TEXT,
    target_id TEXT,
    action TEXT NOT NULL,
    fields TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (flow, cycle, seq)
);
CREATE TABLE flows (
    flow TEXT COLLATE "C" PRIMARY KEY,
    cycle BIGINT NOT NULL,
    state TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    finished_ms BIGINT,
    error TEXT,
    counts TEXT,
    failures BIGINT NOT NULL,
    owner TEXT,
    heartbeat_ms BIGINT
);
CREATE TABLE written (
    tenant TEXT COLLATE "C" NOT NULL,
    resource_type TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    since_sync BIGINT NOT NULL,
    data TEXT,
    PRIMARY KEY (tenant, resource_type, id)
);
CREATE TABLE written_grants (
    tenant TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    since_sync BIGINT NOT NULL,
    entitlement TEXT COLLATE "C" NOT NULL,
    principal_type TEXT COLLATE "C" NOT NULL,
    principal_id TEXT COLLATE "C" NOT NULL,
    present BIGINT NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE TABLE logins (
    sync_id BIGINT NOT NULL,
    login TEXT COLLATE "C" NOT NULL,
    resource_type TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (sync_id, login, resource_type, id)
);
CREATE TABLE external_ids (
    tenant TEXT COLLATE "C" NOT NULL,
    resource_type TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    external_id TEXT NOT NULL,
    PRIMARY KEY (tenant, resource_type, id)
);
"#;

/// Version 8 on PostgreSQL: SQLite's, lowercasing ASCII only as SQLite's `lower` does.
pub const SCHEMA_V8_POSTGRES: &str = r#"
CREATE TABLE IF NOT EXISTS external_ids (
    tenant TEXT COLLATE "C" NOT NULL,
    resource_type TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    external_id TEXT NOT NULL,
    PRIMARY KEY (tenant, resource_type, id)
);
CREATE TABLE IF NOT EXISTS logins (
    sync_id BIGINT NOT NULL,
    login TEXT COLLATE "C" NOT NULL,
    resource_type TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (sync_id, login, resource_type, id)
);
INSERT INTO logins (sync_id, login, resource_type, id)
    SELECT sync_id, translate(data::jsonb -> 'user' ->> 'login', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), resource_type, id
    FROM resources WHERE data::jsonb -> 'user' ->> 'login' IS NOT NULL
    ON CONFLICT DO NOTHING;
"#;

/// The schema version the PostgreSQL store first had, and the SQLite store's steps since that apply to it.
pub const POSTGRES_FIRST_VERSION: i64 = 4;
pub const POSTGRES_STEPS: [(i64, &str); 6] = [(5, SCHEMA_V5), (6, SCHEMA_V6), (7, SCHEMA_V7), (8, SCHEMA_V8_POSTGRES), (9, SCHEMA_V9_POSTGRES), (10, SCHEMA_V10_POSTGRES)];
