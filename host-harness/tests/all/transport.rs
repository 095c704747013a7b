//! The transport under the egress hook: HTTPS verified against the platform's roots plus a tenant's CA file,
//! one pooled connection for a whole sync, and HTTPS_PROXY honoured with a CONNECT tunnel.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, CompanySpec, DoubleOptions, PingboardDouble, TestCa};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::cli;

fn sync_args(base_url: &str, dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--cache-dir", &dir.join("cache").display().to_string(), "sync", "--component", component_build::pingboard_component().to_str().unwrap(),
        "--store", &dir.join("store.db").display().to_string(), "--config", &format!("base_url={base_url}"),
        "--config", &format!("client_id={CLIENT_ID}"), "--secret", &format!("client_secret={CLIENT_SECRET}"), "--config", "page_size=100",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn company() -> Company {
    Company::generate(CompanySpec { users: 2_000, groups: 40, locations: 3, departments: 4, dangling_members: false })
}

#[test]
fn a_sync_over_https_uses_one_connection_and_trusts_the_tenants_ca() {
    let ca = TestCa::new("double").unwrap();
    let double = PingboardDouble::start_tls(company(), DoubleOptions::default(), &ca).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.ca_pem()).unwrap();
    let (code, out, err) = cli(&sync_args(&double.base_url(), dir.path(), &["--ca-file", ca_file.to_str().unwrap()]));
    assert_eq!(code, 0, "{err}");
    // 1 token request, 20 user pages, 1 group page: all on one kept-alive connection.
    assert!(out.contains("; 22 requests (1 token)"), "{out}");
    assert!(out.contains("2000 user"), "{out}");
    assert_eq!(double.connections(), 1, "one connection for the whole sync");
}

#[test]
fn a_sync_over_plain_http_reuses_its_connections_too() {
    let double = PingboardDouble::start(company()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = cli(&sync_args(&double.base_url(), dir.path(), &["--concurrency", "1"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(double.connections(), 1, "one page at a time: one connection");
    // HTTP/1.1 does not multiplex: pages fetched at once need a connection each, and keep them. (One more may
    // open on a busy machine, when a request leaves just before the connection it could reuse is back in the pool.)
    let (code, _, err) = cli(&sync_args(&double.base_url(), dir.path(), &["--concurrency", "3"]));
    assert_eq!(code, 0, "{err}");
    assert!((2..=5).contains(&double.connections()), "at most 4 more connections for 22 requests: {}", double.connections());
}

#[test]
fn a_certificate_from_a_ca_the_tenant_does_not_trust_is_refused_in_one_line() {
    let ca = TestCa::new("double").unwrap();
    let double = PingboardDouble::start_tls(company(), DoubleOptions::default(), &ca).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other-ca.pem");
    std::fs::write(&other, TestCa::new("another").unwrap().ca_pem()).unwrap();
    for extra in [vec![], vec!["--ca-file", other.to_str().unwrap()]] {
        let (code, _, err) = cli(&sync_args(&double.base_url(), dir.path(), &extra));
        assert_eq!(code, 1, "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        let origin = double.base_url();
        assert!(err.contains(&format!("the TLS certificate of {origin} was not accepted (UnknownIssuer)")) && err.contains("ca_file"), "{err}");
    }
    assert_eq!(double.counts().total, 0, "nothing was sent over an untrusted connection");

    let not_pem = dir.path().join("not-a-ca.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let (code, _, err) = cli(&sync_args(&double.base_url(), dir.path(), &["--ca-file", not_pem.to_str().unwrap()]));
    assert_eq!((code, err.trim()), (1, format!("error: the CA file {} holds no certificate", not_pem.display()).as_str()));
}

/// A CONNECT proxy on loopback that counts the tunnels it opens.
fn start_proxy(runtime: &tokio::runtime::Runtime) -> (u16, Arc<AtomicU64>) {
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    let tunnels = Arc::new(AtomicU64::new(0));
    let counted = tunnels.clone();
    runtime.spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut client = BufReader::new(client);
                let mut line = String::new();
                client.read_line(&mut line).await?;
                let target = line.strip_prefix("CONNECT ").and_then(|rest| rest.split(' ').next()).unwrap_or_default().to_string();
                // The rest of the head, up to the blank line.
                loop {
                    let mut header = String::new();
                    if client.read_line(&mut header).await? == 0 || header == "\r\n" {
                        break;
                    }
                }
                let mut upstream = tokio::net::TcpStream::connect(target).await?;
                counted.fetch_add(1, Ordering::SeqCst);
                client.get_mut().write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await?;
                tokio::io::copy_bidirectional(client.get_mut(), &mut upstream).await?;
                Ok::<_, std::io::Error>(())
            });
        }
    });
    (port, tunnels)
}

#[test]
fn https_proxy_is_honoured_and_no_proxy_bypasses_it() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (proxy_port, tunnels) = start_proxy(&runtime);
    let ca = TestCa::new("double").unwrap();
    let double = PingboardDouble::start_tls(company(), DoubleOptions::default(), &ca).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.ca_pem()).unwrap();
    let run = |no_proxy: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_connector-harness"))
            .args(sync_args(&double.base_url(), dir.path(), &["--ca-file", ca_file.to_str().unwrap()]))
            .env("HTTPS_PROXY", format!("http://127.0.0.1:{proxy_port}"))
            .env("NO_PROXY", no_proxy)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    };
    run("");
    assert_eq!((tunnels.load(Ordering::SeqCst), double.connections()), (1, 1), "one tunnel, through which the sync ran");
    run("localhost");
    assert_eq!((tunnels.load(Ordering::SeqCst), double.connections()), (1, 2), "NO_PROXY: straight to the source");
}

