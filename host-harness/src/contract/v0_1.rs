//! `identity:connector@0.1.0` at the host's edge: the bindings of that frozen version (`wit/v0.1.0/`), and
//! their conversion to the model the rest of the host speaks (`connector_model::model`).

wasmtime::component::bindgen!({
    path: "../wit/v0.1.0",
    world: "identity-connector",
    imports: { default: async },
    exports: { default: async },
});

pub use identity::connector::types as w;

/// The version as it appears in the component's export name.
pub const VERSION: &str = "0.1.0";

connector_model::wit_conversions!(host, has: []);
