//! The connector's calls as plain Rust over any `HttpClient`: what the component exports, minus the WIT glue.

use serde_json::Value;

use crate::api::{Collection, Listing, PingboardApi};
use crate::config::{self, Config};
use crate::error::{ConnectorError, Result};
use crate::http::HttpClient;
use crate::model::*;
use crate::resources::{self, DEPARTMENT, GROUP, GROUP_LIKE, LOCATION, USER, group, user};

pub fn metadata() -> Metadata {
    Metadata {
        name: "pingboard",
        version: env!("CARGO_PKG_VERSION"),
        description: "Pingboard users, groups, locations and departments, with group membership.",
        config_schema: config::schema(),
        base_url_field: config::BASE_URL,
        auth: AuthScheme::OAuth2ClientCredentials(OAuth2ClientCredentials {
            token_path: "/oauth/token",
            client_id_field: config::CLIENT_ID,
            client_secret_field: config::CLIENT_SECRET,
            credentials_in: CredentialsPlacement::FormBody,
            grant_type_in: ParameterPlacement::Query,
            extra_params: Vec::new(),
        }),
        capabilities: resources::capabilities(),
    }
}

pub struct Session<H> {
    api: PingboardApi<H>,
    provisioning: bool,
}

impl<H: HttpClient> Session<H> {
    pub fn open(http: H, config: &[(String, String)], provisioning: bool) -> Result<Self> {
        let config = Config::parse(config)?;
        Ok(Self { api: PingboardApi::new(http, config.base_url, config.page_size), provisioning })
    }

    /// One request: the first user, which proves the token works and the account can read users.
    pub fn validate(&self) -> Result<String> {
        let listing = self.api.list_sized(Collection::Users, 1, 1)?;
        Ok(format!("Pingboard API reachable; {} users visible", listing.count))
    }

    pub fn resource_types(&self) -> Vec<ResourceType> {
        resources::resource_types()
    }

    /// `user` pages through `/users`. `group` pages through `/groups` and returns groups, locations and
    /// departments together with their member entitlements and grants; `location` and `department` are
    /// therefore listed with `group` (see capabilities) and list nothing on their own.
    pub fn list_resources(&self, resource_type: &str, parent: Option<&ResourceId>, token: Option<&str>) -> Result<ResourcePage> {
        if parent.is_some() {
            return Ok(ResourcePage::default()); // Pingboard resources have no parents.
        }
        let page = parse_token(token)?;
        match resource_type {
            USER => {
                let listing = self.api.list(Collection::Users, page)?;
                let context = format!("GET /api/v2/users page {page}");
                let resources = listing.records.iter().map(|r| user::to_resource(r, &context)).collect::<Result<_>>()?;
                Ok(ResourcePage { resources, next_token: next_token(&listing), ..Default::default() })
            }
            GROUP => {
                let listing = self.api.list(Collection::Groups, page)?;
                let context = format!("GET /api/v2/groups page {page}");
                let mut out = ResourcePage { next_token: next_token(&listing), ..Default::default() };
                for record in &listing.records {
                    let resource = group::to_resource(record, &context)?;
                    out.entitlements.push(group::member_entitlement(&resource.id, &resource.display_name));
                    out.grants.extend(group::member_grants(&resource.id, record));
                    out.resources.push(resource);
                }
                Ok(out)
            }
            LOCATION | DEPARTMENT => Ok(ResourcePage::default()),
            other => Err(unknown_type(other)),
        }
    }

    pub fn list_entitlements(&self, resource: &ResourceId, _token: Option<&str>) -> Result<EntitlementPage> {
        match resource.resource_type.as_str() {
            USER => Ok(EntitlementPage::default()),
            t if GROUP_LIKE.contains(&t) => {
                let found = self.get_group(resource)?;
                Ok(EntitlementPage { entitlements: vec![group::member_entitlement(resource, &found.1.display_name)], next_token: None })
            }
            other => Err(unknown_type(other)),
        }
    }

    pub fn list_grants(&self, resource: &ResourceId, _token: Option<&str>) -> Result<GrantPage> {
        match resource.resource_type.as_str() {
            USER => Ok(GrantPage::default()),
            t if GROUP_LIKE.contains(&t) => {
                let (record, _) = self.get_group(resource)?;
                Ok(GrantPage { grants: group::member_grants(resource, &record), next_token: None })
            }
            other => Err(unknown_type(other)),
        }
    }

    pub fn get_resource(&self, id: &ResourceId) -> Result<Resource> {
        match id.resource_type.as_str() {
            USER => {
                let context = format!("GET /api/v2/users/{}", id.id);
                let record = self.api.get(Collection::Users, &id.id)?.ok_or_else(|| not_found(id))?;
                user::to_resource(&record, &context)
            }
            t if GROUP_LIKE.contains(&t) => Ok(self.get_group(id)?.1),
            other => Err(unknown_type(other)),
        }
    }

    /// Writes land with the provisioning work; until then they refuse clearly, after the provisioning gate.
    pub fn write_gate(&self, what: &str) -> Result<()> {
        if !self.provisioning {
            return Err(ConnectorError::ProvisioningDisabled);
        }
        Err(ConnectorError::Unsupported(format!("{what} is not implemented by this connector version")))
    }

    /// A group-like resource of the requested type; a group of another type is not found.
    fn get_group(&self, id: &ResourceId) -> Result<(Value, Resource)> {
        let context = format!("GET /api/v2/groups/{}", id.id);
        let record = self.api.get(Collection::Groups, &id.id)?.ok_or_else(|| not_found(id))?;
        let resource = group::to_resource(&record, &context)?;
        if resource.id.resource_type != id.resource_type {
            return Err(not_found(id));
        }
        Ok((record, resource))
    }
}

fn parse_token(token: Option<&str>) -> Result<u32> {
    match token {
        None => Ok(1),
        Some(t) => t
            .parse::<u32>()
            .ok()
            .filter(|&p| p >= 1)
            .ok_or_else(|| ConnectorError::Internal(format!("`{t}` is not a page token this connector issued"))),
    }
}

fn next_token(listing: &Listing) -> Option<String> {
    listing.next_page().map(|p| p.to_string())
}

fn unknown_type(resource_type: &str) -> ConnectorError {
    ConnectorError::NotFound(format!("unknown resource type `{resource_type}` (expected user, group, location or department)"))
}

fn not_found(id: &ResourceId) -> ConnectorError {
    ConnectorError::NotFound(format!("{} {}", id.resource_type, id.id))
}
