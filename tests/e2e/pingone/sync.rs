//! A whole environment synced exactly, and the request floor at two sizes.

use std::collections::BTreeSet;

use pingone_double::{Behaviour, Environment, EnvironmentSpec, Faults, Membership, PingOneDouble};
use serde_json::Value;

use super::*;

fn by_id<'a>(lines: &'a [Value], resource_type: &str) -> BTreeMap<String, &'a Value> {
    of_kind(lines, "resource").into_iter().filter(|r| r["resource_type"] == resource_type).map(|r| (r["id"].as_str().unwrap().to_string(), r)).collect()
}

#[test]
fn a_5000_user_environment_syncs_exactly_with_every_membership_and_role_grant() {
    let env = Environment::generate(EnvironmentSpec::sized(5000, 100));
    let double = PingOneDouble::start(env.clone()).unwrap();
    let scratch = Scratch::new();
    let out = pingone_sync(&scratch, &double, &["--concurrency", "8"]).ok();
    assert!(out.contains("synced tenant `default`"), "{out}");
    let lines = export(&scratch, "default");

    let users = by_id(&lines, "user");
    assert_eq!(users.len(), 5000);
    for u in &env.users {
        let line = users[&u.id];
        let trait_ = &line["user"];
        assert_eq!(line["display_name"], format!("{} {}", u.given, u.family));
        assert_eq!(trait_["login"], u.username.as_str());
        assert_eq!(trait_["emails"], serde_json::json!([{"address": u.email, "primary": true}]));
        assert_eq!((trait_["name"]["given_name"].as_str(), trait_["name"]["family_name"].as_str()), (Some(u.given.as_str()), Some(u.family.as_str())));
        assert_eq!(trait_["title"].as_str(), u.title.as_deref());
        let phones: Vec<&str> = [&u.mobile_phone, &u.primary_phone].into_iter().flatten().map(String::as_str).collect();
        assert_eq!(trait_["phone_numbers"], serde_json::json!(phones));
        assert_eq!(trait_["employee_ids"], serde_json::json!(u.external_id.iter().collect::<Vec<_>>()));
        assert_eq!(line["status"], if u.enabled { "enabled" } else { "disabled" }, "{}", u.username);
        assert_eq!(line["status_detail"].as_str(), u.locked.then_some("account locked"), "{}", u.username);
        assert_eq!(line["profile"]["costCenter"].as_str(), u.cost_center.as_deref(), "a custom attribute lands in the profile");
        assert_eq!(line["profile"]["population"]["id"], u.population_id.as_str());
        assert_eq!(line["created_at"], u.created_at.as_str());
    }
    let groups = by_id(&lines, "group");
    assert_eq!(groups.len(), 100);
    for g in &env.groups {
        let line = groups[&g.id];
        let kind = if g.user_filter.is_some() { "dynamic" } else if g.population_id.is_some() { "population" } else { "group" };
        assert_eq!((line["display_name"].as_str(), line["group"]["source_kind"].as_str()), (Some(g.name.as_str()), Some(kind)));
        assert_eq!(line["group"]["member_count"].as_u64(), Some(env.members(&g.id).len() as u64));
        assert_eq!(line["profile"]["userFilter"].as_str(), g.user_filter.as_deref());
    }
    let populations = by_id(&lines, "population");
    assert_eq!(populations.keys().cloned().collect::<Vec<_>>(), env.populations.iter().map(|p| p.id.clone()).collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>());
    let roles = by_id(&lines, "role");
    assert_eq!(roles.len(), env.roles.len(), "built-in and custom roles");
    for r in &env.roles {
        assert_eq!((roles[&r.id]["display_name"].as_str(), roles[&r.id]["profile"]["type"].as_str()), (Some(r.name.as_str()), Some(r.kind)));
    }

    // Entitlements: a member entitlement per group and population, a role entitlement per role and scope it
    // allows here, and the organization scope an assignment revealed.
    let mut expected: BTreeSet<String> = env.groups.iter().map(|g| format!("group:{}:member", g.id)).collect();
    expected.extend(env.populations.iter().map(|p| format!("population:{}:member", p.id)));
    for r in &env.roles {
        if r.applicable_to.contains(&"ENVIRONMENT") {
            expected.insert(format!("role:{}:environment:{}", r.id, env.id));
        }
        if r.applicable_to.contains(&"POPULATION") {
            expected.extend(env.populations.iter().map(|p| format!("role:{}:population:{}", r.id, p.id)));
        }
    }
    let organization_admin = env.assignments.iter().find(|a| a.scope_type == "ORGANIZATION").expect("one organization assignment");
    expected.insert(format!("role:{}:organization:{}", organization_admin.role_id, organization_admin.scope_id));
    let exported: BTreeSet<String> = of_kind(&lines, "entitlement").iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(exported, expected);

    // Every grant, with exactly the immutable ones marked, and the kinds the environment must exercise.
    let grants = exported_grants(&lines);
    assert_eq!(grants, expected_grants(&env, true));
    let kinds = |want: fn(&Membership) -> bool| env.groups.iter().map(|g| env.members(&g.id).values().filter(|m| want(m)).count()).sum::<usize>();
    assert!(kinds(|m| matches!(m, Membership::Dynamic)) > 100 && kinds(|m| matches!(m, Membership::Nested { .. })) > 100, "dynamic and nested members");
    assert!(env.assignments.iter().any(|a| a.scope_type == "POPULATION") && env.assignments.iter().any(|a| a.scope_type == "ENVIRONMENT"));
    let inherited: usize = env.users.iter().map(|u| env.user_assignments(&u.id).iter().filter(|a| a["group"]["id"].is_string()).count()).sum();
    assert!(inherited > 50, "users inherit roles through groups ({inherited}), and none of those is exported as the user's");
}

