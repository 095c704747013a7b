//! The SCIM 2.0 gateway: `serve --scim-listen ADDR` answers RFC 7643/7644 at `/tenants/{tenant}/scim/v2/…` for
//! every tenant whose table sets `scim = { token = … }`. Reads come from the store — the tenant's latest complete
//! sync with the writes made since laid over it (`store/written.rs`), never from the source; writes go through
//! the tenant's sandboxed component under its provisioning grants (`write.rs`), and each is a row of the
//! provisioning log, under the name `scim:TENANT`. Requests are authenticated by the tenant's bearer token,
//! compared in constant time and never logged.

mod discovery;
mod error;
mod filter;
mod patch;
mod read;
mod resources;
mod write;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

pub use error::SCIM_JSON;
use error::ScimError;
use resources::{Kind, Projection};
use crate::fleet::{Components, Prepared};
use crate::options::SyncOptions;
use crate::runtime::Runtime;
use crate::secrets::Redactor;
use crate::service::ServiceConfig;
use crate::tenant::TenantSpec;
use crate::store::{Store, StoreLocation};
use crate::tenant::ResolvedTenant;

/// The name of a tenant's gateway in the provisioning log.
pub fn log_name(tenant: &str) -> String {
    format!("{LOG_PREFIX}{tenant}")
}

/// What gateway log names begin with; no flow's name may.
pub const LOG_PREFIX: &str = "scim:";

/// One tenant served by the gateway.
pub struct GatewayTenant {
    /// SHA-256 of its token: compared in constant time, and never the token itself kept twice.
    token: [u8; 32],
    /// How the log names the token: the first 8 hex digits of its SHA-256.
    token_id: String,
    tenant: ResolvedTenant,
    prepared: Arc<Prepared>,
    options: SyncOptions,
}

impl GatewayTenant {
    /// `tenant` as the gateway serves it, with its `token`, its component, and the limits of its writes.
    pub fn new(token: &str, tenant: ResolvedTenant, prepared: Arc<Prepared>, options: SyncOptions) -> Self {
        let token: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let token_id = format!("token sha256:{}", token[..4].iter().map(|b| format!("{b:02x}")).collect::<String>());
        Self { token, token_id, tenant, prepared, options }
    }
}

/// The tenants a gateway serves, by name.
pub type GatewayTenants = HashMap<String, Arc<GatewayTenant>>;

/// The gateway: its tenants (replaced whole when `serve` reloads its tenants file), the engine their components
/// run on, and the store.
pub struct Gateway {
    tenants: RwLock<Arc<GatewayTenants>>,
    runtime: Arc<Runtime>,
    store: StorePool,
}

impl Gateway {
    /// A gateway serving `tenants`, their components on `runtime`, reading `store`.
    pub fn new(tenants: GatewayTenants, runtime: Arc<Runtime>, store: StoreLocation) -> Self {
        Self { tenants: RwLock::new(Arc::new(tenants)), runtime, store: StorePool { location: store, idle: Mutex::default() } }
    }

    /// Serves `tenants` from the next request on; requests under way finish with the tenant they began with.
    pub fn replace_tenants(&self, tenants: GatewayTenants) {
        *self.tenants.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(tenants);
    }

    fn tenant(&self, name: &str) -> Option<Arc<GatewayTenant>> {
        self.tenants.read().unwrap_or_else(|e| e.into_inner()).get(name).cloned()
    }

    /// `serve`'s tenants that set a token, as the gateway serves them. A tenant whose component did not load, or
    /// whose config its component refuses, is left out, said so in the log.
    pub fn tenants_of(specs: &[&TenantSpec], components: &Components, config: &ServiceConfig, redactor: &Redactor) -> GatewayTenants {
        let mut tenants = HashMap::new();
        for spec in specs {
            let Some(token) = &spec.scim_token else { continue };
            redactor.add(token.expose());
            let served = components.of(spec).and_then(|prepared| {
                let tenant = ResolvedTenant::resolve((*spec).clone(), &prepared.metadata, redactor.child())?;
                let mut options = config.options.clone();
                tenant.limits.apply(&mut options)?;
                Ok(GatewayTenant::new(token.expose(), tenant, prepared, options))
            });
            match served {
                Ok(served) => {
                    tenants.insert(spec.name.clone(), Arc::new(served));
                }
                Err(e) => tracing::error!(tenant = %spec.name, "the SCIM gateway cannot serve the tenant: {}", crate::display::one_line(&format!("{e:#}"))),
            }
        }
        tenants
    }

    /// The resource types the gateway serves as Users and Groups, in order of preference, where the connector has
    /// several of a trait: types named `user` and `group`, then those the connector writes.
    fn served_types(&self, tenant: &str) -> Vec<String> {
        let written = self.tenant(tenant).map(|t| t.prepared.metadata.write_schemas.iter().map(|s| s.resource_type.clone()).collect::<Vec<_>>()).unwrap_or_default();
        ["user", "group"].into_iter().map(str::to_string).chain(written).collect()
    }

