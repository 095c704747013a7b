//! The hostile component (`src/`) with metadata that names an origin of its own for the token request, which
//! the host must refuse before it sends the tenant's client credentials anywhere.

#[cfg(target_arch = "wasm32")]
#[path = "../src/component.rs"]
mod component;

#[cfg(target_arch = "wasm32")]
const TOKEN_ELSEWHERE: bool = true;
