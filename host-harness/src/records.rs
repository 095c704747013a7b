//! The JSON form of synced data: exactly the `export --format jsonl` line format of DESIGN §4 (more fields
//! may follow). The store keeps resources in this form, so export is a straight read.

use serde_json::{Map, Value, json};

use crate::bindings::*;

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

fn purpose_name(purpose: EntitlementPurpose) -> &'static str {
    match purpose {
        EntitlementPurpose::Assignment => "assignment",
        EntitlementPurpose::Permission => "permission",
        EntitlementPurpose::Ownership => "ownership",
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

pub fn resource(r: &Resource) -> Value {
    let mut out = Map::new();
    out.insert("kind".into(), "resource".into());
    out.insert("resource_type".into(), r.id.resource_type.clone().into());
    out.insert("id".into(), r.id.id.clone().into());
    out.insert("display_name".into(), r.display_name.clone().into());
    out.insert("parent".into(), r.parent.as_ref().map_or(Value::Null, |p| json!({"resource_type": p.resource_type, "id": p.id})));
    out.insert("status".into(), status_name(r.status.kind).into());
    if let Some(detail) = &r.status.detail {
        out.insert("status_detail".into(), detail.clone().into());
    }
    if let Some(u) = &r.user {
        out.insert(
            "user".into(),
            json!({
                "emails": u.emails.iter().map(|e| json!({"address": e.address, "primary": e.primary})).collect::<Vec<_>>(),
                "login": u.login,
                "manager_id": u.manager_id,
                "login_aliases": u.login_aliases,
                "employee_ids": u.employee_ids,
                "name": u.name.as_ref().map(|n| json!({"given_name": n.given_name, "family_name": n.family_name,
                    "middle_names": n.middle_names, "prefix": n.prefix, "suffix": n.suffix})),
                "account_type": match u.account_type { AccountType::Human => "human", AccountType::Service => "service", AccountType::System => "system" },
                "title": u.title,
                "department_ids": u.department_ids,
                "location_ids": u.location_ids,
                "start_date": u.start_date,
                "time_zone": u.time_zone,
                "locale": u.locale,
                "nickname": u.nickname,
                "phone_numbers": u.phone_numbers,
                "photo_url": u.photo_url,
            }),
        );
    }
    if let Some(g) = &r.group {
        out.insert("group".into(), json!({"source_kind": g.source_kind, "member_count": g.member_count}));
    }
    // The profile comes from the component as JSON text; keep it as JSON, or as text if it is not JSON.
    let profile = serde_json::from_str::<Value>(&r.profile).unwrap_or_else(|_| Value::String(r.profile.clone()));
    out.insert("profile".into(), profile);
    out.insert("description".into(), r.description.clone().into());
    out.insert("created_at".into(), r.created_at.clone().into());
    out.insert("updated_at".into(), r.updated_at.clone().into());
    Value::Object(out)
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

pub fn grant_line(id: &str, entitlement: &str, principal_type: &str, principal_id: &str) -> Value {
    json!({"kind": "grant", "id": id, "entitlement": entitlement, "principal_type": principal_type, "principal_id": principal_id})
}
