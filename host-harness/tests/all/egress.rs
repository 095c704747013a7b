//! The egress hook, driven directly as wasmtime-wasi-http drives it: only the tenant's origin is reachable,
//! credentials are the host's to add, and traffic is counted.

use std::sync::Arc;

use connector_harness::auth::{AuthPlan, Authenticator, OAuth2Plan};
use connector_harness::contract::model::{CredentialsPlacement, ParameterPlacement};
use connector_harness::egress::{EgressHooks, EgressLimits, EgressPolicy, Origin};
use connector_harness::options::RetryPolicy;
use connector_harness::secrets::{Redactor, Secret};
use connector_harness::throttle::Throttle;
use http_body_util::{BodyExt, Empty, Full};
use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, CompanySpec, DoubleOptions, Faults, PingboardDouble};
use wasmtime_wasi_http::{Error, WasiBody, WasiHttpHooks};

fn request(uri: &str) -> http::Request<WasiBody> {
    http::Request::get(uri).body(Empty::new().map_err(|never| match never {}).boxed_unsync()).unwrap()
}

async fn send(hooks: &mut EgressHooks, uri: &str) -> Result<http::Response<WasiBody>, Error> {
    let future = hooks.send_request(request(uri), None, Box::new(async { Ok(()) }));
    Box::into_pin(future).await.map(|(response, _)| response)
}

fn policy(origin: &str, auth: Authenticator) -> Arc<EgressPolicy> {
    policy_with(origin, auth, EgressLimits::default(), 1)
}

/// A policy whose throttle lets `widest` calls run at once.
fn policy_with(origin: &str, auth: Authenticator, limits: EgressLimits, widest: usize) -> Arc<EgressPolicy> {
    Arc::new(EgressPolicy::new("t", vec![Origin::parse(origin).unwrap()], limits, Arc::new(auth), Throttle::new("t", RetryPolicy::default(), widest)))
}

fn oauth(double: &PingboardDouble, secret: &str) -> Authenticator {
    Authenticator::new(
        AuthPlan::OAuth2(OAuth2Plan {
            token_url: format!("{}/oauth/token", double.base_url()),
            client_id: CLIENT_ID.into(),
            client_secret: Secret::new(secret),
            credentials_in: CredentialsPlacement::FormBody,
            grant_type_in: ParameterPlacement::Query,
            extra_params: Vec::new(),
        }),
        Redactor::default(),
    )
}

#[tokio::test]
async fn other_origins_are_refused_before_anything_is_sent() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(3))).unwrap();
    let policy = policy(&double.base_url(), oauth(&double, CLIENT_SECRET));
    let mut hooks = EgressHooks(policy.clone());
    let other_port = format!("http://127.0.0.1:{}/api/v2/users", double.addr().port() + 1);
    for uri in ["http://evil.test/steal", &other_port, &format!("https://{}/api/v2/users", double.addr())] {
        assert!(matches!(send(&mut hooks, uri).await, Err(Error::HttpRequestDenied)), "{uri} must be refused");
    }
    let stats = policy.stats.snapshot();
    assert_eq!((stats.denied, stats.requests, stats.token_requests), (3, 0, 0));
    assert_eq!(double.counts().total, 0, "no token was fetched for a refused request");
    // The first refusal is kept as the reason the tenant is stopped.
    assert_eq!(policy.stopped().as_deref(), Some(format!("egress refused: the component tried to reach http://evil.test, outside its allowed origin {}", double.base_url()).as_str()));
}

#[tokio::test]
async fn the_token_endpoint_is_the_hosts_alone() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(3))).unwrap();
    let policy = policy(&double.base_url(), oauth(&double, CLIENT_SECRET));
    let mut hooks = EgressHooks(policy.clone());
    let token_url = format!("{}/oauth/token?grant_type=client_credentials", double.base_url());
    assert!(matches!(send(&mut hooks, &token_url).await, Err(Error::HttpRequestDenied)));
    assert_eq!(policy.stopped().as_deref(), Some("egress refused: the component tried to call the token endpoint /oauth/token itself (authentication is the host's)"));
    assert_eq!(double.counts().total, 0);
}

#[tokio::test]
async fn the_host_authenticates_for_the_tenant_origin_and_reuses_its_token() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(3))).unwrap();
    let policy = policy(&double.base_url(), oauth(&double, CLIENT_SECRET));
    let mut hooks = EgressHooks(policy.clone());
    for _ in 0..3 {
        let response = send(&mut hooks, &format!("{}/api/v2/users?page=1&page_size=2", double.base_url())).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["users"].as_array().map(Vec::len), Some(2));
    }
    let stats = policy.stats.snapshot();
    assert_eq!((stats.requests, stats.token_requests), (4, 1), "one token for three calls");
    assert!(stats.bytes_received > 0);
    assert_eq!(double.counts().token, 1);
}

#[tokio::test]
async fn a_refused_secret_reaches_the_guest_as_401_and_the_reason_stays_with_the_host() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(3))).unwrap();
    let policy = policy(&double.base_url(), oauth(&double, "wrong-secret"));
    let mut hooks = EgressHooks(policy.clone());
    let response = send(&mut hooks, &format!("{}/api/v2/users", double.base_url())).await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(double.counts().users_pages, 0, "the guest's request was never sent without a token");
    let (reason, kind) = policy.auth.last_failure().unwrap();
    assert!(reason.ends_with("refused the client credentials (HTTP 401: invalid_client: Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.)"), "{reason}");
    assert_eq!(kind.name(), "needs-attention", "refused credentials need a person");
}

