//! PATCH (RFC 7644 §3.5.2) applied to a SCIM resource as JSON, before anything is written: `add`, `replace` and
//! `remove`, with or without a path, paths with a value filter (`emails[type eq "work"].value`,
//! `members[value eq "…"]`), and the dialect Microsoft Entra speaks (`../shared/reference/scim.md` §2):
//! capitalised `op`s, booleans as the strings `"True"`/`"False"`, a path-less value whose keys are paths
//! (`{"name.givenName": "Ada"}`), and `remove` of `members` with the members to remove as its value. What the
//! patched resource means for the source is worked out afterwards, by comparing it with the resource before.

use serde_json::{Map, Value, json};

use super::error::ScimError;
use super::filter::{AttrPath, Filter, Op, PatchPath};
use super::resources::key_of;
use crate::scim_export::ENTERPRISE_USER;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Replace,
    Remove,
}

/// Applies the `Operations` of a PatchOp `body` to `resource`.
pub fn apply(resource: &mut Value, body: &Value) -> Result<(), ScimError> {
    let operations = key_of(body, "Operations").and_then(|k| body[k.as_str()].as_array().cloned()).ok_or_else(|| ScimError::invalid_syntax("a PATCH body needs `Operations`, a list"))?;
    for operation in &operations {
        let op = key_of(operation, "op").and_then(|k| operation[k.as_str()].as_str().map(str::to_ascii_lowercase));
        let kind = match op.as_deref() {
            Some("add") => Kind::Add,
            Some("replace") => Kind::Replace,
            Some("remove") => Kind::Remove,
            _ => return Err(ScimError::invalid_syntax("each operation's `op` is add, replace or remove")),
        };
        let value = key_of(operation, "value").map(|k| operation[k.as_str()].clone());
        let path = key_of(operation, "path").and_then(|k| operation[k.as_str()].as_str().map(str::to_string)).filter(|p| !p.trim().is_empty());
        match (path, value) {
            (Some(path), value) if path.trim().eq_ignore_ascii_case(ENTERPRISE_USER) => whole_extension(resource, kind, value)?,
            (Some(path), value) => {
                let path = PatchPath::parse(&path).map_err(|e| ScimError::new(axum::http::StatusCode::BAD_REQUEST, Some("invalidPath"), e.0))?;
                at_path(resource, kind, &path, value)?;
            }
            (None, Some(Value::Object(values))) if kind != Kind::Remove => {
                for (key, value) in values {
                    if key.eq_ignore_ascii_case(ENTERPRISE_USER) && value.is_object() {
                        // An extension's attributes, each set in turn.
                        for (name, value) in value.as_object().into_iter().flatten() {
                            at_path(resource, kind, &extension_path(&key, name)?, Some(value.clone()))?;
                        }
                        continue;
                    }
                    let path = PatchPath::parse(&key).map_err(|e| ScimError::new(axum::http::StatusCode::BAD_REQUEST, Some("invalidPath"), e.0))?;
                    at_path(resource, kind, &path, Some(value))?;
                }
            }
            (None, _) if kind == Kind::Remove => return Err(ScimError::new(axum::http::StatusCode::BAD_REQUEST, Some("noTarget"), "a remove needs a path")),
            (None, _) => return Err(ScimError::invalid_syntax("an add or replace without a path takes an object of attributes")),
        }
    }
    Ok(())
}

/// An operation whose path is the extension itself: its object is merged (add), replaced, or removed.
fn whole_extension(resource: &mut Value, kind: Kind, value: Option<Value>) -> Result<(), ScimError> {
    let existing = key_of(resource, ENTERPRISE_USER);
    if kind != Kind::Add && let Some(key) = &existing {
        resource.as_object_mut().map(|m| m.remove(key));
    }
    if kind == Kind::Remove {
        return Ok(());
    }
    let Some(Value::Object(values)) = value else { return Err(ScimError::invalid_syntax("the extension's value is an object of its attributes")) };
    for (name, value) in values.into_iter().filter(|(name, _)| !name.eq_ignore_ascii_case("schemas")) {
        at_path(resource, kind, &extension_path(ENTERPRISE_USER, &name)?, Some(value))?;
    }
    Ok(())
}

fn extension_path(urn: &str, name: &str) -> Result<PatchPath, ScimError> {
    PatchPath::parse(&format!("{urn}:{name}")).map_err(|e| ScimError::new(axum::http::StatusCode::BAD_REQUEST, Some("invalidPath"), e.0))
}

