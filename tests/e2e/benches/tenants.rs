//! What many tenants cost on one host.
//!
//!     cargo bench --bench tenants              # 100 tenants of 200 users each
//!     cargo bench --bench tenants -- 50 1000   # other tenant count and company size
//!
//! Reports, in one run:
//!   load        - loading the component with an empty precompiled cache (compile + write) versus with a warm
//!                 one (read + deserialize), each in a fresh runtime, medians of 3
//!   instantiate - a fresh sandboxed instance from the shared pre-instantiated component (pooling allocator),
//!                 and the same plus `open` (what each tenant's session costs before its first request)
//!   tenants     - wall time to sync every tenant (`fleet::sync_all`, as `sync --tenants`) with N = 1, 2, 8
//!                 at a time, against 4 Pingboard doubles on loopback, and the speed-up over N = 1

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use connector_harness::driver::{NoProgress, Progress};
use connector_harness::options::SyncOptions;
use connector_harness::egress::EgressPolicy;
use connector_harness::fleet::{Fleet, ProgressFactory};
use connector_harness::runtime::{Runtime, Sandbox};
use connector_harness::secrets::{Redactor, Secret};
use connector_harness::tenant::{ResolvedTenant, TenantSpec};
use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, CompanySpec, PingboardDouble};

const DOUBLES: usize = 4;

fn main() {
    let numbers: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let tenants = numbers.first().copied().unwrap_or(100);
    let users = numbers.get(1).copied().unwrap_or(200);
    let component = component_build::pingboard_component();
    let scratch = tempfile::tempdir().expect("scratch dir");
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    // Loading: compile versus the precompiled cache.
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for rep in 0..3 {
        let cache = scratch.path().join(format!("cache-{rep}"));
        cold.push(time(|| assert!(Runtime::new(Some(cache.clone())).unwrap().load(&component).unwrap().compiled)));
        warm.push(time(|| assert!(!Runtime::new(Some(cache.clone())).unwrap().load(&component).unwrap().compiled)));
    }
    let (cold, warm) = (median(cold), median(warm));
    println!("| load | median of 3 |\n|---|---:|");
    println!("| first load (compile + cache) | {:.1} ms |", ms(cold));
    println!("| cached load (read + deserialize) | {:.1} ms |", ms(warm));
    println!("| first / cached | {:.0}× |\n", cold.as_secs_f64() / warm.as_secs_f64());

    // Instantiation from the shared pre-instantiated component.
    let runtime = Runtime::new(Some(scratch.path().join("cache-0"))).unwrap();
    let loaded = runtime.load(&component).unwrap();
    let metadata = tokio.block_on(runtime.metadata(&loaded)).unwrap();
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(10))).unwrap();
    let resolved = ResolvedTenant::resolve(spec("probe", &component, &double), &metadata, Redactor::default()).unwrap();
    let (mut instantiate, mut open) = (Vec::new(), Vec::new());
    tokio.block_on(async {
        for _ in 0..300 {
            let started = Instant::now();
            let instance = runtime.instantiate(&loaded, Arc::new(EgressPolicy::deny_all("probe")), &Sandbox::default()).await.unwrap();
            instantiate.push(started.elapsed());
            drop(instance);
            let started = Instant::now();
            let mut instance = runtime.instantiate(&loaded, resolved.egress_policy(&Default::default()), &Sandbox::default()).await.unwrap();
            instance.open(&resolved.guest_config, resolved.granter(false)).await.unwrap();
            open.push(started.elapsed());
        }
    });
    println!("| per tenant session | median | p99 |\n|---|---:|---:|");
    for (name, samples) in [("instantiate", instantiate), ("instantiate + open", open)] {
        let (median, p99) = (median(samples.clone()), percentile(samples, 0.99));
        println!("| {name} | {:.0} µs | {:.0} µs |", micros(median), micros(p99));
    }
    println!();

    // Many tenants, N at a time.
    let doubles: Vec<PingboardDouble> = (0..DOUBLES).map(|_| PingboardDouble::start(Company::generate(CompanySpec::sized(users))).unwrap()).collect();
    println!("| tenants × users | N at a time | wall | per tenant | speed-up over N = 1 | requests | one tenant's sync: total / in component calls (HTTP waits) / store writes |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    let mut base = None;
    for parallel in [1usize, 2, 8] {
        let specs: Vec<(String, anyhow::Result<TenantSpec>)> = (0..tenants)
            .map(|i| {
                let name = format!("tenant-{i:03}");
                let spec = spec(&name, &component, &doubles[i % DOUBLES]);
                (name, Ok(spec))
            })
            .collect();
        let runtime = Arc::new(Runtime::with_pool(Some(scratch.path().join("cache-0")), parallel as u32 + 2).unwrap());
        let store = connector_harness::store::StoreLocation::Sqlite(scratch.path().join(format!("tenants-{parallel}.db")));
        let progress: ProgressFactory = Arc::new(|_: &str| Box::new(NoProgress) as Box<dyn Progress + Send>);
        let (mut synced, mut requests) = (0, 0);
        let mut split = [Duration::ZERO; 4];
        let started = Instant::now();
        let fleet = Fleet { runtime, store, options: SyncOptions::default(), parallel, progress };
        tokio
            .block_on(fleet.sync_all(specs, &Redactor::default(), |run| {
                let report = run.outcome.unwrap_or_else(|e| panic!("tenant {} failed: {e}", run.name));
                synced += 1;
                requests += report.egress.requests;
                for (sum, part) in split.iter_mut().zip([report.elapsed, report.component_time, report.egress.wait, report.store_time]) {
                    *sum += part;
                }
            }))
            .unwrap();
        let wall = started.elapsed();
        assert_eq!(synced, tenants);
        let base = *base.get_or_insert(wall);
        let [total, calls, http, store] = split.map(|d| ms(d) / tenants as f64);
        println!(
            "| {tenants} × {users} | {parallel} | {:.2} s | {:.1} ms | {:.2}× | {requests} | {total:.1} / {calls:.1} ({http:.1}) / {store:.1} ms |",
            wall.as_secs_f64(),
            ms(wall) / tenants as f64,
            base.as_secs_f64() / wall.as_secs_f64(),
        );
    }
}

fn spec(name: &str, component: &Path, double: &PingboardDouble) -> TenantSpec {
    TenantSpec {
        name: name.into(),
        component: Some(PathBuf::from(component)),
        config: BTreeMap::from([("base_url".into(), double.base_url()), ("client_id".into(), CLIENT_ID.into())]),
        secrets: BTreeMap::from([("client_secret".into(), Secret::new(CLIENT_SECRET))]),
        ..TenantSpec::default()
    }
}

fn time(f: impl FnOnce()) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn percentile(mut samples: Vec<Duration>, p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
