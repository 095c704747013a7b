//! Shared by the end-to-end tests: run the harness CLI in-process, and the expected export of a company.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

pub use e2e::{Outcome, harness, native};
pub mod source;

use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, GroupKind, Manager, PingboardDouble};
use serde_json::{Value, json};

pub fn component() -> String {
    component_build::pingboard_component().display().to_string()
}

/// A scratch directory with a store path and a private compile cache.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    pub fn store(&self) -> String {
        self.dir.path().join("store.db").display().to_string()
    }

    pub fn cache(&self) -> String {
        self.dir.path().join("cache").display().to_string()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// `sync` arguments for a double, with its credentials.
pub fn sync_args(scratch: &Scratch, double: &PingboardDouble, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "--cache-dir".into(), scratch.cache(), "sync".into(), "--component".into(), component(), "--store".into(), scratch.store(),
        "--config".into(), format!("base_url={}", double.base_url()), "--config".into(), format!("client_id={CLIENT_ID}"),
        "--secret".into(), format!("client_secret={CLIENT_SECRET}"),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

pub fn export(scratch: &Scratch, tenant: &str) -> Vec<Value> {
    let out = harness(&["export", "--store", &scratch.store(), "--tenant", tenant, "--format", "jsonl"]).ok();
    out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("line is not JSON ({e}): {l}"))).collect()
}

pub fn of_kind<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["kind"] == kind).collect()
}

fn resource_type_of(kind: GroupKind) -> &'static str {
    match kind {
        GroupKind::Group => "group",
        GroupKind::Location => "location",
        GroupKind::Department => "department",
    }
}

fn non_empty(s: &str) -> Value {
    if s.is_empty() { Value::Null } else { s.into() }
}

/// The `user` trait the export must carry for each user, keyed by user id.
pub fn expected_users(company: &Company) -> BTreeMap<String, (String, Value, Value)> {
    let links = company.user_links();
    company
        .users
        .iter()
        .map(|u| {
            let [_, locations, departments] = links.get(&u.id).cloned().unwrap_or_default();
            let manager = match u.reports_to {
                Manager::Id(id) => Value::from(id.to_string()),
                Manager::Null | Manager::Absent => Value::Null,
            };
            let trait_ = json!({
                "emails": [{"address": u.email, "primary": true}],
                "login": u.email,
                "manager_id": manager,
                "login_aliases": [],
                "employee_ids": [],
                "name": {"given_name": u.first_name, "family_name": u.last_name, "middle_names": [], "prefix": null, "suffix": null},
                "account_type": "human",
                "title": non_empty(&u.job_title),
                "department_ids": departments,
                "location_ids": locations,
                "start_date": u.start_date,
                "time_zone": u.time_zone,
                "locale": u.locale,
                "nickname": non_empty(&u.nickname),
                "phone_numbers": [u.phone],
                "photo_url": format!("https://images.example.test/{}.png", u.id),
            });
            let profile = company.user_json(u, links.get(&u.id));
            (u.id.clone(), (format!("{} {}", u.first_name, u.last_name), trait_, profile))
        })
        .collect()
}

/// Every group-like resource as `type:id` → (display name, member user ids, profile). The profile is the
/// record but its member list: the members are the grants.
pub fn expected_groups(company: &Company) -> BTreeMap<String, (String, BTreeSet<String>, Value)> {
    company
        .groups
        .iter()
        .map(|g| {
            let mut profile = company.group_json(g);
            profile["links"] = json!({});
            (format!("{}:{}", resource_type_of(g.kind), g.id), (g.name.clone(), g.member_ids.iter().cloned().collect(), profile))
        })
        .collect()
}

/// Asserts that an export is exactly the company: every user field, every group, entitlement and grant.
#[track_caller]
pub fn assert_export_matches(lines: &[Value], company: &Company) {
    let types: Vec<&str> = of_kind(lines, "resource_type").iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(types, ["department", "group", "location", "user"]);

    let users = expected_users(company);
    let exported_users: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "resource" && l["resource_type"] == "user").collect();
    assert_eq!(exported_users.len(), users.len(), "user count");
    for line in exported_users {
        let id = line["id"].as_str().unwrap();
        let (name, trait_, profile) = users.get(id).unwrap_or_else(|| panic!("exported user {id} is not in the company"));
        assert_eq!(line["display_name"], Value::from(name.as_str()), "display name of {id}");
        assert_eq!(line["status"], "enabled");
        assert_eq!(line["parent"], Value::Null);
        assert_eq!(&line["user"], trait_, "user trait of {id}");
        assert_eq!(&line["profile"], profile, "profile of {id}");
    }

    let groups = expected_groups(company);
    let exported_groups: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "resource" && l["resource_type"] != "user").collect();
    assert_eq!(exported_groups.len(), groups.len(), "group-like resource count");
    for line in &exported_groups {
        let key = format!("{}:{}", line["resource_type"].as_str().unwrap(), line["id"].as_str().unwrap());
        let (name, members, profile) = groups.get(&key).unwrap_or_else(|| panic!("exported {key} is not in the company"));
        assert_eq!(line["display_name"], Value::from(name.as_str()), "name of {key}");
        assert_eq!(line["group"]["member_count"], Value::from(members.len()), "member count of {key}");
        assert_eq!(&line["profile"], profile, "profile of {key}");
    }

    let entitlements = of_kind(lines, "entitlement");
    assert_eq!(entitlements.len(), groups.len(), "one member entitlement per group-like resource");
    for e in entitlements {
        let key = format!("{}:{}", e["resource_type"].as_str().unwrap(), e["resource_id"].as_str().unwrap());
        assert!(groups.contains_key(&key), "entitlement of unknown {key}");
        assert_eq!(e["id"], Value::from(format!("{key}:member")));
        assert_eq!((&e["slug"], &e["purpose"], &e["grantable_to"]), (&json!("member"), &json!("assignment"), &json!(["user"])));
    }

    let expected_grants: BTreeSet<String> =
        groups.iter().flat_map(|(key, (_, members, _))| members.iter().map(move |m| format!("{key}:member:user:{m}"))).collect();
    let grants = of_kind(lines, "grant");
    let exported_grants: BTreeSet<String> = grants.iter().map(|g| g["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(grants.len(), exported_grants.len(), "no duplicate grants");
    assert_eq!(exported_grants, expected_grants, "grants");
    for g in grants {
        let id = g["id"].as_str().unwrap();
        assert_eq!(format!("{}:{}:{}", g["entitlement"].as_str().unwrap(), g["principal_type"].as_str().unwrap(), g["principal_id"].as_str().unwrap()), id);
    }
}
