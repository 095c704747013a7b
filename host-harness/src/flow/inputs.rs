//! What a cycle's plan is made from, read from the store: both tenants' latest complete syncs as writes since
//! left them (`Store::for_each_current_resource`), the source's users in scope, the pushed groups and their
//! members, and the flow's links.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use anyhow::{Result, anyhow};
use serde_json::Value;

use super::FlowSpec;
use super::plan::{Action, Members, Plan, Source, member_entitlement, plan, plan_groups, plan_members};
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
        let user_type = store.trait_types(sync, &[])?.user;
        let user_type = user_type.ok_or_else(|| anyhow!("tenant `{tenant}` has no resource type with the user trait"))?;
        Ok(Self { store, tenant: tenant.to_string(), sync, user_type })
    }

    /// The export records of its users, as writes since the sync left them.
    pub fn users(&self) -> Result<Vec<Value>> {
        self.resources(&self.user_type)
    }

    /// The export records of its resources of `resource_type`, as writes since the sync left them.
    pub fn resources(&self, resource_type: &str) -> Result<Vec<Value>> {
        let mut resources = Vec::new();
        self.store.for_each_current_resource(&self.tenant, self.sync, resource_type, |line| {
            resources.push(serde_json::from_str(line)?);
            Ok(())
        })?;
        Ok(resources)
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
    /// The source users the flow keeps accounts for.
    wanted: HashSet<String>,
    /// Each pushed source group's members (users), by the group's id.
    holders: BTreeMap<String, HashSet<String>>,
}

/// Checks `flow` against the target's write schemas before anything is synced or written, when the store
/// already knows which of the target's types holds its accounts (from its latest sync; a first cycle checks
/// once it has synced the target, still before any write).
pub fn check_early(store: &Store, flow: &FlowSpec, write_schemas: &[WriteSchema]) -> Result<()> {
    let Ok(target) = Synced::latest(store, &flow.target) else { return Ok(()) };
    account_schema(flow, &target, write_schemas).and_then(|schema| flow.check_target(schema, write_schemas))
}

/// The target's write schema of its accounts.
fn account_schema<'w>(flow: &FlowSpec, target: &Synced, write_schemas: &'w [WriteSchema]) -> Result<&'w WriteSchema> {
    write_schemas
        .iter()
        .find(|s| s.resource_type == target.user_type)
        .ok_or_else(|| anyhow!("flow `{}`: the target's component declares no write schema for `{}` (contract 0.5 on)", flow.name, target.user_type))
}

/// Plans `flow`'s next cycle from the store, for a target whose components declare `write_schemas`: its users,
/// its pushed groups, and their members as the flow's links stand now (a cycle plans the members again once
/// its accounts and groups are written: `Planned::members`).
pub fn plan_from_store(store: &Store, flow: &FlowSpec, write_schemas: &[WriteSchema]) -> Result<Planned> {
    let source = Synced::latest(store, &flow.source)?;
    let target = Synced::latest(store, &flow.target)?;
    let schema = account_schema(flow, &target, write_schemas)?;
    flow.check_target(schema, write_schemas)?;
    let in_scope = flow.scope.as_deref().map(|scope| source.holders(scope)).transpose()?;
    let links = store.flow_links(&flow.name, LinkKind::User)?;
    let users = source.users()?;
    let source_side = Source { users: &users, in_scope: in_scope.as_ref() };
    let mut plan = plan(flow, schema, &source_side, &target.users()?, &links);
    let wanted = users.iter().filter(|u| source_side.wanted(u)).filter_map(|u| u["id"].as_str().map(str::to_string)).collect();
    let mut holders = BTreeMap::new();
    if let Some(push) = &flow.groups {
        let group_schema = write_schemas
            .iter()
            .find(|s| s.resource_type == push.target_type)
            .ok_or_else(|| anyhow!("flow `{}`: groups: the target declares no write schema for `{}`", flow.name, push.target_type))?;
        let mut groups = Vec::new();
        for pushed in &push.push {
            source.store.for_each_current_resource(&source.tenant, source.sync, &pushed.resource_type, |line| {
                let group: Value = serde_json::from_str(line)?;
                if group["id"] == pushed.id.as_str() {
                    groups.push(group);
                }
                Ok(())
            })?;
            holders.insert(pushed.id.clone(), source.holders(&member_entitlement(&pushed.resource_type, &pushed.id))?);
        }
        let targets = target.resources(&push.target_type)?;
        plan_groups(push, group_schema, &groups, &targets, &store.flow_links(&flow.name, LinkKind::Group)?, &mut plan);
    }
    let allowed = flow.max_deletions.allowed(links.len() as u64);
    let mut planned = Planned { source_sync: source.sync, target_sync: target.sync, account_type: target.user_type, plan, allowed, wanted, holders };
    let members = planned.members(store, flow)?;
    planned.plan.actions.extend(members);
    Ok(planned)
}

impl Planned {
    /// The membership actions of `flow`'s pushed groups, as the store holds the flow's links and the target's
    /// grants now.
    pub fn members(&self, store: &Store, flow: &FlowSpec) -> Result<Vec<Action>> {
        let Some(push) = &flow.groups else { return Ok(Vec::new()) };
        let group_links = store.flow_links(&flow.name, LinkKind::Group)?;
        let user_links = store.flow_links(&flow.name, LinkKind::User)?;
        let target = Synced { store, tenant: flow.target.clone(), sync: self.target_sync, user_type: self.account_type.clone() };
        let accounts: HashSet<String> = target.users()?.iter().filter_map(|u| u["id"].as_str().map(str::to_string)).collect();
        let mut sides = Vec::new();
        let mut held = Vec::new();
        for (source_group, holders) in &self.holders {
            let Some(target_group) = group_links.get(source_group) else { continue };
            let entitlement = member_entitlement(&push.target_type, target_group);
            let mut members = BTreeSet::new();
            store.for_each_current_grant(&flow.target, self.target_sync, &entitlement, |g| {
                if g.principal_type == self.account_type && accounts.contains(&g.principal_id) {
                    members.insert(g.principal_id);
                }
                Ok(())
            })?;
            held.push(members);
            sides.push((entitlement, holders));
        }
        let groups: Vec<Members> = sides.into_iter().zip(&held).map(|((entitlement, holders), accounts)| Members { entitlement, account_type: &self.account_type, holders, accounts }).collect();
        let mut plan = Plan::default();
        plan_members(&groups, &self.wanted, &user_links, &mut plan);
        Ok(plan.actions)
    }
}
