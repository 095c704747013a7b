//! `identity:connector@0.4.0` at the host's edge (frozen in `wit/v0.4.0/`): its bindings, and their
//! conversion to the model. It differs from 0.3 in data only: a grant may be marked immutable (the source
//! derives it), a grant page may carry the entitlements its grants name, a config field may list its
//! choices and template its default, and the client credentials' placement may come from a config field.

wasmtime::component::bindgen!({
    path: "../wit/v0.4.0",
    world: "identity-connector",
    imports: { default: async },
    exports: { default: async },
});

pub use identity::connector::types as w;

/// The version as it appears in the component's export name.
pub const VERSION: &str = "0.4.0";

connector_model::wit_conversions!(host, has: [0.2 0.3 0.4]);
