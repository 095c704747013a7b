//! Provisioning flows from the command line: `flow plan` between two Pingboard doubles; `flow apply` cycles from
//! the PingOne double into the Pingboard double (each source change made exactly, the deletion threshold held)
//! and into the real `scim2-server` (users, and two groups pushed with their members).

use std::collections::BTreeMap;

use pingboard_double::{Company, CompanySpec, PingboardDouble};
use pingone_double::{Environment, EnvironmentSpec, PingOneDouble, uuid};
use serde_json::{Value, json};

use crate::common::*;
use crate::scim::scim2_server::{Scim2Server, TOKEN as SCIM_TOKEN};

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

fn pingone_tenant(name: &str, double: &PingOneDouble) -> String {
    format!(
        "[[tenant]]\nname = \"{name}\"\ncomponent = \"{}\"\n\
         config = {{ api_base = \"{}\", auth_base = \"{}\", environment_id = \"{}\", client_id = \"{}\" }}\n\
         secrets = {{ client_secret = {{ value = \"{}\" }} }}\n\n",
        component_build::pingone_component().display(),
        double.api_base(),
        double.auth_base(),
        double.environment_id(),
        pingone_double::CLIENT_ID,
        pingone_double::CLIENT_SECRET
    )
}

/// The flow of the issue, word for word, scoped to one PingOne group.
fn workforce(scope: &str, max_deletions: u64) -> String {
    format!(
        r#"
[[flow]]
name = "workforce"
source = "acme-pingone"
target = "acme-pingboard"
scope = "group:{scope}:member"
match = {{ source = "user.login", target = "email" }}
interval = "40m"
deprovision = "disable"
max_deletions = {max_deletions}
[flow.map]
first_name = "user.name.given_name"
last_name  = "user.name.family_name"
email      = "user.emails[0].address"
job_title  = "user.title"
"#
    )
}

/// What the target must hold for the source's in-scope, enabled users with an email: by email, (first name,
/// last name, job title).
fn wanted(env: &Environment, group: &str) -> BTreeMap<String, (String, String, String)> {
    env.members(group)
        .keys()
        .filter_map(|id| env.user(id))
        .filter(|u| u.enabled && !u.email.is_empty())
        .map(|u| (u.email.clone(), (u.given.clone(), u.family.clone(), u.title.clone().unwrap_or_default())))
        .collect()
}

fn held(app: &PingboardDouble) -> BTreeMap<String, (String, String, String)> {
    let company = app.company();
    let held: BTreeMap<_, _> = company.users.iter().map(|u| (u.email.clone(), (u.first_name.clone(), u.last_name.clone(), u.job_title.clone()))).collect();
    assert_eq!(held.len(), company.users.len(), "no account is doubled");
    held
}

struct Flow {
    scratch: Scratch,
    file: String,
}

impl Flow {
    fn new(directory: &PingOneDouble, app: &PingboardDouble, max_deletions: u64) -> Self {
        let scratch = Scratch::new();
        let file = scratch.path("tenants.toml").display().to_string();
        let flow = Self { scratch, file };
        flow.write(directory, app, max_deletions);
        flow
    }

    fn write(&self, directory: &PingOneDouble, app: &PingboardDouble, max_deletions: u64) {
        let target = tenant("acme-pingboard", app);
        std::fs::write(&self.file, format!("{}{target}{}", pingone_tenant("acme-pingone", directory), workforce(&uuid(3, 0), max_deletions))).unwrap();
    }

    fn run(&self, command: &str, extra: &[&str]) -> Outcome {
        let (store, cache) = (self.scratch.store(), self.scratch.cache());
        let mut args = vec!["--cache-dir", &cache, "flow", command, "workforce", "--tenants", &self.file, "--store", &store];
        args.extend(extra);
        let args: Vec<String> = args.into_iter().map(str::to_string).collect();
        harness(&args)
    }

    fn json(&self, command: &str, extra: &[&str]) -> Value {
        serde_json::from_str(&self.run(command, &[extra, &["--json"]].concat()).ok()).unwrap()
    }

