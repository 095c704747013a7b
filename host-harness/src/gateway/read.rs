//! Reads: `GET /Users`, `/Groups` (and `POST …/.search`) with `filter`, `attributes`, `excludedAttributes` and
//! 1-based `startIndex`/`count` paging with a true `totalResults`; and `GET /Users/{id}`, `/Groups/{id}`. All from
//! the tenant's current view in the store. An unfiltered list is paged by the store's index; `userName eq` and
//! `id eq` (alone or as a conjunct) are looked up by index; any other filter is evaluated on every resource of
//! the type.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::discovery::MAX_PAGE;
use super::error::ScimError;
use super::filter::Filter;
use super::resources::{Kind, Projection, to_scim};
use super::{Gateway, Request, list_response, scim_json};
use crate::contract::model::Entitlement;
use crate::store::{Store, SyncId, TraitTypes};

/// The page a list returns when the client names no `count`.
const DEFAULT_PAGE: u64 = 100;

/// A list request's parameters.
pub struct ListQuery {
    filter: Option<Filter>,
    /// 1-based.
    start_index: u64,
    count: u64,
    projection: Projection,
}

impl ListQuery {
    pub fn from_request(request: &Request) -> Result<Self, ScimError> {
        let number = |name: &str| -> Result<Option<i64>, ScimError> {
            request.param(name).map(|v| v.trim().parse::<i64>().map_err(|_| ScimError::new(StatusCode::BAD_REQUEST, Some("invalidValue"), format!("`{name}` is not a number")))).transpose()
        };
        Self::new(request.param("filter"), number("startIndex")?, number("count")?, Projection::new(request.param("attributes"), request.param("excludedAttributes")))
    }

    /// From a `POST …/.search` body (RFC 7644 §3.4.3).
    pub fn from_search(body: &Value) -> Result<Self, ScimError> {
        let text = |name: &str| body.get(name).and_then(Value::as_str);
        let list = |name: &str| body.get(name).and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","));
        let (attributes, excluded) = (list("attributes"), list("excludedAttributes"));
        Self::new(text("filter"), body.get("startIndex").and_then(Value::as_i64), body.get("count").and_then(Value::as_i64), Projection::new(attributes.as_deref(), excluded.as_deref()))
    }

    fn new(filter: Option<&str>, start_index: Option<i64>, count: Option<i64>, projection: Projection) -> Result<Self, ScimError> {
        let filter = filter.filter(|f| !f.trim().is_empty()).map(Filter::parse).transpose().map_err(|e| ScimError::new(StatusCode::BAD_REQUEST, Some("invalidFilter"), e.0))?;
        // RFC 7644 §3.4.2.4: a startIndex below 1 is 1, a negative count is 0.
        let start_index = start_index.unwrap_or(1).max(1) as u64;
        let count = count.map_or(DEFAULT_PAGE, |c| c.max(0) as u64).min(MAX_PAGE);
        Ok(Self { filter, start_index, count, projection })
    }
}

/// A tenant's latest complete sync and the types of its accounts and groups.
struct Current {
    sync: SyncId,
    types: TraitTypes,
}

impl Current {
    /// `preferred`: the types to serve first where several have a trait (`Gateway::served_types`): Pingboard's
    /// Groups are its groups, not its departments or locations.
    fn of(store: &Store, tenant: &str, writable: &[&str]) -> anyhow::Result<Self> {
        let Some(latest) = store.complete_syncs(tenant, 1)?.pop() else {
            return Err(ScimError::unavailable(format!("tenant `{tenant}` has not completed a sync yet: the gateway answers from its latest sync")).into());
        };
        Ok(Self { sync: latest.id, types: store.trait_types(latest.id, writable)? })
    }

    fn type_of(&self, kind: Kind) -> Option<&str> {
        match kind {
            Kind::User => self.types.user.as_deref(),
            Kind::Group => self.types.group.as_deref(),
        }
    }
}

