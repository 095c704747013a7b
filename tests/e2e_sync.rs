//! The built component, run by the harness CLI, syncs a generated company from the Pingboard double: the export
//! must equal the company exactly, at the minimum number of requests.

mod common;

use common::*;
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
    harness(&sync_args(&scratch, &double, &["--config", "page_size=50"])).ok();
    let lines = export(&scratch, "default");
    assert_export_matches(&lines, &company);
    let dangling = pingboard_double::company::DANGLING_USER_ID.to_string();
    assert!(of_kind(&lines, "grant").iter().any(|g| g["principal_id"] == dangling.as_str()));
    assert!(lines.iter().any(|l| l["user"]["manager_id"] == dangling.as_str()));
}
