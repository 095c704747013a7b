//! The double's HTTP side: the management API on one loopback origin, the token endpoint on another.
// axum handlers refuse a request with the whole Response as their error.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use loopback_server::{Limit, Limiter, LoopbackServer};
use serde_json::{Value, json};

use crate::environment::{Assignment, Environment, Membership, Principal, User, uuid};

pub const CLIENT_ID: &str = "4f1d0b8e-worker-app";
pub const CLIENT_SECRET: &str = "pingone-double-secret";

/// How the worker app authenticates at the token endpoint (its `tokenEndpointAuthMethod`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TokenAuthMethod {
    #[default]
    Basic,
    Post,
}

/// The answers `pingone-api.md` leaves unconfirmed, chosen here.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Whether the environment's `/roles` lists the built-in roles too (else only `/v1/roles` has them).
    pub platform_roles_in_environment_list: bool,
    /// Whether some user pages come shorter than asked (PingOne says to expect it).
    pub short_pages: bool,
    /// Whether the group list honours `include=totalMemberCounts` (a read of one group always does).
    pub counts_on_group_list: bool,
    pub token_auth_method: TokenAuthMethod,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self { platform_roles_in_environment_list: false, short_pages: true, counts_on_group_list: true, token_auth_method: TokenAuthMethod::Basic }
    }
}

/// Faults to switch on. Request numbers count API requests (not token requests), from 1.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// The first this-many API requests answer 429 `REQUEST_LIMITED` with `Retry-After: 1`.
    pub rate_limited: u64,
    /// The first this-many API requests answer 503.
    pub unavailable: u64,
    /// Tokens stop working this long after they are issued (401 `INVALID_TOKEN`), though they claim an hour.
    pub token_lifetime: Option<Duration>,
    /// From this API request on, list bodies are cut in half.
    pub cut_from: Option<u64>,
    /// Every API request waits this long before it is answered.
    pub delay: Option<Duration>,
    /// A limit on API requests, answered with 429 `REQUEST_LIMITED` and `Retry-After` past it.
    pub limit: Option<Limit>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub tokens: u64,
    /// Pages of the unfiltered user list.
    pub user_pages: u64,
    /// Pages of a group's members (`filter=memberOfGroups[…]`).
    pub member_pages: u64,
    pub population_pages: u64,
    pub group_pages: u64,
    /// `/v1/roles` and the environment's `/roles`.
    pub role_lists: u64,
    /// `/groups/{id}/memberOfGroups`.
    pub nesting_reads: u64,
    pub user_role_reads: u64,
    pub group_role_reads: u64,
    /// Other reads of one thing (a user, a group, a membership, a filtered user lookup).
    pub single_reads: u64,
    pub writes: u64,
    /// Every API request, refused ones included (token requests not).
    pub total: u64,
    /// API requests refused by `Faults::limit`.
    pub limited: u64,
}

#[derive(Default)]
struct Counters {
    tokens: AtomicU64,
    user_pages: AtomicU64,
    member_pages: AtomicU64,
    population_pages: AtomicU64,
    group_pages: AtomicU64,
    role_lists: AtomicU64,
    nesting_reads: AtomicU64,
    user_role_reads: AtomicU64,
    group_role_reads: AtomicU64,
    single_reads: AtomicU64,
    writes: AtomicU64,
    total: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    errors: AtomicU64,
}

struct Shared {
    environment: RwLock<Environment>,
    behaviour: Behaviour,
    faults: Faults,
    counters: Counters,
    limiter: Limiter,
    /// Issued tokens and when.
    tokens: Mutex<HashMap<String, Instant>>,
}

/// A running double: the API and the token endpoint, each on an origin of its own. Dropping it stops both.
pub struct PingOneDouble {
    api: LoopbackServer,
    auth: LoopbackServer,
    shared: Arc<Shared>,
}

impl PingOneDouble {
    pub fn start(environment: Environment) -> anyhow::Result<Self> {
        Self::start_with(environment, Behaviour::default(), Faults::default())
    }

