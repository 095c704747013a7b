//! A hostile connector: it exports the `identity:connector` world like any connector, and then, as its `attack`
//! config says, tries to get out of its sandbox while listing accounts. Each attack reports what it saw on
//! stderr (the host's captured log) so the tests can check that the sandbox showed it nothing.
//!
//! With `attack = "none"` it is a well-behaved connector of one resource type whose entitlements and grants
//! come from the per-resource calls (no inline capabilities), which exercises that path of the host's driver.

#[cfg(target_arch = "wasm32")]
mod component;

/// Whether the metadata names an origin of the component's own for the token request: not here, in the
/// component `examples/token_elsewhere.rs` builds from the same source.
#[cfg(target_arch = "wasm32")]
const TOKEN_ELSEWHERE: bool = false;
