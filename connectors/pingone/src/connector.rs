//! The connector's metadata and its session: the listings (users; populations then roles; groups then each
//! group's walk), the per-user role reads, and validation. Writes are in `provisioning`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use connector_sdk::error::{ConnectorError, Result};
use connector_sdk::http::HttpClient;
use connector_sdk::model::*;
use connector_sdk::{Connector, ConnectorSession, page};

use crate::api::PingOneApi;
use crate::config::{self, Config};
use crate::resources::group::{self, Step, Walk};
use crate::resources::{self, GROUP, POPULATION, USER, population, role, user};

/// Groups and populations per page: PingOne's maximum for them is not documented; 1000 is accepted.
const COLLECTION_PAGE: u32 = 1000;

pub struct PingOne;

impl Connector for PingOne {
    type Session<H: HttpClient + 'static> = Session<H>;

    fn metadata() -> Metadata {
        Metadata {
            name: "pingone".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "PingOne users, groups (static, dynamic, nested), populations and roles, with membership and role grants.".into(),
            config_schema: config::schema(),
            base_url_field: config::API_BASE.into(),
            extra_origin_fields: Vec::new(),
            auth: AuthScheme::OAuth2ClientCredentials(OAuth2ClientCredentials {
                token_url: format!("{{{}}}/{{{}}}/as/token", config::AUTH_BASE, config::AUTH_ENVIRONMENT_ID),
                client_id_field: config::CLIENT_ID.into(),
                client_secret_field: config::CLIENT_SECRET.into(),
                credentials_in: CredentialsPlacement::Basic,
                credentials_in_field: Some(config::TOKEN_AUTH_METHOD.into()),
                grant_type_in: ParameterPlacement::FormBody,
                extra_params: Vec::new(),
            }),
            capabilities: resources::capabilities(),
            write_schemas: resources::write_schemas(),
        }
    }

    fn open<H: HttpClient + 'static>(http: H, config: &[(String, String)], provisioning: bool) -> Result<Session<H>> {
        let config = Config::parse(config)?;
        let api = PingOneApi::new(http, &config.api_base, config.environment_url());
        Ok(Session { api, config, provisioning })
    }
}

pub struct Session<H> {
    api: PingOneApi<H>,
    config: Config,
    provisioning: bool,
}

/// The population listing's token: more populations at `next`, or (none) the roles, which need them all.
#[derive(Debug, Serialize, Deserialize)]
struct PopulationToken {
    populations: Vec<(String, String)>,
    next: Option<String>,
}

/// The group listing's tokens: a further page of groups, or one group's walk.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum GroupToken {
    Groups { next: String },
    Walk(Walk),
}

impl<H: HttpClient> Session<H> {
    fn users_page(&self, token: Option<&str>) -> Result<ResourcePage> {
        let url = match token {
            None => self.api.first_page_url("/users", &format!("limit={}", self.config.page_size)),
            Some(link) => link.to_string(),
        };
        let context = "GET /users";
        let page = self.api.page(&url, "users", context)?;
        let mut out = ResourcePage { next_token: page.next, ..Default::default() };
        for record in &page.items {
            let resource = user::resource(record, context)?;
            out.grants.extend(user::population_grant(record, &resource.id.id));
            out.resources.push(resource);
        }
        Ok(out)
    }

    fn populations_page(&self, token: Option<&str>) -> Result<ResourcePage> {
        let (mut populations, url) = match token.map(page::from_json::<PopulationToken>).transpose()? {
            None => (Vec::new(), Some(self.api.first_page_url("/populations", &format!("limit={COLLECTION_PAGE}")))),
            Some(PopulationToken { populations, next }) => (populations, next),
        };
        let Some(url) = url else { return self.roles_page(&populations) };
        let context = "GET /populations";
        let page = self.api.page(&url, "populations", context)?;
        let mut out = ResourcePage::default();
        for record in &page.items {
            let (resource, entitlement) = population::resource(record, context)?;
            populations.push((resource.id.id.clone(), resource.display_name.clone()));
            out.resources.push(resource);
            out.entitlements.push(entitlement);
        }
        out.next_token = Some(page::to_json(&PopulationToken { populations, next: page.next }));
        Ok(out)
    }

