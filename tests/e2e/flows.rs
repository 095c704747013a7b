//! Provisioning flows from the command line: two tenants synced into one store, then `flow plan` over them.

use pingboard_double::{Company, CompanySpec, PingboardDouble};
use serde_json::{Value, json};

use crate::common::*;

fn tenant(name: &str, double: &PingboardDouble) -> String {
    format!(
        "[[tenant]]\nname = \"{name}\"\ncomponent = \"{}\"\nconfig = {{ base_url = \"{}\", client_id = \"{}\" }}\n\
         secrets = {{ client_secret = {{ value = \"{}\" }} }}\nprovisioning = true\n\n",
        component(),
        double.base_url(),
        pingboard_double::CLIENT_ID,
        pingboard_double::CLIENT_SECRET
    )
}

const FLOW: &str = r#"
[[flow]]
name = "workforce"
source = "directory"
target = "app"
match = { source = "user.login", target = "email" }
deprovision = "disable"
max_deletions = 500
[flow.map]
first_name = "user.name.given_name"
last_name  = "user.name.family_name"
email      = "user.emails[0].address"
job_title  = "user.title"
"#;

#[test]
fn a_first_plan_creates_the_missing_adopts_the_matching_and_leaves_the_rest_alone() {
    // The target holds the source's first three people as the same generator made them, one with another title,
    // and someone the source does not have.
    let source = Company::generate(CompanySpec::sized(5));
    let mut app = Company::generate(CompanySpec::sized(3));
    app.users[1].job_title = "Former title".into();
    app.users[2].email = "not.in.the.directory@example.com".into();
    let (directory_double, app_double) = (PingboardDouble::start(source.clone()).unwrap(), PingboardDouble::start(app.clone()).unwrap());
    let scratch = Scratch::new();
    let file = scratch.path("tenants.toml");
    std::fs::write(&file, format!("{}{}{FLOW}", tenant("directory", &directory_double), tenant("app", &app_double))).unwrap();
    let file = file.to_str().unwrap();
    harness(&["--cache-dir", &scratch.cache(), "sync", "--tenants", file, "--store", &scratch.store()]).ok();
    let before = (directory_double.counts().total, app_double.counts().total);

    let plan: Value = serde_json::from_str(&harness(&["--cache-dir", &scratch.cache(), "flow", "plan", "workforce", "--tenants", file, "--store", &scratch.store(), "--json"]).ok()).unwrap();
    let (s, a) = (&source.users, &app.users);
    let fields = json!(["email", "first_name", "job_title", "last_name"]);
    assert_eq!(plan["counts"], json!({"create": 3, "adopt": 2, "update": 0, "disable": 0, "delete": 0, "skip": 0, "unchanged": 0}));
    let mut expected = vec![
        json!({"action": "adopt", "source": s[0].id, "target": a[0].id, "fields": []}),
        json!({"action": "adopt", "source": s[1].id, "target": a[1].id, "fields": ["job_title"]}),
        json!({"action": "create", "source": s[2].id, "fields": fields}),
        json!({"action": "create", "source": s[3].id, "fields": fields}),
        json!({"action": "create", "source": s[4].id, "fields": fields}),
    ];
    expected.sort_by(|x, y| x["source"].as_str().cmp(&y["source"].as_str()));
    assert_eq!(plan["actions"], json!(expected), "{plan:#}");
    assert_eq!((plan["source"]["tenant"].as_str(), plan["target"]["tenant"].as_str(), &plan["blocked"]), (Some("directory"), Some("app"), &json!(false)));
    assert_eq!((directory_double.counts().total, app_double.counts().total), before, "a plan sends nothing");

    let text = harness(&["--cache-dir", &scratch.cache(), "flow", "plan", "workforce", "--tenants", file, "--store", &scratch.store()]).ok();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("flow `workforce`: directory (sync ") && lines[0].contains(") → app (sync "), "{text}");
    assert_eq!(lines[1], "plan: 3 create, 2 adopt, 0 update, 0 disable, 0 delete, 0 skip, 0 unchanged");
    assert_eq!(lines.len(), 2 + 5, "{text}");

    let unknown = harness(&["--cache-dir", &scratch.cache(), "flow", "plan", "payroll", "--tenants", file, "--store", &scratch.store()]);
    assert_eq!((unknown.code, unknown.err.trim_end().to_string()), (1, format!("error: tenants file {file} has no flow `payroll` (it has: workforce)")));
}
