//! Authentication performed by the host on the component's behalf, as its metadata declares: `none`, a static
//! bearer token, or OAuth 2.0 client credentials. Tokens are cached per tenant, refreshed once on a 401 (see
//! `egress`), added to every printed-text redaction, and never shown to the guest.
//!
//! This module builds token requests and reads token answers; it sends nothing itself. The request goes out
//! through the `TokenExchange` it is handed, which is `egress`'s one network exit (admitted, metered and timed
//! like guest traffic), so nothing here depends on `egress`.

use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde::Deserialize;
use wasmtime_wasi_http::Error;

use crate::contract::model::{CredentialsPlacement, ParameterPlacement};
use crate::failure::FailureKind;
use crate::secrets::{Redactor, Secret};

/// Sends a token request: the caller's network exit.
pub trait TokenExchange {
    /// Sends `request` and reads the answer's status, headers and body (at most `body_limit` bytes).
    fn exchange(&self, request: Request<Full<Bytes>>, body_limit: usize) -> impl Future<Output = Result<TokenAnswer, Error>> + Send;
}

/// A token endpoint's answer, read whole.
pub struct TokenAnswer {
    /// The status it answered.
    pub status: StatusCode,
    /// Its `Retry-After`, if any.
    pub retry_after: Option<HeaderValue>,
    /// Its body.
    pub body: Bytes,
}

/// How the host authenticates a tenant's requests: what the component declares, with the tenant's secrets.
pub enum AuthPlan {
    /// No authentication.
    None,
    /// A static bearer token.
    Bearer(Secret),
    /// OAuth2 client credentials, exchanged for a token by the host.
    OAuth2(OAuth2Plan),
}

/// An OAuth2 client-credentials exchange: where, as whom, and how the credentials are sent.
pub struct OAuth2Plan {
    /// Absolute URL, on an origin from the tenant's config (see `tenant::token_url`).
    pub token_url: String,
    /// The client id (plain config, or a secret).
    pub client_id: String,
    /// The client secret.
    pub client_secret: Secret,
    /// Where the credentials go: HTTP Basic, a form body or a JSON body.
    pub credentials_in: CredentialsPlacement,
    /// Where `grant_type` goes: the query or the body.
    pub grant_type_in: ParameterPlacement,
    /// Further parameters the connector declares (e.g. a scope).
    pub extra_params: Vec<(String, String)>,
}

/// What the authenticator makes of a request to the tenant's origin.
pub enum AuthOutcome {
    /// The `Authorization` value to add, if any.
    Header(Option<HeaderValue>),
    /// The token endpoint refused or failed: answer the guest with this instead of sending its request.
    Refused(Response<Full<Bytes>>),
}

struct CachedToken {
    header: HeaderValue,
    renew_at: Instant,
}

/// A tenant's authentication: its plan, and the token it caches for every session of the tenant.
pub struct Authenticator {
    plan: AuthPlan,
    cache: tokio::sync::Mutex<Option<CachedToken>>,
    redactor: Redactor,
    /// Why the latest token request failed, and whether a person must act (the credentials were refused) or the
    /// endpoint may answer later (unreachable, 5xx, 429).
    failure: std::sync::Mutex<Option<(String, FailureKind)>>,
    /// The token endpoint's refusals so far, and the latest: requests that were waiting for the token while
    /// it was refused share that answer instead of asking again, so a wrong secret costs one token request
    /// however many of a sync's instances were waiting.
    refusals: std::sync::Mutex<(u64, Option<Refusal>)>,
    /// How many of them refused the credentials themselves (400, 401, 403): final for the session that met one
    /// (see `authorization`), where an unavailable endpoint may answer the next request.
    credentials_refused: std::sync::atomic::AtomicU64,
}

/// A token endpoint's refusal, kept to answer the requests that were waiting for it.
#[derive(Clone)]
struct Refusal {
    status: http::StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Refusal {
    fn response(&self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(self.body.clone()));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        response
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    expires_in: Option<f64>,
}

const TOKEN_BODY_LIMIT: usize = 64 << 10;

impl Authenticator {
    /// An authenticator that adds nothing (a component that declares no auth, or metadata calls).
    pub fn none() -> Self {
        Self::new(AuthPlan::None, Redactor::default())
    }

