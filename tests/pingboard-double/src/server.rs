//! The double's HTTP side: Pingboard's token endpoint and v2 API over a `Company`, with request counting and
//! fault switches. It runs on its own thread and runtime, so sync and async callers use it alike.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::company::{Company, UserLinks};
use loopback_server::{LoopbackServer, TestCa};
use crate::writes;

/// Credentials the double accepts unless told otherwise.
pub const CLIENT_ID: &str = "double-client";
pub const CLIENT_SECRET: &str = "double-secret";

/// Misbehaviours to switch on. "Every Nth" counts API calls (not token requests) from 1.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Every Nth API call answers 429, with this `Retry-After` value if given.
    pub rate_limit_every: Option<u64>,
    pub retry_after: Option<String>,
    /// Every `every`th API call starts a burst of `length` calls answering 503.
    pub unavailable_burst: Option<(u64, u64)>,
    /// A token stops working after this many API calls made with it.
    pub token_expires_after_calls: Option<u64>,
    /// Every Nth API call gets its JSON body cut in half.
    pub truncate_every: Option<u64>,
    /// API responses wait this long before answering: every call, or every `delay_every`th.
    pub delay: Option<Duration>,
    pub delay_every: Option<u64>,
    /// The next token request gets a token that is already spent (`expires_in: 0`, refused by the API), as
    /// Pingboard's token reuse sometimes does; later requests get a fresh one.
    pub spent_token_once: bool,
    /// Listings ignore `page` and always serve the first page's records (while `meta` echoes the page asked).
    pub ignore_page: bool,
    /// Every response closes its connection (`Connection: close`), so a client pays a new connection (and TLS
    /// handshake) per request, as one without a connection pool does.
    pub close_connections: bool,
    /// Every write answers 422 with Pingboard's error body, as an account without admin rights would get.
    pub reject_writes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestCounts {
    pub token: u64,
    pub users_pages: u64,
    pub groups_pages: u64,
    pub single_gets: u64,
    pub writes: u64,
    /// API calls answered 401.
    pub unauthorized: u64,
    /// All requests, token requests included.
    pub total: u64,
}

#[derive(Default)]
struct Counters {
    token: AtomicU64,
    users_pages: AtomicU64,
    groups_pages: AtomicU64,
    single_gets: AtomicU64,
    writes: AtomicU64,
    unauthorized: AtomicU64,
    total: AtomicU64,
    api_calls: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

struct Token {
    value: String,
    issued: Instant,
    calls: u64,
}

/// The company with each user's `links` and id indexes, derived once per change rather than per request.
pub(crate) struct Served {
    pub(crate) company: Company,
    links: UserLinks,
    users_by_id: HashMap<String, usize>,
    groups_by_id: HashMap<String, usize>,
}

impl Served {
    pub(crate) fn new(company: Company) -> Self {
        Self {
            links: company.user_links(),
            users_by_id: company.users.iter().enumerate().map(|(i, u)| (u.id.clone(), i)).collect(),
            groups_by_id: company.groups.iter().enumerate().map(|(i, g)| (g.id.clone(), i)).collect(),
            company,
        }
    }

    /// Adds a user, or replaces the one with its id: a user's fields carry no links, so only the index changes
    /// (a rebuild per write would make a 10,000-person provisioning run quadratic).
    pub(crate) fn put_user(&mut self, user: crate::company::User) {
        match self.users_by_id.get(&user.id) {
            Some(&i) => self.company.users[i] = user,
            None => {
                self.users_by_id.insert(user.id.clone(), self.company.users.len());
                self.company.users.push(user);
            }
        }
    }

    pub(crate) fn user(&self, id: &str) -> Option<&crate::company::User> {
        self.users_by_id.get(id).map(|&i| &self.company.users[i])
    }

    pub(crate) fn group(&self, id: &str) -> Option<&crate::company::Group> {
        self.groups_by_id.get(id).map(|&i| &self.company.groups[i])
    }

