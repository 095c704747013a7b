//! Replicas sharing a real PostgreSQL store, as separate `serve` processes: a killed one's tenant is taken over
//! and its sync finished with nothing lost; a paused one is fenced when it wakes; tenants sync once per interval
//! however many replicas compete; a database outage turns them not-ready, and work resumes after it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use connector_harness::store::{Store, StoreLocation};
use pingboard_double::{CLIENT_SECRET, Company, CompanySpec, Faults, PingboardDouble};
use real_servers::Postgres;

use super::{Replica, clean_export, export, tenant_status, tenants_file, trigger};

/// The replica holding `tenant`'s lease, waiting until one does.
fn holder<'a>(store: &str, tenant: &str, replicas: &'a mut [Replica; 2], names: [&str; 2]) -> &'a mut Replica {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let owner = tenant_status(store, tenant)["lease"]["owner"].as_str().map(String::from);
        if let Some(owner) = owner {
            let index = names.iter().position(|n| owner.starts_with(&format!("{n}:"))).expect("a lease held by one of the replicas");
            return &mut replicas[index];
        }
        assert!(Instant::now() < deadline, "nobody claimed {tenant}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_killed_replicas_tenant_is_taken_over_and_a_paused_one_is_fenced_when_it_wakes() {
    let postgres = Postgres::start();
    let store = postgres.database("takeover");
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(3000))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let clean = clean_export(&double, dir.path());
    let tenants = tenants_file(dir.path(), &double, &[("acme", CLIENT_SECRET, "1h")]);
    let names = ["replica-a", "replica-b"];
    let mut replicas = names.map(|name| Replica::start(dir.path(), name, &tenants, &store, &[]));
    double.set_faults(Faults { delay: Some(Duration::from_millis(300)), ..Faults::default() });

    // SIGKILL the holder mid-sync: the other replica takes the tenant over once the lease expires, and
    // finishes the same sync from its checkpoint.
    trigger(&store, "acme");
    let before = double.counts();
    let victim = holder(&store, "acme", &mut replicas, names);
    victim.wait_for("pages", Duration::from_secs(60), |_| double.counts().users_pages - before.users_pages >= 5);
    victim.signal(libc::SIGKILL);
    victim.exit_code(Duration::from_secs(10));
    let killed = names.iter().position(|n| victim.log.ends_with(format!("{n}.log"))).unwrap();
    let survivor = &replicas[1 - killed];
    survivor.wait_for("the takeover to finish the sync", Duration::from_secs(60), |_| tenant_status(&store, "acme")["last_outcome"] == "synced");
    let done = tenant_status(&store, "acme");
    assert_eq!((&done["last_sync_id"], &done["failures"]), (&1.into(), &0.into()), "the same sync, finished: {done}");
    assert_eq!(survivor.metric("harness_lease_takeovers_total", &[]), 1.0);
    assert_eq!(export(&store, "acme"), clean, "nothing lost, nothing twice, and PostgreSQL exports what SQLite does");
    let users_pages = double.counts().users_pages - before.users_pages;
    assert!((30..=34).contains(&users_pages), "at most the pages in flight again: {users_pages} for 30");

    // A fresh replica in the killed one's place; then SIGSTOP whoever holds the next sync, past its lease.
    replicas[killed] = Replica::start(dir.path(), &format!("{}-again", names[killed]), &tenants, &store, &[]);
    let names = if killed == 0 { ["replica-a-again", "replica-b"] } else { ["replica-a", "replica-b-again"] };
    trigger(&store, "acme");
    let before = double.counts();
    let paused_index = {
        let paused = holder(&store, "acme", &mut replicas, names);
        paused.wait_for("pages", Duration::from_secs(60), |_| double.counts().users_pages - before.users_pages >= 5);
        paused.signal(libc::SIGSTOP);
        names.iter().position(|n| paused.log.ends_with(format!("{n}.log"))).unwrap()
    };
    let epoch = tenant_status(&store, "acme")["lease"]["epoch"].as_i64().unwrap();
    let other = &replicas[1 - paused_index];
    other.wait_for("the takeover", Duration::from_secs(30), |_| tenant_status(&store, "acme")["lease"]["epoch"].as_i64().is_some_and(|e| e > epoch));
    let taken_at = double.counts().users_pages;
    other.wait_for("the new holder's pages", Duration::from_secs(30), |_| double.counts().users_pages - taken_at >= 2);
    replicas[paused_index].signal(libc::SIGCONT);
    let paused = &replicas[paused_index];
    paused.wait_for("the woken replica to find its lease lost", Duration::from_secs(30), |r| r.metric("harness_lease_lost_total", &[]) == 1.0);
    other.wait_for("the second sync to complete", Duration::from_secs(60), |_| {
        let status = tenant_status(&store, "acme");
        status["state"] == "waiting" && status["last_sync_id"] == 2
    });
    let done = tenant_status(&store, "acme");
    assert_eq!((&done["last_outcome"], &done["failures"]), (&"synced".into(), &0.into()), "{done}");
    assert_eq!(export(&store, "acme"), clean, "the fenced replica wrote nothing into the sync it lost");
    assert!(paused.log().contains("lost the tenant's lease") || paused.log().contains("taken over before its run could be recorded"), "{}", paused.log());

    // Both drain and exit cleanly.
    for replica in &mut replicas {
        replica.signal(libc::SIGTERM);
        assert_eq!(replica.exit_code(Duration::from_secs(30)), Some(0), "{}", replica.log());
    }
}

