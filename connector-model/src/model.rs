//! The model a connector speaks: plain Rust mirrors of the WIT `types` interface, so a connector's core runs
//! and is tested natively. `conversions.rs` lists how each crosses the component boundary.

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId {
    pub resource_type: String,
    pub id: String,
}

impl ResourceId {
    pub fn new(resource_type: &str, id: impl Into<String>) -> Self {
        Self { resource_type: resource_type.to_string(), id: id.into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraitKind {
    User,
    Group,
    Role,
    App,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    pub id: String,
    pub display_name: String,
    pub traits: Vec<TraitKind>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    Unspecified,
    Enabled,
    Disabled,
    Deleted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceStatus {
    pub kind: StatusKind,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub address: String,
    pub primary: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StructuredName {
    pub given_name: String,
    pub family_name: String,
    pub middle_names: Vec<String>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountType {
    Human,
    Service,
    System,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserTrait {
    pub emails: Vec<Email>,
    pub login: Option<String>,
    pub login_aliases: Vec<String>,
    pub employee_ids: Vec<String>,
    pub name: Option<StructuredName>,
    pub account_type: AccountType,
    pub manager_id: Option<String>,
    pub title: Option<String>,
    pub department_ids: Vec<String>,
    pub location_ids: Vec<String>,
    pub start_date: Option<String>,
    pub time_zone: Option<String>,
    pub locale: Option<String>,
    pub nickname: Option<String>,
    pub phone_numbers: Vec<String>,
    pub photo_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupTrait {
    pub source_kind: Option<String>,
    pub member_count: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub id: ResourceId,
    pub parent: Option<ResourceId>,
    pub display_name: String,
    pub description: Option<String>,
    pub status: ResourceStatus,
    pub user: Option<UserTrait>,
    pub group: Option<GroupTrait>,
    /// A JSON object.
    pub profile: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Assignment,
    Permission,
    Ownership,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlement {
    pub id: String,
    pub resource: ResourceId,
    pub display_name: String,
    pub description: Option<String>,
    pub slug: String,
    pub purpose: Purpose,
    pub grantable_to: Vec<String>,
}

/// The slug of the entitlement a group-like resource offers: being one of its members.
pub const MEMBER: &str = "member";

impl Entitlement {
    /// The id of `resource`'s member entitlement: `<type>:<id>:member`.
    pub fn member_id(resource_type: &str, id: &str) -> String {
        format!("{resource_type}:{id}:{MEMBER}")
    }

    /// `resource`'s member entitlement (an assignment), named `display_name`, which `grantable_to` types may hold.
    pub fn member(resource: ResourceId, display_name: impl Into<String>, grantable_to: &[&str]) -> Self {
        Self {
            id: Self::member_id(&resource.resource_type, &resource.id),
            resource,
            display_name: display_name.into(),
            description: None,
            slug: MEMBER.into(),
            purpose: Purpose::Assignment,
            grantable_to: grantable_to.iter().map(|t| t.to_string()).collect(),
        }
    }

    /// The entitlement, described for people.
    pub fn described(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    pub entitlement: String,
    pub principal: ResourceId,
    /// Why the grant cannot be revoked through the connector, when it cannot (the source derives it).
    pub immutable: Option<String>,
}

impl Grant {
    pub fn new(entitlement: &str, principal: ResourceId) -> Self {
        Self {
            // Joined rather than formatted: a sync makes one for every membership, and formatting costs more.
            id: [entitlement, principal.resource_type.as_str(), principal.id.as_str()].join(":"),
            entitlement: entitlement.to_string(),
            principal,
            immutable: None,
        }
    }

    /// The grant, marked as one the source derives, saying why.
    pub fn derived(mut self, why: impl Into<String>) -> Self {
        self.immutable = Some(why.into());
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourcePage {
    pub resources: Vec<Resource>,
    pub entitlements: Vec<Entitlement>,
    pub grants: Vec<Grant>,
    pub next_token: Option<String>,
    /// Tokens of further pages of the listing that the host may fetch in any order, several at once (a source
    /// that knows its page count after the first page hands them all back there).
    pub independent_tokens: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntitlementPage {
    pub entitlements: Vec<Entitlement>,
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GrantPage {
    pub grants: Vec<Grant>,
    /// Entitlements the grants name that no listing enumerates.
    pub entitlements: Vec<Entitlement>,
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigField {
    pub key: String,
    pub display_name: String,
    pub description: String,
    pub required: bool,
    pub secret: bool,
    /// May name other non-secret fields as `{key}`; the host fills them in.
    pub default_value: Option<String>,
    /// The only values accepted, when not empty.
    pub choices: Vec<String>,
}

/// A field declared in one line: `ConfigField::new(KEY, "Name", "What it is").required()`.
impl ConfigField {
    pub fn new(key: &str, display_name: &str, description: impl Into<String>) -> Self {
        Self { key: key.into(), display_name: display_name.into(), description: description.into(), ..Default::default() }
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// A secret: the host keeps it (for authentication) and never passes it to the component.
    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    pub fn default_value(mut self, value: impl Into<String>) -> Self {
        self.default_value = Some(value.into());
        self
    }

    pub fn choices(mut self, choices: &[&str]) -> Self {
        self.choices = choices.iter().map(|c| c.to_string()).collect();
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialsPlacement {
    FormBody,
    JsonBody,
    Basic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterPlacement {
    Query,
    FormBody,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2ClientCredentials {
    /// A path on the base URL's origin (`/oauth/token`), or `{field}` (a config field holding a URL) and a
    /// path; `{key}` placeholders in the path take non-secret config values. See `wit/connector.wit`.
    pub token_url: String,
    pub client_id_field: String,
    pub client_secret_field: String,
    pub credentials_in: CredentialsPlacement,
    /// A config field choosing the placement instead (`basic`, `form-body`/`post`, `json-body`).
    pub credentials_in_field: Option<String>,
    pub grant_type_in: ParameterPlacement,
    pub extra_params: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthScheme {
    None,
    Bearer(String),
    OAuth2ClientCredentials(OAuth2ClientCredentials),
}

bitflags::bitflags! {
    /// What a connector does with a resource type: the contract's `capability` flags, named as `wit/connector.wit`
    /// names them (`INLINE_ENTITLEMENTS` is `inline-entitlements`), in its order.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Capabilities: u16 {
        const LIST = 1 << 0;
        const GET = 1 << 1;
        const INLINE_ENTITLEMENTS = 1 << 2;
        const INLINE_GRANTS = 1 << 3;
        const CREATE = 1 << 4;
        const UPDATE = 1 << 5;
        const DELETE = 1 << 6;
        const GRANT = 1 << 7;
        const REVOKE = 1 << 8;
    }
}

impl Capabilities {
    /// The writes: what a tenant's provisioning grants govern.
    pub const WRITES: Self = Self::CREATE.union(Self::UPDATE).union(Self::DELETE).union(Self::GRANT).union(Self::REVOKE);

    /// The contract's names of the capabilities set, in its order.
    pub fn names(self) -> Vec<String> {
        self.iter_names().map(|(name, _)| contract_name(name)).collect()
    }

    /// The capability the contract names `name` (`inline-grants`), if one is.
    pub fn named(name: &str) -> Option<Self> {
        Self::all().iter_names().find(|(flag, _)| contract_name(flag) == name).map(|(_, capability)| capability)
    }
}

/// The contract's names, separated by `, `.
impl std::fmt::Display for Capabilities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.names().join(", "))
    }
}

fn contract_name(flag: &str) -> String {
    flag.to_ascii_lowercase().replace('_', "-")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceTypeCapabilities {
    pub resource_type: String,
    pub capabilities: Capabilities,
    pub listed_with: Option<String>,
}

impl ResourceTypeCapabilities {
    pub fn new(resource_type: &str, capabilities: Capabilities) -> Self {
        Self { resource_type: resource_type.into(), capabilities, listed_with: None }
    }

    /// Listed by `resource_type`'s listing, not one of its own.
    pub fn listed_with(mut self, resource_type: &str) -> Self {
        self.listed_with = Some(resource_type.into());
        self
    }
}

/// When a write may set a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldWrites {
    CreateAndUpdate,
    CreateOnly,
    UpdateOnly,
}

/// A field a write of a resource type accepts, by the name the write's fields use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteField {
    pub name: String,
    pub description: String,
    pub required_on_create: bool,
    pub writes: FieldWrites,
    /// Takes several values, given as several pairs with the same name.
    pub multi_valued: bool,
    /// The SCIM 2.0 attribute path it corresponds to (`name.givenName`), when one does.
    pub scim_path: Option<String>,
}

/// A field declared in one line: `WriteField::new("first_name", "Given name").required().scim("name.givenName")`.
impl WriteField {
    pub fn new(name: &str, description: &str) -> Self {
        Self { name: name.into(), description: description.into(), required_on_create: false, writes: FieldWrites::CreateAndUpdate, multi_valued: false, scim_path: None }
    }

    /// A create without it is refused.
    pub fn required(mut self) -> Self {
        self.required_on_create = true;
        self
    }

    pub fn create_only(mut self) -> Self {
        self.writes = FieldWrites::CreateOnly;
        self
    }

    pub fn update_only(mut self) -> Self {
        self.writes = FieldWrites::UpdateOnly;
        self
    }

    pub fn multi_valued(mut self) -> Self {
        self.multi_valued = true;
        self
    }

    /// The SCIM attribute path it corresponds to.
    pub fn scim(mut self, path: &str) -> Self {
        self.scim_path = Some(path.into());
        self
    }
}

/// Writing one field switches an account off (`disabled`) and on again (`enabled`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisableField {
    pub field: String,
    pub disabled: String,
    pub enabled: String,
}

/// How an account is disabled and enabled again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountDisable {
    /// By an update writing a field.
    Field(DisableField),
    /// Only by deleting it: the source keeps no disabled accounts.
    Delete,
}

/// Which write a write schema is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Create,
    Update,
}

/// What the writes of one resource type accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteSchema {
    pub resource_type: String,
    pub fields: Vec<WriteField>,
    /// For a type of accounts, how one is disabled.
    pub disable: Option<AccountDisable>,
}

impl WriteSchema {
    pub fn new(resource_type: &str, fields: Vec<WriteField>) -> Self {
        Self { resource_type: resource_type.into(), fields, disable: None }
    }

    /// Accounts of this type are disabled by an update writing `field` = `disabled`, enabled by `enabled`.
    pub fn disabled_by(mut self, field: &str, disabled: &str, enabled: &str) -> Self {
        self.disable = Some(AccountDisable::Field(DisableField { field: field.into(), disabled: disabled.into(), enabled: enabled.into() }));
        self
    }

    /// Accounts of this type are disabled only by deleting them.
    pub fn disabled_by_delete(mut self) -> Self {
        self.disable = Some(AccountDisable::Delete);
        self
    }

    pub fn field(&self, name: &str) -> Option<&WriteField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The fields of a `write` (named `what` in errors, `create-account`), trimmed, if the schema accepts them
    /// all: every name declared and writable by that write, one value unless multi-valued, and on a create every
    /// required field present and not blank. Hosts check this before the call, and connectors again.
    pub fn check<'a>(&self, what: &str, write: Write, given: &'a [(String, String)]) -> std::result::Result<Vec<(&'a str, &'a str)>, String> {
        let mut out: Vec<(&str, &str)> = Vec::with_capacity(given.len());
        for (key, value) in given {
            let key = key.trim();
            let Some(field) = self.field(key) else {
                let known = self.fields.iter().filter(|f| f.writable_by(write)).map(|f| f.name.as_str()).collect::<Vec<_>>();
                return Err(format!("{what}: unknown field `{key}` (known: {})", known.join(", ")));
            };
            if !field.writable_by(write) {
                let when = if write == Write::Create { "an update" } else { "a create" };
                return Err(format!("{what}: `{key}` can be set only by {when}"));
            }
            if !field.multi_valued && out.iter().any(|(k, _)| *k == key) {
                return Err(format!("{what}: `{key}` takes one value"));
            }
            out.push((key, value.trim()));
        }
        if write == Write::Create
            && let Some(missing) = self.fields.iter().find(|f| f.required_on_create && !out.iter().any(|(k, v)| *k == f.name && !v.is_empty()))
        {
            return Err(format!("{what} needs `{}`", missing.name));
        }
        Ok(out)
    }
}

impl WriteField {
    /// Whether `write` may set it.
    pub fn writable_by(&self, write: Write) -> bool {
        match self.writes {
            FieldWrites::CreateAndUpdate => true,
            FieldWrites::CreateOnly => write == Write::Create,
            FieldWrites::UpdateOnly => write == Write::Update,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub name: String,
    pub version: String,
    pub description: String,
    pub config_schema: Vec<ConfigField>,
    pub base_url_field: String,
    /// Config fields holding URLs whose origins the component may also reach (without credentials).
    pub extra_origin_fields: Vec<String>,
    pub auth: AuthScheme,
    pub capabilities: Vec<ResourceTypeCapabilities>,
    /// The write schema of each resource type the connector creates or updates.
    pub write_schemas: Vec<WriteSchema>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    Created(Resource),
    AlreadyExists(Resource),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantOutcome {
    Granted(Grant),
    AlreadyExists(Grant),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    Revoked,
    AlreadyRevoked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    DidNotExist,
}
