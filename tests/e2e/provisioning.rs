//! Writes through the component, gated by --provisioning on both sides of the sandbox: each one against the
//! double, then a fresh sync that shows the change; the idempotent cases; the refusals; and the SCIM view.

use crate::common::*;
use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, CompanySpec, PingboardDouble};
use serde_json::{Value, json};

fn write(scratch: &Scratch, double: &PingboardDouble, command: &[&str]) -> Outcome {
    let mut args: Vec<String> = vec!["--cache-dir".into(), scratch.cache()];
    args.extend(command.iter().map(|s| s.to_string()));
    args.extend([
        "--component".into(), component(), "--config".into(), format!("base_url={}", double.base_url()),
        "--config".into(), format!("client_id={CLIENT_ID}"), "--secret".into(), format!("client_secret={CLIENT_SECRET}"),
    ]);
    harness(&args)
}

fn json_out(outcome: Outcome) -> Value {
    serde_json::from_str(outcome.ok().trim()).unwrap()
}

fn resync(scratch: &Scratch, double: &PingboardDouble) -> Vec<Value> {
    harness(&sync_args(scratch, double, &[])).ok();
    export(scratch, "default")
}

fn resource<'a>(lines: &'a [Value], resource_type: &str, id: &str) -> Option<&'a Value> {
    lines.iter().find(|l| l["kind"] == "resource" && l["resource_type"] == resource_type && l["id"] == id)
}

fn has_grant(lines: &[Value], id: &str) -> bool {
    lines.iter().any(|l| l["kind"] == "grant" && l["id"] == id)
}

#[test]
fn every_write_lands_and_shows_in_the_next_sync() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(40))).unwrap();
    let scratch = Scratch::new();
    let p = "--provisioning";

    let created = json_out(write(&scratch, &double, &["create-account", p, "--field", "first_name=Ada", "--field", "last_name=Lovelace",
        "--field", "email=ada@example.com", "--field", "job_title=Analyst", "--field", "office_phone=+44 20 7946 0000", "--field", "start_date=2026-12-01"]));
    assert_eq!(created["outcome"], "created");
    let ada = created["resource"]["id"].as_str().unwrap().to_string();
    assert_eq!((created["resource"]["display_name"].as_str(), created["resource"]["user"]["login"].as_str()), (Some("Ada Lovelace"), Some("ada@example.com")));
    let again = json_out(write(&scratch, &double, &["create-account", p, "--field", "first_name=Ada", "--field", "last_name=L", "--field", "email=ADA@example.com"]));
    assert_eq!((again["outcome"].as_str(), again["resource"]["id"].as_str()), (Some("already_exists"), Some(ada.as_str())));

    let updated = json_out(write(&scratch, &double, &["update-account", p, "--id", &ada, "--field", "job_title=CTO", "--field", "reports_to_id=100000"]));
    assert_eq!((updated["outcome"].as_str(), updated["resource"]["user"]["title"].as_str()), (Some("updated"), Some("CTO")));

    let team = json_out(write(&scratch, &double, &["create-resource", p, "--type", "group", "--field", "name=Platform", "--field", "description=Runs the platform"]));
    assert_eq!((team["outcome"].as_str(), team["resource"]["resource_type"].as_str()), (Some("created"), Some("group")));
    let team_id = team["resource"]["id"].as_str().unwrap().to_string();
    let porto = json_out(write(&scratch, &double, &["create-resource", p, "--type", "location", "--field", "name=Porto"]));
    let porto_id = porto["resource"]["id"].as_str().unwrap().to_string();

    let entitlement = format!("group:{team_id}:member");
    let grant_id = format!("{entitlement}:user:{ada}");
    let granted = json_out(write(&scratch, &double, &["grant", p, "--entitlement", &entitlement, "--principal", &format!("user:{ada}")]));
    assert_eq!(granted, json!({"outcome": "granted", "grant": {"kind": "grant", "id": grant_id, "entitlement": entitlement, "principal_type": "user", "principal_id": ada}}));
    let twice = json_out(write(&scratch, &double, &["grant", p, "--entitlement", &entitlement, "--principal", &format!("user:{ada}")]));
    assert_eq!(twice["outcome"], "already_exists");
    json_out(write(&scratch, &double, &["grant", p, "--entitlement", &format!("location:{porto_id}:member"), "--principal", &format!("user:{ada}")]));

    let lines = resync(&scratch, &double);
    let synced = resource(&lines, "user", &ada).expect("the new account is synced");
    assert_eq!((synced["user"]["title"].as_str(), synced["user"]["manager_id"].as_str()), (Some("CTO"), Some("100000")));
    assert_eq!(synced["user"]["phone_numbers"], json!(["+44 20 7946 0000"]));
    assert_eq!(synced["user"]["start_date"], "2026-12-01");
    assert_eq!(synced["user"]["location_ids"], json!([porto_id]), "the user's links follow the group's members");
    assert_eq!(resource(&lines, "group", &team_id).unwrap()["display_name"], "Platform");
    assert_eq!(resource(&lines, "location", &porto_id).unwrap()["display_name"], "Porto");
    assert!(has_grant(&lines, &grant_id));

    let revoked = json_out(write(&scratch, &double, &["revoke", p, "--grant", &grant_id]));
    assert_eq!(revoked, json!({"outcome": "revoked", "grant": grant_id}));
    assert_eq!(json_out(write(&scratch, &double, &["revoke", p, "--grant", &grant_id]))["outcome"], "already_revoked");
    assert!(!has_grant(&resync(&scratch, &double), &grant_id));

    // `location:<team>` is not a location: nothing is deleted.
    assert_eq!(json_out(write(&scratch, &double, &["delete", p, "--resource", &format!("location:{team_id}")]))["outcome"], "did_not_exist");
    for target in [format!("user:{ada}"), format!("group:{team_id}")] {
        assert_eq!(json_out(write(&scratch, &double, &["delete", p, "--resource", &target]))["outcome"], "deleted");
        assert_eq!(json_out(write(&scratch, &double, &["delete", p, "--resource", &target]))["outcome"], "did_not_exist");
    }
    let lines = resync(&scratch, &double);
    assert!(resource(&lines, "user", &ada).is_none() && resource(&lines, "group", &team_id).is_none());
    assert!(!lines.iter().any(|l| l["kind"] == "grant" && l["principal_id"] == ada.as_str()), "a deleted user holds nothing");
}