    /// An authenticator for `plan`; `redactor` learns each token it gets.
    pub fn new(plan: AuthPlan, redactor: Redactor) -> Self {
        Self { plan, cache: tokio::sync::Mutex::new(None), redactor, failure: std::sync::Mutex::new(None), refusals: std::sync::Mutex::default(), credentials_refused: Default::default() }
    }

    /// The tenant's credentials: its secrets and every token obtained for it.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Where tokens come from, for OAuth 2.0.
    pub fn token_url(&self) -> Option<&str> {
        match &self.plan {
            AuthPlan::OAuth2(plan) => Some(&plan.token_url),
            _ => None,
        }
    }

    /// Whether a 401 may be cured by fetching a fresh token (OAuth2 only).
    pub fn refreshable(&self) -> bool {
        matches!(self.plan, AuthPlan::OAuth2(_))
    }

    /// Why the host could not authenticate, if its latest token request failed (already redacted), and of which
    /// kind. A guest request that came while this is set was never sent: the failure is the token endpoint's.
    pub fn last_failure(&self) -> Option<(String, FailureKind)> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether `uri` is the token endpoint, in any spelling a lenient server would route there (see `route`):
    /// the guest may never call it.
    pub fn is_token_endpoint(&self, uri: &http::Uri) -> bool {
        let AuthPlan::OAuth2(plan) = &self.plan else { return false };
        let Ok(endpoint) = plan.token_url.parse::<http::Uri>() else { return false };
        let origin = |u: &http::Uri| (u.scheme_str().map(str::to_ascii_lowercase), u.host().map(str::to_ascii_lowercase), u.port_u16());
        origin(&endpoint) == origin(uri) && route(endpoint.path()) == route(uri.path())
    }

