//! All of a guest's network access goes through `EgressHooks::send_request`, and this module is where it is
//! policed: only the tenant's origin (never its token endpoint), capped timeouts and body sizes, a request
//! budget, counted traffic, authentication added here (the guest never holds a credential), and responses
//! withheld if they would show the guest a credential. Nothing else in the host sends guest traffic; what it
//! lets through, and the host's own token requests, leave by one call to `transport`.
//!
//! Breaking a rule stops the tenant: the request fails, and the first reason is kept (`EgressPolicy::stopped`)
//! so the runtime ends the session with it even if the guest swallows the error.
//!
//! A GET or HEAD the source throttles (429) or cannot serve now (503) is repeated here, within the tenant's
//! `Throttle`, before the guest sees it: one request is repeated, not the component call that made it.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, COOKIE, HeaderName, PROXY_AUTHORIZATION};
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full, Limited};
use wasmtime_wasi_http::{DEFAULT_FORBIDDEN_HEADERS, Error, ForbiddenHeaderFilter, RequestOptions, WasiBody, WasiHttpHooks};

use crate::auth::{AuthOutcome, Authenticator, TokenAnswer, TokenExchange};
use crate::options::RetryPolicy;
use crate::throttle::Throttle;
use crate::transport::{Failure, Transport};
use rustls::pki_types::CertificateDer;

/// An origin a tenant's component may reach: scheme, host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `http` or `https`.
    pub scheme: String,
    /// The host name, in lower case.
    pub host: String,
    /// The port, the scheme's default when none is given.
    pub port: u16,
}

impl Origin {
    /// The origin of an http(s) URL; a URL with a user name or password is refused.
    pub fn parse(base_url: &str) -> anyhow::Result<Self> {
        // Checked on the text, before anything could echo it: user info may hold a password.
        let authority = base_url.split_once("://").map_or(base_url, |(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""));
        if authority.contains('@') {
            anyhow::bail!("the base URL must not contain a user name or password (`user:password@`): give credentials as secrets");
        }
        let url = url::Url::parse(base_url).map_err(|e| anyhow::anyhow!("base URL `{base_url}` is not a URL ({e})"))?;
        let scheme = url.scheme().to_string();
        if scheme != "http" && scheme != "https" {
            anyhow::bail!("base URL `{base_url}` must use http or https");
        }
        let host = url.host_str().ok_or_else(|| anyhow::anyhow!("base URL `{base_url}` has no host"))?.to_ascii_lowercase();
        let port = url.port_or_known_default().unwrap_or(if scheme == "https" { 443 } else { 80 });
        Ok(Self { scheme, host, port })
    }

    /// Whether `uri` is on this origin.
    pub fn matches(&self, uri: &http::Uri) -> bool {
        let scheme = uri.scheme_str().unwrap_or("");
        let port = uri.port_u16().unwrap_or(if scheme == "https" { 443 } else { 80 });
        scheme == self.scheme && uri.host().is_some_and(|h| h.eq_ignore_ascii_case(&self.host)) && port == self.port
    }

    /// `path` on this origin, as a URL.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}:{}{path}", self.scheme, self.host, self.port)
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// The network limits of one tenant's requests.
#[derive(Debug, Clone)]
pub struct EgressLimits {
    /// To open a connection.
    pub connect_timeout: Duration,
    /// From sending a request to its response's head.
    pub first_byte_timeout: Duration,
    /// Between two chunks of a response body.
    pub between_bytes_timeout: Duration,
    /// The largest response body.
    pub max_response_bytes: u64,
    /// The largest request body a guest may send.
    pub max_request_bytes: usize,
    /// Requests per sync (token requests included); `None` for no limit.
    pub max_requests: Option<u64>,
    /// Requests per second over all of a tenant's instances (token requests included), spaced evenly; `None`
    /// for no cap. A source's Retry-After still holds every instance back on top of it (`Throttle`).
    pub max_requests_per_second: Option<f64>,
}

impl Default for EgressLimits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(60),
            between_bytes_timeout: Duration::from_secs(30),
            max_response_bytes: 64 << 20,
            max_request_bytes: 1 << 20,
            max_requests: None,
            max_requests_per_second: None,
        }
    }
}

