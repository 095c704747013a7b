//! `identity:connector@0.3.0` at the host's edge (frozen in `wit/v0.3.0/`): its bindings, and their
//! conversion to the model. It differs from 0.2 in one place: a resource page may hand back the tokens of
//! further pages that can be fetched independently.

use connector_model::ConnectorError;
use connector_model::model as m;

wasmtime::component::bindgen!({
    path: "../wit/v0.3.0",
    world: "identity-connector",
    imports: { default: async },
    exports: { default: async },
});

pub use identity::connector::types as w;

/// The version as it appears in the component's export name.
pub const VERSION: &str = "0.3.0";

super::shared::shared_conversions!(
    before_0_4,
    token_url: |o| o.token_url,
    extra_origin_fields: |md| md.extra_origin_fields,
    independent_tokens: |p| p.independent_tokens
);
