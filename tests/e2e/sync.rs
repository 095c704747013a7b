//! The built component, run by the harness CLI, syncs a generated company from the Pingboard double: the export
//! must equal the company exactly, at the minimum number of requests.

use crate::common::*;
use pingboard_double::{Company, CompanySpec, PingboardDouble};

fn large_company() -> Company {
    Company::generate(CompanySpec { users: 10_000, groups: 300, locations: 7, departments: 12, dangling_members: false })
}

#[test]
fn a_large_company_syncs_exactly_at_the_request_floor_for_two_page_sizes() {
    let company = large_company();
    let groups = company.groups.len();
    assert_eq!(groups, 319);
    let double = PingboardDouble::start(company.clone()).unwrap();
    for (page_size, tenant) in [(1000usize, "p1000"), (300, "p300")] {
        let scratch = Scratch::new();
        let before = double.counts();
        let out = harness(&sync_args(&scratch, &double, &["--tenant", tenant, "--config", &format!("page_size={page_size}")])).ok();
        let counts = double.counts();
        let floor = 1 + 10_000usize.div_ceil(page_size) + groups.div_ceil(page_size);
        assert_eq!((counts.total - before.total) as usize, floor, "requests at page size {page_size}");
        assert_eq!(counts.token - before.token, 1, "one token request");
        assert_eq!(counts.single_gets - before.single_gets, 0, "no per-resource requests");
        assert!(out.contains(&format!("; {floor} requests (1 token)")), "summary reports the requests: {out}");
        assert!(out.contains("10000 user") && out.contains("300 group") && out.contains("7 location") && out.contains("12 department"), "{out}");
        assert_export_matches(&export(&scratch, tenant), &company);
    }
}

#[test]
fn an_empty_company_syncs_to_nothing() {
    let company = Company::generate(CompanySpec { users: 0, groups: 0, locations: 0, departments: 0, dangling_members: false });
    let double = PingboardDouble::start(company.clone()).unwrap();
    let scratch = Scratch::new();
    harness(&sync_args(&scratch, &double, &[])).ok();
    assert_eq!(double.counts().total, 3, "token + one empty page of each listing");
    let lines = export(&scratch, "default");
    assert_eq!(of_kind(&lines, "resource_type").len(), 4);
    assert_eq!(lines.len(), 4, "nothing but the resource types");
}

#[test]
fn dangling_members_and_managers_are_kept_as_the_source_says() {
    let company = Company::generate(CompanySpec { users: 400, groups: 30, locations: 2, departments: 3, dangling_members: true });
    let double = PingboardDouble::start(company.clone()).unwrap();
    let scratch = Scratch::new();
    let out = harness(&sync_args(&scratch, &double, &["--config", "page_size=50"])).ok();
    let lines = export(&scratch, "default");
    assert_export_matches(&lines, &company);
    let dangling = pingboard_double::company::DANGLING_USER_ID.to_string();
    assert!(of_kind(&lines, "grant").iter().any(|g| g["principal_id"] == dangling.as_str()));
    assert!(lines.iter().any(|l| l["user"]["manager_id"] == dangling.as_str()));
    // Kept, and said once: how many grants name a user that does not exist, with the first few.
    let mut named: Vec<String> = company
        .groups
        .iter()
        .filter(|g| g.member_ids.contains(&dangling))
        .map(|g| format!("{}:{}:member:user:{dangling}", g.kind.as_str(), g.id))
        .collect();
    named.sort();
    assert_eq!(named.len(), 2, "one group in 25 has a member that is not a user");
    let said = format!("; {} grants name a principal or entitlement the source did not list, kept as it says them (e.g. {})\n", named.len(), named.join(", "));
    assert!(out.ends_with(&said), "{out}");
}

#[test]
fn a_sync_of_thousands_of_pages_releases_every_host_resource() {
    // One user per page: 2,100 user pages and 24 group pages, past the sandbox's cap of 1,000 host resources
    // (a handle leaked per page ended such syncs at about page 998).
    let company = Company::generate(CompanySpec { users: 2_100, groups: 20, locations: 2, departments: 2, dangling_members: false });
    let double = PingboardDouble::start(company.clone()).unwrap();
    let scratch = Scratch::new();
    harness(&sync_args(&scratch, &double, &["--config", "page_size=1"])).ok();
    assert_eq!(double.counts().total, 1 + 2_100 + 24, "token + one request per page");
    assert_export_matches(&export(&scratch, "default"), &company);
}

