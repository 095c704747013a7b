//! Writes: create, update (PATCH, or PUT where the server has no PATCH), deactivate and reactivate (`active`),
//! delete, and group membership. Each answers idempotently: what is already so is reported as such, not
//! done twice, and the server's own SCIM error is passed on verbatim.

use serde_json::{Map, Value, json};

use crate::api::{Created, ENTERPRISE_USER, Endpoint, GROUP_SCHEMA, ScimApi, USER_SCHEMA};
use crate::resources::{self, GROUP, USER, endpoint_of, group, group_of_entitlement, user};
use connector_sdk::error::{ConnectorError, Result};
use connector_sdk::fields;
use connector_sdk::http::HttpClient;
use connector_sdk::model::*;

/// The enterprise extension's attributes a user write accepts, by their short names (`user::write_schema`).
const ENTERPRISE_FIELDS: [&str; 5] = ["employeeNumber", "department", "costCenter", "organization", "manager"];

/// The SCIM value of a field.
fn value(key: &str, raw: &str) -> Result<Value> {
    Ok(match key {
        "active" => match raw.to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(ConnectorError::InvalidConfig(format!("active must be true or false, not `{raw}`"))),
        },
        "email" => json!([{"value": raw, "type": "work", "primary": true}]),
        "phone" => json!([{"value": raw, "type": "work"}]),
        "manager" => json!({"value": raw}),
        _ => Value::String(raw.to_string()),
    })
}

/// The attribute path of a field (RFC 7644 §3.10).
fn path(key: &str) -> String {
    match key {
        "email" => "emails".into(),
        "phone" => "phoneNumbers".into(),
        k if ENTERPRISE_FIELDS.contains(&k) => format!("{ENTERPRISE_USER}:{k}"),
        k => k.into(),
    }
}

/// Sets (or, for an empty value, removes) a field in a whole resource, as a create or a PUT sends it.
fn place(resource: &mut Map<String, Value>, key: &str, raw: &str) -> Result<()> {
    let (container, attribute): (&mut Map<String, Value>, String) = match path(key) {
        p if p.starts_with(ENTERPRISE_USER) => {
            let schemas = resource.entry("schemas").or_insert_with(|| json!([USER_SCHEMA]));
            if let Some(list) = schemas.as_array_mut().filter(|l| !l.iter().any(|s| s == ENTERPRISE_USER)) {
                list.push(ENTERPRISE_USER.into());
            }
            let extension = resource.entry(ENTERPRISE_USER).or_insert_with(|| json!({}));
            (extension.as_object_mut().ok_or_else(|| ConnectorError::bad_response("the user", "the enterprise extension is not an object"))?, key.to_string())
        }
        p => match p.split_once('.') {
            Some((parent, child)) => {
                let parent = resource.entry(parent).or_insert_with(|| json!({}));
                (parent.as_object_mut().ok_or_else(|| ConnectorError::bad_response("the user", "`name` is not an object"))?, child.to_string())
            }
            None => (resource, p),
        },
    };
    if raw.is_empty() {
        container.remove(&attribute);
    } else {
        container.insert(attribute, value(key, raw)?);
    }
    Ok(())
}

pub fn create_user<H: HttpClient>(api: &ScimApi<H>, given: &[(String, String)]) -> Result<CreateOutcome> {
    let given = fields::check("create-account", Write::Create, &user::write_schema(), given)?;
    let mut body = Map::new();
    body.insert("schemas".into(), json!([USER_SCHEMA]));
    for (key, raw) in &given {
        place(&mut body, key, raw)?;
    }
    let user_name = given.iter().find(|(k, _)| *k == "userName").map(|(_, v)| *v).unwrap_or_default();
    create_or_adopt(api, Endpoint::Users, body, ("userName", user_name), user::resource)
}

/// POST; on a 409, the resource that already has `unique` (attribute, value) is the outcome,
/// `already-exists`. A conflict over anything else is the server's refusal, in its words.
fn create_or_adopt<H: HttpClient>(api: &ScimApi<H>, endpoint: Endpoint, body: Map<String, Value>, unique: (&str, &str), to_resource: fn(&Value) -> Resource) -> Result<CreateOutcome> {
    match api.create(endpoint, &Value::Object(body))? {
        Created::New(created) => Ok(CreateOutcome::Created(to_resource(&created))),
        Created::Conflict(message) => match api.find(endpoint, unique.0, unique.1)? {
            Some(existing) => Ok(CreateOutcome::AlreadyExists(to_resource(&existing))),
            None => Err(ConnectorError::Rejected(format!("POST {}: HTTP 409: {message}", endpoint.path()))),
        },
    }
}

/// PATCH with one lowercase `replace` (or `remove`, for an empty value) per field; GET and PUT the whole user
/// where the server says it has no PATCH (`/ServiceProviderConfig`) or answers 501.
pub fn update_user<H: HttpClient>(api: &ScimApi<H>, id: &ResourceId, given: &[(String, String)]) -> Result<Resource> {
    if id.resource_type != USER {
        return Err(ConnectorError::Unsupported(format!("update-resource changes users, not `{}`", id.resource_type)));
    }
    let given = fields::check("update-resource", Write::Update, &user::write_schema(), given)?;
    if given.is_empty() {
        return Err(ConnectorError::InvalidConfig("update-resource needs at least one field".into()));
    }
    if api.features()?.patch != Some(false) {
        let mut operations = Vec::new();
        for (key, raw) in &given {
            operations.push(match raw.is_empty() {
                true => json!({"op": "remove", "path": path(key)}),
                false => json!({"op": "replace", "path": path(key), "value": value(key, raw)?}),
            });
        }
        match api.patch(Endpoint::Users, &id.id, operations) {
            Ok(Some(updated)) => return Ok(user::resource(&updated)),
            Ok(None) => return resources::read(api, id),
            Err(ConnectorError::Unsupported(_)) => eprintln!("the server answered PATCH with 501; replacing the user with PUT"),
            Err(e) => return Err(e),
        }
    }
    let mut current = match api.get(Endpoint::Users, &id.id, None)? {
        Some(Value::Object(current)) => current,
        _ => return Err(ConnectorError::NotFound(format!("user:{}", id.id))),
    };
    current.remove("meta");
    for (key, raw) in &given {
        place(&mut current, key, raw)?;
    }
    Ok(user::resource(&api.put(Endpoint::Users, &id.id, &Value::Object(current))?))
}

