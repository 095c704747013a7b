//! The same components in a second host: `hosts/node` (jco's transpiler from npm) syncs each connector
//! against its double, and its JSON lines equal `connector-harness export` for the same source byte for byte;
//! the hostile component's egress, environment and header attacks are refused under Node too. Node and npm
//! are required: a missing one fails these tests, saying what to install.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use crate::common::*;

fn host_dir() -> PathBuf {
    e2e::repository().join("hosts/node")
}

/// Installs the locked packages once per checkout (under a lock: tests run in parallel), when `node_modules`
/// is missing. `npm install` with the committed lock file, not `npm ci`: npm 11's `ci` refuses a lock that
/// leaves out other platforms' optional packages, which is what npm itself writes.
fn installed() -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _held = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = host_dir();
    if !dir.join("node_modules/@bytecodealliance/jco-transpile").is_dir() {
        let status = Command::new("npm").args(["install", "--no-audit", "--no-fund"]).current_dir(&dir).status();
        match status {
            Ok(s) if s.success() => {}
            other => panic!("`npm install` in {} failed ({other:?}): the Node host needs Node 20+ and npm, and the npm registry", dir.display()),
        }
    }
    dir.join("bin/connector-node.js")
}

/// Runs the Node host's CLI: (exit code, stdout, stderr).
fn node(args: &[&str]) -> (i32, String, String) {
    node_with(args, &[])
}

/// The Node host's CLI with these environment variables set (its secrets come from the environment).
fn node_with(args: &[&str], env: &[(String, String)]) -> (i32, String, String) {
    let cli = installed();
    let cache = std::env::temp_dir().join("connector-node-cache");
    let output = Command::new("node")
        .arg(cli)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("TMPDIR", cache.parent().unwrap())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `node` ({e}): the Node host needs Node 20+"));
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// The harness's export after a sync with `args` (its `sync` flags), as text.
fn harness_export(scratch: &Scratch, args: &[String]) -> String {
    harness(args).ok();
    harness(&["export", "--store", &scratch.store(), "--tenant", "default", "--format", "jsonl"]).ok()
}

/// A Node host `sync` with the connection flags of the harness's `args` (`--component` and `--config` as
/// given; each `--secret KEY=VALUE` through the environment, as the Node host takes secrets) and `extra`:
/// (exit code, stdout, stderr).
fn node_sync(args: &[String], extra: &[&str]) -> (i32, String, String) {
    let mut flags = vec!["sync".to_string()];
    let mut env = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--component" | "--config" => flags.extend([arg.clone(), rest.next().unwrap().clone()]),
            "--secret" => {
                let (key, value) = rest.next().unwrap().split_once('=').unwrap();
                let variable = format!("CONNECTOR_NODE_SECRET_{}", env.len());
                flags.extend(["--secret-env".to_string(), format!("{key}={variable}")]);
                env.push((variable, value.to_string()));
            }
            _ => {}
        }
    }
    flags.extend(extra.iter().map(|s| s.to_string()));
    node_with(&flags.iter().map(String::as_str).collect::<Vec<_>>(), &env)
}

/// The Node host's export for the harness's `args`, which must succeed.
fn node_export(args: &[String]) -> String {
    let (code, out, err) = node_sync(args, &[]);
    assert_eq!(code, 0, "the Node host failed: {err}");
    out
}

/// The two exports are the same text; otherwise the first line where they part, not a screenful.
#[track_caller]
fn assert_same(node: &str, harness: &str, what: &str) {
    if node == harness {
        return;
    }
    let (n, h): (Vec<&str>, Vec<&str>) = (node.lines().collect(), harness.lines().collect());
    let at = n.iter().zip(&h).position(|(a, b)| a != b).unwrap_or(n.len().min(h.len()));
    panic!("{what}: the Node host's export differs from the harness's at line {} ({} lines against {}):\n node:    {}\n harness: {}", at + 1, n.len(), h.len(), n.get(at).unwrap_or(&"(end)"), h.get(at).unwrap_or(&"(end)"));
}

