//! `identity:connector@0.4.0` at the host's edge (the newest, `wit/connector.wit`): its bindings, and their
//! conversion to the model. It differs from 0.3 in data only: a grant may be marked immutable (the source
//! derives it), a grant page may carry the entitlements its grants name, a config field may list its
//! choices and template its default, and the client credentials' placement may come from a config field.

use connector_model::ConnectorError;
use connector_model::model as m;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "identity-connector",
    imports: { default: async },
    exports: { default: async },
});

pub use identity::connector::types as w;

/// The version as it appears in the component's export name.
pub const VERSION: &str = "0.4.0";

super::shared::shared_conversions!(
    token_url: |o| o.token_url,
    extra_origin_fields: |md| md.extra_origin_fields,
    independent_tokens: |p| p.independent_tokens,
    credentials_in_field: |o| o.credentials_in_field,
    choices: |f| f.choices,
    grant_immutable: |g| g.immutable,
    grant_to_guest: |g| w::Grant { id: g.id.clone(), entitlement: g.entitlement.clone(), principal: (&g.principal).into(), immutable: g.immutable.clone() },
    grant_page_entitlements: |p| convert(p.entitlements)
);
