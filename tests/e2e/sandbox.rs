//! Many tenants on one host (`sync --tenants --parallel`), some of them hostile: each attack of the hostile
//! component is stopped with its own specific error, no credential reaches anything the guest can see or
//! send, nothing reaches another host, and the well-behaved tenants syncing alongside get exactly their data.

use crate::common::source::Source;
use crate::common::*;
use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, CompanySpec, DoubleOptions, PingboardDouble};
use serde_json::Value;

const HOSTILE_SECRET: &str = "hostile-client-secret-9f2c";
const HOSTILE_TOKEN: &str = "hostile-access-token-77e1";

fn hostile() -> String {
    component_build::hostile_component().display().to_string()
}

/// One `[[tenant]]` table of the hostile component.
fn hostile_tenant(name: &str, attack: &str, source: &Source, other_url: &str, limits: &str) -> String {
    format!(
        "[[tenant]]\nname = \"{name}\"\ncomponent = \"{}\"\nconfig = {{ base_url = \"{}\", client_id = \"hostile\", attack = \"{attack}\", other_url = \"{other_url}\" }}\n\
         secrets = {{ client_secret = {{ value = \"{HOSTILE_SECRET}\" }} }}\nlimits = {{ {limits} }}\n\n",
        hostile(),
        source.base_url(),
    )
}

fn pingboard_tenant(name: &str, double: &PingboardDouble, secret: &str) -> String {
    format!(
        "[[tenant]]\nname = \"{name}\"\ncomponent = \"{}\"\nconfig = {{ base_url = \"{}\", client_id = \"{CLIENT_ID}\" }}\n\
         secrets = {{ client_secret = {{ value = \"{secret}\" }} }}\n\n",
        component(),
        double.base_url(),
    )
}

fn sync_tenants(scratch: &Scratch, tenants: &str, parallel: &str) -> Outcome {
    let file = scratch.path("tenants.toml");
    std::fs::write(&file, tenants).unwrap();
    harness(&["--cache-dir", &scratch.cache(), "sync", "--tenants", file.to_str().unwrap(), "--parallel", parallel, "--store", &scratch.store()])
}

/// The line `sync --tenants` printed for a tenant.
#[track_caller]
fn line_of<'a>(out: &'a str, tenant: &str) -> &'a str {
    let synced = format!("synced tenant `{tenant}` ");
    let failed = format!("failed tenant `{tenant}`: ");
    out.lines().find(|l| l.starts_with(&synced) || l.starts_with(&failed)).unwrap_or_else(|| panic!("no line for {tenant} in:\n{out}"))
}

#[track_caller]
fn assert_failed(out: &str, tenant: &str, reason: &str) {
    assert_eq!(line_of(out, tenant), format!("failed tenant `{tenant}`: {reason}"));
}

