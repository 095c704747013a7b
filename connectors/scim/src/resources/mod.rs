//! SCIM resources → connector resources, one module per resource type. The resource types, their
//! capabilities and the entitlement ids are defined here and nowhere else.

pub mod department;
pub mod group;
pub mod user;

use serde_json::{Map, Value};

use connector_sdk::model::{Capabilities, Capability, ResourceType, ResourceTypeCapabilities, TraitKind};

pub const USER: &str = "user";
pub const GROUP: &str = "group";
pub const DEPARTMENT: &str = "department";
/// The one entitlement a group offers.
pub const MEMBER: &str = "member";

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

pub fn capabilities() -> Vec<ResourceTypeCapabilities> {
    use Capability::*;
    // Pages carry everything: users hold no entitlements, and a groups page carries its members.
    let of = |resource_type: &str, capabilities: &[Capability]| ResourceTypeCapabilities {
        resource_type: resource_type.into(),
        capabilities: Capabilities::of(capabilities),
        listed_with: None,
    };
    vec![
        of(USER, &[List, Get, InlineEntitlements, InlineGrants, Create, Update, Delete]),
        of(GROUP, &[List, Get, InlineEntitlements, InlineGrants, Create, Delete, Grant, Revoke]),
        // Read-only, from the users pages: a user changes department by an update of the user.
        ResourceTypeCapabilities { listed_with: Some(USER.into()), ..of(DEPARTMENT, &[InlineEntitlements, InlineGrants]) },
    ]
}

/// `group:<id>:member`.
pub fn member_entitlement(group_id: &str) -> String {
    format!("{GROUP}:{group_id}:{MEMBER}")
}

/// The group id of a `group:<id>:member` entitlement.
pub fn group_of_entitlement(entitlement: &str) -> Option<&str> {
    entitlement.strip_prefix("group:")?.strip_suffix(":member").filter(|id| !id.is_empty())
}

/// A resource's attributes less the ones the mapping took (and `schemas`, `meta`), as the profile.
fn profile(resource: &Value, mapped: &[&str]) -> String {
    let mut rest: Map<String, Value> = resource.as_object().cloned().unwrap_or_default();
    for key in mapped.iter().chain(&["id", "schemas", "meta"]) {
        rest.remove(*key);
    }
    Value::Object(rest).to_string()
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}
