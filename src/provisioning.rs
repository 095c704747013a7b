//! Writes to Pingboard: accounts, group-like resources and membership. They are all here, because Pingboard's
//! write API is less well attested than its reads (`src/README.md`: "Facts that are not confirmed publicly"); membership in
//! particular is written in exactly one function, `set_membership`.

use serde_json::{Map, Value};

use crate::api::{Collection, PingboardApi};
use connector_sdk::error::{ConnectorError, Result};
use connector_sdk::http::HttpClient;
use connector_sdk::model::{CreateOutcome, DeleteOutcome, Grant, GrantOutcome, Resource, ResourceId, RevokeOutcome, Write, WriteSchema};
use crate::resources::{GROUP_LIKE, MEMBER, USER, group, link_ids, user};

/// Checks and converts write fields against the type's write schema, then types the values Pingboard types.
fn fields(what: &str, write: Write, schema: &WriteSchema, given: &[(String, String)]) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for (key, value) in connector_sdk::fields::check(what, write, schema, given)? {
        let value = match key {
            "reports_to_id" if value.is_empty() => Value::Null,
            "reports_to_id" => value.parse::<u64>().map(Value::from).map_err(|_| {
                ConnectorError::InvalidConfig(format!("{what}: reports_to_id `{value}` must be a user id (a whole number)"))
            })?,
            "start_date" if !is_date(value) => {
                return Err(ConnectorError::InvalidConfig(format!("{what}: start_date `{value}` must be YYYY-MM-DD")));
            }
            _ => Value::from(value),
        };
        out.insert(key.to_string(), value);
    }
    Ok(out)
}

fn is_date(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() == 10 && b[4] == b'-' && b[7] == b'-' && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

pub fn create_account<H: HttpClient>(api: &PingboardApi<H>, given: &[(String, String)]) -> Result<CreateOutcome> {
    let fields = fields("create-account", Write::Create, &user::write_schema(), given)?;
    let email = fields["email"].as_str().unwrap_or_default();
    // Emails are unique in Pingboard: an existing one means the account is already there.
    if let Some(existing) = api.find_user_by_email(email)? {
        return Ok(CreateOutcome::AlreadyExists(user::from_value(&existing, "GET /api/v2/users?email=…")?));
    }
    let record = api.create(Collection::Users, Value::Object(fields))?;
    Ok(CreateOutcome::Created(user::from_value(&record, "POST /api/v2/users")?))
}

pub fn update_resource<H: HttpClient>(api: &PingboardApi<H>, id: &ResourceId, given: &[(String, String)]) -> Result<Resource> {
    let what = format!("update of {}:{}", id.resource_type, id.id);
    if id.resource_type == USER {
        let fields = fields(&what, Write::Update, &user::write_schema(), given)?;
        let record = api.update(Collection::Users, &id.id, Value::Object(fields))?.ok_or_else(|| not_found(id))?;
        return user::from_value(&record, &format!("PATCH /api/v2/users/{}", id.id));
    }
    existing_group(api, id)?.ok_or_else(|| not_found(id))?;
    let fields = fields(&what, Write::Update, &group::write_schema(&id.resource_type), given)?;
    let record = api.update(Collection::Groups, &id.id, Value::Object(fields))?.ok_or_else(|| not_found(id))?;
    group::to_resource(&group::fields(&record), &format!("PATCH /api/v2/groups/{}", id.id))
}

pub fn create_resource<H: HttpClient>(api: &PingboardApi<H>, resource_type: &str, given: &[(String, String)]) -> Result<CreateOutcome> {
    if !GROUP_LIKE.contains(&resource_type) {
        return Err(ConnectorError::Unsupported(format!("create-resource makes groups, locations and departments, not `{resource_type}` (users: create-account)")));
    }
    let mut fields = fields(&format!("create-resource {resource_type}"), Write::Create, &group::write_schema(resource_type), given)?;
    fields.insert("type".into(), Value::from(resource_type));
    let record = api.create(Collection::Groups, Value::Object(fields))?;
    Ok(CreateOutcome::Created(group::to_resource(&group::fields(&record), "POST /api/v2/groups")?))
}

pub fn delete_resource<H: HttpClient>(api: &PingboardApi<H>, id: &ResourceId) -> Result<DeleteOutcome> {
    let collection = match id.resource_type.as_str() {
        USER => Collection::Users,
        t if GROUP_LIKE.contains(&t) => {
            // Only delete a group of the type asked for: `location:7` must not delete team 7.
            if existing_group(api, id)?.is_none() {
                return Ok(DeleteOutcome::DidNotExist);
            }
            Collection::Groups
        }
        other => return Err(ConnectorError::NotFound(format!("unknown resource type `{other}`"))),
    };
    Ok(if api.delete(collection, &id.id)? { DeleteOutcome::Deleted } else { DeleteOutcome::DidNotExist })
}

pub fn grant<H: HttpClient>(api: &PingboardApi<H>, principal: &ResourceId, entitlement: &str) -> Result<GrantOutcome> {
    let group = member_entitlement_target(entitlement)?;
    let user = user_principal(principal)?;
    let grant = Grant::new(entitlement, principal.clone());
    Ok(if set_membership(api, &group, user, true)? { GrantOutcome::Granted(grant) } else { GrantOutcome::AlreadyExists(grant) })
}

pub fn revoke<H: HttpClient>(api: &PingboardApi<H>, grant: &Grant) -> Result<RevokeOutcome> {
    let group = member_entitlement_target(&grant.entitlement)?;
    let user = user_principal(&grant.principal)?;
    Ok(if set_membership(api, &group, user, false)? { RevokeOutcome::Revoked } else { RevokeOutcome::AlreadyRevoked })
}

/// Adds or removes one member by reading the group's member list and writing it back whole with
/// `PATCH /api/v2/groups/{id} {"groups":{"links":{"users":[…]}}}` (the unconfirmed part). False when nothing
/// needed to change.
fn set_membership<H: HttpClient>(api: &PingboardApi<H>, group: &ResourceId, user: &str, member: bool) -> Result<bool> {
    let record = existing_group(api, group)?.ok_or_else(|| not_found(group))?;
    let mut members = link_ids(&record, "users");
    if members.iter().any(|m| m == user) == member {
        return Ok(false);
    }
    if member {
        members.push(user.to_string());
    } else {
        members.retain(|m| m != user);
    }
    let body = serde_json::json!({"links": {"users": members}});
    api.update(Collection::Groups, &group.id, body)?.ok_or_else(|| not_found(group))?;
    Ok(true)
}

/// The group record, if a group of `id`'s type exists.
fn existing_group<H: HttpClient>(api: &PingboardApi<H>, id: &ResourceId) -> Result<Option<Value>> {
    Ok(api.get(Collection::Groups, &id.id)?.filter(|record| group::resource_type_of(record) == id.resource_type))
}

/// `<group-like type>:<id>:member` → the group.
fn member_entitlement_target(entitlement: &str) -> Result<ResourceId> {
    let mut parts = entitlement.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(t), Some(id), Some(MEMBER)) if GROUP_LIKE.contains(&t) && !id.is_empty() => Ok(ResourceId::new(t, id)),
        _ => Err(ConnectorError::NotFound(format!("entitlement `{entitlement}` (expected <group|location|department>:<id>:member)"))),
    }
}