    pub fn start_with(environment: Environment, behaviour: Behaviour, faults: Faults) -> anyhow::Result<Self> {
        let limiter = Limiter::new(faults.limit);
        let shared = Arc::new(Shared { environment: RwLock::new(environment), behaviour, faults, counters: Counters::default(), limiter, tokens: Mutex::default() });
        let env = "/v1/environments/{env}";
        let api = Router::new()
            .route("/v1/roles", get(platform_roles))
            .route(&format!("{env}/users"), get(list_users).post(create_user))
            .route(&format!("{env}/users/{{id}}"), get(read_user).patch(patch_user).delete(delete_user))
            .route(&format!("{env}/users/{{id}}/enabled"), put(set_enabled))
            .route(&format!("{env}/users/{{id}}/memberOfGroups"), post(add_membership))
            .route(&format!("{env}/users/{{id}}/memberOfGroups/{{group}}"), get(read_membership).delete(remove_membership))
            .route(&format!("{env}/users/{{id}}/roleAssignments"), get(user_assignments).post(assign_to_user))
            .route(&format!("{env}/users/{{id}}/roleAssignments/{{assignment}}"), delete(unassign_user))
            .route(&format!("{env}/groups"), get(list_groups))
            .route(&format!("{env}/groups/{{id}}"), get(read_group))
            .route(&format!("{env}/groups/{{id}}/memberOfGroups"), get(group_parents).post(nest_group))
            .route(&format!("{env}/groups/{{id}}/memberOfGroups/{{parent}}"), delete(unnest_group))
            .route(&format!("{env}/groups/{{id}}/roleAssignments"), get(group_assignments).post(assign_to_group))
            .route(&format!("{env}/groups/{{id}}/roleAssignments/{{assignment}}"), delete(unassign_group))
            .route(&format!("{env}/populations"), get(list_populations))
            .route(&format!("{env}/roles"), get(environment_roles))
            .with_state(shared.clone());
        let auth = Router::new().route("/{env}/as/token", post(token)).with_state(shared.clone());
        Ok(Self { api: LoopbackServer::start("pingone-api-double", api)?, auth: LoopbackServer::start("pingone-auth-double", auth)?, shared })
    }

    /// The API base URL, as the connector's `api_base` (`…/v1`).
    pub fn api_base(&self) -> String {
        format!("{}/v1", self.api.base_url())
    }

    /// The auth origin, as the connector's `auth_base`.
    pub fn auth_base(&self) -> String {
        self.auth.base_url()
    }

    pub fn environment_id(&self) -> String {
        self.shared.environment.read().unwrap().id.clone()
    }

    /// The environment as it is now (after any writes).
    pub fn environment(&self) -> Environment {
        self.shared.environment.read().unwrap().clone()
    }

    /// Changes the environment as an administrator would in PingOne's console, between syncs.
    pub fn edit(&self, change: impl FnOnce(&mut Environment)) {
        let mut environment = self.shared.environment.write().unwrap();
        change(&mut environment);
        environment.refresh();
    }

    pub fn counts(&self) -> Counts {
        let c = &self.shared.counters;
        let n = |a: &AtomicU64| a.load(Ordering::SeqCst);
        Counts {
            tokens: n(&c.tokens),
            user_pages: n(&c.user_pages),
            member_pages: n(&c.member_pages),
            population_pages: n(&c.population_pages),
            group_pages: n(&c.group_pages),
            role_lists: n(&c.role_lists),
            nesting_reads: n(&c.nesting_reads),
            user_role_reads: n(&c.user_role_reads),
            group_role_reads: n(&c.group_role_reads),
            single_reads: n(&c.single_reads),
            writes: n(&c.writes),
            total: n(&c.total),
            limited: self.shared.limiter.refused(),
        }
    }

    /// The most API requests the double was answering at once.
    pub fn max_in_flight(&self) -> u64 {
        self.shared.counters.max_in_flight.load(Ordering::SeqCst)
    }
}

/// `expr`'s value, or the handler answers with its refusal.
macro_rules! or_answer {
    ($e:expr) => {
        match $e {
            Ok(value) => value,
            Err(refusal) => return refusal,
        }
    };
}

