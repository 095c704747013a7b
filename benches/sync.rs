//! How close a sync comes to the physical floor, and what the sandbox costs.
//!
//!     cargo bench --bench sync                 # 1,000 / 10,000 / 100,000 users
//!     cargo bench --bench sync -- 1000 5000    # other sizes
//!
//! For each company size, against the same Pingboard double on loopback, interleaved and repeated:
//!   floor     - a plain native loop: token, every users and groups page, parsed as JSON; no store
//!   native    - the connector's own core (API client + mapping) compiled natively, writing the same store
//!   component - the real thing: harness → wasm component → double → store
//! and reports wall time (median), requests, bytes, peak guest linear memory, peak host RSS, µs per user.

use std::cell::Cell;
use std::path::Path;
use std::time::{Duration, Instant};

use connector_harness::bindings as w;
use connector_harness::driver::{NoProgress, OpenSession, Start, SyncOptions};
use connector_harness::runtime::{LoadedComponent, Runtime};
use connector_harness::secrets::Secret;
use connector_harness::store::Store;
use connector_harness::tenant::{ResolvedTenant, TenantSpec};
use connector_sdk::ConnectorSession as _;
use connector_sdk::http::{HttpClient, Request, Response};
use connector_sdk::model as m;
use pingboard_connector::connector::{Pingboard, Session};
use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, CompanySpec, PingboardDouble};

const PAGE_SIZE: usize = 1000;

