//! Reading a stored sync: which syncs a tenant has, their counts, their rows one by one, the export in JSON
//! lines, and the diff of two syncs.

use anyhow::Result;

use super::sql::{Row, args};
use super::{Store, SyncId, resource_data};
use crate::display::printable;
use crate::records::{self, GrantRow};

/// One sync as the store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncInfo {
    /// Its id.
    pub id: SyncId,
    /// Its tenant.
    pub tenant: String,
    /// `running`, `complete`, `failed` or `interrupted`.
    pub state: String,
    /// The connector's name.
    pub connector: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it ended, if it has.
    pub finished_at: Option<String>,
    /// Why it failed or stopped, redacted.
    pub error: Option<String>,
}

/// A sync's resource types with the user and the group trait: its accounts' and its groups'.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraitTypes {
    /// The type of its accounts.
    pub user: Option<String>,
    /// The type of its groups.
    pub group: Option<String>,
}

/// What a sync holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncCounts {
    /// Resources per type, by type id.
    pub resources: Vec<(String, u64)>,
    /// Entitlements.
    pub entitlements: u64,
    /// Grants.
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
    /// Resources of every type.
    pub fn resources_total(&self) -> u64 {
        self.resources.iter().map(|(_, n)| n).sum()
    }

    /// Every record: resources, entitlements and grants.
    pub fn records(&self) -> u64 {
        self.resources_total() + self.entitlements + self.grants
    }

    /// Resources per type as one token, for a log field: `user=1500,group=163`.
    pub fn by_type(&self) -> String {
        self.resources.iter().map(|(t, n)| format!("{}={n}", printable(t, 256).replace([',', '=', ' '], "_"))).collect::<Vec<_>>().join(",")
    }

    /// Counts a page of `resource_type`.
    pub fn add(&mut self, resource_type: &str, resources: u64, entitlements: u64, grants: u64) {
        match self.resources.iter_mut().find(|(t, _)| t == resource_type) {
            Some((_, n)) => *n += resources,
            None => self.resources.push((resource_type.to_string(), resources)),
        }
        self.entitlements += entitlements;
        self.grants += grants;
    }
}

pub(super) const SYNC_INFO_COLUMNS: &str = "id, tenant, state, connector, started_at, finished_at, error";

pub(super) fn sync_info(row: &Row) -> Result<SyncInfo> {
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

/// A stored grant's id (`grants g`): since version 10 its `id` is kept only when it is not the one its key makes,
/// `<entitlement>:<principal type>:<principal id>`, which is how `connector-model`'s `Grant::new` names a grant.
pub(super) const GRANT_ID: &str = "coalesce(g.id, g.entitlement_id || ':' || g.principal_type || ':' || g.principal_id)";

/// A grant's id as it is stored: `None` when `GRANT_ID` makes it again from the grant's key.
pub(super) fn stored_grant_id<'a>(id: &'a str, entitlement: &str, principal_type: &str, principal_id: &str) -> Option<&'a str> {
    let made = id.strip_prefix(entitlement).and_then(|rest| rest.strip_prefix(':')).and_then(|rest| rest.strip_prefix(principal_type)).and_then(|rest| rest.strip_prefix(':')) == Some(principal_id);
    (!made).then_some(id)
}

/// A grant of a row `SELECT id, entitlement, principal type, principal id, immutable …`.
pub(super) fn grant_row(row: &Row) -> Result<GrantRow> {
    Ok(GrantRow { id: row.string(0)?, entitlement: row.string(1)?, principal_type: row.string(2)?, principal_id: row.string(3)?, immutable: row.opt_string(4)? })
}

impl Store {
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

    /// The tenant's latest complete sync: what readers see.
    pub fn latest_complete(&self, tenant: &str) -> Result<SyncInfo> {
        self.complete_syncs(tenant, 1)?
            .pop()
            .ok_or_else(|| anyhow::anyhow!("tenant `{tenant}` has no complete sync in this store"))
    }

    /// Sync `id`, if there is one.
    pub fn sync(&self, id: SyncId) -> Result<Option<SyncInfo>> {
        self.db.row(&format!("SELECT {SYNC_INFO_COLUMNS} FROM syncs WHERE id = ?1"), args![id])?.as_ref().map(sync_info).transpose()
    }

    /// What sync `sync` holds.
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

    /// Whether sync `sync` lists `resource_type`.
    pub fn has_resource_type(&self, sync: SyncId, resource_type: &str) -> Result<bool> {
        Ok(self.db.row("SELECT id FROM resource_types WHERE sync_id = ?1 AND id = ?2", args![sync, resource_type])?.is_some())
    }

    /// Calls `each` with every resource's JSON line (of one type, if given), ordered by type and id.
    pub fn for_each_resource(&self, sync: SyncId, resource_type: Option<&str>, mut each: impl FnMut(&str) -> Result<()>) -> Result<()> {
        self.db.for_each(
            &format!("SELECT {} FROM resources r WHERE r.sync_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR r.resource_type = ?2) ORDER BY r.resource_type, r.id", resource_data::COLUMNS),
            args![sync, resource_type],
            |row| each(&resource_data::line_of_row(row)?),
        )
    }