pub fn create_group<H: HttpClient>(api: &ScimApi<H>, resource_type: &str, given: &[(String, String)]) -> Result<CreateOutcome> {
    if resource_type != GROUP {
        return Err(ConnectorError::Unsupported(format!("create-resource creates groups, not `{resource_type}`")));
    }
    let given = fields::check("create-resource", Write::Create, &group::write_schema(), given)?;
    let name = given.iter().find(|(k, _)| *k == "displayName").map(|(_, v)| *v).unwrap_or_default();
    // Group names need not be unique in SCIM, so a server may accept a second group of the same name; like
    // Entra, match by `displayName` first rather than make a duplicate.
    if let Some(existing) = api.find(Endpoint::Groups, "displayName", name)? {
        return Ok(CreateOutcome::AlreadyExists(group::resource(&existing)));
    }
    let mut body = Map::new();
    body.insert("schemas".into(), json!([GROUP_SCHEMA]));
    for (key, raw) in &given {
        body.insert(key.to_string(), Value::String(raw.to_string()));
    }
    create_or_adopt(api, Endpoint::Groups, body, ("displayName", name), group::resource)
}

pub fn delete<H: HttpClient>(api: &ScimApi<H>, id: &ResourceId) -> Result<DeleteOutcome> {
    match api.delete(endpoint_of(&id.resource_type)?, &id.id)? {
        true => Ok(DeleteOutcome::Deleted),
        false => Ok(DeleteOutcome::DidNotExist),
    }
}

/// Whether `principal` is a member of group `group_id` (read fresh, members only).
fn is_member<H: HttpClient>(api: &ScimApi<H>, group_id: &str, principal: &ResourceId) -> Result<bool> {
    let group = api.get(Endpoint::Groups, group_id, Some("members"))?.ok_or_else(|| ConnectorError::NotFound(format!("group:{group_id}")))?;
    Ok(group::grants(&json!({"id": group_id, "members": group["members"]})).iter().any(|g| &g.principal == principal))
}

fn membership(entitlement: &str, principal: &ResourceId) -> Result<String> {
    if principal.resource_type != USER && principal.resource_type != GROUP {
        return Err(ConnectorError::Unsupported(format!("a group's members are users and groups, not `{}`", principal.resource_type)));
    }
    group_of_entitlement(entitlement).map(str::to_string).ok_or_else(|| ConnectorError::NotFound(format!("`{entitlement}` is not a group membership (group:<id>:member)")))
}

pub fn add_member<H: HttpClient>(api: &ScimApi<H>, principal: &ResourceId, entitlement: &str) -> Result<GrantOutcome> {
    let group_id = membership(entitlement, principal)?;
    let grant = Grant::new(entitlement, principal.clone());
    if is_member(api, &group_id, principal)? {
        return Ok(GrantOutcome::AlreadyExists(grant));
    }
    let kind = if principal.resource_type == GROUP { "Group" } else { "User" };
    let operation = json!({"op": "add", "path": "members", "value": [{"value": principal.id, "type": kind}]});
    api.patch(Endpoint::Groups, &group_id, vec![operation])?;
    Ok(GrantOutcome::Granted(grant))
}

pub fn remove_member<H: HttpClient>(api: &ScimApi<H>, grant: &Grant) -> Result<RevokeOutcome> {
    let group_id = membership(&grant.entitlement, &grant.principal)?;
    if !is_member(api, &group_id, &grant.principal)? {
        return Ok(RevokeOutcome::AlreadyRevoked);
    }
    let filter = format!("members[value eq {}]", Value::String(grant.principal.id.clone()));
    match api.patch(Endpoint::Groups, &group_id, vec![json!({"op": "remove", "path": filter})]) {
        Ok(_) => Ok(RevokeOutcome::Revoked),
        // Gone between the read and the write.
        Err(ConnectorError::Rejected(message)) if message.contains(": noTarget") => Ok(RevokeOutcome::AlreadyRevoked),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_land_where_scim_keeps_them() {
        let mut body = Map::new();
        for (k, v) in [("userName", "ada"), ("name.givenName", "Ada"), ("email", "ada@x.test"), ("department", "Engines"), ("manager", "u0"), ("active", "FALSE")] {
            place(&mut body, k, v).unwrap();
        }
        assert_eq!(Value::Object(body.clone()), json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER], "userName": "ada", "name": {"givenName": "Ada"},
            "emails": [{"value": "ada@x.test", "type": "work", "primary": true}], "active": false,
            ENTERPRISE_USER: {"department": "Engines", "manager": {"value": "u0"}}
        }));
        place(&mut body, "department", "").unwrap();
        assert_eq!(body[ENTERPRISE_USER], json!({"manager": {"value": "u0"}}));
        assert_eq!(path("department"), format!("{ENTERPRISE_USER}:department"));
        assert_eq!(path("name.familyName"), "name.familyName");
        assert!(matches!(value("active", "yes"), Err(ConnectorError::InvalidConfig(_))));
    }
}
