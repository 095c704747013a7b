//! Against `scim2-server`: a directory seeded through its own API is synced and compared user by user, group
//! by group and membership by membership; then every write goes through the CLI and is checked by reading
//! the server back.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::scim2_server::{Scim2Server, TOKEN};
use super::*;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const USERS: usize = 60;

/// A group's member ids, each with its resource type.
type Members = BTreeSet<(String, String)>;

struct Seeded {
    /// Server ids of person 1..=USERS, in order.
    users: Vec<String>,
    /// (id, name, members).
    groups: Vec<(String, String, Members)>,
}

fn person(i: usize, manager: Option<&str>) -> Value {
    let mut enterprise = json!({"employeeNumber": format!("E{i}"), "department": format!("D{}", i % 3)});
    if let Some(manager) = manager {
        enterprise["manager"] = json!({"value": manager});
    }
    json!({
        "schemas": [USER, ENTERPRISE], "userName": format!("person{i}@corp.test"), "displayName": format!("Person {i}"),
        "name": {"givenName": "Person", "familyName": format!("Number {i}")}, "title": format!("Title {}", i % 4),
        "active": !i.is_multiple_of(6), "emails": [{"value": format!("person{i}@corp.test"), "type": "work", "primary": true}],
        ENTERPRISE: enterprise,
    })
}

fn seed(server: &Scim2Server) -> Seeded {
    let mut users: Vec<String> = Vec::new();
    for i in 1..=USERS {
        // Each person after the fourth reports to an earlier one.
        let manager = (i > 4).then(|| users[i / 4 - 1].clone());
        let created = server.create("Users", person(i, manager.as_deref()));
        users.push(created["id"].as_str().unwrap().to_string());
    }
    let members = |step: usize| -> BTreeSet<(String, String)> { users.iter().enumerate().filter(|(n, _)| (n + 1) % step == 0).map(|(_, id)| ("user".to_string(), id.clone())).collect() };
    let mut groups = Vec::new();
    for (name, mut member_set) in [("Fours", members(4)), ("Fives", members(5)), ("Empty", BTreeSet::new())] {
        if name == "Fives" {
            // Nested: Fours is a member of Fives.
            let fours: &(String, String, BTreeSet<(String, String)>) = &groups[0];
            member_set.insert(("group".to_string(), fours.0.clone()));
        }
        let listed: Vec<Value> =
            member_set.iter().map(|(kind, id)| json!({"value": id, "type": if kind == "group" { "Group" } else { "User" }})).collect();
        let created = server.create("Groups", json!({"schemas": [GROUP], "displayName": name, "members": listed}));
        groups.push((created["id"].as_str().unwrap().to_string(), name.to_string(), member_set));
    }
    Seeded { users, groups }
}

