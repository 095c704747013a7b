//! `identity:connector@0.3.0` at the host's edge (frozen in `wit/v0.3.0/`): its bindings, and their
//! conversion to the model. It differs from 0.2 in one place: a resource page may hand back the tokens of
//! further pages that can be fetched independently.

wasmtime::component::bindgen!({
    path: "../wit/v0.3.0",
    world: "identity-connector",
    imports: { default: async },
    exports: { default: async },
});

pub use identity::connector::types as w;

/// The version as it appears in the component's export name.
pub const VERSION: &str = "0.3.0";

connector_model::wit_conversions!(host, has: [0.2 0.3]);
