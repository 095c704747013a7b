//! Pingboard records → connector resources, one module per resource type family. The resource types,
//! their capabilities and the entitlement ids are defined here and nowhere else.

pub mod field;
pub mod group;
pub mod user;

use serde_json::Value;

use field::Field;
use connector_sdk::error::{ConnectorError, Result};
use connector_sdk::model::{Capabilities, ResourceType, ResourceTypeCapabilities, TraitKind, WriteSchema};

pub const USER: &str = "user";
pub const GROUP: &str = "group";
pub const LOCATION: &str = "location";
pub const DEPARTMENT: &str = "department";
/// The one entitlement every group-like resource offers.
pub use connector_sdk::model::MEMBER;

pub const GROUP_LIKE: [&str; 3] = [GROUP, LOCATION, DEPARTMENT];

pub fn resource_types() -> Vec<ResourceType> {
    vec![
        ResourceType {
            id: USER.into(),
            display_name: "User".into(),
            traits: vec![TraitKind::User],
            description: Some("A Pingboard profile".into()),
        },
        ResourceType {
            id: GROUP.into(),
            display_name: "Group".into(),
            traits: vec![TraitKind::Group],
            description: Some("A Pingboard group (team)".into()),
        },
        ResourceType {
            id: LOCATION.into(),
            display_name: "Location".into(),
            traits: vec![TraitKind::Group],
            description: Some("A Pingboard location (a group of type location)".into()),
        },
        ResourceType {
            id: DEPARTMENT.into(),
            display_name: "Department".into(),
            traits: vec![TraitKind::Group],
            description: Some("A Pingboard department (a group of type department)".into()),
        },
    ]
}

/// What each writable type's writes accept.
pub fn write_schemas() -> Vec<WriteSchema> {
    std::iter::once(user::write_schema()).chain(GROUP_LIKE.map(group::write_schema)).collect()
}

pub fn capabilities() -> Vec<ResourceTypeCapabilities> {
    // Users hold no entitlements of their own: their (empty) entitlements and grants are trivially inline.
    let user = Capabilities::LIST | Capabilities::GET | Capabilities::INLINE_ENTITLEMENTS | Capabilities::INLINE_GRANTS | Capabilities::CREATE | Capabilities::UPDATE | Capabilities::DELETE;
    // One `GET /groups` listing serves all three group-like types, with their member lists inline.
    let group_like = user | Capabilities::GRANT | Capabilities::REVOKE;
    vec![
        ResourceTypeCapabilities::new(USER, user),
        ResourceTypeCapabilities::new(GROUP, group_like),
        ResourceTypeCapabilities::new(LOCATION, group_like).listed_with(GROUP),
        ResourceTypeCapabilities::new(DEPARTMENT, group_like).listed_with(GROUP),
    ]
}

/// A parsed record's id (see `Field::id`).
pub(crate) fn id_text(value: Option<&Value>) -> Option<String> {
    Field::of(value).id()
}

/// A parsed record's non-blank text field.
pub(crate) fn text(record: &Value, key: &str) -> Option<String> {
    Field::of(record.get(key)).text()
}

/// A parsed record's `links.<rel>`: a list of ids, or one id alone.
pub(crate) fn link_ids(record: &Value, rel: &str) -> Vec<String> {
    Field::of(record.get("links").and_then(|links| links.get(rel))).ids()
}

/// A record's JSON text (or a part of it), parsed; `context` names the request it came in.
pub(crate) fn parse<'a, T: serde::Deserialize<'a>>(text: &'a str, context: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| ConnectorError::bad_response(context, format!("a record is not valid JSON ({e})")))
}