    pub(crate) fn user_json(&self, user: &crate::company::User) -> Value {
        self.company.user_json(user, self.links.get(&user.id))
    }
}

pub(crate) struct Shared {
    pub(crate) served: RwLock<Served>,
    client_id: String,
    client_secret: String,
    token_lifetime: Duration,
    token_prefix: String,
    token: Mutex<Option<Token>>,
    tokens_issued: AtomicU64,
    counters: Counters,
    faults: Mutex<Faults>,
    burst_left: AtomicU64,
    /// Listing pages rendered ahead (`PingboardDouble::render_pages_ahead`) by (collection, page asked for, page
    /// served, page size), until the next write.
    rendered: Mutex<HashMap<PageKey, Bytes>>,
}

/// A listing page: (collection, page asked for, page served, page size).
type PageKey = (&'static str, usize, usize, usize);

/// Renders a listing page: (company, query, page asked for, page served, page size).
type RenderPage = fn(&Served, &HashMap<String, String>, usize, usize, usize) -> Value;

impl Shared {
    /// The company, to change: pages rendered before no longer hold.
    pub(crate) fn served_mut(&self) -> std::sync::RwLockWriteGuard<'_, Served> {
        let served = self.served.write().unwrap();
        self.rendered.lock().unwrap().clear();
        served
    }

    /// A listing page: rendered ahead if it was and the query asks for nothing but a page, otherwise now.
    fn listing_page(&self, key: PageKey, query: &HashMap<String, String>, render: impl FnOnce() -> Value) -> Bytes {
        let plain = query.keys().all(|k| k == "page" || k == "page_size");
        match self.rendered.lock().unwrap().get(&key).filter(|_| plain) {
            Some(page) => page.clone(),
            None => Bytes::from(render().to_string()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DoubleOptions {
    pub client_id: String,
    pub client_secret: String,
    pub token_lifetime: Duration,
    /// Tokens are `{token_prefix}-{n}-{hash}`: give two doubles different prefixes to tell their tokens apart.
    pub token_prefix: String,
    pub faults: Faults,
    /// Over TLS, offer HTTP/2 besides HTTP/1.1 (ALPN).
    pub http2: bool,
}

impl Default for DoubleOptions {
    fn default() -> Self {
        Self {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            token_lifetime: Duration::from_secs(7200),
            token_prefix: "double-token".into(),
            faults: Faults::default(),
            http2: true,
        }
    }
}

/// A running double on 127.0.0.1 with an OS-assigned port. Dropping it stops the server.
pub struct PingboardDouble {
    server: LoopbackServer,
    shared: Arc<Shared>,
}

impl PingboardDouble {
    pub fn start(company: Company) -> anyhow::Result<Self> {
        Self::start_with(company, DoubleOptions::default())
    }

    pub fn start_with(company: Company, options: DoubleOptions) -> anyhow::Result<Self> {
        Self::serve(company, options, None)
    }

    /// Served over TLS (HTTP/1.1, and HTTP/2 unless the options say not) with a certificate `ca` issued for
    /// `localhost`.
    pub fn start_tls(company: Company, options: DoubleOptions, ca: &TestCa) -> anyhow::Result<Self> {
        Self::serve(company, options, Some(ca))
    }

    fn serve(company: Company, options: DoubleOptions, tls: Option<&TestCa>) -> anyhow::Result<Self> {
        let shared = Arc::new(Shared {
            served: RwLock::new(Served::new(company)),
            client_id: options.client_id,
            client_secret: options.client_secret,
            token_lifetime: options.token_lifetime,
            token_prefix: options.token_prefix,
            token: Mutex::new(None),
            tokens_issued: AtomicU64::new(0),
            counters: Counters::default(),
            faults: Mutex::new(options.faults),
            burst_left: AtomicU64::new(0),
            rendered: Mutex::default(),
        });
        let http2 = options.http2;
        let server = match tls {
            Some(ca) => LoopbackServer::start_tls("pingboard-double", router(shared.clone()), ca, http2)?,
            None => LoopbackServer::start("pingboard-double", router(shared.clone()))?,
        };
        Ok(Self { server, shared })
    }

    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The most API calls in flight at once, seen while a `delay` fault held them (0 without one).
    pub fn max_in_flight(&self) -> u64 {
        self.shared.counters.max_in_flight.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.server.connections()
    }

    pub fn counts(&self) -> RequestCounts {
        let c = &self.shared.counters;
        RequestCounts {
            token: c.token.load(Ordering::SeqCst),
            users_pages: c.users_pages.load(Ordering::SeqCst),
            groups_pages: c.groups_pages.load(Ordering::SeqCst),
            single_gets: c.single_gets.load(Ordering::SeqCst),
            writes: c.writes.load(Ordering::SeqCst),
            unauthorized: c.unauthorized.load(Ordering::SeqCst),
            total: c.total.load(Ordering::SeqCst),
        }
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults.lock().unwrap() = faults;
    }

    /// The company as it is now (writes change it).
    pub fn company(&self) -> Company {
        self.shared.served.read().unwrap().company.clone()
    }

    /// Renders every page of both listings at `page_size` now, and serves them from memory until the next write:
    /// for benchmarks, where the double stands for a server on another machine, whose CPU is not the client's.
    pub fn render_pages_ahead(&self, page_size: usize) {
        let served = self.shared.served.read().unwrap();
        let plain = HashMap::new();
        let mut rendered = self.shared.rendered.lock().unwrap();
        for (key, count, render) in [
            ("users", served.company.users.len(), users_page as RenderPage),
            ("groups", served.company.groups.len(), groups_page),
        ] {
            for page in 1..=count.div_ceil(page_size).max(1) {
                rendered.insert((key, page, page, page_size), Bytes::from(render(&served, &plain, page, page, page_size).to_string()));
            }
        }
    }

    pub fn replace_company(&self, company: Company) {
        *self.shared.served_mut() = Served::new(company);
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/oauth/token", post(token))
        .route("/api/v2/users", get(list_users).post(writes::create_user))
        .route("/api/v2/users/{id}", get(get_user).patch(writes::update_user).delete(writes::delete_user))
        .route("/api/v2/groups", get(list_groups).post(writes::create_group))
        .route("/api/v2/groups/{id}", get(get_group).patch(writes::update_group).delete(writes::delete_group))
        .fallback(|| async { json_response(StatusCode::NOT_FOUND, json!({"error": "not found"})) })
        .layer(axum::middleware::map_response_with_state(shared.clone(), close_if_asked))
        .with_state(shared)
}

async fn close_if_asked(State(s): State<Arc<Shared>>, mut response: Response) -> Response {
    if s.faults.lock().unwrap().close_connections {
        response.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    }
    response
}

pub(crate) fn json_response(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body.to_string()).into_response()
}

// ---- token endpoint ----------------------------------------------------------------------------------------

async fn token(State(s): State<Arc<Shared>>, Query(query): Query<HashMap<String, String>>, headers: HeaderMap, body: Bytes) -> Response {
    s.counters.total.fetch_add(1, Ordering::SeqCst);
    s.counters.token.fetch_add(1, Ordering::SeqCst);
    // Credentials may come in the query, a form body, a JSON body or HTTP Basic; so may grant_type.
    let mut params: HashMap<String, String> = query;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.starts_with("application/json") {
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&body) {
            for (k, v) in map {
                if let Some(v) = v.as_str() {
                    params.insert(k, v.to_string());
                }
            }
        }
    } else {
        for (k, v) in form_pairs(&body) {
            params.insert(k, v);
        }
    }
    if let Some((id, secret)) = basic_credentials(&headers) {
        params.entry("client_id".into()).or_insert(id);
        params.entry("client_secret".into()).or_insert(secret);
    }
    if params.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return json_response(StatusCode::BAD_REQUEST, json!({"error": "unsupported_grant_type",
            "error_description": "The authorization grant type is not supported by the authorization server."}));
    }
    if params.get("client_id") != Some(&s.client_id) || params.get("client_secret") != Some(&s.client_secret) {
        return json_response(StatusCode::UNAUTHORIZED, json!({"error": "invalid_client",
            "error_description": "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."}));
    }
    let spent = std::mem::take(&mut s.faults.lock().unwrap().spent_token_once);
    if spent {
        return json_response(StatusCode::OK, json!({"access_token": "spent-token", "token_type": "bearer", "expires_in": 0, "scope": "public", "created_at": 0}));
    }
    // Doorkeeper's reuse_access_token: a live token comes back with its remaining lifetime.
    let mut slot = s.token.lock().unwrap();
    let live = slot.as_ref().filter(|t| t.issued.elapsed() < s.token_lifetime && !token_used_up(&s, t));
    let (value, remaining) = match live {
        Some(t) => (t.value.clone(), s.token_lifetime.saturating_sub(t.issued.elapsed())),
        None => {
            let n = s.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
            let value = format!("{}-{n}-{:x}", s.token_prefix, n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            *slot = Some(Token { value: value.clone(), issued: Instant::now(), calls: 0 });
            (value, s.token_lifetime)
        }
    };
    let created_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
        json!({"access_token": value, "token_type": "bearer", "expires_in": remaining.as_secs(), "scope": "public", "created_at": created_at}).to_string(),
    )
        .into_response()
}

fn token_used_up(s: &Shared, token: &Token) -> bool {
    s.faults.lock().unwrap().token_expires_after_calls.is_some_and(|n| token.calls >= n)
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(value.strip_prefix("Basic ")?.trim()).ok()?;
    let (id, secret) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

// ---- API ---------------------------------------------------------------------------------------------------

/// Counts the call, authenticates it and applies the fault switches. `Err` is the response to send instead.
async fn admit(s: &Shared, headers: &HeaderMap, query: &HashMap<String, String>) -> Result<Option<u64>, Response> {
    s.counters.total.fetch_add(1, Ordering::SeqCst);
    let call = s.counters.api_calls.fetch_add(1, Ordering::SeqCst) + 1;
    let faults = s.faults.lock().unwrap().clone();
    if let Some(delay) = faults.delay.filter(|_| faults.delay_every.is_none_or(|n| n > 0 && call.is_multiple_of(n))) {
        // Calls waiting here at once are calls the client has in flight at once.
        let in_flight = s.counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        s.counters.max_in_flight.fetch_max(in_flight, Ordering::SeqCst);
        tokio::time::sleep(delay).await;
        s.counters.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
        .or_else(|| query.get("access_token").cloned());
    let authorized = {
        let mut slot = s.token.lock().unwrap();
        match (slot.as_mut(), presented) {
            (Some(token), Some(presented)) if token.value == presented && token.issued.elapsed() < s.token_lifetime => {
                token.calls += 1;
                faults.token_expires_after_calls.is_none_or(|n| token.calls <= n)
            }
            _ => false,
        }
    };
    if !authorized {
        s.counters.unauthorized.fetch_add(1, Ordering::SeqCst);
        return Err((StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer realm=\"Doorkeeper\", error=\"invalid_token\"")], "").into_response());
    }
    if faults.rate_limit_every.is_some_and(|n| n > 0 && call.is_multiple_of(n)) {
        let mut response = json_response(StatusCode::TOO_MANY_REQUESTS, json!({"error": "rate limited"}));
        if let Some(value) = &faults.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, value.parse().expect("retry-after header value"));
        }
        return Err(response);
    }
    if let Some((every, length)) = faults.unavailable_burst {
        if every > 0 && call.is_multiple_of(every) {
            s.burst_left.store(length, Ordering::SeqCst);
        }
        if s.burst_left.load(Ordering::SeqCst) > 0 {
            s.burst_left.fetch_sub(1, Ordering::SeqCst);
            return Err((StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "text/html")], "<html><body>503 Service Unavailable</body></html>").into_response());
        }
    }
    Ok(faults.truncate_every.filter(|&n| n > 0 && call.is_multiple_of(n)))
}

