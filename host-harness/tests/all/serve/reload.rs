//! `serve` follows its configuration live: a secret rotated the way Kubernetes rotates a Secret volume (a
//! symbolic link swapped), a tenant added or removed, a file that does not parse refused, and SIGHUP.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, CompanySpec, PingboardDouble};

use super::{Replica, clean_export, export, sqlite_store, tenant_status, trigger, write_whole};
use crate::cli;

/// A Pingboard tenant's table whose secret is read from `secret_file`.
fn tenant_table(name: &str, double: &PingboardDouble, secret_file: &Path) -> String {
    let component = component_build::pingboard_component().display().to_string();
    format!(
        "[[tenant]]\nname = \"{name}\"\ncomponent = \"{component}\"\ninterval = \"1h\"\n\
         config = {{ base_url = \"{}\", client_id = \"{CLIENT_ID}\", page_size = 100 }}\n\
         secrets = {{ client_secret = {{ file = \"{}\" }} }}\n",
        double.base_url(),
        secret_file.display()
    )
}

/// Lays out a Secret volume as the kubelet does: `NAME -> ..data/NAME`, `..data -> ..VERSION/`; a new version
/// is written beside the old one and `..data` swapped to it by a rename.
fn mount_secret(volume: &Path, version: &str, value: &str) {
    let dir = volume.join(format!("..{version}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("client_secret"), value).unwrap();
    let swapping = volume.join("..data_tmp");
    symlink(format!("..{version}"), &swapping).unwrap();
    std::fs::rename(&swapping, volume.join("..data")).unwrap();
    if !volume.join("client_secret").exists() {
        symlink("..data/client_secret", volume.join("client_secret")).unwrap();
    }
}

fn synced(replica: &Replica, tenant: &str) -> f64 {
    replica.metric("harness_syncs_total", &[&format!("tenant=\"{tenant}\""), "outcome=\"synced\""])
}

fn reloads(replica: &Replica, message: &str) -> usize {
    replica.log().lines().filter(|l| l.contains("\"message\":\"reloaded the tenants file: ") && l.contains(message)).count()
}

#[test]
fn serve_follows_a_rotated_secret_an_added_and_a_removed_tenant_and_keeps_its_configuration_when_the_file_is_broken() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(30))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path());
    let volume = dir.path().join("secret-volume");
    let wrong = "not-the-secret-5c1e";
    mount_secret(&volume, "2026_12_04_v1", wrong);
    let secret_file = volume.join("client_secret");
    let tenants = dir.path().join("tenants.toml");
    write_whole(&tenants, &tenant_table("acme", &double, &secret_file));
    let replica = Replica::start(dir.path(), "replica-a", &tenants, &store, &["--attention-backoff", "1h"]);
    replica.wait_for("the wrong secret refused", Duration::from_secs(60), |_| tenant_status(&store, "acme")["state"] == "needs-attention");

    // The Secret is rotated: the next sync uses the new value, without a restart.
    mount_secret(&volume, "2026_12_04_v2", CLIENT_SECRET);
    replica.wait_for("the reload", Duration::from_secs(30), |r| reloads(r, "changed acme") == 1);
    trigger(&store, "acme");
    replica.wait_for("a sync with the rotated secret", Duration::from_secs(60), |r| synced(r, "acme") == 1.0);
    assert_eq!(tenant_status(&store, "acme")["failures"], 0);
    assert_eq!(export(&store, "acme"), clean_export(&double, dir.path()));

    // A tenant added to the file is scheduled at once; one removed is no longer claimed.
    let acme = tenant_table("acme", &double, &secret_file);
    let beta = tenant_table("beta", &double, &secret_file);
    write_whole(&tenants, &format!("{acme}{beta}"));
    replica.wait_for("the added tenant's first sync", Duration::from_secs(60), |r| synced(r, "beta") == 1.0);
    assert_eq!(reloads(&replica, "added beta"), 1, "{}", replica.log());
    write_whole(&tenants, &beta);
    replica.wait_for("the removal", Duration::from_secs(30), |r| reloads(r, "removed acme") == 1);
    let (code, said, err) = cli(&["trigger".into(), "acme".into(), "--store".into(), store.clone()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(said, "tenant `acme` is due now, but no replica of `serve` serves it: it runs once one with it in its tenants file is up\n");
    assert_eq!(tenant_status(&store, "acme")["enabled"], false);
    // What `trigger` and `status` say, and an error, are JSON lines with `--log-format json`.
    let json_cli = |args: &[&str]| {
        let mut argv: Vec<String> = ["--log-format", "json"].iter().chain(args).map(|s| s.to_string()).collect();
        argv.extend(["--store".to_string(), store.clone()]);
        cli(&argv)
    };
    let (code, said, _) = json_cli(&["trigger", "acme"]);
    let said: serde_json::Value = serde_json::from_str(&said).unwrap();
    assert_eq!((code, &said["tenant"], &said["runs"], &said["replica_heard_ms_ago"]), (0, &"acme".into(), &"at-next-poll".into(), &serde_json::Value::Null), "{said}");
    assert!(said["message"].as_str().unwrap().contains("no replica of `serve` serves it"));
    let (_, status, _) = json_cli(&["status"]);
    assert_eq!(status, cli(&["status".into(), "--json".into(), "--store".into(), store.clone()]).1);
    let (code, _, error) = json_cli(&["trigger", "nobody"]);
    let error: serde_json::Value = serde_json::from_str(&error).unwrap();
    assert_eq!((code, &error["level"]), (1, &"ERROR".into()));
    assert!(error["message"].as_str().unwrap().starts_with("tenant `nobody` is not in the service's schedule"), "{error}");

    // A file that does not parse is refused in one line; the running configuration goes on.
    write_whole(&tenants, &format!("{beta}[[tenant]\nname = \"{wrong}\"\n"));
    replica.wait_for("the refusal", Duration::from_secs(30), |r| r.log().contains("\"message\":\"the tenants file is not reloaded, the running configuration is kept: tenants file "));
    trigger(&store, "beta");
    replica.wait_for("beta synced again", Duration::from_secs(60), |r| synced(r, "beta") == 2.0);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(synced(&replica, "acme"), 1.0, "the removed tenant was not run");

    // SIGHUP reads the file again even when no file changed.
    write_whole(&tenants, &beta);
    replica.wait_for("the repaired file", Duration::from_secs(30), |r| reloads(r, "nothing changed") == 1);
    replica.signal(libc::SIGHUP);
    replica.wait_for("the reload on SIGHUP", Duration::from_secs(30), |r| r.log().lines().any(|l| l.contains("\"reason\":\"SIGHUP\"") && l.contains("nothing changed")));
    let log = replica.log();
    assert!(!log.contains(wrong) && !log.contains(CLIENT_SECRET), "a secret leaked into the log");
}