#[test]
fn a_full_sync_costs_exactly_the_request_floor_at_two_sizes() {
    let exact = Behaviour { short_pages: false, ..Default::default() };
    for (users, groups, nested) in [(1000, 30, false), (2400, 60, true)] {
        let env = Environment::generate(EnvironmentSpec { nested, ..EnvironmentSpec::sized(users, groups) });
        for role_grants in [true, false] {
            let double = PingOneDouble::start_with(env.clone(), exact.clone(), Faults::default()).unwrap();
            let scratch = Scratch::new();
            let flag = format!("role_grants={role_grants}");
            pingone_sync(&scratch, &double, &["--config", &flag]).ok();
            let counts = double.counts();
            assert_eq!(counts.tokens, 1, "one token serves the sync");
            assert_eq!(counts.total, floor(&env, role_grants, nested), "{users} users, {groups} groups, role grants {role_grants}: {counts:?}");
            assert_eq!(counts.nesting_reads, if nested { groups as u64 } else { 0 }, "nesting is read only where the counts show it");
            assert_eq!(exported_grants(&export(&scratch, "default")), expected_grants(&env, role_grants));
        }
    }
}

#[test]
fn a_requests_per_second_cap_spaces_the_sync_and_changes_nothing_else() {
    let env = Environment::generate(EnvironmentSpec { nested: false, ..EnvironmentSpec::sized(300, 6) });
    let double = PingOneDouble::start(env.clone()).unwrap();
    let scratch = Scratch::new();
    let started = std::time::Instant::now();
    pingone_sync(&scratch, &double, &["--concurrency", "8", "--max-requests-per-second", "100"]).ok();
    let requests = double.counts().total + double.counts().tokens;
    // A lower bound only: at most 100 requests leave per second, however many instances ask.
    let least = std::time::Duration::from_secs_f64((requests - 1) as f64 / 100.0);
    assert!(started.elapsed() >= least, "{requests} requests in {:?}, under the cap's {least:?}", started.elapsed());
    assert_eq!(exported_grants(&export(&scratch, "default")), expected_grants(&env, true));
}

#[test]
fn either_answer_to_what_pingone_leaves_unconfirmed_syncs_the_same() {
    // The built-in roles listed by the environment too (then `/v1/roles` is not asked), and a group list that
    // ignores `include=totalMemberCounts` (then nesting cannot be ruled out, and every group's is read).
    // No nesting here: with counts, that is seen and no group's nesting is read.
    let env = Environment::generate(EnvironmentSpec { nested: false, ..EnvironmentSpec::sized(600, 12) });
    let expected = expected_grants(&env, true);
    let cases = [
        ("built-ins in the environment's list", Behaviour { platform_roles_in_environment_list: true, ..Default::default() }, 1, 0),
        ("no counts on the group list", Behaviour { counts_on_group_list: false, ..Default::default() }, 2, 12),
        ("the double's default answers", Behaviour::default(), 2, 0),
    ];
    for (name, behaviour, role_lists, nesting_reads) in cases {
        let double = PingOneDouble::start_with(env.clone(), behaviour, Faults::default()).unwrap();
        let scratch = Scratch::new();
        pingone_sync(&scratch, &double, &[]).ok();
        let lines = export(&scratch, "default");
        assert_eq!(exported_grants(&lines), expected, "{name}");
        assert_eq!(of_kind(&lines, "resource").iter().filter(|r| r["resource_type"] == "role").count(), env.roles.len(), "{name}");
        assert_eq!((double.counts().role_lists, double.counts().nesting_reads), (role_lists, nesting_reads), "{name}");
    }
}
