//! `identity:connector@0.2.0` at the host's edge (the newest, `wit/connector.wit`): its bindings, and their
//! conversion to the model. It differs from 0.1 in the metadata only: a token URL that may sit on another
//! declared origin, and further origins the component may reach.

use connector_sdk::ConnectorError;
use connector_sdk::model as m;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "identity-connector",
    imports: { default: async },
    exports: { default: async },
});

pub use identity::connector::types as w;

/// The version as it appears in the component's export name.
pub const VERSION: &str = "0.2.0";

super::shared::shared_conversions!();

impl From<w::ConnectorMetadata> for m::Metadata {
    fn from(md: w::ConnectorMetadata) -> Self {
        let auth = match md.auth {
            w::AuthScheme::None => m::AuthScheme::None,
            w::AuthScheme::Bearer(field) => m::AuthScheme::Bearer(field),
            w::AuthScheme::Oauth2ClientCredentials(o) => {
                let (credentials_in, grant_type_in) = placements(o.credentials_in, o.grant_type_in);
                m::AuthScheme::OAuth2ClientCredentials(m::OAuth2ClientCredentials {
                    token_url: o.token_url,
                    client_id_field: o.client_id_field,
                    client_secret_field: o.client_secret_field,
                    credentials_in,
                    grant_type_in,
                    extra_params: o.extra_params,
                })
            }
        };
        Self {
            name: md.name,
            version: md.version,
            description: md.description,
            config_schema: md.config_schema.into_iter().map(config_field).collect(),
            base_url_field: md.base_url_field,
            extra_origin_fields: md.extra_origin_fields,
            auth,
            capabilities: md
                .capabilities
                .into_iter()
                .map(|c| m::ResourceTypeCapabilities { resource_type: c.resource_type, capabilities: capabilities(c.capabilities), listed_with: c.listed_with })
                .collect(),
        }
    }
}
