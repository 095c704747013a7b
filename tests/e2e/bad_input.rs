//! Bad input gets one clear line naming the problem, a non-zero exit, no secret anywhere, and the store as it
//! was: the last complete sync is still what readers see.

use crate::common::*;
use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, CompanySpec, Faults, PingboardDouble};

const SECRET: &str = "s3cr3t-never-printed";

#[track_caller]
fn fails_with(outcome: Outcome, expected: &str) {
    assert_eq!(outcome.code, 1, "should fail; stdout: {}", outcome.out);
    assert_eq!(outcome.err.lines().count(), 1, "one line: {}", outcome.err);
    assert!(outcome.err.starts_with("error: "), "{}", outcome.err);
    assert!(outcome.err.contains(expected), "expected `{expected}` in: {}", outcome.err);
    assert!(!outcome.err.contains(SECRET) && !outcome.out.contains(SECRET), "a secret leaked: {}", outcome.err);
    assert!(!outcome.err.contains(CLIENT_SECRET) && !outcome.out.contains(CLIENT_SECRET), "a secret leaked: {}", outcome.err);
}

fn base(scratch: &Scratch) -> Vec<String> {
    vec!["--cache-dir".into(), scratch.cache(), "sync".into(), "--component".into(), component(), "--store".into(), scratch.store()]
}

fn with(mut args: Vec<String>, extra: &[&str]) -> Vec<String> {
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

#[test]
fn config_mistakes_are_named_before_anything_is_written() {
    let scratch = Scratch::new();
    let secret = format!("client_secret={SECRET}");
    fails_with(harness(&with(base(&scratch), &["--secret", &secret])), "missing required config `client_id` (Client ID): pass it with --config client_id=…");
    fails_with(harness(&with(base(&scratch), &["--config", "client_id=x"])), "missing secret `client_secret` (Client secret): pass it with --secret client_secret=… or --secret-env client_secret=VAR");
    fails_with(harness(&with(base(&scratch), &["--config", "client_id=x", "--config", &secret])), "`client_secret` is a secret: pass it with --secret");
    fails_with(harness(&with(base(&scratch), &["--config", "client_id=x", "--secret", &secret, "--config", "colour=blue"])), "unknown config key `colour` (this connector takes: base_url, client_id, client_secret, page_size)");
    fails_with(harness(&with(base(&scratch), &["--config", "client_id=x", "--secret", &secret, "--config", "page_size=0"])), "invalid config: page_size `0` must be a whole number from 1 to 3000");
    fails_with(harness(&with(base(&scratch), &["--config", "client_id=x", "--secret-env", "client_secret=NO_SUCH_VARIABLE_HERE"])), "secret `client_secret`: environment variable NO_SUCH_VARIABLE_HERE is not set");
    fails_with(harness(&with(base(&scratch), &["--config", "client_id=x", "--secret", &secret, "--config", "base_url=ftp://files.example"])), "base URL `ftp://files.example` must use http or https");
    assert!(!std::path::Path::new(&scratch.store()).exists(), "no store is created for bad input");
}

#[test]
fn a_malformed_tenant_file_is_named_without_echoing_it() {
    let scratch = Scratch::new();
    let file = scratch.path("tenant.toml");
    std::fs::write(&file, format!("tenant = \"acme\"\n[secrets]\nclient_secret = {{ value = \"{SECRET}\" \n")).unwrap();
    let args = ["sync".to_string(), "--tenant-file".into(), file.display().to_string(), "--store".into(), scratch.store()];
    fails_with(harness(&args), &format!("tenant file {} is malformed at byte", file.display()));
}

#[test]
fn the_component_and_the_store_must_be_usable() {
    let scratch = Scratch::new();
    let core_module = scratch.path("core.wasm");
    std::fs::write(&core_module, b"\0asm\x01\0\0\0").unwrap();
    let inspect = |path: &str| harness(&["--cache-dir", &scratch.cache(), "inspect", "--component", path]);
    fails_with(inspect(&scratch.path("missing.wasm").display().to_string()), "cannot read component");
    fails_with(inspect(env!("CARGO_MANIFEST_PATH")), "is not usable: it is not a WebAssembly file");
    fails_with(inspect(&core_module.display().to_string()), "it is a core WebAssembly module, not a component (build it with --target wasm32-wasip2)");

    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(10))).unwrap();
    let not_a_dir = scratch.path("plain-file");
    std::fs::write(&not_a_dir, "x").unwrap();
    let mut args = sync_args(&scratch, &double, &[]);
    let store_at = args.iter().position(|a| a == "--store").unwrap() + 1;
    args[store_at] = not_a_dir.join("store.db").display().to_string();
    fails_with(harness(&args), "does not exist");
    assert_eq!(double.counts().total, 0, "nothing was sent");
}