#[test]
fn the_node_host_exports_exactly_what_the_harness_does_for_every_connector() {
    // Pingboard: OAuth on the base origin, independent pages, groups with inline grants.
    let double = pingboard_double::PingboardDouble::start(pingboard_double::Company::generate(pingboard_double::CompanySpec::sized(1500))).unwrap();
    let scratch = Scratch::new();
    let args = sync_args(&scratch, &double, &["--config", "page_size=400"]);
    let expected = harness_export(&scratch, &args);
    assert!(expected.lines().count() > 1500);
    assert_same(&node_export(&args), &expected, "Pingboard");

    // PingOne: the token on another origin, per-user role reads, immutable grants, entitlements on grant pages.
    // The Node host runs against a second double of the same environment, answering each request after 5 ms,
    // to show it fetches pages and per-user reads several at once (4 instances by default).
    let env = pingone_double::Environment::generate(pingone_double::EnvironmentSpec::sized(500, 12));
    let double = pingone_double::PingOneDouble::start(env.clone()).unwrap();
    let scratch = Scratch::new();
    let store = scratch.store();
    let expected = harness_export(&scratch, &crate::pingone::pingone_args(&scratch, &["sync", "--store", &store], &double, &[]));
    assert!(expected.contains("\"immutable\":"));
    let slow = pingone_double::Faults { delay: Some(std::time::Duration::from_millis(5)), ..Default::default() };
    let for_node = pingone_double::PingOneDouble::start_with(env, pingone_double::Behaviour::default(), slow).unwrap();
    assert_same(&node_export(&crate::pingone::pingone_args(&scratch, &["sync"], &for_node, &[])), &expected, "PingOne");
    assert!(for_node.max_in_flight() >= 2, "the Node host's instances worked at once ({} in flight at most)", for_node.max_in_flight());
    assert_eq!(for_node.counts().total, double.counts().total, "the same requests from either host");

    // SCIM: a bearer token, spans fetched as independent pages.
    let directory = scim_double::Directory::generate(scim_double::DirectorySpec { users: 300, groups: 5 });
    let double = scim_double::ScimDouble::start(directory, scim_double::Quirks::default()).unwrap();
    let scratch = Scratch::new();
    let store = scratch.store();
    let args = crate::scim::scim_args(&scratch, &["sync", "--store", &store], &double.base_url(), scim_double::TOKEN);
    let expected = harness_export(&scratch, &args);
    assert_same(&node_export(&args), &expected, "SCIM");
}

