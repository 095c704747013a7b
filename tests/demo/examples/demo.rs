//! The demo: starts a test double on 127.0.0.1 with a generated sample organisation, syncs it with a connector
//! component through `connector-harness`, and prints what was found. No credentials needed.
//!
//!     cargo run --release --example demo [-- USERS]             # Pingboard
//!     cargo run --release --example demo -- pingone [USERS]     # PingOne (token endpoint on its own origin)

use std::collections::BTreeMap;
use std::process::ExitCode;

use demo::harness;
use serde_json::Value;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (source, size) = match args.first().map(String::as_str) {
        Some("pingone") => ("pingone", args.get(1)),
        _ => ("pingboard", args.first()),
    };
    let users: usize = size.and_then(|n| n.parse().ok()).unwrap_or(250);
    let outcome = if source == "pingone" { pingone(users) } else { pingboard(users) };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprint!("{err}");
            ExitCode::FAILURE
        }
    }
}

/// A fresh store for the demo (`target/demo.db`; `target/` is not there when builds go elsewhere).
fn fresh_store() -> String {
    let store = demo::repository().join("target/demo.db");
    if let Some(dir) = store.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", store.display()));
    }
    store.display().to_string()
}

/// Inspects the component, syncs, and exports: each step printed as the command it is (the secret elided).
fn inspect_sync_export(component: &str, store: &str, connection: &[&str], secret: &str) -> Result<Vec<Value>, String> {
    let mut sync = vec!["sync", "--component", component, "--store", store, "--tenant", "demo"];
    sync.extend(connection);
    for step in [vec!["inspect", "--component", component], sync] {
        println!("\n$ connector-harness {}", step.iter().map(|a| if a.contains(secret) { "client_secret=…" } else { a }).collect::<Vec<_>>().join(" "));
        print!("{}", harness(&step)?);
    }
    let export = harness(&["export", "--store", store, "--tenant", "demo", "--format", "jsonl"])?;
    Ok(export.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
}

/// Display names by `type:id`, and grants by the resource whose entitlement they hold.
fn names_and_grants(lines: &[Value]) -> (BTreeMap<String, String>, BTreeMap<String, usize>) {
    let names = lines
        .iter()
        .filter(|l| l["kind"] == "resource")
        .map(|l| (format!("{}:{}", l["resource_type"].as_str().unwrap_or(""), l["id"].as_str().unwrap_or("")), l["display_name"].as_str().unwrap_or("").to_string()))
        .collect();
    let mut grants: BTreeMap<String, usize> = BTreeMap::new();
    for grant in lines.iter().filter(|l| l["kind"] == "grant") {
        let entitlement = grant["entitlement"].as_str().unwrap_or("");
        let resource = entitlement.splitn(3, ':').take(2).collect::<Vec<_>>().join(":");
        *grants.entry(resource).or_default() += 1;
    }
    (names, grants)
}

fn print_kinds(names: &BTreeMap<String, String>, grants: &BTreeMap<String, usize>, kinds: &[&str]) {
    for kind in kinds {
        println!("\n{}s (grants):", kind[..1].to_uppercase() + &kind[1..]);
        for (key, name) in names.iter().filter(|(k, _)| k.starts_with(&format!("{kind}:"))).take(6) {
            println!("  {name:<32} {}", grants.get(key).copied().unwrap_or(0));
        }
    }
}

fn pingboard(users: usize) -> Result<(), String> {
    use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, CompanySpec, PingboardDouble};
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(users))).map_err(|e| format!("error: cannot start the Pingboard double: {e:#}\n"))?;
    let component = component_build::pingboard_component().display().to_string();
    let store = fresh_store();
    println!("Pingboard double with {users} people at {}", double.base_url());
    let (base_url, client_id, secret) = (format!("base_url={}", double.base_url()), format!("client_id={CLIENT_ID}"), format!("client_secret={CLIENT_SECRET}"));
    let lines = inspect_sync_export(&component, &store, &["--config", &base_url, "--config", &client_id, "--secret", &secret], CLIENT_SECRET)?;
    let (names, grants) = names_and_grants(&lines);
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
    print_kinds(&names, &grants, &["location", "department", "group"]);
    let counts = double.counts();
    println!("\nThe double served {} requests: {} token, {} user pages, {} group pages.", counts.total, counts.token, counts.users_pages, counts.groups_pages);
    println!("Explore the store: cargo run -p connector-harness -- resources --store {store} --tenant demo --type location");
    Ok(())
}

fn pingone(users: usize) -> Result<(), String> {
    use pingone_double::{CLIENT_ID, CLIENT_SECRET, Environment, EnvironmentSpec, PingOneDouble};
    let groups = (users / 50).clamp(8, 100);
    let double = PingOneDouble::start(Environment::generate(EnvironmentSpec::sized(users, groups))).map_err(|e| format!("error: cannot start the PingOne double: {e:#}\n"))?;
    let component = component_build::pingone_component().display().to_string();
    let store = fresh_store();
    println!("PingOne double with {users} users and {groups} groups: API at {}, tokens at {}", double.api_base(), double.auth_base());
    let config = [
        format!("api_base={}", double.api_base()),
        format!("auth_base={}", double.auth_base()),
        format!("environment_id={}", double.environment_id()),
        format!("client_id={CLIENT_ID}"),
    ];
    let secret = format!("client_secret={CLIENT_SECRET}");
    let mut connection: Vec<&str> = config.iter().flat_map(|c| ["--config", c.as_str()]).collect();
    connection.extend(["--secret", &secret]);
    let lines = inspect_sync_export(&component, &store, &connection, CLIENT_SECRET)?;
    let (names, grants) = names_and_grants(&lines);
    print_kinds(&names, &grants, &["population", "group", "role"]);
    let immutable = lines.iter().filter(|l| l["kind"] == "grant" && l["immutable"].is_string()).count();
    println!("\n{immutable} grants are derived by PingOne (dynamic groups, nested groups, populations) and marked immutable.");
    let c = double.counts();
    println!(
        "The double served {} requests and {} token: {} user pages, {} group member pages, {} nesting reads, {} user and {} group role reads.",
        c.total, c.tokens, c.user_pages, c.member_pages, c.nesting_reads, c.user_role_reads, c.group_role_reads
    );
    println!("Explore the store: cargo run -p connector-harness -- resources --store {store} --tenant demo --type role");
    Ok(())
}
