//! The demo: starts the Pingboard double on 127.0.0.1 with a generated sample company, syncs it with the
//! connector component through `connector-harness`, and prints what was found. No credentials needed.
//!
//!     cargo run --release --example demo [-- USERS]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, CompanySpec, PingboardDouble};
use serde_json::Value;

fn harness(args: &[&str]) -> Result<String, String> {
    let mut argv = vec!["connector-harness".into()];
    argv.extend(args.iter().map(Into::into));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    match connector_harness::cli::run(argv, &mut out, &mut err, true) {
        0 => Ok(String::from_utf8_lossy(&out).into_owned()),
        _ => Err(String::from_utf8_lossy(&err).into_owned()),
    }
}

fn main() -> ExitCode {
    let users: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(250);
    let double = match PingboardDouble::start(Company::generate(CompanySpec::sized(users))) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: cannot start the Pingboard double: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let component = component_build::pingboard_component();
    let store = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/demo.db");
    // `target/` is not there when builds go to another CARGO_TARGET_DIR.
    if let Some(dir) = store.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", store.display()));
    }
    let (component, store) = (component.display().to_string(), store.display().to_string());
    let base_url = format!("base_url={}", double.base_url());
    let client_id = format!("client_id={CLIENT_ID}");
    let secret = format!("client_secret={CLIENT_SECRET}");
    println!("Pingboard double with {users} people at {}", double.base_url());
    let steps = [
        vec!["inspect", "--component", &component],
        vec!["sync", "--component", &component, "--store", &store, "--tenant", "demo", "--config", &base_url, "--config", &client_id, "--secret", &secret],
    ];
    for step in &steps {
        println!("\n$ connector-harness {}", step.iter().map(|a| if a.contains(CLIENT_SECRET) { "client_secret=…" } else { a }).collect::<Vec<_>>().join(" "));
        match harness(step) {
            Ok(out) => print!("{out}"),
            Err(err) => {
                eprint!("{err}");
                return ExitCode::FAILURE;
            }
        }
    }
    let export = match harness(&["export", "--store", &store, "--tenant", "demo", "--format", "jsonl"]) {
        Ok(out) => out,
        Err(err) => {
            eprint!("{err}");
            return ExitCode::FAILURE;
        }
    };
    let lines: Vec<Value> = export.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let names: BTreeMap<String, String> = lines
        .iter()
        .filter(|l| l["kind"] == "resource")
        .map(|l| (format!("{}:{}", l["resource_type"].as_str().unwrap_or(""), l["id"].as_str().unwrap_or("")), l["display_name"].as_str().unwrap_or("").to_string()))
        .collect();
    let mut members: BTreeMap<String, usize> = BTreeMap::new();
    for grant in lines.iter().filter(|l| l["kind"] == "grant") {
        let entitlement = grant["entitlement"].as_str().unwrap_or("");
        *members.entry(entitlement.trim_end_matches(":member").to_string()).or_default() += 1;
    }
    println!("\nA few people:");
    for user in lines.iter().filter(|l| l["resource_type"] == "user").take(5) {
        let u = &user["user"];
        let manager = u["manager_id"].as_str().map(|m| names.get(&format!("user:{m}")).cloned().unwrap_or_else(|| format!("user {m} (not in Pingboard)")));
        println!(
            "  {:<24} {:<28} {:<18} manager: {}",
            user["display_name"].as_str().unwrap_or(""),
            u["login"].as_str().unwrap_or("-"),
            u["title"].as_str().unwrap_or("-"),
            manager.unwrap_or_else(|| "-".into())
        );
    }
    for kind in ["location", "department", "group"] {
        println!("\n{}s (members):", kind[..1].to_uppercase() + &kind[1..]);
        for (key, name) in names.iter().filter(|(k, _)| k.starts_with(&format!("{kind}:"))).take(6) {
            println!("  {name:<32} {}", members.get(key).copied().unwrap_or(0));
        }
    }
    let counts = double.counts();
    println!("\nThe double served {} requests: {} token, {} user pages, {} group pages.", counts.total, counts.token, counts.users_pages, counts.groups_pages);
    println!("Explore the store: cargo run -p connector-harness -- resources --store {store} --tenant demo --type location");
    ExitCode::SUCCESS
}
