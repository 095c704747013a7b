//! The real `connector-harness` binary, as a shell sees it: exit codes, single-line errors, signals, pipes, and
//! readers that may not write the store.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, CompanySpec, DoubleOptions, Faults, PingboardDouble};

use crate::cli;

const BINARY: &str = env!("CARGO_BIN_EXE_connector-harness");

fn harness(args: &[&str]) -> std::process::Output {
    Command::new(BINARY).args(args).env_remove("RUST_LOG").output().unwrap()
}

fn sync_args(double: &PingboardDouble, store: &Path, cache: &Path, secret: &str) -> Vec<String> {
    [
        "--cache-dir", cache.to_str().unwrap(), "sync", "--component", component_build::pingboard_component().to_str().unwrap(),
        "--store", store.to_str().unwrap(), "--config", &format!("base_url={}", double.base_url()),
        "--config", &format!("client_id={CLIENT_ID}"), "--secret", &format!("client_secret={secret}"), "--config", "page_size=100",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn export(store: &Path) -> String {
    let (code, out, err) = cli(&["export".into(), "--store".into(), store.display().to_string(), "--format".into(), "jsonl".into()]);
    assert_eq!(code, 0, "{err}");
    out
}

#[test]
fn help_succeeds_and_names_every_command() {
    let out = harness(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for command in ["inspect", "validate", "sync", "resources", "grants", "export", "diff", "get", "prune"] {
        assert!(text.contains(command), "{command} missing from --help");
    }
}

#[test]
fn a_file_that_is_not_a_component_is_one_line_and_exit_1() {
    let out = harness(&["--no-cache", "inspect", "--component", env!("CARGO_MANIFEST_PATH")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err, format!("error: {} is not usable: it is not a WebAssembly file\n", env!("CARGO_MANIFEST_PATH")));
    let out = harness(&["--no-cache", "inspect", "--component", "/dev/zero"]);
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "error: cannot read component /dev/zero: it is not a regular file (a device, FIFO or socket)\n");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(harness(&["sync", "--bogus"]).status.code(), Some(2));
}

#[test]
fn a_failure_is_one_uncoloured_line_and_logs_are_never_coloured_into_a_pipe() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(10))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let args = sync_args(&double, &dir.path().join("s.db"), &dir.path().join("cache"), "wrong-secret-value");
    let out = Command::new(BINARY).args(&args).env_remove("RUST_LOG").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: authentication failed: the token endpoint "), "{err}");

    let out = Command::new(BINARY).args(&args).env("RUST_LOG", "info").output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.lines().count() > 1, "info lines too: {err}");
    assert!(!err.contains('\u{1b}'), "no colour codes into a pipe: {err:?}");
}

