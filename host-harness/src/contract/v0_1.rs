//! `identity:connector@0.1.0` at the host's edge: the bindings of that frozen version (`wit/v0.1.0/`), and
//! their conversion to the model the rest of the host speaks (the SDK's, `connector_sdk::model`).

use connector_sdk::ConnectorError;
use connector_sdk::model as m;

wasmtime::component::bindgen!({
    path: "../wit/v0.1.0",
    world: "identity-connector",
    imports: { default: async },
    exports: { default: async },
});

pub use identity::connector::types as w;

/// The version as it appears in the component's export name.
pub const VERSION: &str = "0.1.0";

super::shared::shared_conversions!();

impl From<w::ConnectorMetadata> for m::Metadata {
    fn from(md: w::ConnectorMetadata) -> Self {
        let auth = match md.auth {
            w::AuthScheme::None => m::AuthScheme::None,
            w::AuthScheme::Bearer(field) => m::AuthScheme::Bearer(field),
            w::AuthScheme::Oauth2ClientCredentials(o) => {
                let (credentials_in, grant_type_in) = placements(o.credentials_in, o.grant_type_in);
                m::AuthScheme::OAuth2ClientCredentials(m::OAuth2ClientCredentials {
                    // 0.1's token path is a path on the base URL's origin, which a 0.2 token URL may also be.
                    token_url: o.token_path,
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
            // 0.1 components reach their base URL's origin only.
            extra_origin_fields: Vec::new(),
            auth,
            capabilities: md
                .capabilities
                .into_iter()
                .map(|c| m::ResourceTypeCapabilities { resource_type: c.resource_type, capabilities: capabilities(c.capabilities), listed_with: c.listed_with })
                .collect(),
        }
    }
}