#[test]
fn a_directory_on_a_real_scim_server_syncs_exactly() {
    let server = Scim2Server::start();
    let seeded = seed(&server);
    let scratch = Scratch::new();
    let out = scim_sync(&scratch, server.base_url(), TOKEN, &["--config", "page_size=25"]).ok();
    assert!(out.contains("3 department, 3 group, 60 user"), "{out}");
    let lines = export(&scratch, "default");

    let users: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "resource" && l["resource_type"] == "user").collect();
    assert_eq!(users.len(), USERS);
    for (n, id) in seeded.users.iter().enumerate() {
        let i = n + 1;
        let line = users.iter().find(|l| l["id"] == id.as_str()).unwrap_or_else(|| panic!("person {i} ({id}) was not synced"));
        let manager = (i > 4).then(|| seeded.users[i / 4 - 1].clone());
        assert_eq!(line["display_name"], format!("Person {i}"));
        assert_eq!(line["status"], if i % 6 == 0 { "disabled" } else { "enabled" }, "status of person {i}");
        let t = &line["user"];
        assert_eq!(t["login"], format!("person{i}@corp.test"));
        assert_eq!(t["emails"], json!([{"address": format!("person{i}@corp.test"), "primary": true}]));
        assert_eq!(t["name"], json!({"given_name": "Person", "family_name": format!("Number {i}"), "middle_names": [], "prefix": null, "suffix": null}));
        assert_eq!((&t["title"], &t["employee_ids"], &t["manager_id"]), (&json!(format!("Title {}", i % 4)), &json!([format!("E{i}")]), &json!(manager)));
        assert_eq!(t["department_ids"], json!([format!("D{}", i % 3)]));
        assert_eq!(line["profile"], json!({}), "profile of person {i}: everything it has is in the trait");
    }

    let groups: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "resource" && l["resource_type"] == "group").collect();
    assert_eq!(groups.len(), seeded.groups.len());
    let mut expected_grants = BTreeSet::new();
    for (id, name, members) in &seeded.groups {
        let line = groups.iter().find(|l| l["id"] == id.as_str()).unwrap();
        assert_eq!(line["display_name"], name.as_str());
        expected_grants.extend(members.iter().map(|(kind, member)| format!("group:{id}:member:{kind}:{member}")));
    }
    let departments = ["D0", "D1", "D2"];
    for (n, id) in seeded.users.iter().enumerate() {
        expected_grants.insert(format!("department:{}:member:user:{id}", departments[(n + 1) % 3]));
    }
    let entitlements: BTreeSet<String> = of_kind(&lines, "entitlement").iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
    let expected_entitlements: BTreeSet<String> =
        seeded.groups.iter().map(|(id, _, _)| format!("group:{id}:member")).chain(departments.iter().map(|d| format!("department:{d}:member"))).collect();
    assert_eq!(entitlements, expected_entitlements);
    let grants: BTreeSet<String> = of_kind(&lines, "grant").iter().map(|g| g["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(grants, expected_grants);
    assert_eq!(grants.len(), 15 + 12 + 1 + USERS, "group memberships, and each person's department");
}

fn write(scratch: &Scratch, server: &Scim2Server, command: &[&str]) -> Value {
    let mut with_flag = command.to_vec();
    with_flag.insert(1, "--provisioning");
    let out = harness(&scim_args(scratch, &with_flag, server.base_url(), TOKEN)).ok();
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn member_ids(server: &Scim2Server, group: &str) -> Vec<String> {
    let (_, body) = server.get(&format!("Groups/{group}"));
    body["members"].as_array().map(|m| m.iter().map(|m| m["value"].as_str().unwrap().to_string()).collect()).unwrap_or_default()
}

#[test]
fn every_write_lands_on_a_real_scim_server() {
    let server = Scim2Server::start();
    let seeded = seed(&server);
    let scratch = Scratch::new();
    let fields = ["--field", "userName=new.hire@corp.test", "--field", "name.givenName=New", "--field", "name.familyName=Hire",
        "--field", "email=new.hire@corp.test", "--field", "department=Ops", "--field", &format!("manager={}", seeded.users[0])];

    let created = write(&scratch, &server, &[&["create-account"][..], &fields].concat());
    assert_eq!(created["outcome"], "created");
    let id = created["resource"]["id"].as_str().unwrap().to_string();
    let (status, stored) = server.get(&format!("Users/{id}"));
    assert_eq!(status, 200);
    assert_eq!((&stored["userName"], &stored["name"]["familyName"]), (&json!("new.hire@corp.test"), &json!("Hire")));
    assert_eq!(stored[ENTERPRISE], json!({"department": "Ops", "manager": {"value": seeded.users[0]}}));
    let again = write(&scratch, &server, &[&["create-account"][..], &fields].concat());
    assert_eq!((again["outcome"].as_str(), again["resource"]["id"].as_str()), (Some("already_exists"), Some(id.as_str())), "409 uniqueness adopts the existing user");

    let updated = write(&scratch, &server, &["update-account", "--id", &id, "--field", "title=Boss", "--field", "active=false", "--field", "department=Board"]);
    assert_eq!((updated["resource"]["user"]["title"].as_str(), updated["resource"]["status"].as_str()), (Some("Boss"), Some("disabled")));
    let (_, stored) = server.get(&format!("Users/{id}"));
    assert_eq!((&stored["title"], &stored["active"], &stored[ENTERPRISE]["department"]), (&json!("Boss"), &json!(false), &json!("Board")));
    write(&scratch, &server, &["update-account", "--id", &id, "--field", "active=true", "--field", "title="]);
    let (_, stored) = server.get(&format!("Users/{id}"));
    assert_eq!((&stored["active"], stored.get("title")), (&json!(true), None), "reactivated, and an empty value removes the title");

    let team = write(&scratch, &server, &["create-resource", "--type", "group", "--field", "displayName=Platform"]);
    assert_eq!(team["outcome"], "created");
    let team_id = team["resource"]["id"].as_str().unwrap().to_string();
    assert_eq!(server.get(&format!("Groups/{team_id}")).1["displayName"], "Platform");
    assert_eq!(write(&scratch, &server, &["create-resource", "--type", "group", "--field", "displayName=Platform"])["outcome"], "already_exists");

    let entitlement = format!("group:{team_id}:member");
    let principal = format!("user:{id}");
    let grant = ["grant", "--entitlement", entitlement.as_str(), "--principal", principal.as_str()];
    assert_eq!(write(&scratch, &server, &grant)["outcome"], "granted");
    assert_eq!(member_ids(&server, &team_id), vec![id.clone()]);
    assert_eq!(write(&scratch, &server, &grant)["outcome"], "already_exists");
    let nested = format!("group:{}", seeded.groups[0].0);
    assert_eq!(write(&scratch, &server, &["grant", "--entitlement", &entitlement, "--principal", &nested])["outcome"], "granted");
    assert_eq!(member_ids(&server, &team_id), vec![id.clone(), seeded.groups[0].0.clone()]);

    let grant_id = format!("{entitlement}:user:{id}");
    assert_eq!(write(&scratch, &server, &["revoke", "--grant", &grant_id])["outcome"], "revoked");
    assert_eq!(member_ids(&server, &team_id), vec![seeded.groups[0].0.clone()], "only the user left");
    assert_eq!(write(&scratch, &server, &["revoke", "--grant", &grant_id])["outcome"], "already_revoked");

    assert_eq!(write(&scratch, &server, &["delete", "--resource", &principal])["outcome"], "deleted");
    assert_eq!(server.get(&format!("Users/{id}")).0, 404);
    assert_eq!(write(&scratch, &server, &["delete", "--resource", &principal])["outcome"], "did_not_exist");
    assert_eq!(write(&scratch, &server, &["delete", "--resource", &format!("group:{team_id}")])["outcome"], "deleted");

    // The server's own error, verbatim: scim2-server refuses a userName it already has on another user.
    let taken = harness(&scim_args(&scratch, &["update-account", "--provisioning", "--id", &seeded.users[1], "--field", "userName=person1@corp.test"], server.base_url(), TOKEN));
    assert_ne!(taken.code, 0);
    assert!(taken.err.contains("HTTP 409: uniqueness:"), "{}", taken.err);
}

#[test]
fn a_wrong_token_is_one_clear_line() {
    let server = Scim2Server::start();
    let scratch = Scratch::new();
    let refused = scim_sync(&scratch, server.base_url(), "not-the-token", &[]);
    assert_eq!(refused.code, 1, "{}", refused.err);
    assert_eq!(refused.err.trim().lines().count(), 1, "{}", refused.err);
    assert!(refused.err.contains("the bearer token was refused") && !refused.err.contains("not-the-token"), "{}", refused.err);
}
