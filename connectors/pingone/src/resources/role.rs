//! PingOne roles → `role` resources with one entitlement per scope a role can be assigned at, and role
//! assignments → grants. A role at two scopes is two entitlements; an assignment a user inherits through a
//! group is the group's grant, not the user's.

use serde_json::Value;

use connector_sdk::Result;
use connector_sdk::model::{Entitlement, Grant, Purpose, Resource, ResourceId, ResourceStatus, StatusKind};

use super::{GROUP, ROLE, USER, id_of, profile_without, text};

/// The scope types the connector enumerates entitlements for; assignments at others (an organization, an
/// application, another environment) bring their entitlement with them.
pub const ENVIRONMENT: &str = "ENVIRONMENT";
pub const POPULATION: &str = "POPULATION";

/// `role:<role id>:<scope type, lower case>:<scope id>`.
pub fn entitlement_id(role_id: &str, scope_type: &str, scope_id: &str) -> String {
    format!("{ROLE}:{role_id}:{}:{scope_id}", scope_type.to_ascii_lowercase())
}

/// (role id, scope type as PingOne writes it, scope id) of a role entitlement id.
pub fn parse_entitlement(id: &str) -> Option<(String, String, String)> {
    let mut parts = id.splitn(4, ':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(ROLE), Some(role), Some(scope_type), Some(scope_id)) if !role.is_empty() && !scope_id.is_empty() => {
            Some((role.to_string(), scope_type.to_ascii_uppercase(), scope_id.to_string()))
        }
        _ => None,
    }
}

fn entitlement(role_id: &str, role_name: &str, scope_type: &str, scope_id: &str, scope_name: &str) -> Entitlement {
    Entitlement {
        id: entitlement_id(role_id, scope_type, scope_id),
        resource: ResourceId::new(ROLE, role_id),
        display_name: format!("{role_name} on {scope_name}"),
        description: None,
        slug: format!("{}:{scope_id}", scope_type.to_ascii_lowercase()),
        purpose: Purpose::Permission,
        grantable_to: vec![USER.into(), GROUP.into()],
    }
}

/// A role, and its entitlements at this environment and at each of its populations (as its `applicableTo`
/// allows). `populations` are (id, name).
pub fn resource(record: &Value, environment_id: &str, populations: &[(String, String)], context: &str) -> Result<(Resource, Vec<Entitlement>)> {
    let id = id_of(record, "role", context)?;
    let name = text(record, "name").unwrap_or_else(|| id.clone());
    let applicable: Vec<&str> = record["applicableTo"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let mut entitlements = Vec::new();
    if applicable.contains(&ENVIRONMENT) {
        entitlements.push(entitlement(&id, &name, ENVIRONMENT, environment_id, "this environment"));
    }
    if applicable.contains(&POPULATION) {
        for (population_id, population_name) in populations {
            entitlements.push(entitlement(&id, &name, POPULATION, population_id, &format!("population {population_name}")));
        }
    }
    let resource = Resource {
        id: ResourceId::new(ROLE, &id),
        parent: None,
        display_name: name,
        description: text(record, "description"),
        status: ResourceStatus { kind: StatusKind::Unspecified, detail: None },
        user: None,
        group: None,
        profile: profile_without(record, &["id", "name", "description", "permissions"]),
        created_at: None,
        updated_at: None,
    };
    Ok((resource, entitlements))
}

/// A principal's own role assignment as a grant, with its entitlement when no listing enumerates that scope.
/// `None` for one inherited through a group (listed under a user with `group.id`): the group holds it.
pub fn grant(assignment: &Value, principal: ResourceId, environment_id: &str) -> Option<(Grant, Option<Entitlement>)> {
    if assignment["group"]["id"].is_string() {
        return None;
    }
    let role_id = text(&assignment["role"], "id")?;
    let (scope_type, scope_id) = (text(&assignment["scope"], "type")?, text(&assignment["scope"], "id")?);
    let id = entitlement_id(&role_id, &scope_type, &scope_id);
    let enumerated = (scope_type == ENVIRONMENT && scope_id == environment_id) || scope_type == POPULATION;
    let extra = (!enumerated).then(|| {
        let role_name = text(&assignment["_embedded"]["role"], "name").unwrap_or_else(|| format!("role {role_id}"));
        let scope_name = format!("{} {scope_id}", scope_type.to_ascii_lowercase());
        entitlement(&role_id, &role_name, &scope_type, &scope_id, &scope_name)
    });
    Some((Grant::new(&id, principal), extra))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entitlement_ids_round_trip_and_inherited_assignments_are_the_groups() {
        let id = entitlement_id("r1", "POPULATION", "p1");
        assert_eq!(id, "role:r1:population:p1");
        assert_eq!(parse_entitlement(&id), Some(("r1".into(), "POPULATION".into(), "p1".into())));
        assert_eq!(parse_entitlement("group:g:member"), None);
        let user = ResourceId::new(USER, "u1");
        let own = json!({"id": "a1", "role": {"id": "r1"}, "scope": {"id": "env", "type": "ENVIRONMENT"}});
        let (grant, extra) = super::grant(&own, user.clone(), "env").unwrap();
        assert_eq!((grant.id.as_str(), extra), ("role:r1:environment:env:user:u1", None));
        let inherited = json!({"id": "a2", "role": {"id": "r1"}, "scope": {"id": "env", "type": "ENVIRONMENT"}, "group": {"id": "g1"}});
        assert_eq!(super::grant(&inherited, user.clone(), "env"), None);
        let organization = json!({"id": "a3", "role": {"id": "r9"}, "scope": {"id": "org", "type": "ORGANIZATION"}});
        let (_, extra) = super::grant(&organization, user, "env").unwrap();
        assert_eq!(extra.unwrap().display_name, "role r9 on organization org");
    }
}