#[test]
fn get_fetches_one_resource_live_as_the_export_has_it() {
    let company = Company::generate(CompanySpec::sized(40));
    let double = PingboardDouble::start(company.clone()).unwrap();
    let scratch = Scratch::new();
    harness(&sync_args(&scratch, &double, &[])).ok();
    let lines = export(&scratch, "default");
    let mut args = sync_args(&scratch, &double, &[]);
    let store_at = args.iter().position(|a| a == "--store").unwrap();
    args.drain(store_at..store_at + 2);
    args[2] = "get".into();
    for key in [format!("user:{}", company.users[3].id), format!("group:{}", company.groups.iter().find(|g| g.kind == pingboard_double::GroupKind::Group).unwrap().id)] {
        let (kind, id) = key.split_once(':').unwrap();
        let before = double.counts();
        let out = harness(&[args.clone(), vec![key.clone()]].concat()).ok();
        let got: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        let stored = lines.iter().find(|l| l["kind"] == "resource" && l["resource_type"] == kind && l["id"] == id).unwrap();
        assert_eq!(&got, stored, "{key}");
        assert_eq!(double.counts().single_gets - before.single_gets, 1, "one request for {key}");
    }
    let missing = harness(&[args.clone(), vec!["user:999999".into()]].concat());
    assert_eq!((missing.code, missing.err.as_str()), (1, "error: get user:999999: not found: user 999999\n"));
}

#[test]
fn old_syncs_are_pruned_after_each_sync_and_on_demand() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(30))).unwrap();
    let scratch = Scratch::new();
    for _ in 0..4 {
        harness(&sync_args(&scratch, &double, &[])).ok();
    }
    let store = connector_harness::store::Store::open_existing(&scratch.store().parse().unwrap()).unwrap();
    let kept: Vec<i64> = store.complete_syncs("default", 10).unwrap().iter().map(|s| s.id).collect();
    assert_eq!(kept, [4, 3, 2], "three complete syncs are kept by default");
    drop(store);
    let out = harness(&["prune", "--store", &scratch.store(), "--keep", "2"]).ok();
    assert_eq!(out, "tenant `default`: pruned 1 sync(s) (2)\n");
    let out = harness(&["prune", "--store", &scratch.store(), "--keep", "2"]).ok();
    assert_eq!(out, "tenant `default`: pruned 0 sync(s)\n");
    let refused = harness(&["prune", "--store", &scratch.store(), "--keep", "1"]);
    assert_eq!((refused.code, refused.err.as_str()), (1, "error: --keep must be at least 2: diff compares the last two complete syncs\n"));
    harness(&["diff", "--store", &scratch.store()]).ok();
}

#[test]
fn the_connector_core_run_natively_stores_exactly_what_the_component_stores() {
    use connector_sdk::Connector as _;
    use pingboard_connector::connector::{Pingboard, Session};

    let company = Company::generate(CompanySpec::sized(1_500));
    let double = PingboardDouble::start(company.clone()).unwrap();
    let scratch = Scratch::new();
    harness(&sync_args(&scratch, &double, &["--tenant", "component", "--config", "page_size=400"])).ok();

    let http = crate::common::native::NativeHttp::new(&double.base_url(), pingboard_double::CLIENT_ID, pingboard_double::CLIENT_SECRET);
    let config = vec![("base_url".to_string(), double.base_url()), ("page_size".to_string(), "400".to_string())];
    let session = Session::open(&http, &config, false).unwrap();
    let mut store = connector_harness::store::Store::open(&scratch.store().parse().unwrap()).unwrap();
    crate::common::native::sync_natively(&session, &Pingboard::metadata(), &mut store, "native", || http.traffic());
    drop(store);

    let jsonl = |tenant: &str| harness(&["export", "--store", &scratch.store(), "--tenant", tenant, "--format", "jsonl"]).ok();
    let (component, native) = (jsonl("component"), jsonl("native"));
    assert_eq!(component.lines().count(), native.lines().count());
    assert!(component == native, "the native lane stored different bytes");
    assert_export_matches(&export(&scratch, "native"), &company);
}

