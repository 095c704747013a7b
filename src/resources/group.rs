//! Pingboard groups → `group`, `location` and `department` resources, each with a `member` entitlement and one
//! grant per member listed in `links.users`.

use std::collections::BTreeMap;
use std::ops::Range;

use serde_json::Value;
use serde_json::value::RawValue;

use super::field::Field;
use super::{DEPARTMENT, GROUP, LOCATION, USER, id_text, link_ids, parse, text};
use connector_sdk::error::{ConnectorError, Result};
use connector_sdk::model::{Entitlement, Grant, GroupTrait, Resource, ResourceId, ResourceStatus, StatusKind, WriteField, WriteSchema};

/// What a write of a group-like `resource_type` (group, location, department) accepts.
pub fn write_schema(resource_type: &str) -> WriteSchema {
    WriteSchema::new(resource_type, vec![WriteField::new("name", "The group's name").required().scim("displayName"), WriteField::new("description", "What the group is for")])
}

/// The resource type of a Pingboard group, by its `type`. Types other than location and department (including
/// a missing type) are plain groups.
pub fn resource_type_of(record: &Value) -> &'static str {
    match record.get("type").and_then(Value::as_str) {
        Some("location") => LOCATION,
        Some("department") => DEPARTMENT,
        _ => GROUP,
    }
}

pub fn to_resource_id(record: &Value, context: &str) -> Result<ResourceId> {
    let id = id_text(record.get("id")).ok_or_else(|| ConnectorError::bad_response(context, "a group record has no `id`"))?;
    Ok(ResourceId::new(resource_type_of(record), id))
}

/// A group's resource from its `fields` (the record without its member list); the profile is their JSON text.
pub fn to_resource(fields: &Value, context: &str) -> Result<Resource> {
    let ResourceId { resource_type, id } = to_resource_id(fields, context)?;
    Ok(Resource {
        display_name: text(fields, "name").unwrap_or_else(|| format!("{resource_type} {id}")),
        id: ResourceId { resource_type, id },
        parent: None,
        description: text(fields, "description"),
        status: ResourceStatus { kind: StatusKind::Enabled, detail: None },
        user: None,
        group: Some(GroupTrait {
            source_kind: text(fields, "type"),
            member_count: fields.get("memberships_count").and_then(Value::as_u64),
        }),
        profile: fields.to_string(),
        created_at: text(fields, "created_at"),
        updated_at: text(fields, "updated_at"),
    })
}

pub fn member_entitlement_id(resource: &ResourceId) -> String {
    Entitlement::member_id(&resource.resource_type, &resource.id)
}

pub fn member_entitlement(resource: &ResourceId, display_name: &str) -> Entitlement {
    Entitlement::member(resource.clone(), format!("{display_name} member"), &[USER])
        .described(format!("Member of the {} {display_name}", resource.resource_type))
}

/// One grant per user id in `links.users` (absent when the group is empty).
pub fn member_grants(resource: &ResourceId, record: &Value) -> Vec<Grant> {
    let entitlement = member_entitlement_id(resource);
    link_ids(record, "users").into_iter().map(|user| member_grant(&entitlement, user)).collect()
}

fn member_grant(entitlement: &str, user: String) -> Grant {
    Grant::new(entitlement, ResourceId::new(USER, user))
}

/// A group's fields: its record without `links.users`. The members are the member entitlement's grants, and a
/// location's list can hold a whole company, so neither the resource nor its profile carries them.
pub fn fields(record: &Value) -> Value {
    let Value::Object(top) = record else { return record.clone() };
    let mut fields = serde_json::Map::new();
    for (key, value) in top {
        let field = match (key.as_str(), value) {
            // The member list is left out of the copy, not copied and then dropped.
            ("links", Value::Object(links)) => Value::Object(links.iter().filter(|(rel, _)| *rel != "users").map(|(rel, v)| (rel.clone(), v.clone())).collect()),
            _ => value.clone(),
        };
        fields.insert(key.clone(), field);
    }
    Value::Object(fields)
}

/// `fields` read from a record's JSON text, the member list left unparsed.
pub fn fields_of_text(record: &str, context: &str) -> Result<Value> {
    Ok(split(record, context)?.0)
}

/// A group record's fields, parsed, and its `links.users` as the API sent it. As `link_ids` reads it, `links`
/// that is no object has no members.
fn split<'a>(record: &'a str, context: &str) -> Result<(Value, Option<&'a RawValue>)> {
    let object = |text: &'a str| -> Result<BTreeMap<String, &'a RawValue>> { parse(text, context) };
    let value = |raw: &RawValue| -> Result<Value> { parse(raw.get(), context) };
    let mut users = None;
    let mut fields = serde_json::Map::new();
    for (key, raw) in object(record)? {
        let field = if key == "links" && raw.get().starts_with('{') {
            let mut links = object(raw.get())?;
            users = links.remove("users");
            Value::Object(links.into_iter().map(|(rel, raw)| Ok((rel, value(raw)?))).collect::<Result<_>>()?)
        } else {
            value(raw)?
        };
        fields.insert(key, field);
    }
    Ok((Value::Object(fields), users))
}

/// A group record read only as far as its members: its id, and `links.users` as raw ids borrowed from the
/// record's text (16 bytes each, however long the list), turned into grants a range at a time.
#[derive(Debug)]
pub struct Members<'a> {
    pub id: ResourceId,
    users: Vec<&'a RawValue>,
}

