//! The host performs Pingboard's OAuth client-credentials exchange for the component: one token per sync,
//! reused, refreshed once on a 401; a refused secret is one clear line that never shows the secret.

use crate::common::*;
use pingboard_double::{CLIENT_ID, Company, CompanySpec, DoubleOptions, Faults, PingboardDouble};

#[test]
fn a_token_that_dies_mid_sync_is_refreshed_once_per_401_and_nothing_is_lost() {
    let company = Company::generate(CompanySpec::sized(2000));
    let options = DoubleOptions { faults: Faults { token_expires_after_calls: Some(4), ..Faults::default() }, ..DoubleOptions::default() };
    let double = PingboardDouble::start_with(company.clone(), options).unwrap();
    let scratch = Scratch::new();
    // One page at a time, so the 401s fall every fourth call.
    harness(&sync_args(&scratch, &double, &["--config", "page_size=100", "--concurrency", "1"])).ok();
    let counts = double.counts();
    let groups = company.groups.len() as u64;
    let pages = 2000 / 100 + groups.div_ceil(100);
    assert_eq!((pages, counts.users_pages + counts.groups_pages), (22, 22), "every page served once");
    assert_eq!(counts.unauthorized, (pages - 1) / 4, "one 401 per 4 calls on a token");
    assert_eq!(counts.token, 1 + counts.unauthorized, "one fresh token per 401");
    assert_eq!(counts.total, pages + counts.unauthorized + counts.token, "each refused call repeated once");
    assert_export_matches(&export(&scratch, "default"), &company);
}

#[test]
fn a_wrong_secret_is_one_clear_line_without_the_secret_and_keeps_the_last_good_sync() {
    let company = Company::generate(CompanySpec::sized(300));
    let double = PingboardDouble::start(company.clone()).unwrap();
    let scratch = Scratch::new();
    harness(&sync_args(&scratch, &double, &[])).ok();
    let good = export(&scratch, "default");

    let before = double.counts();
    let mut args = sync_args(&scratch, &double, &[]);
    let secret_at = args.iter().position(|a| a.starts_with("client_secret=")).unwrap();
    args[secret_at] = "client_secret=not-the-right-secret-4711".into();
    let outcome = harness(&args);
    assert_eq!(outcome.code, 1);
    assert_eq!(
        outcome.err.trim_end(),
        format!(
            "error: authentication failed: the token endpoint {}/oauth/token refused the client credentials (HTTP 401: invalid_client: \
             Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.)",
            double.base_url()
        )
    );
    assert!(!outcome.err.contains("not-the-right-secret-4711") && !outcome.out.contains("not-the-right-secret-4711"));
    let counts = double.counts();
    assert_eq!((counts.token - before.token, counts.total - before.total), (1, 1), "a refused secret is not retried");
    assert_eq!(export(&scratch, "default"), good, "the last good sync is still what readers see");
}

#[test]
fn validate_checks_credentials_with_one_cheap_call() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(42))).unwrap();
    let scratch = Scratch::new();
    let args = ["--cache-dir".to_string(), scratch.cache(), "validate".into(), "--component".into(), component(),
        "--config".into(), format!("base_url={}", double.base_url()), "--config".into(), format!("client_id={CLIENT_ID}"),
        "--secret-env".into(), "client_secret=PINGBOARD_DOUBLE_SECRET_FOR_TEST".into()];
    // SAFETY: no other thread of this test binary reads or writes this variable.
    unsafe { std::env::set_var("PINGBOARD_DOUBLE_SECRET_FOR_TEST", pingboard_double::CLIENT_SECRET) };
    let out = harness(&args).ok();
    let origin = double.base_url().replace("localhost", "127.0.0.1");
    let expected = format!("ok: tenant `default`: Pingboard API reachable; 42 users visible (2 requests)\norigins: {origin}\ntoken endpoint: {origin}/oauth/token");
    assert_eq!(out.trim_end(), expected, "the operator sees every origin and where the client secret goes");
    assert_eq!(double.counts().users_pages, 1);
}
