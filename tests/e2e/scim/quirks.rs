//! Against the project's SCIM double: the request floor, and each misbehaviour a real server can show, with
//! the exact result it must give.

use std::collections::BTreeSet;

use scim_double::directory::ENTERPRISE_USER;
use scim_double::{Counts, Directory, DirectorySpec, Limit, Quirks, ScimDouble, TOKEN};
use serde_json::{Value, json};

use super::*;

fn start(spec: DirectorySpec, quirks: Quirks) -> (ScimDouble, Directory) {
    let directory = Directory::generate(spec);
    (ScimDouble::start(directory.clone(), quirks).unwrap(), directory)
}

fn sync(double: &ScimDouble, scratch: &Scratch, extra: &[&str]) -> Outcome {
    scim_sync(scratch, &double.base_url(), TOKEN, extra)
}

/// Asserts that an export holds exactly the directory: every user's trait, status and profile, every group,
/// entitlement and membership.
#[track_caller]
fn assert_export_is(lines: &[Value], directory: &Directory) {
    let users: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "resource" && l["resource_type"] == "user").collect();
    assert_eq!(users.len(), directory.users.len(), "user count");
    for user in &directory.users {
        let id = user["id"].as_str().unwrap();
        let line = users.iter().find(|l| l["id"] == id).unwrap_or_else(|| panic!("{id} was not synced"));
        assert_eq!(line["display_name"], user["displayName"]);
        assert_eq!(line["status"], if user["active"] == true { "enabled" } else { "disabled" }, "status of {id}");
        let t = &line["user"];
        assert_eq!(t["login"], user["userName"]);
        assert_eq!(t["emails"], json!([{"address": user["userName"], "primary": true}]));
        assert_eq!((&t["title"], &t["phone_numbers"]), (&user["title"], &json!([user["phoneNumbers"][0]["value"]])));
        assert_eq!(t["employee_ids"], json!([user[ENTERPRISE_USER]["employeeNumber"]]));
        assert_eq!(t["manager_id"], user[ENTERPRISE_USER]["manager"]["value"], "manager of {id}");
        assert_eq!(t["department_ids"], json!([user[ENTERPRISE_USER]["department"]]));
        assert_eq!(line["profile"], json!({"externalId": user["externalId"]}));
        assert_eq!((&line["created_at"], &line["updated_at"]), (&json!("2024-01-01T00:00:00Z"), &json!("2024-06-01T00:00:00Z")));
    }
    let groups: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "resource" && l["resource_type"] == "group").collect();
    assert_eq!(groups.len(), directory.groups.len(), "group count");
    let mut expected_grants = BTreeSet::new();
    for group in &directory.groups {
        let id = group["id"].as_str().unwrap();
        let line = groups.iter().find(|l| l["id"] == id).unwrap_or_else(|| panic!("{id} was not synced"));
        assert_eq!(line["display_name"], group["displayName"]);
        for member in group["members"].as_array().unwrap() {
            let kind = if member["type"] == "Group" { "group" } else { "user" };
            expected_grants.insert(format!("group:{id}:member:{kind}:{}", member["value"].as_str().unwrap()));
        }
    }
    // Departments, from the users' enterprise `department`.
    let departments: BTreeSet<String> = directory.users.iter().map(|u| u[ENTERPRISE_USER]["department"].as_str().unwrap().to_string()).collect();
    let exported: BTreeSet<String> =
        lines.iter().filter(|l| l["kind"] == "resource" && l["resource_type"] == "department").map(|l| l["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(exported, departments);
    for user in &directory.users {
        expected_grants.insert(format!("department:{}:member:user:{}", user[ENTERPRISE_USER]["department"].as_str().unwrap(), user["id"].as_str().unwrap()));
    }
    assert_eq!(of_kind(lines, "entitlement").len(), directory.groups.len() + departments.len(), "one member entitlement per group and department");
    let grants: Vec<String> = of_kind(lines, "grant").iter().map(|g| g["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(grants.len(), expected_grants.len(), "no duplicate grants");
    assert_eq!(grants.into_iter().collect::<BTreeSet<_>>(), expected_grants);
}

fn listing_requests(counts: Counts) -> u64 {
    counts.user_pages + counts.group_pages
}

#[test]
fn a_full_sync_costs_the_listing_floor_for_two_page_sizes() {
    let spec = DirectorySpec { users: 1010, groups: 45 };
    let (double, directory) = start(spec, Quirks::default());
    for page_size in [100usize, 37] {
        let scratch = Scratch::new();
        let before = double.counts();
        sync(&double, &scratch, &["--config", &format!("page_size={page_size}")]).ok();
        let used = double.counts();
        let floor = 1010usize.div_ceil(page_size) + 45usize.div_ceil(page_size);
        assert_eq!(listing_requests(used) - listing_requests(before), floor as u64, "listing requests at page size {page_size}");
        assert_eq!(used.discovery - before.discovery, 1, "one discovery call (/ResourceTypes)");
        assert_eq!(used.total - before.total, floor as u64 + 1, "nothing else");
        assert_export_is(&export(&scratch, "default"), &directory);
    }
}

#[test]
fn a_server_that_caps_count_is_paged_by_what_it_returns() {
    let (double, directory) = start(DirectorySpec { users: 250, groups: 12 }, Quirks { max_count: Some(40), ..Quirks::default() });
    let scratch = Scratch::new();
    sync(&double, &scratch, &["--config", "page_size=100"]).ok();
    assert_eq!(double.counts().user_pages, 7, "250 users at 40 a page");
    assert_export_is(&export(&scratch, "default"), &directory);
}

#[test]
fn a_wrong_total_loses_no_user_and_costs_a_few_pages_more() {
    // Too low: 4 pages to the claimed 200, then 1 more with users, then the empty page that ends a listing
    // whose total is not believed. Too high: 7 pages to the claimed 320, the last 2 empty.
    for (offset, user_pages) in [(-50i64, 6u64), (70, 7)] {
        let quirks = Quirks { total_offset: offset, ..Quirks::default() };
        let (double, directory) = start(DirectorySpec { users: 250, groups: 3 }, quirks);
        let scratch = Scratch::new();
        sync(&double, &scratch, &["--config", "page_size=50"]).ok();
        assert_eq!(double.counts().user_pages, user_pages, "totalResults off by {offset}");
        assert_export_is(&export(&scratch, "default"), &directory);
    }
}

#[test]
fn groups_listed_without_members_are_read_one_by_one_and_the_log_says_so() {
    let (double, directory) = start(DirectorySpec { users: 90, groups: 9 }, Quirks { omit_members: true, ..Quirks::default() });
    let scratch = Scratch::new();
    let out = sync(&double, &scratch, &[]);
    assert_eq!(out.code, 0, "{}", out.err);
    assert_eq!(double.counts().single_reads, 9, "one read per group");
    assert!(out.err.contains("the server listed 9 groups without `members`; reading each group"), "{}", out.err);
    assert_export_is(&export(&scratch, "default"), &directory);
}

#[test]
fn a_server_without_groups_syncs_its_users() {
    let (double, directory) = start(DirectorySpec { users: 30, groups: 4 }, Quirks { no_groups: true, ..Quirks::default() });
    let scratch = Scratch::new();
    let out = sync(&double, &scratch, &[]).ok();
    assert!(out.contains("30 user"), "{out}");
    assert_eq!((double.counts().group_pages, double.counts().user_pages), (0, 1));
    let lines = export(&scratch, "default");
    let types: Vec<&str> = of_kind(&lines, "resource_type").iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(types, ["department", "user"]);
    assert_export_is(&lines, &Directory { users: directory.users, groups: Vec::new() });
}

#[test]
fn rate_limits_are_waited_out_as_the_server_asks() {
    let quirks = Quirks { rate_limited_lists: 2, retry_after: "1".into(), ..Quirks::default() };
    let (double, directory) = start(DirectorySpec { users: 120, groups: 5 }, quirks);
    let scratch = Scratch::new();
    let started = std::time::Instant::now();
    let out = sync(&double, &scratch, &[]).ok();
    // The users and groups listings start at once and are both told to wait: they wait together.
    assert!(started.elapsed() >= std::time::Duration::from_secs(1), "Retry-After: 1 is honoured");
    assert!(out.contains(", 2 retries,"), "{out}");
    assert_eq!(double.counts().total, 1 + 2 + 2 + 1, "discovery, two refused, two user pages, one group page");
    assert_export_is(&export(&scratch, "default"), &directory);
}

/// 290 users and 15 groups listed without members, at 100 a page: /ResourceTypes, 3 user pages, 1 group page
/// and 15 group reads.
const THROTTLED: DirectorySpec = DirectorySpec { users: 290, groups: 15 };
const THROTTLED_FLOOR: u64 = 1 + 3 + 1 + 15;

/// Syncs `THROTTLED` under `limit` at concurrency 1, 4 and 8: each sync exports exactly the directory, and
/// every request the server answered was needed once (no call was repeated whole). Returns the doubles.
fn sync_throttled(limit: Limit) -> Vec<(usize, Counts)> {
    let directory = Directory::generate(THROTTLED);
    let runs: Vec<_> = [1usize, 4, 8]
        .into_iter()
        .map(|concurrency| {
            let directory = directory.clone();
            std::thread::spawn(move || {
                let double = ScimDouble::start(directory.clone(), Quirks { omit_members: true, limit: Some(limit), ..Quirks::default() }).unwrap();
                let scratch = Scratch::new();
                sync(&double, &scratch, &["--concurrency", &concurrency.to_string()]).ok();
                assert_export_is(&export(&scratch, "default"), &directory);
                let counts = double.counts();
                assert_eq!(counts.total - counts.limited, THROTTLED_FLOOR, "at concurrency {concurrency}, every answered request was needed once: {counts:?}");
                assert_eq!(counts.single_reads, 15, "one read per group");
                (concurrency, counts)
            })
        })
        .collect();
    runs.into_iter().map(|run| run.join().unwrap()).collect()
}

#[test]
fn a_429_every_9th_request_costs_one_repeat_each_however_many_run_at_once() {
    // The fan-out of group reads is one call a group: a refused read is repeated alone, so the requests are
    // the floor plus one repeat per ninth request: 22 for a floor of 20.
    for (concurrency, counts) in sync_throttled(Limit::EveryNth { n: 9, retry_after_secs: 1 }) {
        assert_eq!((counts.total, counts.limited), (22, 2), "at concurrency {concurrency}: {counts:?}");
    }
}

#[test]
fn a_fixed_window_limit_is_waited_out_and_narrows_the_sync() {
    // 8 requests a second. A refusal holds every instance back until the window has passed and halves the
    // calls at once, so a window refuses at most the requests already in flight: at most `concurrency` in each
    // of the windows the floor needs, and one more window's.
    let per_window = 8;
    for (concurrency, counts) in sync_throttled(Limit::FixedWindow { requests: per_window, window: std::time::Duration::from_secs(1) }) {
        let windows = THROTTLED_FLOOR.div_ceil(per_window) + 1;
        assert!(counts.limited <= concurrency as u64 * windows, "at concurrency {concurrency}: {counts:?}");
    }
}

#[test]
fn a_malformed_body_fails_the_sync_and_keeps_the_last_good_one() {
    let spec = DirectorySpec { users: 120, groups: 5 };
    let (good, directory) = start(spec, Quirks::default());
    let scratch = Scratch::new();
    sync(&good, &scratch, &[]).ok();
    // One page at a time: users page 1 (which hands back the rest as independent), groups page 1, then the
    // users from 101, which is cut, as is every request after it.
    let (broken, _) = start(spec, Quirks { cut_lists_from: Some(3), ..Quirks::default() });
    let failed = sync(&broken, &scratch, &["--concurrency", "1"]);
    assert_eq!(failed.code, 1);
    assert_eq!(failed.err.trim().lines().count(), 1, "{}", failed.err);
    assert!(failed.err.contains("GET /Users startIndex=101: body is not valid JSON"), "{}", failed.err);
    assert_export_is(&export(&scratch, "default"), &directory);
}

#[test]
fn a_server_without_patch_is_updated_with_put() {
    let (double, _) = start(DirectorySpec { users: 10, groups: 1 }, Quirks { no_patch: true, ..Quirks::default() });
    let scratch = Scratch::new();
    let args = scim_args(&scratch, &["update-account", "--provisioning", "--id", "u000003", "--field", "title=Chief", "--field", "department=Ops"], &double.base_url(), TOKEN);
    let out = harness(&args).ok();
    let updated: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(updated["resource"]["user"]["title"], "Chief");
    let counts = double.counts();
    // /ResourceTypes (the harness looks up which type holds accounts), /ServiceProviderConfig, GET and PUT.
    assert_eq!((counts.discovery, counts.single_reads, counts.writes), (2, 1, 1), "no PATCH tried");
    let stored = double.directory().users.into_iter().find(|u| u["id"] == "u000003").unwrap();
    assert_eq!((&stored["title"], &stored[ENTERPRISE_USER]["department"], &stored["userName"]), (&json!("Chief"), &json!("Ops"), &json!("user3@example.test")));
}

#[test]
fn a_wrong_base_url_is_one_clear_line_not_an_empty_directory() {
    let (double, _) = start(DirectorySpec { users: 10, groups: 1 }, Quirks::default());
    let scratch = Scratch::new();
    let wrong = double.base_url().replace("/v2", "/v3");
    let failed = scim_sync(&scratch, &wrong, TOKEN, &[]);
    assert_eq!(failed.code, 1);
    assert_eq!(failed.err.trim().lines().count(), 1, "{}", failed.err);
    assert!(failed.err.contains(&format!("{wrong}/Users is not a SCIM endpoint (404 or 501); check base_url")), "{}", failed.err);
}