impl<'a> Members<'a> {
    pub fn read(record: &'a str, context: &str) -> Result<Self> {
        let (fields, users) = split(record, context)?;
        let id = to_resource_id(&fields, context)?;
        // As `link_ids`: `links.users` is an array of ids, or one id alone.
        let users = match users {
            Some(raw) if raw.get().starts_with('[') => parse(raw.get(), context)?,
            Some(raw) => vec![raw],
            None => Vec::new(),
        };
        Ok(Self { id, users })
    }

    /// How many entries `links.users` has.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The grants of entries `range` of `links.users` (an entry that is no id gives none, as in `link_ids`).
    pub fn grants(&self, range: Range<usize>) -> Vec<Grant> {
        let entitlement = member_entitlement_id(&self.id);
        self.users[range]
            .iter()
            .filter_map(|raw| serde_json::from_str::<Field>(raw.get()).ok()?.id())
            .map(|user| member_grant(&entitlement, user))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_sdk::model::Purpose;
    use serde_json::json;

    #[test]
    fn maps_a_recorded_group_with_its_members() {
        // The HUBOT fixture's group, verbatim shape.
        let record = json!({"id": "2", "name": "Project 2", "description": "", "created_at": "2016-04-14T17:58:01Z",
            "updated_at": "2016-04-14T17:58:01Z", "memberships_count": 3, "logo_urls": null, "type": "group",
            "custom_fields": {}, "visible_to_owner": true, "visible_to_group": true, "visible_to_other": false,
            "editable_by_owner": false, "links": {"users": ["1", "2", "3"]}});
        let r = to_resource(&fields(&record), "c").unwrap();
        assert_eq!(r.id, ResourceId::new("group", "2"));
        let mut profile = record.clone();
        profile["links"] = json!({});
        assert_eq!(serde_json::from_str::<Value>(&r.profile).unwrap(), profile, "the profile is the record but its member list");
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
    fn members_are_read_a_range_at_a_time_as_link_ids_reads_them() {
        let record = r#"{"id": 9, "type": "location", "name": "Lisbon", "links": {"users": ["1", 2, "", null, " 3 "]}}"#;
        let members = Members::read(record, "c").unwrap();
        assert_eq!((members.id.clone(), members.len()), (ResourceId::new("location", "9"), 5));
        let ids = |grants: Vec<Grant>| grants.into_iter().map(|g| g.id).collect::<Vec<_>>();
        assert_eq!(ids(members.grants(0..2)), ["location:9:member:user:1", "location:9:member:user:2"]);
        assert_eq!(ids(members.grants(2..5)), ["location:9:member:user:3"], "entries that are no id give no grant");
        let whole: Value = serde_json::from_str(record).unwrap();
        assert_eq!(ids(members.grants(0..5)), ids(member_grants(&members.id, &whole)));
        for (record, count) in [
            (r#"{"id": "1", "links": {}}"#, 0),
            (r#"{"id": "1", "links": null}"#, 0),
            (r#"{"id": "1"}"#, 0),
            (r#"{"id": "1", "links": {"users": "4"}}"#, 1),
        ] {
            let members = Members::read(record, "c").unwrap();
            assert_eq!((members.id.clone(), members.grants(0..members.len()).len()), (ResourceId::new("group", "1"), count), "{record}");
        }
        assert!(Members::read(r#"{"links": {}}"#, "c").unwrap_err().to_string().contains("has no `id`"));
        assert!(Members::read(r#"{"id": "1", "links": {"users": [1,}}"#, "c").unwrap_err().to_string().contains("c: a record is not valid JSON"));
        // The fields leave the member list out, and read from the text or from the parsed record they are the same.
        let record = r#"{"id": 9, "type": "location", "name": "Lisbon", "links": {"users": ["1", 2], "self": "/9"}}"#;
        let from_text = fields_of_text(record, "c").unwrap();
        assert_eq!(from_text, json!({"id": 9, "type": "location", "name": "Lisbon", "links": {"self": "/9"}}));
        assert_eq!(from_text, fields(&serde_json::from_str(record).unwrap()));
        assert_eq!(fields_of_text(r#"{"id": 9, "links": null}"#, "c").unwrap(), json!({"id": 9, "links": null}));
        assert_eq!(to_resource(&from_text, "c").unwrap().profile, r#"{"id":9,"links":{"self":"/9"},"name":"Lisbon","type":"location"}"#);
    }

    #[test]
    fn locations_and_departments_are_their_own_types() {
        let location = json!({"id": "7", "name": "Lisbon", "type": "location", "address": "Rua 1", "links": {}});
        let department = json!({"id": "8", "name": "Finance", "type": "department", "links": {"users": ["4"]}});
        assert_eq!(to_resource(&location, "c").unwrap().id, ResourceId::new("location", "7"));
        assert!(member_grants(&ResourceId::new("location", "7"), &location).is_empty(), "an empty group has `links: {{}}`");
        let d = to_resource(&fields(&department), "c").unwrap();
        assert_eq!(d.id, ResourceId::new("department", "8"));
        assert_eq!(member_grants(&d.id, &department)[0].id, "department:8:member:user:4");
        assert_eq!(resource_type_of(&json!({"id": "9"})), "group");
    }
}
