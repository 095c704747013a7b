//! `serve` as a real process against the Pingboard double: tenants synced on their intervals, a broken one shown
//! as needing attention, probes, metrics and the status page; SIGTERM drains and hands an unfinished sync back;
//! SIGKILL loses nothing (the next replica resumes the same sync). On PostgreSQL, replicas share the work
//! (`replicas.rs`).

mod flows;
mod gateway;
mod metrics;
mod page;
mod reload;
mod replicas;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, CompanySpec, Faults, PingboardDouble};

use crate::cli;

/// The SQLite store of a test's directory.
fn sqlite_store(dir: &Path) -> String {
    dir.join("store.db").display().to_string()
}

/// A tenants file of Pingboard tenants on the double: (name, secret, interval).
fn tenants_file(dir: &Path, double: &PingboardDouble, tenants: &[(&str, &str, &str)]) -> PathBuf {
    let component = component_build::pingboard_component().display().to_string();
    let mut text = String::new();
    for (name, secret, interval) in tenants {
        text += &format!(
            "[[tenant]]\nname = \"{name}\"\ncomponent = \"{component}\"\ninterval = \"{interval}\"\n\
             config = {{ base_url = \"{}\", client_id = \"{CLIENT_ID}\", page_size = 100 }}\nsecrets = {{ client_secret = {{ value = \"{secret}\" }} }}\n",
            double.base_url()
        );
    }
    let path = dir.join("tenants.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Replaces `path` as an editor or `kubectl` would: whole, never seen half-written.
fn write_whole(path: &Path, text: &str) {
    let swapping = path.with_extension("swp");
    std::fs::write(&swapping, text).unwrap();
    std::fs::rename(&swapping, path).unwrap();
}

/// A `serve` process, killed when dropped.
struct Replica {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Replica {
    fn start(dir: &Path, name: &str, tenants: &Path, store: &str, extra: &[&str]) -> Self {
        let replica = Self::spawn(dir, name, tenants, store, extra);
        replica.until_ready()
    }

    fn spawn(dir: &Path, name: &str, tenants: &Path, store: &str, extra: &[&str]) -> Self {
        Self::spawn_with_clock(None, dir, name, tenants, store, extra)
    }

    /// A replica whose clock runs `ahead` (`20s`) of the machine's, by Debian's `faketime`.
    fn spawn_ahead(ahead: &str, dir: &Path, name: &str, tenants: &Path, store: &str, extra: &[&str]) -> Self {
        Self::spawn_with_clock(Some(ahead), dir, name, tenants, store, extra)
    }

    /// The port is the OS's pick, released before the replica binds it: if another test's server took it
    /// meanwhile, the replica says it cannot listen and exits, and is started again on another.
    fn spawn_with_clock(ahead: Option<&str>, dir: &Path, name: &str, tenants: &Path, store: &str, extra: &[&str]) -> Self {
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let mut replica = Self::spawn_on(port, ahead, dir, name, tenants, store, extra);
            if !replica.lost_its_port() {
                return replica;
            }
        }
        panic!("replica {name} found no free port");
    }

    fn spawn_on(port: u16, ahead: Option<&str>, dir: &Path, name: &str, tenants: &Path, store: &str, extra: &[&str]) -> Self {
        let log = dir.join(format!("{name}.log"));
        let cache = dir.join("cache");
        let mut args: Vec<String> = [
            "--cache-dir", cache.to_str().unwrap(), "--log-format", "json", "serve", "--tenants", tenants.to_str().unwrap(),
            "--store", store, "--listen", &format!("127.0.0.1:{port}"), "--replica-id", name,
            "--poll", "200ms", "--jitter", "0", "--backoff", "1s", "--lease-ttl", "4s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let binary = env!("CARGO_BIN_EXE_connector-harness");
        let mut command = match ahead {
            None => Command::new(binary),
            Some(ahead) => {
                let mut skewed = Command::new("faketime");
                skewed.args(["-f", &format!("+{ahead}"), binary]);
                skewed
            }
        };
        let child = command
            .args(&args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start a replica ({e}); a skewed one needs Debian's `faketime`"));
        Self { child, port, log }
    }

    /// Whether the replica exited because its port was taken. It binds its port before anything else, so
    /// either it logs that it serves, or it exits, soon; a replica doing neither within 10 s is left to the test.
    fn lost_its_port(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return self.log().contains(&format!("cannot listen on 127.0.0.1:{}", self.port));
            }
            if self.log().contains("\"serving\"") {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn until_ready(mut self) -> Self {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.get("/readyz").0 != 200 {
            let exited = self.child.try_wait().unwrap();
            assert!(exited.is_none() && Instant::now() < deadline, "the replica never got ready ({exited:?}); log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        self
    }

    /// (status, body) of a GET, or (0, why) when nothing answers.
    fn get(&self, path: &str) -> (u16, String) {
        Self::get_on(self.port, path)
    }

    /// `get`, on a replica's port.
    fn get_on(port: u16, path: &str) -> (u16, String) {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return (0, "no connection".into()) };
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let mut response = String::new();
        if stream.read_to_string(&mut response).is_err() {
            return (0, "no answer".into());
        }
        let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        (status, body)
    }

    /// A metric's value, summed over the series whose labels contain every one of `labels`.
    fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        let (_, text) = self.get("/metrics");
        text.lines()
            .filter(|l| l.starts_with(name) && labels.iter().all(|label| l.contains(label)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    #[track_caller]
    fn wait_for(&self, what: &str, timeout: Duration, mut done: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: sends a signal to our own child process.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
    }

    /// Waits for the process to exit; its exit code.
    fn exit_code(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "the replica did not exit; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status_json(store: &str) -> Vec<serde_json::Value> {
    let (code, out, err) = cli(&["status".into(), "--store".into(), store.into(), "--json".into()]);
    assert_eq!(code, 0, "{err}");
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn tenant_status(store: &str, tenant: &str) -> serde_json::Value {
    status_json(store).into_iter().find(|t| t["tenant"] == tenant).unwrap()
}

fn export(store: &str, tenant: &str) -> String {
    let (code, out, err) = cli(&["export".into(), "--store".into(), store.into(), "--tenant".into(), tenant.into(), "--format".into(), "jsonl".into()]);
    assert_eq!(code, 0, "{err}");
    out
}

fn trigger(store: &str, tenant: &str) {
    let (code, _, err) = cli(&["trigger".into(), tenant.into(), "--store".into(), store.into()]);
    assert_eq!(code, 0, "{err}");
}

/// The export of one clean `sync` of the double into a store of its own.
fn clean_export(double: &PingboardDouble, dir: &Path) -> String {
    let store = dir.join("clean.db").display().to_string();
    let (code, _, err) = cli(&[
        "--cache-dir".into(), dir.join("cache").display().to_string(), "sync".into(), "--component".into(),
        component_build::pingboard_component().display().to_string(), "--store".into(), store.clone(), "--tenant".into(), "acme".into(),
        "--config".into(), format!("base_url={}", double.base_url()), "--config".into(), format!("client_id={CLIENT_ID}"),
        "--secret".into(), format!("client_secret={CLIENT_SECRET}"), "--config".into(), "page_size=100".into(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = cli(&["export".into(), "--store".into(), store, "--tenant".into(), "acme".into(), "--format".into(), "jsonl".into()]);
    assert_eq!(code, 0, "{err}");
    out
}

#[test]
fn serve_keeps_tenants_fresh_shows_what_needs_attention_and_drains_on_sigterm() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(450))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path());
    let clean = clean_export(&double, dir.path());
    let wrong_secret = "not-the-secret-0a9f";
    let tenants = tenants_file(dir.path(), &double, &[("acme", CLIENT_SECRET, "2s"), ("beta", CLIENT_SECRET, "2s"), ("broken", wrong_secret, "2s")]);
    let mut replica = Replica::start(dir.path(), "replica-a", &tenants, &store, &["--parallel", "2", "--attention-backoff", "1h"]);
    assert_eq!(replica.get("/healthz"), (200, "ok\n".into()));

    // Each good tenant syncs again and again, an interval apart; the broken one fails once and waits.
    replica.wait_for("three syncs of each good tenant", Duration::from_secs(120), |r| {
        r.metric("harness_syncs_total", &["tenant=\"acme\"", "outcome=\"synced\""]) >= 3.0
            && r.metric("harness_syncs_total", &["tenant=\"beta\"", "outcome=\"synced\""]) >= 3.0
    });
    assert_eq!(export(&store, "acme"), clean, "the service's sync equals a clean one");
    assert_eq!(export(&store, "beta"), clean);
    let broken = tenant_status(&store, "broken");
    assert_eq!((&broken["state"], &broken["last_outcome"], &broken["failures"]), (&"needs-attention".into(), &"failed".into(), &1.into()), "{broken}");
    let error = broken["last_error"].as_str().unwrap();
    assert!(error.starts_with("authentication failed: "), "{error}");
    let next_run = broken["next_run_ms"].as_i64().unwrap() - broken["last_finished_ms"].as_i64().unwrap();
    assert!((1_800_000..=3_600_000).contains(&next_run), "retried gently, not in a loop: in {next_run} ms");
    assert_eq!(replica.metric("harness_syncs_total", &["tenant=\"broken\""]), 1.0, "one attempt, no tight loop");
    assert_eq!(replica.metric("harness_tenant_state", &["tenant=\"broken\"", "state=\"needs-attention\""]), 1.0);
    assert_eq!(replica.metric("harness_tenant_consecutive_failures", &["tenant=\"broken\""]), 1.0);
    // A failed sync counts its kind and its traffic: the token request the source refused.
    assert_eq!(replica.metric("harness_sync_failures_total", &["tenant=\"broken\"", "kind=\"needs-attention\""]), 1.0);
    assert_eq!(replica.metric("harness_sync_requests_total", &["tenant=\"broken\""]), 1.0);
    assert_eq!(replica.metric("harness_build_info", &[]), 1.0);
    let acme = tenant_status(&store, "acme");
    assert_eq!(acme["failures"], 0);
    assert!(acme["last_counts"].as_str().unwrap().contains(", 450 user; "), "{acme}");

    let (status, page) = replica.get("/");
    assert_eq!(status, 200);
    assert!(page.contains("<tr class=\"failing\"><td><a href=\"/tenants/broken\">broken</a></td><td><span class=\"badge failing\">needs-attention</span></td>"), "{page}");
    assert!(page.contains("<tr class=\"healthy\"><td><a href=\"/tenants/acme\">acme</a>") && page.contains("<tr class=\"healthy\"><td><a href=\"/tenants/beta\">beta</a>"), "{page}");
    let (code, table, _) = cli(&["status".into(), "--store".into(), store.clone()]);
    assert_eq!(code, 0);
    assert!(table.starts_with("TENANT  STATE"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("broken  needs-attention  failed ")), "{table}");

    // `trigger` runs the broken tenant now, not in an hour.
    trigger(&store, "broken");
    replica.wait_for("the triggered run", Duration::from_secs(30), |r| r.metric("harness_syncs_total", &["tenant=\"broken\""]) >= 2.0);
    replica.wait_for("the failure recorded", Duration::from_secs(10), |_| tenant_status(&store, "broken")["failures"] == 2);

    // No secret anywhere a person or a log pipeline reads.
    let log = replica.log();
    for text in [&log, &page, &table, &replica.get("/metrics").1] {
        assert!(!text.contains(wrong_secret) && !text.contains(CLIENT_SECRET), "a secret leaked");
    }
    for line in log.lines() {
        let parsed: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(parsed["level"].is_string() && parsed["message"].is_string(), "{line}");
    }
    // Numbers are fields of their own, for a log pipeline to sum.
    let synced: serde_json::Value = log.lines().rev().find(|l| l.contains("\"message\":\"synced\"") && l.contains("\"tenant\":\"acme\"")).map(|l| serde_json::from_str(l).unwrap()).expect("a synced line");
    let by_type = synced["by_type"].as_str().unwrap();
    assert!(by_type.split(',').any(|t| t == "user=450"), "{synced}");
    assert_eq!(synced["resources"].as_u64().unwrap(), by_type.split(',').map(|t| t.split_once('=').unwrap().1.parse::<u64>().unwrap()).sum::<u64>());
    let last_counts = acme["last_counts"].as_str().unwrap();
    assert!(last_counts.ends_with(&format!("{} entitlements, {} grants", synced["entitlements"], synced["grants"])), "{last_counts} vs {synced}");
    assert!(synced["requests"].as_u64().unwrap() > 1 && synced["bytes"].as_u64().unwrap() > 0 && synced["seconds"].is_f64(), "{synced}");
    assert!(log.lines().any(|l| l.contains("\"message\":\"sync started\"") && l.contains("\"tenant\":\"acme\"")), "one line when a sync starts");
    let refused = log.lines().find(|l| l.contains("refused the client credentials")).expect("the token endpoint's refusal is logged");
    assert!(refused.contains("\"span\":{") && refused.contains("\"tenant\":\"broken\""), "with its tenant: {refused}");

    // SIGTERM: not ready at once, then a clean exit well within the drain timeout.
    double.set_faults(Faults { delay: Some(Duration::from_millis(50)), ..Faults::default() });
    replica.signal(libc::SIGTERM);
    let code = replica.exit_code(Duration::from_secs(60));
    assert_eq!(code, Some(0), "log:\n{}", replica.log());
    assert!(replica.log().contains("\"message\":\"drained\""));
}

#[test]
fn an_interrupted_or_killed_service_loses_nothing_and_the_next_replica_resumes_the_same_sync() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(3000))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path());
    let clean = clean_export(&double, dir.path());
    let tenants = tenants_file(dir.path(), &double, &[("acme", CLIENT_SECRET, "1h")]);
    double.set_faults(Faults { delay: Some(Duration::from_millis(300)), ..Faults::default() });

    // A drain that cannot wait for the sync: it stops at a page, and the tenant is handed back, due now.
    let mut first = Replica::start(dir.path(), "replica-a", &tenants, &store, &["--drain-timeout", "200ms"]);
    trigger(&store, "acme");
    let before = double.counts();
    first.wait_for("the sync to get going", Duration::from_secs(60), |_| double.counts().users_pages - before.users_pages >= 5);
    first.signal(libc::SIGTERM);
    first.wait_for("not ready", Duration::from_secs(5), |r| r.get("/readyz").0 != 200);
    assert_eq!(first.exit_code(Duration::from_secs(30)), Some(0), "log:\n{}", first.log());
    let handed_back = tenant_status(&store, "acme");
    assert_eq!((&handed_back["state"], &handed_back["last_outcome"], &handed_back["lease"]), (&"waiting".into(), &"interrupted".into(), &serde_json::Value::Null));
    assert_eq!(handed_back["last_sync_id"], 1);
    assert!(handed_back["next_run_ms"].as_i64().unwrap() <= handed_back["last_finished_ms"].as_i64().unwrap(), "due at once");

    // The next replica resumes sync 1; SIGKILL it mid-way: no chance to clean up.
    let mut second = Replica::start(dir.path(), "replica-b", &tenants, &store, &[]);
    second.wait_for("the resumed sync to get going", Duration::from_secs(60), |_| tenant_status(&store, "acme")["state"] == "running");
    let resumed_from = double.counts();
    second.wait_for("more pages", Duration::from_secs(60), |_| double.counts().users_pages - resumed_from.users_pages >= 4);
    second.signal(libc::SIGKILL);
    second.exit_code(Duration::from_secs(10));

    // A third replica finds the dead holder's lease, takes the tenant over and finishes the same sync.
    double.set_faults(Faults::default());
    let third = Replica::start(dir.path(), "replica-c", &tenants, &store, &[]);
    third.wait_for("the sync to complete", Duration::from_secs(60), |_| tenant_status(&store, "acme")["last_outcome"] == "synced");
    let done = tenant_status(&store, "acme");
    assert_eq!(done["last_sync_id"], 1, "the same sync, resumed twice: {done}");
    assert_eq!(third.metric("harness_lease_takeovers_total", &[]), 1.0);
    assert_eq!(export(&store, "acme"), clean, "nothing lost, nothing twice");
    let users_pages = double.counts().users_pages - before.users_pages;
    // A stop loses at most the pages in flight on the sync's 4 instances, and there were two stops.
    assert!((30..=30 + 2 * 4).contains(&users_pages), "each page fetched about once over three replicas: {users_pages} user pages for 30");
}

#[test]
fn the_port_outlasts_idle_and_half_sent_connections_and_a_crowd_of_probes() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(20))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path());
    let tenants = tenants_file(dir.path(), &double, &[("acme", CLIENT_SECRET, "1h")]);
    let replica = Replica::start(dir.path(), "replica-a", &tenants, &store, &[]);

    // 400 connections that say nothing, and 50 that send half a request: the probes still answer at once.
    let mut idle: Vec<TcpStream> = (0..400).map(|_| TcpStream::connect(("127.0.0.1", replica.port)).unwrap()).collect();
    for _ in 0..50 {
        let mut half = TcpStream::connect(("127.0.0.1", replica.port)).unwrap();
        half.write_all(b"GET /healthz HTTP/1.1\r\nHost: loc").unwrap();
        idle.push(half);
    }
    let asked = Instant::now();
    assert_eq!(replica.get("/healthz"), (200, "ok\n".into()));
    assert!(asked.elapsed() < Duration::from_secs(2), "answered in {:?}", asked.elapsed());
    // The server closes them itself, a few seconds on (they would otherwise hold a file handle each for ever).
    for stream in &mut idle {
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut rest = Vec::new();
        // An end of stream, or a 408 for the half-sent ones, then the end: either way, closed by the server.
        stream.read_to_end(&mut rest).unwrap();
    }
    let closed_by = asked.elapsed();
    assert!(closed_by < Duration::from_secs(8), "idle connections closed after {closed_by:?}");

    // 150 probes at once: every one ready, none failing for want of a database connection.
    let probes: Vec<_> = (0..150)
        .map(|_| {
            let port = replica.port;
            std::thread::spawn(move || Replica::get_on(port, "/readyz"))
        })
        .collect();
    let answers: Vec<(u16, String)> = probes.into_iter().map(|p| p.join().unwrap()).collect();
    assert!(answers.iter().all(|a| *a == (200, "ready\n".to_string())), "{:?}", answers.iter().find(|a| a.0 != 200));
}

#[test]
fn serve_leaves_an_operators_running_sync_alone_and_runs_its_own() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(2000))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path());
    let tenants = tenants_file(dir.path(), &double, &[("acme", CLIENT_SECRET, "1h")]);
    let replica = Replica::start(dir.path(), "replica-a", &tenants, &store, &[]);
    // The operator syncs the same tenant by hand, slowly, from the same config.
    double.set_faults(Faults { delay: Some(Duration::from_millis(100)), ..Faults::default() });
    let before = double.counts();
    let operator = Command::new(env!("CARGO_BIN_EXE_connector-harness"))
        .args([
            "--cache-dir", dir.path().join("cache").to_str().unwrap(), "sync", "--component", component_build::pingboard_component().to_str().unwrap(),
            "--store", &store, "--tenant", "acme", "--config", &format!("base_url={}", double.base_url()), "--config", &format!("client_id={CLIENT_ID}"),
            "--secret", &format!("client_secret={CLIENT_SECRET}"), "--config", "page_size=100", "--concurrency", "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    replica.wait_for("the operator's sync to get going", Duration::from_secs(60), |_| double.counts().users_pages - before.users_pages >= 3);
    // Due now, the service claims the tenant while the operator's sync runs: it begins a sync of its own.
    trigger(&store, "acme");
    let out = operator.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "the operator's sync was not taken over: {stderr}");
    // A never-synced tenant's first run falls in its first 10 s: the service may run one before the trigger too.
    let operators: i64 = stdout.split("synced tenant `acme` (sync ").nth(1).and_then(|rest| rest.split(')').next()?.parse().ok()).unwrap_or_else(|| panic!("{stdout}"));
    replica.wait_for("the service's own sync", Duration::from_secs(60), |_| {
        let status = tenant_status(&store, "acme");
        status["last_outcome"] == "synced" && status["last_sync_id"].as_i64() > Some(operators)
    });
}

#[test]
fn a_token_endpoint_that_cannot_be_reached_is_the_source_unavailable_and_backs_off_as_transient() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path());
    // Nothing listens on port 1 of the loopback: the token request cannot be sent.
    let component = component_build::pingboard_component().display().to_string();
    let tenants = dir.path().join("tenants.toml");
    std::fs::write(
        &tenants,
        format!(
            "[[tenant]]\nname = \"offline\"\ncomponent = \"{component}\"\ninterval = \"1h\"\n\
             config = {{ base_url = \"http://127.0.0.1:1\", client_id = \"{CLIENT_ID}\" }}\nsecrets = {{ client_secret = {{ value = \"{CLIENT_SECRET}\" }} }}\n"
        ),
    )
    .unwrap();
    let replica = Replica::start(dir.path(), "replica-a", &tenants, &store, &["--max-attempts", "2"]);
    let mut offline = serde_json::Value::Null;
    replica.wait_for("a failure recorded", Duration::from_secs(60), |_| {
        offline = tenant_status(&store, "offline");
        offline["last_outcome"] == "failed" && offline["state"] != "running"
    });
    assert_eq!(offline["state"], "backing-off", "a vendor outage is no reason to rotate credentials: {offline}");
    let error = offline["last_error"].as_str().unwrap();
    assert!(error.starts_with("source unavailable: the token endpoint http://127.0.0.1:1/oauth/token could not be reached: "), "{error}");
    replica.wait_for("the failure counted", Duration::from_secs(10), |r| r.metric("harness_sync_failures_total", &["tenant=\"offline\"", "kind=\"transient\""]) == 1.0);
    assert_eq!(replica.metric("harness_sync_failures_total", &["tenant=\"offline\"", "kind=\"needs-attention\""]), 0.0);
}

#[test]
fn a_serve_that_cannot_listen_touches_nothing_and_a_second_on_one_sqlite_file_is_warned_about() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(5))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path());
    let tenants = tenants_file(dir.path(), &double, &[("acme", CLIENT_SECRET, "1h")]);
    // Its port taken, serve says so and leaves no store behind.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_connector-harness"))
        .args(["serve", "--tenants", tenants.to_str().unwrap(), "--store", &store, "--listen", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")), "{stderr}");
    assert!(!Path::new(&store).exists(), "no store was created");

    let first = Replica::start(dir.path(), "replica-a", &tenants, &store, &[]);
    first.wait_for("the first sync", Duration::from_secs(60), |_| tenant_status(&store, "acme")["last_outcome"] == "synced");
    let second = Replica::start(dir.path(), "replica-b", &tenants, &store, &[]);
    second.wait_for("the warning", Duration::from_secs(10), |r| r.log().contains("which serves one replica, and replica `replica-a:"));
}
