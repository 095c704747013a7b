//! The double's write endpoints, with Pingboard's validation as far as it is known: mandatory fields, unique
//! emails, Rails-style `{"errors": […]}` bodies on 422. Users' `links` follow from groups' member lists, so the
//! two stay consistent by construction.

// Handlers bail out with a ready `Response`; its size does not matter here.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value, json};

use crate::company::{Group, GroupKind, Manager, User};
use crate::server::{Served, Shared, admit_write, json_response};

type Params = Query<std::collections::HashMap<String, String>>;

fn unprocessable(errors: Vec<String>) -> Response {
    json_response(StatusCode::UNPROCESSABLE_ENTITY, json!({"errors": errors}))
}

fn not_found(what: &str, id: &str) -> Response {
    json_response(StatusCode::NOT_FOUND, json!({"errors": [format!("{what} {id} not found")]}))
}

/// Admits a write (counting, auth, faults) and unwraps its `{"<key>": {…}}` envelope.
async fn admitted<'a>(s: &Shared, headers: &HeaderMap, query: &Params, body: &'a Value, key: &str) -> Result<&'a Map<String, Value>, Response> {
    admit_write(s, headers, query).await?;
    envelope(body, key)
}

/// Applies a change to the company, re-deriving the links and indexes.
fn change(served: &mut Served, f: impl FnOnce(&mut crate::company::Company)) {
    let mut company = served.company.clone();
    f(&mut company);
    *served = Served::new(company);
}

/// `{"<key>": {…}}`, the request envelope.
fn envelope<'a>(body: &'a Value, key: &str) -> Result<&'a Map<String, Value>, Response> {
    body.get(key).and_then(Value::as_object).ok_or_else(|| unprocessable(vec![format!("param is missing or the value is empty: {key}")]))
}