#[test]
fn unknown_queries_are_named() {
    let scratch = Scratch::new();
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(10))).unwrap();
    harness(&sync_args(&scratch, &double, &[])).ok();
    fails_with(harness(&["resources", "--store", &scratch.store(), "--type", "robot"]), "unknown resource type `robot` (sync 1 has: department, group, location, user)");
    fails_with(harness(&["export", "--store", &scratch.store(), "--tenant", "nobody", "--format", "jsonl"]), "tenant `nobody` has no complete sync in this store");
    fails_with(harness(&["diff", "--store", &scratch.store()]), "tenant `default` has 1 complete sync(s); diff needs two");
    fails_with(harness(&["export", "--store", &scratch.path("nope.db").display().to_string(), "--format", "jsonl"]), "no store at");
    let usage = harness(&["export", "--store", &scratch.store(), "--format", "xml"]);
    assert_eq!(usage.code, 2, "usage errors exit 2");
}

#[test]
fn source_failures_fail_cleanly_and_keep_the_last_good_sync() {
    let company = Company::generate(CompanySpec::sized(500));
    let double = PingboardDouble::start(company.clone()).unwrap();
    let scratch = Scratch::new();
    harness(&sync_args(&scratch, &double, &["--config", "page_size=100"])).ok();
    let good = export(&scratch, "default");
    // One page at a time, so the users listing is the one that meets each fault first.
    let retry_fast = ["--max-attempts", "2", "--config", "page_size=100", "--concurrency", "1"];

    double.set_faults(Faults { unavailable_burst: Some((1, 1_000)), ..Faults::default() });
    fails_with(harness(&sync_args(&scratch, &double, &retry_fast)), "listing user: unavailable: GET /api/v2/users page 1: HTTP 503 (gave up after 2 attempts)");

    double.set_faults(Faults { truncate_every: Some(1), ..Faults::default() });
    fails_with(harness(&sync_args(&scratch, &double, &retry_fast)), "listing user: bad response: GET /api/v2/users page 1: body is not valid JSON (EOF while parsing");

    double.set_faults(Faults::default());
    let mut unreachable = sync_args(&scratch, &double, &retry_fast);
    let at = unreachable.iter().position(|a| a.starts_with("base_url=")).unwrap();
    unreachable[at] = "base_url=http://127.0.0.1:1".into();
    // The first request to fail is the host's own, for a token: it is named, not the page it was for.
    fails_with(
        harness(&unreachable),
        "error: source unavailable: the token endpoint http://127.0.0.1:1/oauth/token could not be reached: connection error: Connection refused (os error 111) (gave up after 2 attempts)",
    );

    assert_eq!(export(&scratch, "default"), good, "readers still see the last good sync");
    let _ = CLIENT_ID;
}

#[test]
fn diff_shows_what_changed_between_the_last_two_syncs() {
    let mut company = Company::generate(CompanySpec::sized(60));
    let double = PingboardDouble::start(company.clone()).unwrap();
    let scratch = Scratch::new();
    harness(&sync_args(&scratch, &double, &[])).ok();
    let leaver = company.users.remove(7);
    company.users[0].job_title = "Chief Executive".into();
    for group in &mut company.groups {
        group.member_ids.retain(|m| m != &leaver.id);
    }
    double.replace_company(company.clone());
    harness(&sync_args(&scratch, &double, &[])).ok();
    let diff = harness(&["diff", "--store", &scratch.store()]).ok();
    let lines: Vec<&str> = diff.lines().collect();
    assert!(lines.contains(&format!("- resource user:{}", leaver.id).as_str()), "{diff}");
    assert!(lines.contains(&format!("~ resource user:{}", company.users[0].id).as_str()), "{diff}");
    let removed_grants = lines.iter().filter(|l| l.starts_with("- grant ") && l.ends_with(&format!(":user:{}", leaver.id))).count();
    assert_eq!(removed_grants, 3, "the leaver's location, department and team memberships: {diff}");
    // Changed: the promoted user, and the leaver's three groups (their member counts).
    assert_eq!(lines.last().copied(), Some("sync 1 → sync 2: 0 added, 4 removed, 4 changed"), "{diff}");
}