#[tokio::test]
async fn guests_may_not_set_credentials_or_cookies() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(1))).unwrap();
    let mut hooks = EgressHooks(policy(&double.base_url(), Authenticator::none()));
    let forbidden = hooks.forbidden_header_filter();
    for name in ["authorization", "proxy-authorization", "cookie", "host"] {
        assert!(forbidden(&http::HeaderName::from_static(name)), "{name}");
    }
    assert!(!forbidden(&http::HeaderName::from_static("accept")));
}

#[tokio::test]
async fn oversized_responses_are_cut_off() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(50))).unwrap();
    let limits = EgressLimits { max_response_bytes: 1000, ..EgressLimits::default() };
    let policy = policy_with(&double.base_url(), oauth(&double, CLIENT_SECRET), limits, 1);
    let mut hooks = EgressHooks(policy.clone());
    let response = send(&mut hooks, &format!("{}/api/v2/users?page_size=50", double.base_url())).await.unwrap();
    assert!(matches!(response.into_body().collect().await, Err(Error::HttpResponseBodySize(Some(1000)))));
    assert_eq!(policy.stopped().as_deref(), Some("the response to /api/v2/users was larger than the limit of 1000 bytes"));
}

#[tokio::test]
async fn the_token_endpoint_may_sit_on_another_origin_which_the_guest_cannot_reach() {
    use std::sync::Mutex;

    // Tokens from one server (as PingOne's auth.pingone.<tld>), the API on another (api.pingone.<tld>).
    let tokens = PingboardDouble::start(Company::generate(CompanySpec::sized(1))).unwrap();
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let recorder = seen.clone();
    let app = axum::Router::new().route(
        "/v1/things",
        axum::routing::get(move |headers: http::HeaderMap| {
            let recorder = recorder.clone();
            async move {
                recorder.lock().unwrap().push(headers.get(http::header::AUTHORIZATION).map(|v| v.to_str().unwrap().to_string()));
                "[]"
            }
        }),
    );
    let api = pingboard_double::LoopbackServer::start("api", app).unwrap();
    let policy = policy(&api.base_url(), oauth(&tokens, CLIENT_SECRET));
    let mut hooks = EgressHooks(policy.clone());

    let answer = send(&mut hooks, &format!("{}/v1/things", api.base_url())).await.unwrap();
    assert_eq!(answer.status(), 200);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].as_deref().is_some_and(|v| v.starts_with("Bearer ") && v.len() > 7), "the API got the token: {seen:?}");
    assert_eq!(tokens.counts().token, 1, "the token came from the other origin");

    for uri in [format!("{}/oauth/token", tokens.base_url()), format!("{}/api/v2/users", tokens.base_url())] {
        assert!(matches!(send(&mut hooks, &uri).await, Err(Error::HttpRequestDenied)), "{uri}: the token origin is not the guest's");
    }
    assert_eq!(tokens.counts().total, 1, "only the host's own token request reached the token origin");
    let stats = policy.stats.snapshot();
    assert_eq!((stats.requests, stats.token_requests, stats.denied), (2, 1, 2));
}

#[tokio::test]
async fn a_throttled_get_is_repeated_by_the_egress_and_a_write_is_not() {
    // Every second API call answers 429 with `Retry-After: 0`.
    let faults = Faults { rate_limit_every: Some(2), retry_after: Some("0".into()), ..Faults::default() };
    let double = PingboardDouble::start_with(Company::generate(CompanySpec::sized(3)), DoubleOptions { faults, ..DoubleOptions::default() }).unwrap();
    let policy = policy_with(&double.base_url(), oauth(&double, CLIENT_SECRET), EgressLimits::default(), 4);
    let mut hooks = EgressHooks(policy.clone());
    let users = format!("{}/api/v2/users", double.base_url());
    // Call 1 is answered; call 2 is refused and repeated as call 3, unseen by the guest.
    for _ in 0..2 {
        assert_eq!(send(&mut hooks, &users).await.unwrap().status(), 200);
    }
    assert_eq!(double.counts().total - double.counts().token, 3);
    assert_eq!(policy.throttle.totals(), (1, std::time::Duration::ZERO));
    assert_eq!(policy.throttle.window(), 2, "a 429 halves the calls at once");
    // Call 4, a write, is refused: a write is not the host's to repeat, so the guest sees the 429.
    let body = Full::new(bytes::Bytes::from_static(br#"{"users":{"first_name":"A","last_name":"B","email":"a@example.test"}}"#));
    let post = http::Request::post(&users).header("content-type", "application/json").body(body.map_err(|never| match never {}).boxed_unsync()).unwrap();
    let answered = Box::into_pin(hooks.send_request(post, None, Box::new(async { Ok(()) }))).await.map(|(response, _)| response).unwrap();
    assert_eq!(answered.status(), 429);
    assert_eq!(double.counts().total - double.counts().token, 4);
}
