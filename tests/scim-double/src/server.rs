//! The double's HTTP side: `/v2` of a SCIM service provider over a `Directory`, with the quirks switched on.
// axum handlers refuse a request with the whole Response as their error.
#![allow(clippy::result_large_err)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use loopback_server::{Limit, Limiter, LoopbackServer};
use serde_json::{Value, json};

use crate::directory::Directory;

/// The bearer token the double accepts.
pub const TOKEN: &str = "scim-double-token";

/// Misbehaviours to switch on.
#[derive(Debug, Clone, Default)]
pub struct Quirks {
    /// The most resources a page holds, whatever `count` asks.
    pub max_count: Option<usize>,
    /// Added to the true `totalResults` (negative: it claims fewer than there are).
    pub total_offset: i64,
    /// Groups come without `members` in listings (only a read of one group has them).
    pub omit_members: bool,
    /// No `/Groups`: 404 there, and `/ResourceTypes` lists User only.
    pub no_groups: bool,
    /// `/ServiceProviderConfig` says `patch.supported: false` and PATCH answers 501.
    pub no_patch: bool,
    /// The first this-many listing requests answer 429 with this `Retry-After`.
    pub rate_limited_lists: u64,
    pub retry_after: String,
    /// From the Nth listing request (from 1) on, bodies are cut in half.
    pub cut_lists_from: Option<u64>,
    /// A limit on every request, answered with 429 and `Retry-After` past it.
    pub limit: Option<Limit>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// `/ServiceProviderConfig` and `/ResourceTypes`.
    pub discovery: u64,
    pub user_pages: u64,
    pub group_pages: u64,
    /// Reads of one resource.
    pub single_reads: u64,
    pub writes: u64,
    /// Every request, those refused by `Quirks::limit` included.
    pub total: u64,
    /// Requests refused by `Quirks::limit`.
    pub limited: u64,
}

#[derive(Default)]
struct Counters {
    discovery: AtomicU64,
    user_pages: AtomicU64,
    group_pages: AtomicU64,
    single_reads: AtomicU64,
    writes: AtomicU64,
    total: AtomicU64,
    lists: AtomicU64,
}

struct Shared {
    directory: RwLock<Directory>,
    quirks: Quirks,
    counters: Counters,
    limiter: Limiter,
}

/// A running double; dropping it stops the server.
pub struct ScimDouble {
    server: LoopbackServer,
    shared: Arc<Shared>,
}

impl ScimDouble {
    pub fn start(directory: Directory, quirks: Quirks) -> anyhow::Result<Self> {
        let limiter = Limiter::new(quirks.limit);
        let shared = Arc::new(Shared { directory: RwLock::new(directory), quirks, counters: Counters::default(), limiter });
        let app = Router::new()
            .route("/v2/ServiceProviderConfig", get(service_provider_config))
            .route("/v2/ResourceTypes", get(resource_types))
            .route("/v2/{endpoint}", get(list))
            .route("/v2/{endpoint}/{id}", get(read).put(replace).patch(patch))
            .with_state(shared.clone());
        Ok(Self { server: LoopbackServer::start("scim-double", app)?, shared })
    }

    /// The SCIM base URL.
    pub fn base_url(&self) -> String {
        format!("{}/v2", self.server.base_url())
    }

    pub fn counts(&self) -> Counts {
        let c = &self.shared.counters;
        let n = |a: &AtomicU64| a.load(Ordering::SeqCst);
        Counts {
            discovery: n(&c.discovery),
            user_pages: n(&c.user_pages),
            group_pages: n(&c.group_pages),
            single_reads: n(&c.single_reads),
            writes: n(&c.writes),
            total: n(&c.total),
            limited: self.shared.limiter.refused(),
        }
    }

    /// The directory as it is now (after any writes).
    pub fn directory(&self) -> Directory {
        self.shared.directory.read().unwrap().clone()
    }
}

fn error(status: StatusCode, scim_type: Option<&str>, detail: &str) -> Response {
    let mut body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": status.as_u16().to_string(), "detail": detail});
    if let Some(kind) = scim_type {
        body["scimType"] = kind.into();
    }
    (status, [(header::CONTENT_TYPE, "application/scim+json")], body.to_string()).into_response()
}

fn scim_json(body: &Value) -> Response {
    ([(header::CONTENT_TYPE, "application/scim+json")], body.to_string()).into_response()
}

/// Counts the request, and refuses it past the limit or without the token.
fn admit(s: &Shared, headers: &HeaderMap) -> Result<(), Response> {
    s.counters.total.fetch_add(1, Ordering::SeqCst);
    if let Some(retry_after) = s.limiter.refuse() {
        let mut response = error(StatusCode::TOO_MANY_REQUESTS, None, "too many requests");
        response.headers_mut().insert(header::RETRY_AFTER, retry_after.into());
        return Err(response);
    }
    let authorized = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"));
    if authorized { Ok(()) } else { Err(error(StatusCode::UNAUTHORIZED, None, "a valid bearer token is required")) }
}