/// A PingOne error body; `detail` is (code, target, message).
fn p1_error(s: &Shared, status: StatusCode, code: &str, message: &str, detail: Option<(&str, &str, &str)>) -> Response {
    let n = s.counters.errors.fetch_add(1, Ordering::SeqCst) as usize;
    let mut body = json!({"id": uuid(8, n), "code": code, "message": message});
    if let Some((code, target, message)) = detail {
        body["details"] = json!([{"code": code, "target": target, "message": message}]);
    }
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// A collection PingOne does not page (role lists, assignments, a group's parents): `_embedded.<key>`.
fn collection(key: &str, items: Vec<Value>) -> Response {
    let size = items.len();
    json_response(StatusCode::OK, &json!({"_links": {}, "_embedded": {key: items}, "size": size}))
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/hal+json;charset=UTF-8")], body.to_string()).into_response()
}

/// An API request in flight: counted, and its end noted when dropped.
struct InFlight<'a>(&'a Counters);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts an API request, applies the delay and the faults, and checks its token and environment. `Ok` with
/// the request's number, or the refusal to send.
async fn admit<'a>(s: &'a Shared, headers: &HeaderMap, env: Option<&str>) -> Result<(u64, InFlight<'a>), Response> {
    let n = s.counters.total.fetch_add(1, Ordering::SeqCst) + 1;
    let now = s.counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    s.counters.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let guard = InFlight(&s.counters);
    if let Some(delay) = s.faults.delay {
        tokio::time::sleep(delay).await;
    }
    let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let issued = bearer.and_then(|t| s.tokens.lock().unwrap().get(t).copied());
    match issued {
        None => return Err(p1_error(s, StatusCode::UNAUTHORIZED, "ACCESS_FAILED", "The request could not be completed. You are not authorized.", Some(("INVALID_TOKEN", "", "Invalid token")))),
        Some(at) if s.faults.token_lifetime.is_some_and(|life| at.elapsed() > life) => {
            return Err(p1_error(s, StatusCode::UNAUTHORIZED, "ACCESS_FAILED", "The request could not be completed. You are not authorized.", Some(("INVALID_TOKEN", "", "The token has expired"))));
        }
        Some(_) => {}
    }
    let limited = s.limiter.refuse();
    if n <= s.faults.rate_limited || limited.is_some() {
        let mut response = p1_error(s, StatusCode::TOO_MANY_REQUESTS, "REQUEST_LIMITED", "The request was limited.", Some(("LIMIT_EXCEEDED", "", "Too many requests")));
        response.headers_mut().insert(header::RETRY_AFTER, limited.unwrap_or(1).into());
        return Err(response);
    }
    if n <= s.faults.rate_limited + s.faults.unavailable {
        return Err(p1_error(s, StatusCode::SERVICE_UNAVAILABLE, "UNEXPECTED_ERROR", "The service is temporarily unavailable.", None));
    }
    if let Some(env) = env
        && env != s.environment.read().unwrap().id
    {
        // What PingOne answers for an environment the token was not issued for.
        return Err(p1_error(s, StatusCode::FORBIDDEN, "ACCESS_FAILED", "The request could not be completed. You do not have access to this resource.", None));
    }
    Ok((n, guard))
}

/// A page of `items` as PingOne's HAL envelope, `_embedded.{key}`, with `_links.next.href` when more remain.
/// `path` is the request's path and `keep` its query parameters other than `limit` and `cursor` (so the next
/// link repeats the same query).
#[allow(clippy::too_many_arguments)]
fn hal_page(s: &Shared, n: u64, headers: &HeaderMap, path: &str, keep: &[(String, String)], key: &str, items: Vec<Value>, limit: usize, offset: usize, short: bool) -> Response {
    let mut take = limit;
    if short && s.behaviour.short_pages && (offset / limit.max(1)) % 3 == 1 && limit > 7 {
        take = limit - 7;
    }
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(offset).take(take).collect();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let query = |extra: &[(String, String)]| {
        keep.iter().chain(extra).map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&")
    };
    let mut links = json!({"self": {"href": format!("http://{host}{path}?{}", query(&[("limit".into(), limit.to_string())]))}});
    let end = offset + page.len();
    if end < total {
        let cursor = format!("{:x}.{:08x}", end, checksum(path) ^ checksum(&query(&[])));
        links["next"] = json!({"href": format!("http://{host}{path}?{}", query(&[("limit".into(), limit.to_string()), ("cursor".into(), cursor)]))});
    }
    let body = json!({"_links": links, "_embedded": {key: page}, "count": total, "size": end - offset}).to_string();
    if s.faults.cut_from.is_some_and(|from| n >= from) {
        return ([(header::CONTENT_TYPE, "application/hal+json")], body[..body.len() / 2].to_string()).into_response();
    }
    ([(header::CONTENT_TYPE, "application/hal+json;charset=UTF-8")], body).into_response()
}

fn checksum(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ b as u32).wrapping_mul(0x0100_0193))
}

