//! Writes to PingOne: accounts (create, enable and disable, attributes, delete), direct group membership (of
//! users, and of groups: nesting), and role assignments at a scope. Each looks before it leaps where PingOne's answer to a repeat is not
//! documented, so repeating a write reports `already-exists` / `already-revoked` / `did-not-exist` instead of
//! failing; what PingOne refuses comes back `rejected` in its own words.

use serde_json::{Map, Value, json};

use connector_sdk::error::{ConnectorError, Result};
use connector_sdk::fields;
use connector_sdk::http::{HttpClient, Method, percent_encode};
use connector_sdk::model::*;

use crate::api::{PingOneApi, detail_code};
use crate::resources::group::{DYNAMIC, NESTED_FURTHER_UP, THROUGH_NESTED};
use crate::resources::{GROUP, MEMBER, USER, role, user};

fn user_url<H: HttpClient>(api: &PingOneApi<H>, id: &str, rest: &str) -> String {
    api.url(&format!("/users/{}{rest}", percent_encode(id)))
}

/// Creates a user (in the default population unless `population` names one); an existing username is
/// adopted as `already-exists`.
pub fn create_account<H: HttpClient>(api: &PingOneApi<H>, given: &[(String, String)]) -> Result<CreateOutcome> {
    let given = fields::check("create-account", Write::Create, &user::write_schema(), given)?;
    let value = |key: &str| given.iter().find(|(k, _)| *k == key).map(|(_, v)| *v).filter(|v| !v.is_empty());
    let username = value("username").expect("checked");
    let mut body = json!({"username": username, "email": value("email")});
    let name: Map<String, Value> = [("given", value("given_name")), ("family", value("family_name"))].into_iter().filter_map(|(k, v)| Some((k.to_string(), json!(v?)))).collect();
    if !name.is_empty() {
        body["name"] = Value::Object(name);
    }
    if let Some(population) = value("population") {
        body["population"] = json!({"id": population});
    }
    if let Some(title) = value("title") {
        body["title"] = json!(title);
    }
    let context = "POST /users";
    let response = api.send(Method::Post, &api.url("/users"), Some(&body), context)?;
    // PingOne refuses a taken username with 400 UNIQUENESS_VIOLATION (its spec also declares 409).
    let taken = response.status == 409 || (response.status == 400 && detail_code(&response.body).as_deref() == Some("UNIQUENESS_VIOLATION"));
    if taken && let Some(existing) = api.user_by_username(username)? {
        return Ok(CreateOutcome::AlreadyExists(user::resource(&existing, context)?));
    }
    api.check(&response, context)?;
    let created: Value = serde_json::from_slice(&response.body).map_err(|e| ConnectorError::bad_response(context, e))?;
    Ok(CreateOutcome::Created(user::resource(&created, context)?))
}

/// Enables or disables a user (`enabled`, through `/users/{id}/enabled`) and changes its attributes (PATCH).
pub fn update_user<H: HttpClient>(api: &PingOneApi<H>, id: &ResourceId, given: &[(String, String)]) -> Result<Resource> {
    if id.resource_type != USER {
        return Err(ConnectorError::Unsupported(format!("update-resource changes users only, not `{}`", id.resource_type)));
    }
    let given = fields::check("update-resource", Write::Update, &user::write_schema(), given)?;
    let mut patch = json!({});
    for (key, value) in &given {
        match *key {
            "enabled" => {
                let enabled = match *value {
                    "true" => true,
                    "false" => false,
                    other => return Err(ConnectorError::InvalidConfig(format!("update-resource: `enabled` must be true or false, got `{other}`"))),
                };
                api.json(Method::Put, &user_url(api, &id.id, "/enabled"), Some(&json!({"enabled": enabled})), "PUT /users/{id}/enabled")?;
            }
            "given_name" => patch["name"]["given"] = json!(value),
            "family_name" => patch["name"]["family"] = json!(value),
            // An empty value clears the attribute.
            other => patch[other] = if value.is_empty() { Value::Null } else { json!(value) },
        }
    }
    if patch.as_object().is_some_and(|p| !p.is_empty()) {
        api.json(Method::Patch, &user_url(api, &id.id, ""), Some(&patch), "PATCH /users/{id}")?;
    }
    user::read(api, &id.id)
}

