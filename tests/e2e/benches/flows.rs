//! A provisioning flow from the PingOne double into the Pingboard double, each answering after a per-request
//! delay: a first cycle that creates every enabled user, then a cycle after 1% of the source changed (titles,
//! disabled users, new hires), at several write concurrencies. Requests are counted against the floor: a plain
//! sync of each tenant (measured here, in a store of its own) plus what each change costs Pingboard's connector
//! (a create is a lookup by email and a POST; an update a PATCH; a disable, in Pingboard, a DELETE).
//!
//!     cargo bench --bench flows                                 # 10,000 users, 10 ms, concurrency 1 and 4
//!     cargo bench --bench flows -- 2000 --delay-ms 5 --concurrency 1,4,8

use std::time::Duration;

use pingboard_double::{Company, PingboardDouble};
use pingone_double::{Environment, EnvironmentSpec, PingOneDouble, uuid};

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let (mut users, mut delay, mut concurrencies) = (10_000usize, Duration::from_millis(10), vec![1usize, 4]);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--delay-ms" => delay = Duration::from_millis(args.next().and_then(|v| v.parse().ok()).expect("--delay-ms N")),
            "--concurrency" => concurrencies = args.next().expect("--concurrency 1,4").split(',').map(|c| c.parse().expect("a concurrency")).collect(),
            other => users = other.parse().expect("a number of users"),
        }
    }
    let env = Environment::generate(EnvironmentSpec::sized(users, 20));
    let enabled = env.users.iter().filter(|u| u.enabled).count();
    let changed = users / 100;
    println!("{users} PingOne users ({enabled} enabled) → Pingboard, {} ms per request; then {changed} changes (1%)", delay.as_millis());
    println!();
    println!("| concurrency | cycle | changes | requests | floor | requests / floor | wall | writes/s |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    for &concurrency in &concurrencies {
        let run = Run::new(&env, delay, concurrency);
        // Cycle 1: both tenants sync (never synced), then a create per enabled user. Each floor is measured
        // before its cycle, over the data that cycle syncs.
        let floor = run.sync_floor() + 2 * enabled as u64;
        run.cycle(&[]).print(concurrency, "first", enabled, floor);
        // 1% of the source changes: half of it new titles, a quarter disabled, a quarter new hires.
        let (titles, disabled, hires) = (changed / 2, changed / 4, changed - changed / 2 - changed / 4);
        run.directory.edit(|env| {
            let template = env.users[0].clone();
            let mut enabled_users = env.users.iter_mut().filter(|u| u.enabled);
            for user in enabled_users.by_ref().take(titles) {
                user.title = Some(format!("{} (promoted)", user.title.clone().unwrap_or_default()));
            }
            for user in enabled_users.take(disabled) {
                user.enabled = false;
            }
            for n in 0..hires {
                let id = uuid(2, 900_000 + n);
                env.users.push(pingone_double::User { id, username: format!("hire{n}"), email: format!("hire{n}@example.com"), given: "New".into(), family: format!("Hire{n}"), enabled: true, ..template.clone() });
            }
        });
        let floor = run.sync_floor() + titles as u64 + disabled as u64 + 2 * hires as u64;
        run.cycle(&["--sync"]).print(concurrency, "after 1%", changed, floor);
    }
}

/// One concurrency's runs: the doubles, a scratch store, and a tenants file.
struct Run {
    directory: PingOneDouble,
    app: PingboardDouble,
    dir: tempfile::TempDir,
    concurrency: usize,
}

/// What one cycle cost.
struct Cycle {
    requests: u64,
    wall: Duration,
}

impl Run {
    fn new(env: &Environment, delay: Duration, concurrency: usize) -> Self {
        let directory = PingOneDouble::start_with(env.clone(), Default::default(), pingone_double::Faults { delay: Some(delay), ..Default::default() }).unwrap();
        let app = PingboardDouble::start(Company::default()).unwrap();
        app.set_faults(pingboard_double::Faults { delay: Some(delay), ..Default::default() });
        let dir = tempfile::tempdir().unwrap();
        let run = Self { directory, app, dir, concurrency };
        std::fs::write(run.dir.path().join("tenants.toml"), run.tenants()).unwrap();
        run
    }

    fn tenants(&self) -> String {
        let (d, a) = (&self.directory, &self.app);
        format!(
            "[[tenant]]\nname = \"acme-pingone\"\ncomponent = \"{}\"\n\
             config = {{ api_base = \"{}\", auth_base = \"{}\", environment_id = \"{}\", client_id = \"{}\", role_grants = false }}\n\
             secrets = {{ client_secret = {{ value = \"{}\" }} }}\n\n\
             [[tenant]]\nname = \"acme-pingboard\"\ncomponent = \"{}\"\nprovisioning = true\n\
             config = {{ base_url = \"{}\", client_id = \"{}\" }}\nsecrets = {{ client_secret = {{ value = \"{}\" }} }}\n\n\
             [[flow]]\nname = \"workforce\"\nsource = \"acme-pingone\"\ntarget = \"acme-pingboard\"\n\
             match = {{ source = \"user.emails[0].address\", target = \"email\" }}\nmax_deletions = \"10%\"\n\
             [flow.map]\nfirst_name = \"user.name.given_name\"\nlast_name = \"user.name.family_name\"\nemail = \"user.emails[0].address\"\njob_title = \"user.title\"\n",
            component_build::pingone_component().display(),
            d.api_base(),
            d.auth_base(),
            d.environment_id(),
            pingone_double::CLIENT_ID,
            pingone_double::CLIENT_SECRET,
            component_build::pingboard_component().display(),
            a.base_url(),
            pingboard_double::CLIENT_ID,
            pingboard_double::CLIENT_SECRET,
        )
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn total(&self) -> u64 {
        self.directory.counts().total + self.app.counts().total
    }

    /// A `flow apply` with `extra` flags.
    fn cycle(&self, extra: &[&str]) -> Cycle {
        let before = self.total();
        let (cache, file, store, concurrency) = (self.path("cache"), self.path("tenants.toml"), self.path("store.db"), self.concurrency.to_string());
        let mut args = vec!["--cache-dir", &cache, "flow", "apply", "workforce", "--tenants", &file, "--store", &store, "--concurrency", &concurrency];
        args.extend(extra);
        let (wall, _) = e2e::timed_harness(&args);
        Cycle { requests: self.total() - before, wall }
    }

    /// What plain syncs of both tenants cost now, each into a store of its own.
    fn sync_floor(&self) -> u64 {
        let before = self.total();
        let (cache, file, store) = (self.path("cache"), self.path("tenants.toml"), self.path(&format!("floor-{}.db", rand_suffix())));
        e2e::timed_harness(&["--cache-dir", &cache, "sync", "--tenants", &file, "--store", &store]);
        self.total() - before
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

impl Cycle {
    fn print(&self, concurrency: usize, cycle: &str, changes: usize, floor: u64) {
        let writes_per_second = changes as f64 / self.wall.as_secs_f64();
        println!(
            "| {concurrency} | {cycle} | {changes} | {} | {floor} | {:.3} | {:.1} s | {writes_per_second:.0} |",
            self.requests,
            self.requests as f64 / floor as f64,
            self.wall.as_secs_f64()
        );
    }
}