#[test]
fn the_hostile_components_attacks_are_refused_under_node_too() {
    use crate::common::source::Source;
    const SECRET: &str = "node-hostile-secret-31d7";
    const TOKEN: &str = "node-hostile-token-8a40";
    let elsewhere = Source::start("unused", "unused", "http://127.0.0.1:9");
    let source = Source::start(SECRET, TOKEN, &elsewhere.base_url());
    let hostile = component_build::hostile_component().display().to_string();
    let other = format!("{}/steal", elsewhere.base_url());
    let run_with = |attack: &str, secret: &str, extra: &[&str]| {
        let (base, attack, other) = (format!("base_url={}", source.base_url()), format!("attack={attack}"), format!("other_url={other}"));
        let env = [("HOSTILE_CLIENT_SECRET".to_string(), secret.to_string())];
        let mut args = vec!["sync", "--component", &hostile, "--config", &base, "--config", "client_id=hostile", "--config", &attack, "--config", &other, "--secret-env", "client_secret=HOSTILE_CLIENT_SECRET"];
        args.extend(extra);
        node_with(&args, &env)
    };
    let run = |attack: &str| run_with(attack, SECRET, &[]);

    // A guest that takes memory without end is stopped at the memory cap (a failed allocation, then a trap),
    // not at the 4 GiB a wasm32 memory can reach.
    let (code, _, err) = run_with("memory", SECRET, &["--memory-mib", "32"]);
    assert_eq!(code, 1);
    // (The guest's own "memory allocation of … failed" may interleave with the host's line on stderr.)
    assert!(err.contains("error: the component trapped in listResources: wasm trap: wasm `unreachable` instruction executed"), "{err}");
    // A guest that never returns is stopped at the call's deadline; a wrong secret is the token endpoint's no.
    let (code, _, err) = run_with("loop", SECRET, &["--call-timeout-secs", "1"]);
    assert_eq!(code, 1);
    assert!(err.contains("error: listResources ran past its 1 s deadline; the component was stopped\n"), "{err}");
    // Host objects (header sets, requests, streams) are host memory the guest's cap does not count: held at most
    // 1,000 at once, as by the harness (tests/e2e/sandbox.rs).
    let (code, _, err) = run("handles");
    assert_eq!(code, 1);
    assert!(err.contains("error: the component trapped in listResources: the component held more than 1000 host resources at once (the sandbox's cap)\n"), "{err}");
    // What a guest prints is the host's to show: its lines prefixed and escaped, and no more than the log cap,
    // as by the harness (tests/e2e/sandbox.rs).
    let (code, _, err) = run("none");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("[component] hostile: behaving, listing accounts from {}\n", source.base_url())), "{err}");
    let (code, _, err) = run_with("stderr", SECRET, &["--log-kib", "16"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("[component] [8372225 more bytes dropped: the guest log is capped at 16 KiB]\n"), "{err}");
    assert!(err.len() < 32 << 10, "{} bytes of guest output reached stderr", err.len());
    // A request body past the cap (1 MiB) never leaves; the guest gets an error and may go on, as with the
    // harness. (There the guest meets it as a closed stream while it writes, wasmtime-wasi-http's way:
    // tests/e2e/sandbox.rs. Here the body is kept whole until the request is sent, so the guest meets the cap.)
    let (code, _, err) = run("big-body");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("[component] big-body: Err(\"ErrorCode::HttpRequestBodySize(Some(1048576))\")\n"), "{err}");
    assert!(!source.seen().iter().any(|s| s.body.len() > 1 << 20), "a request body past the cap reached the source");
    let (code, _, err) = run_with("none", "not-the-secret", &[]);
    assert_eq!(code, 1);
    // (The guest's own log line shares stderr, and may interleave with the host's.)
    let refused = format!("error: authentication failed: the token endpoint {}/oauth/token refused the client credentials (HTTP 401: invalid_client)\n", source.base_url());
    assert!(err.contains(&refused), "{err}");

    let (code, _, err) = run("other-host");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("the component asked for {}", elsewhere.base_url())) && err.contains("which is not one of the tenant's origins"), "{err}");
    assert!(elsewhere.seen().is_empty(), "the other host was reached: {:?}", elsewhere.seen());

    let (code, _, err) = run("forge-auth");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("the component set its own authorization header; the host owns authentication"), "{err}");
    assert!(!source.seen().iter().any(|s| s.headers.iter().any(|(_, v)| v.contains("guessed"))), "the forged header left the host");

    // A source that reflects request headers, in its body or its own headers, would show the guest the token:
    // withheld, and the tenant stopped, as connector-harness does (tests/e2e/sandbox.rs).
    for (attack, said) in [("echo", "the response to /echo carried a credential; withheld from the component"), ("echo-header", "the response to /echo-header carried a credential in a header; withheld from the component")] {
        let (code, _, err) = run(attack);
        assert_eq!(code, 1, "{attack}: {err}");
        assert!(err.contains(&format!("error: {said}\n")), "{attack}: {err}");
        assert!(!err.contains(TOKEN), "{attack}: the token reached the guest's log: {err}");
    }
    assert!(!source.seen().iter().any(|s| s.uri == "/exfil" && s.body.starts_with("echo")), "a stopped tenant sent nothing more");
    // No spelling of the token endpoint's path gets past the host, and nothing reaches the source.
    let before = source.seen().len();
    for path in ["/oauth/token", "/oauth/token/", "/OAUTH/TOKEN", "/oauth//token", "/oauth/%74oken", "/./oauth/token", "/x/../oauth/token", "/oauth/token;x"] {
        let (code, _, err) = run_with("token-endpoint", SECRET, &["--config", &format!("path={path}")]);
        assert_eq!(code, 1, "{path}: {err}");
        let said = format!("error: egress refused: the component tried to call the token endpoint {path} itself (authentication is the host's)\n");
        assert!(err.contains(&said), "{path}: {err}");
    }
    assert!(source.seen()[before..].iter().all(|s| s.uri == "/oauth/token" && s.body.contains("grant_type")), "only the host's own token requests: {:?}", &source.seen()[before..]);
    // A redirect is shown to the guest, not followed; following it by hand leaves the tenant's origins.
    let (code, _, err) = run("redirect");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("which is not one of the tenant's origins"), "{err}");
    assert!(elsewhere.seen().is_empty(), "the redirect's target was reached: {:?}", elsewhere.seen());

    let (code, out, err) = run("snoop");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().filter(|l| l.contains("\"kind\":\"resource\"")).count(), 2, "the two accounts, synced after the snoop");
    let seen = source.seen();
    let report = seen.iter().find(|s| s.uri == "/exfil" && s.body.starts_with("config:")).expect("the snoop's report").body.clone();
    let lines: Vec<&str> = report.lines().collect();
    assert!(lines[0].starts_with("config: [(\"attack\", \"snoop\"), (\"base_url\"") && !lines[0].contains(SECRET), "{}", lines[0]);
    assert_eq!(lines[1..3], ["env: []", "args: []"], "no environment, no arguments");
    for line in &lines[3..7] {
        assert!(line.contains(": error: "), "no file can be read or listed: {line}");
    }
    assert!(lines[7].starts_with("tcp ") && lines[7].contains(": Err("), "no socket: {}", lines[7]);
    assert!(lines[8].starts_with("dns example.com: Err("), "no name lookup: {}", lines[8]);
    for s in seen.iter().filter(|s| s.uri != "/oauth/token") {
        let carried = format!("{} {} {:?}", s.uri, s.body, s.headers.iter().filter(|(k, _)| k != "authorization").collect::<Vec<_>>());
        assert!(!carried.contains(SECRET) && !carried.contains(TOKEN), "a credential reached the source in {s:?}");
    }
    assert!(!out.contains(SECRET) && !out.contains(TOKEN) && !err.contains(SECRET) && !err.contains(TOKEN), "a credential was printed");
}