impl EgressLimits {
    /// The guest may ask for shorter timeouts, never longer ones.
    fn clamp(&self, asked: Option<RequestOptions>) -> RequestOptions {
        let asked = asked.unwrap_or_default();
        let pick = |asked: Option<Duration>, cap: Duration| Some(asked.map_or(cap, |a| a.min(cap)));
        RequestOptions {
            connect_timeout: pick(asked.connect_timeout, self.connect_timeout),
            first_byte_timeout: pick(asked.first_byte_timeout, self.first_byte_timeout),
            between_bytes_timeout: pick(asked.between_bytes_timeout, self.between_bytes_timeout),
        }
    }
}

/// Traffic counters for one tenant's sync.
#[derive(Debug, Default)]
pub struct EgressStats {
    /// Requests sent to the network, token requests included.
    pub requests: AtomicU64,
    /// Token requests among them.
    pub token_requests: AtomicU64,
    /// Requests the policy refused.
    pub denied: AtomicU64,
    /// Response bytes received.
    pub bytes_received: AtomicU64,
    /// Time from sending a request to its response's head, summed, in microseconds.
    pub wait_micros: AtomicU64,
}

/// `EgressStats` read at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EgressCounts {
    /// Requests sent, token requests included.
    pub requests: u64,
    /// Token requests among them.
    pub token_requests: u64,
    /// Requests the policy refused.
    pub denied: u64,
    /// Response bytes received.
    pub bytes_received: u64,
    /// Time waiting for responses' heads, summed.
    pub wait: Duration,
}

impl EgressStats {
    /// The counters now.
    pub fn snapshot(&self) -> EgressCounts {
        EgressCounts {
            requests: self.requests.load(Ordering::SeqCst),
            token_requests: self.token_requests.load(Ordering::SeqCst),
            denied: self.denied.load(Ordering::SeqCst),
            bytes_received: self.bytes_received.load(Ordering::SeqCst),
            wait: Duration::from_micros(self.wait_micros.load(Ordering::SeqCst)),
        }
    }
}

/// One tenant's egress policy, shared by its stores.
pub struct EgressPolicy {
    /// The tenant's name, for log lines.
    pub tenant: String,
    /// Where the component may go; the first is its base URL's, the only one requests are authenticated to.
    /// None: no network at all.
    pub origins: Vec<Origin>,
    /// Timeouts and size caps.
    pub limits: EgressLimits,
    /// The tenant's traffic counters.
    pub stats: Arc<EgressStats>,
    /// The tenant's authenticator, shared by its sessions.
    pub auth: Arc<Authenticator>,
    /// The credentials refusals when this session began: a later one is final for the session.
    auth_since: u64,
    /// The sync's retry budget, hold and window, shared with the driver.
    pub throttle: Arc<Throttle>,
    transport: Transport,
    stopped: Mutex<Option<String>>,
    /// When the next request may leave, under `max_requests_per_second`.
    next_slot: Mutex<Option<std::time::Instant>>,
}

impl EgressPolicy {
    /// The policy of tenant `tenant`: reach only `origins`, within `limits`, authenticated by `auth`, slowed by `throttle`.
    pub fn new(tenant: &str, origins: Vec<Origin>, limits: EgressLimits, auth: Arc<Authenticator>, throttle: Throttle) -> Self {
        let transport = Transport::new(&[], limits.connect_timeout);
        let throttle = Arc::new(throttle);
        let auth_since = auth.credentials_refused();
        Self { tenant: tenant.to_string(), origins, limits, stats: Arc::default(), auth, auth_since, throttle, transport, stopped: Mutex::default(), next_slot: Mutex::default() }
    }