    /// The environment's roles (custom, and built-in where it lists them) and the built-in ones from
    /// `/v1/roles` when it does not: whether the environment's list has the built-ins is not documented.
    fn roles_page(&self, populations: &[(String, String)]) -> Result<ResourcePage> {
        let context = "GET /roles";
        let mut records = self.api.all(&self.api.url("/roles"), "roles", context)?;
        if !records.iter().any(|r| r["type"].as_str() == Some("PLATFORM")) {
            records.extend(self.api.platform_roles()?);
        }
        let mut out = ResourcePage::default();
        for record in &records {
            let (resource, entitlements) = role::resource(record, &self.config.environment_id, populations, context)?;
            out.resources.push(resource);
            out.entitlements.extend(entitlements);
        }
        Ok(out)
    }

    fn groups_page(&self, token: Option<&str>) -> Result<ResourcePage> {
        let url = match token.map(page::from_json::<GroupToken>).transpose()? {
            None => self.api.first_page_url("/groups", &format!("limit={COLLECTION_PAGE}&include=totalMemberCounts")),
            Some(GroupToken::Groups { next }) => next,
            Some(GroupToken::Walk(walk)) => return self.walk_page(walk),
        };
        let context = "GET /groups";
        let page = self.api.page(&url, "groups", context)?;
        let mut out = ResourcePage::default();
        let mut groups = Vec::new();
        let mut nesting_shown = false;
        for record in &page.items {
            let (resource, entitlement, indirect) = group::resource(record, context)?;
            nesting_shown |= indirect;
            groups.push((resource.id.id.clone(), resources::text(record, "userFilter").is_some()));
            out.resources.push(resource);
            out.entitlements.push(entitlement);
        }
        // Over several pages of groups, a parent and its child may be on different pages: read every group's
        // nesting then.
        let read_nesting = nesting_shown || token.is_some() || page.next.is_some();
        out.independent_tokens = groups.iter().map(|(id, dynamic)| page::to_json(&GroupToken::Walk(Walk::start(id, *dynamic, read_nesting)))).collect();
        out.next_token = page.next.map(|next| page::to_json(&GroupToken::Groups { next }));
        Ok(out)
    }

    /// One step of a group's walk: its nesting, a page of its members, or its role assignments.
    fn walk_page(&self, walk: Walk) -> Result<ResourcePage> {
        let mut out = ResourcePage::default();
        let group_path = format!("/groups/{}", connector_sdk::http::percent_encode(&walk.group));
        let next = match &walk.step {
            Step::Nesting => {
                let context = "GET /groups/{id}/memberOfGroups";
                let memberships = self.api.all(&self.api.url(&format!("{group_path}/memberOfGroups")), "groupMemberships", context)?;
                let (grants, ancestors) = group::nesting(&walk.group, &memberships);
                out.grants = grants;
                Some(Walk { ancestors, ..walk.at(Step::Members { next: None }) })
            }
            Step::Members { next } => {
                let url = match next {
                    Some(link) => link.clone(),
                    None => self.api.first_page_url("/users", &format!("filter={}&limit={}", member_filter(&walk.group), self.config.page_size)),
                };
                let context = "GET /users?filter=memberOfGroups";
                let page = self.api.page(&url, "users", context)?;
                out.grants = group::member_grants(&walk, &page.items, context)?;
                match page.next {
                    Some(next) => Some(walk.at(Step::Members { next: Some(next) })),
                    None => self.config.role_grants.then(|| walk.at(Step::Roles)),
                }
            }
            Step::Roles => {
                let principal = ResourceId::new(GROUP, &walk.group);
                let (grants, entitlements) = self.role_grants(&format!("{group_path}/roleAssignments"), principal)?;
                (out.grants, out.entitlements) = (grants, entitlements);
                None
            }
        };
        out.next_token = next.map(|walk| page::to_json(&GroupToken::Walk(walk)));
        Ok(out)
    }

    /// A principal's own role assignments (`path`: `/users/{id}/roleAssignments`) as grants, with the
    /// entitlements of scopes no listing enumerates.
    fn role_grants(&self, path: &str, principal: ResourceId) -> Result<(Vec<Grant>, Vec<Entitlement>)> {
        let context = format!("GET /{}s/{{id}}/roleAssignments", principal.resource_type);
        let assignments = self.api.all(&self.api.url(&format!("{path}?expand=role")), "roleAssignments", &context)?;
        let mut grants = Vec::new();
        let mut entitlements = Vec::new();
        for assignment in &assignments {
            if let Some((grant, extra)) = role::grant(assignment, principal.clone(), &self.config.environment_id) {
                grants.push(grant);
                entitlements.extend(extra);
            }
        }
        Ok((grants, entitlements))
    }
}

