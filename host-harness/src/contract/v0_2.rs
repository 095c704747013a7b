//! `identity:connector@0.2.0` at the host's edge (frozen in `wit/v0.2.0/`): its bindings, and their
//! conversion to the model. It differs from 0.1 in the metadata only: a token URL that may sit on another
//! declared origin, and further origins the component may reach.

wasmtime::component::bindgen!({
    path: "../wit/v0.2.0",
    world: "identity-connector",
    imports: { default: async },
    exports: { default: async },
});

pub use identity::connector::types as w;

/// The version as it appears in the component's export name.
pub const VERSION: &str = "0.2.0";

connector_model::wit_conversions!(host, has: [0.2]);