    /// How many times the token endpoint has refused the credentials so far: a session counts from here (see
    /// `authorization`).
    pub fn credentials_refused(&self) -> u64 {
        self.credentials_refused.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The `Authorization` header for the next request, fetching a token through `exchange` when none is cached.
    /// A refusal is the answer of every request that waited for it; and once the endpoint has refused the
    /// credentials after `since` (the count when the asking session began), for the rest of that session too: the
    /// same credentials are not sent again, however the session's calls interleave. The next session asks afresh.
    pub async fn authorization(&self, exchange: &impl TokenExchange, since: u64) -> Result<AuthOutcome, Error> {
        match &self.plan {
            AuthPlan::None => Ok(AuthOutcome::Header(None)),
            AuthPlan::Bearer(secret) => Ok(AuthOutcome::Header(Some(bearer(secret.expose())?))),
            AuthPlan::OAuth2(plan) => {
                let refusals_before = self.refusals.lock().unwrap_or_else(|e| e.into_inner()).0;
                let mut cache = self.cache.lock().await;
                if let Some(token) = cache.as_ref().filter(|t| Instant::now() < t.renew_at) {
                    return Ok(AuthOutcome::Header(Some(token.header.clone())));
                }
                if let (count, Some(refusal)) = &*self.refusals.lock().unwrap_or_else(|e| e.into_inner())
                    && (*count > refusals_before || self.credentials_refused() > since)
                {
                    return Ok(AuthOutcome::Refused(refusal.response()));
                }
                *cache = None;
                // A server that reuses tokens may hand back one that is already spent (`expires_in <= 0`):
                // ask once more, and use a spent one only for this request.
                for attempt in 0..2 {
                    match self.fetch(plan, exchange).await? {
                        Fetched::Token { header, lifetime } if lifetime > Duration::ZERO => {
                            let margin = (lifetime / 10).min(Duration::from_secs(60));
                            *cache = Some(CachedToken { header: header.clone(), renew_at: Instant::now() + lifetime - margin });
                            return Ok(AuthOutcome::Header(Some(header)));
                        }
                        Fetched::Token { header, .. } if attempt == 1 => return Ok(AuthOutcome::Header(Some(header))),
                        Fetched::Token { .. } => continue,
                        Fetched::Refused(response) => {
                            let (parts, body) = response.into_parts();
                            let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_else(|never| match never {});
                            let refusal = Refusal { status: parts.status, headers: parts.headers, body };
                            let mut refusals = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
                            *refusals = (refusals.0 + 1, Some(refusal.clone()));
                            if refusal.status == StatusCode::UNAUTHORIZED {
                                self.credentials_refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            }
                            return Ok(AuthOutcome::Refused(refusal.response()));
                        }
                    }
                }
                unreachable!("the loop returns on its second attempt")
            }
        }
    }

    /// Forgets the cached token if it is the one that was refused.
    pub async fn invalidate(&self, used: Option<&HeaderValue>) {
        let mut cache = self.cache.lock().await;
        if cache.as_ref().is_some_and(|t| Some(&t.header) == used) {
            *cache = None;
        }
    }

    async fn fetch(&self, plan: &OAuth2Plan, exchange: &impl TokenExchange) -> Result<Fetched, Error> {
        let mut grant = vec![("grant_type".to_string(), "client_credentials".to_string())];
        grant.extend(plan.extra_params.iter().cloned());
        let mut url = plan.token_url.clone();
        let mut form: Vec<(String, String)> = Vec::new();
        match plan.grant_type_in {
            ParameterPlacement::Query => url = format!("{url}?{}", encode_form(&grant)),
            ParameterPlacement::FormBody => form.extend(grant),
        }
        let mut builder = Request::builder().method(Method::POST).uri(&url);
        let body = match plan.credentials_in {
            CredentialsPlacement::FormBody => {
                form.push(("client_id".into(), plan.client_id.clone()));
                form.push(("client_secret".into(), plan.client_secret.expose().to_string()));
                builder = builder.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
                encode_form(&form)
            }
            CredentialsPlacement::JsonBody => {
                let mut object = serde_json::Map::new();
                for (k, v) in form {
                    object.insert(k, v.into());
                }
                object.insert("client_id".into(), plan.client_id.clone().into());
                object.insert("client_secret".into(), plan.client_secret.expose().into());
                builder = builder.header(CONTENT_TYPE, "application/json");
                serde_json::Value::Object(object).to_string()
            }
            CredentialsPlacement::Basic => {
                let pair = format!("{}:{}", plan.client_id, plan.client_secret.expose());
                let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair));
                builder = builder.header(AUTHORIZATION, sensitive(&basic)?).header(CONTENT_TYPE, "application/x-www-form-urlencoded");
                encode_form(&form)
            }
        };
        let request = builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Error::InternalError(Some(format!("token request: {e}"))))?;
        let endpoint = plan.token_url.as_str();
        let answer = exchange.exchange(request, TOKEN_BODY_LIMIT).await.map_err(|e| {
            let reason = match &e {
                Error::HttpResponseBodySize(_) => format!("the token endpoint {endpoint} answered more than {} KiB, or was cut off", TOKEN_BODY_LIMIT >> 10),
                other => format!("the token endpoint {endpoint} could not be reached: {other}"),
            };
            self.failed(reason, e)
        })?;
        let TokenAnswer { status, retry_after, body } = answer;
        if status.is_success() {
            let parsed: Option<TokenResponse> = serde_json::from_slice(&body).ok();
            return match parsed.and_then(|t| Some((t.access_token.filter(|a| !a.is_empty())?, t.expires_in))) {
                Some((token, expires_in)) => {
                    self.redactor.add(&token);
                    *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    // No `expires_in`: assume a short life rather than forever.
                    let lifetime = Duration::from_secs_f64(expires_in.unwrap_or(300.0).max(0.0));
                    Ok(Fetched::Token { header: bearer(&token)?, lifetime })
                }
                None => Ok(self.refuse(StatusCode::BAD_GATEWAY, None, format!("the token endpoint {endpoint} answered without an access_token"), FailureKind::NeedsAttention)),
            };
        }
        // RFC 6749 §5.2: `error`, and what the server says of it (`error_description`), which names the cause
        // (an unsupported client authentication method, an unknown environment): shortened, escaped, redacted.
        let answer = serde_json::from_slice::<serde_json::Value>(&body).ok();
        let text = |key: &str| answer.as_ref().and_then(|v| v.get(key)).and_then(|e| e.as_str()).map(|t| self.redactor.redact(&crate::display::printable(t, 200)));
        let reason = match (text("error"), text("error_description")) {
            (Some(error), Some(description)) => format!(": {error}: {description}"),
            (Some(error), None) => format!(": {error}"),
            _ => String::new(),
        };
        Ok(match status.as_u16() {
            400 | 401 | 403 => self.refuse(
                StatusCode::UNAUTHORIZED,
                None,
                format!("the token endpoint {endpoint} refused the client credentials (HTTP {}{reason})", status.as_u16()),
                FailureKind::NeedsAttention,
            ),
            // 5xx, 429 and 408 pass; any other answer (a 404 for an unknown environment) is the configuration's.
            code => {
                let kind = if code >= 500 || code == 429 || code == 408 { FailureKind::Transient } else { FailureKind::NeedsAttention };
                self.refuse(status, retry_after, format!("the token endpoint {endpoint} answered HTTP {code}{reason}"), kind)
            }
        })
    }

    /// Keeps why the token endpoint could not be reached, for the host's error; the guest sees only `error`.
    fn failed(&self, reason: String, error: Error) -> Error {
        self.remember(reason, FailureKind::Transient);
        error
    }

    fn remember(&self, reason: String, kind: FailureKind) {
        let reason = self.redactor.redact(&reason);
        tracing::info!("{reason}");
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some((reason, kind));
    }

    fn refuse(&self, status: StatusCode, retry_after: Option<HeaderValue>, reason: String, kind: FailureKind) -> Fetched {
        self.remember(reason, kind);
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = status;
        if let Some(value) = retry_after {
            response.headers_mut().insert(RETRY_AFTER, value);
        }
        Fetched::Refused(response)
    }
}

