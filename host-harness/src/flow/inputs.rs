//! What a cycle's plan is made from, read from the store: both tenants' latest complete syncs as writes since
//! left them (`Store::for_each_current_resource`), the source's users in scope, and the flow's links.

use std::collections::HashSet;

use anyhow::{Result, anyhow};
use serde_json::Value;

use super::FlowSpec;
use super::plan::{Plan, Source, plan};
use crate::contract::model::WriteSchema;
use crate::store::{LinkKind, Store, SyncId};

/// A tenant's latest complete sync, and its resource type with the user trait.
pub struct Synced<'s> {
    store: &'s Store,
    tenant: String,
    /// The sync.
    pub sync: SyncId,
    /// The type whose resources are its users.
    pub user_type: String,
}

impl<'s> Synced<'s> {
    /// `tenant`'s latest complete sync in `store`.
    pub fn latest(store: &'s Store, tenant: &str) -> Result<Self> {
        let sync = store.latest_complete(tenant).map_err(|e| anyhow!("{e}: sync it first"))?.id;
        let mut user_type = None;
        store.for_each_resource_type(sync, |line| {
            let record: Value = serde_json::from_str(line)?;
            if user_type.is_none() && record["traits"].as_array().is_some_and(|t| t.iter().any(|t| t == "user")) {
                user_type = record["id"].as_str().map(str::to_string);
            }
            Ok(())
        })?;
        let user_type = user_type.ok_or_else(|| anyhow!("tenant `{tenant}` has no resource type with the user trait"))?;
        Ok(Self { store, tenant: tenant.to_string(), sync, user_type })
    }

    /// The export records of its users, as writes since the sync left them.
    pub fn users(&self) -> Result<Vec<Value>> {
        let mut users = Vec::new();
        self.store.for_each_current_resource(&self.tenant, self.sync, &self.user_type, |line| {
            users.push(serde_json::from_str(line)?);
            Ok(())
        })?;
        Ok(users)
    }

    /// The ids of the users holding `entitlement`.
    pub fn holders(&self, entitlement: &str) -> Result<HashSet<String>> {
        let mut holders = HashSet::new();
        self.store.for_each_grant(self.sync, Some(entitlement), None, |g| {
            if g.principal_type == self.user_type {
                holders.insert(g.principal_id);
            }
            Ok(())
        })?;
        Ok(holders)
    }
}

/// A cycle's plan with what it was made from.
pub struct Planned {
    /// The source's sync read.
    pub source_sync: SyncId,
    /// The target's sync read.
    pub target_sync: SyncId,
    /// The target's account type.
    pub account_type: String,
    /// The plan.
    pub plan: Plan,
    /// The most removals the flow's threshold allows this cycle.
    pub allowed: u64,
}

/// Plans `flow`'s next cycle from the store, for a target whose components declare `write_schemas`.
pub fn plan_from_store(store: &Store, flow: &FlowSpec, write_schemas: &[WriteSchema]) -> Result<Planned> {
    let source = Synced::latest(store, &flow.source)?;
    let target = Synced::latest(store, &flow.target)?;
    let schema = write_schemas
        .iter()
        .find(|s| s.resource_type == target.user_type)
        .ok_or_else(|| anyhow!("flow `{}`: the target's component declares no write schema for `{}` (contract 0.5 on)", flow.name, target.user_type))?;
    flow.check_target(schema)?;
    let in_scope = flow.scope.as_deref().map(|scope| source.holders(scope)).transpose()?;
    let links = store.flow_links(&flow.name, LinkKind::User)?;
    let users = source.users()?;
    let plan = plan(flow, schema, &Source { users: &users, in_scope: in_scope.as_ref() }, &target.users()?, &links);
    let allowed = flow.max_deletions.allowed(links.len() as u64);
    Ok(Planned { source_sync: source.sync, target_sync: target.sync, account_type: target.user_type, plan, allowed })
}