/// Reads resources of a tenant's current view as SCIM.
pub(super) struct Reader<'s> {
    pub store: &'s Store,
    pub tenant: &'s str,
    current: Current,
    base: &'s str,
}

impl<'s> Reader<'s> {
    pub fn new(store: &'s Store, tenant: &'s str, writable: &[&str], base: &'s str) -> anyhow::Result<Self> {
        Ok(Self { current: Current::of(store, tenant, writable)?, store, tenant, base })
    }

    /// The type of the tenant's accounts or groups, if it has one.
    pub fn type_of(&self, kind: Kind) -> Option<&str> {
        self.current.type_of(kind)
    }

    /// The export record of resource `id`, if the tenant has it.
    pub fn record(&self, kind: Kind, id: &str) -> anyhow::Result<Option<Value>> {
        let Some(resource_type) = self.type_of(kind) else { return Ok(None) };
        let line = self.store.current_resource(self.tenant, self.current.sync, resource_type, id)?;
        line.map(|l| serde_json::from_str(&l).map_err(Into::into)).transpose()
    }

    /// Resource `id` as SCIM (with its members, for a group, when `members`), if the tenant has it.
    pub fn resource(&self, kind: Kind, id: &str, members: bool) -> anyhow::Result<Option<Value>> {
        let Some(record) = self.record(kind, id)? else { return Ok(None) };
        Ok(self.scim_all(kind, vec![record], members)?.pop())
    }

    /// Whether an account has the login `login` (compared as `userName` is: without regard to ASCII case).
    pub fn login_taken(&self, login: &str) -> anyhow::Result<bool> {
        let Some(user_type) = self.type_of(Kind::User) else { return Ok(false) };
        Ok(!self.store.current_by_login(self.tenant, self.current.sync, user_type, login)?.is_empty())
    }

    /// The ids of group `id`'s members, as (type, id).
    pub fn member_ids(&self, id: &str) -> anyhow::Result<Vec<(String, String)>> {
        let Some(group_type) = self.type_of(Kind::Group) else { return Ok(Vec::new()) };
        let mut members = Vec::new();
        self.store.for_each_current_grant(self.tenant, self.current.sync, &Entitlement::member_id(group_type, id), |grant| {
            members.push((grant.principal_type, grant.principal_id));
            Ok(())
        })?;
        Ok(members)
    }

    /// `records` as SCIM, with their `externalId`s read at once.
    fn scim_all(&self, kind: Kind, records: Vec<Value>, members: bool) -> anyhow::Result<Vec<Value>> {
        let ids: Vec<&str> = records.iter().filter_map(|r| r["id"].as_str()).collect();
        let external = self.store.external_ids(self.tenant, self.type_of(kind).unwrap_or_default(), Some(&ids))?;
        records.iter().map(|record| self.scim(kind, record, members, &external)).collect()
    }

    fn scim(&self, kind: Kind, record: &Value, members: bool, external: &HashMap<String, String>) -> anyhow::Result<Value> {
        let id = record["id"].as_str().unwrap_or_default();
        let members = match (kind, members) {
            (Kind::Group, true) => {
                let group_type = self.type_of(Kind::Group).unwrap_or_default();
                let listed = self.member_ids(id)?.into_iter().map(|(t, id)| serde_json::json!({"value": id, "type": if t == group_type { "Group" } else { "User" }}));
                Some(listed.collect())
            }
            _ => None,
        };
        Ok(to_scim(kind, record, members, external.get(id).map(String::as_str), self.base))
    }

