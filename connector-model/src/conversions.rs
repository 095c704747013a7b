//! The conversions between the model and the WIT types of a contract version, as one declarative list.
//!
//! Each version's bindings are distinct Rust types, generated where they are used: the guest SDK generates the
//! newest version's (`wit-bindgen`), the host every version's (`wasmtime::component::bindgen!`). Both expand
//! `wit_conversions!` in the module where `w` names that version's `types` interface, and get the `From` impls
//! the model needs to cross the boundary:
//! - what a guest returns (`returned`): model → WIT in the guest, WIT → model in the host;
//! - what the host also hands to a guest (`both`): resource ids and grants, both ways on both sides.
//!
//! A field added by a later version is written `field: kind since 0.N else (value)`: a version without it reads
//! `value` into the model and leaves the field out going the other way; types added by a later version sit in a
//! `__wit_has!(0.N ...)` block. The versions a side speaks are given as
//! `has: [0.2 0.3 ...]`, the versions whose additions it has. A field missing here fails to compile: every
//! struct literal below names every field of its type.

/// The `From` impls between `w` (a contract version's `types` interface, in scope where this expands) and the
/// model, for the guest (`guest`) or the host (`host`) side; `has` lists the versions whose additions `w` has.
#[macro_export]
macro_rules! wit_conversions {
    ($side:ident, has: [$($has:tt)*]) => {
        $crate::__wit_record!($side both [$($has)*] ResourceId = ResourceId |id| {
            resource_type: plain,
            id: plain,
        });
        $crate::__wit_record!($side both [$($has)*] Grant = Grant |g| {
            id: plain,
            entitlement: plain,
            principal: into,
            immutable: plain since 0.4 else (None),
        });
        $crate::__wit_enum!($side TraitKind = TraitKind { User, Group, Role, App });
        $crate::__wit_record!($side returned [$($has)*] ResourceType = ResourceType |t| {
            id: plain,
            display_name: plain,
            traits: each,
            description: plain,
        });
        $crate::__wit_enum!($side StatusKind = StatusKind { Unspecified, Enabled, Disabled, Deleted });
        $crate::__wit_record!($side returned [$($has)*] ResourceStatus = ResourceStatus |s| {
            kind: into,
            detail: plain,
        });
        $crate::__wit_record!($side returned [$($has)*] Email = Email |e| {
            address: plain,
            primary: plain,
        });
        $crate::__wit_record!($side returned [$($has)*] StructuredName = StructuredName |n| {
            given_name: plain,
            family_name: plain,
            middle_names: plain,
            prefix: plain,
            suffix: plain,
        });
        $crate::__wit_enum!($side AccountType = AccountType { Human, Service, System });
        $crate::__wit_record!($side returned [$($has)*] UserTrait = UserTrait |u| {
            emails: each,
            login: plain,
            login_aliases: plain,
            employee_ids: plain,
            name: maybe,
            account_type: into,
            manager_id: plain,
            title: plain,
            department_ids: plain,
            location_ids: plain,
            start_date: plain,
            time_zone: plain,
            locale: plain,
            nickname: plain,
            phone_numbers: plain,
            photo_url: plain,
        });
        $crate::__wit_record!($side returned [$($has)*] GroupTrait = GroupTrait |g| {
            source_kind: plain,
            member_count: plain,
        });
        $crate::__wit_record!($side returned [$($has)*] Resource = Resource |r| {
            id: into,
            parent: maybe,
            display_name: plain,
            description: plain,
            status: into,
            user: maybe,
            group: maybe,
            profile: plain,
            created_at: plain,
            updated_at: plain,
        });
        $crate::__wit_enum!($side Purpose = EntitlementPurpose { Assignment, Permission, Ownership });
        $crate::__wit_record!($side returned [$($has)*] Entitlement = Entitlement |e| {
            id: plain,
            resource: into,
            display_name: plain,
            description: plain,
            slug: plain,
            purpose: into,
            grantable_to: plain,
        });
        $crate::__wit_record!($side returned [$($has)*] ResourcePage = ResourcePage |p| {
            resources: each,
            entitlements: each,
            grants: each,
            next_token: plain,
            independent_tokens: plain since 0.3 else (Vec::new()),
        });
        $crate::__wit_record!($side returned [$($has)*] EntitlementPage = EntitlementPage |p| {
            entitlements: each,
            next_token: plain,
        });
        $crate::__wit_record!($side returned [$($has)*] GrantPage = GrantPage |p| {
            grants: each,
            entitlements: each since 0.4 else (Vec::new()),
            next_token: plain,
        });
        $crate::__wit_variants!($side CreateOutcome = CreateOutcome { Created, AlreadyExists });
        $crate::__wit_variants!($side GrantOutcome = GrantOutcome { Granted, AlreadyExists });
        $crate::__wit_enum!($side RevokeOutcome = RevokeOutcome { Revoked, AlreadyRevoked });
        $crate::__wit_enum!($side DeleteOutcome = DeleteOutcome { Deleted, DidNotExist });
        $crate::__wit_record!($side returned [$($has)*] ConfigField = ConfigField |f| {
            key: plain,
            display_name: plain,
            description: plain,
            required: plain,
            secret: plain,
            default_value: plain,
            choices: plain since 0.4 else (Vec::new()),
        });
        $crate::__wit_enum!($side CredentialsPlacement = CredentialsPlacement { FormBody, JsonBody, Basic });
        $crate::__wit_enum!($side ParameterPlacement = ParameterPlacement { Query, FormBody });
        // 0.1 named a path on the base URL's origin `token-path`: the same string as a 0.2 token URL.
        $crate::__wit_record!($side returned [$($has)*] OAuth2ClientCredentials = Oauth2ClientCredentials |o| {
            token_url: plain since 0.2 else (o.token_path),
            client_id_field: plain,
            client_secret_field: plain,
            credentials_in: into,
            credentials_in_field: plain since 0.4 else (None),
            grant_type_in: into,
            extra_params: plain,
        });
        $crate::__wit_returned!($side
            impl From<$crate::model::AuthScheme> for w::AuthScheme {
                fn from(auth: $crate::model::AuthScheme) -> Self {
                    match auth {
                        $crate::model::AuthScheme::None => Self::None,
                        $crate::model::AuthScheme::Bearer(field) => Self::Bearer(field),
                        $crate::model::AuthScheme::OAuth2ClientCredentials(o) => Self::Oauth2ClientCredentials(o.into()),
                    }
                }
            }
            impl From<w::AuthScheme> for $crate::model::AuthScheme {
                fn from(auth: w::AuthScheme) -> Self {
                    match auth {
                        w::AuthScheme::None => Self::None,
                        w::AuthScheme::Bearer(field) => Self::Bearer(field),
                        w::AuthScheme::Oauth2ClientCredentials(o) => Self::OAuth2ClientCredentials(o.into()),
                    }
                }
            }
        );
        $crate::__wit_flags!($side Capabilities = Capability {
            LIST, GET, INLINE_ENTITLEMENTS, INLINE_GRANTS, CREATE, UPDATE, DELETE, GRANT, REVOKE
        });
        $crate::__wit_record!($side returned [$($has)*] ResourceTypeCapabilities = ResourceTypeCapabilities |c| {
            resource_type: plain,
            capabilities: into,
            listed_with: plain,
        });
        // The write schemas came with 0.5.
        $crate::__wit_has!(0.5 in [$($has)*] {
            $crate::__wit_enum!($side FieldWrites = FieldWrites { CreateAndUpdate, CreateOnly, UpdateOnly });
            $crate::__wit_record!($side returned [$($has)*] WriteField = WriteField |f| {
                name: plain,
                description: plain,
                required_on_create: plain,
                writes: into,
                multi_valued: plain,
                scim_path: plain,
            });
            $crate::__wit_record!($side returned [$($has)*] DisableField = DisableField |d| {
                field: plain,
                disabled: plain,
                enabled: plain,
            });
            $crate::__wit_returned!($side
                impl From<$crate::model::AccountDisable> for w::AccountDisable {
                    fn from(disable: $crate::model::AccountDisable) -> Self {
                        match disable {
                            $crate::model::AccountDisable::Field(field) => Self::Field(field.into()),
                            $crate::model::AccountDisable::Delete => Self::Delete,
                        }
                    }
                }
                impl From<w::AccountDisable> for $crate::model::AccountDisable {
                    fn from(disable: w::AccountDisable) -> Self {
                        match disable {
                            w::AccountDisable::Field(field) => Self::Field(field.into()),
                            w::AccountDisable::Delete => Self::Delete,
                        }
                    }
                }
            );
            $crate::__wit_record!($side returned [$($has)*] WriteSchema = WriteSchema |s| {
                resource_type: plain,
                fields: each,
                disable: maybe,
            });
        } {});
        $crate::__wit_record!($side returned [$($has)*] Metadata = ConnectorMetadata |md| {
            name: plain,
            version: plain,
            description: plain,
            config_schema: each,
            base_url_field: plain,
            extra_origin_fields: plain since 0.2 else (Vec::new()),
            auth: into,
            capabilities: each,
            write_schemas: each since 0.5 else (Vec::new()),
        });
        // The model's errors name their retry fields where the contract wraps them in a `failure` record.
        $crate::__wit_returned!($side
            impl From<$crate::ConnectorError> for w::ConnectorError {
                fn from(e: $crate::ConnectorError) -> Self {
                    use $crate::ConnectorError as E;
                    match e {
                        E::InvalidConfig(m) => Self::InvalidConfig(m),
                        E::Unauthenticated(m) => Self::Unauthenticated(m),
                        E::PermissionDenied(m) => Self::PermissionDenied(m),
                        E::NotFound(m) => Self::NotFound(m),
                        E::RateLimited { message, retry_after_ms } => Self::RateLimited(w::Failure { message, retry_after_ms }),
                        E::Unavailable { message, retry_after_ms } => Self::Unavailable(w::Failure { message, retry_after_ms }),
                        E::BadResponse(m) => Self::BadResponse(m),
                        E::ProvisioningDisabled => Self::ProvisioningDisabled,
                        E::Unsupported(m) => Self::Unsupported(m),
                        E::Rejected(m) => Self::Rejected(m),
                        E::Internal(m) => Self::Internal(m),
                    }
                }
            }
            impl From<w::ConnectorError> for $crate::ConnectorError {
                fn from(e: w::ConnectorError) -> Self {
                    use w::ConnectorError as E;
                    match e {
                        E::InvalidConfig(m) => Self::InvalidConfig(m),
                        E::Unauthenticated(m) => Self::Unauthenticated(m),
                        E::PermissionDenied(m) => Self::PermissionDenied(m),
                        E::NotFound(m) => Self::NotFound(m),
                        E::RateLimited(f) => Self::RateLimited { message: f.message, retry_after_ms: f.retry_after_ms },
                        E::Unavailable(f) => Self::Unavailable { message: f.message, retry_after_ms: f.retry_after_ms },
                        E::BadResponse(m) => Self::BadResponse(m),
                        E::ProvisioningDisabled => Self::ProvisioningDisabled,
                        E::Unsupported(m) => Self::Unsupported(m),
                        E::Rejected(m) => Self::Rejected(m),
                        E::Internal(m) => Self::Internal(m),
                    }
                }
            }
        );
    };
}

