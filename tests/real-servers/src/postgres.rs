//! A throwaway PostgreSQL server for one test: `initdb` into a temporary directory, then `pg_ctl start` on
//! 127.0.0.1 with an OS-chosen free port, no fsync, trust authentication for the `harness` user. As root (CI),
//! the server runs as the `postgres` system user, since `initdb` refuses root. Dropping it stops the server.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

/// Where the server's binaries are: `pg_config --bindir`, or Debian's versioned directories.
fn bindir() -> PathBuf {
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if dir.join("initdb").is_file() {
            return dir;
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql").into_iter().flatten().flatten().map(|e| e.path().join("bin")).filter(|d| d.join("initdb").is_file()).collect();
    versions.sort();
    versions.pop().expect("these tests need a PostgreSQL server's binaries (initdb, pg_ctl): install the `postgresql` package")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

impl Postgres {
    pub fn start() -> Self {
        let server = Self::init(&["--auth=trust"]);
        server.started()
    }

    /// A server that takes TCP connections over TLS only, with `cert_pem` and `key_pem`, and authenticates
    /// `harness` by `password` (SCRAM-SHA-256). Its Unix socket, which `database` uses, stays trusted.
    pub fn start_tls(cert_pem: &str, key_pem: &str, password: &str) -> Self {
        let password_file = tempfile::NamedTempFile::new().expect("a temporary file");
        std::fs::write(password_file.path(), password).unwrap();
        make_readable_to_all(password_file.path());
        let pwfile = format!("--pwfile={}", password_file.path().display());
        let server = Self::init(&["--auth-local=trust", "--auth-host=scram-sha-256", &pwfile]);
        let data = Path::new(&server.data()).to_path_buf();
        std::fs::write(data.join("server.crt"), cert_pem).unwrap();
        std::fs::write(data.join("server.key"), key_pem).unwrap();
        // PostgreSQL refuses a key others may read.
        std::fs::set_permissions(data.join("server.key"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let hba = std::fs::read_to_string(data.join("pg_hba.conf")).unwrap();
        let hba: String = hba.lines().map(|line| if line.starts_with("host ") { format!("hostssl{}\n", &line[4..]) } else { format!("{line}\n") }).collect();
        std::fs::write(data.join("pg_hba.conf"), hba).unwrap();
        let mut conf = std::fs::OpenOptions::new().append(true).open(data.join("postgresql.conf")).unwrap();
        std::io::Write::write_all(&mut conf, b"ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n").unwrap();
        server.give_to_postgres();
        server.started()
    }

    fn init(auth: &[&str]) -> Self {
        let bin = bindir();
        let dir = tempfile::Builder::new().prefix("harness-pg-").tempdir().expect("a temporary directory");
        let server = Self { dir, bin, port: 0 };
        server.give_to_postgres();
        let data = server.data();
        let mut args = vec!["-D", &data, "-U", "harness", "-E", "UTF8", "--no-locale", "--no-sync"];
        args.extend(auth);
        server.run("initdb", &args);
        server
    }

    /// As root, the server runs as the postgres user: its files must be that user's.
    fn give_to_postgres(&self) {
        if is_root() {
            let chown = Command::new("chown").args(["-R", "postgres:postgres"]).arg(self.dir.path()).status().expect("chown");
            assert!(chown.success(), "cannot give the server's directory to the postgres user");
        }
    }

    fn started(mut self) -> Self {
        self.start_on_free_port();
        self
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// One of the server's programs, to run as the postgres user when we are root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// Runs one of the server's programs; panics with its output if it fails.
    fn run(&self, program: &str, args: &[&str]) {
        let output = self.command(program).args(args).output().unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(output.status.success(), "{program} failed:\n{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    }

    fn start_on_free_port(&mut self) {
        for _ in 0..5 {
            self.port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
            if self.try_start() {
                return;
            }
        }
        panic!("PostgreSQL did not start; its log:\n{}", std::fs::read_to_string(self.log()).unwrap_or_default());
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn try_start(&self) -> bool {
        let options = format!("-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c max_connections=200", self.port, self.dir.path().display());
        let log = self.log().display().to_string();
        self.command("pg_ctl").args(["-D", &self.data(), "-l", &log, "-w", "-t", "60", "-o", &options, "start"]).output().is_ok_and(|o| o.status.success())
    }

    /// Stops the server at once, as a crash or an outage would.
    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
    }

    /// Starts it again on the same port, after `stop`.
    pub fn restart(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.try_start() {
            assert!(Instant::now() < deadline, "PostgreSQL did not start again; its log:\n{}", std::fs::read_to_string(self.log()).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A new, empty database; its URL (created over the Unix socket, which a TLS-only server trusts too).
    pub fn database(&self, name: &str) -> String {
        let socket_dir = self.dir.path().display().to_string();
        let status = Command::new(psql(&self.bin))
            .args(["-h", &socket_dir, "-p", &self.port.to_string(), "-U", "harness", "-d", "postgres", "-q", "-c", &format!("CREATE DATABASE \"{name}\"")])
            .status()
            .expect("psql");
        assert!(status.success(), "cannot create database {name}");
        format!("postgres://harness@127.0.0.1:{}/{name}", self.port)
    }
}

/// For `initdb`, run as the postgres user, to read a file root wrote.
fn make_readable_to_all(path: &Path) {
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
}

fn psql(bin: &Path) -> PathBuf {
    let beside = bin.join("psql");
    if beside.is_file() { beside } else { PathBuf::from("psql") }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.command("pg_ctl").args(["-D", &self.data(), "-m", "immediate", "-w", "stop"]).output();
    }
}