#[test]
fn writes_without_provisioning_are_refused_before_anything_is_loaded() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(5))).unwrap();
    let commands: [&[&str]; 6] = [
        &["grant", "--entitlement", "group:5000:member", "--principal", "user:100000"],
        &["revoke", "--grant", "group:5000:member:user:100000"],
        &["create-account", "--field", "first_name=A"],
        &["update-account", "--id", "100000", "--field", "job_title=x"],
        &["create-resource", "--type", "group", "--field", "name=x"],
        &["delete", "--resource", "user:100000"],
    ];
    for command in commands {
        let mut args: Vec<&str> = command.to_vec();
        args.extend(["--component", "/nonexistent/not-even-loaded.wasm"]);
        let outcome = harness(&args);
        assert_eq!(outcome.code, 1);
        assert_eq!(outcome.err.trim_end(), format!("error: `{}` writes to the source system: pass --provisioning to allow it", command[0]));
    }
    assert_eq!(double.counts().total, 0);
}

#[test]
fn bad_writes_are_named_and_a_missing_mandatory_field_sends_nothing() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(5))).unwrap();
    let scratch = Scratch::new();
    let p = "--provisioning";
    let outcome = write(&scratch, &double, &["create-account", p, "--field", "first_name=Ada", "--field", "email=ada@example.com"]);
    assert_eq!((outcome.code, outcome.err.trim_end()), (1, "error: create-account needs `last_name`"), "the host checks the declared write schema");
    assert_eq!(double.counts().total, 0, "no request at all, not even for a token");
    let outcome = write(&scratch, &double, &["update-account", p, "--id", "100000", "--field", "shoe_size=9"]);
    assert_eq!(outcome.err.trim_end(), "error: update-resource: unknown field `shoe_size` (known: first_name, last_name, email, job_title, nickname, office_phone, time_zone, locale, reports_to_id, start_date)");
    assert_eq!(double.counts().total, 0);

    let taken = double.company().users[1].email.clone();
    let outcome = write(&scratch, &double, &["update-account", p, "--id", "100000", "--field", &format!("email={taken}")]);
    assert_eq!(outcome.err.trim_end(), "error: rejected: PATCH /api/v2/users/100000: HTTP 422: Email has already been taken", "Pingboard's words, verbatim");
    let outcome = write(&scratch, &double, &["create-resource", p, "--type", "department", "--field", "description=no name"]);
    assert_eq!(outcome.err.trim_end(), "error: create-resource needs `name`");
    let outcome = write(&scratch, &double, &["grant", p, "--entitlement", "group:424242:member", "--principal", "user:100000"]);
    assert_eq!(outcome.err.trim_end(), "error: not found: group 424242");
    let user = ["--field", "first_name=Ada", "--field", "last_name=L", "--field", "email=ada@example.com"];
    let outcome = write(&scratch, &double, &[&["create-resource", p, "--type", "user"][..], &user].concat());
    assert_eq!(outcome.err.trim_end(), "error: unsupported: create-resource makes groups, locations and departments, not `user` (users: create-account)");
    let outcome = write(&scratch, &double, &["grant", p, "--entitlement", "robot:1:member", "--principal", "user:100000"]);
    assert_eq!(outcome.err.trim_end(), "error: unknown resource type `robot`", "the host checks declared capabilities first");
}