/// Keeps the first impl (model → WIT) on the guest side, the second (WIT → model) on the host side.
#[doc(hidden)]
#[macro_export]
macro_rules! __wit_returned {
    (guest $to_wit:item $to_model:item) => {
        $to_wit
    };
    (host $to_wit:item $to_model:item) => {
        $to_model
    };
}

/// A record's `From` impls: `returned` ones in the side's direction, `both` ones both ways.
#[doc(hidden)]
#[macro_export]
macro_rules! __wit_record {
    ($side:ident returned $has:tt $model:ident = $wit:ident |$v:ident| $fields:tt) => {
        $crate::__wit_returned!($side
            impl From<$crate::model::$model> for w::$wit {
                #[allow(unused_variables)]
                fn from($v: $crate::model::$model) -> Self {
                    $crate::__wit_struct!(to_wit $has $v [w::$wit] {} $fields)
                }
            }
            impl From<w::$wit> for $crate::model::$model {
                #[allow(unused_variables)]
                fn from($v: w::$wit) -> Self {
                    $crate::__wit_struct!(to_model $has $v [$crate::model::$model] {} $fields)
                }
            }
        );
    };
    ($side:ident both $has:tt $model:ident = $wit:ident |$v:ident| $fields:tt) => {
        $crate::__wit_record!(guest returned $has $model = $wit |$v| $fields);
        $crate::__wit_record!(host returned $has $model = $wit |$v| $fields);
    };
}

