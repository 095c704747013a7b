//! The fault matrix at 5,000 users: every sync either ends with exactly the company (what a fault-free sync
//! stores) or fails with the named error and leaves the last good sync in place.

use std::time::{Duration, SystemTime};

use crate::common::*;
use pingboard_double::{Company, CompanySpec, DoubleOptions, Faults, PingboardDouble};

const PAGE: &str = "page_size=500";

fn company() -> Company {
    Company::generate(CompanySpec::sized(5000))
}

/// 10 user pages + 1 group page + 1 token.
const FLOOR: u64 = 12;

/// Syncs with `faults` on and checks the export against the company; returns the summary line.
fn survives(faults: Faults, extra: &[&str]) -> (String, PingboardDouble) {
    let company = company();
    let double = PingboardDouble::start_with(company.clone(), DoubleOptions { faults, ..DoubleOptions::default() }).unwrap();
    let scratch = Scratch::new();
    // One page at a time: these tests count the exact sequence of calls a fault meets.
    let mut args = vec!["--config", PAGE, "--concurrency", "1"];
    args.extend_from_slice(extra);
    let out = harness(&sync_args(&scratch, &double, &args)).ok();
    assert_export_matches(&export(&scratch, "default"), &company);
    (out, double)
}

fn retries(summary: &str) -> u64 {
    let (before, _) = summary.split_once(" retries").expect(summary);
    before.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn rate_limits_are_waited_out_as_retry_after_says() {
    let started = std::time::Instant::now();
    let (out, double) = survives(Faults { rate_limit_every: Some(4), retry_after: Some("1".into()), ..Faults::default() }, &[]);
    assert_eq!(retries(&out), 3, "calls 4, 8 and 12 were rate limited: {out}");
    assert_eq!(double.counts().total, FLOOR + 3);
    assert!(started.elapsed() >= Duration::from_secs(3), "each wait honoured Retry-After: 1");
}

#[test]
fn retry_after_may_be_an_http_date() {
    let when = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    let (out, _) = survives(Faults { rate_limit_every: Some(6), retry_after: Some(when), ..Faults::default() }, &[]);
    assert!(retries(&out) >= 1, "{out}");
}

#[test]
fn bursts_of_503_are_retried_with_backoff() {
    let (out, double) = survives(Faults { unavailable_burst: Some((3, 2)), ..Faults::default() }, &[]);
    assert!(retries(&out) >= 2, "{out}");
    assert_eq!(double.counts().total, FLOOR + retries(&out));
}

#[test]
fn tokens_that_expire_every_few_calls_are_renewed() {
    let (_, double) = survives(Faults { token_expires_after_calls: Some(3), ..Faults::default() }, &[]);
    let counts = double.counts();
    assert_eq!(counts.unauthorized, 3, "11 pages on tokens good for 3 calls");
    assert_eq!(counts.token, 4);
}

#[test]
fn a_spent_token_from_the_token_endpoint_is_not_used() {
    let (_, double) = survives(Faults { spent_token_once: true, ..Faults::default() }, &[]);
    let counts = double.counts();
    assert_eq!((counts.token, counts.unauthorized), (2, 0), "expires_in 0 means ask again, before any API call");
}

#[test]
fn truncated_bodies_are_asked_for_again() {
    let (out, double) = survives(Faults { truncate_every: Some(5), ..Faults::default() }, &[]);
    assert_eq!(retries(&out), 2, "calls 5 and 10 came back cut in half: {out}");
    assert_eq!(double.counts().total, FLOOR + 2);
}

#[test]
fn responses_slower_than_the_first_byte_timeout_are_abandoned_and_retried() {
    let faults = Faults { delay: Some(Duration::from_millis(1500)), delay_every: Some(4), ..Faults::default() };
    let (out, _) = survives(faults, &["--first-byte-timeout-secs", "0.4"]);
    assert!(retries(&out) >= 2, "{out}");
}

#[test]
fn dangling_references_and_unicode_survive_at_scale() {
    let company = Company::generate(CompanySpec { dangling_members: true, ..CompanySpec::sized(5000) });
    let double = PingboardDouble::start(company.clone()).unwrap();
    let scratch = Scratch::new();
    harness(&sync_args(&scratch, &double, &["--config", PAGE])).ok();
    let lines = export(&scratch, "default");
    assert_export_matches(&lines, &company);
    assert!(lines.iter().any(|l| l["display_name"].as_str().is_some_and(|n| n.contains("Nguyễn") || n.contains("李"))));
}

#[test]
fn what_cannot_be_cured_fails_by_name_and_keeps_the_last_good_sync() {
    let company = company();
    let double = PingboardDouble::start(company.clone()).unwrap();
    let scratch = Scratch::new();
    harness(&sync_args(&scratch, &double, &["--config", PAGE])).ok();
    let good = export(&scratch, "default");
    let fail = |faults: Faults, expected: &str| {
        double.set_faults(faults);
        let outcome = harness(&sync_args(&scratch, &double, &["--config", PAGE, "--max-retry-wait-secs", "5", "--concurrency", "1"]));
        assert_eq!(outcome.code, 1, "{}", outcome.out);
        assert!(outcome.err.contains(expected), "expected `{expected}` in {}", outcome.err);
        assert_eq!(outcome.err.lines().count(), 1);
        assert_eq!(export(&scratch, "default"), good, "readers still see the last good sync");
    };
    let before = double.counts();
    fail(Faults { token_expires_after_calls: Some(0), ..Faults::default() }, "unauthenticated: GET /api/v2/users page 1: HTTP 401: the credentials were refused");
    let after = double.counts();
    assert_eq!((after.token - before.token, after.unauthorized - before.unauthorized), (2, 2), "one re-authentication, then stop");
    fail(Faults { truncate_every: Some(1), ..Faults::default() }, "GET /api/v2/users page 1: body is not valid JSON (EOF while parsing");
    fail(Faults { ignore_page: true, ..Faults::default() }, "bad response: it repeats 500 resources already listed; stopping rather than looping");
    fail(Faults { rate_limit_every: Some(1), retry_after: Some("60".into()), ..Faults::default() }, "(waiting 60.0 s more would pass the sync's retry budget of 5 s)");
}