    /// The total of resources matching `query` and its page of them.
    fn list(&self, kind: Kind, query: &ListQuery) -> anyhow::Result<(u64, Vec<Value>)> {
        let Some(resource_type) = self.type_of(kind) else { return Ok((0, Vec::new())) };
        let members = kind == Kind::Group && (query.projection.wants(kind, "members") || query.filter.as_ref().is_some_and(|f| f.mentions("members")));
        let (offset, count) = (query.start_index - 1, query.count);
        let parse = |lines: Vec<String>| lines.iter().map(|line| serde_json::from_str::<Value>(line).map_err(Into::into)).collect::<anyhow::Result<Vec<_>>>();
        let Some(filter) = &query.filter else {
            let (total, lines) = self.store.current_page(self.tenant, self.current.sync, resource_type, offset, count)?;
            return Ok((total, self.scim_all(kind, parse(lines)?, members)?));
        };
        let candidates: Option<Vec<String>> = if let Some(id) = filter.required_eq("id") {
            Some(self.store.current_resource(self.tenant, self.current.sync, resource_type, id)?.into_iter().collect())
        } else if let (Kind::User, Some(login)) = (kind, filter.required_eq("userName")) {
            Some(self.store.current_by_login(self.tenant, self.current.sync, resource_type, login)?)
        } else {
            None
        };
        let mut total = 0u64;
        let mut page = Vec::new();
        let mut consider = |resource: Value| -> anyhow::Result<()> {
            if filter.matches(&resource).map_err(|e| ScimError::new(StatusCode::BAD_REQUEST, Some("invalidFilter"), e.0))? {
                if total >= offset && (page.len() as u64) < count {
                    page.push(resource);
                }
                total += 1;
            }
            Ok(())
        };
        match candidates {
            Some(lines) => self.scim_all(kind, parse(lines)?, members)?.into_iter().try_for_each(&mut consider)?,
            None => {
                let external = self.store.external_ids(self.tenant, resource_type, None)?;
                self.store.for_each_current_resource(self.tenant, self.current.sync, resource_type, |line| consider(self.scim(kind, &serde_json::from_str(line)?, members, &external)?))?;
            }
        }
        Ok((total, page))
    }
}

pub async fn list(gateway: &Arc<Gateway>, tenant: &str, kind: Kind, query: ListQuery, base: &str) -> Result<Response, ScimError> {
    let (tenant, base, writable) = (tenant.to_string(), base.to_string(), gateway.served_types(tenant));
    let (total, page, query) = gateway
        .with_store(move |store| {
            let writable: Vec<&str> = writable.iter().map(String::as_str).collect();
            let (total, page) = Reader::new(store, &tenant, &writable, &base)?.list(kind, &query)?;
            Ok((total, page, query))
        })
        .await?;
    let page = page.into_iter().map(|r| query.projection.apply(kind, r)).collect();
    Ok(scim_json(StatusCode::OK, list_response(total, query.start_index, page)))
}

pub async fn get(gateway: &Arc<Gateway>, tenant: &str, kind: Kind, id: &str, projection: Projection, base: &str) -> Result<Response, ScimError> {
    let (tenant, base, id_owned, writable) = (tenant.to_string(), base.to_string(), id.to_string(), gateway.served_types(tenant));
    let members = projection.wants(kind, "members");
    let resource = gateway
        .with_store(move |store| {
            let writable: Vec<&str> = writable.iter().map(String::as_str).collect();
            Reader::new(store, &tenant, &writable, &base)?.resource(kind, &id_owned, members)
        })
        .await?;
    let resource = resource.ok_or_else(|| ScimError::not_found(kind.name(), id))?;
    Ok(with_etag(StatusCode::OK, projection.apply(kind, resource)))
}

/// A resource's response, with its version as the `ETag` and, once created, its `Location`.
pub fn with_etag(status: StatusCode, resource: Value) -> Response {
    let version = resource["meta"]["version"].as_str().unwrap_or_default().to_string();
    let location = resource["meta"]["location"].as_str().unwrap_or_default().to_string();
    let mut response = scim_json(status, resource);
    if let Ok(value) = version.parse() {
        response.headers_mut().insert(header::ETAG, value);
    }
    if status == StatusCode::CREATED && let Ok(value) = location.parse() {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response.into_response()
}
