//! Pingboard groups → `group`, `location` and `department` resources, each with a `member` entitlement and one
//! grant per member listed in `links.users`.

use serde_json::Value;

use super::{DEPARTMENT, GROUP, LOCATION, MEMBER, USER, id_text, link_ids, text};
use connector_sdk::error::{ConnectorError, Result};
use connector_sdk::model::{Entitlement, Grant, GroupTrait, Purpose, Resource, ResourceId, ResourceStatus, StatusKind};

/// The resource type of a Pingboard group, by its `type`. Types other than location and department (including
/// a missing type) are plain groups.
pub fn resource_type_of(record: &Value) -> &'static str {
    match record.get("type").and_then(Value::as_str) {
        Some("location") => LOCATION,
        Some("department") => DEPARTMENT,
        _ => GROUP,
    }
}

/// `profile` is the record's JSON text as the API sent it.
pub fn to_resource_id(record: &Value, context: &str) -> Result<ResourceId> {
    let id = id_text(record.get("id")).ok_or_else(|| ConnectorError::bad_response(context, "a group record has no `id`"))?;
    Ok(ResourceId::new(resource_type_of(record), id))
}

pub fn to_resource(record: &Value, profile: String, context: &str) -> Result<Resource> {
    let ResourceId { resource_type, id } = to_resource_id(record, context)?;
    Ok(Resource {
        display_name: text(record, "name").unwrap_or_else(|| format!("{resource_type} {id}")),
        id: ResourceId { resource_type, id },
        parent: None,
        description: text(record, "description"),
        status: ResourceStatus { kind: StatusKind::Enabled, detail: None },
        user: None,
        group: Some(GroupTrait {
            source_kind: text(record, "type"),
            member_count: record.get("memberships_count").and_then(Value::as_u64),
        }),
        profile,
        created_at: text(record, "created_at"),
        updated_at: text(record, "updated_at"),
    })
}

pub fn member_entitlement_id(resource: &ResourceId) -> String {
    format!("{}:{}:{MEMBER}", resource.resource_type, resource.id)
}

pub fn member_entitlement(resource: &ResourceId, display_name: &str) -> Entitlement {
    Entitlement {
        id: member_entitlement_id(resource),
        resource: resource.clone(),
        display_name: format!("{display_name} member"),
        description: Some(format!("Member of the {} {display_name}", resource.resource_type)),
        slug: MEMBER.to_string(),
        purpose: Purpose::Assignment,
        grantable_to: vec![USER.to_string()],
    }
}

/// One grant per user id in `links.users` (absent when the group is empty).
pub fn member_grants(resource: &ResourceId, record: &Value) -> Vec<Grant> {
    let entitlement = member_entitlement_id(resource);
    link_ids(record, "users").into_iter().map(|user| Grant::new(&entitlement, ResourceId::new(USER, user))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_a_recorded_group_with_its_members() {
        // The HUBOT fixture's group, verbatim shape.
        let record = json!({"id": "2", "name": "Project 2", "description": "", "created_at": "2016-04-14T17:58:01Z",
            "updated_at": "2016-04-14T17:58:01Z", "memberships_count": 3, "logo_urls": null, "type": "group",
            "custom_fields": {}, "visible_to_owner": true, "visible_to_group": true, "visible_to_other": false,
            "editable_by_owner": false, "links": {"users": ["1", "2", "3"]}});
        let r = to_resource(&record, record.to_string(), "c").unwrap();
        assert_eq!(r.id, ResourceId::new("group", "2"));
        assert_eq!((r.display_name.as_str(), r.description.as_deref()), ("Project 2", None));
        assert_eq!(r.group, Some(GroupTrait { source_kind: Some("group".into()), member_count: Some(3) }));
        let e = member_entitlement(&r.id, &r.display_name);
        assert_eq!((e.id.as_str(), e.slug.as_str(), e.purpose, e.grantable_to.clone()), ("group:2:member", "member", Purpose::Assignment, vec!["user".to_string()]));
        let grants = member_grants(&r.id, &record);
        let ids: Vec<_> = grants.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, ["group:2:member:user:1", "group:2:member:user:2", "group:2:member:user:3"]);
        assert_eq!(grants[0].principal, ResourceId::new("user", "1"));
        assert_eq!(grants[0].entitlement, "group:2:member");
    }

    #[test]
    fn locations_and_departments_are_their_own_types() {
        let location = json!({"id": "7", "name": "Lisbon", "type": "location", "address": "Rua 1", "links": {}});
        let department = json!({"id": "8", "name": "Finance", "type": "department", "links": {"users": ["4"]}});
        assert_eq!(to_resource(&location, location.to_string(), "c").unwrap().id, ResourceId::new("location", "7"));
        assert!(member_grants(&ResourceId::new("location", "7"), &location).is_empty(), "an empty group has `links: {{}}`");
        let d = to_resource(&department, department.to_string(), "c").unwrap();
        assert_eq!(d.id, ResourceId::new("department", "8"));
        assert_eq!(member_grants(&d.id, &department)[0].id, "department:8:member:user:4");
        assert_eq!(resource_type_of(&json!({"id": "9"})), "group");
    }
}