#[derive(Clone, Debug, Default)]
struct Run {
    wall: Duration,
    requests: u64,
    bytes: u64,
    peak_guest: Option<usize>,
    peak_rss: u64,
    /// component only: time in component calls, in HTTP waits, in store writes.
    split: Option<(Duration, Duration, Duration)>,
}

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![1_000, 10_000, 100_000] } else { sizes };
    let scratch = tempfile::tempdir().expect("scratch dir");
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let runtime = Runtime::new(Some(scratch.path().join("cache"))).unwrap();
    let component = runtime.load(&component_build::pingboard_component()).unwrap();
    let metadata = tokio.block_on(runtime.metadata(&component)).unwrap();
    println!("| users | groups | variant | wall (median) | requests | bytes received | peak guest memory | peak host RSS | µs per user |");
    println!("|---:|---:|---|---:|---:|---:|---:|---:|---:|");
    let mut summary = Vec::new();
    for &users in &sizes {
        let company = Company::generate(CompanySpec::sized(users));
        let groups = company.groups.len();
        let double = PingboardDouble::start(company).unwrap();
        let repetitions = if users >= 100_000 { 1 } else if users >= 10_000 { 3 } else { 5 };
        let (mut floors, mut natives, mut components) = (Vec::new(), Vec::new(), Vec::new());
        for rep in 0..repetitions {
            let store = |name: &str| scratch.path().join(format!("{name}-{users}-{rep}.db"));
            floors.push(measure(|| floor(&double)));
            natives.push(measure(|| native(&double, &store("native"))));
            components.push(measure(|| tokio.block_on(component_sync(&runtime, &component, &metadata, &double, &store("component")))));
        }
        let (floor, native, component) = (median(floors), median(natives), median(components));
        for (name, run) in [("floor", &floor), ("native", &native), ("component", &component)] {
            println!(
                "| {users} | {groups} | {name} | {:.1} ms | {} | {:.1} MiB | {} | {:.0} MiB | {:.1} |",
                ms(run.wall),
                run.requests,
                run.bytes as f64 / 1048576.0,
                run.peak_guest.map_or("—".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0)),
                run.peak_rss as f64 / 1024.0,
                run.wall.as_secs_f64() * 1e6 / users as f64,
            );
        }
        summary.push((users, floor, native, component));
    }
    println!("\n| users | component / floor | component / native | requests (floor = component) | component time: in component calls / HTTP waits / store writes |");
    println!("|---:|---:|---:|---|---|");
    for (users, floor, native, component) in summary {
        let (calls, http, store) = component.split.unwrap_or_default();
        println!(
            "| {users} | {:.2} | {:.2} | {} = {} | {:.0} / {:.0} / {:.0} ms |",
            component.wall.as_secs_f64() / floor.wall.as_secs_f64(),
            component.wall.as_secs_f64() / native.wall.as_secs_f64(),
            floor.requests,
            component.requests,
            ms(calls),
            ms(http),
            ms(store),
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by_key(|r| r.wall);
    runs[runs.len() / 2].clone()
}

/// Runs `f` with the process's peak RSS reset first, and records the peak it reached.
fn measure(f: impl FnOnce() -> Run) -> Run {
    // Linux: writing 5 to clear_refs resets VmHWM, so each variant's peak is its own.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let mut run = f();
    run.peak_rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0);
    run
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

fn read_body(response: ureq::http::Response<ureq::Body>) -> Vec<u8> {
    response.into_body().with_config().limit(256 << 20).read_to_vec().expect("response body")
}

fn token(agent: &ureq::Agent, double: &PingboardDouble) -> String {
    let url = format!("{}/oauth/token?grant_type=client_credentials", double.base_url());
    let body = read_body(agent.post(&url).send_form([("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)]).unwrap());
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    json["access_token"].as_str().unwrap().to_string()
}

/// The floor: fetch and parse every page, nothing else.
fn floor(double: &PingboardDouble) -> Run {
    let started = Instant::now();
    let agent = agent();
    let bearer = format!("Bearer {}", token(&agent, double));
    let (mut requests, mut bytes) = (1, 0);
    for collection in ["users", "groups"] {
        let mut page = 1;
        loop {
            let url = format!("{}/api/v2/{collection}?page={page}&page_size={PAGE_SIZE}", double.base_url());
            let body = read_body(agent.get(&url).header("authorization", &bearer).call().unwrap());
            requests += 1;
            bytes += body.len() as u64;
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            std::hint::black_box(&json[collection]);
            if page >= json["meta"][collection]["page_count"].as_u64().unwrap() as usize {
                break;
            }
            page += 1;
        }
    }
    Run { wall: started.elapsed(), requests, bytes, ..Run::default() }
}

/// The connector core over native HTTP, with the host's part (a bearer token) done inline.
struct NativeHttp {
    agent: ureq::Agent,
    bearer: String,
    requests: Cell<u64>,
    bytes: Cell<u64>,
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

fn native(double: &PingboardDouble, store_path: &Path) -> Run {
    let started = Instant::now();
    let agent = agent();
    let bearer = format!("Bearer {}", token(&agent, double));
    let http = NativeHttp { agent, bearer, requests: Cell::new(1), bytes: Cell::new(0) };
    let config = vec![("base_url".to_string(), double.base_url()), ("page_size".to_string(), PAGE_SIZE.to_string())];
    let session = Session::open(&http, &config, false).unwrap();
    let mut store = Store::open(store_path).unwrap();
    let lease = store.begin_sync("bench", "pingboard", "native", "native").unwrap();
    let types: Vec<w::ResourceType> = session.resource_types().unwrap().into_iter().map(resource_type).collect();
    let capabilities: Vec<w::ResourceTypeCapabilities> = <Pingboard as connector_sdk::Connector>::metadata().capabilities.into_iter().map(capability).collect();
    store.put_resource_types(lease.sync, &types, &capabilities).unwrap();
    for listed in capabilities.iter().filter(|c| c.listed_with.is_none()) {
        let mut token: Option<String> = None;
        loop {
            let page = session.list_resources(&listed.resource_type, None, token.as_deref()).unwrap();
            let resources: Vec<w::Resource> = page.resources.into_iter().map(resource).collect();
            let entitlements: Vec<w::Entitlement> = page.entitlements.into_iter().map(entitlement).collect();
            let grants: Vec<w::Grant> = page.grants.into_iter().map(grant).collect();
            store.put_page(&lease, &resources, &entitlements, &grants, "{}").unwrap();
            match page.next_token {
                Some(next) => token = Some(next),
                None => break,
            }
        }
    }
    store.finish_sync(&lease, http.requests.get(), http.bytes.get()).unwrap();
    Run { wall: started.elapsed(), requests: http.requests.get(), bytes: http.bytes.get(), ..Run::default() }
}

async fn component_sync(runtime: &Runtime, component: &LoadedComponent, metadata: &w::ConnectorMetadata, double: &PingboardDouble, store_path: &Path) -> Run {
    let started = Instant::now();
    let mut spec = TenantSpec { name: "bench".into(), ..TenantSpec::default() };
    spec.config.insert("base_url".into(), double.base_url());
    spec.config.insert("client_id".into(), CLIENT_ID.into());
    spec.config.insert("page_size".into(), PAGE_SIZE.to_string());
    spec.secrets.insert("client_secret".into(), Secret::new(CLIENT_SECRET));
    let tenant = ResolvedTenant::resolve(spec, metadata, Default::default()).unwrap();
    let options = SyncOptions::default();
    let mut session = OpenSession::open(runtime, component, &tenant, &options, false).await.unwrap();
    let mut store = Store::open(store_path).unwrap();
    let report = session.sync(component, metadata, &mut store, &options, &NoProgress, Start::Fresh).await.unwrap();
    Run {
        wall: started.elapsed(),
        requests: report.egress.requests,
        bytes: report.egress.bytes_received,
        peak_guest: Some(report.peak_guest_memory),
        peak_rss: 0,
        split: Some((report.component_time, report.egress.wait, report.store_time)),
    }
}

// The native core's types → the contract's, as the component's boundary does it.

fn id(r: m::ResourceId) -> w::ResourceId {
    w::ResourceId { resource_type: r.resource_type, id: r.id }
}

fn resource_type(t: m::ResourceType) -> w::ResourceType {
    let traits = t.traits.iter().map(|k| match k {
        m::TraitKind::User => w::TraitKind::User,
        m::TraitKind::Group => w::TraitKind::Group,
        m::TraitKind::Role => w::TraitKind::Role,
        m::TraitKind::App => w::TraitKind::App,
    });
    w::ResourceType { id: t.id.into(), display_name: t.display_name.into(), traits: traits.collect(), description: t.description.map(Into::into) }
}

fn capability(c: m::ResourceTypeCapabilities) -> w::ResourceTypeCapabilities {
    let f = c.capabilities;
    let mut flags = w::Capability::empty();
    for (on, flag) in [(f.list, w::Capability::LIST), (f.inline_entitlements, w::Capability::INLINE_ENTITLEMENTS), (f.inline_grants, w::Capability::INLINE_GRANTS)] {
        if on {
            flags |= flag;
        }
    }
    w::ResourceTypeCapabilities { resource_type: c.resource_type.into(), capabilities: flags, listed_with: c.listed_with.map(Into::into) }
}

fn resource(r: m::Resource) -> w::Resource {
    w::Resource {
        id: id(r.id),
        parent: r.parent.map(id),
        display_name: r.display_name,
        description: r.description,
        status: w::ResourceStatus { kind: w::StatusKind::Enabled, detail: r.status.detail },
        user: r.user.map(|u| w::UserTrait {
            emails: u.emails.into_iter().map(|e| w::Email { address: e.address, primary: e.primary }).collect(),
            login: u.login,
            login_aliases: u.login_aliases,
            employee_ids: u.employee_ids,
            name: u.name.map(|n| w::StructuredName { given_name: n.given_name, family_name: n.family_name, middle_names: n.middle_names, prefix: n.prefix, suffix: n.suffix }),
            account_type: w::AccountType::Human,
            manager_id: u.manager_id,
            title: u.title,
            department_ids: u.department_ids,
            location_ids: u.location_ids,
            start_date: u.start_date,
            time_zone: u.time_zone,
            locale: u.locale,
            nickname: u.nickname,
            phone_numbers: u.phone_numbers,
            photo_url: u.photo_url,
        }),
        group: r.group.map(|g| w::GroupTrait { source_kind: g.source_kind, member_count: g.member_count }),
        profile: r.profile,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

fn entitlement(e: m::Entitlement) -> w::Entitlement {
    w::Entitlement {
        id: e.id,
        resource: id(e.resource),
        display_name: e.display_name,
        description: e.description,
        slug: e.slug,
        purpose: w::EntitlementPurpose::Assignment,
        grantable_to: e.grantable_to,
    }
}

fn grant(g: m::Grant) -> w::Grant {
    w::Grant { id: g.id, entitlement: g.entitlement, principal: id(g.principal) }
}
