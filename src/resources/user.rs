//! Pingboard users → `user` resources.

use serde_json::Value;

use super::{USER, id_text, link_ids, text};
use connector_sdk::error::{ConnectorError, Result};
use connector_sdk::model::{AccountType, Email, Resource, ResourceId, ResourceStatus, StatusKind, StructuredName, UserTrait, WriteField, WriteSchema};

/// What a user write accepts, by Pingboard's names, with the SCIM attributes they correspond to. Pingboard keeps
/// no disabled profiles: its own SCIM endpoint deletes a profile it is asked to deactivate.
pub fn write_schema() -> WriteSchema {
    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    WriteSchema::new(
        USER,
        vec![
            WriteField::new("first_name", "Given name").required().scim("name.givenName"),
            WriteField::new("last_name", "Family name").required().scim("name.familyName"),
            WriteField::new("email", "Work email address; unique in Pingboard").required().scim("emails[type eq \"work\"].value"),
            WriteField::new("job_title", "Job title").scim("title"),
            WriteField::new("nickname", "Name the person goes by").scim("nickName"),
            WriteField::new("office_phone", "Office phone number").scim("phoneNumbers[type eq \"work\"].value"),
            WriteField::new("time_zone", "IANA time zone, such as Europe/London").scim("timezone"),
            WriteField::new("locale", "Locale, such as en-US").scim("locale"),
            WriteField::new("reports_to_id", "The Pingboard id of the person's manager; blank for none").scim(&format!("{ENTERPRISE}:manager.value")),
            WriteField::new("start_date", "First day at the company, YYYY-MM-DD"),
        ],
    )
    .disabled_by_delete()
}

/// `profile` is the record's JSON text as the API sent it.
pub fn to_resource(record: &Value, profile: String, context: &str) -> Result<Resource> {
    let id = id_text(record.get("id"))
        .ok_or_else(|| ConnectorError::bad_response(context, "a user record has no `id`"))?;
    let email = text(record, "email");
    let given = text(record, "first_name");
    let family = text(record, "last_name");
    let name = (given.is_some() || family.is_some()).then(|| StructuredName {
        given_name: given.clone().unwrap_or_default(),
        family_name: family.clone().unwrap_or_default(),
        ..Default::default()
    });
    let display_name = match (&given, &family) {
        (Some(g), Some(f)) => format!("{g} {f}"),
        (Some(one), None) | (None, Some(one)) => one.clone(),
        (None, None) => email.clone().unwrap_or_else(|| id.clone()),
    };
    let user = UserTrait {
        emails: email.iter().map(|address| Email { address: address.clone(), primary: true }).collect(),
        login: email,
        login_aliases: Vec::new(),
        employee_ids: Vec::new(),
        name,
        account_type: AccountType::Human,
        // An integer, null or absent; strings are accepted too.
        manager_id: id_text(record.get("reports_to_id")),
        title: text(record, "job_title"),
        department_ids: link_ids(record, "departments"),
        location_ids: link_ids(record, "locations"),
        start_date: text(record, "start_date").filter(|d| is_iso_date(d)),
        time_zone: text(record, "time_zone"),
        locale: text(record, "locale"),
        nickname: text(record, "nickname"),
        // `office_phone` is the current field; `phone` the older one. Both, once each.
        phone_numbers: {
            let mut phones: Vec<String> = ["office_phone", "phone"].iter().filter_map(|k| text(record, k)).collect();
            phones.dedup();
            phones
        },
        photo_url: record.pointer("/avatar_urls/original").and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(str::to_string),
    };
    Ok(Resource {
        id: ResourceId::new(USER, id),
        parent: None,
        display_name,
        description: None,
        // Pingboard has no user status: a listed user is an active profile (deactivation deletes it).
        status: ResourceStatus { kind: StatusKind::Enabled, detail: None },
        user: Some(user),
        group: None,
        profile,
        created_at: text(record, "created_at"),
        updated_at: text(record, "updated_at"),
    })
}

