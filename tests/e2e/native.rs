//! A sync without the sandbox: a connector's own core called in-process, each listed type's pages written to
//! the store as the harness's driver writes a component's. One copy, shared by the native lane of
//! `tests/e2e/benches/sync.rs` and the test that both lanes store the same bytes.

use std::cell::Cell;

use connector_harness::store::{Store, SyncId};
use connector_sdk::ConnectorSession;
use connector_sdk::http::{HttpClient, Request, Response};
use connector_sdk::model::Metadata;

/// Plain HTTP for the native core: the OAuth token fetched up front (the host's job in a component sync),
/// then GETs with it, counted.
pub struct NativeHttp {
    agent: ureq::Agent,
    bearer: String,
    requests: Cell<u64>,
    bytes: Cell<u64>,
}

impl NativeHttp {
    /// Fetches a token from `base_url`'s `/oauth/token` with the grant type in the query, as Pingboard wants.
    pub fn new(base_url: &str, client_id: &str, client_secret: &str) -> Self {
        let agent = agent();
        let bearer = format!("Bearer {}", token(&agent, base_url, client_id, client_secret));
        Self { agent, bearer, requests: Cell::new(1), bytes: Cell::new(0) }
    }

    /// (requests, bytes received), the token request included.
    pub fn traffic(&self) -> (u64, u64) {
        (self.requests.get(), self.bytes.get())
    }
}

impl HttpClient for NativeHttp {
    fn send(&self, request: &Request) -> connector_sdk::Result<Response> {
        let response = self.agent.get(&request.url).header("authorization", &self.bearer).call().unwrap();
        let status = response.status().as_u16();
        let body = read_body(response);
        self.requests.set(self.requests.get() + 1);
        self.bytes.set(self.bytes.get() + body.len() as u64);
        Ok(Response { status, retry_after: None, body })
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

pub fn read_body(response: ureq::http::Response<ureq::Body>) -> Vec<u8> {
    response.into_body().with_config().limit(256 << 20).read_to_vec().expect("response body")
}

pub fn token(agent: &ureq::Agent, base_url: &str, client_id: &str, client_secret: &str) -> String {
    let url = format!("{base_url}/oauth/token?grant_type=client_credentials");
    let body = read_body(agent.post(&url).send_form([("client_id", client_id), ("client_secret", client_secret)]).unwrap());
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    json["access_token"].as_str().unwrap().to_string()
}

/// Lists every type of `metadata` that is not listed with another into a new complete sync of `tenant`;
/// `traffic` gives (requests, bytes received) at the end. Panics on any error: it is a test and bench helper.
pub fn sync_natively(session: &impl ConnectorSession, metadata: &Metadata, store: &mut Store, tenant: &str, traffic: impl Fn() -> (u64, u64)) -> SyncId {
    let lease = store.begin_sync(tenant, &metadata.name, &metadata.version, "native").unwrap();
    let types = session.resource_types().unwrap();
    store.put_resource_types(lease.sync, &types, &metadata.capabilities).unwrap();
    for listed in metadata.capabilities.iter().filter(|c| c.listed_with.is_none()) {
        // Every page, one after another: a page's next token at once (the session holds what it needs, as
        // the driver keeps it on its instance), then the independent tokens.
        let mut tokens: std::collections::VecDeque<Option<String>> = [None].into();
        while let Some(token) = tokens.pop_front() {
            let page = session.list_resources(&listed.resource_type, None, token.as_deref()).unwrap();
            store.put_page(&lease, page.resources, page.entitlements, page.grants, "{}").unwrap();
            tokens.extend(page.independent_tokens.into_iter().map(Some));
            if let Some(next) = page.next_token {
                tokens.push_front(Some(next));
            }
        }
    }
    let (requests, bytes) = traffic();
    store.finish_sync(&lease, requests, bytes).unwrap();
    lease.sync
}
