//! The PingOne connector against the PingOne double (`tests/pingone-double`): the whole environment, exactly;
//! the request floor; faults; every write through the CLI; and bad input.

mod bad_input;
mod faults;
mod sync;
mod writes;

use std::collections::BTreeMap;

use pingone_double::{CLIENT_ID, CLIENT_SECRET, Environment, Membership, PingOneDouble, Principal};

use crate::common::*;

pub fn pingone_component() -> String {
    component_build::pingone_component().display().to_string()
}

/// `command` (e.g. `["sync", "--store", …]`) against the double, with its connection flags and `extra`.
pub fn pingone_args(scratch: &Scratch, command: &[&str], double: &PingOneDouble, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec!["--cache-dir".into(), scratch.cache()];
    args.extend(command.iter().map(|s| s.to_string()));
    args.extend([
        "--component".into(),
        pingone_component(),
        "--config".into(),
        format!("api_base={}", double.api_base()),
        "--config".into(),
        format!("auth_base={}", double.auth_base()),
        "--config".into(),
        format!("environment_id={}", double.environment_id()),
        "--config".into(),
        format!("client_id={CLIENT_ID}"),
        "--secret".into(),
        format!("client_secret={CLIENT_SECRET}"),
    ]);
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

pub fn pingone_sync(scratch: &Scratch, double: &PingOneDouble, extra: &[&str]) -> Outcome {
    let store = scratch.store();
    harness(&pingone_args(scratch, &["sync", "--store", &store], double, extra))
}

/// Every grant a sync must export, by id, with why it is immutable: from the double's own model of PingOne's
/// rules, not from anything the connector computes.
pub fn expected_grants(env: &Environment, role_grants: bool) -> BTreeMap<String, Option<String>> {
    let mut grants = BTreeMap::new();
    for group in &env.groups {
        for (user, how) in env.members(&group.id) {
            let why = match how {
                Membership::Direct => None,
                Membership::Dynamic => Some("dynamic: matches the group's userFilter".to_string()),
                Membership::Nested { .. } => Some("member through a nested group".to_string()),
            };
            grants.insert(format!("group:{}:member:user:{user}", group.id), why);
        }
        for (parent, kind) in env.ancestors(&group.id) {
            let why = (kind == "INDIRECT").then(|| "nested through another group".to_string());
            grants.insert(format!("group:{parent}:member:group:{}", group.id), why);
        }
    }
    for user in &env.users {
        let why = "every user is in exactly one population: move the user to change it".to_string();
        grants.insert(format!("population:{}:member:user:{}", user.population_id, user.id), Some(why));
    }
    if role_grants {
        for a in &env.assignments {
            let principal = match &a.principal {
                Principal::User(id) => format!("user:{id}"),
                Principal::Group(id) => format!("group:{id}"),
            };
            grants.insert(format!("role:{}:{}:{}:{principal}", a.role_id, a.scope_type.to_lowercase(), a.scope_id), None);
        }
    }
    grants
}

/// The grants of an export, by id, with their immutable reason.
pub fn exported_grants(lines: &[serde_json::Value]) -> BTreeMap<String, Option<String>> {
    of_kind(lines, "grant").iter().map(|g| (g["id"].as_str().unwrap().to_string(), g["immutable"].as_str().map(str::to_string))).collect()
}

/// The requests a full sync needs at least (`connectors/pingone/README.md`, what a sync costs): a token, the user pages,
/// the populations, the roles (the environment's and the built-in list), the groups, a member walk per group
/// (at least one page each), a nesting read per group when nesting exists, and with role grants one read per
/// user and per group.
pub fn floor(env: &Environment, role_grants: bool, nesting: bool) -> u64 {
    let pages = |n: usize| n.div_ceil(200).max(1) as u64;
    let members: u64 = env.groups.iter().map(|g| pages(env.members(&g.id).len())).sum();
    let groups = env.groups.len() as u64;
    let per_principal = if role_grants { env.users.len() as u64 + groups } else { 0 };
    pages(env.users.len()) + 1 + 2 + 1 + members + if nesting { groups } else { 0 } + per_principal
}
