//! The SCIM connector: its metadata, and a session's calls over any `HttpClient`.

use crate::api::{Endpoint, ScimApi};
use crate::paging::{At, FollowUps};
use crate::config::{self, Config};
use crate::provisioning;
use crate::resources::{self, DEPARTMENT, GROUP, USER, department, group, user};
use connector_sdk::error::{ConnectorError, Result};
use connector_sdk::http::HttpClient;
use connector_sdk::model::*;
use connector_sdk::{Connector, ConnectorSession};

/// The connector, as the SDK exports it.
pub struct Scim;

impl Connector for Scim {
    type Session<H: HttpClient + 'static> = Session<H>;

    fn metadata() -> Metadata {
        Metadata {
            name: "scim".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Users, groups and group membership of any SCIM 2.0 service provider (RFC 7643/7644), with provisioning.".into(),
            config_schema: config::schema(),
            base_url_field: config::BASE_URL.into(),
            extra_origin_fields: Vec::new(),
            auth: AuthScheme::Bearer(config::TOKEN.into()),
            capabilities: resources::capabilities(),
            write_schemas: resources::write_schemas(),
        }
    }

    fn open<H: HttpClient + 'static>(http: H, config: &[(String, String)], provisioning: bool) -> Result<Session<H>> {
        let config = Config::parse(config)?;
        Ok(Session { api: ScimApi::new(http, config.base_url.clone()), config, provisioning })
    }
}

pub struct Session<H> {
    api: ScimApi<H>,
    config: Config,
    provisioning: bool,
}

impl<H: HttpClient> Session<H> {
    /// The API client for a write, if the host opened this session for writing.
    fn provisioning(&self) -> Result<&ScimApi<H>> {
        if self.provisioning { Ok(&self.api) } else { Err(ConnectorError::ProvisioningDisabled) }
    }

    /// One page of `endpoint` at `token`, and the tokens that follow it (see `paging`). A server without
    /// the endpoint gives an empty last page.
    fn page(&self, endpoint: Endpoint, token: Option<&str>, attributes: &[String]) -> Result<(Vec<serde_json::Value>, FollowUps)> {
        let at = At::parse(token)?;
        let (start_index, count) = at.request(self.config.page_size);
        let Some(mut listed) = self.api.list(endpoint, start_index, count, attributes)? else {
            // A server without /Users is not a SCIM service provider at this URL: never an empty directory.
            if endpoint == Endpoint::Users {
                return Err(not_scim(self.api.base_url()));
            }
            eprintln!("{} is not served (404 or 501): the server has no groups to list", endpoint.path());
            return Ok((Vec::new(), FollowUps::default()));
        };
        let follow_ups = at.follow_ups(&listed, self.config.page_size)?;
        // Paging is stateless: the same resource can come twice when the set shifts; keep the first.
        let mut seen = std::collections::HashSet::new();
        listed.resources.retain(|r| seen.insert(r["id"].as_str().unwrap_or_default().to_string()));
        Ok((listed.resources, follow_ups))
    }

    fn users_page(&self, token: Option<&str>) -> Result<ResourcePage> {
        let (users, follow) = self.page(Endpoint::Users, token, &self.config.user_attributes)?;
        let mut resources: Vec<Resource> = users.iter().map(user::resource).collect();
        let (departments, entitlements, grants) = department::from_users(&resources);
        resources.extend(departments);
        Ok(ResourcePage { resources, entitlements, grants, next_token: follow.next, independent_tokens: follow.independent })
    }

    /// A groups page with each group's `member` entitlement and the grants of its members. When no group of
    /// the page carries `members`, the server is taken to leave them out of listings: each group is then a page
    /// of its own (`READ` and its id), read by a call of its own, which the host repeats, checkpoints and
    /// resumes on its own and runs beside the others. Such a listing costs its pages and one read per group.
    fn groups_page(&self, token: Option<&str>) -> Result<ResourcePage> {
        if let Some(id) = token.and_then(|t| t.strip_prefix(READ)) {
            return self.group_read(id);
        }
        let (groups, follow) = self.page(Endpoint::Groups, token, &[])?;
        let mut out = ResourcePage { next_token: follow.next, independent_tokens: follow.independent, ..Default::default() };
        if !groups.is_empty() && !groups.iter().any(group::has_members) {
            eprintln!("the server listed {} groups without `members`; reading each group for its members ({} more requests)", groups.len(), groups.len());
            let ids = groups.iter().filter_map(|g| g["id"].as_str().filter(|id| !id.is_empty()));
            out.independent_tokens.extend(ids.map(|id| format!("{READ}{id}")));
            return Ok(out);
        }
        for g in &groups {
            add_group(&mut out, g);
        }
        Ok(out)
    }

    /// One group read for its members; a group deleted since it was listed is not there any more.
    fn group_read(&self, id: &str) -> Result<ResourcePage> {
        if id.is_empty() {
            return Err(connector_sdk::page::not_issued(READ));
        }
        let mut out = ResourcePage::default();
        if let Some(read) = self.api.get(Endpoint::Groups, id, None)? {
            add_group(&mut out, &read);
        }
        Ok(out)
    }
}

/// The token prefix of a group's own page (`groups_page`).
const READ: &str = "read:";

