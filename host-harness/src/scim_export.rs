//! The SCIM 2.0 view of a sync (RFC 7643): one `User` per resource with a user trait, one `Group` per resource
//! with a group trait, members and groups from the grants, the manager in the enterprise extension. Generic:
//! it reads only the contract's traits, never a connector's profile.

use std::collections::HashMap;

use anyhow::Result;
use serde_json::{Value, json};

use crate::store::{Store, SyncId};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Writes every user, then every group, one SCIM resource per line.
pub fn export(store: &Store, sync: SyncId, out: &mut dyn std::io::Write) -> Result<()> {
    let mut resources: Vec<Value> = Vec::new();
    store.for_each_resource(sync, None, |line| {
        resources.push(serde_json::from_str(line)?);
        Ok(())
    })?;
    let key = |r: &Value| format!("{}:{}", r["resource_type"].as_str().unwrap_or(""), r["id"].as_str().unwrap_or(""));
    let names: HashMap<String, &str> = resources.iter().map(|r| (key(r), r["display_name"].as_str().unwrap_or(""))).collect();
    let user_types: Vec<&str> = resources.iter().filter(|r| r.get("user").is_some()).filter_map(|r| r["resource_type"].as_str()).collect();
    // Memberships: principal → resources whose entitlements it holds, and the reverse.
    let mut groups_of: HashMap<String, Vec<String>> = HashMap::new();
    let mut members_of: HashMap<String, Vec<String>> = HashMap::new();
    store.for_each_membership(sync, |principal, resource| {
        groups_of.entry(principal.clone()).or_default().push(resource.clone());
        members_of.entry(resource).or_default().push(principal);
        Ok(())
    })?;
    let id_of = |k: &str| k.split_once(':').map_or(k.to_string(), |(_, id)| id.to_string());
    for r in resources.iter().filter(|r| r.get("user").is_some()) {
        let groups: Vec<Value> = groups_of.get(&key(r)).into_iter().flatten().filter(|g| names.contains_key(*g)).map(|g| {
            let (kind, id) = g.split_once(':').unwrap_or(("", g));
            json!({"value": id, "display": names[g], "type": kind})
        }).collect();
        let manager = r["user"]["manager_id"].as_str().and_then(|m| user_types.iter().find_map(|t| names.get(&format!("{t}:{m}")).copied()));
        writeln!(out, "{}", user(r, groups, manager))?;
    }
    for r in resources.iter().filter(|r| r.get("group").is_some()) {
        let k = key(r);
        let members: Vec<Value> = members_of.get(&k).into_iter().flatten().map(|m| {
            let display = names.get(m).copied();
            json!({"value": id_of(m), "type": "User", "display": display})
        }).collect();
        writeln!(out, "{}", group(r, members))?;
    }
    Ok(())
}

/// The SCIM `Group` of one export record, with its `members`.
pub fn group(r: &Value, members: Vec<Value>) -> Value {
    json!({
        "schemas": [GROUP_SCHEMA],
        "id": r["id"],
        "displayName": r["display_name"],
        "members": members,
        "meta": {"resourceType": "Group", "created": r["created_at"], "lastModified": r["updated_at"]},
    })
}

/// The SCIM `User` of one export record with a user trait, with its `groups` and its manager's display name.
pub fn user(r: &Value, groups: Vec<Value>, manager_display: Option<&str>) -> Value {
    let u = &r["user"];
    let mut user = json!({
        "schemas": [USER_SCHEMA],
        "id": r["id"],
        "userName": u["login"],
        "displayName": r["display_name"],
        "active": r["status"] == "enabled",
        "emails": u["emails"].as_array().into_iter().flatten().map(|e| json!({"value": e["address"], "primary": e["primary"], "type": "work"})).collect::<Vec<_>>(),
        "groups": groups,
        "meta": {"resourceType": "User", "created": r["created_at"], "lastModified": r["updated_at"]},
    });
    let fields = [
        ("name", u["name"].is_object().then(|| json!({"givenName": u["name"]["given_name"], "familyName": u["name"]["family_name"], "formatted": r["display_name"]}))),
        ("nickName", u["nickname"].as_str().map(Value::from)),
        ("title", u["title"].as_str().map(Value::from)),
        ("timezone", u["time_zone"].as_str().map(Value::from)),
        ("locale", u["locale"].as_str().map(Value::from)),
        ("phoneNumbers", non_empty(&u["phone_numbers"]).map(|p| p.iter().map(|v| json!({"value": v, "type": "work"})).collect())),
        ("photos", u["photo_url"].as_str().map(|p| json!([{"value": p, "type": "photo"}]))),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            user[name] = value;
        }
    }
    let mut enterprise = serde_json::Map::new();
    if let Some(manager) = u["manager_id"].as_str() {
        enterprise.insert("manager".into(), json!({"value": manager, "displayName": manager_display}));
    }
    if let Some(number) = u["employee_ids"].as_array().and_then(|ids| ids.first()) {
        enterprise.insert("employeeNumber".into(), number.clone());
    }
    if !enterprise.is_empty() {
        user["schemas"] = json!([USER_SCHEMA, ENTERPRISE_USER]);
        user[ENTERPRISE_USER] = Value::Object(enterprise);
    }
    user
}

fn non_empty(value: &Value) -> Option<&Vec<Value>> {
    value.as_array().filter(|a| !a.is_empty())
}
