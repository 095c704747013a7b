//! `/metrics` as Prometheus's own tool reads it, and the example alert rules (`deploy/prometheus/`) checked and
//! unit-tested by `promtool` (Debian's `prometheus` package; `.ci/run` installs it). The classic text format is
//! served to a client that does not ask for OpenMetrics; the last success and interval gauges an alert on stale
//! data needs are there, and a running sync's progress.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pingboard_double::{CLIENT_SECRET, Company, CompanySpec, Faults, PingboardDouble};

use super::{Replica, sqlite_store, tenant_status, tenants_file, trigger};

fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("these tests need Prometheus's promtool (Debian: apt-get install prometheus): {e}"));
    child.stdin.take().unwrap().write_all(stdin.unwrap_or_default().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn the_alert_rules_pass_promtool_and_fire_once_per_tenant_as_their_unit_tests_say() {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus");
    let (ok, out) = promtool(&["check", "rules", rules.join("alerts.yaml").to_str().unwrap()], None);
    assert!(ok && out.contains("SUCCESS: 5 rules found"), "{out}");
    let (ok, out) = promtool(&["test", "rules", rules.join("alerts.test.yaml").to_str().unwrap()], None);
    assert!(ok, "{out}");
}

/// (content type, body) of `/metrics` asked with `accept`.
fn metrics(port: u16, accept: &str) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: {accept}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let content_type = head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type: ").map(str::to_string)).unwrap();
    (content_type, body.to_string())
}

#[test]
fn metrics_pass_promtool_and_say_when_each_tenant_last_synced() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(3000))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path());
    let tenants = tenants_file(dir.path(), &double, &[("acme", CLIENT_SECRET, "1h")]);
    let replica = Replica::start(dir.path(), "replica-a", &tenants, &store, &[]);
    replica.wait_for("the first sync", Duration::from_secs(60), |_| tenant_status(&store, "acme")["last_outcome"] == "synced");
    replica.wait_for("the gauges", Duration::from_secs(30), |r| r.metric("harness_tenant_last_success_timestamp_seconds", &["tenant=\"acme\""]) > 0.0);

    // As Prometheus's scrape asks: OpenMetrics. As promtool (or curl) asks: the classic text format, which it reads.
    let (content_type, openmetrics) = metrics(replica.port, "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5");
    assert!(content_type.starts_with("application/openmetrics-text") && openmetrics.ends_with("# EOF\n"), "{content_type}");
    let (content_type, classic) = metrics(replica.port, "text/plain");
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let (ok, out) = promtool(&["check", "metrics"], Some(&classic));
    assert!(ok && out.trim().is_empty(), "promtool: {out}\n{classic}");

    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let last_success = replica.metric("harness_tenant_last_success_timestamp_seconds", &["tenant=\"acme\""]);
    assert!((now - last_success).abs() < 120.0, "last success {last_success}, now {now}");
    assert_eq!(replica.metric("harness_tenant_interval_seconds", &["tenant=\"acme\""]), 3600.0);

    // A running sync shows how far it has got; once it ends, nothing.
    assert_eq!(replica.metric("harness_sync_progress_records", &["tenant=\"acme\""]), 0.0);
    double.set_faults(Faults { delay: Some(Duration::from_millis(150)), ..Faults::default() });
    trigger(&store, "acme");
    replica.wait_for("progress", Duration::from_secs(60), |r| r.metric("harness_sync_progress_records", &["tenant=\"acme\""]) > 0.0);
    replica.wait_for("the second sync", Duration::from_secs(120), |r| r.metric("harness_syncs_total", &["tenant=\"acme\"", "outcome=\"synced\""]) == 2.0);
    assert_eq!(replica.metric("harness_sync_progress_records", &["tenant=\"acme\""]), 0.0);
}
