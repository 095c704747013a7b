//! The faults a PingOne sync must survive (429 with Retry-After, 503, a token that dies early) with the same
//! export, and the one it must not pretend to survive (a cut body), which keeps the last good sync.

use pingone_double::{Behaviour, Environment, EnvironmentSpec, Faults, Limit, PingOneDouble};

use super::*;

#[test]
fn rate_limits_outages_and_expired_tokens_are_ridden_out_with_the_same_result() {
    let env = Environment::generate(EnvironmentSpec::sized(600, 12));
    let expected = expected_grants(&env, true);
    let cases = [
        ("429", Faults { rate_limited: 3, ..Default::default() }),
        ("503", Faults { unavailable: 2, ..Default::default() }),
        ("token expiry", Faults { token_lifetime: Some(std::time::Duration::from_millis(150)), delay: Some(std::time::Duration::from_millis(20)), ..Default::default() }),
    ];
    for (name, faults) in cases {
        let double = PingOneDouble::start_with(env.clone(), Behaviour::default(), faults).unwrap();
        let scratch = Scratch::new();
        pingone_sync(&scratch, &double, &[]).ok();
        assert_eq!(exported_grants(&export(&scratch, "default")), expected, "{name}");
        if name == "token expiry" {
            assert!(double.counts().tokens > 1, "a dead token is replaced, not fatal");
        }
    }
}

#[test]
fn the_role_fan_out_under_a_fixed_window_limit_costs_no_repeated_call() {
    // 60 users and 4 groups with role grants: 75 requests, one per user and group for its roles, under 25
    // requests a second. Every answered request was needed once (a refused one is repeated alone), and a
    // window refuses at most the requests in flight when its limit is reached (see the SCIM double's test).
    let env = Environment::generate(EnvironmentSpec { nested: false, ..EnvironmentSpec::sized(60, 4) });
    let expected = expected_grants(&env, true);
    let exact = Behaviour { short_pages: false, ..Default::default() };
    let per_window = 25;
    let runs: Vec<_> = [1u64, 4, 8]
        .into_iter()
        .map(|concurrency| {
            let (env, exact, expected) = (env.clone(), exact.clone(), expected.clone());
            std::thread::spawn(move || {
                let limit = Limit::FixedWindow { requests: per_window, window: std::time::Duration::from_secs(1) };
                let double = PingOneDouble::start_with(env.clone(), exact, Faults { limit: Some(limit), ..Default::default() }).unwrap();
                let scratch = Scratch::new();
                pingone_sync(&scratch, &double, &["--concurrency", &concurrency.to_string()]).ok();
                assert_eq!(exported_grants(&export(&scratch, "default")), expected, "at concurrency {concurrency}");
                let (counts, floor) = (double.counts(), floor(&env, true, false));
                assert_eq!(counts.total - counts.limited, floor, "at concurrency {concurrency}: {counts:?}");
                assert!(counts.limited > 0, "the limit was met at concurrency {concurrency}");
                assert!(counts.limited <= concurrency * (floor.div_ceil(per_window) + 1), "at concurrency {concurrency}: {counts:?}");
            })
        })
        .collect();
    for run in runs {
        run.join().unwrap();
    }
}

#[test]
fn a_cut_short_body_fails_the_sync_in_one_line_and_keeps_the_last_good_one() {
    let env = Environment::generate(EnvironmentSpec::sized(400, 8));
    let scratch = Scratch::new();
    let good = PingOneDouble::start(env.clone()).unwrap();
    pingone_sync(&scratch, &good, &[]).ok();
    let before = export(&scratch, "default");
    let cutting = PingOneDouble::start_with(env, Behaviour::default(), Faults { cut_from: Some(2), ..Default::default() }).unwrap();
    let failed = pingone_sync(&scratch, &cutting, &["--concurrency", "1"]);
    assert_ne!(failed.code, 0);
    let line = failed.err.trim();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(line.contains("bad response") && line.contains("body is not valid JSON"), "{line}");
    assert_eq!(export(&scratch, "default"), before, "the last complete sync is what readers see");
}