/// `YYYY-MM-DD` with a plausible month and day; Pingboard sometimes sends other things.
fn is_iso_date(value: &str) -> bool {
    let b = value.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == 10 && b[4] == b'-' && b[7] == b'-' && digits(0..4) && digits(5..7) && digits(8..10) && {
        let month: u8 = value[5..7].parse().unwrap_or(0);
        let day: u8 = value[8..10].parse().unwrap_or(0);
        (1..=12).contains(&month) && (1..=31).contains(&day) && &value[0..4] != "0000"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The user object as recorded by the reference (HUBOT fixture) plus the fields seen since 2016.
    fn recorded_user() -> Value {
        json!({
            "id": "1", "created_at": "2015-09-23T05:08:12Z", "updated_at": "2016-04-14T12:31:16Z",
            "roles": [], "phone_message_channel": true, "email_message_channel": true, "social_avatar_id": 1,
            "avatar_urls": {"original": "https://example.com/test.png"}, "avatar_original_size": [480, 480],
            "start_date": "2015-10-01", "birth_date": "0000-05-09", "time_zone": "America/New_York",
            "first_name": "Test", "last_name": "Person", "nickname": "", "email": "test@example.com",
            "phone": "+5555555555", "office_phone": "+1 555 0100", "locale": "en-US", "job_title": "Developer",
            "reports_to_id": 7, "bio": "", "skills": [], "interests": [], "custom_fields": {"f43393": null},
            "links": {"groups": ["1", "2"], "linked_accounts": ["1"], "locations": ["3"], "departments": ["9"], "statuses": ["1"]},
            "some_future_field": {"ignored": true}
        })
    }

    #[test]
    fn maps_a_recorded_user() {
        let record = recorded_user();
        let r = to_resource(&record, record.to_string(), "c").unwrap();
        assert_eq!(r.id, ResourceId::new("user", "1"));
        assert_eq!(r.display_name, "Test Person");
        assert_eq!(r.status.kind, StatusKind::Enabled);
        assert_eq!((r.created_at.as_deref(), r.updated_at.as_deref()), (Some("2015-09-23T05:08:12Z"), Some("2016-04-14T12:31:16Z")));
        let u = r.user.unwrap();
        assert_eq!(u.emails, vec![Email { address: "test@example.com".into(), primary: true }]);
        assert_eq!(u.login.as_deref(), Some("test@example.com"));
        assert_eq!(u.name, Some(StructuredName { given_name: "Test".into(), family_name: "Person".into(), ..Default::default() }));
        assert_eq!(u.manager_id.as_deref(), Some("7"));
        assert_eq!(u.title.as_deref(), Some("Developer"));
        assert_eq!(u.department_ids, vec!["9"]);
        assert_eq!(u.location_ids, vec!["3"]);
        assert_eq!(u.start_date.as_deref(), Some("2015-10-01"));
        assert_eq!((u.time_zone.as_deref(), u.locale.as_deref()), (Some("America/New_York"), Some("en-US")));
        assert_eq!((u.nickname, u.phone_numbers, u.photo_url.as_deref()), (None, vec!["+1 555 0100".to_string(), "+5555555555".to_string()], Some("https://example.com/test.png")));
        let profile: Value = serde_json::from_str(&r.profile).unwrap();
        assert_eq!(profile, record, "the profile keeps the whole record");
    }

    #[test]
    fn manager_may_be_null_absent_or_a_string() {
        let mut record = recorded_user();
        record["reports_to_id"] = Value::Null;
        assert_eq!(to_resource(&record, record.to_string(), "c").unwrap().user.unwrap().manager_id, None);
        record.as_object_mut().unwrap().remove("reports_to_id");
        assert_eq!(to_resource(&record, record.to_string(), "c").unwrap().user.unwrap().manager_id, None);
        record["reports_to_id"] = json!("12");
        assert_eq!(to_resource(&record, record.to_string(), "c").unwrap().user.unwrap().manager_id.as_deref(), Some("12"));
    }

    #[test]
    fn sparse_records_are_fine() {
        let r = to_resource(&json!({"id": "5", "links": {}, "start_date": "not a date", "job_title": ""}), json!({"id": "5", "links": {}, "start_date": "not a date", "job_title": ""}).to_string(), "c").unwrap();
        assert_eq!(r.display_name, "5");
        let u = r.user.unwrap();
        assert!(u.emails.is_empty() && u.login.is_none() && u.name.is_none() && u.title.is_none());
        assert!(u.department_ids.is_empty() && u.location_ids.is_empty() && u.start_date.is_none());
        let only_email = to_resource(&json!({"id": 6, "email": "x@example.com", "start_date": "0000-05-09"}), json!({"id": 6, "email": "x@example.com", "start_date": "0000-05-09"}).to_string(), "c").unwrap();
        assert_eq!((only_email.id.id.as_str(), only_email.display_name.as_str()), ("6", "x@example.com"));
        assert_eq!(only_email.user.unwrap().start_date, None);
    }

    #[test]
    fn a_user_without_id_is_a_bad_response() {
        let err = to_resource(&json!({"email": "x@example.com"}), json!({"email": "x@example.com"}).to_string(), "GET /api/v2/users page 1").unwrap_err();
        assert_eq!(err.to_string(), "bad response: GET /api/v2/users page 1: a user record has no `id`");
    }
}
