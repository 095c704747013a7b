//! Builds the connectors (Pingboard, SCIM, PingOne), the hostile test component (twice: `src/` and
//! `examples/token_elsewhere.rs`) and the SDK's example connector for wasm32-wasip2 (release), so that tests,
//! benchmarks and the demo run real components. One nested cargo builds them all, so they share their
//! dependencies; a separate target directory keeps it off the outer build's lock.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.join("../..").canonicalize().expect("workspace root");
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|d| if d.is_relative() { root.join(d) } else { d })
        .unwrap_or_else(|| root.join("target"))
        .join("component-build");
    for watched in ["src", "connectors", "connector-model", "connector-sdk", "wit", "Cargo.toml", "Cargo.lock", "tests/hostile-component"] {
        println!("cargo::rerun-if-changed={}", root.join(watched).display());
    }
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .args(["build", "--release", "--target", "wasm32-wasip2", "--lib", "-p", "pingboard-connector", "-p", "scim-connector", "-p", "pingone-connector"])
        .args(["-p", "hostile-component", "--example", "token_elsewhere", "-p", "connector-sdk", "--example", "directory", "--manifest-path"])
        .arg(root.join("Cargo.toml"));
    // What the outer build set for itself must not leak into the guest build.
    for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "CARGO_BUILD_TARGET", "CARGO_MAKEFLAGS", "MAKEFLAGS", "MFLAGS", "CARGO_PRIMARY_PACKAGE", "RUSTC"] {
        command.env_remove(var);
    }
    command.env("CARGO_TARGET_DIR", &target_dir);
    let status = command.status().expect("running cargo to build the components");
    if !status.success() {
        panic!("building the components for wasm32-wasip2 failed (see above). If the target is missing: rustup target add wasm32-wasip2");
    }
    let built = [
        ("pingboard_connector", "PINGBOARD_COMPONENT"),
        ("scim_connector", "SCIM_COMPONENT"),
        ("pingone_connector", "PINGONE_COMPONENT"),
        ("hostile_component", "HOSTILE_COMPONENT"),
        ("examples/token_elsewhere", "HOSTILE_TOKEN_ELSEWHERE_COMPONENT"),
        ("examples/directory", "DIRECTORY_COMPONENT"),
    ];
    for (name, variable) in built {
        let artifact = target_dir.join(format!("wasm32-wasip2/release/{name}.wasm"));
        assert!(artifact.is_file(), "the component build produced no {}", artifact.display());
        println!("cargo::rustc-env={variable}={}", artifact.display());
    }
}
