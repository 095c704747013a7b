//! SCIM resources → connector resources, one module per resource type. The resource types, their
//! capabilities and the entitlement ids are defined here and nowhere else.

pub mod department;
pub mod group;
pub mod user;

use serde_json::Value;

use crate::api::{Endpoint, ScimApi};
use connector_sdk::error::{ConnectorError, Result};
use connector_sdk::json::{self, text};
use connector_sdk::http::HttpClient;
use connector_sdk::model::{Capabilities, Entitlement, Resource, ResourceId, ResourceType, ResourceTypeCapabilities, TraitKind, WriteSchema};

pub const USER: &str = "user";
pub const GROUP: &str = "group";
pub const DEPARTMENT: &str = "department";

pub fn resource_type(id: &str) -> ResourceType {
    match id {
        USER => ResourceType { id: USER.into(), display_name: "User".into(), traits: vec![TraitKind::User], description: Some("A SCIM User".into()) },
        DEPARTMENT => ResourceType {
            id: DEPARTMENT.into(),
            display_name: "Department".into(),
            traits: vec![TraitKind::Group],
            description: Some("A department, as users' enterprise `department` attribute names it".into()),
        },
        _ => ResourceType { id: GROUP.into(), display_name: "Group".into(), traits: vec![TraitKind::Group], description: Some("A SCIM Group".into()) },
    }
}

/// What each writable type's writes accept.
pub fn write_schemas() -> Vec<WriteSchema> {
    vec![user::write_schema(), group::write_schema()]
}

pub fn capabilities() -> Vec<ResourceTypeCapabilities> {
    // Pages carry everything: users hold no entitlements, and a groups page carries its members.
    let inline = Capabilities::INLINE_ENTITLEMENTS | Capabilities::INLINE_GRANTS;
    let listed = Capabilities::LIST | Capabilities::GET | inline | Capabilities::CREATE | Capabilities::DELETE;
    vec![
        ResourceTypeCapabilities::new(USER, listed | Capabilities::UPDATE),
        ResourceTypeCapabilities::new(GROUP, listed | Capabilities::GRANT | Capabilities::REVOKE),
        // Read-only, from the users pages: a user changes department by an update of the user.
        ResourceTypeCapabilities::new(DEPARTMENT, inline).listed_with(USER),
    ]
}

/// `group:<id>:member`.
pub fn member_entitlement(group_id: &str) -> String {
    Entitlement::member_id(GROUP, group_id)
}

/// The group id of a `group:<id>:member` entitlement.
pub fn group_of_entitlement(entitlement: &str) -> Option<&str> {
    entitlement.strip_prefix("group:")?.strip_suffix(":member").filter(|id| !id.is_empty())
}

/// A resource's attributes less the ones the mapping took (and `id`, `schemas`, `meta`), as the profile.
fn profile(resource: &Value, mapped: &[&str]) -> String {
    let keys: Vec<&str> = mapped.iter().copied().chain(["id", "schemas", "meta"]).collect();
    json::profile_without(resource, &keys)
}
/// The resource `id`, read from the server now (`get-resource`, and the state a write left).
pub fn read<H: HttpClient>(api: &ScimApi<H>, id: &ResourceId) -> Result<Resource> {
    let endpoint = endpoint_of(&id.resource_type)?;
    let found = api.get(endpoint, &id.id, None)?.ok_or_else(|| ConnectorError::NotFound(format!("{}:{}", id.resource_type, id.id)))?;
    Ok(match endpoint {
        Endpoint::Users => user::resource(&found),
        Endpoint::Groups => group::resource(&found),
    })
}

/// The endpoint a resource type is read and written at.
pub fn endpoint_of(resource_type: &str) -> Result<Endpoint> {
    match resource_type {
        USER => Ok(Endpoint::Users),
        GROUP => Ok(Endpoint::Groups),
        other => Err(ConnectorError::NotFound(format!("no resource type `{other}`"))),
    }
}