#[test]
fn the_scim_view_maps_users_and_groups_field_by_field() {
    let company = Company::generate(CompanySpec::sized(30));
    let double = PingboardDouble::start(company.clone()).unwrap();
    let scratch = Scratch::new();
    harness(&sync_args(&scratch, &double, &[])).ok();
    let out = harness(&["export", "--store", &scratch.store(), "--format", "scim"]).ok();
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), company.users.len() + company.groups.len());

    let u = &company.users[2]; // Zoë, who has a nickname and reports to user 100000
    let links = company.user_links();
    let scim = lines.iter().find(|l| l["id"] == u.id.as_str()).unwrap();
    let groups: Vec<Value> = company.groups.iter().filter(|g| g.member_ids.contains(&u.id)).map(|g| {
        json!({"value": g.id, "display": g.name, "type": g.kind.as_str()})
    }).collect();
    assert_eq!(links[&u.id].iter().map(Vec::len).sum::<usize>(), groups.len());
    let mut scim_groups = scim["groups"].as_array().unwrap().clone();
    scim_groups.sort_by_key(|g| g["value"].as_str().unwrap().to_string());
    let mut expected_groups = groups.clone();
    expected_groups.sort_by_key(|g| g["value"].as_str().unwrap().to_string());
    assert_eq!(scim_groups, expected_groups);
    let mut without_groups = scim.clone();
    without_groups.as_object_mut().unwrap().remove("groups");
    assert_eq!(without_groups, json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "id": u.id,
        "userName": u.email,
        "name": {"givenName": u.first_name, "familyName": u.last_name, "formatted": format!("{} {}", u.first_name, u.last_name)},
        "displayName": format!("{} {}", u.first_name, u.last_name),
        "nickName": u.nickname,
        "title": u.job_title,
        "timezone": u.time_zone,
        "locale": u.locale,
        "active": true,
        "emails": [{"value": u.email, "primary": true, "type": "work"}],
        "phoneNumbers": [{"value": u.phone, "type": "work"}],
        "photos": [{"value": format!("https://images.example.test/{}.png", u.id), "type": "photo"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "100000", "displayName": "Ada Lovelace"}},
        "meta": {"resourceType": "User", "created": "2021-03-04T05:06:07Z", "lastModified": "2026-10-01T12:00:00Z"},
    }));
    assert!(!u.nickname.is_empty());

    let g = company.groups.iter().find(|g| g.member_ids.len() >= 2).unwrap();
    let scim = lines.iter().find(|l| l["id"] == g.id.as_str() && l["schemas"][0] == "urn:ietf:params:scim:schemas:core:2.0:Group").unwrap();
    let mut members: Vec<Value> = g.member_ids.iter().map(|m| {
        let user = company.user(m).unwrap();
        json!({"value": m, "type": "User", "display": format!("{} {}", user.first_name, user.last_name)})
    }).collect();
    members.sort_by_key(|m| m["value"].as_str().unwrap().to_string());
    let mut got = scim["members"].as_array().unwrap().clone();
    got.sort_by_key(|m| m["value"].as_str().unwrap().to_string());
    assert_eq!(got, members);
    assert_eq!((scim["displayName"].as_str(), scim["meta"]["resourceType"].as_str()), (Some(g.name.as_str()), Some("Group")));
}