/// A struct literal of `$ty` from `$v`'s fields, built one field spec at a time (`$done` holds those written);
/// a field added after the version at hand is left out going to WIT and given its `else` value going to the model.
#[doc(hidden)]
#[macro_export]
macro_rules! __wit_struct {
    ($dir:ident $has:tt $v:ident [$($ty:tt)*] { $($done:tt)* } {}) => {
        $($ty)* { $($done)* }
    };
    ($dir:ident [$($has:tt)*] $v:ident [$($ty:tt)*] { $($done:tt)* } { $field:ident: $kind:ident since $since:tt else ($($absent:tt)*), $($rest:tt)* }) => {
        $crate::__wit_has!($since in [$($has)*]
            { $crate::__wit_struct!($dir [$($has)*] $v [$($ty)*] { $($done)* $field: $crate::__wit_value!($kind $v.$field), } { $($rest)* }) }
            { $crate::__wit_struct!($dir [$($has)*] $v [$($ty)*] { $($done)* } absent $field ($($absent)*) { $($rest)* }) }
        )
    };
    (to_model $has:tt $v:ident [$($ty:tt)*] { $($done:tt)* } absent $field:ident ($($absent:tt)*) $rest:tt) => {
        $crate::__wit_struct!(to_model $has $v [$($ty)*] { $($done)* $field: $($absent)*, } $rest)
    };
    (to_wit $has:tt $v:ident [$($ty:tt)*] { $($done:tt)* } absent $field:ident $absent:tt $rest:tt) => {
        $crate::__wit_struct!(to_wit $has $v [$($ty)*] { $($done)* } $rest)
    };
    ($dir:ident $has:tt $v:ident [$($ty:tt)*] { $($done:tt)* } { $field:ident: $kind:ident, $($rest:tt)* }) => {
        $crate::__wit_struct!($dir $has $v [$($ty)*] { $($done)* $field: $crate::__wit_value!($kind $v.$field), } { $($rest)* })
    };
}