/// `admit` for writes, which are also counted as such (faults that cut bodies do not apply).
pub(crate) async fn admit_write(s: &Shared, headers: &HeaderMap, query: &HashMap<String, String>) -> Result<(), Response> {
    admit(s, headers, query).await?;
    s.counters.writes.fetch_add(1, Ordering::SeqCst);
    if s.faults.lock().unwrap().reject_writes {
        return Err(json_response(StatusCode::UNPROCESSABLE_ENTITY, serde_json::json!({"errors": ["You are not allowed to edit this profile"]})));
    }
    Ok(())
}

fn finish(body: Value, truncate: Option<u64>) -> Response {
    finish_text(Bytes::from(body.to_string()), truncate)
}

fn finish_text(mut text: Bytes, truncate: Option<u64>) -> Response {
    if truncate.is_some() {
        let cut = std::str::from_utf8(&text).expect("a rendered body is JSON text").floor_char_boundary(text.len() / 2);
        text.truncate(cut);
    }
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], Body::from(text)).into_response()
}

/// (page asked for, page whose records are served, page size).
fn page_params(s: &Shared, query: &HashMap<String, String>) -> (usize, usize, usize) {
    let page = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1usize).max(1);
    let page_size = query.get("page_size").and_then(|p| p.parse().ok()).unwrap_or(100usize).clamp(1, 3000);
    let served = if s.faults.lock().unwrap().ignore_page { 1 } else { page };
    (page, served, page_size)
}