/// The object a path's attribute lives in: the resource, or its extension's object (made when missing).
fn container<'v>(resource: &'v mut Value, attr: &AttrPath, create: bool) -> Option<&'v mut Value> {
    match &attr.schema {
        Some(schema) if !attr.is_core() => {
            let key = key_of(resource, schema).unwrap_or_else(|| schema.clone());
            if resource.get(&key).is_none() {
                if !create {
                    return None;
                }
                resource[key.as_str()] = json!({});
                if let Some(schemas) = resource.get_mut("schemas").and_then(Value::as_array_mut)
                    && !schemas.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(&key)))
                {
                    schemas.push(json!(key));
                }
            }
            resource.get_mut(&key)
        }
        _ => Some(resource),
    }
}

fn at_path(resource: &mut Value, kind: Kind, path: &PatchPath, value: Option<Value>) -> Result<(), ScimError> {
    let value = value.map(|v| booleans(&path.attr.attribute, v));
    if kind != Kind::Remove && value.is_none() {
        return Err(ScimError::invalid_syntax(format!("{} of `{}` needs a value", if kind == Kind::Add { "an add" } else { "a replace" }, path.attr.attribute)));
    }
    let Some(object) = container(resource, &path.attr, kind != Kind::Remove) else { return Ok(()) };
    let Some(map) = object.as_object_mut() else { return Ok(()) };
    let key = map.keys().find(|k| k.eq_ignore_ascii_case(&path.attr.attribute)).cloned().unwrap_or_else(|| path.attr.attribute.clone());
    let sub = path.attr.sub.as_deref().or(path.sub.as_deref());
    match (&path.filter, kind) {
        (None, Kind::Remove) => match (sub, value) {
            (None, Some(Value::Array(gone))) if map.get(&key).is_some_and(Value::is_array) => {
                // Entra: remove members by value, the path naming the whole attribute.
                let gone: Vec<Option<Value>> = gone.iter().map(|g| key_of(g, "value").map(|k| g[k.as_str()].clone())).collect();
                if let Some(items) = map.get_mut(&key).and_then(Value::as_array_mut) {
                    items.retain(|item| !gone.contains(&key_of(item, "value").map(|k| item[k.as_str()].clone())));
                }
            }
            (None, _) => {
                map.remove(&key);
            }
            (Some(sub), _) => each_element(map.get_mut(&key), |element| remove_key(element, sub)),
        },
        (None, kind) => {
            let value = value.expect("checked above");
            match sub {
                None => match (kind, map.get_mut(&key)) {
                    (Kind::Add, Some(Value::Array(items))) => {
                        for item in as_list(value) {
                            if !items.contains(&item) {
                                items.push(item);
                            }
                        }
                    }
                    (Kind::Add | Kind::Replace, Some(existing @ Value::Object(_))) if value.is_object() => merge(existing, value),
                    (_, _) => {
                        let multi = map.get(&key).is_some_and(Value::is_array) || value.is_array() || is_multi_valued(&key);
                        map.insert(key, if multi { json!(as_list(value)) } else { value });
                    }
                },
                Some(sub) => match map.get_mut(&key) {
                    Some(Value::Array(items)) => items.iter_mut().for_each(|item| set_key(item, sub, value.clone())),
                    Some(object @ Value::Object(_)) => set_key(object, sub, value),
                    _ => {
                        map.insert(key, json!({sub: value}));
                    }
                },
            }
        }
        (Some(filter), kind) => {
            let items = map.entry(key.clone()).or_insert_with(|| json!([]));
            let Some(items) = items.as_array_mut() else { return Err(ScimError::new(axum::http::StatusCode::BAD_REQUEST, Some("invalidPath"), format!("`{key}` is not multi-valued"))) };
            let mut matched = false;
            let mut kept = Vec::with_capacity(items.len());
            for mut item in std::mem::take(items) {
                if !filter.matches(&item).map_err(|e| ScimError::new(axum::http::StatusCode::BAD_REQUEST, Some("invalidFilter"), e.0))? {
                    kept.push(item);
                    continue;
                }
                matched = true;
                match (kind, sub, &value) {
                    (Kind::Remove, None, _) => continue,
                    (Kind::Remove, Some(sub), _) => remove_key(&mut item, sub),
                    (_, Some(sub), Some(value)) => set_key(&mut item, sub, value.clone()),
                    (_, None, Some(value)) if value.is_object() => merge(&mut item, value.clone()),
                    (_, None, Some(value)) => item = value.clone(),
                    (_, _, None) => {}
                }
                kept.push(item);
            }
            // Entra replaces `emails[type eq "work"].value` on a user with no work email: the element is made.
            if !matched && kind != Kind::Remove && let (Some(value), Some(mut element)) = (value, element_of(filter)) {
                match sub {
                    Some(sub) => set_key(&mut element, sub, value),
                    None if value.is_object() => merge(&mut element, value),
                    None => element = value,
                }
                kept.push(element);
            }
            *items = kept;
        }
    }
    Ok(())
}