    fn log(&self, cycle: i64) -> Vec<Value> {
        let out = harness(&["flow", "log", "workforce", "--store", &self.scratch.store(), "--cycle", &cycle.to_string(), "--json"]).ok();
        out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

/// Actions of a cycle's log as (action, outcome, source), sorted.
fn actions(log: &[Value]) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = log.iter().map(|e| (e["action"].as_str().unwrap().into(), e["outcome"].as_str().unwrap().into(), e["source"].as_str().unwrap().into())).collect();
    out.sort();
    out
}

#[test]
fn pingone_to_pingboard_cycles_make_exactly_the_source_changes_and_then_nothing() {
    let mut env = Environment::generate(EnvironmentSpec::sized(120, 6));
    let group = uuid(3, 0);
    let members: Vec<String> = env.members(&group).keys().cloned().collect();
    // In scope from the start: one disabled user (never created) and one without an email (skipped, said why).
    let (disabled, no_email) = (members[1].clone(), members[2].clone());
    env.users.iter_mut().filter(|u| u.id == disabled).for_each(|u| u.enabled = false);
    env.users.iter_mut().filter(|u| u.id == no_email).for_each(|u| u.email = String::new());
    let directory = PingOneDouble::start(env).unwrap();
    let app = PingboardDouble::start(Company::default()).unwrap();
    let flow = Flow::new(&directory, &app, 500);

    // Cycle 1 syncs both (neither has data), then creates exactly the in-scope users with the mapped values.
    let first = flow.json("apply", &[]);
    assert_eq!(first["synced"].as_array().map(Vec::len), Some(2), "{first:#}");
    let expected = wanted(&directory.environment(), &group);
    assert_eq!(expected.len(), members.len() - 2);
    assert_eq!(held(&app), expected);
    assert_eq!(first["counts"], json!({"create": {"done": expected.len()}, "skip": {"skipped": 1}}), "{first:#}");
    let skip = flow.log(1).into_iter().find(|e| e["action"] == "skip").unwrap();
    assert_eq!((skip["source"].as_str(), skip["detail"].as_str()), (Some(no_email.as_str()), Some("the map gives no `email`, which the target requires")));

    // Right after, nothing to do: no sync (data is younger than the interval), no write.
    let before = app.counts();
    let again = flow.json("plan", &[]);
    assert_eq!(again["counts"], json!({"create": 0, "adopt": 0, "update": 0, "disable": 0, "delete": 0, "skip": 1, "unchanged": expected.len()}), "{again:#}");
    let second = flow.json("apply", &[]);
    assert_eq!((second["synced"].as_array().map(Vec::len), &second["counts"]), (Some(0), &json!({"skip": {"skipped": 1}})));
    assert_eq!(app.counts().total, before.total, "a cycle with nothing to write sends nothing");

    // The source changes: a title, a disabled user, a user leaving the group, a new user in it.
    let (retitled, leaver) = (members[3].clone(), members[4].clone());
    let newcomer = uuid(2, 500);
    directory.edit(|env| {
        let template = env.user(&members[0]).unwrap().clone();
        env.users.iter_mut().filter(|u| u.id == retitled).for_each(|u| u.title = Some("Chief Flow Officer".into()));
        env.users.iter_mut().filter(|u| u.id == members[0]).for_each(|u| u.enabled = false);
        env.direct.retain(|(g, u)| !(g == &group && u == &leaver));
        env.users.push(pingone_double::User { id: newcomer.clone(), username: "new.hire".into(), email: "new.hire@example.com".into(), given: "New".into(), family: "Hire".into(), ..template });
        env.direct.push((group.clone(), newcomer.clone()));
    });
    let third = flow.json("apply", &["--sync"]);
    let expected = wanted(&directory.environment(), &group);
    assert_eq!(held(&app), expected);
    let mut made = actions(&flow.log(third["cycle"].as_i64().unwrap()));
    made.retain(|(action, ..)| action != "skip");
    let mut changes = vec![
        ("update".to_string(), "done".to_string(), retitled.clone()),
        ("delete".into(), "done".into(), members[0].clone()),
        ("delete".into(), "done".into(), leaver.clone()),
        ("create".into(), "done".into(), newcomer.clone()),
    ];
    changes.sort();
    assert_eq!(made, changes, "exactly the source's changes (Pingboard disables by deleting)");
    let log = flow.log(third["cycle"].as_i64().unwrap());
    let update = log.iter().find(|e| e["action"] == "update").unwrap();
    assert_eq!(update["fields"], json!(["job_title"]), "only what changed");
    let why = |source: &str| log.iter().find(|e| e["source"] == source).unwrap()["detail"].clone();
    assert_eq!((why(&members[0]), why(&leaver)), (json!("the user is disabled at the source"), json!("the user left the flow's scope")));
    assert_eq!(flow.json("plan", &[])["counts"]["unchanged"], json!(expected.len()));

    // Two more leave: over a threshold of 1 the cycle stops before any write and says so; once allowed, it goes.
    flow.write(&directory, &app, 1);
    directory.edit(|env| env.users.iter_mut().filter(|u| u.id == members[5] || u.id == members[6]).for_each(|u| u.enabled = false));
    let before = app.counts();
    let stopped = flow.run("apply", &["--sync"]);
    assert_eq!(stopped.code, 1, "{}", stopped.err);
    assert!(stopped.err.contains("needs attention: 2 removals exceed max_deletions (1): the cycle stopped before any write; `flow apply --allow-deletions 2` lifts it once"), "{}", stopped.err);
    assert_eq!(app.counts().writes, before.writes, "nothing written");
    let held_log = flow.log(4);
    assert!(held_log.iter().filter(|e| e["action"] == "delete").all(|e| e["outcome"] == "held") && held_log.len() == 3, "{held_log:#?}");
    let status = flow.run("plan", &[]).ok();
    assert!(status.contains("stopped: 2 removals exceed max_deletions (1)"), "{status}");
    // A map naming a field Pingboard does not declare is refused in one line, before anything is synced.
    let declared = std::fs::read_to_string(&flow.file).unwrap();
    std::fs::write(&flow.file, declared.replace("job_title  = \"user.title\"", "shoe_size = \"user.title\"")).unwrap();
    let before = directory.counts().total;
    let refused = flow.run("apply", &["--sync"]);
    assert_eq!(refused.code, 1);
    assert!(refused.err.starts_with("error: flow `workforce`: the target does not declare the field `shoe_size` (it declares: first_name, last_name, email, job_title, "), "{}", refused.err);
    assert_eq!((refused.err.lines().count(), directory.counts().total), (1, before), "one line, and nothing synced");
    std::fs::write(&flow.file, declared).unwrap();
    let allowed = flow.run("apply", &["--allow-deletions", "2"]).ok();
    assert!(allowed.lines().nth(1).is_some_and(|l| l.starts_with("applied: 0 created, 0 adopted, 0 updated, 0 disabled, 2 deleted, 1 skipped, 0 failed, 0 held; ")), "{allowed}");
    assert_eq!(held(&app), wanted(&directory.environment(), &group));
}

fn scim_tenant(name: &str, server: &Scim2Server) -> String {
    format!(
        "[[tenant]]\nname = \"{name}\"\ncomponent = \"{}\"\nconfig = {{ base_url = \"{}\" }}\n\
         secrets = {{ token = {{ value = \"{SCIM_TOKEN}\" }} }}\nprovisioning = true\n\n",
        component_build::scim_component().display(),
        server.base_url(),
    )
}

/// Into any SCIM service provider: users by userName, with the work email and title, and two groups pushed.
fn to_scim(scope: &str, pushed: &[String]) -> String {
    let push: Vec<String> = pushed.iter().map(|g| format!("\"group:{g}\"")).collect();
    format!(
        r#"
[[flow]]
name = "workforce"
source = "acme-pingone"
target = "app"
scope = "group:{scope}:member"
match = {{ source = "user.login", target = "userName" }}
[flow.map]
userName = "user.login"
"name.givenName" = "user.name.given_name"
"name.familyName" = "user.name.family_name"
email = "user.emails[0].address"
title = "user.title"
[flow.groups]
push = [{}]
match = {{ source = "display_name", target = "displayName" }}
[flow.groups.map]
displayName = "display_name"
"#,
        push.join(", ")
    )
}

/// The server's users by userName: (given name, family name, work email, title, active).
fn scim_users(server: &Scim2Server) -> BTreeMap<String, (Value, Value, Value, Value, Value)> {
    let (status, list) = server.get("Users?count=1000");
    assert_eq!(status, 200, "{list}");
    let users = list["Resources"].as_array().cloned().unwrap_or_default();
    users
        .iter()
        .map(|u| {
            let email = u["emails"].as_array().and_then(|e| e.iter().find(|e| e["type"] == "work")).map(|e| e["value"].clone()).unwrap_or(Value::Null);
            let title = u.get("title").cloned().unwrap_or(Value::Null);
            (u["userName"].as_str().unwrap().to_string(), (u["name"]["givenName"].clone(), u["name"]["familyName"].clone(), email, title, u["active"].clone()))
        })
        .collect()
}

/// The server's groups by displayName, with their members' userNames.
fn scim_groups(server: &Scim2Server) -> BTreeMap<String, Vec<String>> {
    let names: BTreeMap<String, String> = server.get("Users?count=1000").1["Resources"].as_array().unwrap().iter().map(|u| (u["id"].as_str().unwrap().into(), u["userName"].as_str().unwrap().into())).collect();
    let (_, list) = server.get("Groups?count=1000");
    list["Resources"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|g| {
            let mut members: Vec<String> = g["members"].as_array().cloned().unwrap_or_default().iter().map(|m| names[m["value"].as_str().unwrap()].clone()).collect();
            members.sort();
            (g["displayName"].as_str().unwrap().to_string(), members)
        })
        .collect()
}

/// What the server must hold for the scope's enabled users (every PingOne user here has an email).
fn wanted_on_scim(env: &Environment, scope: &str, disabled: &[&str]) -> BTreeMap<String, (Value, Value, Value, Value, Value)> {
    env.members(scope)
        .keys()
        .filter_map(|id| env.user(id))
        .filter(|u| u.enabled || disabled.contains(&u.id.as_str()))
        .map(|u| {
            let title = u.title.clone().map_or(Value::Null, Value::from);
            (u.username.clone(), (json!(u.given), json!(u.family), json!(u.email), title, json!(u.enabled)))
        })
        .collect()
}

#[test]
fn pingone_to_a_real_scim_server_provisions_the_scope_and_pushes_its_groups() {
    let env = Environment::generate(EnvironmentSpec::sized(60, 6));
    let (scope, other) = (uuid(3, 0), uuid(3, 1));
    let members: Vec<String> = env.members(&scope).keys().cloned().collect();
    let directory = PingOneDouble::start(env).unwrap();
    let server = Scim2Server::start();
    let scratch = Scratch::new();
    let file = scratch.path("tenants.toml").display().to_string();
    std::fs::write(&file, format!("{}{}{}", pingone_tenant("acme-pingone", &directory), scim_tenant("app", &server), to_scim(&scope, &[scope.clone(), other.clone()]))).unwrap();
    let (store, cache) = (scratch.store(), scratch.cache());
    let flow = |command: &str, extra: &[&str]| -> Value {
        let mut args = vec!["--cache-dir", &cache, "flow", command, "workforce", "--tenants", &file, "--store", &store, "--json"];
        args.extend(extra);
        serde_json::from_str(&harness(&args).ok()).unwrap()
    };

    let first = flow("apply", &[]);
    let env = directory.environment();
    // The usernames of a group's enabled members: who its target group must hold.
    let usernames = |env: &Environment, group: &str| -> Vec<String> {
        let mut names: Vec<String> = env.members(group).keys().filter_map(|id| env.user(id)).filter(|u| u.enabled).map(|u| u.username.clone()).collect();
        names.sort();
        names
    };
    assert_eq!(scim_users(&server), wanted_on_scim(&env, &scope, &[]));
    let in_scope = usernames(&env, &scope);
    assert_eq!(scim_groups(&server), BTreeMap::from([("Group 000".to_string(), in_scope.clone()), ("Group 001".to_string(), Vec::new())]), "Group 001's members are out of scope");
    assert_eq!(first["counts"], json!({"create": {"done": in_scope.len()}, "create-group": {"done": 2}, "add-member": {"done": in_scope.len()}}), "{first:#}");
    let again = flow("plan", &[]);
    assert_eq!(again["counts"]["unchanged"], json!(in_scope.len() + 2), "{again:#}");
    assert_eq!(again["actions"], json!([]), "then nothing to do");

    let (retitled, disabled, leaver) = (members[0].clone(), members[1].clone(), members[2].clone());
    let newcomer = uuid(2, 500);
    directory.edit(|env| {
        let template = env.user(&members[3]).unwrap().clone();
        env.users.iter_mut().filter(|u| u.id == retitled).for_each(|u| u.title = Some("Chief Flow Officer".into()));
        env.users.iter_mut().filter(|u| u.id == disabled).for_each(|u| u.enabled = false);
        env.direct.retain(|(g, u)| !(g == &scope && u == &leaver));
        env.users.push(pingone_double::User { id: newcomer.clone(), username: "new.hire".into(), email: "new.hire@example.com".into(), given: "New".into(), family: "Hire".into(), ..template });
        env.direct.push((scope.clone(), newcomer.clone()));
    });
    let second = flow("apply", &["--sync"]);
    let expected_counts = json!({"update": {"done": 1}, "disable": {"done": 2}, "create": {"done": 1}, "add-member": {"done": 1}, "remove-member": {"done": 2}});
    assert_eq!(second["counts"], expected_counts, "{second:#}");
    let env = directory.environment();
    let mut expected = wanted_on_scim(&env, &scope, &[&disabled]);
    let leaver_user = env.user(&leaver).unwrap();
    expected.insert(leaver_user.username.clone(), (json!(leaver_user.given), json!(leaver_user.family), json!(leaver_user.email), leaver_user.title.clone().map_or(Value::Null, Value::from), json!(false)));
    expected.get_mut(&env.user(&disabled).unwrap().username).unwrap().4 = json!(false);
    assert_eq!(scim_users(&server), expected, "disabled, not deleted: SCIM keeps the account with active=false");
    assert_eq!(scim_groups(&server)["Group 000"], usernames(&env, &scope));
    assert_eq!(flow("plan", &[])["actions"], json!([]), "then nothing to do");
}

#[test]
fn a_cycle_whose_writes_mostly_fail_needs_attention_and_logs_each_connector_error() {
    let source = Company::generate(CompanySpec::sized(6));
    let (directory_double, app_double) = (PingboardDouble::start(source).unwrap(), PingboardDouble::start(Company::default()).unwrap());
    app_double.set_faults(pingboard_double::Faults { reject_writes: true, ..Default::default() });
    let scratch = Scratch::new();
    let file = scratch.path("tenants.toml");
    std::fs::write(&file, format!("{}{}{FLOW}", tenant("directory", &directory_double), tenant("app", &app_double))).unwrap();
    let (file, store, cache) = (file.to_str().unwrap(), scratch.store(), scratch.cache());
    let applied = harness(&["--cache-dir", &cache, "flow", "apply", "workforce", "--tenants", file, "--store", &store]);
    assert_eq!(applied.code, 1, "{}", applied.err);
    assert_eq!(
        applied.err.trim_end(),
        "error: flow `workforce` needs attention: 6 of 6 writes failed (the last: rejected: POST /api/v2/users: HTTP 422: You are not allowed to edit this profile)"
    );
    assert!(applied.out.lines().any(|l| l == "applied: 0 created, 0 adopted, 0 updated, 0 disabled, 0 deleted, 0 skipped, 6 failed, 0 held; 0 unchanged"), "{}", applied.out);
    let log = harness(&["flow", "log", "workforce", "--store", &store, "--json"]).ok();
    let entries: Vec<Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(entries.len(), 6);
    assert!(entries.iter().all(|e| e["outcome"] == "failed" && e["detail"].as_str().is_some_and(|d| d.ends_with("HTTP 422: You are not allowed to edit this profile"))), "{log}");
    assert!(app_double.company().users.is_empty());
}

#[test]
fn a_write_the_target_was_not_granted_stops_the_cycle_before_any_write_naming_it() {
    let (directory_double, app_double) = (PingboardDouble::start(Company::generate(CompanySpec::sized(4))).unwrap(), PingboardDouble::start(Company::default()).unwrap());
    let scratch = Scratch::new();
    let file = scratch.path("tenants.toml");
    let app = tenant("app", &app_double).replace("provisioning = true\n", "provisioning = [\"user:update\"]\n");
    std::fs::write(&file, format!("{}{app}{FLOW}", tenant("directory", &directory_double))).unwrap();
    let (file, store, cache) = (file.to_str().unwrap(), scratch.store(), scratch.cache());
    let refused = harness(&["--cache-dir", &cache, "flow", "apply", "workforce", "--tenants", file, "--store", &store]);
    assert_eq!(refused.code, 1);
    assert_eq!(
        refused.err.trim_end(),
        "error: target tenant `app`: create-account writes to the source, and `user:create` was not granted: this tenant is granted only: user:update; no write was made"
    );
    assert_eq!(app_double.counts().writes, 0);
}