#[test]
fn a_response_past_the_size_cap_stops_the_tenant_under_node() {
    let double = pingboard_double::PingboardDouble::start(pingboard_double::Company::generate(pingboard_double::CompanySpec::sized(4000))).unwrap();
    let scratch = Scratch::new();
    let (code, out, err) = node_sync(&sync_args(&scratch, &double, &["--config", "page_size=3000"]), &["--max-response-mib", "1"]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("error: the response to /api/v2/users was larger than the 1 MiB the host accepts"), "{err}");
}

#[test]
fn a_token_that_dies_early_is_replaced_under_node_and_the_sync_is_the_same() {
    let env = pingone_double::Environment::generate(pingone_double::EnvironmentSpec::sized(300, 6));
    let clean = pingone_double::PingOneDouble::start(env.clone()).unwrap();
    let scratch = Scratch::new();
    let store = scratch.store();
    let expected = harness_export(&scratch, &crate::pingone::pingone_args(&scratch, &["sync", "--store", &store], &clean, &[]));
    let faults = pingone_double::Faults { token_lifetime: Some(std::time::Duration::from_millis(150)), delay: Some(std::time::Duration::from_millis(10)), ..Default::default() };
    let expiring = pingone_double::PingOneDouble::start_with(env, pingone_double::Behaviour::default(), faults).unwrap();
    assert_same(&node_export(&crate::pingone::pingone_args(&scratch, &["sync"], &expiring, &[])), &expected, "PingOne with expiring tokens");
    assert!(expiring.counts().tokens > 1, "each dead token was replaced ({} tokens)", expiring.counts().tokens);
}