/// Whether a version with the additions `[...]` has those of `$since`: expands the first block's contents if so,
/// else the second's. One rule per version that added fields.
#[doc(hidden)]
#[macro_export]
macro_rules! __wit_has {
    (0.2 in [0.2 $($rest:tt)*] { $($yes:tt)* } $no:tt) => { $($yes)* };
    (0.3 in [0.3 $($rest:tt)*] { $($yes:tt)* } $no:tt) => { $($yes)* };
    (0.4 in [0.4 $($rest:tt)*] { $($yes:tt)* } $no:tt) => { $($yes)* };
    (0.5 in [0.5 $($rest:tt)*] { $($yes:tt)* } $no:tt) => { $($yes)* };
    ($since:tt in [$other:tt $($rest:tt)*] $yes:tt $no:tt) => { $crate::__wit_has! { $since in [$($rest)*] $yes $no } };
    ($since:tt in [] $yes:tt { $($no:tt)* }) => { $($no)* };
}

/// A field's value converted: `plain` (the same type on both sides), `into` (a converted type), `maybe` (an
/// optional one), `each` (a list of them).
#[doc(hidden)]
#[macro_export]
macro_rules! __wit_value {
    (plain $value:expr) => { $value };
    (into $value:expr) => { $value.into() };
    (maybe $value:expr) => { $value.map(Into::into) };
    (each $value:expr) => { $value.into_iter().map(Into::into).collect() };
}

/// An enum whose cases carry nothing, case for case.
#[doc(hidden)]
#[macro_export]
macro_rules! __wit_enum {
    ($side:ident $model:ident = $wit:ident { $($case:ident),* }) => {
        $crate::__wit_returned!($side
            impl From<$crate::model::$model> for w::$wit {
                fn from(value: $crate::model::$model) -> Self {
                    match value { $($crate::model::$model::$case => Self::$case,)* }
                }
            }
            impl From<w::$wit> for $crate::model::$model {
                fn from(value: w::$wit) -> Self {
                    match value { $(w::$wit::$case => Self::$case,)* }
                }
            }
        );
    };
}

/// A variant whose cases each carry one converted value.
#[doc(hidden)]
#[macro_export]
macro_rules! __wit_variants {
    ($side:ident $model:ident = $wit:ident { $($case:ident),* }) => {
        $crate::__wit_returned!($side
            impl From<$crate::model::$model> for w::$wit {
                fn from(value: $crate::model::$model) -> Self {
                    match value { $($crate::model::$model::$case(inner) => Self::$case(inner.into()),)* }
                }
            }
            impl From<w::$wit> for $crate::model::$model {
                fn from(value: w::$wit) -> Self {
                    match value { $(w::$wit::$case(inner) => Self::$case(inner.into()),)* }
                }
            }
        );
    };
}

/// Flags, flag for flag (the model's constants are named as the WIT flags are).
#[doc(hidden)]
#[macro_export]
macro_rules! __wit_flags {
    ($side:ident $model:ident = $wit:ident { $($flag:ident),* }) => {
        $crate::__wit_returned!($side
            impl From<$crate::model::$model> for w::$wit {
                fn from(value: $crate::model::$model) -> Self {
                    let mut flags = Self::empty();
                    $(if value.contains($crate::model::$model::$flag) { flags |= Self::$flag; })*
                    flags
                }
            }
            impl From<w::$wit> for $crate::model::$model {
                fn from(value: w::$wit) -> Self {
                    let mut flags = Self::empty();
                    $(if value.contains(w::$wit::$flag) { flags |= Self::$flag; })*
                    flags
                }
            }
        );
    };
}