/// `memberOfGroups[id eq "<id>"]`, encoded for a query string.
pub(crate) fn member_filter(group_id: &str) -> String {
    let quoted = Value::String(group_id.to_string());
    connector_sdk::http::percent_encode(&format!("memberOfGroups[id eq {quoted}]"))
}

impl<H: HttpClient> ConnectorSession for Session<H> {
    fn resource_types(&self) -> Result<Vec<ResourceType>> {
        Ok(resources::resource_types())
    }

    fn validate(&self) -> Result<String> {
        let url = self.api.first_page_url("/users", "limit=1");
        match self.api.page(&url, "users", "GET /users?limit=1") {
            Ok(_) => Ok(format!("PingOne environment {} (users readable)", self.config.environment_id)),
            // PingOne answers 403 for an environment the app does not belong to.
            Err(ConnectorError::PermissionDenied(message)) => Err(ConnectorError::InvalidConfig(format!(
                "environment `{}` refused the worker app ({message}); check environment_id, and that the app has a role such as Identity Data Read Only there",
                self.config.environment_id
            ))),
            Err(other) => Err(other),
        }
    }

    fn list_resources(&self, resource_type: &str, _parent: Option<&ResourceId>, token: Option<&str>) -> Result<ResourcePage> {
        let page = match resource_type {
            USER => self.users_page(token),
            POPULATION => self.populations_page(token),
            GROUP => self.groups_page(token),
            other => return Err(ConnectorError::Unsupported(format!("resource type `{other}` is not listed on its own"))),
        };
        page.map_err(|e| self.explain_environment(e))
    }

    /// A user's role grants (one request per user: PingOne has no bulk read of assignments).
    fn list_grants(&self, resource: &ResourceId, token: Option<&str>) -> Result<GrantPage> {
        if resource.resource_type != USER {
            return Err(ConnectorError::Unsupported(format!("grants of `{}` come with its listing", resource.resource_type)));
        }
        if let Some(token) = token {
            return Err(page::not_issued(token));
        }
        if !self.config.role_grants {
            return Ok(GrantPage::default());
        }
        let path = format!("/users/{}/roleAssignments", connector_sdk::http::percent_encode(&resource.id));
        match self.role_grants(&path, resource.clone()) {
            Ok((grants, entitlements)) => Ok(GrantPage { grants, entitlements, next_token: None }),
            // A user deleted since the listing has no assignments left to report.
            Err(ConnectorError::NotFound(_)) => Ok(GrantPage::default()),
            Err(e) => Err(self.explain_environment(e)),
        }
    }

    fn get_resource(&self, id: &ResourceId) -> Result<Resource> {
        if id.resource_type != USER {
            return Err(ConnectorError::Unsupported(format!("get-resource reads users only, not `{}`", id.resource_type)));
        }
        user::read(&self.api, &id.id)
    }

    fn grant(&self, principal: &ResourceId, entitlement: &str) -> Result<GrantOutcome> {
        crate::provisioning::grant(self.provisioning()?, principal, entitlement)
    }

    fn revoke(&self, grant: &Grant) -> Result<RevokeOutcome> {
        crate::provisioning::revoke(self.provisioning()?, grant)
    }

    fn create_account(&self, fields: &[(String, String)]) -> Result<CreateOutcome> {
        crate::provisioning::create_account(self.provisioning()?, fields)
    }

    fn update_resource(&self, id: &ResourceId, fields: &[(String, String)]) -> Result<Resource> {
        crate::provisioning::update_user(self.provisioning()?, id, fields)
    }

    fn delete_resource(&self, id: &ResourceId) -> Result<DeleteOutcome> {
        crate::provisioning::delete_user(self.provisioning()?, id)
    }
}

impl<H: HttpClient> Session<H> {
    /// The API client for a write, if the host opened this session for writing.
    fn provisioning(&self) -> Result<&PingOneApi<H>> {
        if self.provisioning { Ok(&self.api) } else { Err(ConnectorError::ProvisioningDisabled) }
    }

    /// PingOne answers 403 for a wrong environment id: say so, on any call.
    fn explain_environment(&self, e: ConnectorError) -> ConnectorError {
        match e {
            ConnectorError::PermissionDenied(message) => ConnectorError::PermissionDenied(format!(
                "{message}; PingOne answers this for an environment the worker app is not in (environment_id `{}`) or lacks a role for",
                self.config.environment_id
            )),
            other => other,
        }
    }
}
