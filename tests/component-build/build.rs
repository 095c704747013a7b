//! Builds the connectors (Pingboard, SCIM, PingOne), the hostile test component and the SDK's example connector for
//! wasm32-wasip2 (release) so tests, benchmarks and the demo run real components. A separate target directory
//! keeps the nested cargo off the outer build's lock.

use std::path::{Path, PathBuf};
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
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "--target", "wasm32-wasip2", "--lib", "-p", "pingboard-connector", "-p", "scim-connector", "-p", "pingone-connector", "-p", "hostile-component"])
        .args(["-p", "connector-sdk", "--example", "directory", "--manifest-path"])
        .arg(root.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target_dir);
    // What the outer build set for itself must not leak into the guest build.
    for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "CARGO_BUILD_TARGET", "CARGO_MAKEFLAGS", "MAKEFLAGS", "MFLAGS", "CARGO_TARGET_DIR", "CARGO_PRIMARY_PACKAGE", "RUSTC"] {
        command.env_remove(var);
    }
    command.env("CARGO_TARGET_DIR", &target_dir);
    let status = command.status().expect("running cargo to build the connector component");
    if !status.success() {
        panic!(
            "building the connector component for wasm32-wasip2 failed (see above). If the target is missing: \
             rustup target add wasm32-wasip2"
        );
    }
    // The hostile component once more, with metadata that names its own token origin; in a directory of its own
    // so the two builds do not overwrite each other.
    let variant_dir = target_dir.with_file_name("component-build-token-elsewhere");
    let mut variant = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    variant
        .args(["build", "--release", "--target", "wasm32-wasip2", "--lib", "-p", "hostile-component", "--features", "token-elsewhere", "--manifest-path"])
        .arg(root.join("Cargo.toml"));
    for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "CARGO_BUILD_TARGET", "CARGO_MAKEFLAGS", "MAKEFLAGS", "MFLAGS", "CARGO_PRIMARY_PACKAGE", "RUSTC"] {
        variant.env_remove(var);
    }
    variant.env("CARGO_TARGET_DIR", &variant_dir);
    assert!(variant.status().expect("running cargo for the token-elsewhere variant").success(), "building the token-elsewhere hostile component failed");
    let variant_artifact = variant_dir.join("wasm32-wasip2/release/hostile_component.wasm");
    println!("cargo::rustc-env=HOSTILE_TOKEN_ELSEWHERE_COMPONENT={}", variant_artifact.display());
    let built = [("pingboard_connector", "PINGBOARD_COMPONENT"), ("scim_connector", "SCIM_COMPONENT"), ("pingone_connector", "PINGONE_COMPONENT"), ("hostile_component", "HOSTILE_COMPONENT"), ("examples/directory", "DIRECTORY_COMPONENT")];
    for (name, variable) in built {
        let artifact = target_dir.join(format!("wasm32-wasip2/release/{name}.wasm"));
        assert!(Path::new(&artifact).is_file(), "the component build produced no {}", artifact.display());
        println!("cargo::rustc-env={variable}={}", artifact.display());
    }
}
