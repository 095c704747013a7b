//! The faults a PingOne sync must survive (429 with Retry-After, 503, a token that dies early) with the same
//! export, and the one it must not pretend to survive (a cut body), which keeps the last good sync.

use pingone_double::{Behaviour, Environment, EnvironmentSpec, Faults, PingOneDouble};

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
    assert!(line.contains("bad response") && line.contains("not JSON"), "{line}");
    assert_eq!(export(&scratch, "default"), before, "the last complete sync is what readers see");
}
