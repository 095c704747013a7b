//! The Node host (`hosts/node`) beside the harness, on the same company, in one run: wall time and peak memory of
//! `connector-node sync` against `connector-harness sync` then `export`, each a process of its own, runs
//! interleaved, and their output compared byte for byte.
//!
//!     cargo bench --bench node_host                     # 50,000 people, 3 runs each, concurrency 4
//!     cargo bench --bench node_host -- 10000 --runs 5
//!
//! The harness runs as this benchmark re-executed with `--child`, so its peak RSS (`e2e::run_measured`) is its own
//! and not the double's, which holds the whole company in memory. The Node host's is its one process, its component
//! threads included.

use std::path::Path;
use std::process::Command;

use e2e::run_measured as measured;
use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, CompanySpec, PingboardDouble};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    e2e::exit_if_harness_child(&args);
    let users: usize = args.first().filter(|a| !a.starts_with("--")).map(|a| a.parse().expect("a company size")).unwrap_or(50_000);
    let flag = |name: &str, default: usize| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(|v| v.parse().expect("a number")).unwrap_or(default);
    let (runs, concurrency) = (flag("--runs", 3), flag("--concurrency", 4).to_string());
    let node_host = e2e::repository().join("hosts/node");
    if !node_host.join("node_modules/@bytecodealliance/jco-transpile").is_dir() {
        assert!(Command::new("npm").args(["install", "--no-audit", "--no-fund"]).current_dir(&node_host).status().expect("npm").success(), "npm install in hosts/node failed");
    }
    let scratch = tempfile::tempdir().expect("scratch dir");
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(users))).unwrap();
    let (this, component) = (std::env::current_exe().unwrap(), component_build::pingboard_component());
    let (cache, store) = (scratch.path().join("cache").display().to_string(), scratch.path().join("store.db").display().to_string());
    let (base_url, client_id) = (format!("base_url={}", double.base_url()), format!("client_id={CLIENT_ID}"));
    let harness = |args: &[&str]| {
        let mut command = Command::new(&this);
        command.args(["--child", "--cache-dir", &cache]).args(args);
        command
    };
    let node = |command_name: &str| {
        let mut command = Command::new("node");
        command.arg(node_host.join("bin/connector-node.js")).arg(command_name).arg("--component").arg(&component);
        // The transpiled component is cached in TMPDIR, as the harness's compiled one is in --cache-dir.
        command.env("TMPDIR", scratch.path()).env("PINGBOARD_SECRET", CLIENT_SECRET);
        command
    };
    // Both hosts' caches filled first, as a tenant's every sync after its first finds them.
    measured(&mut harness(&["inspect", "--component", &component.display().to_string()]));
    measured(&mut node("inspect"));
    let component = component.display().to_string();
    let sync_args = ["sync", "--component", &component, "--store", &store, "--config", &base_url, "--config", &client_id, "--secret", &format!("client_secret={CLIENT_SECRET}"), "--concurrency", &concurrency];
    let mut rows = Vec::new();
    for run in 1..=runs {
        if Path::new(&store).exists() {
            std::fs::remove_file(&store).unwrap();
        }
        let synced = measured(&mut harness(&sync_args));
        let exported = measured(&mut harness(&["export", "--store", &store, "--tenant", "default", "--format", "jsonl"]));
        let mut command = node("sync");
        command.args(["--config", &base_url, "--config", &client_id, "--secret-env", "client_secret=PINGBOARD_SECRET", "--concurrency", &concurrency]);
        let noded = measured(&mut command);
        assert!(noded.stdout == exported.stdout, "run {run}: the Node host's lines differ from the harness's export");
        let harness_wall = synced.wall + exported.wall;
        let harness_peak = synced.peak_kib.max(exported.peak_kib);
        rows.push((run, harness_wall, harness_peak, noded.wall, noded.peak_kib, exported.stdout.len()));
    }
    println!("| people | run | harness sync + export | harness peak RSS | Node host sync | Node peak RSS | Node / harness (wall) | Node / harness (memory) | export |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (run, harness_wall, harness_peak, node_wall, node_peak, bytes) in rows {
        println!(
            "| {users} | {run} | {:.2} s | {:.0} MiB | {:.2} s | {:.0} MiB | {:.2} | {:.2} | {:.1} MiB, identical |",
            harness_wall.as_secs_f64(),
            harness_peak as f64 / 1024.0,
            node_wall.as_secs_f64(),
            node_peak as f64 / 1024.0,
            node_wall.as_secs_f64() / harness_wall.as_secs_f64(),
            node_peak as f64 / harness_peak as f64,
            bytes as f64 / 1048576.0
        );
    }
}