fn encode(value: &str) -> String {
    value.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// `limit`, the cursor's offset, and the other parameters of a listing's query.
type Paging = (usize, usize, Vec<(String, String)>);

/// `limit` (capped at `cap`), the cursor's offset, and the other parameters; or the error for a cursor the
/// double did not issue for this query.
fn paging(s: &Shared, path: &str, query: &[(String, String)], cap: usize) -> Result<Paging, Response> {
    let keep: Vec<(String, String)> = query.iter().filter(|(k, _)| k != "limit" && k != "cursor").cloned().collect();
    let limit = query.iter().find(|(k, _)| k == "limit").and_then(|(_, v)| v.parse::<usize>().ok()).unwrap_or(cap).clamp(1, cap);
    let offset = match query.iter().find(|(k, _)| k == "cursor") {
        None => 0,
        Some((_, cursor)) => {
            let kept = keep.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&");
            let expected = format!("{:08x}", checksum(path) ^ checksum(&kept));
            match cursor.split_once('.') {
                Some((at, sum)) if sum == expected => usize::from_str_radix(at, 16).map_err(|_| bad_cursor(s))?,
                _ => return Err(bad_cursor(s)),
            }
        }
    };
    Ok((limit, offset, keep))
}

fn bad_cursor(s: &Shared) -> Response {
    p1_error(s, StatusCode::BAD_REQUEST, "INVALID_REQUEST", "The request could not be completed.", Some(("INVALID_PARAMETER", "cursor", "The cursor is not valid for this query")))
}

async fn token(State(s): State<Arc<Shared>>, Path(env): Path<String>, headers: HeaderMap, body: String) -> Response {
    s.counters.tokens.fetch_add(1, Ordering::SeqCst);
    let oauth_error = |status: StatusCode, error: &str, description: &str| {
        (status, [(header::CONTENT_TYPE, "application/json")], json!({"error": error, "error_description": description}).to_string()).into_response()
    };
    if env != s.environment.read().unwrap().id {
        return oauth_error(StatusCode::NOT_FOUND, "invalid_request", "The environment in the token URL does not exist");
    }
    let form: Vec<(String, String)> = body.split('&').filter_map(|pair| pair.split_once('=')).map(|(k, v)| (decode(k), decode(v))).collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if field("grant_type") != Some("client_credentials") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "Only client_credentials is supported for this application");
    }
    let basic = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Basic ")).map(decode_base64);
    let (id, secret) = match (s.behaviour.token_auth_method, basic, field("client_id"), field("client_secret")) {
        (TokenAuthMethod::Basic, Some(Some(pair)), None, None) => match pair.split_once(':') {
            Some((id, secret)) => (decode(id), decode(secret)),
            None => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Malformed client authentication"),
        },
        (TokenAuthMethod::Post, None, Some(id), Some(secret)) => (id.to_string(), secret.to_string()),
        _ => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Unsupported authentication method for this application"),
    };
    if id != CLIENT_ID || secret != CLIENT_SECRET {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed");
    }
    let mut tokens = s.tokens.lock().unwrap();
    let issued = format!("eyJ.double.{}", tokens.len() + 1);
    tokens.insert(issued.clone(), Instant::now());
    json_response(StatusCode::OK, &json!({"access_token": issued, "token_type": "Bearer", "expires_in": 3600}))
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn decode_base64(text: &str) -> Option<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.trim_end_matches('=').bytes() {
        bits = (bits << 6) | ALPHABET.iter().position(|&a| a == c)? as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    String::from_utf8(out).ok()
}

type Q = Query<Vec<(String, String)>>;

async fn platform_roles(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(refused) = admit(&s, &headers, None).await {
        return refused;
    }
    s.counters.role_lists.fetch_add(1, Ordering::SeqCst);
    let env = s.environment.read().unwrap();
    let roles: Vec<Value> = env.roles.iter().filter(|r| r.kind == "PLATFORM").map(|r| env.role_json(r)).collect();
    collection("roles", roles)
}

async fn environment_roles(State(s): State<Arc<Shared>>, Path(env_id): Path<String>, headers: HeaderMap) -> Response {
    if let Err(refused) = admit(&s, &headers, Some(&env_id)).await {
        return refused;
    }
    s.counters.role_lists.fetch_add(1, Ordering::SeqCst);
    let env = s.environment.read().unwrap();
    let platform = s.behaviour.platform_roles_in_environment_list;
    let roles: Vec<Value> = env.roles.iter().filter(|r| platform || r.kind == "CUSTOM").map(|r| env.role_json(r)).collect();
    collection("roles", roles)
}

async fn list_users(State(s): State<Arc<Shared>>, Path(env_id): Path<String>, Query(query): Q, headers: HeaderMap) -> Response {
    let (n, _guard) = or_answer!(admit(&s, &headers, Some(&env_id)).await);
    let path = format!("/v1/environments/{env_id}/users");
    let (limit, offset, keep) = or_answer!(paging(&s, &path, &query, 200));
    let env = s.environment.read().unwrap();
    let filter = query.iter().find(|(k, _)| k == "filter").map(|(_, v)| v.as_str());
    let users: Vec<&User> = match filter {
        None => {
            s.counters.user_pages.fetch_add(1, Ordering::SeqCst);
            env.users.iter().collect()
        }
        Some(f) => match parse_filter(f) {
            Some(UserFilter::MemberOf(group)) => {
                s.counters.member_pages.fetch_add(1, Ordering::SeqCst);
                let members = env.members(&group);
                env.users.iter().filter(|u| members.contains_key(&u.id)).collect()
            }
            Some(UserFilter::Username(name)) => {
                s.counters.single_reads.fetch_add(1, Ordering::SeqCst);
                env.users.iter().filter(|u| u.username == name).collect()
            }
            None => {
                return p1_error(&s, StatusCode::BAD_REQUEST, "INVALID_REQUEST", "The request could not be completed.", Some(("INVALID_FILTER", "filter", "The filter is not supported")));
            }
        },
    };
    let items = users.into_iter().map(|u| env.user_json(u)).collect();
    hal_page(&s, n, &headers, &path, &keep, "users", items, limit, offset, filter.is_none())
}