/// `meta.<key>` as Pingboard writes it: hrefs repeat the query in alphabetical order, `first_href` omits
/// `page`, and an empty collection has `page_count` 0 and `last_href` with `page=0`.
fn meta(key: &str, page: usize, page_size: usize, count: usize) -> Value {
    let page_count = count.div_ceil(page_size);
    let href = |p: Option<usize>| match p {
        Some(p) => format!("/api/v2/{key}?page={p}&page_size={page_size}"),
        None => format!("/api/v2/{key}?page_size={page_size}"),
    };
    json!({ key: {
        "page": page, "page_size": page_size, "count": count, "page_count": page_count,
        "first_href": href(None),
        "previous_href": if page > 1 { Value::from(href(Some(page - 1))) } else { Value::Null },
        "next_href": if page < page_count { Value::from(href(Some(page + 1))) } else { Value::Null },
        "last_href": href(Some(page_count)),
    }})
}

fn slice<T>(items: &[T], page: usize, page_size: usize) -> &[T] {
    let start = (page - 1).saturating_mul(page_size).min(items.len());
    &items[start..(start + page_size).min(items.len())]
}

async fn list_users(State(s): State<Arc<Shared>>, Query(query): Query<HashMap<String, String>>, headers: HeaderMap) -> Response {
    let truncate = match admit(&s, &headers, &query).await {
        Ok(t) => t,
        Err(response) => return response,
    };
    s.counters.users_pages.fetch_add(1, Ordering::SeqCst);
    let (page, served_page, page_size) = page_params(&s, &query);
    let served = s.served.read().unwrap();
    let text = s.listing_page(("users", page, served_page, page_size), &query, || users_page(&served, &query, page, served_page, page_size));
    finish_text(text, truncate)
}