    /// Runs `f` on a store connection, off the async threads; connections are kept for the next request.
    async fn with_store<T: Send + 'static>(self: &Arc<Self>, f: impl FnOnce(&Store) -> anyhow::Result<T> + Send + 'static) -> Result<T, ScimError> {
        let gateway = self.clone();
        let ran = tokio::task::spawn_blocking(move || {
            let store = match gateway.store.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
                Some(store) => store,
                None => Store::open(&gateway.store.location)?,
            };
            let result = f(&store);
            // A connection whose query failed may be broken (a database restart): it is not kept.
            let mut idle = gateway.store.idle.lock().unwrap_or_else(|e| e.into_inner());
            if result.is_ok() && idle.len() < IDLE_CONNECTIONS {
                idle.push(store);
            }
            result
        })
        .await;
        match ran {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => match e.downcast::<ScimError>() {
                Ok(scim) => Err(scim),
                Err(e) => {
                    tracing::warn!("SCIM gateway: the store failed: {}", crate::display::one_line(&format!("{e:#}")));
                    Err(ScimError::unavailable("the store is unavailable; try again"))
                }
            },
            Err(e) => {
                tracing::error!("SCIM gateway: a store task failed: {e}");
                Err(ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, None, "internal error"))
            }
        }
    }
}

/// Store connections kept between requests.
const IDLE_CONNECTIONS: usize = 8;

struct StorePool {
    location: StoreLocation,
    idle: Mutex<Vec<Store>>,
}

/// Serves the gateway on `listener` until `stop`.
pub async fn serve(listener: tokio::net::TcpListener, gateway: Arc<Gateway>, stop: watch::Receiver<bool>) {
    let app = Router::new().route("/tenants/{tenant}/scim/v2/{*path}", any(handle)).fallback(not_found).with_state(gateway);
    crate::service::http::accept(listener, app, stop, crate::service::http::Connections::KEPT_ALIVE).await;
}

async fn not_found() -> Response {
    ScimError::new(StatusCode::NOT_FOUND, None, "no such endpoint: SCIM is served at /tenants/{tenant}/scim/v2/").into_response()
}

/// What one request asks, past its tenant and token.
struct Request {
    method: Method,
    /// The path after `/scim/v2/`, split at `/`.
    segments: Vec<String>,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
    /// `scheme://host/tenants/{tenant}/scim/v2`, for `meta.location`.
    base: String,
}

impl Request {
    fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Result<Value, ScimError> {
        serde_json::from_slice(&self.body).map_err(|e| ScimError::invalid_syntax(format!("the body is not JSON: {e}")))
    }

    /// The version named by `If-Match`, if the request names one (`*` matches any).
    fn if_match(&self) -> Option<String> {
        self.headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| *v != "*").map(str::to_string)
    }
}

async fn handle(State(gateway): State<Arc<Gateway>>, Path((tenant, path)): Path<(String, String)>, method: Method, headers: HeaderMap, RawQuery(query): RawQuery, body: Bytes) -> Response {
    let Some(served) = authenticate(&gateway, &tenant, &headers) else {
        return ScimError::new(StatusCode::UNAUTHORIZED, None, "a bearer token of this tenant is required").into_response();
    };
    let query = query.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
    let base = base_url(&headers, &tenant);
    let segments = path.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect();
    let request = Request { method: method.clone(), segments, query, headers, body, base };
    let response = route(&gateway, &tenant, &served, &request).await;
    let response = response.unwrap_or_else(IntoResponse::into_response);
    if method != Method::GET {
        tracing::info!(tenant = %tenant, method = %method, path = %crate::display::printable(&path, 200), status = response.status().as_u16(), "SCIM request");
    }
    response
}

/// The tenant the bearer token belongs to, if it is that tenant's. An unknown tenant is compared too, so that
/// a stranger learns nothing of which tenants exist.
fn authenticate(gateway: &Gateway, tenant: &str, headers: &HeaderMap) -> Option<Arc<GatewayTenant>> {
    let presented = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, token) = v.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    let digest: [u8; 32] = Sha256::digest(presented.unwrap_or_default().as_bytes()).into();
    let served = gateway.tenant(tenant);
    let expected = served.as_ref().map_or([0xA5; 32], |t| t.token);
    let differs = digest.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    (presented.is_some() && differs == 0).then_some(served).flatten()
}

/// Where this tenant's gateway is, as the client reached it (through an ingress: its forwarded host and scheme).
fn base_url(headers: &HeaderMap, tenant: &str) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(|v| v.split(',').next().unwrap_or("").trim().to_string()).filter(|v| !v.is_empty() && !v.chars().any(|c| c.is_whitespace() || "/\\\"<>".contains(c)));
    let scheme = header("x-forwarded-proto").filter(|s| s == "https" || s == "http").unwrap_or_else(|| "http".into());
    let host = header("x-forwarded-host").or_else(|| header("host")).unwrap_or_else(|| "localhost".into());
    // A path segment: every byte but RFC 3986's unreserved characters percent-encoded.
    let tenant: String = tenant.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
    format!("{scheme}://{host}/tenants/{tenant}/scim/v2")
}

