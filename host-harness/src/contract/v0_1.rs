//! `identity:connector@0.1.0` at the host's edge: the bindings of that frozen version (`wit/v0.1.0/`), and
//! their conversion to the model the rest of the host speaks (`connector_model::model`).

use connector_model::ConnectorError;
use connector_model::model as m;

wasmtime::component::bindgen!({
    path: "../wit/v0.1.0",
    world: "identity-connector",
    imports: { default: async },
    exports: { default: async },
});

pub use identity::connector::types as w;

/// The version as it appears in the component's export name.
pub const VERSION: &str = "0.1.0";

// A 0.1 token path is a 0.2 token URL starting with `/`; 0.1 components reach their base URL's origin only.
super::shared::shared_conversions!(
    before_0_4,
    token_url: |o| o.token_path,
    extra_origin_fields: |md| Vec::new(),
    independent_tokens: |p| Vec::new()
);