fn users_page(served: &Served, query: &HashMap<String, String>, page: usize, served_page: usize, page_size: usize) -> Value {
    let company = &served.company;
    let selected: Vec<&crate::company::User> = match query.get("email") {
        Some(email) => company.users.iter().filter(|u| u.email.eq_ignore_ascii_case(email)).collect(),
        None => company.users.iter().collect(),
    };
    let records: Vec<Value> = slice(&selected, served_page, page_size).iter().map(|u| served.user_json(u)).collect();
    let mut body = json!({
        "users": records,
        "links": {
            "users.groups": {"href": "/api/v2/groups?user_id={users.id}", "type": "groups"},
            "users.locations": {"href": "/api/v2/locations?user_id={users.id}", "type": "locations"},
        },
        "meta": meta("users", page, page_size, selected.len()),
    });
    if let Some(include) = query.get("include") {
        body["linked"] = linked_groups(served, include, &body["users"]);
    }
    body
}

fn groups_page(served: &Served, query: &HashMap<String, String>, page: usize, served_page: usize, page_size: usize) -> Value {
    let company = &served.company;
    let selected: Vec<&crate::company::Group> = match query.get("type") {
        Some(kind) => company.groups.iter().filter(|g| g.kind.as_str() == kind).collect(),
        None => company.groups.iter().collect(),
    };
    let records: Vec<Value> = slice(&selected, served_page, page_size).iter().map(|g| company.group_json(g)).collect();
    let mut body = json!({
        "groups": records,
        "links": {"groups.users": {"href": "/api/v2/users?group_id={groups.id}", "type": "users"}},
        "meta": meta("groups", page, page_size, selected.len()),
    });
    if query.get("include").is_some_and(|i| i.split(',').any(|r| r.trim() == "users")) {
        body["linked"] = json!({"users": linked_users(served, &body["groups"])});
    }
    body
}