fn text(fields: &Map<String, Value>, key: &str) -> Option<String> {
    match fields.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

fn apply_user_fields(user: &mut User, fields: &Map<String, Value>) {
    for (key, slot) in [
        ("first_name", &mut user.first_name),
        ("last_name", &mut user.last_name),
        ("email", &mut user.email),
        ("job_title", &mut user.job_title),
        ("time_zone", &mut user.time_zone),
        ("locale", &mut user.locale),
        ("nickname", &mut user.nickname),
    ] {
        if let Some(value) = text(fields, key) {
            *slot = value;
        }
    }
    // The double keeps one phone, served as both `phone` and `office_phone`.
    if let Some(value) = text(fields, "office_phone").or_else(|| text(fields, "phone")) {
        user.phone = value;
    }
    if let Some(value) = fields.get("start_date") {
        user.start_date = value.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    }
    match fields.get("reports_to_id") {
        Some(Value::Number(n)) => user.reports_to = n.as_u64().map_or(Manager::Null, Manager::Id),
        Some(Value::String(s)) => user.reports_to = s.parse().map_or(Manager::Null, Manager::Id),
        Some(Value::Null) => user.reports_to = Manager::Null,
        _ => {}
    }
}

fn validate_user(served: &Served, user: &User) -> Vec<String> {
    let mut errors = Vec::new();
    for (value, name) in [(&user.first_name, "First name"), (&user.last_name, "Last name"), (&user.email, "Email")] {
        if value.trim().is_empty() {
            errors.push(format!("{name} can't be blank"));
        }
    }
    let taken = served.company.users.iter().any(|u| u.id != user.id && u.email.eq_ignore_ascii_case(&user.email));
    if !user.email.trim().is_empty() && taken {
        errors.push("Email has already been taken".into());
    }
    errors
}

fn created(status: StatusCode, key: &str, record: Value) -> Response {
    json_response(status, json!({ key: [record] }))
}

pub(crate) async fn create_user(State(s): State<Arc<Shared>>, query: Params, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let fields = match admitted(&s, &headers, &query, &body, "users").await {
        Ok(f) => f,
        Err(response) => return response,
    };
    let mut served = s.served_mut();
    let mut user = User {
        id: served.company.next_user_id(),
        first_name: String::new(),
        last_name: String::new(),
        email: String::new(),
        job_title: String::new(),
        reports_to: Manager::Null,
        start_date: None,
        time_zone: "Etc/UTC".into(),
        locale: "en-US".into(),
        phone: String::new(),
        nickname: String::new(),
    };
    apply_user_fields(&mut user, fields);
    let errors = validate_user(&served, &user);
    if !errors.is_empty() {
        return unprocessable(errors);
    }
    served.put_user(user.clone());
    created(StatusCode::CREATED, "users", served.user_json(&user))
}

pub(crate) async fn update_user(State(s): State<Arc<Shared>>, Path(id): Path<String>, query: Params, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let fields = match admitted(&s, &headers, &query, &body, "users").await {
        Ok(f) => f,
        Err(response) => return response,
    };
    let mut served = s.served_mut();
    let Some(mut user) = served.user(&id).cloned() else { return not_found("User", &id) };
    apply_user_fields(&mut user, fields);
    let errors = validate_user(&served, &user);
    if !errors.is_empty() {
        return unprocessable(errors);
    }
    served.put_user(user.clone());
    created(StatusCode::OK, "users", served.user_json(&user))
}

pub(crate) async fn delete_user(State(s): State<Arc<Shared>>, Path(id): Path<String>, query: Params, headers: HeaderMap) -> Response {
    if let Err(response) = admit_write(&s, &headers, &query).await {
        return response;
    }
    let mut served = s.served_mut();
    if served.user(&id).is_none() {
        return not_found("User", &id);
    }
    change(&mut served, |c| {
        c.users.retain(|u| u.id != id);
        for group in &mut c.groups {
            group.member_ids.retain(|m| m != &id);
        }
    });
    StatusCode::NO_CONTENT.into_response()
}

fn kind_of(value: &str) -> Option<GroupKind> {
    match value {
        "group" => Some(GroupKind::Group),
        "location" => Some(GroupKind::Location),
        "department" => Some(GroupKind::Department),
        _ => None,
    }
}

pub(crate) async fn create_group(State(s): State<Arc<Shared>>, query: Params, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let fields = match admitted(&s, &headers, &query, &body, "groups").await {
        Ok(f) => f,
        Err(response) => return response,
    };
    let name = text(fields, "name").unwrap_or_default();
    let kind = text(fields, "type").as_deref().and_then(kind_of);
    let mut errors = Vec::new();
    if name.trim().is_empty() {
        errors.push("Name can't be blank".to_string());
    }
    if kind.is_none() {
        errors.push("Type is not included in the list".to_string());
    }
    let Some(kind) = kind.filter(|_| errors.is_empty()) else { return unprocessable(errors) };
    let mut served = s.served_mut();
    let group = Group { id: served.company.next_group_id(), name, kind, description: text(fields, "description").unwrap_or_default(), member_ids: Vec::new() };
    change(&mut served, |c| c.groups.push(group.clone()));
    created(StatusCode::CREATED, "groups", served.company.group_json(&group))
}

/// Name, description, and `links.users` as a full replacement of the member list. Ids new to the group must
/// be users; members already there stay even if they point nowhere.
pub(crate) async fn update_group(State(s): State<Arc<Shared>>, Path(id): Path<String>, query: Params, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let fields = match admitted(&s, &headers, &query, &body, "groups").await {
        Ok(f) => f,
        Err(response) => return response,
    };
    let mut served = s.served_mut();
    let Some(mut group) = served.group(&id).cloned() else { return not_found("Group", &id) };
    if let Some(name) = text(fields, "name") {
        if name.trim().is_empty() {
            return unprocessable(vec!["Name can't be blank".into()]);
        }
        group.name = name;
    }
    if let Some(description) = text(fields, "description") {
        group.description = description;
    }
    if let Some(users) = fields.get("links").and_then(|l| l.get("users")) {
        let Some(ids) = users.as_array().map(|a| a.iter().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect::<Vec<_>>()) else {
            return unprocessable(vec!["links.users must be a list of user ids".into()]);
        };
        let unknown: Vec<String> = ids.iter().filter(|m| !group.member_ids.contains(m) && served.user(m).is_none()).map(|m| format!("User {m} not found")).collect();
        if !unknown.is_empty() {
            return unprocessable(unknown);
        }
        let mut members = Vec::new();
        for m in ids {
            if !members.contains(&m) {
                members.push(m);
            }
        }
        group.member_ids = members;
    }
    change(&mut served, |c| c.groups.iter_mut().filter(|g| g.id == id).for_each(|slot| *slot = group.clone()));
    created(StatusCode::OK, "groups", served.company.group_json(&group))
}

pub(crate) async fn delete_group(State(s): State<Arc<Shared>>, Path(id): Path<String>, query: Params, headers: HeaderMap) -> Response {
    if let Err(response) = admit_write(&s, &headers, &query).await {
        return response;
    }
    let mut served = s.served_mut();
    if served.group(&id).is_none() {
        return not_found("Group", &id);
    }
    change(&mut served, |c| c.groups.retain(|g| g.id != id));
    StatusCode::NO_CONTENT.into_response()
}
