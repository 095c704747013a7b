//! A flow's cycle killed with SIGKILL in the middle of its writes, then run again: the rerun learns the cycle
//! never ended, syncs the target before planning, adopts what the dead cycle created without recording it,
//! creates the rest, and ends with each source user's account exactly once.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, CompanySpec, Faults, PingboardDouble};
use serde_json::Value;

use crate::cli;

fn tenant(name: &str, double: &PingboardDouble) -> String {
    format!(
        "[[tenant]]\nname = \"{name}\"\ncomponent = \"{}\"\nconfig = {{ base_url = \"{}\", client_id = \"{CLIENT_ID}\" }}\n\
         secrets = {{ client_secret = {{ value = \"{CLIENT_SECRET}\" }} }}\nprovisioning = true\n\n",
        component_build::pingboard_component().display(),
        double.base_url(),
    )
}

const FLOW: &str = r#"
[[flow]]
name = "workforce"
source = "directory"
target = "app"
match = { source = "user.login", target = "email" }
[flow.map]
first_name = "user.name.given_name"
last_name  = "user.name.family_name"
email      = "user.emails[0].address"
"#;

#[test]
fn a_cycle_killed_mid_write_then_run_again_ends_with_each_account_once() {
    let source = Company::generate(CompanySpec::sized(60));
    let (directory, app) = (PingboardDouble::start(source.clone()).unwrap(), PingboardDouble::start(Company::default()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let (file, store, cache) = (dir.path().join("tenants.toml"), dir.path().join("s.db"), dir.path().join("cache"));
    std::fs::write(&file, format!("{}{}{FLOW}", tenant("directory", &directory), tenant("app", &app))).unwrap();
    let args: Vec<String> = ["--cache-dir", cache.to_str().unwrap(), "flow", "apply", "workforce", "--tenants", file.to_str().unwrap(), "--store", store.to_str().unwrap()]
        .map(str::to_string)
        .to_vec();
    let sync = ["--cache-dir", cache.to_str().unwrap(), "sync", "--tenants", file.to_str().unwrap(), "--store", store.to_str().unwrap()].map(str::to_string);
    assert_eq!(cli(&sync).0, 0);

    app.set_faults(Faults { delay: Some(Duration::from_millis(100)), ..Faults::default() });
    let mut child = Command::new(env!("CARGO_BIN_EXE_connector-harness")).args(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.company().users.len() < 10 {
        assert!(Instant::now() < deadline, "the cycle never got going");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL: between two writes, or between a write and its record
    child.wait().unwrap();
    app.set_faults(Faults::default());
    let created_before = app.company().users.len();
    assert!(created_before < 60, "killed half-way ({created_before} created)");

    let (code, out, err) = cli(&[args.clone(), vec!["--json".into()]].concat());
    assert_eq!(code, 0, "{err}");
    let rerun: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rerun["cycle"], 2);
    assert_eq!(rerun["synced"].as_array().unwrap().iter().map(|s| s["tenant"].as_str().unwrap()).collect::<Vec<_>>(), ["app"], "the target only: the dead cycle wrote to it");
    let created = rerun["counts"]["create"]["done"].as_u64().unwrap_or(0) + rerun["counts"]["create"]["already"].as_u64().unwrap_or(0);
    let adopted = rerun["counts"]["adopt"]["done"].as_u64().unwrap_or(0);
    assert_eq!(created as usize, 60 - created_before, "{rerun:#}");
    assert!(adopted <= 4, "only accounts created but not recorded (at most the 4 writes in flight) are adopted: {rerun:#}");

    let emails: Vec<String> = app.company().users.iter().map(|u| u.email.clone()).collect();
    let unique: BTreeSet<&String> = emails.iter().collect();
    assert_eq!((emails.len(), unique.len()), (60, 60), "each source user's account exactly once");
    assert_eq!(unique, source.users.iter().map(|u| &u.email).collect::<BTreeSet<_>>());

    let (code, out, _) = cli(&[args, vec!["--json".into()]].concat());
    assert_eq!((code, &serde_json::from_str::<Value>(&out).unwrap()["counts"]), (0, &serde_json::json!({})), "then nothing to do");
}
