//! PingOne objects → connector resources, one module per resource type. The resource types, their
//! capabilities and the entitlement ids are defined here and nowhere else.

pub mod group;
pub mod population;
pub mod role;
pub mod user;

use serde_json::Value;

use connector_sdk::model::{Capabilities, Entitlement, ResourceId, ResourceType, ResourceTypeCapabilities, TraitKind, WriteSchema};

pub const USER: &str = "user";
pub const GROUP: &str = "group";
pub const POPULATION: &str = "population";
pub const ROLE: &str = "role";
/// The entitlement groups and populations offer.
pub use connector_sdk::model::MEMBER;

pub fn resource_types() -> Vec<ResourceType> {
    let kind = |id: &str, name: &str, traits: TraitKind, description: &str| ResourceType {
        id: id.into(),
        display_name: name.into(),
        traits: vec![traits],
        description: Some(description.into()),
    };
    vec![
        kind(USER, "User", TraitKind::User, "A PingOne user"),
        kind(GROUP, "Group", TraitKind::Group, "A PingOne group: static, dynamic (userFilter) or nested"),
        kind(POPULATION, "Population", TraitKind::Group, "A PingOne population: every user is in exactly one"),
        kind(ROLE, "Role", TraitKind::Role, "A PingOne administrator role, built-in or custom, assigned at a scope"),
    ]
}

/// What each writable type's writes accept: users (groups and roles are written by grants only).
pub fn write_schemas() -> Vec<WriteSchema> {
    vec![user::write_schema()]
}

pub fn capabilities() -> Vec<ResourceTypeCapabilities> {
    let listed = Capabilities::LIST | Capabilities::INLINE_ENTITLEMENTS;
    // Users hold no entitlements; the grants they hold as principals (role assignments) can only be read one
    // user at a time, so they are not inline: the host asks each user.
    let user = listed | Capabilities::GET | Capabilities::CREATE | Capabilities::UPDATE | Capabilities::DELETE;
    // Population grants come with every user; roles are listed after the populations (their scopes).
    let population = listed | Capabilities::INLINE_GRANTS;
    // The group listing hands back each group's member walk as independent pages.
    let group = population | Capabilities::GRANT | Capabilities::REVOKE;
    vec![
        ResourceTypeCapabilities::new(USER, user),
        ResourceTypeCapabilities::new(GROUP, group),
        ResourceTypeCapabilities::new(POPULATION, population),
        ResourceTypeCapabilities::new(ROLE, group).listed_with(POPULATION),
    ]
}

/// `group:<id>:member`, `population:<id>:member`.
pub fn member_entitlement_id(resource_type: &str, id: &str) -> String {
    Entitlement::member_id(resource_type, id)
}

/// The `member` entitlement of a group or population.
pub fn member_entitlement(resource_type: &str, id: &str, name: &str, grantable_to: &[&str]) -> Entitlement {
    Entitlement::member(ResourceId::new(resource_type, id), format!("Member of {name}"), grantable_to)
}

/// A non-empty string field.
pub(crate) fn text(record: &Value, key: &str) -> Option<String> {
    connector_sdk::json::text(&record[key])
}

/// The record's `id`, or a bad-response error naming what lacked one.
pub(crate) fn id_of(record: &Value, what: &str, context: &str) -> connector_sdk::Result<String> {
    text(record, "id").ok_or_else(|| connector_sdk::ConnectorError::bad_response(context, format!("a {what} without an id")))
}

/// `record` without `keys` and the HAL noise, as the profile's JSON object.
pub(crate) fn profile_without(record: &Value, keys: &[&str]) -> String {
    let keys: Vec<&str> = keys.iter().copied().chain(["_links", "_embedded", "environment"]).collect();
    connector_sdk::json::profile_without(record, &keys)
}