#[test]
fn a_throttled_sync_says_that_it_slowed_down_and_why() {
    // Every 6th API call answers 429: the first halves the 4 calls at once, and the log says so at the
    // default level.
    let faults = Faults { rate_limit_every: Some(6), retry_after: Some("0".into()), ..Faults::default() };
    let double = PingboardDouble::start_with(Company::generate(CompanySpec::sized(1000)), DoubleOptions { faults, ..DoubleOptions::default() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut args = sync_args(&double, &dir.path().join("s.db"), &dir.path().join("cache"), CLIENT_SECRET);
    args.extend(["--concurrency".to_string(), "4".to_string()]);
    let out = Command::new(BINARY).args(&args).env_remove("RUST_LOG").output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(": HTTP 429: slowing down from 4 to 2 calls at once"), "{err}");
}

#[test]
fn export_into_a_pipe_that_closes_early_exits_quietly() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(2000))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    assert_eq!(cli(&sync_args(&double, &store, &dir.path().join("cache"), CLIENT_SECRET)).0, 0);
    // `export | head -1`: read one line, then close the pipe while the export still has megabytes to write.
    let mut child = Command::new(BINARY)
        .args(["export", "--store", store.to_str().unwrap(), "--format", "jsonl"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.contains(r#""kind":"resource_type""#), "{first}");
    let out = child.wait_with_output().unwrap();
    assert_eq!((out.status.code(), String::from_utf8(out.stderr).unwrap()), (Some(0), String::new()));
}

#[test]
fn a_signalled_sync_is_left_interrupted_and_resumes_to_the_same_result() {
    let company = Company::generate(CompanySpec::sized(3000));
    let double = PingboardDouble::start(company).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let clean = dir.path().join("clean.db");
    assert_eq!(cli(&sync_args(&double, &clean, &cache, CLIENT_SECRET)).0, 0);
    for (signal, name, code) in [(libc::SIGTERM, "SIGTERM", 143), (libc::SIGINT, "SIGINT", 130)] {
        let store = dir.path().join(format!("{name}.db"));
        double.set_faults(Faults { delay: Some(Duration::from_millis(100)), ..Faults::default() });
        let before = double.counts().users_pages;
        let child = Command::new(BINARY).args(sync_args(&double, &store, &cache, CLIENT_SECRET)).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while double.counts().users_pages - before < 5 {
            assert!(Instant::now() < deadline, "the sync never got going");
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: signalling our own child.
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
        let out = child.wait_with_output().unwrap();
        double.set_faults(Faults::default());
        assert_eq!(out.status.code(), Some(code), "{name}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err, format!("error: interrupted by {name}: sync 1 is marked interrupted; continue it with `sync --resume`\n"));
        let stored = connector_harness::store::Store::open_existing(&connector_harness::store::StoreLocation::Sqlite(store.clone())).unwrap().sync(1).unwrap().unwrap();
        assert_eq!((stored.state.as_str(), stored.error.as_deref()), ("interrupted", Some(format!("interrupted by {name}").as_str())));

        let (code, out, err) = cli(&[sync_args(&double, &store, &cache, CLIENT_SECRET), vec!["--resume".into()]].concat());
        assert_eq!(code, 0, "{err}");
        assert!(out.starts_with("synced tenant `default` (sync 1)"), "{out}");
        assert_eq!(export(&store), export(&clean), "the resumed sync equals a clean one");
    }
}

/// Runs the binary as another user (when root, as CI is), or as this one with the store made read-only.
fn as_reader(dir: &Path, args: &[&str]) -> std::process::Output {
    use std::os::unix::fs::PermissionsExt as _;
    use std::os::unix::process::CommandExt as _;
    // The reader runs a copy of the binary from the store's directory, which it can reach.
    let binary = dir.join("connector-harness");
    std::fs::copy(BINARY, &binary).unwrap();
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut command = Command::new(&binary);
    command.args(args).env_remove("RUST_LOG").env("HOME", dir);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        command.uid(65534).gid(65534);
    } else {
        std::fs::set_permissions(dir.join("s.db"), std::fs::Permissions::from_mode(0o444)).unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    let out = command.output().unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(dir.join("s.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    out
}

#[test]
fn a_reader_that_may_not_write_the_store_reads_it_and_leaves_nothing_behind() {
    use std::os::unix::fs::PermissionsExt as _;
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(300))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (store, cache) = (dir.path().join("s.db"), dir.path().join("cache"));
    assert_eq!(cli(&sync_args(&double, &store, &cache, CLIENT_SECRET)).0, 0);
    let expected = export(&store);
    let leftovers = || ["s.db-wal", "s.db-shm"].iter().filter(|f| dir.path().join(f).exists()).count();
    assert_eq!(leftovers(), 0, "the writer closed cleanly");

    // No writer: the reader reads an immutable view and creates nothing.
    let out = as_reader(dir.path(), &["export", "--store", store.to_str().unwrap(), "--format", "jsonl"]);
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
    assert_eq!(leftovers(), 0, "the reader left no -wal or -shm");

    // A writer holds the store open: the reader shares its -shm, read-only.
    let held = connector_harness::store::Store::open(&connector_harness::store::StoreLocation::Sqlite(store.clone())).unwrap();
    let out = as_reader(dir.path(), &["resources", "--store", store.to_str().unwrap(), "--type", "location"]);
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "");
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 5);
    drop(held);

    // And the owner syncs again as before.
    let (code, out, err) = cli(&sync_args(&double, &store, &cache, CLIENT_SECRET));
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("synced tenant `default` (sync 2)"), "{out}");
}