enum Fetched {
    Token { header: HeaderValue, lifetime: Duration },
    Refused(Response<Full<Bytes>>),
}

fn bearer(token: &str) -> Result<HeaderValue, Error> {
    sensitive(&format!("Bearer {token}"))
}

fn sensitive(value: &str) -> Result<HeaderValue, Error> {
    let mut header = HeaderValue::from_str(value).map_err(|_| Error::InternalError(Some("a credential is not a valid header value".into())))?;
    header.set_sensitive(true);
    Ok(header)
}

/// A path as the list of segments a lenient server would route: percent-decoded (repeatedly), ASCII case
/// folded, `;parameters`, empty and `.` segments dropped, `..` applied. Stricter than any server, so no spelling
/// of the token endpoint gets past `is_token_endpoint`.
fn route(path: &str) -> Vec<String> {
    let mut text = path.to_string();
    for _ in 0..4 {
        let decoded = percent_decode(&text);
        if decoded == text {
            break;
        }
        text = decoded;
    }
    let mut segments: Vec<String> = Vec::new();
    for segment in text.to_ascii_lowercase().split(['/', '\\']) {
        match segment.split(';').next().unwrap_or("") {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other.to_string()),
        }
    }
    segments
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn encode_form(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_the_token_path_is_the_token_path() {
        let same = |a: &str, b: &str| route(a) == route(b);
        for variant in ["/oauth/token", "/oauth/token/", "/OAUTH/TOKEN", "/oauth//token", "/oauth/%74oken", "/./oauth/token", "/x/../oauth/token",
            "/oauth/token;x", "/oauth%2Ftoken", "/oauth/%2574oken", "/oauth\\token", "//oauth/token/."]
        {
            assert!(same("/oauth/token", variant), "{variant}");
        }
        for other in ["/oauth/tokens", "/oauth", "/api/v2/users", "/oauth/token/x", "/x/oauth/token"] {
            assert!(!same("/oauth/token", other), "{other}");
        }
    }
}