/// The export of the well-behaved hostile component: two accounts, their entitlements and grants from the
/// per-resource calls (the second page of grants included).
#[track_caller]
fn assert_accounts(lines: &[Value]) {
    let ids = |kind: &str| of_kind(lines, kind).iter().map(|l| l["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(ids("resource"), ["1", "2"]);
    assert_eq!(of_kind(lines, "resource").iter().map(|l| l["display_name"].as_str().unwrap()).collect::<Vec<_>>(), ["Ada", "Grace"]);
    assert_eq!(ids("entitlement"), ["account:1:admin", "account:2:admin"]);
    assert_eq!(ids("grant"), ["account:1:admin:account:1", "account:2:admin:account:2"]);
}

#[test]
fn hostile_tenants_are_stopped_each_by_name_while_good_tenants_sync_exactly() {
    let elsewhere = Source::start("unused", "unused", "http://127.0.0.1:9");
    let source = Source::start(HOSTILE_SECRET, HOSTILE_TOKEN, &elsewhere.base_url());
    let company = Company::generate(CompanySpec::sized(300));
    let double = PingboardDouble::start(company.clone()).unwrap();
    let other = format!("{}/steal", elsewhere.base_url());
    let t = |name: &str, attack: &str, limits: &str| hostile_tenant(name, attack, &source, &other, limits);
    let tenants = [
        pingboard_tenant("good", &double, CLIENT_SECRET),
        t("behaving", "none", ""),
        t("other-host", "other-host", ""),
        t("redirect", "redirect", ""),
        t("memory", "memory", "memory_mib = 32"),
        t("loop", "loop", "call_timeout_secs = 1"),
        t("handles", "handles", ""),
        t("deadline", "loop", "call_timeout_secs = 60, sync_timeout_secs = 1.5"),
        t("budget", "none", "max_requests = 1"),
        t("stderr", "stderr", "log_kib = 16"),
        t("big-body", "big-body", ""),
        t("snoop", "snoop", ""),
        t("forge-auth", "forge-auth", ""),
        t("echo", "echo", ""),
        t("echo-header", "echo-header", ""),
        t("token-endpoint", "token-endpoint", ""),
        t("fail-open", "fail-open", ""),
    ]
    .concat();
    let scratch = Scratch::new();
    let outcome = sync_tenants(&scratch, &tenants, "4");
    let (out, err) = (&outcome.out, &outcome.err);
    assert_eq!(outcome.code, 1, "some tenants failed:\n{out}\n{err}");
    assert_eq!(err.lines().last(), Some("error: 11 of 17 tenants failed"));
    assert!(out.lines().last().unwrap().starts_with("17 tenants: 6 synced, 11 failed, in "), "{out}");

    // Each attack, stopped by name.
    let source_origin = source.base_url();
    let elsewhere_authority = elsewhere.base_url();
    let refused = |to: &str| format!("the host stopped the component: egress refused: the component tried to reach {to}, outside its allowed origin {source_origin}");
    assert_failed(out, "other-host", &format!("listing account: {}", refused(&elsewhere_authority)));
    assert_failed(out, "redirect", &format!("listing account: {}", refused(&elsewhere_authority)));
    assert!(err.contains("[redirect] redirect: Ok((302, \"\""), "the guest saw the redirect, not its target:\n{err}");
    assert!(err.contains("[redirect] redirect, followed: Err(\"ErrorCode::HttpRequestDenied\")\n"), "{err}");
    assert_failed(out, "memory", "listing account: the component ran out of memory in list-resources (the sandbox's memory cap was reached)");
    assert_failed(out, "handles", "listing account: the component held more than 1000 host resources at once in list-resources (the sandbox's cap)");
    assert_failed(out, "loop", "listing account: the component's list-resources call ran past its 1 s deadline");
    assert_failed(out, "deadline", "the sync ran past its 1.5 s deadline");
    assert_failed(out, "budget", "listing account: the host stopped the component: the sync used up its budget of 1 requests");
    assert_failed(out, "echo", "listing account: the host stopped the component: the response to /echo carried a credential; withheld from the component");
    assert_failed(out, "echo-header", "listing account: the host stopped the component: the response to /echo-header carried a credential in a header; withheld from the component");
    assert_failed(
        out,
        "token-endpoint",
        "listing account: the host stopped the component: egress refused: the component tried to call the token endpoint /oauth/token itself (authentication is the host's)",
    );

    // A component that fails to open still has its log shown.
    assert_failed(out, "fail-open", "cannot open the connector: invalid config: the hostile component refuses to open");
    assert!(err.contains("[fail-open] hostile: refusing to open\n"), "{err}");

    // Nothing reached the other host, directly or by the redirect.
    assert!(elsewhere.seen().is_empty(), "the other host was reached: {:?}", elsewhere.seen());

    // The snoop found no credential and no way out, and said so to the only place it could.
    let seen = source.seen();
    let exfil: Vec<&str> = seen.iter().filter(|s| s.method == "POST" && s.uri == "/exfil").map(|s| s.body.as_str()).collect();
    assert!(!exfil.iter().any(|b| b.starts_with("echo")), "a stopped tenant sent nothing more: {exfil:?}");
    let snoop = exfil.iter().find(|b| b.starts_with("config:")).expect("the snoop's report");
    let snoop: Vec<&str> = snoop.lines().collect();
    assert_eq!(
        snoop[0],
        format!("config: [(\"attack\", \"snoop\"), (\"base_url\", \"{source_origin}\"), (\"client_id\", \"hostile\"), (\"other_url\", \"{other}\")]")
    );
    assert_eq!(snoop[1..3], ["env: []", "args: []"]);
    for (line, path) in snoop[3..7].iter().zip(["/etc/passwd", "/proc/self/environ", "secrets.toml", "/"]) {
        assert_eq!(*line, format!("file {path}: error: No such file or directory (os error 44)"));
    }
    assert_eq!(snoop[7], format!("tcp {}: Err(\"Permission denied (os error 2)\")", source_origin.trim_start_matches("http://")));
    assert_eq!(snoop[8], "dns example.com: Err(\"failed to lookup address information: Non-recoverable error\")");
    // A guest may not set its own credentials header: the request fails before it leaves.
    let forged = exfil.iter().find(|b| b.starts_with("forge-auth:")).expect("the forge-auth report");
    assert_eq!(*forged, "forge-auth: Err(\"HeaderError::Forbidden\")");

    // No credential anywhere the guests could see or send: not in what reached the source (other than the
    // host's own token request and Authorization headers), not in the logs, not in the output.
    for s in &seen {
        let carried = format!("{} {} {}", s.uri, s.body, s.headers.iter().filter(|(k, _)| k != "authorization").map(|(k, v)| format!("{k}: {v}")).collect::<String>());
        if s.uri != "/oauth/token" {
            assert!(!carried.contains(HOSTILE_SECRET) && !carried.contains(HOSTILE_TOKEN), "a credential reached the source in {s:?}");
        }
    }
    for text in [out, err] {
        assert!(!text.contains(HOSTILE_SECRET) && !text.contains(HOSTILE_TOKEN) && !text.contains(CLIENT_SECRET), "a credential was printed:\n{text}");
    }

    // The guest log: prefixed, and capped for the tenant that printed 8 MiB.
    assert!(err.contains(&format!("[behaving] hostile: behaving, listing accounts from {source_origin}\n")), "{err}");
    let stderr_lines: Vec<&str> = err.lines().filter(|l| l.starts_with("[stderr] ")).collect();
    assert_eq!(stderr_lines.len(), 2, "one capped line and the note of what was dropped");
    assert_eq!(stderr_lines[0].len(), "[stderr] ".len() + (16 << 10));
    assert_eq!(stderr_lines[1], format!("[stderr] [{} more bytes dropped: the guest log is capped at 16 KiB]", (8 << 20) + 1 - (16 << 10)));

    // A request body past the cap (1 MiB) never leaves: the guest gets an error, and may go on.
    assert!(err.contains("[big-body] big-body: Err(\"StreamError::Closed\")\n"), "{err}");
    assert!(!seen.iter().any(|s| s.body.len() > 1 << 20), "a request body past the cap reached the source");

    // The tenants that behaved, including the one that printed too much, got exactly their data.
    for tenant in ["behaving", "stderr", "snoop", "forge-auth", "big-body"] {
        assert!(line_of(out, tenant).starts_with(&format!("synced tenant `{tenant}` ")), "{out}");
        assert_accounts(&export(&scratch, tenant));
    }
    assert_export_matches(&export(&scratch, "good"), &company);
    assert_eq!(double.counts().unauthorized, 0);
}

#[test]
fn tenants_in_parallel_never_see_each_others_data_tokens_or_logs() {
    let (company_a, company_b) = (Company::generate(CompanySpec::sized(120)), Company::generate(CompanySpec::sized(75)));
    let options = |secret: &str, prefix: &str| DoubleOptions { client_secret: secret.into(), token_prefix: prefix.into(), ..DoubleOptions::default() };
    let double_a = PingboardDouble::start_with(company_a.clone(), options("secret-of-tenant-a", "token-of-tenant-a")).unwrap();
    let double_b = PingboardDouble::start_with(company_b.clone(), options("secret-of-tenant-b", "token-of-tenant-b")).unwrap();
    let source_a = Source::start("hostile-secret-a-1234", "hostile-token-a-1234", "http://127.0.0.1:9");
    let source_b = Source::start("hostile-secret-b-5678", "hostile-token-b-5678", "http://127.0.0.1:9");
    let logger = |name: &str, source: &Source, secret: &str| hostile_tenant(name, "none", source, "", "").replace(HOSTILE_SECRET, secret);
    let tenants = [
        pingboard_tenant("a", &double_a, "secret-of-tenant-a"),
        pingboard_tenant("b", &double_b, "secret-of-tenant-b"),
        logger("log-a", &source_a, "hostile-secret-a-1234"),
        logger("log-b", &source_b, "hostile-secret-b-5678"),
    ]
    .concat();
    let scratch = Scratch::new();
    let outcome = sync_tenants(&scratch, &tenants, "4");
    let err = outcome.err.clone();
    let out = outcome.ok();
    assert!(out.lines().last().unwrap().starts_with("4 tenants: 4 synced, 0 failed"), "{out}");

    // Data: each tenant has exactly its own company.
    assert_export_matches(&export(&scratch, "a"), &company_a);
    assert_export_matches(&export(&scratch, "b"), &company_b);
    // Tokens: each double issued one token and never saw a token it did not issue.
    for double in [&double_a, &double_b] {
        let counts = double.counts();
        assert_eq!((counts.token, counts.unauthorized), (1, 0));
    }
    for (source, token) in [(&source_a, "hostile-token-a-1234"), (&source_b, "hostile-token-b-5678")] {
        let authorizations: Vec<String> = source.seen().iter().filter(|s| s.uri != "/oauth/token").flat_map(|s| s.headers.iter().filter(|(k, _)| k == "authorization").map(|(_, v)| v.clone())).collect();
        assert_eq!(authorizations, [format!("Bearer {token}")]);
    }
    // Logs: each log line carries its own tenant's name and only its own tenant's output.
    let log = |tenant: &str| err.lines().filter(|l| l.starts_with(&format!("[{tenant}] "))).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(log("log-a"), [format!("[log-a] hostile: behaving, listing accounts from {}", source_a.base_url())]);
    assert_eq!(log("log-b"), [format!("[log-b] hostile: behaving, listing accounts from {}", source_b.base_url())]);
    assert_eq!(err.lines().count(), 2, "nothing else was printed: {err}");
}

#[test]
fn no_spelling_of_the_token_endpoint_path_gets_past_the_host() {
    let source = Source::start(HOSTILE_SECRET, HOSTILE_TOKEN, "http://127.0.0.1:9");
    let variants = ["/oauth/token/", "/OAUTH/TOKEN", "/oauth//token", "/oauth/%74oken", "/./oauth/token", "/x/../oauth/token", "/oauth/token;x"];
    let tenants: String = variants
        .iter()
        .enumerate()
        .map(|(i, path)| {
            format!(
                "[[tenant]]\nname = \"v{i}\"\ncomponent = \"{}\"\nconfig = {{ base_url = \"{}\", client_id = \"hostile\", attack = \"token-endpoint\", path = \"{path}\" }}\n\
                 secrets = {{ client_secret = {{ value = \"{HOSTILE_SECRET}\" }} }}\n\n",
                hostile(),
                source.base_url(),
            )
        })
        .collect();
    let scratch = Scratch::new();
    let outcome = sync_tenants(&scratch, &tenants, "2");
    for (i, path) in variants.iter().enumerate() {
        let reason = format!("egress refused: the component tried to call the token endpoint {path} itself (authentication is the host's)");
        assert_failed(&outcome.out, &format!("v{i}"), &format!("listing account: the host stopped the component: {reason}"));
    }
    assert!(source.seen().is_empty(), "a request reached the source: {:?}", source.seen());
}

#[test]
fn a_component_cannot_name_the_origin_of_the_token_request() {
    let source = Source::start(HOSTILE_SECRET, HOSTILE_TOKEN, "http://127.0.0.1:9");
    let tenant = format!(
        "[[tenant]]\nname = \"elsewhere\"\ncomponent = \"{}\"\nconfig = {{ base_url = \"{}\", client_id = \"hostile\" }}\n\
         secrets = {{ client_secret = {{ value = \"{HOSTILE_SECRET}\" }} }}\n",
        component_build::hostile_token_elsewhere_component().display(),
        source.base_url(),
    );
    let scratch = Scratch::new();
    let outcome = sync_tenants(&scratch, &tenant, "1");
    assert_failed(
        &outcome.out,
        "elsewhere",
        "the connector's token URL `http://127.0.0.1:9/steal` names an origin of its own; a token URL must start with / (the base URL's origin) or with a config field, `{field}`",
    );
    assert!(source.seen().is_empty(), "nothing was sent anywhere: {:?}", source.seen());
    assert!(!outcome.out.contains(HOSTILE_SECRET) && !outcome.err.contains(HOSTILE_SECRET));
}
