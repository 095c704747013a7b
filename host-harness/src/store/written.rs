//! What writes made of a tenant's resources and grants since its latest sync: the resource as the connector read
//! it back after the write, or its absence after a delete; a grant made or revoked. A tenant's *current* view is
//! its latest complete sync with these laid over it, so that what a flow (or a person) wrote is seen at once,
//! before the next sync reads it from the source. A row counts for syncs begun before or during its write (`since_sync` is the tenant's
//! newest sync then), and is forgotten once a sync begun after it completes (`forget_written`).

use anyhow::Result;

use super::read::grant_row;
use super::sql::args;
use super::{Store, SyncId};
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
        self.db.for_each(
            "SELECT r.data FROM resources r WHERE r.sync_id = ?1 AND r.resource_type = ?2 AND NOT EXISTS (
                 SELECT 1 FROM written w WHERE w.tenant = ?3 AND w.resource_type = ?2 AND w.id = r.id AND w.since_sync >= ?1)
             UNION ALL
             SELECT data FROM written WHERE tenant = ?3 AND resource_type = ?2 AND since_sync >= ?1 AND data IS NOT NULL",
            args![sync, resource_type, tenant],
            |row| each(row.text(0)?),
        )
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
            "SELECT g.id, g.entitlement_id, g.principal_type, g.principal_id, g.immutable FROM grants g
             WHERE g.sync_id = ?1 AND g.entitlement_id = ?2 AND NOT EXISTS (
                 SELECT 1 FROM written_grants w WHERE w.tenant = ?3 AND w.id = g.id AND w.since_sync >= ?1)
             UNION ALL
             SELECT id, entitlement, principal_type, principal_id, NULL FROM written_grants
             WHERE tenant = ?3 AND entitlement = ?2 AND since_sync >= ?1 AND present = 1",
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
