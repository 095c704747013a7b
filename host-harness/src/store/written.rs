//! What writes made of a tenant's resources and grants since its latest sync: the resource as the connector read
//! it back after the write, or its absence after a delete; a grant made or revoked. A tenant's *current* view is
//! its latest complete sync with these laid over it, so that what a flow (or a person) wrote is seen at once,
//! before the next sync reads it from the source. A row counts for syncs begun before or during its write (`since_sync` is the tenant's
//! newest sync then), and is forgotten once a sync begun after it completes (`forget_written`).

use anyhow::Result;

use super::read::{GRANT_ID, grant_row};
use super::sql::args;
use super::{Store, SyncId, resource_data};
use crate::records::GrantRow;

impl Store {
    /// Records what a write made of `tenant`'s resource: its export line, or `None` once it is deleted.
    pub fn record_written(&self, tenant: &str, resource_type: &str, id: &str, line: Option<&str>) -> Result<()> {
        self.db.execute(
            "INSERT INTO written (tenant, resource_type, id, since_sync, data)
             VALUES (?1, ?2, ?3, (SELECT coalesce(max(id), 0) FROM syncs WHERE tenant = ?1), ?4)
             ON CONFLICT (tenant, resource_type, id) DO UPDATE SET since_sync = excluded.since_sync, data = excluded.data",
            args![tenant, resource_type, id, line],
        )?;
        Ok(())
    }

