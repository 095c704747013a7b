//! A SCIM User (RFC 7643 §4.1, with the enterprise extension §4.3) → a `user` resource.

use serde_json::Value;

use super::{USER, profile, text};
use crate::api::ENTERPRISE_USER;
use connector_sdk::model::*;

/// Core attributes the user trait takes; the rest of the resource goes to the profile.
const MAPPED: [&str; 12] = ["userName", "name", "displayName", "nickName", "title", "emails", "phoneNumbers", "active", "timezone", "locale", "photos", "userType"];

/// What a user write accepts: SCIM attributes by name (`email` and `phone` set the work address and number;
/// the enterprise extension's attributes go by their short names). A user is disabled by writing `active`.
pub fn write_schema() -> WriteSchema {
    let field = |name: &str, description: &str| WriteField::new(name, description).scim(name);
    let enterprise = |name: &str, path: &str| WriteField::new(name, "An attribute of the enterprise extension").scim(&format!("{ENTERPRISE_USER}:{path}"));
    WriteSchema::new(
        USER,
        vec![
            field("userName", "The unique name the user signs in with").required(),
            field("displayName", "The name to show"),
            field("nickName", "The name the user goes by"),
            field("title", "Job title"),
            field("active", "true or false"),
            field("externalId", "The provisioning client's id for the user"),
            field("locale", "Locale, such as en-US"),
            field("timezone", "IANA time zone"),
            field("preferredLanguage", "Preferred language"),
            field("userType", "The kind of user, such as Employee"),
            field("name.givenName", "Given name"),
            field("name.familyName", "Family name"),
            field("name.middleName", "Middle name"),
            field("name.honorificPrefix", "Prefix, such as Dr."),
            field("name.honorificSuffix", "Suffix, such as III"),
            WriteField::new("email", "Work email address").scim("emails[type eq \"work\"].value"),
            WriteField::new("phone", "Work phone number").scim("phoneNumbers[type eq \"work\"].value"),
            enterprise("employeeNumber", "employeeNumber"),
            enterprise("department", "department"),
            enterprise("costCenter", "costCenter"),
            enterprise("organization", "organization"),
            enterprise("manager", "manager.value"),
        ],
    )
    .disabled_by("active", "false", "true")
}

pub fn resource(user: &Value) -> Resource {
    let id = user["id"].as_str().unwrap_or_default().to_string();
    let enterprise = &user[ENTERPRISE_USER];
    let name = &user["name"];
    let structured = (name.is_object()).then(|| StructuredName {
        given_name: text(&name["givenName"]).unwrap_or_default(),
        family_name: text(&name["familyName"]).unwrap_or_default(),
        middle_names: text(&name["middleName"]).into_iter().collect(),
        prefix: text(&name["honorificPrefix"]),
        suffix: text(&name["honorificSuffix"]),
    });
    let emails = user["emails"].as_array().map(Vec::as_slice).unwrap_or_default();
    let emails: Vec<Email> = emails
        .iter()
        .filter_map(|e| Some(Email { address: text(&e["value"])?, primary: e["primary"].as_bool().unwrap_or(false) }))
        .collect();
    let phones = user["phoneNumbers"].as_array().map(Vec::as_slice).unwrap_or_default();
    let photos = user["photos"].as_array().map(Vec::as_slice).unwrap_or_default();
    let photo = photos.iter().find(|p| p["primary"].as_bool() == Some(true)).or(photos.first());
    let display_name = text(&user["displayName"])
        .or_else(|| text(&name["formatted"]))
        .or_else(|| structured.as_ref().map(|n| format!("{} {}", n.given_name, n.family_name).trim().to_string()).filter(|n| !n.is_empty()))
        .or_else(|| text(&user["userName"]))
        .unwrap_or_else(|| id.clone());
    let account_type = match user["userType"].as_str().map(str::to_ascii_lowercase).as_deref() {
        Some("service" | "serviceaccount" | "service account") => AccountType::Service,
        Some("system") => AccountType::System,
        _ => AccountType::Human,
    };
    let mut profile_value = serde_json::from_str::<Value>(&profile(user, &MAPPED)).unwrap_or(Value::Null);
    // The enterprise extension's mapped parts go to the trait; what is left of it stays in the profile.
    if let Some(map) = profile_value.as_object_mut()
        && let Some(extension) = map.get_mut(ENTERPRISE_USER).and_then(Value::as_object_mut)
    {
        extension.remove("employeeNumber");
        extension.remove("manager");
        extension.remove("department");
        if extension.is_empty() {
            map.remove(ENTERPRISE_USER);
        }
    }
    Resource {
        id: ResourceId::new(USER, id),
        parent: None,
        display_name,
        description: None,
        status: status(&user["active"]),
        user: Some(UserTrait {
            emails,
            login: text(&user["userName"]),
            login_aliases: Vec::new(),
            employee_ids: text(&enterprise["employeeNumber"]).into_iter().collect(),
            name: structured,
            account_type,
            manager_id: text(&enterprise["manager"]["value"]),
            title: text(&user["title"]),
            department_ids: text(&enterprise["department"]).into_iter().collect(),
            location_ids: Vec::new(),
            start_date: None,
            time_zone: text(&user["timezone"]),
            locale: text(&user["locale"]),
            nickname: text(&user["nickName"]),
            phone_numbers: phones.iter().filter_map(|p| text(&p["value"])).collect(),
            photo_url: photo.and_then(|p| text(&p["value"])),
        }),
        group: None,
        profile: profile_value.to_string(),
        created_at: text(&user["meta"]["created"]),
        updated_at: text(&user["meta"]["lastModified"]),
    }
}

