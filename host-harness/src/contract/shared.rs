//! The conversions every contract version shares. A version's types are generated per package, so each
//! version module gets its own copy of these impls, written here once: `shared_conversions!()` expands them
//! for the module's `w` (its `types` interface). What differs between versions is converted in the
//! version's own file.

/// `From` impls between the version module's `w` types and the model (`connector_model::model`).
///
/// Versions differ in the places given as expressions over the version's records: `oauth2-client-credentials`
/// (`$o`; `$o2` names the same record), `connector-metadata` (`$md`), `resource-page` (`$p`), `grant` (`$g`, and `$mg` for the
/// model's grant going to the guest), `grant-page` (`$gp`) and `config-field` (`$f`). A field a version lacks
/// is given as what it means there (no choices, no immutable mark, ...).
macro_rules! shared_conversions {
    // Versions before 0.4 have no immutable grants, grant-page entitlements, config choices or credentials field.
    (
        before_0_4,
        token_url: |$o:ident| $token_url:expr,
        extra_origin_fields: |$md:ident| $extra_origin_fields:expr,
        independent_tokens: |$p:ident| $independent_tokens:expr
    ) => {
        super::shared::shared_conversions!(
            token_url: |$o| $token_url,
            extra_origin_fields: |$md| $extra_origin_fields,
            independent_tokens: |$p| $independent_tokens,
            credentials_in_field: |o| None,
            choices: |f| Vec::new(),
            grant_immutable: |g| None,
            grant_to_guest: |g| w::Grant { id: g.id.clone(), entitlement: g.entitlement.clone(), principal: (&g.principal).into() },
            grant_page_entitlements: |p| Vec::new()
        );
    };
    (
        token_url: |$o:ident| $token_url:expr,
        extra_origin_fields: |$md:ident| $extra_origin_fields:expr,
        independent_tokens: |$p:ident| $independent_tokens:expr,
        credentials_in_field: |$o2:ident| $credentials_in_field:expr,
        choices: |$f:ident| $choices:expr,
        grant_immutable: |$g:ident| $grant_immutable:expr,
        grant_to_guest: |$mg:ident| $grant_to_guest:expr,
        grant_page_entitlements: |$gp:ident| $grant_page_entitlements:expr
    ) => {
        fn convert<A: Into<B>, B>(items: Vec<A>) -> Vec<B> {
            items.into_iter().map(Into::into).collect()
        }

        impl From<w::ConnectorError> for ConnectorError {
            fn from(e: w::ConnectorError) -> Self {
                match e {
                    w::ConnectorError::InvalidConfig(m) => Self::InvalidConfig(m),
                    w::ConnectorError::Unauthenticated(m) => Self::Unauthenticated(m),
                    w::ConnectorError::PermissionDenied(m) => Self::PermissionDenied(m),
                    w::ConnectorError::NotFound(m) => Self::NotFound(m),
                    w::ConnectorError::RateLimited(f) => Self::RateLimited { message: f.message, retry_after_ms: f.retry_after_ms },
                    w::ConnectorError::Unavailable(f) => Self::Unavailable { message: f.message, retry_after_ms: f.retry_after_ms },
                    w::ConnectorError::BadResponse(m) => Self::BadResponse(m),
                    w::ConnectorError::ProvisioningDisabled => Self::ProvisioningDisabled,
                    w::ConnectorError::Unsupported(m) => Self::Unsupported(m),
                    w::ConnectorError::Rejected(m) => Self::Rejected(m),
                    w::ConnectorError::Internal(m) => Self::Internal(m),
                }
            }
        }

        impl From<w::ResourceId> for m::ResourceId {
            fn from(id: w::ResourceId) -> Self {
                Self { resource_type: id.resource_type, id: id.id }
            }
        }

        impl From<&m::ResourceId> for w::ResourceId {
            fn from(id: &m::ResourceId) -> Self {
                Self { resource_type: id.resource_type.clone(), id: id.id.clone() }
            }
        }

        impl From<&m::Grant> for w::Grant {
            fn from($mg: &m::Grant) -> Self {
                $grant_to_guest
            }
        }

        impl From<w::ResourceType> for m::ResourceType {
            fn from(t: w::ResourceType) -> Self {
                let traits = t
                    .traits
                    .into_iter()
                    .map(|k| match k {
                        w::TraitKind::User => m::TraitKind::User,
                        w::TraitKind::Group => m::TraitKind::Group,
                        w::TraitKind::Role => m::TraitKind::Role,
                        w::TraitKind::App => m::TraitKind::App,
                    })
                    .collect();
                Self { id: t.id, display_name: t.display_name, traits, description: t.description }
            }
        }

        impl From<w::Resource> for m::Resource {
            fn from(r: w::Resource) -> Self {
                Self {
                    id: r.id.into(),
                    parent: r.parent.map(Into::into),
                    display_name: r.display_name,
                    description: r.description,
                    status: m::ResourceStatus {
                        kind: match r.status.kind {
                            w::StatusKind::Unspecified => m::StatusKind::Unspecified,
                            w::StatusKind::Enabled => m::StatusKind::Enabled,
                            w::StatusKind::Disabled => m::StatusKind::Disabled,
                            w::StatusKind::Deleted => m::StatusKind::Deleted,
                        },
                        detail: r.status.detail,
                    },
                    user: r.user.map(|u| m::UserTrait {
                        emails: u.emails.into_iter().map(|e| m::Email { address: e.address, primary: e.primary }).collect(),
                        login: u.login,
                        login_aliases: u.login_aliases,
                        employee_ids: u.employee_ids,
                        name: u.name.map(|n| m::StructuredName {
                            given_name: n.given_name,
                            family_name: n.family_name,
                            middle_names: n.middle_names,
                            prefix: n.prefix,
                            suffix: n.suffix,
                        }),
                        account_type: match u.account_type {
                            w::AccountType::Human => m::AccountType::Human,
                            w::AccountType::Service => m::AccountType::Service,
                            w::AccountType::System => m::AccountType::System,
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
                    group: r.group.map(|g| m::GroupTrait { source_kind: g.source_kind, member_count: g.member_count }),
                    profile: r.profile,
                    created_at: r.created_at,
                    updated_at: r.updated_at,
                }
            }
        }

        impl From<w::Entitlement> for m::Entitlement {
            fn from(e: w::Entitlement) -> Self {
                Self {
                    id: e.id,
                    resource: e.resource.into(),
                    display_name: e.display_name,
                    description: e.description,
                    slug: e.slug,
                    purpose: match e.purpose {
                        w::EntitlementPurpose::Assignment => m::Purpose::Assignment,
                        w::EntitlementPurpose::Permission => m::Purpose::Permission,
                        w::EntitlementPurpose::Ownership => m::Purpose::Ownership,
                    },
                    grantable_to: e.grantable_to,
                }
            }
        }

        impl From<w::Grant> for m::Grant {
            #[allow(unused_variables)]
            fn from($g: w::Grant) -> Self {
                Self { immutable: $grant_immutable, id: $g.id, entitlement: $g.entitlement, principal: $g.principal.into() }
            }
        }

        impl From<w::ResourcePage> for m::ResourcePage {
            #[allow(unused_variables)]
            fn from($p: w::ResourcePage) -> Self {
                Self {
                    independent_tokens: $independent_tokens,
                    resources: convert($p.resources),
                    entitlements: convert($p.entitlements),
                    grants: convert($p.grants),
                    next_token: $p.next_token,
                }
            }
        }

        impl From<w::EntitlementPage> for m::EntitlementPage {
            fn from(p: w::EntitlementPage) -> Self {
                Self { entitlements: convert(p.entitlements), next_token: p.next_token }
            }
        }

        impl From<w::GrantPage> for m::GrantPage {
            #[allow(unused_variables)]
            fn from($gp: w::GrantPage) -> Self {
                Self { entitlements: $grant_page_entitlements, grants: convert($gp.grants), next_token: $gp.next_token }
            }
        }

        impl From<w::CreateOutcome> for m::CreateOutcome {
            fn from(o: w::CreateOutcome) -> Self {
                match o {
                    w::CreateOutcome::Created(r) => Self::Created(r.into()),
                    w::CreateOutcome::AlreadyExists(r) => Self::AlreadyExists(r.into()),
                }
            }
        }

        impl From<w::GrantOutcome> for m::GrantOutcome {
            fn from(o: w::GrantOutcome) -> Self {
                match o {
                    w::GrantOutcome::Granted(g) => Self::Granted(g.into()),
                    w::GrantOutcome::AlreadyExists(g) => Self::AlreadyExists(g.into()),
                }
            }
        }

        impl From<w::RevokeOutcome> for m::RevokeOutcome {
            fn from(o: w::RevokeOutcome) -> Self {
                match o {
                    w::RevokeOutcome::Revoked => Self::Revoked,
                    w::RevokeOutcome::AlreadyRevoked => Self::AlreadyRevoked,
                }
            }
        }

        impl From<w::DeleteOutcome> for m::DeleteOutcome {
            fn from(o: w::DeleteOutcome) -> Self {
                match o {
                    w::DeleteOutcome::Deleted => Self::Deleted,
                    w::DeleteOutcome::DidNotExist => Self::DidNotExist,
                }
            }
        }

        /// A version's capability flags as the model's.
        fn capabilities(flags: w::Capability) -> m::Capabilities {
            let has = [
                (w::Capability::LIST, m::Capability::List),
                (w::Capability::GET, m::Capability::Get),
                (w::Capability::INLINE_ENTITLEMENTS, m::Capability::InlineEntitlements),
                (w::Capability::INLINE_GRANTS, m::Capability::InlineGrants),
                (w::Capability::CREATE, m::Capability::Create),
                (w::Capability::UPDATE, m::Capability::Update),
                (w::Capability::DELETE, m::Capability::Delete),
                (w::Capability::GRANT, m::Capability::Grant),
                (w::Capability::REVOKE, m::Capability::Revoke),
            ]
            .into_iter()
            .filter(|(flag, _)| flags.contains(*flag))
            .map(|(_, capability)| capability)
            .collect::<Vec<_>>();
            m::Capabilities::of(&has)
        }

        #[allow(unused_variables)]
        fn config_field($f: w::ConfigField) -> m::ConfigField {
            m::ConfigField {
                choices: $choices,
                key: $f.key,
                display_name: $f.display_name,
                description: $f.description,
                required: $f.required,
                secret: $f.secret,
                default_value: $f.default_value,
            }
        }

        fn placements(credentials_in: w::CredentialsPlacement, grant_type_in: w::ParameterPlacement) -> (m::CredentialsPlacement, m::ParameterPlacement) {
            let credentials_in = match credentials_in {
                w::CredentialsPlacement::FormBody => m::CredentialsPlacement::FormBody,
                w::CredentialsPlacement::JsonBody => m::CredentialsPlacement::JsonBody,
                w::CredentialsPlacement::Basic => m::CredentialsPlacement::Basic,
            };
            let grant_type_in = match grant_type_in {
                w::ParameterPlacement::Query => m::ParameterPlacement::Query,
                w::ParameterPlacement::FormBody => m::ParameterPlacement::FormBody,
            };
            (credentials_in, grant_type_in)
        }

        impl From<w::ConnectorMetadata> for m::Metadata {
            fn from($md: w::ConnectorMetadata) -> Self {
                let auth = match $md.auth {
                    w::AuthScheme::None => m::AuthScheme::None,
                    w::AuthScheme::Bearer(field) => m::AuthScheme::Bearer(field),
                    w::AuthScheme::Oauth2ClientCredentials($o) => {
                        let (credentials_in, grant_type_in) = placements($o.credentials_in, $o.grant_type_in);
                        m::AuthScheme::OAuth2ClientCredentials(m::OAuth2ClientCredentials {
                            credentials_in_field: $credentials_in_field,
                            token_url: $token_url,
                            client_id_field: $o.client_id_field,
                            client_secret_field: $o.client_secret_field,
                            credentials_in,
                            grant_type_in,
                            extra_params: $o.extra_params,
                        })
                    }
                };
                Self {
                    name: $md.name,
                    version: $md.version,
                    description: $md.description,
                    config_schema: $md.config_schema.into_iter().map(config_field).collect(),
                    base_url_field: $md.base_url_field,
                    extra_origin_fields: $extra_origin_fields,
                    auth,
                    capabilities: $md
                        .capabilities
                        .into_iter()
                        .map(|c| m::ResourceTypeCapabilities { resource_type: c.resource_type, capabilities: capabilities(c.capabilities), listed_with: c.listed_with })
                        .collect(),
                }
            }
        }
    };
}

pub(crate) use shared_conversions;
