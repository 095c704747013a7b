//! A sync killed with SIGKILL in the middle resumes from its last checkpoint, asks only for the pages it does
//! not have, and ends with exactly what a clean sync stores. Until then, readers see no partial data unless
//! they ask for that sync by id, and no other process may take it over while its own is alive.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, CompanySpec, Faults, PingboardDouble};

use crate::cli;

fn args(double: &PingboardDouble, store: &str, cache: &str) -> Vec<String> {
    [
        "--cache-dir", cache, "sync", "--component", &component_build::pingboard_component().display().to_string(), "--store", store,
        "--config", &format!("base_url={}", double.base_url()), "--config", &format!("client_id={CLIENT_ID}"),
        "--secret", &format!("client_secret={CLIENT_SECRET}"), "--config", "page_size=100",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn export(store: &str, sync: Option<&str>) -> (i32, String, String) {
    let mut a = vec!["export".to_string(), "--store".into(), store.into(), "--format".into(), "jsonl".into()];
    if let Some(id) = sync {
        a.extend(["--sync".to_string(), id.to_string()]);
    }
    cli(&a)
}

#[test]
fn a_killed_sync_resumes_from_its_checkpoint_and_equals_a_clean_sync() {
    let company = Company::generate(CompanySpec::sized(3000));
    let double = PingboardDouble::start(company).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (store, clean, cache) = (dir.path().join("s.db"), dir.path().join("clean.db"), dir.path().join("cache"));
    let (store, clean, cache) = (store.to_str().unwrap(), clean.to_str().unwrap(), cache.to_str().unwrap());
    assert_eq!(cli(&args(&double, clean, cache)).0, 0, "the clean reference sync");
    let (_, clean_export, _) = export(clean, None);

    double.set_faults(Faults { delay: Some(Duration::from_millis(150)), ..Faults::default() });
    let before = double.counts();
    let mut child = Command::new(env!("CARGO_BIN_EXE_connector-harness")).args(args(&double, store, cache)).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while double.counts().users_pages - before.users_pages < 8 {
        assert!(Instant::now() < deadline, "the sync never got going");
        std::thread::sleep(Duration::from_millis(20));
    }
    // While it runs, it is its process's: a second writer is refused, and writes nothing.
    let (code, _, err) = cli(&[args(&double, store, cache), vec!["--resume".into()]].concat());
    assert_eq!(code, 1);
    assert!(err.starts_with("error: sync 1 is still running in another process (last heard from "), "{err}");
    assert!(err.ends_with(" s ago); let it finish, or resume once it has stopped\n"), "{err}");
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let served = double.counts().users_pages - before.users_pages;
    double.set_faults(Faults::default());

    let (code, _, err) = export(store, None);
    assert_eq!((code, err.trim_end()), (1, "error: tenant `default` has no complete sync in this store"), "no partial data by default");
    let (code, partial, _) = export(store, Some("1"));
    assert_eq!(code, 0);
    let stored_users = partial.lines().filter(|l| l.contains(r#""resource_type":"user""#) && l.contains(r#""kind":"resource""#)).count();
    assert!(stored_users >= 700 && stored_users as u64 <= served * 100, "{stored_users} users stored after {served} pages");

    // Never continued from another source: another company at another origin, or the same with other config.
    let refused = "error: sync 1 was reading another source (the tenant's config, origins or credentials have changed since); run a fresh sync instead";
    let other = PingboardDouble::start(Company::generate(CompanySpec::sized(50))).unwrap();
    let (code, _, err) = cli(&[args(&other, store, cache), vec!["--resume".into()]].concat());
    assert_eq!((code, err.trim_end()), (1, refused));
    let mut other_config = args(&double, store, cache);
    *other_config.last_mut().unwrap() = "page_size=50".into();
    let (code, _, err) = cli(&[other_config, vec!["--resume".into()]].concat());
    assert_eq!((code, err.trim_end()), (1, refused));
    assert_eq!(export(store, Some("1")).1, partial, "nothing was written to it");

    let before = double.counts();
    let (code, out, err) = cli(&[args(&double, store, cache), vec!["--resume".into()]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("synced tenant `default` (sync 1)"), "the same sync finished: {out}");
    let after = double.counts();
    assert_eq!((after.users_pages - before.users_pages) as usize, 30 - stored_users / 100, "only the missing user pages");
    // Listings run at once, so the 2 groups pages (163 groups) may have been stored before the kill, or not.
    let stored_groups = partial.lines().filter(|l| l.contains(r#""kind":"resource""#) && !l.contains(r#""resource_type":"user""#)).count();
    let stored_group_pages = usize::from(stored_groups >= 100) + usize::from(stored_groups >= 160);
    assert_eq!((after.groups_pages - before.groups_pages) as usize, 2 - stored_group_pages, "only the missing groups pages ({stored_groups} groups stored)");
    let (_, resumed_export, _) = export(store, None);
    assert_eq!(resumed_export, clean_export, "the resumed sync equals a clean one");

    let (code, _, err) = cli(&[args(&double, store, cache), vec!["--resume".into()]].concat());
    assert_eq!((code, err.trim_end()), (1, "error: tenant `default` has no interrupted sync to resume"));
}

/// The per-resource phase resumes too: a PingOne sync killed among its per-user role reads asks, when
/// resumed, only for the users whose reads were not finished, and ends equal to a clean sync.
#[test]
fn a_sync_killed_among_its_per_resource_calls_resumes_without_redoing_them() {
    use pingone_double::{Behaviour, CLIENT_ID, CLIENT_SECRET, Environment, EnvironmentSpec, Faults, PingOneDouble};
    let env = Environment::generate(EnvironmentSpec::sized(800, 6));
    let dir = tempfile::tempdir().unwrap();
    let (store, clean, cache) = (dir.path().join("s.db"), dir.path().join("clean.db"), dir.path().join("cache"));
    let (store, clean, cache) = (store.to_str().unwrap(), clean.to_str().unwrap(), cache.to_str().unwrap());
    let args = |double: &PingOneDouble, store: &str| -> Vec<String> {
        [
            "--cache-dir", cache, "sync", "--component", &component_build::pingone_component().display().to_string(), "--store", store,
            "--config", &format!("api_base={}", double.api_base()), "--config", &format!("auth_base={}", double.auth_base()),
            "--config", &format!("environment_id={}", double.environment_id()), "--config", &format!("client_id={CLIENT_ID}"),
            "--secret", &format!("client_secret={CLIENT_SECRET}"), "--concurrency", "2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let quick = PingOneDouble::start(env.clone()).unwrap();
    assert_eq!(cli(&args(&quick, clean)).0, 0, "the clean reference sync");
    let (_, clean_export, _) = export(clean, None);

    let slow = PingOneDouble::start_with(env.clone(), Behaviour::default(), Faults { delay: Some(Duration::from_millis(10)), ..Faults::default() }).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_connector-harness")).args(args(&slow, store)).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while slow.counts().user_role_reads < 300 {
        assert!(Instant::now() < deadline, "the sync never reached its per-user reads");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = slow.counts();
    let read_before_kill = before.user_role_reads;

    // The same source (a resume from another is refused), still answering slowly.
    let (code, out, err) = cli(&[args(&slow, store), vec!["--resume".into()]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("synced tenant `default` (sync 1)"), "{out}");
    let again = slow.counts().user_role_reads - read_before_kill;
    // At most the two reads in flight at the kill (concurrency 2) are repeated, and a few whose pages had not
    // been written yet.
    assert!(again < 800 && again + read_before_kill <= 800 + 8, "{again} role reads on resume after {read_before_kill} before the kill");
    assert_eq!(slow.counts().user_pages, before.user_pages, "the listings were done: not asked again");
    let (_, resumed_export, _) = export(store, None);
    assert_eq!(resumed_export, clean_export, "the resumed sync equals a clean one");
}
