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

use std::path::Path;
use std::time::{Duration, Instant};

use connector_harness::driver::{NoProgress, OpenSession, Start};
use connector_harness::options::SyncOptions;
use connector_harness::runtime::{LoadedComponent, Runtime};
use connector_harness::secrets::Secret;
use connector_harness::store::{Store, StoreLocation};
use connector_harness::tenant::{ResolvedTenant, TenantSpec};
use connector_sdk::Connector as _;
use connector_sdk::model::Metadata;
use pingboard_connector::connector::{Pingboard, Session};

// The native lane's loop, shared with the test that both lanes store the same bytes.
use e2e::native::{NativeHttp, agent, read_body, token};
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
    // `--concurrency N` for the component lane (the harness's default otherwise).
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let concurrency = args.iter().position(|a| a == "--concurrency").map(|at| args[at + 1].parse::<usize>().expect("--concurrency N"));
    let sizes: Vec<usize> = args.iter().enumerate().filter(|(i, _)| *i == 0 || args[i - 1] != "--concurrency").filter_map(|(_, a)| a.parse().ok()).collect();
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
            components.push(measure(|| tokio.block_on(component_sync(&runtime, &component, &metadata, &double, &store("component"), concurrency))));
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

/// The floor: fetch and parse every page, nothing else.
fn floor(double: &PingboardDouble) -> Run {
    let started = Instant::now();
    let agent = agent();
    let bearer = format!("Bearer {}", token(&agent, &double.base_url(), CLIENT_ID, CLIENT_SECRET));
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
fn native(double: &PingboardDouble, store_path: &Path) -> Run {
    let started = Instant::now();
    let http = NativeHttp::new(&double.base_url(), CLIENT_ID, CLIENT_SECRET);
    let config = vec![("base_url".to_string(), double.base_url()), ("page_size".to_string(), PAGE_SIZE.to_string())];
    let session = Session::open(&http, &config, false).unwrap();
    let mut store = Store::open(&StoreLocation::Sqlite(store_path.to_path_buf())).unwrap();
    e2e::native::sync_natively(&session, &Pingboard::metadata(), &mut store, "bench", || http.traffic());
    let (requests, bytes) = http.traffic();
    Run { wall: started.elapsed(), requests, bytes, ..Run::default() }
}

async fn component_sync(runtime: &Runtime, component: &LoadedComponent, metadata: &Metadata, double: &PingboardDouble, store_path: &Path, concurrency: Option<usize>) -> Run {
    let started = Instant::now();
    let mut spec = TenantSpec { name: "bench".into(), ..TenantSpec::default() };
    spec.config.insert("base_url".into(), double.base_url());
    spec.config.insert("client_id".into(), CLIENT_ID.into());
    spec.config.insert("page_size".into(), PAGE_SIZE.to_string());
    spec.secrets.insert("client_secret".into(), Secret::new(CLIENT_SECRET));
    let tenant = ResolvedTenant::resolve(spec, metadata, Default::default()).unwrap();
    let mut options = SyncOptions::default();
    if let Some(n) = concurrency {
        options.concurrency = n;
    }
    let mut session = OpenSession::open_for_sync(runtime, component, &tenant, &options).await.unwrap();
    let mut store = Store::open(&StoreLocation::Sqlite(store_path.to_path_buf())).unwrap();
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