/// The element a value filter of equalities describes: `type eq "work"` → `{"type": "work"}`.
fn element_of(filter: &Filter) -> Option<Value> {
    match filter {
        Filter::Compare(path, Op::Eq, value) if path.sub.is_none() => Some(json!({path.attribute.clone(): value})),
        Filter::And(a, b) => {
            let (mut a, b) = (element_of(a)?, element_of(b)?);
            merge(&mut a, b);
            Some(a)
        }
        _ => None,
    }
}

/// Attributes RFC 7643 defines as multi-valued, for a value a client sends bare.
fn is_multi_valued(name: &str) -> bool {
    ["emails", "phoneNumbers", "photos", "members", "addresses", "ims", "roles", "entitlements", "x509Certificates", "groups"].iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// Entra writes booleans as strings: `"False"`.
fn booleans(attribute: &str, value: Value) -> Value {
    match value {
        Value::String(text) if attribute.eq_ignore_ascii_case("active") || attribute.eq_ignore_ascii_case("primary") => match text.to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(text),
        },
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| {
            let v = booleans(&k, v);
            (k, v)
        }).collect::<Map<_, _>>()),
        other => other,
    }
}

fn as_list(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        other => vec![other],
    }
}

fn each_element(value: Option<&mut Value>, mut f: impl FnMut(&mut Value)) {
    match value {
        Some(Value::Array(items)) => items.iter_mut().for_each(f),
        Some(object @ Value::Object(_)) => f(object),
        _ => {}
    }
}

fn set_key(object: &mut Value, name: &str, value: Value) {
    if !object.is_object() {
        *object = json!({});
    }
    let key = key_of(object, name).unwrap_or_else(|| name.to_string());
    object[key.as_str()] = booleans(name, value);
}

fn remove_key(object: &mut Value, name: &str) {
    if let Some(key) = key_of(object, name) {
        object.as_object_mut().map(|m| m.remove(&key));
    }
}

fn merge(into: &mut Value, from: Value) {
    for (name, value) in from.as_object().cloned().unwrap_or_default() {
        set_key(into, &name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

    fn patched(resource: Value, operations: Value) -> Value {
        let mut resource = resource;
        apply(&mut resource, &json!({"schemas": [PATCH_OP], "Operations": operations})).unwrap();
        resource
    }

    #[test]
    fn entra_s_dialect_is_understood() {
        let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "7", "active": true, "title": "Analyst", "name": {"givenName": "Ada"}});
        let user = patched(user, json!([
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Add", "value": {"name.familyName": "Lovelace", "title": "Countess"}},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ada@work.test"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "3"},
        ]));
        assert_eq!(user["active"], false);
        assert_eq!(user["name"], json!({"givenName": "Ada", "familyName": "Lovelace"}));
        assert_eq!(user["title"], "Countess");
        assert_eq!(user["emails"], json!([{"type": "work", "value": "ada@work.test"}]));
        assert_eq!(user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"], "3");
        assert_eq!(user["schemas"][1], "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User");
        let extension = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let replaced = patched(user.clone(), json!([{"op": "replace", "path": extension, "value": {"schemas": [extension], "employeeNumber": "7"}}]));
        assert_eq!(replaced[extension], json!({"employeeNumber": "7"}));
        let removed = patched(user, json!([{"op": "remove", "path": extension}]));
        assert!(removed.get(extension).is_none());
    }

    #[test]
    fn members_are_added_and_removed_by_filter_or_by_value() {
        let group = json!({"id": "g", "displayName": "Ops", "members": [{"value": "1"}, {"value": "2"}, {"value": "3"}]});
        let group = patched(group, json!([
            {"op": "add", "path": "members", "value": [{"value": "4"}, {"value": "1"}]},
            {"op": "remove", "path": "members[value eq \"2\"]"},
            {"op": "Remove", "path": "members", "value": [{"value": "3"}]},
        ]));
        assert_eq!(group["members"], json!([{"value": "1"}, {"value": "4"}]));
        let emptied = patched(group, json!([{"op": "remove", "path": "members"}]));
        assert!(emptied.get("members").is_none());
    }

    #[test]
    fn a_bad_operation_is_refused_naming_what_is_wrong() {
        let mut user = json!({"id": "7"});
        let refuse = |user: &mut Value, ops: Value| apply(user, &json!({"Operations": ops})).unwrap_err();
        assert_eq!(refuse(&mut user, json!([{"op": "move", "path": "title"}])).detail, "each operation's `op` is add, replace or remove");
        assert_eq!(refuse(&mut user, json!([{"op": "remove"}])).scim_type, Some("noTarget"));
        assert_eq!(refuse(&mut user, json!([{"op": "replace", "path": "emails[type eq]", "value": "x"}])).scim_type, Some("invalidPath"));
        assert_eq!(apply(&mut user, &json!({})).unwrap_err().detail, "a PATCH body needs `Operations`, a list");
    }
}