/// A proxy on loopback that answers every CONNECT with `answer`, or (none) never answers at all.
fn start_refusing_proxy(runtime: &tokio::runtime::Runtime, answer: Option<&'static [u8]>) -> u16 {
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    runtime.spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut client, _)) = listener.accept().await {
            match answer {
                Some(answer) => {
                    let _ = client.write_all(answer).await;
                }
                None => held.push(client),
            }
        }
    });
    port
}

#[test]
fn a_proxy_that_refuses_or_never_answers_is_named_in_one_line_within_the_connect_timeout() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let double = PingboardDouble::start(company()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = double.base_url().trim_start_matches("http://").to_string();
    let run = |proxy_port: u16| {
        let started = std::time::Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_connector-harness"))
            .args(sync_args(&double.base_url(), dir.path(), &[]))
            .env("HTTP_PROXY", format!("http://someone:pr0xy-pass@127.0.0.1:{proxy_port}"))
            .env_remove("NO_PROXY")
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        (output.status.code(), String::from_utf8(output.stderr).unwrap(), started.elapsed())
    };
    // One line (whichever listing met it first), naming the proxy without its password, and what it said.
    let one_line = |err: &str, said: &str| {
        assert!(err.starts_with("error: listing ") && err.lines().count() == 1 && !err.contains("pr0xy-pass"), "{err}");
        assert!(err.ends_with(&format!(": the host stopped the component: {said}, for {target}\n")), "{err}");
    };
    let refusing = start_refusing_proxy(&runtime, Some(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"));
    let (code, err, _) = run(refusing);
    assert_eq!(code, Some(1));
    one_line(&err, &format!("the proxy http://127.0.0.1:{refusing} answered 407 Proxy Authentication Required (check the user and password in the proxy variable)"));
    let forbidding = start_refusing_proxy(&runtime, Some(b"HTTP/1.1 403 Forbidden\r\n\r\n"));
    one_line(&run(forbidding).1, &format!("the proxy http://127.0.0.1:{forbidding} answered `HTTP/1.1 403 Forbidden` to the CONNECT"));
    let black_hole = start_refusing_proxy(&runtime, None);
    let (code, err, took) = run(black_hole);
    assert_eq!(code, Some(1));
    one_line(&err, &format!("the proxy http://127.0.0.1:{black_hole} did not open a tunnel within 10 s"));
    assert!(took < std::time::Duration::from_secs(20), "given up after the connect timeout, not retried: {took:?}");
}
