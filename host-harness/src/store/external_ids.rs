//! The `externalId` a SCIM client gave a tenant's resource (RFC 7643 §3.1: the client's own identifier for it),
//! kept by the gateway (`gateway/`) since no source keeps it; forgotten when the resource is deleted through it.

use std::collections::HashMap;

use anyhow::Result;

use super::Store;
use super::sql::{Param, args};

/// Ids looked up per statement.
const IDS_PER_QUERY: usize = 500;

impl Store {
    /// The `externalId`s of `tenant`'s resources of `resource_type` among `ids`, or of all of them (`None`).
    pub fn external_ids(&self, tenant: &str, resource_type: &str, ids: Option<&[&str]>) -> Result<HashMap<String, String>> {
        let mut found = HashMap::new();
        let mut read = |sql: &str, params: &[Param]| {
            self.db.for_each(sql, params, |row| {
                found.insert(row.string(0)?, row.string(1)?);
                Ok(())
            })
        };
        let base = "SELECT id, external_id FROM external_ids WHERE tenant = ?1 AND resource_type = ?2";
        match ids {
            None => read(base, args![tenant, resource_type])?,
            Some(ids) => {
                for chunk in ids.chunks(IDS_PER_QUERY) {
                    let mut params: Vec<Param> = args![tenant, resource_type].to_vec();
                    params.extend(chunk.iter().map(|id| Param::Text(id)));
                    let placeholders: Vec<String> = (3..3 + chunk.len()).map(|n| format!("?{n}")).collect();
                    read(&format!("{base} AND id IN ({})", placeholders.join(", ")), &params)?;
                }
            }
        }
        Ok(found)
    }

    /// Sets (or with `None` forgets) the `externalId` of `tenant`'s resource.
    pub fn set_external_id(&self, tenant: &str, resource_type: &str, id: &str, external_id: Option<&str>) -> Result<()> {
        match external_id {
            Some(external_id) => self.db.execute(
                "INSERT INTO external_ids (tenant, resource_type, id, external_id) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant, resource_type, id) DO UPDATE SET external_id = excluded.external_id",
                args![tenant, resource_type, id, external_id],
            )?,
            None => self.db.execute("DELETE FROM external_ids WHERE tenant = ?1 AND resource_type = ?2 AND id = ?3", args![tenant, resource_type, id])?,
        };
        Ok(())
    }
}
