//! The SCIM gateway at scale: a Pingboard company of 100,000 people synced by `serve`, then read through
//! `/tenants/{tenant}/scim/v2` on one kept-alive connection — a `userName eq` lookup (Entra's match, answered
//! through the store's `logins` index) and a full `ListResponse` walk at `count=1000` — on SQLite and on
//! PostgreSQL; and the requests a write through the gateway sends Pingboard, beside the same write made with
//! `connector-harness create-account`/`update-account` (the connector's own cost).
//!
//!   cargo bench -p connector-harness --bench gateway [-- USERS]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, CompanySpec, PingboardDouble};
use real_servers::Postgres;
use serde_json::{Value, json};

const TOKEN: &str = "bench-token";
const LOOKUPS: usize = 500;

/// One kept-alive HTTP/1.1 connection to the gateway.
struct Connection {
    reader: BufReader<TcpStream>,
    base: String,
}

impl Connection {
    fn open(port: u16, base: &str) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_nodelay(true).unwrap();
        Self { reader: BufReader::new(stream), base: base.to_string() }
    }

    fn send(&mut self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let body = body.map(Value::to_string).unwrap_or_default();
        let request = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n{body}",
            self.base,
            body.len()
        );
        self.reader.get_mut().write_all(request.as_bytes()).unwrap();
        let mut status_line = String::new();
        self.reader.read_line(&mut status_line).unwrap();
        let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status: {status_line:?}"));
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut bytes = vec![0; length];
        self.reader.read_exact(&mut bytes).unwrap();
        (status, if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() })
    }
}

struct Served {
    child: Child,
    port: u16,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, double: &PingboardDouble, store: &str) -> Served {
    let tenants = dir.join("tenants.toml");
    std::fs::write(
        &tenants,
        format!(
            "[[tenant]]\nname = \"pingboard\"\ncomponent = \"{}\"\nprovisioning = true\n\
             config = {{ base_url = \"{}\", client_id = \"{CLIENT_ID}\" }}\nsecrets = {{ client_secret = {{ value = \"{CLIENT_SECRET}\" }} }}\n\
             scim = {{ token = {{ value = \"{TOKEN}\" }} }}\nlimits = {{ concurrency = 4 }}\n",
            component_build::pingboard_component().display(),
            double.base_url()
        ),
    )
    .unwrap();
    let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (listen, port) = (free(), free());
    let child = Command::new(env!("CARGO_BIN_EXE_connector-harness"))
        .args(["--cache-dir", &dir.join("cache").display().to_string(), "serve", "--tenants", &tenants.display().to_string(), "--store", store])
        .args(["--listen", &format!("127.0.0.1:{listen}"), "--scim-listen", &format!("127.0.0.1:{port}"), "--poll", "200ms"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("serve.log")).unwrap())
        .spawn()
        .unwrap();
    Served { child, port }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}

fn measure(name: &str, company: &Company, double: &PingboardDouble, dir: &Path, store: &str) {
    let users = company.users.len();
    let served = serve(dir, double, store);
    let base = "/tenants/pingboard/scim/v2";
    // The first sync: until the gateway answers with every user.
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(900), "the first sync never finished; see {}", dir.join("serve.log").display());
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", served.port)) {
            drop(stream);
            let (status, body) = Connection::open(served.port, base).send("GET", "/Users?count=0", None);
            if status == 200 && body["totalResults"] == users {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let mut gw = Connection::open(served.port, base);
    let mut times = Vec::with_capacity(LOOKUPS);
    for i in 0..LOOKUPS {
        let user = &company.users[(i * 7919) % users];
        let filter = format!("userName eq \"{}\"", user.email).replace(' ', "%20").replace('"', "%22");
        let at = Instant::now();
        let (status, body) = gw.send("GET", &format!("/Users?filter={filter}"), None);
        times.push(at.elapsed());
        assert_eq!((status, &body["Resources"][0]["id"]), (200, &json!(user.id)));
    }
    times.sort();
    let at = Instant::now();
    let (mut seen, mut start) = (std::collections::HashSet::new(), 1);
    loop {
        let (status, page) = gw.send("GET", &format!("/Users?startIndex={start}&count=1000"), None);
        assert_eq!((status, &page["totalResults"]), (200, &json!(users)));
        let resources = page["Resources"].as_array().unwrap();
        if resources.is_empty() {
            break;
        }
        seen.extend(resources.iter().map(|r| r["id"].as_str().unwrap().to_string()));
        start += resources.len();
    }
    let walk = at.elapsed();
    assert_eq!(seen.len(), users, "every user once");
    println!(
        "| {name} | {users} | {:.2} | {:.2} | {:.2} | {:.1} s ({:.0} users/s) |",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        percentile(&times, 1.0),
        walk.as_secs_f64(),
        users as f64 / walk.as_secs_f64()
    );
}