    /// The same policy, trusting `extra_roots` besides the platform's CA certificates.
    pub fn trusting(mut self, extra_roots: &[CertificateDer<'static>]) -> Self {
        if !extra_roots.is_empty() {
            self.transport = Transport::new(extra_roots, self.limits.connect_timeout);
        }
        self
    }

    /// A policy that refuses everything (for calls that need no network, such as `metadata`).
    pub fn deny_all(tenant: &str) -> Self {
        Self::new(tenant, Vec::new(), EgressLimits::default(), Arc::new(Authenticator::none()), Throttle::new(tenant, RetryPolicy::default(), 1))
    }

    /// Why the host stopped this tenant's traffic, if it did (the first reason).
    pub fn stopped(&self) -> Option<String> {
        self.stopped.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn stop(&self, reason: String) {
        // Not a warning: the reason ends the tenant's sync, and is its one error line.
        tracing::info!(tenant = %self.tenant, "{reason}");
        self.stopped.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(reason);
    }

    /// Waits for this request's turn under the tenant's requests-per-second cap: each request takes the next
    /// free slot, 1/rate after the one before, so instances running at once share the rate.
    async fn pace(&self) {
        let Some(rate) = self.limits.max_requests_per_second else { return };
        let gap = Duration::from_secs_f64(1.0 / rate);
        let slot = {
            let mut next = self.next_slot.lock().unwrap_or_else(|e| e.into_inner());
            let now = std::time::Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + gap);
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }

    /// Counts a request against the budget; false (and the tenant stopped) when the budget is spent.
    fn admit(&self) -> bool {
        let sent = self.stats.requests.fetch_add(1, Ordering::SeqCst) + 1;
        match self.limits.max_requests {
            Some(max) if sent > max => {
                self.stats.requests.fetch_sub(1, Ordering::SeqCst);
                self.stop(format!("the sync used up its budget of {max} requests"));
                false
            }
            _ => true,
        }
    }

    /// The one rule of where a guest request may go: one of its tenant's origins, never the token endpoint.
    fn check_destination(&self, uri: &http::Uri) -> Result<(), Error> {
        if self.stopped().is_some() {
            // A stopped tenant sends nothing more.
            self.stats.denied.fetch_add(1, Ordering::SeqCst);
            return Err(Error::HttpRequestDenied);
        }
        let allowed = || self.origins.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        let refusal = if self.origins.is_empty() {
            Some("the component tried to use the network in a call that has none".to_string())
        } else if !self.origins.iter().any(|o| o.matches(uri)) {
            let to = format!("{}://{}", uri.scheme_str().unwrap_or("?"), uri.authority().map_or("?", |a| a.as_str()));
            let noun = if self.origins.len() == 1 { "origin" } else { "origins" };
            Some(format!("egress refused: the component tried to reach {to}, outside its allowed {noun} {}", allowed()))
        } else if self.auth.is_token_endpoint(uri) {
            Some(format!("egress refused: the component tried to call the token endpoint {} itself (authentication is the host's)", uri.path()))
        } else {
            None
        };
        match refusal {
            Some(reason) => {
                self.stats.denied.fetch_add(1, Ordering::SeqCst);
                self.stop(reason);
                Err(Error::HttpRequestDenied)
            }
            None => Ok(()),
        }
    }

    async fn send(self: Arc<Self>, request: Request<WasiBody>, options: Option<RequestOptions>) -> Result<Response<WasiBody>, Error> {
        self.check_destination(request.uri())?;
        let path = request.uri().path().to_string();
        let options = self.limits.clamp(options);
        let (parts, body) = request.into_parts();
        // Buffered so the request can be repeated once after a refreshed token; connector requests are small.
        let body = Limited::new(body, self.limits.max_request_bytes)
            .collect()
            .await
            .map_err(|_| Error::HttpRequestBodySize(Some(self.limits.max_request_bytes as u64)))?
            .to_bytes();
        let mut refreshed = false;
        // Credentials go to the base URL's origin only; other declared origins get the request as it is.
        let authenticated = self.origins.first().is_some_and(|base| base.matches(&parts.uri));
        let repeatable = parts.method == Method::GET || parts.method == Method::HEAD;
        let mut attempt = 1;
        loop {
            let outcome = if authenticated { self.auth.authorization(self.as_ref(), self.auth_since).await? } else { AuthOutcome::Header(None) };
            let authorization = match outcome {
                AuthOutcome::Header(value) => value,
                // The token endpoint said no: the guest sees its status, and the reason is kept for the host.
                AuthOutcome::Refused(response) => return Ok(response.map(|b| b.map_err(|never| match never {}).boxed_unsync())),
            };
            let mut outgoing = Request::from_parts(parts.clone(), Full::new(body.clone()));
            if let Some(value) = &authorization {
                outgoing.headers_mut().insert(AUTHORIZATION, value.clone());
            }
            let sent = Instant::now();
            let response = self.transmit(outgoing, options).await?;
            if repeatable && let Some(wait) = self.repeat_after(&response, sent, &parts.method, &path, attempt) {
                // Dropped unread: the wait is what counts, and a slow body must not stretch it.
                drop(response);
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            if response.status() == StatusCode::UNAUTHORIZED && authorization.is_some() && !refreshed && self.auth.refreshable() {
                // A token can die early (revoked, reused past expiry): fetch a fresh one once and repeat.
                drop(response);
                self.auth.invalidate(authorization.as_ref()).await;
                refreshed = true;
                continue;
            }
            if response.headers().values().any(|v| self.auth.redactor().found_in(v.as_bytes())) {
                self.stop(format!("the response to {path} carried a credential in a header; withheld from the component"));
                return Err(Error::InternalError(Some("response withheld by the host".into())));
            }
            return Ok(self.metered(response, path));
        }
    }

    /// How long to wait before sending again a request the source throttled (429) or could not serve (503):
    /// its Retry-After, or backoff, within the attempts and the sync's retry budget; `None` to hand the
    /// response to the guest as it is (any other status, or no attempt or budget left: the guest then reports
    /// it, and the driver may repeat the call). A 429 holds back every instance and narrows the window.
    fn repeat_after<B>(&self, response: &Response<B>, sent: Instant, method: &Method, path: &str, attempt: u32) -> Option<Duration> {
        let status = response.status();
        if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::SERVICE_UNAVAILABLE {
            self.throttle.answered();
            return None;
        }
        let what = format!("{method} {path}: HTTP {}", status.as_u16());
        let throttled = status == StatusCode::TOO_MANY_REQUESTS;
        if throttled {
            self.throttle.throttled(sent, &what);
        }
        let policy = self.throttle.policy();
        if attempt >= policy.max_attempts {
            tracing::info!(tenant = %self.tenant, "{what}; no attempt left after {attempt}");
            return None;
        }
        let retry_after = response.headers().get(http::header::RETRY_AFTER).and_then(|v| v.to_str().ok());
        let wait = policy.delay(attempt, retry_after.and_then(|v| connector_model::wire::retry_after_ms(v, std::time::SystemTime::now())));
        if let Err(why) = self.throttle.spend(wait) {
            tracing::info!(tenant = %self.tenant, "{what}; not repeated: {why}");
            return None;
        }
        if throttled {
            self.throttle.hold_for(wait);
        }
        tracing::info!(tenant = %self.tenant, "{what}; attempt {} in {:.1} s", attempt + 1, wait.as_secs_f64());
        Some(wait)
    }

    /// The one network exit, for guest requests and the host's token requests alike: counted against the
    /// budget, timed, and sent with the given timeouts on the tenant's pooled connections. A certificate the
    /// tenant does not trust stops the tenant: no retry can cure it.
    async fn transmit(&self, request: Request<Full<Bytes>>, options: RequestOptions) -> Result<Response<WasiBody>, Error> {
        self.throttle.hold().await;
        self.pace().await;
        if !self.admit() {
            return Err(Error::ConnectionLimitReached);
        }
        let origin = format!("{}://{}", request.uri().scheme_str().unwrap_or("?"), request.uri().authority().map_or("?", |a| a.as_str()));
        let sent = std::time::Instant::now();
        let answer = self.transport.send(request, options).await;
        self.stats.wait_micros.fetch_add(sent.elapsed().as_micros() as u64, Ordering::Relaxed);
        match answer {
            Ok(response) => Ok(response),
            Err(Failure::Certificate(reason)) => {
                self.stop(format!(
                    "the TLS certificate of {origin} was not accepted ({reason}); if a private CA or a TLS-inspecting proxy signed it, give that CA as the tenant's ca_file"
                ));
                Err(Error::TlsCertificateError)
            }
            Err(Failure::Proxy(reason)) => {
                // A proxy that refuses or ignores the tunnel will do so again: said once, by the host.
                self.stop(reason);
                Err(Error::ConnectionRefused)
            }
            Err(Failure::Other(e)) => Err(e),
        }
    }

    fn metered<B>(self: Arc<Self>, response: Response<B>, path: String) -> Response<WasiBody>
    where
        B: Body<Data = Bytes, Error = Error> + Send + 'static,
    {
        let declared = response.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        response.map(move |inner| {
            let mut body = MeteredBody { inner: inner.boxed_unsync(), seen: 0, cut: None, tail: Vec::new(), path, policy: self };
            if declared.is_some_and(|n| n > body.policy.limits.max_response_bytes) {
                body.cut(Cut::TooLarge);
            }
            body.boxed_unsync()
        })
    }
}

impl TokenExchange for EgressPolicy {
    /// The host's token requests leave by the same exit as guest traffic, and count as requests too.
    async fn exchange(&self, request: Request<Full<Bytes>>, body_limit: usize) -> Result<TokenAnswer, Error> {
        // The host's own request gets the caps themselves as its timeouts.
        let response = self.transmit(request, self.limits.clamp(None)).await?;
        self.stats.token_requests.fetch_add(1, Ordering::SeqCst);
        let status = response.status();
        let retry_after = response.headers().get(http::header::RETRY_AFTER).cloned();
        let body = Limited::new(response.into_body(), body_limit).collect().await.map_err(|_| Error::HttpResponseBodySize(Some(body_limit as u64)))?.to_bytes();
        Ok(TokenAnswer { status, retry_after, body })
    }
}

/// The hook wasmtime-wasi-http calls for every guest request.
pub struct EgressHooks(pub Arc<EgressPolicy>);

impl WasiHttpHooks for EgressHooks {
    /// Guests may not set credentials or cookies: those are the host's to add.
    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        const HOST_ONLY: [HeaderName; 3] = [AUTHORIZATION, PROXY_AUTHORIZATION, COOKIE];
        Arc::new(|name| DEFAULT_FORBIDDEN_HEADERS.contains(name) || HOST_ONLY.contains(name))
    }

    fn send_request(
        &mut self,
        request: Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_error: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Result<(Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>), Error>> + Send> {
        let policy = self.0.clone();
        // wasmtime-wasi-http runs the request on a task of its own: it keeps the caller's span (the sync's tenant).
        let span = tracing::Span::current();
        Box::new(tracing::Instrument::instrument(
            async move {
                let response = policy.send(request, options).await?;
                Ok((response, Box::new(async { Ok(()) }) as Box<dyn Future<Output = Result<(), Error>> + Send>))
            },
            span,
        ))
    }
}

/// Counts received bytes, cuts the body off past the size cap, and withholds it if it holds a credential (a
/// source that echoes request headers would otherwise hand the guest its token).
struct MeteredBody {
    inner: WasiBody,
    seen: u64,
    cut: Option<Cut>,
    /// The end of the previous chunk, so a credential split across two chunks is still found.
    tail: Vec<u8>,
    path: String,
    policy: Arc<EgressPolicy>,
}

fn limit_text(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) { format!("{} MiB", bytes >> 20) } else { format!("{bytes} bytes") }
}

/// Why a response body was cut off.
#[derive(Clone, Copy)]
enum Cut {
    TooLarge,
    Withheld,
}

impl MeteredBody {
    /// Cuts the body off: the guest gets an error, and the tenant is stopped with the host's reason.
    fn cut(&mut self, cut: Cut) -> Error {
        if self.cut.is_none() {
            self.policy.stop(match cut {
                Cut::TooLarge => format!("the response to {} was larger than the limit of {}", self.path, limit_text(self.policy.limits.max_response_bytes)),
                Cut::Withheld => format!("the response to {} carried a credential; withheld from the component", self.path),
            });
        }
        self.cut = Some(cut);
        match cut {
            Cut::TooLarge => Error::HttpResponseBodySize(Some(self.policy.limits.max_response_bytes)),
            Cut::Withheld => Error::InternalError(Some("response withheld by the host".into())),
        }
    }

    fn check(&mut self, data: &[u8]) -> Result<(), Cut> {
        self.seen += data.len() as u64;
        self.policy.stats.bytes_received.fetch_add(data.len() as u64, Ordering::Relaxed);
        if self.seen > self.policy.limits.max_response_bytes {
            return Err(Cut::TooLarge);
        }
        let credentials = self.policy.auth.redactor();
        let overlap = credentials.longest().saturating_sub(1);
        if overlap == 0 {
            return Ok(());
        }
        let mut junction = std::mem::take(&mut self.tail);
        junction.extend_from_slice(&data[..data.len().min(overlap)]);
        if credentials.found_in(data) || credentials.found_in(&junction) {
            return Err(Cut::Withheld);
        }
        self.tail = if data.len() >= overlap { data[data.len() - overlap..].to_vec() } else { junction[junction.len().saturating_sub(overlap)..].to_vec() };
        Ok(())
    }
}

impl Body for MeteredBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        if let Some(cut) = this.cut {
            return Poll::Ready(Some(Err(this.cut(cut))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref()
                    && let Err(cut) = this.check(data)
                {
                    return Poll::Ready(Some(Err(this.cut(cut))));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_matching_is_exact_on_scheme_host_and_port() {
        let origin = Origin::parse("https://app.pingboard.com").unwrap();
        let uri = |s: &str| s.parse::<http::Uri>().unwrap();
        assert!(origin.matches(&uri("https://app.pingboard.com/api/v2/users")));
        assert!(origin.matches(&uri("https://APP.pingboard.com:443/x")));
        assert!(!origin.matches(&uri("http://app.pingboard.com/x")));
        assert!(!origin.matches(&uri("https://app.pingboard.com:8443/x")));
        assert!(!origin.matches(&uri("https://app.pingboard.com.evil.test/x")));
        assert!(!origin.matches(&uri("https://evil.test/?https://app.pingboard.com")));
        let local = Origin::parse("http://127.0.0.1:4321").unwrap();
        assert!(local.matches(&uri("http://127.0.0.1:4321/oauth/token")));
        assert!(!local.matches(&uri("http://127.0.0.1:4322/")));
        assert_eq!(Origin::parse("HTTP://Example.test").unwrap().to_string(), "http://example.test:80");
        let error = Origin::parse("http://ada:hunter2@example.test/").unwrap_err().to_string();
        assert_eq!(error, "the base URL must not contain a user name or password (`user:password@`): give credentials as secrets");
    }

    #[test]
    fn guest_timeouts_are_capped() {
        let limits = EgressLimits::default();
        let asked = RequestOptions { connect_timeout: Some(Duration::from_secs(600)), first_byte_timeout: Some(Duration::from_secs(1)), between_bytes_timeout: None };
        let got = limits.clamp(Some(asked));
        assert_eq!(got.connect_timeout, Some(limits.connect_timeout));
        assert_eq!(got.first_byte_timeout, Some(Duration::from_secs(1)));
        assert_eq!(got.between_bytes_timeout, Some(limits.between_bytes_timeout));
    }
}