/// `active`: a boolean, or (some servers, and Entra's dialect) the strings "True"/"False".
fn status(active: &Value) -> ResourceStatus {
    let active = match active {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    };
    let kind = match active {
        Some(true) => StatusKind::Enabled,
        Some(false) => StatusKind::Disabled,
        None => StatusKind::Unspecified,
    };
    ResourceStatus { kind, detail: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn core_and_enterprise_attributes_map_to_the_user_trait() {
        let user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_USER],
            "id": "u1", "externalId": "E-1", "userName": "ada@example.test",
            "name": {"givenName": "Ada", "familyName": "Lovelace", "middleName": "King", "honorificPrefix": "Countess"},
            "title": "Analyst", "nickName": "Ada", "active": "False", "timezone": "Europe/London", "locale": "en-GB",
            "emails": [{"value": "ada@home.test", "type": "home"}, {"value": "ada@example.test", "type": "work", "primary": true}],
            "phoneNumbers": [{"value": "+44 20 1234", "type": "work"}],
            "photos": [{"value": "https://x.test/a.png", "type": "photo"}],
            ENTERPRISE_USER: {"employeeNumber": "701", "department": "Engines", "manager": {"value": "u0", "displayName": "Charles"}},
            "meta": {"created": "2024-01-01T00:00:00Z", "lastModified": "2024-02-01T00:00:00Z", "version": "W/\"3\""}
        });
        let r = resource(&user);
        assert_eq!(r.id, ResourceId::new("user", "u1"));
        assert_eq!(r.display_name, "Ada Lovelace");
        assert_eq!(r.status.kind, StatusKind::Disabled);
        let t = r.user.unwrap();
        assert_eq!(t.login.as_deref(), Some("ada@example.test"));
        assert_eq!(t.emails, vec![Email { address: "ada@home.test".into(), primary: false }, Email { address: "ada@example.test".into(), primary: true }]);
        assert_eq!(t.employee_ids, vec!["701"]);
        assert_eq!(t.manager_id.as_deref(), Some("u0"));
        assert_eq!(t.name.unwrap().middle_names, vec!["King"]);
        assert_eq!((t.title.as_deref(), t.nickname.as_deref(), t.photo_url.as_deref()), (Some("Analyst"), Some("Ada"), Some("https://x.test/a.png")));
        assert_eq!(t.department_ids, vec!["Engines"]);
        assert_eq!(serde_json::from_str::<Value>(&r.profile).unwrap(), json!({"externalId": "E-1"}));
        assert_eq!(r.created_at.as_deref(), Some("2024-01-01T00:00:00Z"));
    }

    #[test]
    fn a_bare_user_still_has_a_name_and_no_status() {
        let r = resource(&json!({"id": "u2", "userName": "grace"}));
        assert_eq!((r.display_name.as_str(), r.status.kind), ("grace", StatusKind::Unspecified));
        assert_eq!(r.profile, "{}");
    }
}
