//! The status page as a person sees it: tenants healthy, then one failing and one running, each tenant's page,
//! rendered by headless Chromium (Debian's `chromium`; CI installs it). With `UPDATE_SCREENSHOTS=1` the
//! screenshots are written to `docs/status-page/`, where the README shows them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, CompanySpec, Faults, PingboardDouble};

use super::{Replica, sqlite_store, tenant_status, trigger, write_whole};

fn chromium() -> PathBuf {
    ["chromium", "chromium-browser"]
        .iter()
        .find_map(|name| Command::new("which").arg(name).output().ok().filter(|o| o.status.success()).map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())))
        .expect("this test needs headless Chromium: install Debian's `chromium` package")
}

/// Renders `url` (on loopback) at `width`×`height` into `png`; its size, read back from the file.
fn screenshot(url: &str, png: &Path, (width, height): (u32, u32)) -> (u32, u32) {
    let out = Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--disable-background-networking", "--disable-component-update"])
        .args(["--disable-sync", "--disable-default-apps", "--force-device-scale-factor=1", "--virtual-time-budget=2000"])
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(url)
        .output()
        .expect("chromium runs");
    let bytes = std::fs::read(png).unwrap_or_else(|_| panic!("no screenshot of {url}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    // The IHDR chunk follows the signature: width and height, big-endian.
    let size = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (size(16), size(20))
}

fn tenant_table(name: &str, double: &PingboardDouble, secret: &str) -> String {
    let component = component_build::pingboard_component().display().to_string();
    format!(
        "[[tenant]]\nname = \"{name}\"\ncomponent = \"{component}\"\ninterval = \"1h\"\n\
         config = {{ base_url = \"{}\", client_id = \"{CLIENT_ID}\", page_size = 100 }}\nsecrets = {{ client_secret = {{ value = \"{secret}\" }} }}\n",
        double.base_url()
    )
}

#[test]
fn the_status_page_shows_healthy_failing_and_running_tenants_at_a_glance_and_each_tenants_history() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(450))).unwrap();
    let slow = PingboardDouble::start(Company::generate(CompanySpec::sized(2000))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path());
    let shots = match std::env::var_os("UPDATE_SCREENSHOTS") {
        Some(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/status-page"),
        None => dir.path().join("shots"),
    };
    std::fs::create_dir_all(&shots).unwrap();
    let (acme, beta) = (tenant_table("acme", &double, CLIENT_SECRET), tenant_table("beta", &double, CLIENT_SECRET));
    let tenants = dir.path().join("tenants.toml");
    write_whole(&tenants, &format!("{acme}{beta}"));
    let replica = Replica::start(dir.path(), "replica-a", &tenants, &store, &[]);
    let synced = |r: &Replica, tenant: &str| r.metric("harness_syncs_total", &[&format!("tenant=\"{tenant}\""), "outcome=\"synced\""]);
    for round in 1..=3 {
        for tenant in ["acme", "beta"] {
            replica.wait_for("a sync", Duration::from_secs(60), |r| synced(r, tenant) >= round as f64 && tenant_status(&store, tenant)["state"] != "running");
            if round < 3 {
                trigger(&store, tenant);
            }
        }
    }
    let base = format!("http://127.0.0.1:{}", replica.port);
    let (status, page) = replica.get("/");
    assert_eq!(status, 200);
    assert!(page.contains("<div class=\"card healthy\"><b>2</b>healthy</div><div class=\"card failing\"><b>0</b>failing</div>"), "{page}");
    assert_eq!(page.matches("<span class=\"mark ok\"").count(), 6, "three good runs of each");
    assert_eq!(screenshot(&format!("{base}/"), &shots.join("healthy.png"), (1400, 560)), (1400, 560));

    // A tenant whose secret is wrong, and one whose source is slow, join (the file is reloaded).
    let slow_table = tenant_table("slow", &slow, CLIENT_SECRET);
    write_whole(&tenants, &format!("{acme}{beta}{}{slow_table}", tenant_table("broken", &double, "not-the-secret-77a1")));
    replica.wait_for("the slow tenant's first sync", Duration::from_secs(120), |r| synced(r, "slow") >= 1.0 && tenant_status(&store, "slow")["state"] != "running");
    replica.wait_for("the broken tenant's failure", Duration::from_secs(60), |_| tenant_status(&store, "broken")["state"] == "needs-attention");
    // Each of its requests now takes a second: its sync runs long enough to be seen running.
    slow.set_faults(Faults { delay: Some(Duration::from_secs(1)), ..Faults::default() });
    trigger(&store, "slow");
    replica.wait_for("progress of the slow sync", Duration::from_secs(60), |_| {
        let slow = tenant_status(&store, "slow");
        slow["state"] == "running" && slow["progress"]["records"].as_i64().unwrap_or(0) > 0
    });
    let (_, page) = replica.get("/");
    let at = |text: &str| page.find(text).unwrap_or_else(|| panic!("{text} not in {page}"));
    assert!(at(">broken</a>") < at(">slow</a>") && at(">slow</a>") < at(">acme</a>"), "failing first, then running, then healthy");
    assert!(page.contains("<div class=\"card healthy\"><b>2</b>healthy</div><div class=\"card failing\"><b>1</b>failing</div><div class=\"card running\"><b>1</b>running</div>"), "{page}");
    assert!(page.contains(" of ~8,893 records · ") && (page.contains(" left</td>") || page.contains("longer than the last")), "an estimate from the last run: {page}");
    assert_eq!(screenshot(&format!("{base}/"), &shots.join("failing-and-running.png"), (1400, 700)), (1400, 700));
    assert_eq!(screenshot(&format!("{base}/tenants/slow"), &shots.join("tenant-running.png"), (1400, 560)).0, 1400);

    // Each tenant's page: what to do, the error in full, and every run with what it changed.
    let (status, broken) = replica.get("/tenants/broken");
    assert_eq!(status, 200);
    assert!(broken.contains("<p class=\"advice\">The source refused the tenant&#39;s credentials."), "{broken}");
    assert!(broken.contains("<pre>authentication failed: "), "{broken}");
    let (_, acme_page) = replica.get("/tenants/acme");
    assert_eq!(acme_page.matches("<td>0</td><td>0</td><td>0</td>").count(), 2, "the second and third syncs changed nothing: {acme_page}");
    assert!(acme_page.contains("<td>-</td><td>-</td><td>-</td>"), "the first had nothing to compare with");
    assert_eq!(replica.get("/tenants/nobody").0, 404);
    assert_eq!(screenshot(&format!("{base}/tenants/broken"), &shots.join("tenant-failing.png"), (1400, 700)).0, 1400);
    slow.set_faults(Faults::default());
}