    /// Calls `each` with the JSON line of every resource of `resource_type` in `tenant`'s current view over its
    /// complete sync `sync`: the sync's resources, as later writes left them.
    pub fn for_each_current_resource(&self, tenant: &str, sync: SyncId, resource_type: &str, mut each: impl FnMut(&str) -> Result<()>) -> Result<()> {
        // Two reads: a synced line is stored packed (`resource_data`), a written one whole, as text.
        self.db.for_each(
            &format!(
                "SELECT {} FROM resources r WHERE r.sync_id = ?1 AND r.resource_type = ?2 AND NOT EXISTS (
                     SELECT 1 FROM written w WHERE w.tenant = ?3 AND w.resource_type = ?2 AND w.id = r.id AND w.since_sync >= ?1)",
                resource_data::COLUMNS
            ),
            args![sync, resource_type, tenant],
            |row| each(&resource_data::line_of_row(row)?),
        )?;
        self.db.for_each(
            "SELECT data FROM written WHERE tenant = ?3 AND resource_type = ?2 AND since_sync >= ?1 AND data IS NOT NULL",
            args![sync, resource_type, tenant],
            |row| each(row.text(0)?),
        )
    }

    /// The JSON line of `tenant`'s resource in its current view over its complete sync `sync`, if it has it.
    pub fn current_resource(&self, tenant: &str, sync: SyncId, resource_type: &str, id: &str) -> Result<Option<String>> {
        if let Some(row) = self.db.row("SELECT data FROM written WHERE tenant = ?1 AND resource_type = ?2 AND id = ?3 AND since_sync >= ?4", args![tenant, resource_type, id, sync])? {
            return row.opt_string(0);
        }
        let row = self.db.row(&format!("SELECT {} FROM resources r WHERE r.sync_id = ?1 AND r.resource_type = ?2 AND r.id = ?3", resource_data::COLUMNS), args![sync, resource_type, id])?;
        row.as_ref().map(resource_data::line_of_row).transpose()
    }

    /// How many resources of `resource_type` `tenant`'s current view over `sync` has, and the JSON lines of
    /// `limit` of them from `offset`: the sync's resources not written since, by id, then those written since, by
    /// id. Each part is read through an index, so a page costs its offset's index steps, never a sort.
    pub fn current_page(&self, tenant: &str, sync: SyncId, resource_type: &str, offset: u64, limit: u64) -> Result<(u64, Vec<String>)> {
        const NOT_WRITTEN: &str = "FROM resources r WHERE r.sync_id = ?1 AND r.resource_type = ?2 AND NOT EXISTS (
            SELECT 1 FROM written w WHERE w.tenant = ?3 AND w.resource_type = ?2 AND w.id = r.id AND w.since_sync >= ?1)";
        let synced = self.db.row(&format!("SELECT count(*) {NOT_WRITTEN}"), args![sync, resource_type, tenant])?.map(|row| row.int(0)).transpose()?.unwrap_or(0) as u64;
        let mut lines = Vec::new();
        if offset < synced && limit > 0 {
            let sql = format!("SELECT {} {NOT_WRITTEN} ORDER BY r.id LIMIT ?4 OFFSET ?5", resource_data::COLUMNS);
            self.db.for_each(&sql, args![sync, resource_type, tenant, limit as i64, offset as i64], |row| {
                lines.push(resource_data::line_of_row(row)?);
                Ok(())
            })?;
        }
        let mut written = Vec::new();
        self.db.for_each(
            "SELECT data FROM written WHERE tenant = ?1 AND resource_type = ?2 AND since_sync >= ?3 AND data IS NOT NULL ORDER BY id",
            args![tenant, resource_type, sync],
            |row| {
                written.push(row.string(0)?);
                Ok(())
            },
        )?;
        let total = synced + written.len() as u64;
        let skip = offset.saturating_sub(synced) as usize;
        let room = (limit as usize).saturating_sub(lines.len());
        lines.extend(written.into_iter().skip(skip).take(room));
        Ok((total, lines))
    }

    /// The JSON lines of `tenant`'s resources of `resource_type` in its current view over `sync` whose login is
    /// `login`, compared in ASCII lowercase: found through the sync's `logins` index, and among the resources
    /// written since.
    pub fn current_by_login(&self, tenant: &str, sync: SyncId, resource_type: &str, login: &str) -> Result<Vec<String>> {
        let login = login.to_ascii_lowercase();
        let mut lines = Vec::new();
        self.db.for_each(
            &format!(
                "SELECT {} FROM logins l JOIN resources r ON r.sync_id = l.sync_id AND r.resource_type = l.resource_type AND r.id = l.id
                 WHERE l.sync_id = ?1 AND l.login = ?2 AND l.resource_type = ?3 AND NOT EXISTS (
                     SELECT 1 FROM written w WHERE w.tenant = ?4 AND w.resource_type = ?3 AND w.id = r.id AND w.since_sync >= ?1)",
                resource_data::COLUMNS
            ),
            args![sync, login.as_str(), resource_type, tenant],
            |row| {
                lines.push(resource_data::line_of_row(row)?);
                Ok(())
            },
        )?;
        self.db.for_each(
            "SELECT data FROM written WHERE tenant = ?1 AND resource_type = ?2 AND since_sync >= ?3 AND data IS NOT NULL",
            args![tenant, resource_type, sync],
            |row| {
                let line = row.string(0)?;
                let record: serde_json::Value = serde_json::from_str(&line)?;
                if record["user"]["login"].as_str().is_some_and(|l| l.to_ascii_lowercase() == login) {
                    lines.push(line);
                }
                Ok(())
            },
        )?;
        Ok(lines)
    }

    /// Records that `tenant`'s `grant` is held (`present`) or was revoked.
    pub fn record_written_grant(&self, tenant: &str, grant: &GrantRow, present: bool) -> Result<()> {
        self.db.execute(
            "INSERT INTO written_grants (tenant, id, since_sync, entitlement, principal_type, principal_id, present)
             VALUES (?1, ?2, (SELECT coalesce(max(id), 0) FROM syncs WHERE tenant = ?1), ?3, ?4, ?5, ?6)
             ON CONFLICT (tenant, id) DO UPDATE SET since_sync = excluded.since_sync, present = excluded.present",
            args![tenant, grant.id.as_str(), grant.entitlement.as_str(), grant.principal_type.as_str(), grant.principal_id.as_str(), i64::from(present)],
        )?;
        Ok(())
    }

    /// Calls `each` with the grants of `entitlement` in `tenant`'s current view over its complete sync `sync`.
    pub fn for_each_current_grant(&self, tenant: &str, sync: SyncId, entitlement: &str, mut each: impl FnMut(GrantRow) -> Result<()>) -> Result<()> {
        self.db.for_each(
            &format!(
                "SELECT {GRANT_ID}, g.entitlement_id, g.principal_type, g.principal_id, g.immutable FROM grants g
                 WHERE g.sync_id = ?1 AND g.entitlement_id = ?2 AND NOT EXISTS (
                     SELECT 1 FROM written_grants w WHERE w.tenant = ?3 AND w.id = {GRANT_ID} AND w.since_sync >= ?1)
                 UNION ALL
                 SELECT id, entitlement, principal_type, principal_id, NULL FROM written_grants
                 WHERE tenant = ?3 AND entitlement = ?2 AND since_sync >= ?1 AND present = 1"
            ),
            args![sync, entitlement, tenant],
            |row| each(grant_row(row)?),
        )
    }

    /// Forgets the writes the newly complete sync `sync` has read from the source (those of its tenant made before
    /// it began).
    pub(super) fn forget_written(&self, sync: SyncId) -> Result<()> {
        for table in ["written", "written_grants"] {
            self.db.execute(&format!("DELETE FROM {table} WHERE tenant = (SELECT tenant FROM syncs WHERE id = ?1) AND since_sync < ?1"), args![sync])?;
        }
        Ok(())
    }
}
