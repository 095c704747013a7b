//! The WIT boundary, written once for every connector: the `identity:connector` bindings (private to the
//! SDK), `waki` over the host's `wasi:http` as the `HttpClient`, and the conversions between the model and
//! the WIT types. `export_connector!` instantiates it for one `Connector`.

use std::time::Duration;

use crate::connector::{Connector, ConnectorSession};
use crate::error::ConnectorError;
use crate::http::{HttpClient, Method, Request, Response, transport_error};
use crate::model as m;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "identity-connector",
        generate_all,
        pub_export_macro: true,
        default_bindings_module: "connector_sdk::export::bindings",
    });
}

pub use bindings::exports::identity::connector::connector::{Guest, GuestSession, Session};
pub use bindings::identity::connector::types as wit;

use wit as w;

/// `waki` over `wasi:http`. It sets only a connect timeout; the host bounds everything else.
pub struct WakiHttp;

impl HttpClient for WakiHttp {
    fn send(&self, request: &Request) -> Result<Response, ConnectorError> {
        let client = waki::Client::new();
        let builder = match request.method {
            Method::Get => client.get(&request.url),
            Method::Post => client.post(&request.url),
            Method::Put => client.put(&request.url),
            Method::Patch => client.patch(&request.url),
            Method::Delete => client.delete(&request.url),
        };
        let mut builder = builder.header("accept", "application/json").connect_timeout(Duration::from_secs(10));
        if let Some(body) = &request.body {
            builder = builder.header("content-type", "application/json").body(body.clone());
        }
        let response = builder.send().map_err(|e| transport_error(&format!("{e:#}")))?;
        let status = response.status_code();
        let retry_after = response.header("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = read_body(&response).map_err(|e| transport_error(&format!("reading the body: {e}")))?;
        Ok(Response { status, retry_after, body })
    }
}

/// The body, read into a buffer of the size the server announced: a buffer grown as the body arrives holds up to
/// twice the body while it is copied, and a guest's memory never shrinks. The announcement is trusted only so
/// far (the host refuses bodies over its limit whatever they announce).
fn read_body(response: &waki::Response) -> Result<Vec<u8>, String> {
    const MOST_PREALLOCATED: usize = 64 << 20;
    let announced = response.header("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<usize>().ok());
    let mut body = Vec::with_capacity(announced.unwrap_or(0).min(MOST_PREALLOCATED));
    while let Some(chunk) = response.chunk(1 << 20).map_err(|e| format!("{e:#}"))? {
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `Guest::metadata` for connector `C`.
pub fn metadata<C: Connector>() -> w::ConnectorMetadata {
    C::metadata().into()
}

/// `Guest::open` for connector `C`.
pub fn open<C: Connector>(config: Vec<(String, String)>, provisioning: bool) -> Result<Session, w::ConnectorError> {
    // Whatever the host checked, the component checks its own schema: no host has to get it right.
    crate::fields::check_config(&C::metadata().config_schema, &config)?;
    let session = C::open(WakiHttp, &config, provisioning)?;
    Ok(Session::new(SessionResource::<C>(session)))
}

/// The exported `session` resource of connector `C`.
pub struct SessionResource<C: Connector>(C::Session<WakiHttp>);

type Out<T> = Result<T, w::ConnectorError>;

impl<C: Connector> GuestSession for SessionResource<C> {
    fn validate(&self) -> Out<w::Validation> {
        Ok(w::Validation { summary: self.0.validate()? })
    }

    fn resource_types(&self) -> Out<Vec<w::ResourceType>> {
        Ok(convert(self.0.resource_types()?))
    }

    fn list_resources(&self, resource_type: String, parent: Option<w::ResourceId>, page_token: Option<String>) -> Out<w::ResourcePage> {
        let parent = parent.map(m::ResourceId::from);
        Ok(self.0.list_resources(&resource_type, parent.as_ref(), page_token.as_deref())?.into())
    }

    fn list_entitlements(&self, resource: w::ResourceId, page_token: Option<String>) -> Out<w::EntitlementPage> {
        let page = self.0.list_entitlements(&resource.into(), page_token.as_deref())?;
        Ok(w::EntitlementPage { entitlements: convert(page.entitlements), next_token: page.next_token })
    }

    fn list_grants(&self, resource: w::ResourceId, page_token: Option<String>) -> Out<w::GrantPage> {
        let page = self.0.list_grants(&resource.into(), page_token.as_deref())?;
        Ok(w::GrantPage { grants: convert(page.grants), entitlements: convert(page.entitlements), next_token: page.next_token })
    }

    fn get_resource(&self, id: w::ResourceId) -> Out<w::Resource> {
        Ok(self.0.get_resource(&id.into())?.into())
    }

    fn grant(&self, principal: w::ResourceId, entitlement: String) -> Out<w::GrantOutcome> {
        Ok(match self.0.grant(&principal.into(), &entitlement)? {
            m::GrantOutcome::Granted(g) => w::GrantOutcome::Granted(g.into()),
            m::GrantOutcome::AlreadyExists(g) => w::GrantOutcome::AlreadyExists(g.into()),
        })
    }

    fn revoke(&self, grant: w::Grant) -> Out<w::RevokeOutcome> {
        let grant = m::Grant { id: grant.id, entitlement: grant.entitlement, principal: grant.principal.into(), immutable: grant.immutable };
        Ok(match self.0.revoke(&grant)? {
            m::RevokeOutcome::Revoked => w::RevokeOutcome::Revoked,
            m::RevokeOutcome::AlreadyRevoked => w::RevokeOutcome::AlreadyRevoked,
        })
    }

    fn create_account(&self, fields: w::Fields) -> Out<w::CreateOutcome> {
        Ok(self.0.create_account(&fields)?.into())
    }

    fn update_resource(&self, id: w::ResourceId, fields: w::Fields) -> Out<w::Resource> {
        Ok(self.0.update_resource(&id.into(), &fields)?.into())
    }

    fn create_resource(&self, resource_type: String, fields: w::Fields) -> Out<w::CreateOutcome> {
        Ok(self.0.create_resource(&resource_type, &fields)?.into())
    }

    fn delete_resource(&self, id: w::ResourceId) -> Out<w::DeleteOutcome> {
        Ok(match self.0.delete_resource(&id.into())? {
            m::DeleteOutcome::Deleted => w::DeleteOutcome::Deleted,
            m::DeleteOutcome::DidNotExist => w::DeleteOutcome::DidNotExist,
        })
    }
}

fn convert<A: Into<B>, B>(items: Vec<A>) -> Vec<B> {
    items.into_iter().map(Into::into).collect()
}

impl From<ConnectorError> for w::ConnectorError {
    fn from(e: ConnectorError) -> Self {
        match e {
            ConnectorError::InvalidConfig(m) => Self::InvalidConfig(m),
            ConnectorError::Unauthenticated(m) => Self::Unauthenticated(m),
            ConnectorError::PermissionDenied(m) => Self::PermissionDenied(m),
            ConnectorError::NotFound(m) => Self::NotFound(m),
            ConnectorError::RateLimited { message, retry_after_ms } => Self::RateLimited(w::Failure { message, retry_after_ms }),
            ConnectorError::Unavailable { message, retry_after_ms } => Self::Unavailable(w::Failure { message, retry_after_ms }),
            ConnectorError::BadResponse(m) => Self::BadResponse(m),
            ConnectorError::ProvisioningDisabled => Self::ProvisioningDisabled,
            ConnectorError::Unsupported(m) => Self::Unsupported(m),
            ConnectorError::Rejected(m) => Self::Rejected(m),
            ConnectorError::Internal(m) => Self::Internal(m),
        }
    }
}

impl From<w::ResourceId> for m::ResourceId {
    fn from(id: w::ResourceId) -> Self {
        Self { resource_type: id.resource_type, id: id.id }
    }
}

impl From<m::ResourceId> for w::ResourceId {
    fn from(id: m::ResourceId) -> Self {
        Self { resource_type: id.resource_type, id: id.id }
    }
}

impl From<m::ResourceType> for w::ResourceType {
    fn from(t: m::ResourceType) -> Self {
        Self {
            id: t.id,
            display_name: t.display_name,
            traits: t
                .traits
                .into_iter()
                .map(|k| match k {
                    m::TraitKind::User => w::TraitKind::User,
                    m::TraitKind::Group => w::TraitKind::Group,
                    m::TraitKind::Role => w::TraitKind::Role,
                    m::TraitKind::App => w::TraitKind::App,
                })
                .collect(),
            description: t.description,
        }
    }
}

impl From<m::Resource> for w::Resource {
    fn from(r: m::Resource) -> Self {
        Self {
            id: r.id.into(),
            parent: r.parent.map(Into::into),
            display_name: r.display_name,
            description: r.description,
            status: w::ResourceStatus {
                kind: match r.status.kind {
                    m::StatusKind::Unspecified => w::StatusKind::Unspecified,
                    m::StatusKind::Enabled => w::StatusKind::Enabled,
                    m::StatusKind::Disabled => w::StatusKind::Disabled,
                    m::StatusKind::Deleted => w::StatusKind::Deleted,
                },
                detail: r.status.detail,
            },
            user: r.user.map(|u| w::UserTrait {
                emails: u.emails.into_iter().map(|e| w::Email { address: e.address, primary: e.primary }).collect(),
                login: u.login,
                login_aliases: u.login_aliases,
                employee_ids: u.employee_ids,
                name: u.name.map(|n| w::StructuredName {
                    given_name: n.given_name,
                    family_name: n.family_name,
                    middle_names: n.middle_names,
                    prefix: n.prefix,
                    suffix: n.suffix,
                }),
                account_type: match u.account_type {
                    m::AccountType::Human => w::AccountType::Human,
                    m::AccountType::Service => w::AccountType::Service,
                    m::AccountType::System => w::AccountType::System,
                },
                manager_id: u.manager_id,
                title: u.title,
                department_ids: u.department_ids,
                location_ids: u.location_ids,
                start_date: u.start_date,
                time_zone: u.time_zone,
                locale: u.locale,
                nickname: u.nickname,
                phone_numbers: u.phone_numbers,
                photo_url: u.photo_url,
            }),
            group: r.group.map(|g| w::GroupTrait { source_kind: g.source_kind, member_count: g.member_count }),
            profile: r.profile,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl From<m::Entitlement> for w::Entitlement {
    fn from(e: m::Entitlement) -> Self {
        Self {
            id: e.id,
            resource: e.resource.into(),
            display_name: e.display_name,
            description: e.description,
            slug: e.slug,
            purpose: match e.purpose {
                m::Purpose::Assignment => w::EntitlementPurpose::Assignment,
                m::Purpose::Permission => w::EntitlementPurpose::Permission,
                m::Purpose::Ownership => w::EntitlementPurpose::Ownership,
            },
            grantable_to: e.grantable_to,
        }
    }
}

impl From<m::Grant> for w::Grant {
    fn from(g: m::Grant) -> Self {
        Self { id: g.id, entitlement: g.entitlement, principal: g.principal.into(), immutable: g.immutable }
    }
}

impl From<m::ResourcePage> for w::ResourcePage {
    fn from(p: m::ResourcePage) -> Self {
        Self {
            resources: convert(p.resources),
            entitlements: convert(p.entitlements),
            grants: convert(p.grants),
            next_token: p.next_token,
            independent_tokens: p.independent_tokens,
        }
    }
}

impl From<m::CreateOutcome> for w::CreateOutcome {
    fn from(o: m::CreateOutcome) -> Self {
        match o {
            m::CreateOutcome::Created(r) => Self::Created(r.into()),
            m::CreateOutcome::AlreadyExists(r) => Self::AlreadyExists(r.into()),
        }
    }
}

impl From<m::Metadata> for w::ConnectorMetadata {
    fn from(md: m::Metadata) -> Self {
        Self {
            name: md.name,
            version: md.version,
            description: md.description,
            config_schema: md
                .config_schema
                .into_iter()
                .map(|f| w::ConfigField {
                    key: f.key,
                    display_name: f.display_name,
                    description: f.description,
                    required: f.required,
                    secret: f.secret,
                    default_value: f.default_value,
                    choices: f.choices,
                })
                .collect(),
            base_url_field: md.base_url_field,
            extra_origin_fields: md.extra_origin_fields,
            auth: match md.auth {
                m::AuthScheme::None => w::AuthScheme::None,
                m::AuthScheme::Bearer(field) => w::AuthScheme::Bearer(field),
                m::AuthScheme::OAuth2ClientCredentials(o) => w::AuthScheme::Oauth2ClientCredentials(w::Oauth2ClientCredentials {
                    token_url: o.token_url,
                    client_id_field: o.client_id_field,
                    client_secret_field: o.client_secret_field,
                    credentials_in: match o.credentials_in {
                        m::CredentialsPlacement::FormBody => w::CredentialsPlacement::FormBody,
                        m::CredentialsPlacement::JsonBody => w::CredentialsPlacement::JsonBody,
                        m::CredentialsPlacement::Basic => w::CredentialsPlacement::Basic,
                    },
                    credentials_in_field: o.credentials_in_field,
                    grant_type_in: match o.grant_type_in {
                        m::ParameterPlacement::Query => w::ParameterPlacement::Query,
                        m::ParameterPlacement::FormBody => w::ParameterPlacement::FormBody,
                    },
                    extra_params: o.extra_params,
                }),
            },
            capabilities: md
                .capabilities
                .into_iter()
                .map(|c| {
                    let f = c.capabilities;
                    let mut flags = w::Capability::empty();
                    for (on, flag) in [
                        (f.list, w::Capability::LIST),
                        (f.get, w::Capability::GET),
                        (f.inline_entitlements, w::Capability::INLINE_ENTITLEMENTS),
                        (f.inline_grants, w::Capability::INLINE_GRANTS),
                        (f.create, w::Capability::CREATE),
                        (f.update, w::Capability::UPDATE),
                        (f.delete, w::Capability::DELETE),
                        (f.grant, w::Capability::GRANT),
                        (f.revoke, w::Capability::REVOKE),
                    ] {
                        if on {
                            flags |= flag;
                        }
                    }
                    w::ResourceTypeCapabilities {
                        resource_type: c.resource_type,
                        capabilities: flags,
                        listed_with: c.listed_with,
                    }
                })
                .collect(),
        }
    }
}