#[test]
fn a_tenant_may_be_granted_some_writes_and_the_host_refuses_the_rest_before_the_component() {
    let company = Company::generate(CompanySpec::sized(60));
    let double = PingboardDouble::start(company.clone()).unwrap();
    let scratch = Scratch::new();
    let tenant_file = |grants: &str| {
        let file = scratch.path("tenant.toml");
        std::fs::write(
            &file,
            format!(
                "tenant = \"acme\"\ncomponent = \"{}\"\nprovisioning = {grants}\n[config]\nbase_url = \"{}\"\nclient_id = \"{CLIENT_ID}\"\n[secrets]\nclient_secret = {{ value = \"{CLIENT_SECRET}\" }}\n",
                component(),
                double.base_url()
            ),
        )
        .unwrap();
        file.display().to_string()
    };
    let run = |file: &str, command: &[&str]| {
        let mut args = vec!["--cache-dir".to_string(), scratch.cache(), command[0].to_string(), "--tenant-file".into(), file.to_string()];
        args.extend(command[1..].iter().map(|s| s.to_string()));
        harness(&args)
    };
    // A team and someone not in it.
    let (group, user) = company
        .groups
        .iter()
        .filter(|g| g.kind == pingboard_double::GroupKind::Group)
        .find_map(|g| company.users.iter().find(|u| !g.member_ids.contains(&u.id)).map(|u| (g.id.clone(), u.id.clone())))
        .unwrap();
    let entitlement = format!("group:{group}:member");
    let grant_id = format!("{entitlement}:user:{user}");

    let only_grant = tenant_file("[\"group:grant\"]");
    let granted = json_out(run(&only_grant, &["grant", "--entitlement", &entitlement, "--principal", &format!("user:{user}")]));
    assert_eq!(granted["outcome"], "granted");
    let before = double.counts();
    let refused = run(&only_grant, &["revoke", "--grant", &grant_id]);
    assert_eq!(
        (refused.code, refused.err.trim_end()),
        (1, "error: revoke writes to the source, and `group:revoke` was not granted: this tenant is granted only: group:grant")
    );
    let refused = run(&only_grant, &["delete", "--resource", &format!("user:{user}")]);
    assert_eq!(refused.err.trim_end(), "error: delete-resource writes to the source, and `user:delete` was not granted: this tenant is granted only: group:grant");
    assert_eq!(double.counts().total, before.total, "refused by the host: the component sent nothing, not even for a token");

    let undeclared = run(&tenant_file("[\"user:grant\"]"), &["revoke", "--grant", &grant_id]);
    assert_eq!(undeclared.err.trim_end(), "error: provisioning grant `user:grant` names a write the connector does not declare");
    let everything = json_out(run(&tenant_file("true"), &["revoke", "--grant", &grant_id]));
    assert_eq!(everything["outcome"], "revoked");
    let none = run(&tenant_file("false"), &["revoke", "--grant", &grant_id]);
    assert_eq!(none.err.trim_end(), "error: `revoke` writes to the source system: pass --provisioning to allow it");
}