/// `linked.groups/locations/departments` for `include=`: the groups the listed users link to.
fn linked_groups(served: &Served, include: &str, users: &Value) -> Value {
    let mut linked = serde_json::Map::new();
    for rel in include.split(',').map(str::trim) {
        if !["groups", "locations", "departments"].contains(&rel) {
            continue;
        }
        let mut ids: Vec<&str> = users.as_array().into_iter().flatten()
            .filter_map(|u| u["links"][rel].as_array())
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let records: Vec<Value> = ids.iter().filter_map(|id| served.group(id)).map(|g| served.company.group_json(g)).collect();
        linked.insert(rel.to_string(), Value::Array(records));
    }
    Value::Object(linked)
}

async fn list_groups(State(s): State<Arc<Shared>>, Query(query): Query<HashMap<String, String>>, headers: HeaderMap) -> Response {
    let truncate = match admit(&s, &headers, &query).await {
        Ok(t) => t,
        Err(response) => return response,
    };
    s.counters.groups_pages.fetch_add(1, Ordering::SeqCst);
    let (page, served_page, page_size) = page_params(&s, &query);
    let served = s.served.read().unwrap();
    let text = s.listing_page(("groups", page, served_page, page_size), &query, || groups_page(&served, &query, page, served_page, page_size));
    finish_text(text, truncate)
}

fn linked_users(served: &Served, groups: &Value) -> Vec<Value> {
    let mut ids: Vec<&str> = groups.as_array().into_iter().flatten()
        .filter_map(|g| g["links"]["users"].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.iter().filter_map(|id| served.user(id)).map(|u| served.user_json(u)).collect()
}

async fn get_user(State(s): State<Arc<Shared>>, Path(id): Path<String>, Query(query): Query<HashMap<String, String>>, headers: HeaderMap) -> Response {
    let truncate = match admit(&s, &headers, &query).await {
        Ok(t) => t,
        Err(response) => return response,
    };
    s.counters.single_gets.fetch_add(1, Ordering::SeqCst);
    let served = s.served.read().unwrap();
    match served.user(&id) {
        Some(user) => finish(json!({"users": [served.user_json(user)]}), truncate),
        None => json_response(StatusCode::NOT_FOUND, json!({"errors": [format!("User {id} not found")]})),
    }
}

async fn get_group(State(s): State<Arc<Shared>>, Path(id): Path<String>, Query(query): Query<HashMap<String, String>>, headers: HeaderMap) -> Response {
    let truncate = match admit(&s, &headers, &query).await {
        Ok(t) => t,
        Err(response) => return response,
    };
    s.counters.single_gets.fetch_add(1, Ordering::SeqCst);
    let served = s.served.read().unwrap();
    match served.group(&id) {
        Some(group) => {
            let mut body = json!({"groups": [served.company.group_json(group)]});
            if query.get("include").is_some_and(|i| i.split(',').any(|r| r.trim() == "users")) {
                body["linked"] = json!({"users": linked_users(&served, &body["groups"])});
            }
            finish(body, truncate)
        }
        None => json_response(StatusCode::NOT_FOUND, json!({"errors": [format!("Group {id} not found")]})),
    }
}