/// A group, its `member` entitlement and its members' grants, onto `page`.
fn add_group(page: &mut ResourcePage, g: &serde_json::Value) {
    let resource = group::resource(g);
    page.entitlements.push(group::entitlement(&resource));
    page.grants.extend(group::grants(g));
    page.resources.push(resource);
}

impl<H: HttpClient> ConnectorSession for Session<H> {
    /// Users and the departments they name always; groups unless `/ResourceTypes` says the server has no
    /// `/Groups`. A server without `/ResourceTypes` costs one more request, to check the base URL.
    fn resource_types(&self) -> Result<Vec<ResourceType>> {
        let groups = match self.api.resource_type_endpoints()? {
            Some(endpoints) => endpoints.iter().any(|e| e.eq_ignore_ascii_case(Endpoint::Groups.path())),
            None => {
                // No discovery here: check the base URL with one empty page of users, so a wrong one fails
                // now, in one line, and a missing /Groups later can only mean the server has none.
                self.api.list(Endpoint::Users, 1, 0, &[])?.ok_or_else(|| not_scim(self.api.base_url()))?;
                true
            }
        };
        let mut types = vec![resources::resource_type(USER), resources::resource_type(DEPARTMENT)];
        if groups {
            types.push(resources::resource_type(GROUP));
        } else {
            eprintln!("the server's /ResourceTypes has no /Groups: users only");
        }
        Ok(types)
    }

    fn list_resources(&self, resource_type: &str, parent: Option<&ResourceId>, token: Option<&str>) -> Result<ResourcePage> {
        if parent.is_some() {
            return Ok(ResourcePage::default());
        }
        match resource_type {
            USER => self.users_page(token),
            GROUP => self.groups_page(token),
            other => Err(ConnectorError::NotFound(format!("no resource type `{other}`"))),
        }
    }

    fn validate(&self) -> Result<String> {
        let page = self.api.list(Endpoint::Users, 1, 1, &[])?.ok_or_else(|| not_scim(self.api.base_url()))?;
        let users = page.total.map_or("an unknown number of".to_string(), |n| n.to_string());
        Ok(format!("SCIM service provider at {}: {users} users", self.api.base_url()))
    }

    fn get_resource(&self, id: &ResourceId) -> Result<Resource> {
        resources::read(&self.api, id)
    }

    fn create_account(&self, fields: &[(String, String)]) -> Result<CreateOutcome> {
        provisioning::create_user(self.provisioning()?, fields)
    }

    fn update_resource(&self, id: &ResourceId, fields: &[(String, String)]) -> Result<Resource> {
        provisioning::update_user(self.provisioning()?, id, fields)
    }

    fn create_resource(&self, resource_type: &str, fields: &[(String, String)]) -> Result<CreateOutcome> {
        provisioning::create_group(self.provisioning()?, resource_type, fields)
    }

    fn delete_resource(&self, id: &ResourceId) -> Result<DeleteOutcome> {
        provisioning::delete(self.provisioning()?, id)
    }

    fn grant(&self, principal: &ResourceId, entitlement: &str) -> Result<GrantOutcome> {
        provisioning::add_member(self.provisioning()?, principal, entitlement)
    }

    fn revoke(&self, grant: &Grant) -> Result<RevokeOutcome> {
        provisioning::remove_member(self.provisioning()?, grant)
    }
}

fn not_scim(base_url: &str) -> ConnectorError {
    ConnectorError::InvalidConfig(format!("{base_url}/Users is not a SCIM endpoint (404 or 501); check base_url"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_sdk::fake::FakeHttp;
    use serde_json::json;

    #[test]
    fn groups_without_members_are_each_a_page_of_their_own() {
        let base = "http://scim.test/v2";
        let http = FakeHttp::new()
            .with(&format!("{base}/Groups?startIndex=1&count=100"), 200, json!({"totalResults": 2, "Resources": [{"id": "g1", "displayName": "A"}, {"id": "g2", "displayName": "B"}]}))
            .with(&format!("{base}/Groups/g1"), 200, json!({"id": "g1", "displayName": "A", "members": [{"value": "u1"}]}))
            .with(&format!("{base}/Groups/g2"), 404, json!({"status": "404"}));
        let session = Scim::open(http, &[("base_url".into(), base.into())], false).unwrap();
        let listing = session.list_resources("group", None, None).unwrap();
        assert_eq!((listing.resources.len(), listing.grants.len(), listing.next_token), (0, 0, None), "the listing only hands out the reads");
        assert_eq!(listing.independent_tokens, vec!["read:g1", "read:g2"]);
        let g1 = session.list_resources("group", None, Some("read:g1")).unwrap();
        assert_eq!(g1.resources.iter().map(|r| r.id.id.as_str()).collect::<Vec<_>>(), vec!["g1"]);
        assert_eq!(g1.entitlements.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), vec!["group:g1:member"]);
        assert_eq!(g1.grants.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), vec!["group:g1:member:user:u1"]);
        assert_eq!((g1.next_token, g1.independent_tokens.len()), (None, 0));
        let g2 = session.list_resources("group", None, Some("read:g2")).unwrap();
        assert_eq!((g2.resources.len(), g2.grants.len()), (0, 0), "g2 vanished between list and read");
        assert!(matches!(session.list_resources("group", None, Some("read:")), Err(ConnectorError::Internal(_))));
    }
}
