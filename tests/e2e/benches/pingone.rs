//! A PingOne sync with role grants against the PingOne double with a per-request delay, at several
//! concurrencies: role grants cost one request per user and per group (PingOne has no bulk read), so the
//! host runs those reads on several instances of the component at once.
//!
//!     cargo bench --bench pingone                               # 10,000 users, 100 groups, 50 ms, c = 1 and 8
//!     cargo bench --bench pingone -- 2000 --delay-ms 20 --concurrency 1,4,8,16
//!
//! The ideal is ⌈requests / c⌉ × delay: what the requests cost if c of them were always in flight.


use std::time::Duration;

use pingone_double::{Behaviour, CLIENT_ID, CLIENT_SECRET, Environment, EnvironmentSpec, Faults, PingOneDouble};

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let (mut users, mut delay, mut concurrencies) = (10_000usize, Duration::from_millis(50), vec![1usize, 8]);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--delay-ms" => delay = Duration::from_millis(args.next().and_then(|v| v.parse().ok()).expect("--delay-ms N")),
            "--concurrency" => concurrencies = args.next().expect("--concurrency 1,8").split(',').map(|c| c.parse().expect("a concurrency")).collect(),
            other => users = other.parse().expect("a number of users"),
        }
    }
    let groups = 100;
    let env = Environment::generate(EnvironmentSpec::sized(users, groups));
    let scratch = tempfile::tempdir().expect("scratch dir");
    println!("{users} users, {groups} groups, role grants on, {} ms per request", delay.as_millis());
    println!();
    println!("| concurrency | requests | most in flight | wall | ideal (⌈requests / c⌉ × delay) | wall / ideal |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for &concurrency in &concurrencies {
        let double = PingOneDouble::start_with(env.clone(), Behaviour::default(), Faults { delay: Some(delay), ..Default::default() }).unwrap();
        let store = scratch.path().join(format!("c{concurrency}.db"));
        let (cache, component, store) = (scratch.path().join("cache").display().to_string(), component_build::pingone_component(), store.display().to_string());
        let config = [
            format!("api_base={}", double.api_base()),
            format!("auth_base={}", double.auth_base()),
            format!("environment_id={}", double.environment_id()),
            format!("client_id={CLIENT_ID}"),
        ];
        let (secret, concurrency_flag) = (format!("client_secret={CLIENT_SECRET}"), concurrency.to_string());
        let mut args = vec!["--cache-dir", &cache, "sync", "--component", component.to_str().unwrap(), "--store", &store, "--secret", &secret, "--concurrency", &concurrency_flag];
        args.extend(config.iter().flat_map(|c| ["--config", c.as_str()]));
        let (wall, _) = e2e::timed_harness(&args);
        let requests = double.counts().total;
        let ideal = delay * requests.div_ceil(concurrency as u64) as u32;
        println!(
            "| {concurrency} | {requests} | {} | {:.1} s | {:.1} s | {:.2} |",
            double.max_in_flight(),
            wall.as_secs_f64(),
            ideal.as_secs_f64(),
            wall.as_secs_f64() / ideal.as_secs_f64()
        );
    }
}
