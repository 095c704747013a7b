//! The components built for wasm32-wasip2 by this crate's build script.

use std::path::PathBuf;

/// The `.wasm` component built from this checkout's `src/` and `wit/`.
pub fn pingboard_component() -> PathBuf {
    PathBuf::from(env!("PINGBOARD_COMPONENT"))
}

/// The SCIM 2.0 connector component (`connectors/scim`).
pub fn scim_component() -> PathBuf {
    PathBuf::from(env!("SCIM_COMPONENT"))
}

/// The hostile test component (`tests/hostile-component`), which attacks its sandbox as its config says.
pub fn hostile_component() -> PathBuf {
    PathBuf::from(env!("HOSTILE_COMPONENT"))
}

/// The SDK's example connector (`connector-sdk/examples/directory.rs`).
pub fn directory_component() -> PathBuf {
    PathBuf::from(env!("DIRECTORY_COMPONENT"))
}

/// The hostile component as `examples/token_elsewhere.rs` builds it: its metadata names its own origin for the token
/// request.
pub fn hostile_token_elsewhere_component() -> PathBuf {
    PathBuf::from(env!("HOSTILE_TOKEN_ELSEWHERE_COMPONENT"))
}

/// The PingOne connector component (`connectors/pingone`).
pub fn pingone_component() -> PathBuf {
    PathBuf::from(env!("PINGONE_COMPONENT"))
}
