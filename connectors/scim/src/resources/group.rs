//! A SCIM Group (RFC 7643 §4.2) → a `group` resource with a `member` entitlement, and its `members` → grants
//! (a member of `type` Group is a nested group, granted as a group).

use serde_json::Value;

use super::{GROUP, USER, member_entitlement, profile, text};
use connector_sdk::model::*;

/// What a group create accepts (members are written by grants).
pub fn write_schema() -> WriteSchema {
    WriteSchema::new(GROUP, vec![WriteField::new("displayName", "The group's name").required().scim("displayName"), WriteField::new("externalId", "The provisioning client's id for the group").scim("externalId")])
}

pub fn resource(group: &Value) -> Resource {
    let id = group["id"].as_str().unwrap_or_default().to_string();
    Resource {
        id: ResourceId::new(GROUP, id.clone()),
        parent: None,
        display_name: text(&group["displayName"]).unwrap_or(id),
        description: None,
        status: ResourceStatus { kind: StatusKind::Unspecified, detail: None },
        user: None,
        group: Some(GroupTrait { source_kind: None, member_count: group["members"].as_array().map(|m| m.len() as u64) }),
        profile: profile(group, &["displayName", "members"]),
        created_at: text(&group["meta"]["created"]),
        updated_at: text(&group["meta"]["lastModified"]),
    }
}

pub fn entitlement(group: &Resource) -> Entitlement {
    Entitlement::member(group.id.clone(), format!("Member of {}", group.display_name), &[USER, GROUP])
        .described(format!("Membership of the group {}", group.display_name))
}

/// Whether the group carries a `members` attribute at all (servers that leave members out of listings
/// omit it; scim2-server also omits it for an empty group).
pub fn has_members(group: &Value) -> bool {
    group.get("members").is_some_and(Value::is_array)
}

/// The grants of `members`, once per principal.
pub fn grants(group: &Value) -> Vec<Grant> {
    let entitlement = member_entitlement(group["id"].as_str().unwrap_or_default());
    let members = group["members"].as_array().map(Vec::as_slice).unwrap_or_default();
    let mut grants: Vec<Grant> = members
        .iter()
        .filter_map(|m| {
            let id = text(&m["value"])?;
            let kind = if m["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("group")) { GROUP } else { USER };
            Some(Grant::new(&entitlement, ResourceId::new(kind, id)))
        })
        .collect();
    grants.sort_by(|a, b| a.id.cmp(&b.id));
    grants.dedup_by(|a, b| a.id == b.id);
    grants
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_become_grants_once_each() {
        let group = json!({"id": "g1", "displayName": "Engineers", "externalId": "X",
            "members": [{"value": "u1", "type": "User"}, {"value": "g2", "type": "Group"}, {"value": "u1"}, {"display": "no value"}]});
        let r = resource(&group);
        assert_eq!((r.display_name.as_str(), r.group.as_ref().unwrap().member_count), ("Engineers", Some(4)));
        assert_eq!(r.profile, r#"{"externalId":"X"}"#);
        assert_eq!(entitlement(&r).id, "group:g1:member");
        let ids: Vec<String> = grants(&group).into_iter().map(|g| g.id).collect();
        assert_eq!(ids, vec!["group:g1:member:group:g2", "group:g1:member:user:u1"]);
        assert!(has_members(&group) && !has_members(&json!({"id": "g3"})));
    }
}