#[test]
fn in_a_tenants_file_a_broken_tenant_fails_alone() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(20))).unwrap();
    let scratch = Scratch::new();
    let tenant = |name: &str, component: &str, secret: &str| {
        format!(
            "[[tenant]]\nname = \"{name}\"\ncomponent = \"{component}\"\nconfig = {{ base_url = \"{}\", client_id = \"{CLIENT_ID}\" }}\nsecrets = {{ client_secret = {secret} }}\n",
            double.base_url()
        )
    };
    let file = scratch.path("tenants.toml");
    let secret = format!("{{ value = \"{CLIENT_SECRET}\" }}");
    let missing = scratch.path("missing.wasm").display().to_string();
    let tenants = [
        tenant("good", &component(), &secret),
        tenant("no-component", &missing, &secret),
        tenant("no-secret", &component(), "{ env = \"NO_SUCH_VARIABLE_HERE\" }"),
        tenant("wrong-secret", &component(), &format!("{{ value = \"{SECRET}\" }}")),
    ];
    std::fs::write(&file, tenants.concat()).unwrap();
    let outcome = harness(&["--cache-dir", &scratch.cache(), "sync", "--tenants", file.to_str().unwrap(), "--parallel", "2", "--store", &scratch.store()]);
    assert_eq!(outcome.code, 1);
    let mut lines: Vec<&str> = outcome.out.lines().collect();
    let total = lines.pop().unwrap();
    assert!(total.starts_with("4 tenants: 1 synced, 3 failed, in "), "{total}");
    lines.sort();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0], format!("failed tenant `no-component`: cannot read component {missing}: No such file or directory (os error 2)"));
    assert_eq!(lines[1], "failed tenant `no-secret`: secret `client_secret`: environment variable NO_SUCH_VARIABLE_HERE is not set");
    assert!(lines[2].starts_with("failed tenant `wrong-secret`: authentication failed: the token endpoint "), "{}", lines[2]);
    assert!(lines[3].starts_with("synced tenant `good` (sync "), "{}", lines[3]);
    assert_eq!(outcome.err, "error: 3 of 4 tenants failed\n");
    assert!(!outcome.out.contains(SECRET) && !outcome.out.contains(CLIENT_SECRET));
}

#[test]
fn tenants_file_flags_do_not_mix_with_single_tenant_flags() {
    let scratch = Scratch::new();
    let conflict = harness(&["sync", "--tenants", "t.toml", "--component", &component(), "--store", &scratch.store()]);
    assert_eq!(conflict.code, 2, "{}", conflict.err);
    assert!(conflict.err.contains("'--tenants <TENANTS>' cannot be used with '--component <COMPONENT>'"), "{}", conflict.err);
    let alone = harness(&["sync", "--parallel", "3", "--store", &scratch.store()]);
    assert_eq!(alone.code, 2, "{}", alone.err);
    assert!(alone.err.contains("the following required arguments were not provided:\n  --tenants <TENANTS>"), "{}", alone.err);
    let mixed = harness(&["sync", "--parallel", "3", "--component", &component(), "--store", &scratch.store()]);
    assert_eq!(mixed.code, 2, "{}", mixed.err);
    assert!(mixed.err.contains("'--parallel <PARALLEL>' cannot be used with '--component <COMPONENT>'"), "{}", mixed.err);
    fails_with(harness(&["sync", "--tenants", scratch.path("none.toml").to_str().unwrap(), "--store", &scratch.store()]), "cannot read tenants file");
}

#[test]
fn a_password_in_the_base_url_is_refused_without_being_repeated() {
    let scratch = Scratch::new();
    let url = format!("base_url=http://ada:{SECRET}@127.0.0.1:1");
    let outcome = harness(&with(base(&scratch), &["--config", "client_id=x", "--secret", "client_secret=abcdefgh", "--config", &url]));
    fails_with(outcome, "error: the base URL must not contain a user name or password (`user:password@`): give credentials as secrets");
    assert!(!std::path::Path::new(&scratch.store()).exists(), "nothing was stored, so no error holding it either");
}

#[test]
fn tenant_names_with_control_characters_are_refused() {
    let scratch = Scratch::new();
    fails_with(harness(&with(base(&scratch), &["--tenant", "acme\n[other] forged line"])), "error: tenant name `acme\\n[other] forged line` contains a control character");
    let file = scratch.path("tenants.toml");
    std::fs::write(&file, "[[tenant]]\nname = \"a\\u001b[2Jb\"\n").unwrap();
    let outcome = harness(&["sync", "--tenants", file.to_str().unwrap(), "--store", &scratch.store()]);
    fails_with(outcome, &format!("error: tenants file {}: tenant name `a\\u{{1b}}[2Jb` contains a control character", file.display()));
}