async fn service_provider_config(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(refused) = admit(&s, &headers) {
        return refused;
    }
    s.counters.discovery.fetch_add(1, Ordering::SeqCst);
    scim_json(&json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": !s.quirks.no_patch}, "bulk": {"supported": false}, "filter": {"supported": true, "maxResults": 1000},
        "changePassword": {"supported": false}, "sort": {"supported": false}, "etag": {"supported": false},
    }))
}

async fn resource_types(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(refused) = admit(&s, &headers) {
        return refused;
    }
    s.counters.discovery.fetch_add(1, Ordering::SeqCst);
    let mut types = vec![json!({"id": "User", "name": "User", "endpoint": "/Users", "schema": "urn:ietf:params:scim:schemas:core:2.0:User"})];
    if !s.quirks.no_groups {
        types.push(json!({"id": "Group", "name": "Group", "endpoint": "/Groups", "schema": "urn:ietf:params:scim:schemas:core:2.0:Group"}));
    }
    scim_json(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": types.len(), "Resources": types}))
}

/// Which collection an endpoint names; `None` for one the double does not serve.
fn collection<'a>(s: &Shared, directory: &'a Directory, endpoint: &str) -> Option<&'a Vec<Value>> {
    match endpoint {
        "Users" => Some(&directory.users),
        "Groups" if !s.quirks.no_groups => Some(&directory.groups),
        _ => None,
    }
}

async fn list(State(s): State<Arc<Shared>>, Path(endpoint): Path<String>, Query(query): Query<Vec<(String, String)>>, headers: HeaderMap) -> Response {
    if let Err(refused) = admit(&s, &headers) {
        return refused;
    }
    let n = s.counters.lists.fetch_add(1, Ordering::SeqCst) + 1;
    if n <= s.quirks.rate_limited_lists {
        let mut response = error(StatusCode::TOO_MANY_REQUESTS, None, "slow down");
        response.headers_mut().insert(header::RETRY_AFTER, s.quirks.retry_after.parse().unwrap());
        return response;
    }
    let directory = s.directory.read().unwrap();
    let Some(all) = collection(&s, &directory, &endpoint) else { return error(StatusCode::NOT_FOUND, None, &format!("no /{endpoint} here")) };
    let counter = if endpoint == "Users" { &s.counters.user_pages } else { &s.counters.group_pages };
    counter.fetch_add(1, Ordering::SeqCst);
    let param = |name: &str| query.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.parse::<i64>().ok());
    let start = param("startIndex").unwrap_or(1).max(1) as usize;
    let mut count = param("count").unwrap_or(100).max(0) as usize;
    if let Some(cap) = s.quirks.max_count {
        count = count.min(cap);
    }
    let mut page: Vec<Value> = all.iter().skip(start - 1).take(count).cloned().collect();
    if s.quirks.omit_members {
        for group in &mut page {
            group.as_object_mut().unwrap().remove("members");
        }
    }
    let total = (all.len() as i64 + s.quirks.total_offset).max(0);
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": total, "startIndex": start, "itemsPerPage": page.len(), "Resources": page,
    })
    .to_string();
    if s.quirks.cut_lists_from.is_some_and(|from| n >= from) {
        return ([(header::CONTENT_TYPE, "application/scim+json")], body[..body.len() / 2].to_string()).into_response();
    }
    ([(header::CONTENT_TYPE, "application/scim+json")], body).into_response()
}

async fn read(State(s): State<Arc<Shared>>, Path((endpoint, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if let Err(refused) = admit(&s, &headers) {
        return refused;
    }
    s.counters.single_reads.fetch_add(1, Ordering::SeqCst);
    let directory = s.directory.read().unwrap();
    match collection(&s, &directory, &endpoint).and_then(|all| all.iter().find(|r| r["id"] == id.as_str())) {
        Some(found) => scim_json(found),
        None => error(StatusCode::NOT_FOUND, None, &format!("Resource {id} not found")),
    }
}

/// PUT replaces a user wholesale (the server keeps `id` and `meta`).
async fn replace(State(s): State<Arc<Shared>>, Path((endpoint, id)): Path<(String, String)>, headers: HeaderMap, body: String) -> Response {
    if let Err(refused) = admit(&s, &headers) {
        return refused;
    }
    s.counters.writes.fetch_add(1, Ordering::SeqCst);
    let Ok(mut replacement) = serde_json::from_str::<Value>(&body) else { return error(StatusCode::BAD_REQUEST, Some("invalidSyntax"), "the body is not JSON") };
    let mut directory = s.directory.write().unwrap();
    if endpoint != "Users" {
        return error(StatusCode::NOT_IMPLEMENTED, None, "this double replaces users only");
    }
    let Some(slot) = directory.users.iter_mut().find(|r| r["id"] == id.as_str()) else {
        return error(StatusCode::NOT_FOUND, None, &format!("Resource {id} not found"));
    };
    replacement["id"] = id.into();
    replacement["meta"] = slot["meta"].clone();
    *slot = replacement.clone();
    scim_json(&replacement)
}

async fn patch(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(refused) = admit(&s, &headers) {
        return refused;
    }
    s.counters.writes.fetch_add(1, Ordering::SeqCst);
    error(StatusCode::NOT_IMPLEMENTED, None, "PATCH is not supported")
}
