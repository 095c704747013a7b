//! `serve` runs a tenants file's provisioning flows on their intervals, under the schedule's leases, on SQLite
//! and on PostgreSQL: the target fills in, the status page, `status` and `/metrics` show the flow's state and
//! its last cycle's counts, and a cycle over the deletion threshold stops, writes nothing, and needs attention.

use std::path::Path;
use std::time::Duration;

use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, CompanySpec, PingboardDouble};
use real_servers::Postgres;

use super::{Replica, sqlite_store, status_json};

fn tenants(dir: &Path, directory: &PingboardDouble, app: &PingboardDouble, max_deletions: u64) -> std::path::PathBuf {
    let component = component_build::pingboard_component().display().to_string();
    let tenant = |name: &str, double: &PingboardDouble| {
        format!(
            "[[tenant]]\nname = \"{name}\"\ncomponent = \"{component}\"\ninterval = \"1h\"\nprovisioning = true\n\
             config = {{ base_url = \"{}\", client_id = \"{CLIENT_ID}\" }}\nsecrets = {{ client_secret = {{ value = \"{CLIENT_SECRET}\" }} }}\n",
            double.base_url()
        )
    };
    let flow = format!(
        "[[flow]]\nname = \"workforce\"\nsource = \"directory\"\ntarget = \"app\"\nmatch = {{ source = \"user.login\", target = \"email\" }}\n\
         interval = \"2s\"\nmax_deletions = {max_deletions}\n[flow.map]\nfirst_name = \"user.name.given_name\"\nlast_name = \"user.name.family_name\"\n\
         email = \"user.emails[0].address\"\njob_title = \"user.title\"\n"
    );
    let path = dir.join("tenants.toml");
    std::fs::write(&path, format!("{}{}{flow}", tenant("directory", directory), tenant("app", app))).unwrap();
    path
}

fn flow_status(store: &str) -> serde_json::Value {
    status_json(store).into_iter().find(|t| t["tenant"] == "flow:workforce").expect("the flow has a row in the schedule")
}

fn flows_run_on_their_interval_and_stop_at_the_threshold(store: &str, dir: &Path) {
    let company = Company::generate(CompanySpec::sized(30));
    let (directory, app) = (PingboardDouble::start(company.clone()).unwrap(), PingboardDouble::start(Company::default()).unwrap());
    let file = tenants(dir, &directory, &app, 2);
    let replica = Replica::start(dir, "replica-a", &file, store, &["--attention-backoff", "1h"]);

    replica.wait_for("two applied cycles", Duration::from_secs(120), |r| r.metric("harness_flow_cycles_total", &["flow=\"workforce\"", "outcome=\"applied\""]) >= 2.0);
    let mut emails: Vec<String> = app.company().users.iter().map(|u| u.email.clone()).collect();
    emails.sort();
    let mut expected: Vec<String> = company.users.iter().map(|u| u.email.clone()).collect();
    expected.sort();
    assert_eq!(emails, expected, "each source user's account, once");
    assert_eq!(replica.metric("harness_flow_actions_total", &["flow=\"workforce\"", "action=\"create\"", "outcome=\"done\""]), 30.0);
    replica.wait_for("the flow waiting", Duration::from_secs(30), |r| r.metric("harness_flow_state", &["flow=\"workforce\"", "state=\"waiting\""]) == 1.0);
    let status = flow_status(store);
    assert_eq!((&status["last_outcome"], &status["failures"]), (&"applied".into(), &0.into()), "{status}");
    assert_eq!(status["last_counts"], "nothing to do; 30 unchanged", "a cycle after a complete one plans nothing");
    let (_, page) = replica.get("/");
    assert!(page.contains("<a href=\"/tenants/flow:workforce\">workforce</a></td><td><span class=\"badge healthy\">applied</span></td>"), "{page}");
    assert!(page.contains(": nothing to do; 30 unchanged</td>") && page.contains("<b>0 of 1</b>flows failing"), "{page}");

    // Five people leave: over a threshold of 2, the cycle writes nothing and the flow needs attention.
    let mut smaller = company.clone();
    smaller.users.truncate(25);
    directory.replace_company(smaller);
    replica.wait_for("the flow stopped", Duration::from_secs(60), |_| flow_status(store)["state"] == "needs-attention");
    let status = flow_status(store);
    let error = status["last_error"].as_str().unwrap();
    assert!(error.starts_with("5 removals exceed max_deletions (2): the cycle stopped before any write"), "{error}");
    assert_eq!(app.company().users.len(), 30, "nothing deleted");
    assert_eq!(replica.metric("harness_flow_state", &["flow=\"workforce\"", "state=\"needs-attention\""]), 1.0);
    let (code, table, _) = crate::cli(&["status".into(), "--store".into(), store.into()]);
    assert_eq!(code, 0);
    assert!(table.lines().any(|l| l.starts_with("flow:workforce  needs-attention  failed ")), "{table}");
}

#[test]
fn serve_runs_flows_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    flows_run_on_their_interval_and_stop_at_the_threshold(&sqlite_store(dir.path()), dir.path());
}

#[test]
fn serve_runs_flows_on_postgres() {
    let postgres = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    flows_run_on_their_interval_and_stop_at_the_threshold(&postgres.database("flows"), dir.path());
}
