//! One sync of a very large company, and what it costs the host: wall time, requests, the guest's peak memory
//! (one page at a time, so flat), the harness's peak RSS, and the store's size on disk.
//!
//!     cargo bench --bench scale                 # 1,000,000 users
//!     cargo bench --bench scale -- 200000       # another size
//!     cargo bench --bench scale -- 200000 --concurrency 1   # further flags go to `sync`
//!
//! The sync runs in a child process (this benchmark re-executed with `--child`), so the peak RSS is the
//! harness's own (its VmHWM) and not the double's, which holds the whole company in memory.

use std::process::Command;
use std::time::Instant;

use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, CompanySpec, PingboardDouble};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    e2e::exit_if_harness_child(&args);
    let users: usize = args.first().map(|a| a.parse().expect("a company size")).unwrap_or(1_000_000);
    let sync_flags = args.iter().skip(1).cloned().collect::<Vec<_>>();
    let scratch = tempfile::tempdir().expect("scratch dir");
    let generated = Instant::now();
    let company = Company::generate(CompanySpec::sized(users));
    let groups = company.groups.len();
    let double = PingboardDouble::start(company).unwrap();
    println!("generated {users} users and {groups} groups in {:.1} s", generated.elapsed().as_secs_f64());
    let store = scratch.path().join("store.db");
    let (this, cache, component) = (std::env::current_exe().unwrap(), scratch.path().join("cache").display().to_string(), component_build::pingboard_component());
    // The component compiled into the cache first, as a tenant's every sync after its first finds it.
    let warmed = Command::new(&this).args(["--child", "--cache-dir", &cache, "inspect", "--component"]).arg(&component).output().unwrap();
    assert!(warmed.status.success(), "{}", String::from_utf8_lossy(&warmed.stderr));
    let run = e2e::run_measured(
        Command::new(&this)
            .arg("--child")
            .args(["--cache-dir", &cache, "sync", "--component"])
            .arg(&component)
            .args(["--store", &store.display().to_string(), "--config", &format!("base_url={}", double.base_url())])
            .args(["--config", &format!("client_id={CLIENT_ID}"), "--secret", &format!("client_secret={CLIENT_SECRET}")])
            .args(&sync_flags),
    );
    let on_disk: u64 = ["store.db", "store.db-wal"].iter().filter_map(|f| std::fs::metadata(scratch.path().join(f)).ok()).map(|m| m.len()).sum();
    println!("{}", String::from_utf8_lossy(&run.stdout).trim());
    println!();
    println!("| users | groups | wall | requests (floor) | peak host RSS (harness) | store on disk |");
    println!("|---:|---:|---:|---:|---:|---:|");
    let floor = 1 + users.div_ceil(1000) + groups.div_ceil(1000);
    println!(
        "| {users} | {groups} | {:.1} s | {} | {:.0} MiB | {:.0} MiB |",
        run.wall.as_secs_f64(),
        double.counts().total.to_string() + &format!(" ({floor})"),
        run.peak_kib as f64 / 1024.0,
        on_disk as f64 / 1048576.0
    );
}