    /// Calls `each` with the sync's grants (of one entitlement, or of one principal, if given), in key order.
    pub fn for_each_grant(&self, sync: SyncId, entitlement: Option<&str>, principal: Option<(&str, &str)>, mut each: impl FnMut(GrantRow) -> Result<()>) -> Result<()> {
        let (ptype, pid) = principal.unzip();
        self.db.for_each(
            &format!(
                "SELECT {GRANT_ID}, g.entitlement_id, g.principal_type, g.principal_id, g.immutable FROM grants g WHERE g.sync_id = ?1
                 AND (CAST(?2 AS TEXT) IS NULL OR g.entitlement_id = ?2) AND (CAST(?3 AS TEXT) IS NULL OR (g.principal_type = ?3 AND g.principal_id = ?4))
                 ORDER BY g.entitlement_id, g.principal_type, g.principal_id"
            ),
            args![sync, entitlement, ptype, pid],
            |row| each(grant_row(row)?),
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

    /// Sync `sync`'s resource types with the user trait and with the group trait: of each, the first of `preferred`
    /// that has it, or else the first by id. (Pingboard's departments, groups and locations all have the group trait.)
    pub fn trait_types(&self, sync: SyncId, preferred: &[&str]) -> Result<TraitTypes> {
        let (mut users, mut groups) = (Vec::new(), Vec::new());
        self.for_each_resource_type(sync, |line| {
            let record: serde_json::Value = serde_json::from_str(line)?;
            let has = |name: &str| record["traits"].as_array().is_some_and(|t| t.iter().any(|t| t == name));
            let id = record["id"].as_str().unwrap_or_default().to_string();
            if has("user") {
                users.push(id.clone());
            }
            if has("group") {
                groups.push(id);
            }
            Ok(())
        })?;
        let pick = |types: Vec<String>| preferred.iter().find(|p| types.iter().any(|t| t == *p)).map(|p| p.to_string()).or_else(|| types.first().cloned());
        Ok(TraitTypes { user: pick(users), group: pick(groups) })
    }

    /// Calls `each` with every resource type's JSON line, ordered by id.
    pub fn for_each_resource_type(&self, sync: SyncId, mut each: impl FnMut(&str) -> Result<()>) -> Result<()> {
        self.db.for_each("SELECT data FROM resource_types WHERE sync_id = ?1 ORDER BY id", args![sync], |row| each(row.text(0)?))
    }

    /// Writes a sync as JSON lines: resource types, resources, entitlements, grants.
    pub fn export_jsonl(&self, sync: SyncId, out: &mut dyn std::io::Write) -> Result<()> {
        self.for_each_resource_type(sync, |line| Ok(writeln!(out, "{line}")?))?;
        self.for_each_resource(sync, None, |line| Ok(writeln!(out, "{line}")?))?;
        self.db.for_each("SELECT data FROM entitlements WHERE sync_id = ?1 ORDER BY id", args![sync], |row| Ok(writeln!(out, "{}", row.text(0)?)?))?;
        self.for_each_grant(sync, None, None, |g| Ok(writeln!(out, "{}", records::grant_line(&g))?))?;
        Ok(())
    }

    /// What sync `new` of `tenant` added, removed and changed since the tenant's complete sync before it, if one
    /// is still stored.
    pub fn changes_since_previous(&self, tenant: &str, new: SyncId) -> Result<Option<DiffCounts>> {
        let previous = self.db.row("SELECT max(id) FROM syncs WHERE tenant = ?1 AND state = 'complete' AND id < ?2", args![tenant, new])?;
        match previous.map(|row| row.opt_int(0)).transpose()?.flatten() {
            Some(old) => Ok(Some(self.diff(old, new, &mut std::io::sink())?)),
            None => Ok(None),
        }
    }

    /// What changed from sync `old` to sync `new`: one line per added (+), removed (-) or changed (~) row.
    pub fn diff(&self, old: SyncId, new: SyncId, out: &mut dyn std::io::Write) -> Result<DiffCounts> {
        let mut counts = DiffCounts::default();
        // (kind, table, the key columns, the columns that must be equal for the row to be unchanged). A grant is
        // its key, and changes only in whether the source derives it.
        let tables: [(&str, &str, &[&str], &[&str]); 3] = [
            ("resource", "resources", &["resource_type", "id"], &["display_name", "data"]),
            ("entitlement", "entitlements", &["id"], &["data"]),
            ("grant", "grants", &["entitlement_id", "principal_type", "principal_id"], &["immutable"]),
        ];
        for (kind, table, key, data) in tables {
            let same_key = key.iter().map(|c| format!("o.{c} = n.{c}")).collect::<Vec<_>>().join(" AND ");
            let changed = data.iter().map(|c| format!("o.{c} IS DISTINCT FROM n.{c}")).collect::<Vec<_>>().join(" OR ");
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

/// How many rows a diff found added, removed and changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffCounts {
    /// Rows only in the newer sync.
    pub added: u64,
    /// Rows only in the older sync.
    pub removed: u64,
    /// Rows in both that differ.
    pub changed: u64,
}
