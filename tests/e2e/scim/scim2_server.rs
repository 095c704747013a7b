//! `scim2-server` (PyPI), run for a test on 127.0.0.1. The first use creates a virtual environment beside
//! the test binary and installs the pinned version into it (CI has PyPI; a machine without Python 3 or
//! PyPI fails these tests, saying so). `SCIM2_SERVER` may name an installed `scim2-server` instead.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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
        // another if someone took it first. Only the server's own "Serving SCIM on" line (printed once it
        // listens) says the port is its: a connection alone could reach another test's server that took the
        // port while Python was starting.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
            let mut child = Command::new(&program)
                .args(["--hostname", "127.0.0.1", "--port", &port.to_string(), "--bearer-token", TOKEN])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
            if serving(child.stdout.take().expect("the server's stdout")) {
                return Self { child, base_url: format!("http://127.0.0.1:{port}/v2") };
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

/// Whether the server printed that it listens within 30 s; it did not if it exited first (its port taken).
/// Its stdout is read to the end on a thread of its own, so the server never writes into a closed pipe.
fn serving(stdout: ChildStdout) -> bool {
    let (said, heard) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("Serving SCIM on ") {
                let _ = said.send(());
            }
        }
    });
    heard.recv_timeout(Duration::from_secs(30)).is_ok()
}

impl Drop for Scim2Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
