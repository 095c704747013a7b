//! `serve` throughput: how many tenants of a realistic size a replica syncs per hour, and how that scales
//! with 1, 2 and 4 replicas sharing a PostgreSQL store (real processes, a real server), beside one replica on
//! the embedded SQLite store. Every tenant is a 1,000-person Pingboard company behind the double with a
//! per-request latency, read 100 people per page; all are triggered at once and timed until each has synced
//! once.
//!
//!   cargo bench -p connector-harness --bench service [-- USERS TENANTS LATENCY_MS]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use connector_harness::store::{Store, StoreLocation};
use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, CompanySpec, Faults, PingboardDouble};
use real_servers::Postgres;

const PARALLEL: &str = "4";

struct Replica {
    child: Child,
    port: u16,
}

impl Replica {
    fn start(dir: &Path, name: &str, tenants: &Path, store: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(env!("CARGO_BIN_EXE_connector-harness"))
            .args(["--cache-dir", &dir.join("cache").display().to_string(), "serve", "--tenants", &tenants.display().to_string(), "--store", store])
            .args(["--listen", &format!("127.0.0.1:{port}"), "--replica-id", name, "--parallel", PARALLEL, "--poll", "200ms"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("{name}.log"))).unwrap())
            .spawn()
            .unwrap();
        let replica = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(300);
        while !replica.ready() {
            assert!(Instant::now() < deadline, "replica {name} never got ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        replica
    }

    fn ready(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = write!(stream, "GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let mut response = String::new();
        stream.read_to_string(&mut response).is_ok() && response.starts_with("HTTP/1.1 200")
    }

    /// CPU seconds the process has used (user and system).
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
        let ticks: u64 = fields.get(11..13).map(|f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum()).unwrap_or(0);
        ticks as f64 / 100.0
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        // SAFETY: signals our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

struct Outcome {
    wall: Duration,
    requests: u64,
    cpu: f64,
    /// The whole machine's busy CPU seconds (the double and PostgreSQL share its cores).
    machine_cpu: f64,
}

/// Busy CPU seconds of the whole machine since boot (every core; idle and iowait left out).
fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total - idle) as f64 / 100.0
}

fn run(dir: &Path, double: &PingboardDouble, store: &str, replicas: usize, tenants: usize) -> Outcome {
    let component = component_build::pingboard_component().display().to_string();
    let mut text = String::new();
    for i in 0..tenants {
        text += &format!(
            "[[tenant]]\nname = \"t{i:03}\"\ncomponent = \"{component}\"\ninterval = \"24h\"\n\
             config = {{ base_url = \"{}\", client_id = \"{CLIENT_ID}\", page_size = 100 }}\nsecrets = {{ client_secret = {{ value = \"{CLIENT_SECRET}\" }} }}\n",
            double.base_url()
        );
    }
    let file = dir.join("tenants.toml");
    std::fs::write(&file, text).unwrap();
    let running: Vec<Replica> = (0..replicas).map(|n| Replica::start(dir, &format!("replica-{n}"), &file, store)).collect();
    let cpu_before: f64 = running.iter().map(Replica::cpu_seconds).sum();
    let requests_before = double.counts().total;
    let location: StoreLocation = store.parse().unwrap();
    let machine_before = machine_busy_seconds();
    let started = Instant::now();
    let mut triggering = Store::open(&location).unwrap();
    for i in 0..tenants {
        triggering.trigger(&format!("t{i:03}")).unwrap();
    }
    loop {
        let rows = Store::open_existing(&location).unwrap().schedule().unwrap();
        if rows.iter().all(|r| r.last_outcome.as_deref() == Some("synced") && r.state == "waiting") {
            break;
        }
        assert!(rows.iter().all(|r| r.last_outcome.as_deref() != Some("failed")), "a tenant failed: {:?}", rows.iter().find(|r| r.last_error.is_some()));
        std::thread::sleep(Duration::from_millis(50));
    }
    let wall = started.elapsed();
    Outcome {
        wall,
        requests: double.counts().total - requests_before,
        cpu: running.iter().map(Replica::cpu_seconds).sum::<f64>() - cpu_before,
        machine_cpu: machine_busy_seconds() - machine_before,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let number = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (users, tenants, latency) = (number(0, 1000) as usize, number(1, 60) as usize, number(2, 100));
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(users))).unwrap();
    double.set_faults(Faults { delay: Some(Duration::from_millis(latency)), ..Faults::default() });
    let postgres = Postgres::start();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("serve: {tenants} tenants of {users} users, {latency} ms per request, --parallel {PARALLEL} per replica, {cores} cores");
    println!("| store | replicas | wall | tenants/hour | per replica | requests | replicas' CPU s per tenant | machine busy |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut first = None;
    for (store_kind, replicas) in [("SQLite", 1), ("PostgreSQL", 1), ("PostgreSQL", 2), ("PostgreSQL", 4)] {
        let dir = tempfile::tempdir().unwrap();
        let store = match store_kind {
            "SQLite" => dir.path().join("store.db").display().to_string(),
            _ => postgres.database(&format!("bench{replicas}")),
        };
        let outcome = run(dir.path(), &double, &store, replicas, tenants);
        let per_hour = tenants as f64 / outcome.wall.as_secs_f64() * 3600.0;
        let baseline = *first.get_or_insert(per_hour);
        println!(
            "| {store_kind} | {replicas} | {:.1} s | {per_hour:.0} ({:.2}×) | {:.0} | {} | {:.2} | {:.0} % |",
            outcome.wall.as_secs_f64(),
            per_hour / baseline,
            per_hour / replicas as f64,
            outcome.requests,
            outcome.cpu / tenants as f64,
            outcome.machine_cpu / outcome.wall.as_secs_f64() / cores as f64 * 100.0,
        );
    }
}
