//! Every PingOne write through the CLI, checked against the double's state, with the idempotent repeats
//! and PingOne's refusals.

use pingone_double::{Environment, EnvironmentSpec, Membership, PingOneDouble, Principal};
use serde_json::Value;

use super::*;

fn write(scratch: &Scratch, double: &PingOneDouble, command: &[&str]) -> Value {
    let mut command = command.to_vec();
    command.insert(1, "--provisioning");
    let out = harness(&pingone_args(scratch, &command, double, &[])).ok();
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn refused(scratch: &Scratch, double: &PingOneDouble, command: &[&str]) -> String {
    let mut command = command.to_vec();
    command.insert(1, "--provisioning");
    let outcome = harness(&pingone_args(scratch, &command, double, &[]));
    assert_ne!(outcome.code, 0, "{}", outcome.out);
    outcome.err
}

#[test]
fn accounts_memberships_and_roles_are_written_and_repeats_are_harmless() {
    let env = Environment::generate(EnvironmentSpec::sized(300, 20));
    let double = PingOneDouble::start(env.clone()).unwrap();
    let scratch = Scratch::new();

    // Accounts: created in the default population unless one is named; a taken username is adopted.
    let fields = ["--field", "username=ada.new", "--field", "email=ada.new@example.com", "--field", "given_name=Ada", "--field", "family_name=New"];
    let created = write(&scratch, &double, &[&["create-account"][..], &fields].concat());
    assert_eq!(created["outcome"], "created");
    let ada = created["resource"]["id"].as_str().unwrap().to_string();
    let stored = double.environment().user(&ada).cloned().expect("in PingOne");
    assert_eq!((stored.username.as_str(), stored.given.as_str(), stored.population_id.as_str()), ("ada.new", "Ada", env.populations[0].id.as_str()));
    let again = write(&scratch, &double, &[&["create-account"][..], &fields].concat());
    assert_eq!((again["outcome"].as_str(), again["resource"]["id"].as_str()), (Some("already_exists"), Some(ada.as_str())));
    let elsewhere = format!("population={}", env.populations[2].id);
    let bob = write(&scratch, &double, &["create-account", "--field", "username=bob.new", "--field", "email=bob@example.com", "--field", &elsewhere]);
    let bob = bob["resource"]["id"].as_str().unwrap().to_string();
    assert_eq!(double.environment().user(&bob).unwrap().population_id, env.populations[2].id);

    // Disable, enable, change an attribute.
    let disabled = write(&scratch, &double, &["update-account", "--id", &ada, "--field", "enabled=false", "--field", "title=Engineer"]);
    assert_eq!((disabled["resource"]["status"].as_str(), disabled["resource"]["user"]["title"].as_str()), (Some("disabled"), Some("Engineer")));
    assert!(!double.environment().user(&ada).unwrap().enabled);
    write(&scratch, &double, &["update-account", "--id", &ada, "--field", "enabled=true"]);
    assert!(double.environment().user(&ada).unwrap().enabled);

    // Direct group membership: granted, repeated, revoked, revoked again.
    let group = env.groups.iter().find(|g| g.user_filter.is_none() && g.population_id.is_none()).unwrap();
    let entitlement = format!("group:{}:member", group.id);
    let principal = format!("user:{ada}");
    let grant_id = format!("{entitlement}:{principal}");
    assert_eq!(write(&scratch, &double, &["grant", "--entitlement", &entitlement, "--principal", &principal])["outcome"], "granted");
    assert_eq!(double.environment().members(&group.id).get(&ada), Some(&Membership::Direct));
    assert_eq!(write(&scratch, &double, &["grant", "--entitlement", &entitlement, "--principal", &principal])["outcome"], "already_exists");
    assert_eq!(write(&scratch, &double, &["revoke", "--grant", &grant_id])["outcome"], "revoked");
    assert!(!double.environment().members(&group.id).contains_key(&ada));
    assert_eq!(write(&scratch, &double, &["revoke", "--grant", &grant_id])["outcome"], "already_revoked");

    // A group as a member is nesting: granted, repeated, revoked, revoked again.
    let (child, parent) = (&env.groups[3], env.groups.iter().find(|g| g.user_filter.is_none() && g.id != env.groups[3].id && !env.ancestors(&env.groups[3].id).iter().any(|(a, _)| a == &g.id) && !env.ancestors(&g.id).iter().any(|(a, _)| a == &env.groups[3].id)).unwrap());
    let nested = format!("group:{}:member", parent.id);
    let child_principal = format!("group:{}", child.id);
    assert_eq!(write(&scratch, &double, &["grant", "--entitlement", &nested, "--principal", &child_principal])["outcome"], "granted");
    assert!(double.environment().nesting.contains(&(child.id.clone(), parent.id.clone())));
    assert_eq!(write(&scratch, &double, &["grant", "--entitlement", &nested, "--principal", &child_principal])["outcome"], "already_exists");
    assert_eq!(write(&scratch, &double, &["revoke", "--grant", &format!("{nested}:{child_principal}")])["outcome"], "revoked");
    assert!(!double.environment().nesting.contains(&(child.id.clone(), parent.id.clone())));
    assert_eq!(write(&scratch, &double, &["revoke", "--grant", &format!("{nested}:{child_principal}")])["outcome"], "already_revoked");

    // A dynamic membership cannot be removed, and the refusal says why.
    let dynamic = env.groups.iter().find(|g| g.user_filter.is_some()).unwrap();
    let member = env.members(&dynamic.id).keys().next().unwrap().clone();
    let error = refused(&scratch, &double, &["revoke", "--grant", &format!("group:{}:member:user:{member}", dynamic.id)]);
    assert!(error.contains("rejected") && error.contains(&format!("matches the group's userFilter `{}`", dynamic.user_filter.as_deref().unwrap())), "{error}");
    assert!(double.environment().members(&dynamic.id).contains_key(&member));

    // A role at a population scope, to a user; at the environment, to a group; a scope the role does not allow.
    let auditor = env.roles.iter().find(|r| r.name == "Population Auditor").unwrap();
    let at_population = format!("role:{}:population:{}", auditor.id, env.populations[1].id);
    assert_eq!(write(&scratch, &double, &["grant", "--entitlement", &at_population, "--principal", &principal])["outcome"], "granted");
    let held = |p: &Principal| double.environment().assignments.iter().any(|a| &a.principal == p && a.role_id == auditor.id && a.scope_id == env.populations[1].id);
    assert!(held(&Principal::User(ada.clone())));
    assert_eq!(write(&scratch, &double, &["grant", "--entitlement", &at_population, "--principal", &principal])["outcome"], "already_exists");
    assert_eq!(write(&scratch, &double, &["revoke", "--grant", &format!("{at_population}:{principal}")])["outcome"], "revoked");
    assert!(!held(&Principal::User(ada.clone())));
    let admin = env.roles.iter().find(|r| r.name == "Identity Data Admin").unwrap();
    let at_environment = format!("role:{}:environment:{}", admin.id, env.id);
    let group_principal = format!("group:{}", group.id);
    assert_eq!(write(&scratch, &double, &["grant", "--entitlement", &at_environment, "--principal", &group_principal])["outcome"], "granted");
    assert!(double.environment().assignments.iter().any(|a| a.principal == Principal::Group(group.id.clone()) && a.role_id == admin.id));
    let error = refused(&scratch, &double, &["grant", "--entitlement", &format!("role:{}:environment:{}", auditor.id, env.id), "--principal", &principal]);
    assert!(error.contains("Incompatible role and scope combination") && error.contains("PingOne error id"), "{error}");
    let error = refused(&scratch, &double, &["grant", "--entitlement", &format!("population:{}:member", env.populations[1].id), "--principal", &principal]);
    assert!(error.contains("the connector does not declare `grant` for `population`"), "read-only: {error}");

    // Delete, then again.
    assert_eq!(write(&scratch, &double, &["delete", "--resource", &format!("user:{bob}")])["outcome"], "deleted");
    assert!(double.environment().user(&bob).is_none());
    assert_eq!(write(&scratch, &double, &["delete", "--resource", &format!("user:{bob}")])["outcome"], "did_not_exist");
}