fn user_principal(principal: &ResourceId) -> Result<&str> {
    if principal.resource_type != USER {
        return Err(ConnectorError::Unsupported(format!("only users can be members, not `{}`", principal.resource_type)));
    }
    Ok(&principal.id)
}

fn not_found(id: &ResourceId) -> ConnectorError {
    ConnectorError::NotFound(format!("{} {}", id.resource_type, id.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn account_fields_are_checked_before_any_request() {
        let create = |given: &[(&str, &str)]| fields("create-account", Write::Create, &user::write_schema(), &pairs(given));
        let ok = create(&[("first_name", "Ada"), ("last_name", "Lovelace"), ("email", "ada@x.test"), ("office_phone", "+1"), ("reports_to_id", "7")]).unwrap();
        assert_eq!(Value::Object(ok), serde_json::json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@x.test", "office_phone": "+1", "reports_to_id": 7}));
        assert_eq!(create(&[("first_name", "Ada"), ("email", "ada@x.test")]).unwrap_err(), ConnectorError::InvalidConfig("create-account needs `last_name`".into()));
        assert_eq!(create(&[("first_name", "Ada"), ("last_name", "L"), ("email", " ")]).unwrap_err(), ConnectorError::InvalidConfig("create-account needs `email`".into()));
        for (bad, expected) in [(("shoe_size", "9"), "unknown field `shoe_size`"), (("reports_to_id", "boss"), "must be a user id"), (("start_date", "May 1"), "must be YYYY-MM-DD")] {
            let err = fields("c", Write::Update, &user::write_schema(), &pairs(&[bad])).unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[test]
    fn membership_entitlements_are_parsed_strictly() {
        assert_eq!(member_entitlement_target("location:7:member").unwrap(), ResourceId::new("location", "7"));
        for bad in ["user:1:member", "group:7:owner", "group::member", "group:7"] {
            assert!(member_entitlement_target(bad).is_err(), "{bad}");
        }
    }
}
