//! A PostgreSQL store reached as a managed database is: over TLS only, its certificate issued by a CA made at
//! test time, its user authenticated by a SCRAM password given in the URL, in `PGPASSWORD` or in a password
//! file. Through the binary, since the environment is part of what is tested.

use std::process::Command;

use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, CompanySpec, PingboardDouble, TestCa};
use real_servers::Postgres;

/// A password with every character a URL must percent-encode.
const PASSWORD: &str = "p@ss:w/rd%?#1";

/// Runs the binary with `env` added; (exit code, stdout, stderr).
fn harness(env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_connector-harness")).args(args).env_remove("PGPASSWORD").env_remove("PGPASSFILE").envs(env.iter().copied()).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn export(store: &str, env: &[(&str, &str)]) -> Result<String, String> {
    match harness(env, &["export", "--store", store, "--tenant", "acme", "--format", "jsonl"]) {
        (0, out, _) => Ok(out),
        (_, _, err) => Err(err),
    }
}

#[test]
fn a_postgres_store_over_tls_is_verified_as_asked_and_takes_its_password_from_the_url_the_environment_or_a_file() {
    // The server's certificate names `db.internal` only; `hostaddr` sends the traffic to loopback.
    let ca = TestCa::issuing_for("postgres", &["db.internal"]).unwrap();
    let (cert, key) = ca.server_pem();
    let server = Postgres::start_tls(cert, key, PASSWORD);
    server.database("tls");
    let port = server.port();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.ca_pem()).unwrap();
    let ca_file = ca_file.display().to_string();
    let encoded: String = url::form_urlencoded::byte_serialize(PASSWORD.as_bytes()).collect();
    let url = |user_info: &str, host: &str, query: &str| format!("postgres://{user_info}@{host}:{port}/tls?{query}");
    let verified = url(&format!("harness:{encoded}"), "db.internal", &format!("hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={ca_file}"));

    // A sync through verify-full exports what a sync into SQLite does.
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(20))).unwrap();
    let cache = dir.path().join("cache").display().to_string();
    let sqlite = dir.path().join("plain.db").display().to_string();
    for store in [verified.as_str(), sqlite.as_str()] {
        let component = component_build::pingboard_component().display().to_string();
        let (base_url, client_id, secret) = (format!("base_url={}", double.base_url()), format!("client_id={CLIENT_ID}"), format!("client_secret={CLIENT_SECRET}"));
        let args = ["--cache-dir", &cache, "sync", "--component", &component, "--store", store, "--tenant", "acme", "--config", &base_url, "--config", &client_id, "--secret", &secret];
        let (code, _, err) = harness(&[], &args);
        assert_eq!(code, 0, "{err}");
    }
    let expected = export(&sqlite, &[]).unwrap();
    assert_eq!(export(&verified, &[]).unwrap(), expected);

    // Each sslmode checks what it says, and a failure is one line without the password.
    let with_password = |host: &str, query: &str| url(&format!("harness:{encoded}"), host, query);
    let cases: [(&str, Option<&str>); 6] = [
        (&with_password("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca_file}")), None),
        (&with_password("127.0.0.1", "sslmode=require"), None),
        (&with_password("127.0.0.1", &format!("sslmode=verify-full&sslrootcert={ca_file}")), Some("invalid peer certificate: certificate not valid for name \"127.0.0.1\"")),
        (&with_password("db.internal", "hostaddr=127.0.0.1&sslmode=verify-full"), Some("invalid peer certificate: UnknownIssuer")),
        (&with_password("127.0.0.1", "sslmode=disable"), Some("no pg_hba.conf entry for host \"127.0.0.1\", user \"harness\", database \"tls\", no encryption")),
        (&url("harness:not-the-password", "127.0.0.1", "sslmode=require"), Some("password authentication failed for user \"harness\"")),
    ];
    for (store, refusal) in cases {
        match (export(store, &[]), refusal) {
            (Ok(out), None) => assert_eq!(out, expected, "{store}"),
            (Err(err), Some(refusal)) => {
                assert!(err.contains(refusal) && err.lines().count() == 1, "{store}: {err}");
                assert!(!err.contains(PASSWORD) && !err.contains(&encoded) && !err.contains("not-the-password"), "a password shown: {err}");
            }
            (other, _) => panic!("{store}: {other:?}"),
        }
    }

    // The password from PGPASSWORD, or from a password file named by the URL or by PGPASSFILE.
    let without_password = url("harness", "db.internal", &format!("hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={ca_file}"));
    assert!(export(&without_password, &[]).unwrap_err().contains("password missing"), "no password anywhere");
    assert_eq!(export(&without_password, &[("PGPASSWORD", PASSWORD)]).unwrap(), expected);
    let passfile = dir.path().join("pgpass");
    std::fs::write(&passfile, format!("other.host:*:*:*:wrong\ndb.internal:{port}:tls:harness:{}\n", PASSWORD.replace(':', "\\:"))).unwrap();
    let passfile = passfile.display().to_string();
    assert_eq!(export(&format!("{without_password}&passfile={passfile}"), &[]).unwrap(), expected);
    assert_eq!(export(&without_password, &[("PGPASSFILE", &passfile)]).unwrap(), expected);
}
