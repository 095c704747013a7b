//! A sync at a real network's latency, over HTTPS: the same company, through a delay line that holds every
//! byte for half the round-trip time in each direction, in front of the Pingboard double served over TLS.
//!
//!     cargo bench --bench latency                        # 10,000 and 100,000 users, 100 ms round trip
//!     cargo bench --bench latency -- 1000 --rtt-ms 50    # other sizes and latencies
//!     cargo bench --bench latency -- 100000 --concurrency 8,16   # only these (pooled) concurrencies
//!     cargo bench --bench latency -- --render-every-time          # the double renders each page per request
//!
//! The double renders every listing page before the sync and serves them from memory (`render_pages_ahead`): it
//! stands for a server on another machine, and rendering JSON per request would take a quarter of these 2 cores.
//!
//! Variants, in the same run:
//!   pooled at concurrency 1, 4 and 8 - the product: one kept-alive connection per tenant (HTTP/2), and that
//!               many instances of the component fetching the pages the first page hands back as independent
//!   reconnect - the double speaks HTTP/1.1 only and closes every connection after its response, so each
//!               request pays a new TCP and TLS handshake, as the harness did before its transport had a pool;
//!               one page at a time, as before
//! The ideal is one round trip per ⌈requests / concurrency⌉: ⌈requests / c⌉ × RTT. The wall time over the
//! ideal says what else the sync costs (the token and the first page must come first, whatever c is).


use std::time::Duration;

use loopback_server::DelayLine;
use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, CompanySpec, DoubleOptions, Faults, PingboardDouble, TestCa};

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut sizes = Vec::new();
    let mut rtt = Duration::from_millis(100);
    let mut render_every_time = false;
    let mut variants = vec![("pooled", false, 1), ("pooled", false, 4), ("pooled", false, 8), ("reconnect", true, 1)];
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rtt-ms" => rtt = Duration::from_millis(args.next().and_then(|v| v.parse().ok()).expect("--rtt-ms N")),
            "--render-every-time" => render_every_time = true,
            "--concurrency" => {
                let list = args.next().expect("--concurrency N,M,…");
                variants = list.split(',').map(|c| ("pooled", false, c.parse().expect("--concurrency N,M,…"))).collect();
            }
            other => sizes.push(other.parse::<usize>().expect("a company size")),
        }
    }
    if sizes.is_empty() {
        sizes = vec![10_000, 100_000];
    }
    let scratch = tempfile::tempdir().expect("scratch dir");
    let ca = TestCa::new("latency").unwrap();
    let ca_file = scratch.path().join("ca.pem");
    std::fs::write(&ca_file, ca.ca_pem()).unwrap();
    // Compile the component into the cache first, as any sync after a tenant's first finds it: otherwise the
    // first row alone would pay the compilation (half a second and more on these 2 cores).
    let (cache, component) = (scratch.path().join("cache").display().to_string(), component_build::pingboard_component());
    e2e::timed_harness(&["--cache-dir", &cache, "inspect", "--component", component.to_str().unwrap()]);
    println!("round trip {} ms, HTTPS, page size 1000", rtt.as_millis());
    println!();
    println!("| users | variant | concurrency | requests | connections | wall | ideal (⌈requests / c⌉ × RTT) | wall / ideal |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    for &users in &sizes {
        let company = Company::generate(CompanySpec::sized(users));
        for &(variant, reconnect, concurrency) in &variants {
            let options = DoubleOptions { http2: !reconnect, faults: Faults { close_connections: reconnect, ..Faults::default() }, ..DoubleOptions::default() };
            let double = PingboardDouble::start_tls(company.clone(), options, &ca).unwrap();
            if !render_every_time {
                double.render_pages_ahead(1000);
            }
            let line = DelayLine::start(double.addr(), rtt / 2).unwrap();
            let connections = double.connections();
            let store = scratch.path().join(format!("{variant}-{concurrency}-{users}.db"));
            let store = store.display().to_string();
            let (base_url, client_id, secret) = (format!("base_url=https://localhost:{}", line.port()), format!("client_id={CLIENT_ID}"), format!("client_secret={CLIENT_SECRET}"));
            let concurrency_flag = concurrency.to_string();
            let (wall, out) = e2e::timed_harness(&[
                "--cache-dir", &cache, "sync", "--component", component.to_str().unwrap(), "--store", &store, "--config", &base_url,
                "--config", &client_id, "--secret", &secret, "--ca-file", ca_file.to_str().unwrap(), "--concurrency", &concurrency_flag,
            ]);
            let requests: u64 = out.split("; ").find(|part| part.contains(" requests (")).and_then(|p| p.split(' ').next()).and_then(|n| n.parse().ok()).expect("the summary's request count");
            let ideal = rtt * requests.div_ceil(concurrency) as u32;
            println!(
                "| {users} | {variant} | {concurrency} | {requests} | {} | {:.2} s | {:.2} s | {:.2} |",
                double.connections() - connections,
                wall.as_secs_f64(),
                ideal.as_secs_f64(),
                wall.as_secs_f64() / ideal.as_secs_f64()
            );
        }
    }
}