/// Tenants named `tenant-00`, `tenant-01`, …, each on `interval`, in a tenants file on the double.
fn many_tenants(dir: &std::path::Path, double: &PingboardDouble, count: usize, interval: &str) -> (Vec<String>, std::path::PathBuf) {
    let names: Vec<String> = (0..count).map(|i| format!("tenant-{i:02}")).collect();
    let list: Vec<(&str, &str, &str)> = names.iter().map(|n| (n.as_str(), CLIENT_SECRET, interval)).collect();
    let tenants = tenants_file(dir, double, &list);
    (names, tenants)
}

/// Waits (a minute at most) until every one of `tenants` has three complete syncs in `store`; its reader.
fn after_three_syncs_each(store: &str, tenants: &[String]) -> Store {
    let location: StoreLocation = store.parse().unwrap();
    let reader = Store::open_existing(&location).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !tenants.iter().all(|t| reader.complete_syncs(t, 3).unwrap().len() == 3) {
        assert!(Instant::now() < deadline, "some tenant has not synced three times in a minute");
        std::thread::sleep(Duration::from_millis(200));
    }
    reader
}

fn started_ms(text: &str) -> u128 {
    humantime::parse_rfc3339(text).unwrap().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis()
}

#[test]
fn twenty_tenants_on_two_replicas_sync_once_per_interval_and_work_resumes_after_a_database_outage() {
    let postgres = Postgres::start();
    let store = postgres.database("fleet");
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(120))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (names, tenants) = many_tenants(dir.path(), &double, 20, "4s");
    let extra = ["--parallel", "4", "--keep-syncs", "50"];
    let replicas = ["replica-a", "replica-b"].map(|name| Replica::spawn(dir.path(), name, &tenants, &store, &extra)).map(Replica::until_ready);
    // Every tenant syncs at every interval: wait for three syncs of each.
    let reader = after_three_syncs_each(&store, &names);

    // Never twice within one interval (nor twice at once), and no interval skipped: the next sync begins an
    // interval after the last ended, plus at most a poll and a wait for a free slot (generous, for a busy machine).
    let mut per_replica = BTreeMap::new();
    for tenant in &names {
        let mut syncs = reader.complete_syncs(tenant, 100).unwrap();
        syncs.reverse();
        for pair in syncs.windows(2) {
            let gap = started_ms(&pair[1].started_at) - started_ms(pair[0].finished_at.as_deref().unwrap());
            assert!((3_900..7_000).contains(&gap), "{tenant}: the next sync began {gap} ms after the last ended");
        }
        for (replica, r) in replicas.iter().enumerate() {
            *per_replica.entry(replica).or_insert(0.0) += r.metric("harness_syncs_total", &[&format!("tenant=\"{tenant}\""), "outcome=\"synced\""]);
        }
    }
    assert!(per_replica.values().all(|n| *n >= 10.0), "both replicas share the work: {per_replica:?}");
    drop(reader);

    // The database goes away: both replicas turn not-ready (and stay alive); it comes back: ready, and syncing.
    postgres.stop();
    for replica in &replicas {
        replica.wait_for("not ready", Duration::from_secs(20), |r| r.get("/readyz").0 == 503);
        assert_eq!(replica.get("/healthz"), (200, "ok\n".into()), "liveness never depends on the database");
    }
    assert!(replicas[0].get("/readyz").1.starts_with("not ready: store "), "{}", replicas[0].get("/readyz").1);
    std::thread::sleep(Duration::from_secs(3));
    postgres.restart();
    let synced = |r: &Replica| r.metric("harness_syncs_total", &["outcome=\"synced\""]);
    let before: f64 = replicas.iter().map(synced).sum();
    for replica in &replicas {
        replica.wait_for("ready again", Duration::from_secs(30), |r| r.get("/readyz").0 == 200);
    }
    replicas[0].wait_for("syncs to resume", Duration::from_secs(30), |_| replicas.iter().map(synced).sum::<f64>() >= before + 20.0);
}

#[test]
fn a_replica_whose_clock_runs_ahead_takes_no_lease_early() {
    // Replica b's clock runs 20 s ahead of the machine's (and the database's). Leases and due times are the
    // database's clock, so b sees none of a's leases as expired: both sync, nobody's tenant is taken over or
    // fenced, and no time shown is in the future.
    let postgres = Postgres::start();
    let store = postgres.database("skew");
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(120))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (names, tenants) = many_tenants(dir.path(), &double, 6, "3s");
    let extra = ["--parallel", "2"];
    let a = Replica::start(dir.path(), "replica-a", &tenants, &store, &extra);
    let b = Replica::spawn_ahead("20s", dir.path(), "replica-b", &tenants, &store, &extra).until_ready();
    after_three_syncs_each(&store, &names);
    let synced = |r: &Replica| r.metric("harness_syncs_total", &["outcome=\"synced\""]);
    assert!(synced(&a) >= 2.0 && synced(&b) >= 2.0, "both replicas sync: a {}, b {}", synced(&a), synced(&b));
    for replica in [&a, &b] {
        assert_eq!(replica.metric("harness_lease_takeovers_total", &[]), 0.0, "{}", replica.log());
        assert_eq!(replica.metric("harness_lease_lost_total", &[]), 0.0, "{}", replica.log());
    }
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as i64;
    for tenant in &names {
        let started = tenant_status(&store, tenant)["last_started_ms"].as_i64().unwrap();
        assert!(started <= now, "{tenant} started in the future ({} ms ahead)", started - now);
    }
}