fn writes(double: &PingboardDouble, dir: &Path, store: &str) {
    let served = serve(dir, double, store);
    let base = "/tenants/pingboard/scim/v2";
    let mut gw = loop {
        std::thread::sleep(Duration::from_millis(300));
        if TcpStream::connect(("127.0.0.1", served.port)).is_ok() {
            let mut gw = Connection::open(served.port, base);
            if gw.send("GET", "/Users?count=0", None).0 == 200 {
                break gw;
            }
        }
    };
    let cost = |f: &mut dyn FnMut()| {
        let before = double.counts().total;
        f();
        double.counts().total - before
    };
    let user = json!({"userName": "grace@example.test", "name": {"givenName": "Grace", "familyName": "Hopper"}, "emails": [{"value": "grace@example.test", "type": "work"}]});
    let mut id = String::new();
    let create = cost(&mut || {
        let (status, body) = gw.send("POST", "/Users", Some(&user));
        assert_eq!(status, 201, "{body}");
        id = body["id"].as_str().unwrap().to_string();
    });
    let patch = json!({"Operations": [{"op": "replace", "path": "title", "value": "Rear Admiral"}]});
    let update = cost(&mut || assert_eq!(gw.send("PATCH", &format!("/Users/{id}"), Some(&patch)).0, 200));
    let delete = cost(&mut || assert_eq!(gw.send("DELETE", &format!("/Users/{id}"), None).0, 204));
    // The same writes by the connector alone, one command each.
    let cli = |args: &[&str]| {
        let tenant = dir.join("tenant.toml");
        std::fs::write(&tenant, format!("component = \"{}\"\nprovisioning = true\nconfig = {{ base_url = \"{}\", client_id = \"{CLIENT_ID}\" }}\nsecrets = {{ client_secret = {{ value = \"{CLIENT_SECRET}\" }} }}\n", component_build::pingboard_component().display(), double.base_url())).unwrap();
        let before = double.counts().total;
        let out = Command::new(env!("CARGO_BIN_EXE_connector-harness")).args(["--cache-dir", &dir.join("cache").display().to_string()]).args(args).args(["--tenant-file", &tenant.display().to_string()]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let made: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (double.counts().total - before, made)
    };
    let (cli_create, made) = cli(&["create-account", "--field", "first_name=Ada", "--field", "last_name=Lovelace", "--field", "email=ada@example.test"]);
    let ada = made["resource"]["id"].as_str().unwrap().to_string();
    let (cli_update, _) = cli(&["update-account", "--id", &ada, "--field", "job_title=Analyst"]);
    let (cli_delete, _) = cli(&["delete", "--resource", &format!("user:{ada}")]);
    println!("| write | through the gateway | by the connector alone (CLI) |");
    println!("|---|---:|---:|");
    println!("| create (POST /Users) | {create} | {cli_create} |");
    println!("| update (PATCH title) | {update} | {cli_update} |");
    println!("| delete (DELETE /Users/{{id}}) | {delete} | {cli_delete} |");
}

fn main() {
    let users: usize = std::env::args().skip(1).find(|a| a != "--bench").map(|a| a.parse().expect("a number of users")).unwrap_or(100_000);
    let company = Company::generate(CompanySpec::sized(users));
    let double = PingboardDouble::start(company.clone()).unwrap();
    println!("A Pingboard company of {users} people behind the gateway; {LOOKUPS} lookups and one full walk on one kept-alive connection.");
    println!();
    println!("| store | users | `userName eq` p50 ms | p99 ms | max ms | walk at count=1000 |");
    println!("|---|---:|---:|---:|---:|---:|");
    let dir = tempfile::tempdir().unwrap();
    measure("SQLite", &company, &double, dir.path(), &dir.path().join("store.db").display().to_string());
    let postgres = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    measure("PostgreSQL", &company, &double, dir.path(), &postgres.database("gateway"));
    println!();
    let small = PingboardDouble::start(Company::generate(CompanySpec::sized(100))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    writes(&small, dir.path(), &dir.path().join("writes.db").display().to_string());
}