pub fn delete_user<H: HttpClient>(api: &PingOneApi<H>, id: &ResourceId) -> Result<DeleteOutcome> {
    if id.resource_type != USER {
        return Err(ConnectorError::Unsupported(format!("delete-resource deletes users only, not `{}`", id.resource_type)));
    }
    Ok(if api.delete(&user_url(api, &id.id, ""), "DELETE /users/{id}")? { DeleteOutcome::Deleted } else { DeleteOutcome::DidNotExist })
}

/// What an entitlement id names.
enum Target {
    Membership { group: String },
    Role { role: String, scope_type: String, scope_id: String },
}

fn target(entitlement: &str) -> Result<Target> {
    if let Some((role, scope_type, scope_id)) = role::parse_entitlement(entitlement) {
        return Ok(Target::Role { role, scope_type, scope_id });
    }
    match entitlement.split(':').collect::<Vec<_>>().as_slice() {
        [GROUP, group, MEMBER] if !group.is_empty() => Ok(Target::Membership { group: group.to_string() }),
        [crate::resources::POPULATION, _, MEMBER] => {
            Err(ConnectorError::Rejected("population membership is read-only: every user is in exactly one population; move the user instead".into()))
        }
        _ => Err(ConnectorError::InvalidConfig(format!("`{entitlement}` is not an entitlement of this connector (group:ID:member or role:ID:SCOPE_TYPE:SCOPE_ID)"))),
    }
}

/// The user's membership of `group` as PingOne reports it (`DIRECT` or `INDIRECT`), if any.
fn membership<H: HttpClient>(api: &PingOneApi<H>, user_id: &str, group: &str) -> Result<Option<String>> {
    let url = user_url(api, user_id, &format!("/memberOfGroups/{}", percent_encode(group)));
    Ok(api.find(&url, "GET /users/{id}/memberOfGroups/{groupId}")?.map(|m| m["type"].as_str().unwrap_or("DIRECT").to_string()))
}

/// How group `child` sits in `parent` (`DIRECT` or `INDIRECT`), if it does.
fn nesting<H: HttpClient>(api: &PingOneApi<H>, child: &str, parent: &str) -> Result<Option<String>> {
    let url = api.url(&format!("/groups/{}/memberOfGroups", percent_encode(child)));
    let parents = api.all(&url, "groupMemberships", "GET /groups/{id}/memberOfGroups")?;
    Ok(parents.iter().find(|m| m["id"] == parent).map(|m| m["type"].as_str().unwrap_or("DIRECT").to_string()))
}

/// The principal's own assignment of `role` at the scope, if any: its id.
fn assignment<H: HttpClient>(api: &PingOneApi<H>, principal: &ResourceId, role: &str, scope_type: &str, scope_id: &str) -> Result<Option<String>> {
    let url = api.url(&format!("/{}s/{}/roleAssignments", principal.resource_type, percent_encode(&principal.id)));
    let assignments = api.all(&url, "roleAssignments", &format!("GET /{}s/{{id}}/roleAssignments", principal.resource_type))?;
    Ok(assignments
        .iter()
        .filter(|a| !a["group"]["id"].is_string())
        .find(|a| a["role"]["id"] == role && a["scope"]["type"] == scope_type && a["scope"]["id"] == scope_id)
        .and_then(|a| a["id"].as_str().map(str::to_string)))
}

fn principal_kind(principal: &ResourceId, allowed: &[&str], what: &str) -> Result<()> {
    if allowed.contains(&principal.resource_type.as_str()) {
        Ok(())
    } else {
        Err(ConnectorError::Unsupported(format!("{what} is granted to {} only, not to `{}`", allowed.join(" and "), principal.resource_type)))
    }
}

