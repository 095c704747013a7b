//! The JSON form of synced data: exactly the `export --format jsonl` line format `host-harness/README.md` documents (more fields
//! may follow). The store keeps a resource's line packed (`store/resource_data.rs`), and reads it back byte for byte.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::contract::model::*;

fn trait_name(kind: TraitKind) -> &'static str {
    match kind {
        TraitKind::User => "user",
        TraitKind::Group => "group",
        TraitKind::Role => "role",
        TraitKind::App => "app",
    }
}

pub fn status_name(kind: StatusKind) -> &'static str {
    match kind {
        StatusKind::Unspecified => "unspecified",
        StatusKind::Enabled => "enabled",
        StatusKind::Disabled => "disabled",
        StatusKind::Deleted => "deleted",
    }
}

fn purpose_name(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Assignment => "assignment",
        Purpose::Permission => "permission",
        Purpose::Ownership => "ownership",
    }
}

pub fn resource_type(rt: &ResourceType, capabilities: Option<&ResourceTypeCapabilities>) -> Value {
    json!({
        "kind": "resource_type",
        "id": rt.id,
        "display_name": rt.display_name,
        "traits": rt.traits.iter().map(|t| trait_name(*t)).collect::<Vec<_>>(),
        "description": rt.description,
        "capabilities": capabilities.map(|c| c.capabilities.names()).unwrap_or_default(),
        "listed_with": capabilities.and_then(|c| c.listed_with.clone()),
    })
}

/// A resource's export line. Serialised straight from the contract's types: the profile, JSON text from the
/// component, is checked and copied as it is rather than parsed into a tree and printed again.
pub fn resource_line(r: &Resource) -> String {
    let u = r.user.as_ref();
    let line = ResourceLine {
        kind: "resource",
        resource_type: &r.id.resource_type,
        id: &r.id.id,
        display_name: &r.display_name,
        parent: r.parent.as_ref().map(|p| IdRef { resource_type: &p.resource_type, id: &p.id }),
        status: status_name(r.status.kind),
        status_detail: r.status.detail.as_deref(),
        user: u.map(|u| UserLine {
            emails: u.emails.iter().map(|e| EmailLine { address: &e.address, primary: e.primary }).collect(),
            login: u.login.as_deref(),
            manager_id: u.manager_id.as_deref(),
            login_aliases: &u.login_aliases,
            employee_ids: &u.employee_ids,
            name: u.name.as_ref().map(|n| NameLine {
                given_name: &n.given_name,
                family_name: &n.family_name,
                middle_names: &n.middle_names,
                prefix: n.prefix.as_deref(),
                suffix: n.suffix.as_deref(),
            }),
            account_type: match u.account_type {
                AccountType::Human => "human",
                AccountType::Service => "service",
                AccountType::System => "system",
            },
            title: u.title.as_deref(),
            department_ids: &u.department_ids,
            location_ids: &u.location_ids,
            start_date: u.start_date.as_deref(),
            time_zone: u.time_zone.as_deref(),
            locale: u.locale.as_deref(),
            nickname: u.nickname.as_deref(),
            phone_numbers: &u.phone_numbers,
            photo_url: u.photo_url.as_deref(),
        }),
        group: r.group.as_ref().map(|g| GroupLine { source_kind: g.source_kind.as_deref(), member_count: g.member_count }),
        // Kept as JSON when it is JSON, as text when it is not.
        profile: match serde_json::from_str::<&RawValue>(&r.profile) {
            Ok(raw) => Profile::Json(raw),
            Err(_) => Profile::Text(&r.profile),
        },
        description: r.description.as_deref(),
        created_at: r.created_at.as_deref(),
        updated_at: r.updated_at.as_deref(),
    };
    serde_json::to_string(&line).unwrap_or_else(|e| format!(r#"{{"kind":"resource","error":"{e}"}}"#))
}

/// The same line as a JSON value.
pub fn resource(r: &Resource) -> Value {
    serde_json::from_str(&resource_line(r)).unwrap_or_default()
}

#[derive(Serialize)]
struct IdRef<'a> {
    resource_type: &'a str,
    id: &'a str,
}

#[derive(Serialize)]
struct ResourceLine<'a> {
    kind: &'static str,
    resource_type: &'a str,
    id: &'a str,
    display_name: &'a str,
    parent: Option<IdRef<'a>>,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_detail: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<UserLine<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<GroupLine<'a>>,
    profile: Profile<'a>,
    description: Option<&'a str>,
    created_at: Option<&'a str>,
    updated_at: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Profile<'a> {
    Json(&'a RawValue),
    Text(&'a str),
}

#[derive(Serialize)]
struct EmailLine<'a> {
    address: &'a str,
    primary: bool,
}

#[derive(Serialize)]
struct NameLine<'a> {
    given_name: &'a str,
    family_name: &'a str,
    middle_names: &'a [String],
    prefix: Option<&'a str>,
    suffix: Option<&'a str>,
}

#[derive(Serialize)]
struct UserLine<'a> {
    emails: Vec<EmailLine<'a>>,
    login: Option<&'a str>,
    manager_id: Option<&'a str>,
    login_aliases: &'a [String],
    employee_ids: &'a [String],
    name: Option<NameLine<'a>>,
    account_type: &'static str,
    title: Option<&'a str>,
    department_ids: &'a [String],
    location_ids: &'a [String],
    start_date: Option<&'a str>,
    time_zone: Option<&'a str>,
    locale: Option<&'a str>,
    nickname: Option<&'a str>,
    phone_numbers: &'a [String],
    photo_url: Option<&'a str>,
}

#[derive(Serialize)]
struct GroupLine<'a> {
    source_kind: Option<&'a str>,
    member_count: Option<u64>,
}

pub fn entitlement(e: &Entitlement) -> Value {
    json!({
        "kind": "entitlement",
        "id": e.id,
        "resource_type": e.resource.resource_type,
        "resource_id": e.resource.id,
        "slug": e.slug,
        "purpose": purpose_name(e.purpose),
        "grantable_to": e.grantable_to,
        "display_name": e.display_name,
        "description": e.description,
    })
}

/// A grant as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    /// `<entitlement>:<principal type>:<principal id>`.
    pub id: String,
    /// The entitlement held.
    pub entitlement: String,
    /// The holder's type.
    pub principal_type: String,
    /// The holder's id.
    pub principal_id: String,
    /// Why the source will not let it be revoked, when it will not.
    pub immutable: Option<String>,
}

impl From<&Grant> for GrantRow {
    fn from(g: &Grant) -> Self {
        Self {
            id: g.id.clone(),
            entitlement: g.entitlement.clone(),
            principal_type: g.principal.resource_type.clone(),
            principal_id: g.principal.id.clone(),
            immutable: g.immutable.clone(),
        }
    }
}

/// A grant's line; `immutable` appears only on a grant the source derives, so a connector that marks none
/// exports what it always did.
pub fn grant_line(g: &GrantRow) -> Value {
    let mut line = json!({"kind": "grant", "id": g.id, "entitlement": g.entitlement, "principal_type": g.principal_type, "principal_id": g.principal_id});
    if let Some(why) = &g.immutable {
        line["immutable"] = json!(why);
    }
    line
}