async fn route(gateway: &Arc<Gateway>, tenant: &str, served: &Arc<GatewayTenant>, request: &Request) -> Result<Response, ScimError> {
    let segments: Vec<&str> = request.segments.iter().map(String::as_str).collect();
    let kind = |name: &str| match name {
        "Users" => Some(Kind::User),
        "Groups" => Some(Kind::Group),
        _ => None,
    };
    let method = &request.method;
    let write = write::Writer { gateway, tenant, served, request };
    match (method.clone(), segments.as_slice()) {
        (Method::GET, ["ServiceProviderConfig"]) => Ok(scim_json(StatusCode::OK, discovery::service_provider_config(&request.base))),
        (Method::GET, ["ResourceTypes"]) => Ok(list_of(discovery::resource_types(&request.base))),
        (Method::GET, ["ResourceTypes", name]) => one_of(discovery::resource_types(&request.base), name, "resource type"),
        (Method::GET, ["Schemas"]) => {
            let (_, types) = write.read(|_| Ok(())).await?;
            Ok(list_of(discovery::schemas(&request.base, &write.writable(&types))))
        }
        (Method::GET, ["Schemas", id]) => {
            let (_, types) = write.read(|_| Ok(())).await?;
            one_of(discovery::schemas(&request.base, &write.writable(&types)), id, "schema")
        }
        (Method::GET, [name]) if let Some(kind) = kind(name) => read::list(gateway, tenant, kind, read::ListQuery::from_request(request)?, &request.base).await,
        (Method::POST, [".search"]) => Err(ScimError::new(StatusCode::NOT_IMPLEMENTED, None, "search Users or Groups: POST /Users/.search or /Groups/.search")),
        (Method::POST, [name, ".search"]) if let Some(kind) = kind(name) => read::list(gateway, tenant, kind, read::ListQuery::from_search(&request.json()?)?, &request.base).await,
        (Method::GET, [name, id]) if let Some(kind) = kind(name) => {
            let projection = Projection::new(request.param("attributes"), request.param("excludedAttributes"));
            read::get(gateway, tenant, kind, id, projection, &request.base).await
        }
        (Method::POST, [name]) if let Some(kind) = kind(name) => write.create(kind).await,
        (Method::PUT, [name, id]) if let Some(kind) = kind(name) => write.replace(kind, id).await,
        (Method::PATCH, [name, id]) if let Some(kind) = kind(name) => write.patch(kind, id).await,
        (Method::DELETE, [name, id]) if let Some(kind) = kind(name) => write.delete(kind, id).await,
        (_, ["ServiceProviderConfig" | "ResourceTypes" | "Schemas", ..] | ["Users" | "Groups", ..]) => {
            Err(ScimError::new(StatusCode::METHOD_NOT_ALLOWED, None, format!("{method} is not supported here")))
        }
        _ => Err(ScimError::new(StatusCode::NOT_FOUND, None, "no such endpoint")),
    }
}

/// A SCIM JSON response.
fn scim_json(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, SCIM_JSON)], body.to_string()).into_response()
}

/// A `ListResponse` of discovery resources, all on one page.
fn list_of(resources: Vec<Value>) -> Response {
    scim_json(StatusCode::OK, list_response(resources.len() as u64, 1, resources))
}

fn one_of(resources: Vec<Value>, id: &str, what: &str) -> Result<Response, ScimError> {
    let found = resources.into_iter().find(|r| r["id"].as_str().is_some_and(|r| r.eq_ignore_ascii_case(id)));
    found.map(|r| scim_json(StatusCode::OK, r)).ok_or_else(|| ScimError::not_found(what, id))
}

/// A `ListResponse`: `total` results, this page's `resources` from 1-based `start_index`.
fn list_response(total: u64, start_index: u64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_url_is_the_one_the_client_reached() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "gw.internal:8443".parse().unwrap());
        assert_eq!(base_url(&headers, "acme corp"), "http://gw.internal:8443/tenants/acme%20corp/scim/v2");
        headers.insert("x-forwarded-proto", "https".parse().unwrap());
        headers.insert("x-forwarded-host", "scim.example.com, proxy".parse().unwrap());
        assert_eq!(base_url(&headers, "acme"), "https://scim.example.com/tenants/acme/scim/v2");
        headers.insert("x-forwarded-host", "evil.test/\"><script>".parse().unwrap());
        assert_eq!(base_url(&headers, "acme"), "https://gw.internal:8443/tenants/acme/scim/v2", "a forwarded host that is no host is ignored");
    }
}