pub fn grant<H: HttpClient>(api: &PingOneApi<H>, principal: &ResourceId, entitlement: &str) -> Result<GrantOutcome> {
    let grant = Grant::new(entitlement, principal.clone());
    match target(entitlement)? {
        Target::Membership { group } if principal.resource_type == GROUP => match nesting(api, &principal.id, &group)?.as_deref() {
            // A group as a member: nesting.
            Some("DIRECT") => Ok(GrantOutcome::AlreadyExists(grant)),
            Some(_) => Ok(GrantOutcome::AlreadyExists(grant.derived(NESTED_FURTHER_UP))),
            None => {
                let url = api.url(&format!("/groups/{}/memberOfGroups", percent_encode(&principal.id)));
                api.json(Method::Post, &url, Some(&json!({"id": group})), "POST /groups/{id}/memberOfGroups")?;
                Ok(GrantOutcome::Granted(grant))
            }
        },
        Target::Membership { group } => {
            principal_kind(principal, &[USER, GROUP], "group membership")?;
            match membership(api, &principal.id, &group)?.as_deref() {
                Some("DIRECT") => Ok(GrantOutcome::AlreadyExists(grant)),
                Some(_) => Ok(GrantOutcome::AlreadyExists(grant.derived(THROUGH_NESTED))),
                None => {
                    let url = user_url(api, &principal.id, "/memberOfGroups");
                    api.json(Method::Post, &url, Some(&json!({"id": group})), "POST /users/{id}/memberOfGroups")?;
                    Ok(GrantOutcome::Granted(grant))
                }
            }
        }
        Target::Role { role, scope_type, scope_id } => {
            principal_kind(principal, &[USER, GROUP], "a role")?;
            if assignment(api, principal, &role, &scope_type, &scope_id)?.is_some() {
                return Ok(GrantOutcome::AlreadyExists(grant));
            }
            let url = api.url(&format!("/{}s/{}/roleAssignments", principal.resource_type, percent_encode(&principal.id)));
            let body = json!({"role": {"id": role}, "scope": {"id": scope_id, "type": scope_type}});
            api.json(Method::Post, &url, Some(&body), &format!("POST /{}s/{{id}}/roleAssignments", principal.resource_type))?;
            Ok(GrantOutcome::Granted(grant))
        }
    }
}

pub fn revoke<H: HttpClient>(api: &PingOneApi<H>, grant: &Grant) -> Result<RevokeOutcome> {
    let principal = &grant.principal;
    match target(&grant.entitlement)? {
        Target::Membership { group } if principal.resource_type == GROUP => match nesting(api, &principal.id, &group)?.as_deref() {
            None => Ok(RevokeOutcome::AlreadyRevoked),
            Some("DIRECT") => {
                let url = api.url(&format!("/groups/{}/memberOfGroups/{}", percent_encode(&principal.id), percent_encode(&group)));
                let removed = api.delete(&url, "DELETE /groups/{id}/memberOfGroups/{groupId}")?;
                Ok(if removed { RevokeOutcome::Revoked } else { RevokeOutcome::AlreadyRevoked })
            }
            Some(_) => Err(ConnectorError::Rejected(format!(
                "group {} is in `{group}` only through another group ({NESTED_FURTHER_UP}): remove that nesting instead",
                principal.id
            ))),
        },
        Target::Membership { group } => {
            principal_kind(principal, &[USER, GROUP], "group membership")?;
            match membership(api, &principal.id, &group)?.as_deref() {
                None => Ok(RevokeOutcome::AlreadyRevoked),
                Some("DIRECT") => {
                    let url = user_url(api, &principal.id, &format!("/memberOfGroups/{}", percent_encode(&group)));
                    let removed = api.delete(&url, "DELETE /users/{id}/memberOfGroups/{groupId}")?;
                    Ok(if removed { RevokeOutcome::Revoked } else { RevokeOutcome::AlreadyRevoked })
                }
                Some(_) => Err(ConnectorError::Rejected(indirect_reason(api, &principal.id, &group)?)),
            }
        }
        Target::Role { role, scope_type, scope_id } => {
            principal_kind(principal, &[USER, GROUP], "a role")?;
            let Some(assignment) = assignment(api, principal, &role, &scope_type, &scope_id)? else { return Ok(RevokeOutcome::AlreadyRevoked) };
            let url = api.url(&format!("/{}s/{}/roleAssignments/{}", principal.resource_type, percent_encode(&principal.id), percent_encode(&assignment)));
            let removed = api.delete(&url, &format!("DELETE /{}s/{{id}}/roleAssignments/{{id}}", principal.resource_type))?;
            Ok(if removed { RevokeOutcome::Revoked } else { RevokeOutcome::AlreadyRevoked })
        }
    }
}

/// Why a membership PingOne reports as `INDIRECT` cannot be removed: the group's filter, or nesting.
fn indirect_reason<H: HttpClient>(api: &PingOneApi<H>, user_id: &str, group: &str) -> Result<String> {
    let record = api.find(&api.url(&format!("/groups/{}", percent_encode(group))), "GET /groups/{id}")?.unwrap_or(Value::Null);
    let name = record["name"].as_str().unwrap_or(group);
    Ok(match record["userFilter"].as_str() {
        Some(filter) => format!(
            "user {user_id} is a member of `{name}` because it matches the group's userFilter `{filter}` ({DYNAMIC}): change the user's attributes or the filter instead"
        ),
        None => format!("user {user_id} is a member of `{name}` through a nested group ({THROUGH_NESTED}): remove it from that group instead"),
    })
}
