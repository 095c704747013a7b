//! `scim2-server` (PyPI), run for a test on 127.0.0.1. The first use creates a virtual environment beside
//! the test binary and installs the pinned version into it (CI has PyPI; a machine without Python 3 or
//! PyPI fails these tests, saying so). `SCIM2_SERVER` may name an installed `scim2-server` instead.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const VERSION: &str = "0.8.3";
pub const TOKEN: &str = "scim2-server-test-token";

/// The `scim2-server` program, installed on first use.
fn program() -> PathBuf {
    match std::env::var_os("SCIM2_SERVER") {
        Some(installed) => PathBuf::from(installed),
        None => real_servers::python_tool("scim2-server", VERSION, "scim2-server"),
    }
}

/// A running `scim2-server` with one bearer token; dropping it stops the process.
pub struct Scim2Server {
    child: Child,
    base_url: String,
}

impl Scim2Server {
    pub fn start() -> Self {
        let program = program();
        // The server takes a port number, not a listener: ask the OS for a free one, and try again with
        // another if someone took it first.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
            let mut child = Command::new(&program)
                .args(["--hostname", "127.0.0.1", "--port", &port.to_string(), "--bearer-token", TOKEN])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Self { child, base_url: format!("http://127.0.0.1:{port}/v2") };
                }
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("scim2-server did not start listening on 127.0.0.1");
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `POST /<endpoint>` as the test's own client: the created resource.
    pub fn create(&self, endpoint: &str, body: Value) -> Value {
        let mut response = ureq::post(&format!("{}/{endpoint}", self.base_url))
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .header("Content-Type", "application/scim+json")
            .send(body.to_string())
            .unwrap_or_else(|e| panic!("seeding {endpoint}: {e}"));
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
    }

    /// `GET /<path>` as the test's own client: the status and the body (JSON, or null).
    pub fn get(&self, path: &str) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut response = agent.get(&format!("{}/{path}", self.base_url)).header("Authorization", &format!("Bearer {TOKEN}")).call().unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

impl Drop for Scim2Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
