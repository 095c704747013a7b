//! PingOne users → `user` resources, and each user's population grant (which costs no request).

use serde_json::Value;

use connector_sdk::http::HttpClient;
use connector_sdk::{ConnectorError, Result};
use connector_sdk::model::{AccountType, Email, Grant, Resource, ResourceId, ResourceStatus, StatusKind, StructuredName, UserTrait, WriteField, WriteSchema};

use super::{POPULATION, USER, id_of, member_entitlement_id, profile_without, text};
use crate::api::PingOneApi;

/// What a user write accepts, with the SCIM attributes the fields correspond to. A user is disabled by an update
/// of `enabled` (PingOne's `/users/{id}/enabled`).
pub fn write_schema() -> WriteSchema {
    WriteSchema::new(
        USER,
        vec![
            WriteField::new("username", "The user's unique name").required().create_only().scim("userName"),
            WriteField::new("email", "Email address").required().scim("emails[type eq \"work\"].value"),
            WriteField::new("given_name", "Given name").scim("name.givenName"),
            WriteField::new("family_name", "Family name").scim("name.familyName"),
            WriteField::new("title", "Job title").scim("title"),
            WriteField::new("population", "The id of the population to create the user in; the environment's default if none").create_only(),
            WriteField::new("enabled", "true or false").update_only().scim("active"),
        ],
    )
    .disabled_by("enabled", "false", "true")
}

/// The user `id`, read from the source now (`get-resource`, and the state a write left).
pub fn read<H: HttpClient>(api: &PingOneApi<H>, id: &str) -> Result<Resource> {
    match api.user(id)? {
        Some(record) => resource(&record, "GET /users/{id}"),
        None => Err(ConnectorError::NotFound(format!("user {id}"))),
    }
}

/// Why a population grant cannot be revoked: PingOne keeps every user in exactly one population.
pub const POPULATION_GRANT: &str = "every user is in exactly one population: move the user to change it";

/// The keys mapped into the resource and its trait; the rest (custom attributes included) is the profile.
const MAPPED: [&str; 14] =
    ["id", "username", "email", "name", "title", "mobilePhone", "primaryPhone", "externalId", "enabled", "nickname", "locale", "timezone", "createdAt", "updatedAt"];

pub fn resource(record: &Value, context: &str) -> Result<Resource> {
    let id = id_of(record, "user", context)?;
    let username = text(record, "username");
    let name = &record["name"];
    let (given, family) = (text(name, "given"), text(name, "family"));
    let structured = (given.is_some() || family.is_some()).then(|| StructuredName {
        given_name: given.clone().unwrap_or_default(),
        family_name: family.clone().unwrap_or_default(),
        middle_names: text(name, "middle").into_iter().collect(),
        prefix: text(name, "honorificPrefix"),
        suffix: text(name, "honorificSuffix"),
    });
    let display_name = text(name, "formatted")
        .or_else(|| Some(format!("{} {}", given.as_deref().unwrap_or(""), family.as_deref().unwrap_or("")).trim().to_string()).filter(|n| !n.is_empty()))
        .or_else(|| username.clone())
        .unwrap_or_else(|| id.clone());
    let status = ResourceStatus {
        kind: if record["enabled"].as_bool() == Some(false) { StatusKind::Disabled } else { StatusKind::Enabled },
        detail: match (record["account"]["status"].as_str(), record["lifecycle"]["status"].as_str()) {
            (Some("LOCKED"), _) => Some("account locked".into()),
            (_, Some("VERIFICATION_REQUIRED")) => Some("verification required".into()),
            _ => None,
        },
    };
    let trait_ = UserTrait {
        emails: text(record, "email").map(|address| Email { address, primary: true }).into_iter().collect(),
        login: username,
        login_aliases: Vec::new(),
        employee_ids: text(record, "externalId").into_iter().collect(),
        name: structured,
        account_type: AccountType::Human,
        manager_id: None,
        title: text(record, "title"),
        department_ids: Vec::new(),
        location_ids: Vec::new(),
        start_date: None,
        time_zone: text(record, "timezone"),
        locale: text(record, "locale"),
        nickname: text(record, "nickname"),
        phone_numbers: ["mobilePhone", "primaryPhone"].iter().filter_map(|k| text(record, k)).collect(),
        photo_url: text(&record["photo"], "href"),
    };
    Ok(Resource {
        id: ResourceId::new(USER, id),
        parent: None,
        display_name,
        description: None,
        status,
        user: Some(trait_),
        group: None,
        profile: profile_without(record, &MAPPED),
        created_at: text(record, "createdAt"),
        updated_at: text(record, "updatedAt"),
    })
}

/// The user's population membership, from `population.id`.
pub fn population_grant(record: &Value, user_id: &str) -> Option<Grant> {
    let population = text(&record["population"], "id")?;
    Some(Grant::new(&member_entitlement_id(POPULATION, &population), ResourceId::new(USER, user_id)).derived(POPULATION_GRANT))
}
