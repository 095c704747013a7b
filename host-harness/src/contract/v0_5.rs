//! `identity:connector@0.5.0` at the host's edge (the newest, `wit/connector.wit`): its bindings, and their
//! conversion to the model. It differs from 0.4 in the metadata only: each writable resource type's write
//! schema (its fields, which a create requires, their SCIM paths, and how an account is disabled).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "identity-connector",
    imports: { default: async },
    exports: { default: async },
});

pub use identity::connector::types as w;

/// The version as it appears in the component's export name.
pub const VERSION: &str = "0.5.0";

connector_model::wit_conversions!(host, has: [0.2 0.3 0.4 0.5]);