enum UserFilter {
    MemberOf(String),
    Username(String),
}

fn parse_filter(filter: &str) -> Option<UserFilter> {
    if let Some(rest) = filter.strip_prefix("memberOfGroups[id eq \"") {
        return rest.strip_suffix("\"]").map(|id| UserFilter::MemberOf(id.to_string()));
    }
    filter.strip_prefix("username eq \"").and_then(|rest| rest.strip_suffix('"')).map(|name| UserFilter::Username(name.to_string()))
}

async fn list_groups(State(s): State<Arc<Shared>>, Path(env_id): Path<String>, Query(query): Q, headers: HeaderMap) -> Response {
    let (n, _guard) = or_answer!(admit(&s, &headers, Some(&env_id)).await);
    s.counters.group_pages.fetch_add(1, Ordering::SeqCst);
    let path = format!("/v1/environments/{env_id}/groups");
    let (limit, offset, keep) = or_answer!(paging(&s, &path, &query, 1000));
    let counts = s.behaviour.counts_on_group_list && query.iter().any(|(k, v)| k == "include" && v == "totalMemberCounts");
    let env = s.environment.read().unwrap();
    let items = env.groups.iter().map(|g| env.group_json(g, counts)).collect();
    hal_page(&s, n, &headers, &path, &keep, "groups", items, limit, offset, false)
}

async fn list_populations(State(s): State<Arc<Shared>>, Path(env_id): Path<String>, Query(query): Q, headers: HeaderMap) -> Response {
    let (n, _guard) = or_answer!(admit(&s, &headers, Some(&env_id)).await);
    s.counters.population_pages.fetch_add(1, Ordering::SeqCst);
    let path = format!("/v1/environments/{env_id}/populations");
    let (limit, offset, keep) = or_answer!(paging(&s, &path, &query, 1000));
    let env = s.environment.read().unwrap();
    let items = env.populations.iter().map(|p| env.population_json(p)).collect();
    hal_page(&s, n, &headers, &path, &keep, "populations", items, limit, offset, false)
}

