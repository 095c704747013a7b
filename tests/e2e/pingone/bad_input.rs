//! A wrong environment id, a wrong secret, a token method the app does not use, and an unknown region: one
//! clear line each, and no secret in it.

use pingone_double::{Behaviour, Environment, EnvironmentSpec, Faults, PingOneDouble, TokenAuthMethod};

use super::*;

fn one_line(outcome: Outcome) -> String {
    assert_ne!(outcome.code, 0, "{}", outcome.out);
    let err = outcome.err.trim().to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains(pingone_double::CLIENT_SECRET), "{err}");
    err
}

#[test]
fn bad_settings_are_named_in_one_line() {
    let double = PingOneDouble::start(Environment::generate(EnvironmentSpec::sized(20, 3))).unwrap();
    let scratch = Scratch::new();

    // The token endpoint knows no such environment.
    let wrong_env = harness(&pingone_args(&scratch, &["validate"], &double, &["--config", "environment_id=00000000-0000-4000-8000-000000000000"]));
    let line = one_line(wrong_env);
    assert!(line.contains("authentication failed") && line.contains("does not exist"), "{line}");

    let mut args = pingone_args(&scratch, &["validate"], &double, &[]);
    let secret = args.iter().position(|a| a.starts_with("client_secret=")).unwrap();
    args[secret] = "client_secret=not-the-secret".into();
    let line = one_line(harness(&args));
    assert!(line.contains("authentication failed") && line.contains("invalid_client") && line.contains("Client authentication failed"), "{line}");

    let line = one_line(harness(&pingone_args(&scratch, &["validate"], &double, &["--config", "token_auth_method=post"])));
    assert!(line.contains("Unsupported authentication method"), "{line}");

    let unknown_region = harness(&[
        "--cache-dir", &scratch.cache(), "validate", "--component", &pingone_component(), "--config", "region=mars", "--config", "environment_id=e",
        "--config", "client_id=c", "--secret", "client_secret=s",
    ]);
    let line = one_line(unknown_region);
    assert!(line.contains("config `region`: `mars` is not one of com, eu, ca, asia, com.au, sg"), "{line}");

    assert!(validate_ok(&scratch, &double, &[]).contains("PingOne environment"));
}

fn validate_ok(scratch: &Scratch, double: &PingOneDouble, extra: &[&str]) -> String {
    harness(&pingone_args(scratch, &["validate"], double, extra)).ok()
}

#[test]
fn an_environment_the_app_cannot_read_answers_403_and_the_line_says_so() {
    // The worker app lives in the double's environment (its token comes from there) and is pointed at
    // another: PingOne answers 403.
    let double = PingOneDouble::start(Environment::generate(EnvironmentSpec::sized(20, 3))).unwrap();
    let scratch = Scratch::new();
    let home = format!("auth_environment_id={}", double.environment_id());
    let other = "environment_id=11111111-2222-4333-8444-555555555555";
    let line = one_line(harness(&pingone_args(&scratch, &["validate"], &double, &["--config", other, "--config", &home])));
    assert!(line.contains("invalid config") && line.contains("environment `11111111-2222-4333-8444-555555555555` refused the worker app") && line.contains("HTTP 403"), "{line}");
    let store = scratch.store();
    let line = one_line(harness(&pingone_args(&scratch, &["sync", "--store", &store], &double, &["--config", other, "--config", &home])));
    assert!(line.contains("HTTP 403") && line.contains("an environment the worker app is not in"), "{line}");

    let post = PingOneDouble::start_with(Environment::generate(EnvironmentSpec::sized(5, 1)), Behaviour { token_auth_method: TokenAuthMethod::Post, ..Default::default() }, Faults::default()).unwrap();
    assert!(validate_ok(&scratch, &post, &["--config", "token_auth_method=post"]).contains("PingOne environment"), "post, when the app uses it");
}