#[test]
fn what_the_node_cli_prints_of_a_source_or_a_flag_is_escaped() {
    // An environment variable's name from the command line reaches the error line: escaped, as a token
    // endpoint's error text is, so neither can clear the screen, forge a line or turn text around.
    let (code, out, err) = node(&["sync", "--component", &component(), "--config", "client_id=x", "--secret-env", "client_secret=\u{1b}[2J\u{202e}X\nerror: forged"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err, "error: secret `client_secret`: environment variable \\u{1b}[2J\\u{202e}X\\u{a}error: forged is not set\n");
}

#[test]
fn a_throttled_request_is_repeated_by_the_node_host_too() {
    // The SCIM double of `scim::quirks` (groups without members, 429 to every 9th request): the Node host's
    // egress repeats each refused request alone, so the requests answered are the floor (20) and the export
    // is the harness's, byte for byte.
    let directory = scim_double::Directory::generate(scim_double::DirectorySpec { users: 290, groups: 15 });
    let quirks = scim_double::Quirks { omit_members: true, ..scim_double::Quirks::default() };
    let clean = scim_double::ScimDouble::start(directory.clone(), quirks.clone()).unwrap();
    let scratch = Scratch::new();
    let store = scratch.store();
    let expected = harness_export(&scratch, &crate::scim::scim_args(&scratch, &["sync", "--store", &store], &clean.base_url(), scim_double::TOKEN));
    let limit = scim_double::Limit::EveryNth { n: 9, retry_after_secs: 1 };
    let throttled = scim_double::ScimDouble::start(directory, scim_double::Quirks { limit: Some(limit), ..quirks }).unwrap();
    let (code, out, err) = node_sync(&crate::scim::scim_args(&scratch, &["sync"], &throttled.base_url(), scim_double::TOKEN), &[]);
    assert_eq!(code, 0, "{err}");
    assert_same(&out, &expected, "SCIM under a 429 every 9th request");
    let counts = throttled.counts();
    assert_eq!((counts.total, counts.limited), (22, 2), "{counts:?}");
    // The first refusal halves the 4 calls at once, and the host says so.
    assert!(err.contains(": HTTP 429: slowing down from 4 to 2 calls at once\n"), "{err}");
}

#[test]
fn a_source_that_ignores_where_a_page_starts_is_stopped_under_node_as_by_the_harness() {
    // Every page is the first: the second page repeats what the first listed, and both hosts stop there.
    let company = pingboard_double::Company::generate(pingboard_double::CompanySpec::sized(500));
    let faults = pingboard_double::Faults { ignore_page: true, ..pingboard_double::Faults::default() };
    let double = pingboard_double::PingboardDouble::start_with(company, pingboard_double::DoubleOptions { faults, ..Default::default() }).unwrap();
    let scratch = Scratch::new();
    let (code, out, err) = node_sync(&sync_args(&scratch, &double, &["--config", "page_size=100"]), &[]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("bad response: it repeats 100 resources already listed; stopping rather than looping"), "{err}");
    assert!(double.counts().users_pages <= 5, "stopped at once, not after thousands of pages: {:?}", double.counts());
}

#[test]
fn both_hosts_keep_and_count_the_grants_that_name_what_the_source_did_not_list() {
    let spec = pingboard_double::CompanySpec { dangling_members: true, ..pingboard_double::CompanySpec::sized(400) };
    let double = pingboard_double::PingboardDouble::start(pingboard_double::Company::generate(spec)).unwrap();
    let scratch = Scratch::new();
    let args = sync_args(&scratch, &double, &["--config", "page_size=100"]);
    let harness_said = harness(&args).ok();
    let said = harness_said.split_once("; ").and_then(|_| harness_said.rsplit_once(" s; ")).map(|(_, tail)| tail.trim_end().to_string()).unwrap();
    assert!(said.starts_with("2 grants name a principal or entitlement the source did not list"), "{harness_said}");
    let (code, _, err) = node_sync(&args, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.trim_end().ends_with(&format!("requests; {said}")), "the Node host says the same: {err}");
}

#[test]
fn the_node_host_answers_every_conformance_case_as_the_harness_does() {
    // `wit/conformance/`: the harness runs the same cases in its unit tests (host-harness/src/conformance.rs).
    installed();
    let cache = std::env::temp_dir().join("connector-node-cache");
    let output = Command::new("node")
        .args(["--test", "test/"])
        .current_dir(host_dir())
        .env("TMPDIR", cache.parent().unwrap())
        .env("CONNECTOR_COMPONENT", component())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `node --test` ({e}): the Node host needs Node 20+"));
    let report = String::from_utf8_lossy(&output.stdout);
    let failures: Vec<&str> = report.lines().filter(|line| line.starts_with("not ok")).collect();
    assert!(output.status.success() && failures.is_empty(), "node --test failed:\n{}\n{}", failures.join("\n"), String::from_utf8_lossy(&output.stderr));
    assert!(report.lines().any(|line| line.starts_with("# pass ") && line != "# pass 0"), "no conformance case ran:\n{report}");
    assert!(report.lines().any(|line| line == "# skipped 0"), "every test ran, none skipped:\n{report}");
}

#[test]
fn the_node_cli_answers_help_and_takes_no_secret_on_its_command_line() {
    let (code, out, _) = node(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("Usage: connector-node <command> [options]") && out.contains("--secret-file KEY=PATH"), "{out}");
    let (code, out, err) = node(&["sync", "--component", &component(), "--secret", "client_secret=hunter2"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err, "error: --secret is not taken: a secret on the command line is visible to every process on the machine; use --secret-env KEY=VAR or --secret-file KEY=PATH\n");
    // From a file, its trailing newline dropped: the double accepts it, so the sync gets as far as the source.
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, format!("{}\n", pingboard_double::CLIENT_SECRET)).unwrap();
    let double = pingboard_double::PingboardDouble::start(pingboard_double::Company::generate(pingboard_double::CompanySpec::sized(20))).unwrap();
    let base = format!("base_url={}", double.base_url());
    let client = format!("client_id={}", pingboard_double::CLIENT_ID);
    let from_file = format!("client_secret={}", secret.display());
    let (code, out, err) = node(&["sync", "--component", &component(), "--config", &base, "--config", &client, "--secret-file", &from_file]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().count() > 20, "{out}");
}