async fn read_user(State(s): State<Arc<Shared>>, Path((env_id, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if let Err(refused) = admit(&s, &headers, Some(&env_id)).await {
        return refused;
    }
    s.counters.single_reads.fetch_add(1, Ordering::SeqCst);
    let env = s.environment.read().unwrap();
    match env.user(&id) {
        Some(u) => json_response(StatusCode::OK, &env.user_json(u)),
        None => not_found(&s, "user", &id),
    }
}

async fn read_group(State(s): State<Arc<Shared>>, Path((env_id, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if let Err(refused) = admit(&s, &headers, Some(&env_id)).await {
        return refused;
    }
    s.counters.single_reads.fetch_add(1, Ordering::SeqCst);
    let env = s.environment.read().unwrap();
    match env.group(&id) {
        Some(g) => json_response(StatusCode::OK, &env.group_json(g, true)),
        None => not_found(&s, "group", &id),
    }
}

fn not_found(s: &Shared, what: &str, id: &str) -> Response {
    p1_error(s, StatusCode::NOT_FOUND, "NOT_FOUND", &format!("Unable to find {what} with ID: '{id}'"), None)
}

async fn group_parents(State(s): State<Arc<Shared>>, Path((env_id, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if let Err(refused) = admit(&s, &headers, Some(&env_id)).await {
        return refused;
    }
    s.counters.nesting_reads.fetch_add(1, Ordering::SeqCst);
    let env = s.environment.read().unwrap();
    if env.group(&id).is_none() {
        return not_found(&s, "group", &id);
    }
    let parents: Vec<Value> = env
        .ancestors(&id)
        .into_iter()
        .map(|(parent, kind)| json!({"id": parent, "name": env.group(&parent).map(|g| g.name.clone()), "type": kind}))
        .collect();
    collection("groupMemberships", parents)
}

async fn user_assignments(State(s): State<Arc<Shared>>, Path((env_id, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if let Err(refused) = admit(&s, &headers, Some(&env_id)).await {
        return refused;
    }
    s.counters.user_role_reads.fetch_add(1, Ordering::SeqCst);
    let env = s.environment.read().unwrap();
    if env.user(&id).is_none() {
        return not_found(&s, "user", &id);
    }
    let assignments = env.user_assignments(&id);
    collection("roleAssignments", assignments)
}

async fn group_assignments(State(s): State<Arc<Shared>>, Path((env_id, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if let Err(refused) = admit(&s, &headers, Some(&env_id)).await {
        return refused;
    }
    s.counters.group_role_reads.fetch_add(1, Ordering::SeqCst);
    let env = s.environment.read().unwrap();
    if env.group(&id).is_none() {
        return not_found(&s, "group", &id);
    }
    let assignments: Vec<Value> = env.assignments.iter().filter(|a| a.principal == Principal::Group(id.clone())).map(|a| env.assignment_json(a, None)).collect();
    collection("roleAssignments", assignments)
}

/// Admits a write and parses its JSON body.
async fn write_body<'a>(s: &'a Shared, headers: &HeaderMap, env: &str, body: &str) -> Result<(Value, InFlight<'a>), Response> {
    let (_, guard) = admit(s, headers, Some(env)).await?;
    s.counters.writes.fetch_add(1, Ordering::SeqCst);
    if body.is_empty() {
        return Ok((Value::Null, guard));
    }
    match serde_json::from_str(body) {
        Ok(value) => Ok((value, guard)),
        Err(_) => Err(p1_error(s, StatusCode::BAD_REQUEST, "INVALID_DATA", "The request could not be completed. The body is not valid JSON.", None)),
    }
}

fn invalid(s: &Shared, detail: &str, target: &str, message: &str) -> Response {
    p1_error(s, StatusCode::BAD_REQUEST, "INVALID_DATA", "The request could not be completed. One or more validation errors were in the request.", Some((detail, target, message)))
}

async fn create_user(State(s): State<Arc<Shared>>, Path(env_id): Path<String>, headers: HeaderMap, body: String) -> Response {
    let (body, _guard) = or_answer!(write_body(&s, &headers, &env_id, &body).await);
    let text = |v: &Value| v.as_str().map(str::to_string).filter(|t| !t.is_empty());
    let (Some(username), Some(email)) = (text(&body["username"]), text(&body["email"])) else {
        let target = if text(&body["username"]).is_none() { "username" } else { "email" };
        return invalid(&s, "REQUIRED_VALUE", target, &format!("{target} is required"));
    };
    let mut env = s.environment.write().unwrap();
    if env.users.iter().any(|u| u.username == username) {
        return invalid(&s, "UNIQUENESS_VIOLATION", "username", "username must be unique");
    }
    let population_id = match text(&body["population"]["id"]) {
        Some(id) if env.populations.iter().any(|p| p.id == id) => id,
        Some(_) => return invalid(&s, "INVALID_VALUE", "population.id", "The population does not exist"),
        None => env.populations.iter().find(|p| p.default).map(|p| p.id.clone()).expect("a default population"),
    };
    let n = env.users.len();
    let user = User {
        id: uuid(7, n + 1_000_000),
        username,
        email,
        given: text(&body["name"]["given"]).unwrap_or_default(),
        family: text(&body["name"]["family"]).unwrap_or_default(),
        title: text(&body["title"]),
        mobile_phone: None,
        primary_phone: None,
        external_id: None,
        population_id,
        enabled: true,
        locked: false,
        cost_center: None,
        created_at: "2026-11-23T00:00:00.000Z".into(),
    };
    let answer = env.user_json(&user);
    env.users.push(user);
    json_response(StatusCode::CREATED, &answer)
}

async fn delete_user(State(s): State<Arc<Shared>>, Path((env_id, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let (_, _guard) = or_answer!(write_body(&s, &headers, &env_id, "").await);
    let mut env = s.environment.write().unwrap();
    let before = env.users.len();
    env.users.retain(|u| u.id != id);
    if env.users.len() == before {
        return not_found(&s, "user", &id);
    }
    env.direct.retain(|(_, u)| u != &id);
    env.assignments.retain(|a| a.principal != Principal::User(id.clone()));
    env.refresh();
    StatusCode::NO_CONTENT.into_response()
}

/// PATCH changes the attributes present; `null` clears one.
async fn patch_user(State(s): State<Arc<Shared>>, Path((env_id, id)): Path<(String, String)>, headers: HeaderMap, body: String) -> Response {
    let (body, _guard) = or_answer!(write_body(&s, &headers, &env_id, &body).await);
    let mut env = s.environment.write().unwrap();
    let Some(user) = env.users.iter_mut().find(|u| u.id == id) else { return not_found(&s, "user", &id) };
    let text = |v: &Value| v.as_str().map(str::to_string);
    if body.get("email").is_some() {
        match text(&body["email"]) {
            Some(email) => user.email = email,
            None => return invalid(&s, "REQUIRED_VALUE", "email", "email is required"),
        }
    }
    if body.get("title").is_some() {
        user.title = text(&body["title"]);
    }
    if let Some(given) = text(&body["name"]["given"]) {
        user.given = given;
    }
    if let Some(family) = text(&body["name"]["family"]) {
        user.family = family;
    }
    let answer = env.user_json(env.user(&id).expect("just changed"));
    json_response(StatusCode::OK, &answer)
}

async fn set_enabled(State(s): State<Arc<Shared>>, Path((env_id, id)): Path<(String, String)>, headers: HeaderMap, body: String) -> Response {
    let (body, _guard) = or_answer!(write_body(&s, &headers, &env_id, &body).await);
    let Some(enabled) = body["enabled"].as_bool() else { return invalid(&s, "REQUIRED_VALUE", "enabled", "enabled must be true or false") };
    let mut env = s.environment.write().unwrap();
    let Some(user) = env.users.iter_mut().find(|u| u.id == id) else { return not_found(&s, "user", &id) };
    user.enabled = enabled;
    json_response(StatusCode::OK, &json!({"_links": {}, "enabled": enabled}))
}

async fn read_membership(State(s): State<Arc<Shared>>, Path((env_id, id, group)): Path<(String, String, String)>, headers: HeaderMap) -> Response {
    if let Err(refused) = admit(&s, &headers, Some(&env_id)).await {
        return refused;
    }
    s.counters.single_reads.fetch_add(1, Ordering::SeqCst);
    let env = s.environment.read().unwrap();
    if env.user(&id).is_none() {
        return not_found(&s, "user", &id);
    }
    match env.members(&group).get(&id) {
        Some(how) => {
            let kind = if *how == Membership::Direct { "DIRECT" } else { "INDIRECT" };
            json_response(StatusCode::OK, &json!({"id": group, "name": env.group(&group).map(|g| g.name.clone()), "type": kind}))
        }
        None => not_found(&s, "group membership", &group),
    }
}

async fn add_membership(State(s): State<Arc<Shared>>, Path((env_id, id)): Path<(String, String)>, headers: HeaderMap, body: String) -> Response {
    let (body, _guard) = or_answer!(write_body(&s, &headers, &env_id, &body).await);
    let group_id = body["id"].as_str().unwrap_or_default().to_string();
    let mut env = s.environment.write().unwrap();
    let Some(user) = env.user(&id).cloned() else { return not_found(&s, "user", &id) };
    let Some(group) = env.group(&group_id).cloned() else { return invalid(&s, "INVALID_VALUE", "id", "The group does not exist") };
    if group.user_filter.is_some() {
        return invalid(&s, "CONSTRAINT_VIOLATION", "id", "Users cannot be added to a dynamic group");
    }
    if group.population_id.as_ref().is_some_and(|p| p != &user.population_id) {
        return invalid(&s, "CONSTRAINT_VIOLATION", "id", "The user is not in the group's population");
    }
    if env.direct.iter().any(|(g, u)| g == &group_id && u == &id) {
        return invalid(&s, "UNIQUENESS_VIOLATION", "id", "The user is already a member of the group");
    }
    env.direct.push((group_id.clone(), id));
    env.refresh();
    json_response(StatusCode::CREATED, &json!({"id": group_id, "name": group.name, "type": "DIRECT"}))
}

async fn remove_membership(State(s): State<Arc<Shared>>, Path((env_id, id, group)): Path<(String, String, String)>, headers: HeaderMap) -> Response {
    let (_, _guard) = or_answer!(write_body(&s, &headers, &env_id, "").await);
    let mut env = s.environment.write().unwrap();
    let before = env.direct.len();
    env.direct.retain(|(g, u)| !(g == &group && u == &id));
    if env.direct.len() == before {
        if env.members(&group).contains_key(&id) {
            return p1_error(&s, StatusCode::BAD_REQUEST, "INVALID_REQUEST", "Only direct group memberships can be removed.", None);
        }
        return not_found(&s, "group membership", &group);
    }
    env.refresh();
    StatusCode::NO_CONTENT.into_response()
}

/// Nests group `id` in the group the body names.
async fn nest_group(State(s): State<Arc<Shared>>, Path((env_id, id)): Path<(String, String)>, headers: HeaderMap, body: String) -> Response {
    let (body, _guard) = or_answer!(write_body(&s, &headers, &env_id, &body).await);
    let parent = body["id"].as_str().unwrap_or_default().to_string();
    let mut env = s.environment.write().unwrap();
    if env.group(&id).is_none() {
        return not_found(&s, "group", &id);
    }
    let Some(target) = env.group(&parent).cloned() else { return invalid(&s, "INVALID_VALUE", "id", "The group does not exist") };
    if target.user_filter.is_some() {
        return invalid(&s, "CONSTRAINT_VIOLATION", "id", "Groups cannot be nested in a dynamic group");
    }
    if parent == id || env.ancestors(&parent).iter().any(|(a, _)| a == &id) {
        return invalid(&s, "CONSTRAINT_VIOLATION", "id", "The nesting would make a cycle");
    }
    if env.nesting.iter().any(|(c, p)| c == &id && p == &parent) {
        return invalid(&s, "UNIQUENESS_VIOLATION", "id", "The group is already nested in that group");
    }
    env.nesting.push((id, parent.clone()));
    env.refresh();
    json_response(StatusCode::CREATED, &json!({"id": parent, "name": target.name, "type": "DIRECT"}))
}

async fn unnest_group(State(s): State<Arc<Shared>>, Path((env_id, id, parent)): Path<(String, String, String)>, headers: HeaderMap) -> Response {
    let (_, _guard) = or_answer!(write_body(&s, &headers, &env_id, "").await);
    let mut env = s.environment.write().unwrap();
    let before = env.nesting.len();
    env.nesting.retain(|(c, p)| !(c == &id && p == &parent));
    if env.nesting.len() == before {
        return not_found(&s, "group nesting", &parent);
    }
    env.refresh();
    StatusCode::NO_CONTENT.into_response()
}

async fn assign(s: &Shared, headers: &HeaderMap, env_id: &str, principal: Principal, body: &str) -> Response {
    let (body, _guard) = or_answer!(write_body(s, headers, env_id, body).await);
    let mut env = s.environment.write().unwrap();
    let exists = match &principal {
        Principal::User(id) => env.user(id).is_some(),
        Principal::Group(id) => env.group(id).is_some(),
    };
    if !exists {
        return not_found(s, "principal", "");
    }
    let (role_id, scope_id, scope_type) = (body["role"]["id"].as_str().unwrap_or_default(), body["scope"]["id"].as_str().unwrap_or_default(), body["scope"]["type"].as_str().unwrap_or_default());
    let Some(role) = env.roles.iter().find(|r| r.id == role_id).cloned() else { return invalid(s, "INVALID_VALUE", "role.id", "The role does not exist") };
    let Some(scope_type) = role.applicable_to.iter().find(|t| **t == scope_type).copied() else {
        return invalid(s, "INVALID_VALUE", "scope", "Incompatible role and scope combination");
    };
    if env.assignments.iter().any(|a| a.principal == principal && a.role_id == role_id && a.scope_id == scope_id && a.scope_type == scope_type) {
        return invalid(s, "UNIQUENESS_VIOLATION", "role.id", "The role is already assigned at this scope");
    }
    let assignment = Assignment { id: uuid(6, env.assignments.len() + 1_000_000), role_id: role_id.into(), scope_type, scope_id: scope_id.into(), principal };
    let answer = env.assignment_json(&assignment, None);
    env.assignments.push(assignment);
    json_response(StatusCode::CREATED, &answer)
}

async fn unassign(s: &Shared, headers: &HeaderMap, env_id: &str, principal: Principal, assignment: &str) -> Response {
    let (_, _guard) = or_answer!(write_body(s, headers, env_id, "").await);
    let mut env = s.environment.write().unwrap();
    let before = env.assignments.len();
    env.assignments.retain(|a| !(a.id == assignment && a.principal == principal));
    if env.assignments.len() == before {
        return not_found(s, "role assignment", assignment);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn assign_to_user(State(s): State<Arc<Shared>>, Path((env_id, id)): Path<(String, String)>, headers: HeaderMap, body: String) -> Response {
    assign(&s, &headers, &env_id, Principal::User(id), &body).await
}

async fn assign_to_group(State(s): State<Arc<Shared>>, Path((env_id, id)): Path<(String, String)>, headers: HeaderMap, body: String) -> Response {
    assign(&s, &headers, &env_id, Principal::Group(id), &body).await
}

async fn unassign_user(State(s): State<Arc<Shared>>, Path((env_id, id, assignment)): Path<(String, String, String)>, headers: HeaderMap) -> Response {
    unassign(&s, &headers, &env_id, Principal::User(id), &assignment).await
}

async fn unassign_group(State(s): State<Arc<Shared>>, Path((env_id, id, assignment)): Path<(String, String, String)>, headers: HeaderMap) -> Response {
    unassign(&s, &headers, &env_id, Principal::Group(id), &assignment).await
}
