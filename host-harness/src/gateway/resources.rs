//! A tenant's resources as SCIM resources: Users from the type with the user trait, Groups from the type with
//! the group trait and their `members` from the grants of each group's member entitlement — the mapping of
//! `scim export` (`scim_export.rs`) — with `meta.location` and a `meta.version` that changes whenever the
//! resource does. And `attributes`/`excludedAttributes` (RFC 7644 §3.4.2.5).

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::filter::field;
use crate::scim_export::{self, ENTERPRISE_USER, GROUP_SCHEMA, USER_SCHEMA};

/// Users or Groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    /// The endpoint, `Users` or `Groups`.
    pub fn endpoint(self) -> &'static str {
        match self {
            Kind::User => "Users",
            Kind::Group => "Groups",
        }
    }

    /// The resource type's name, `User` or `Group`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Group => "Group",
        }
    }

    fn core_schema(self) -> &'static str {
        match self {
            Kind::User => USER_SCHEMA,
            Kind::Group => GROUP_SCHEMA,
        }
    }
}

/// The SCIM resource of export record `record` (`members`: a group's members, when read; `external_id`: what a
/// SCIM client named it), at `base`.
pub fn to_scim(kind: Kind, record: &Value, members: Option<Vec<Value>>, external_id: Option<&str>, base: &str) -> Value {
    let mut resource = match kind {
        Kind::User => {
            let mut user = scim_export::user(record, Vec::new(), None);
            if let Some(object) = user.as_object_mut() {
                object.remove("groups");
            }
            // `primary` tells one address from others: with a single one, it says nothing a client did not send.
            if let Some(emails) = user.get_mut("emails").and_then(Value::as_array_mut).filter(|e| e.len() == 1) {
                emails[0].as_object_mut().map(|e| e.remove("primary"));
            }
            // `displayName` carries it; a client that sets the name's parts would read back one it did not set.
            if let Some(name) = user.get_mut("name").and_then(Value::as_object_mut) {
                name.remove("formatted");
            }
            if let Some(manager) = user.get_mut(ENTERPRISE_USER).and_then(|e| e.get_mut("manager")).and_then(Value::as_object_mut)
                && let Some(id) = manager.get("value").and_then(Value::as_str).map(str::to_string)
            {
                manager.remove("displayName");
                manager.insert("$ref".into(), json!(format!("{base}/Users/{id}")));
            }
            user
        }
        Kind::Group => {
            let omitted = members.is_none();
            let mut members = members.unwrap_or_default();
            for member in &mut members {
                let (kind, id) = (member["type"].as_str().unwrap_or("User"), member["value"].as_str().unwrap_or_default().to_string());
                member["$ref"] = json!(format!("{base}/{}s/{id}", kind));
            }
            let mut group = scim_export::group(record, members);
            if omitted && let Some(object) = group.as_object_mut() {
                object.remove("members");
            }
            group
        }
    };
    if let Some(external_id) = external_id {
        resource["externalId"] = json!(external_id);
    }
    let id = resource["id"].as_str().unwrap_or_default().to_string();
    let version = format!("W/\"{}\"", &hex(&Sha256::digest(resource.to_string().as_bytes()))[..16]);
    let meta = &mut resource["meta"];
    meta["location"] = json!(format!("{base}/{}/{id}", kind.endpoint()));
    meta["version"] = json!(version);
    // An absent creation time is the sync's business; SCIM clients expect both stamps or neither.
    if meta["created"].is_null() {
        meta.as_object_mut().map(|m| m.remove("created"));
    }
    if meta["lastModified"].is_null() {
        meta.as_object_mut().map(|m| m.remove("lastModified"));
    }
    drop_nulls(&mut resource);
    resource
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Removes null members of objects: SCIM leaves an unassigned attribute out.
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Which attributes a response carries.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

impl Projection {
    /// From the query's comma-separated `attributes` and `excludedAttributes`.
    pub fn new(attributes: Option<&str>, excluded: Option<&str>) -> Self {
        let list = |text: Option<&str>| text.map(|t| t.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()).unwrap_or_default();
        Self { attributes: list(attributes), excluded: list(excluded) }
    }

    /// Whether the response carries the top-level attribute `name` (`members` costs a read of the grants).
    pub fn wants(&self, kind: Kind, name: &str) -> bool {
        let names = |list: &[String]| list.iter().any(|p| split(kind, p).1.first().is_some_and(|n| n.eq_ignore_ascii_case(name)) && split(kind, p).0.is_none());
        if !self.attributes.is_empty() {
            return names(&self.attributes);
        }
        !self.excluded.iter().any(|p| split(kind, p).0.is_none() && split(kind, p).1.len() == 1 && split(kind, p).1[0].eq_ignore_ascii_case(name))
    }

    /// `resource` with only the attributes asked for: `schemas`, `id` and `meta` always stay.
    pub fn apply(&self, kind: Kind, mut resource: Value) -> Value {
        if !self.attributes.is_empty() {
            let mut kept = Map::new();
            for key in ["schemas", "id", "meta"] {
                if let Some(value) = resource.get(key) {
                    kept.insert(key.into(), value.clone());
                }
            }
            let mut kept = Value::Object(kept);
            for path in &self.attributes {
                let (extension, parts) = split(kind, path);
                copy(&resource, &mut kept, extension, &parts);
            }
            resource = kept;
        }
        for path in &self.excluded {
            let (extension, parts) = split(kind, path);
            if extension.is_none() && parts.first().is_some_and(|p| ["id", "schemas"].iter().any(|k| p.eq_ignore_ascii_case(k))) {
                continue;
            }
            remove(&mut resource, extension, &parts);
        }
        resource
    }
}

/// A requested path as (extension URN, attribute then sub-attribute): `name.givenName`, the core schema's
/// `urn:…:core:2.0:User:userName`, or an extension's `urn:…:enterprise:2.0:User:manager` (or all of it).
fn split(kind: Kind, path: &str) -> (Option<String>, Vec<String>) {
    let lower = path.to_ascii_lowercase();
    let core = kind.core_schema().to_ascii_lowercase();
    let (extension, rest) = if let Some(rest) = lower.strip_prefix(&format!("{core}:")) {
        (None, &path[path.len() - rest.len()..])
    } else if lower == ENTERPRISE_USER.to_ascii_lowercase() {
        (Some(ENTERPRISE_USER.to_string()), "")
    } else if let Some(rest) = lower.strip_prefix(&format!("{}:", ENTERPRISE_USER.to_ascii_lowercase())) {
        (Some(ENTERPRISE_USER.to_string()), &path[path.len() - rest.len()..])
    } else {
        (None, path)
    };
    (extension, rest.split('.').filter(|p| !p.is_empty()).map(str::to_string).collect())
}

pub(super) fn key_of(object: &Value, name: &str) -> Option<String> {
    object.as_object()?.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

fn copy(from: &Value, to: &mut Value, extension: Option<String>, parts: &[String]) {
    let (from, to) = match &extension {
        Some(urn) => {
            let Some(source) = field(from, urn) else { return };
            if !to[urn.as_str()].is_object() {
                to[urn.as_str()] = json!({});
            }
            (source, &mut to[urn.as_str()])
        }
        None => (from, to),
    };
    match parts {
        [] => *to = from.clone(),
        [name] => {
            if let Some(key) = key_of(from, name) {
                to[key.as_str()] = from[key.as_str()].clone();
            }
        }
        [name, sub, ..] => {
            let Some(key) = key_of(from, name) else { return };
            match &from[key.as_str()] {
                Value::Array(items) => {
                    let picked: Vec<Value> = items.iter().filter_map(|item| key_of(item, sub).map(|k| json!({k.clone(): item[k.as_str()].clone()}))).collect();
                    to[key.as_str()] = json!(picked);
                }
                object @ Value::Object(_) => {
                    if let Some(sub_key) = key_of(object, sub) {
                        if !to[key.as_str()].is_object() {
                            to[key.as_str()] = json!({});
                        }
                        to[key.as_str()][sub_key.as_str()] = object[sub_key.as_str()].clone();
                    }
                }
                _ => {}
            }
        }
    }
}

fn remove(resource: &mut Value, extension: Option<String>, parts: &[String]) {
    let target = match &extension {
        Some(urn) => match key_of(resource, urn) {
            Some(key) if parts.is_empty() => {
                resource.as_object_mut().map(|m| m.remove(&key));
                return;
            }
            Some(key) => &mut resource[key.as_str()],
            None => return,
        },
        None => resource,
    };
    match parts {
        [name] => {
            if let Some(key) = key_of(target, name) {
                target.as_object_mut().map(|m| m.remove(&key));
            }
        }
        [name, sub, ..] => {
            let Some(key) = key_of(target, name) else { return };
            match &mut target[key.as_str()] {
                Value::Array(items) => items.iter_mut().for_each(|item| {
                    if let Some(k) = key_of(item, sub) {
                        item.as_object_mut().map(|m| m.remove(&k));
                    }
                }),
                object @ Value::Object(_) => {
                    if let Some(k) = key_of(object, sub) {
                        object.as_object_mut().map(|m| m.remove(&k));
                    }
                }
                _ => {}
            }
        }
        [] => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ada() -> Value {
        let record = json!({
            "resource_type": "user", "id": "7", "display_name": "Ada Lovelace", "status": "enabled",
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-02-01T00:00:00Z",
            "user": {"login": "ada@example.test", "emails": [{"address": "ada@example.test", "primary": true}],
                     "name": {"given_name": "Ada", "family_name": "Lovelace"}, "title": "Analyst", "manager_id": "3", "employee_ids": ["1815"]}
        });
        to_scim(Kind::User, &record, None, Some("ada-7"), "https://gw.test/tenants/t/scim/v2")
    }

    #[test]
    fn a_user_carries_its_location_and_a_version_of_its_content() {
        let user = ada();
        assert_eq!(user["meta"]["location"], "https://gw.test/tenants/t/scim/v2/Users/7");
        assert_eq!((&user["userName"], &user["externalId"]), (&json!("ada@example.test"), &json!("ada-7")));
        assert_eq!(user[ENTERPRISE_USER]["manager"], json!({"value": "3", "$ref": "https://gw.test/tenants/t/scim/v2/Users/3"}));
        assert_eq!(user["name"], json!({"givenName": "Ada", "familyName": "Lovelace"}));
        assert!(user.get("groups").is_none());
        let version = user["meta"]["version"].as_str().unwrap();
        assert!(version.starts_with("W/\"") && version.len() == 20, "{version}");
    }

    #[test]
    fn attributes_keep_and_excluded_attributes_drop_what_they_name() {
        let only = Projection::new(Some("userName,name.givenName,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"), None).apply(Kind::User, ada());
        let mut keys: Vec<&str> = only.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["id", "meta", "name", "schemas", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "userName"]);
        assert_eq!(only["name"], json!({"givenName": "Ada"}));
        assert_eq!(only[ENTERPRISE_USER], json!({"employeeNumber": "1815"}));
        let without = Projection::new(None, Some("emails,name.familyName,id,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")).apply(Kind::User, ada());
        assert!(without.get("emails").is_none() && without.get(ENTERPRISE_USER).is_none());
        assert_eq!(without["name"], json!({"givenName": "Ada"}));
        assert_eq!(without["id"], "7", "id is always returned");
        assert!(!Projection::new(None, Some("members")).wants(Kind::Group, "members"));
        assert!(Projection::new(None, Some("members.display")).wants(Kind::Group, "members"));
        assert!(!Projection::new(Some("displayName"), None).wants(Kind::Group, "members"));
    }
}