#[test]
fn inspect_names_the_contract_the_auth_the_origin_and_every_field() {
    let scratch = Scratch::new();
    let out = harness(&["--cache-dir", &scratch.cache(), "inspect", "--component", &component()]).ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "pingboard 0.1.0 — Pingboard users, groups, locations and departments, with group membership.");
    assert!(lines[1].starts_with(&format!("component: {} (sha256 ", component())) && lines[1].ends_with(", contract identity:connector@0.5.0)"), "{}", lines[1]);
    assert_eq!(lines[3], "egress: only the origin of config `base_url` (authenticated)");
    assert_eq!(lines[7], "  client_secret    required, secret   Client secret of the same service account. Kept by the host; never given to the connector.");
    assert_eq!(lines[13], "  department       list, get, inline-entitlements, inline-grants, create, update, delete, grant, revoke (listed with group)");
    let json: serde_json::Value = serde_json::from_str(&harness(&["--cache-dir", &scratch.cache(), "inspect", "--json", "--component", &component()]).ok()).unwrap();
    assert_eq!(json["component"]["contract"], "identity:connector@0.5.0");
    assert_eq!(lines[14], "writes of user; disabled only by deleting it:");
    assert_eq!(lines[15], "  first_name       required, create-and-update  Given name [SCIM name.givenName]");
    assert_eq!(json["write_schemas"][0]["disable"], "delete", "Pingboard keeps no disabled profiles");
    assert_eq!(json["auth"]["token_url"], "/oauth/token");
}

#[test]
fn components_built_against_every_earlier_contract_still_sync_exactly_beside_a_current_one() {
    let fixture = |version: &str| e2e::repository().join(format!("tests/fixtures/pingboard-connector-contract-{version}.wasm")).display().to_string();
    let company = Company::generate(CompanySpec::sized(700));
    let double = PingboardDouble::start(company.clone()).unwrap();
    let scratch = Scratch::new();
    let tenant = |name: &str, component: &str| {
        format!(
            "[[tenant]]\nname = \"{name}\"\ncomponent = \"{component}\"\nconfig = {{ base_url = \"{}\", client_id = \"{}\", page_size = 250 }}\n\
             secrets = {{ client_secret = {{ value = \"{}\" }} }}\n\n",
            double.base_url(),
            pingboard_double::CLIENT_ID,
            pingboard_double::CLIENT_SECRET
        )
    };
    let file = scratch.path("tenants.toml");
    let tenants = [tenant("v0_1", &fixture("0.1.0")), tenant("v0_2", &fixture("0.2.0")), tenant("v0_3", &fixture("0.3.0")), tenant("v0_4", &fixture("0.4.0")), tenant("new", &component())];
    std::fs::write(&file, tenants.concat()).unwrap();
    let out = harness(&["--cache-dir", &scratch.cache(), "sync", "--tenants", file.to_str().unwrap(), "--parallel", "4", "--store", &scratch.store()]).ok();
    for name in ["v0_1", "v0_2", "v0_3", "v0_4", "new"] {
        let line = out.lines().find(|l| l.starts_with(&format!("synced tenant `{name}`"))).unwrap_or_else(|| panic!("{out}"));
        assert!(line.contains("; 5 requests (1 token)"), "a token, 3 user pages, 1 groups page: {line}");
        let mut lines = export(&scratch, name);
        if ["v0_1", "v0_2", "v0_3"].contains(&name) {
            // The fixtures were built when a group's profile still held its member list, now only in its grants.
            lines.iter_mut().filter(|l| l["kind"] == "resource" && l["resource_type"] != "user").for_each(|l| {
                l["profile"]["links"].as_object_mut().unwrap().remove("users");
            });
        }
        assert_export_matches(&lines, &company);
    }
    let inspect = |path: &str| harness(&["--cache-dir", &scratch.cache(), "inspect", "--component", path]).ok();
    for (path, version) in [(fixture("0.1.0"), "0.1.0"), (fixture("0.2.0"), "0.2.0"), (fixture("0.3.0"), "0.3.0"), (fixture("0.4.0"), "0.4.0"), (component(), "0.5.0")] {
        assert!(inspect(&path).lines().nth(1).unwrap().ends_with(&format!("contract identity:connector@{version})")), "{path}");
    }
}

#[test]
fn pages_are_fetched_several_at_once_up_to_the_concurrency_limit_with_the_same_result() {
    let company = Company::generate(CompanySpec::sized(3000));
    let delay = pingboard_double::Faults { delay: Some(std::time::Duration::from_millis(100)), ..Default::default() };
    for (concurrency, most) in [("1", 1u64), ("3", 3)] {
        let double = PingboardDouble::start_with(company.clone(), pingboard_double::DoubleOptions { faults: delay.clone(), ..Default::default() }).unwrap();
        let scratch = Scratch::new();
        harness(&sync_args(&scratch, &double, &["--config", "page_size=200", "--concurrency", concurrency])).ok();
        // The users listing's first page hands back the other 14 as independent; the groups listing runs beside it.
        assert_eq!(double.max_in_flight(), most, "calls in flight at once with --concurrency {concurrency}");
        assert_eq!(double.counts().total, 1 + 15 + 1, "the request floor either way");
        assert_export_matches(&export(&scratch, "default"), &company);
    }
}
