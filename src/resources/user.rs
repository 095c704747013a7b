//! Pingboard users → `user` resources.

use serde::Deserialize;
use serde_json::Value;

use super::field::{Field, Object};
use super::{USER, parse};
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

/// What the mapping reads of a user record, borrowed from its text (see `field.rs`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UserRecord<'a> {
    #[serde(borrow)]
    id: Field<'a>,
    #[serde(borrow)]
    email: Field<'a>,
    #[serde(borrow)]
    first_name: Field<'a>,
    #[serde(borrow)]
    last_name: Field<'a>,
    #[serde(borrow)]
    nickname: Field<'a>,
    #[serde(borrow)]
    job_title: Field<'a>,
    /// An integer, null or absent; strings are accepted too.
    #[serde(borrow)]
    reports_to_id: Field<'a>,
    #[serde(borrow)]
    start_date: Field<'a>,
    #[serde(borrow)]
    time_zone: Field<'a>,
    #[serde(borrow)]
    locale: Field<'a>,
    /// The current phone field; `phone` is the older one.
    #[serde(borrow)]
    office_phone: Field<'a>,
    #[serde(borrow)]
    phone: Field<'a>,
    #[serde(borrow)]
    avatar_urls: Object<Avatars<'a>>,
    #[serde(borrow)]
    links: Object<Links<'a>>,
    #[serde(borrow)]
    created_at: Field<'a>,
    #[serde(borrow)]
    updated_at: Field<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Avatars<'a> {
    #[serde(borrow)]
    original: Field<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Links<'a> {
    #[serde(borrow)]
    departments: Field<'a>,
    #[serde(borrow)]
    locations: Field<'a>,
}

/// A user from its record's JSON text, as the API sent it; the text is its profile.
pub fn from_text(text: &str, context: &str) -> Result<Resource> {
    let Object(record) = parse(text, context)?;
    to_resource(&record, text.to_string(), context)
}

/// A user from its parsed record, read as `from_text` reads the text.
pub fn from_value(record: &Value, context: &str) -> Result<Resource> {
    let Object(fields) = Object::deserialize(record).map_err(|e| ConnectorError::bad_response(context, format!("a user record is unreadable ({e})")))?;
    to_resource(&fields, record.to_string(), context)
}

fn to_resource(record: &UserRecord, profile: String, context: &str) -> Result<Resource> {
    let id = record.id.id().ok_or_else(|| ConnectorError::bad_response(context, "a user record has no `id`"))?;
    let email = record.email.text();
    let given = record.first_name.text();
    let family = record.last_name.text();
    let name = (given.is_some() || family.is_some()).then(|| StructuredName {
        given_name: given.clone().unwrap_or_default(),
        family_name: family.clone().unwrap_or_default(),
        ..Default::default()
    });
    let display_name = match (&given, &family) {
        (Some(g), Some(f)) => [g.as_str(), f.as_str()].join(" "),
        (Some(one), None) | (None, Some(one)) => one.clone(),
        (None, None) => email.clone().unwrap_or_else(|| id.clone()),
    };
    let Object(links) = &record.links;
    let user = UserTrait {
        emails: email.iter().map(|address| Email { address: address.clone(), primary: true }).collect(),
        login: email,
        login_aliases: Vec::new(),
        employee_ids: Vec::new(),
        name,
        account_type: AccountType::Human,
        manager_id: record.reports_to_id.id(),
        title: record.job_title.text(),
        department_ids: links.departments.ids(),
        location_ids: links.locations.ids(),
        start_date: record.start_date.text().filter(|d| is_iso_date(d)),
        time_zone: record.time_zone.text(),
        locale: record.locale.text(),
        nickname: record.nickname.text(),
        // Both phone fields, once each.
        phone_numbers: {
            let mut phones: Vec<String> = [&record.office_phone, &record.phone].into_iter().filter_map(Field::text).collect();
            phones.dedup();
            phones
        },
        photo_url: record.avatar_urls.0.original.as_str().filter(|s| !s.is_empty()).map(str::to_string),
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
        created_at: record.created_at.text(),
        updated_at: record.updated_at.text(),
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

    /// The user read from the record's text, checked to be what reading the parsed record gives.
    fn mapped(record: &Value, context: &str) -> Result<Resource> {
        let from_text = from_text(&record.to_string(), context);
        assert_eq!(from_text, from_value(record, context), "{record}");
        from_text
    }

    #[test]
    fn maps_a_recorded_user() {
        let record = recorded_user();
        let r = mapped(&record, "c").unwrap();
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
        assert_eq!(mapped(&record, "c").unwrap().user.unwrap().manager_id, None);
        record.as_object_mut().unwrap().remove("reports_to_id");
        assert_eq!(mapped(&record, "c").unwrap().user.unwrap().manager_id, None);
        record["reports_to_id"] = json!("12");
        assert_eq!(mapped(&record, "c").unwrap().user.unwrap().manager_id.as_deref(), Some("12"));
    }

    #[test]
    fn sparse_records_are_fine() {
        let r = mapped(&json!({"id": "5", "links": {}, "start_date": "not a date", "job_title": ""}), "c").unwrap();
        assert_eq!(r.display_name, "5");
        let u = r.user.unwrap();
        assert!(u.emails.is_empty() && u.login.is_none() && u.name.is_none() && u.title.is_none());
        assert!(u.department_ids.is_empty() && u.location_ids.is_empty() && u.start_date.is_none());
        let only_email = mapped(&json!({"id": 6, "email": "x@example.com", "start_date": "0000-05-09"}), "c").unwrap();
        assert_eq!((only_email.id.id.as_str(), only_email.display_name.as_str()), ("6", "x@example.com"));
        assert_eq!(only_email.user.unwrap().start_date, None);
    }

    #[test]
    fn a_user_without_id_is_a_bad_response() {
        for record in [json!({"email": "x@example.com"}), json!({"id": " "}), json!({"id": 1.5}), json!(null), json!(["1"])] {
            let err = mapped(&record, "GET /api/v2/users page 1").unwrap_err();
            assert_eq!(err.to_string(), "bad response: GET /api/v2/users page 1: a user record has no `id`", "{record}");
        }
    }

    #[test]
    fn fields_of_unexpected_types_are_as_if_absent() {
        let record = json!({"id": 8, "email": 5, "first_name": ["A"], "last_name": {"x": 1}, "job_title": true,
            "reports_to_id": 1.5, "avatar_urls": "https://example.com/a.png", "links": {"departments": "9", "locations": [3, null, "4"]}});
        let r = mapped(&record, "c").unwrap();
        assert_eq!((r.id.id.as_str(), r.display_name.as_str()), ("8", "8"));
        let u = r.user.unwrap();
        assert_eq!((u.login, u.name, u.title, u.manager_id, u.photo_url), (None, None, None, None, None));
        assert_eq!((u.department_ids, u.location_ids), (vec!["9".to_string()], vec!["3".to_string(), "4".to_string()]));
        for links in [json!(null), json!([]), json!("9")] {
            let u = mapped(&json!({"id": "1", "links": links}), "c").unwrap().user.unwrap();
            assert!(u.department_ids.is_empty() && u.location_ids.is_empty(), "{links}");
        }
    }

    #[test]
    fn a_record_with_a_field_twice_is_a_bad_response() {
        let err = from_text(r#"{"id": "1", "email": "a@example.com", "email": "b@example.com"}"#, "GET /api/v2/users page 1").unwrap_err();
        assert!(err.to_string().starts_with("bad response: GET /api/v2/users page 1: a record is not valid JSON (duplicate field `email`"), "{err}");
    }
}