#[test]
fn files_that_are_not_small_regular_files_are_refused_and_fail_only_their_tenant() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(20))).unwrap();
    let scratch = Scratch::new();
    let fifo = scratch.path("secret.fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let sparse = scratch.path("huge-secret");
    std::fs::File::create(&sparse).unwrap().set_len(1 << 30).unwrap();
    let tenant = |name: &str, secret_file: &str| {
        format!(
            "[[tenant]]\nname = \"{name}\"\ncomponent = \"{}\"\nconfig = {{ base_url = \"{}\", client_id = \"{CLIENT_ID}\" }}\nsecrets = {{ client_secret = {{ file = \"{secret_file}\" }} }}\n",
            component(),
            double.base_url()
        )
    };
    let good = scratch.path("good-secret");
    std::fs::write(&good, format!("{CLIENT_SECRET}\n")).unwrap();
    let file = scratch.path("tenants.toml");
    let tenants = [tenant("good", good.to_str().unwrap()), tenant("fifo", fifo.to_str().unwrap()), tenant("zero", "/dev/zero"), tenant("sparse", sparse.to_str().unwrap())];
    std::fs::write(&file, tenants.concat()).unwrap();
    let outcome = harness(&["--cache-dir", &scratch.cache(), "sync", "--tenants", file.to_str().unwrap(), "--parallel", "2", "--store", &scratch.store()]);
    let mut lines: Vec<&str> = outcome.out.lines().collect();
    assert!(lines.pop().unwrap().starts_with("4 tenants: 1 synced, 3 failed, in "), "{}", outcome.out);
    lines.sort();
    assert_eq!(lines[0], format!("failed tenant `fifo`: cannot read secret `client_secret` from file {}: it is not a regular file (a device, FIFO or socket)", fifo.display()));
    assert_eq!(lines[1], format!("failed tenant `sparse`: secret `client_secret` from file {} is 1024.0 MiB, larger than the limit of 64.0 KiB", sparse.display()));
    assert_eq!(lines[2], "failed tenant `zero`: cannot read secret `client_secret` from file /dev/zero: it is not a regular file (a device, FIFO or socket)");
    assert!(lines[3].starts_with("synced tenant `good` (sync "), "{}", lines[3]);
    assert_eq!(double.counts().token, 1, "only the good tenant's secret was sent anywhere");

    let outcome = harness(&["sync", "--tenants", "/dev/zero", "--store", &scratch.store()]);
    fails_with(outcome, "error: cannot read tenants file /dev/zero: it is not a regular file (a device, FIFO or socket)");
}

#[test]
fn a_sync_stops_at_its_record_cap_and_the_last_good_sync_stays() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(500))).unwrap();
    let scratch = Scratch::new();
    harness(&sync_args(&scratch, &double, &["--config", "page_size=100"])).ok();
    let good = export(&scratch, "default");
    // 100 users per page: the third page would bring the total past 250.
    let capped = harness(&sync_args(&scratch, &double, &["--config", "page_size=100", "--max-records", "250"]));
    fails_with(capped, "error: the sync passed its cap of 250 stored records (resources, entitlements and grants); if the source really is this large, raise the max_records limit");
    assert_eq!(export(&scratch, "default"), good);
}

#[test]
fn lenient_spellings_are_accepted() {
    let company = Company::generate(CompanySpec::sized(30));
    let double = PingboardDouble::start(company.clone()).unwrap();
    let scratch = Scratch::new();
    let file = scratch.path("tenant.toml");
    let upper = double.base_url().replace("http://", "HTTP://");
    std::fs::write(
        &file,
        format!("tenant = \"acme\"\ncomponent = \"{}\"\n[config]\nbase_url = \"{upper}\"\nclient_id = \"{CLIENT_ID}\"\npage_size = 1e1\n[secrets]\nclient_secret = {{ value = \"{CLIENT_SECRET}\" }}\n", component()),
    )
    .unwrap();
    let before = double.counts().total;
    harness(&["--cache-dir", &scratch.cache(), "sync", "--tenant-file", file.to_str().unwrap(), "--store", &scratch.store()]).ok();
    assert_eq!(double.counts().total - before, 1 + 3 + 2, "pages of 10: an uppercase scheme and `1e1` both taken as meant");
    assert_export_matches(&export(&scratch, "acme"), &company);
}

#[test]
fn ids_from_the_source_are_printed_escaped() {
    let mut company = Company::generate(CompanySpec::sized(20));
    let double = PingboardDouble::start(company.clone()).unwrap();
    let scratch = Scratch::new();
    harness(&sync_args(&scratch, &double, &[])).ok();
    company.users[0].id = "66\u{1b}]0;owned\u{7}\r\n+ resource user:forged\0".into();
    double.replace_company(company.clone());
    harness(&sync_args(&scratch, &double, &[])).ok();
    let diff = harness(&["diff", "--store", &scratch.store()]).ok();
    assert!(!diff.contains(['\u{1b}', '\r', '\0', '\u{7}']), "{diff:?}");
    assert!(diff.lines().any(|l| l == "+ resource user:66\\u{1b}]0;owned\\u{7}\\r\\n+ resource user:forged\\u{0}"), "{diff}");
    assert!(!diff.lines().any(|l| l == "+ resource user:forged"), "no line was forged: {diff}");
}
