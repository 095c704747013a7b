//! The SCIM connector: its metadata, and a session's calls over any `HttpClient`.

use std::cell::Cell;

use crate::api::{Endpoint, Features, ListPage, ScimApi};
use crate::config::{self, Config};
use crate::provisioning;
use crate::resources::{self, DEPARTMENT, GROUP, USER, department, group, user};
use connector_sdk::error::{ConnectorError, Result};
use connector_sdk::http::HttpClient;
use connector_sdk::model::*;
use connector_sdk::{Connector, ConnectorSession, page};

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
        }
    }

    fn open<H: HttpClient + 'static>(http: H, config: &[(String, String)], provisioning: bool) -> Result<Session<H>> {
        let config = Config::parse(config)?;
        Ok(Session { api: ScimApi::new(http, config.base_url.clone()), config, provisioning, features: Cell::new(None) })
    }
}

pub struct Session<H> {
    pub(crate) api: ScimApi<H>,
    config: Config,
    provisioning: bool,
    /// `/ServiceProviderConfig`, read once, when a write first needs it.
    features: Cell<Option<Features>>,
}

/// Pages a listing may take at most: a server that never runs dry is stopped, not followed forever.
pub const MAX_PAGES: usize = 1_000_000;

/// Where a listing stands: the next `startIndex`, the page number, whether `totalResults` has proved wrong
/// (then only an empty page ends the listing), and the largest page the server has returned so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    start_index: u64,
    page: usize,
    total_untrusted: bool,
    largest: u64,
}

impl Position {
    const FIRST: Position = Position { start_index: 1, page: 1, total_untrusted: false, largest: 0 };

    fn parse(token: Option<&str>) -> Result<Self> {
        let Some(text) = token else { return Ok(Self::FIRST) };
        let [start_index, page, untrusted, largest] = page::numbers::<4>(text)?;
        if start_index < 1 || page < 1 || untrusted > 1 {
            return Err(page::not_issued(text));
        }
        Ok(Position { start_index: start_index as u64, page, total_untrusted: untrusted == 1, largest: largest as u64 })
    }

    fn token(self) -> String {
        format!("{}:{}:{}:{}", self.start_index, self.page, u8::from(self.total_untrusted), self.largest)
    }

    /// Where the listing goes after `page`, asked with `count` (RFC 7644 §3.4.2.4): on by the number of
    /// resources actually returned. It ends at an empty page, or at a short page that reaches `totalResults`.
    /// A full page that reaches the total is confirmed by asking once more: a total that is too low would
    /// otherwise lose users without a trace. A total the server has exceeded (or never gave) is not believed.
    fn after(self, page: &ListPage, count: u32) -> Option<Position> {
        let returned = page.resources.len() as u64;
        if returned == 0 {
            return None;
        }
        let next = self.start_index + returned;
        let total_untrusted = self.total_untrusted || page.total.is_none_or(|total| next - 1 > total);
        // A server may cap pages below `count`: a full page is the largest it has served.
        let full = if self.largest == 0 { u64::from(count) } else { self.largest.min(u64::from(count)) };
        let reached = page.total.is_some_and(|total| next > total);
        if !total_untrusted && reached && returned < full {
            return None;
        }
        Some(Position { start_index: next, page: self.page + 1, total_untrusted, largest: self.largest.max(returned) })
    }
}

impl<H: HttpClient> Session<H> {
    pub(crate) fn provisioning(&self) -> bool {
        self.provisioning
    }

    pub(crate) fn features(&self) -> Result<Features> {
        if let Some(features) = self.features.get() {
            return Ok(features);
        }
        let features = self.api.features()?;
        self.features.set(Some(features));
        Ok(features)
    }

    /// One page of `endpoint` at `token`: the page and the token of the next one. A server without the
    /// endpoint gives an empty last page.
    fn page(&self, endpoint: Endpoint, token: Option<&str>, attributes: &[String]) -> Result<(Vec<serde_json::Value>, Option<String>)> {
        let at = Position::parse(token)?;
        if at.page > MAX_PAGES {
            return Err(ConnectorError::bad_response(endpoint.path(), format!("still not done after {MAX_PAGES} pages; stopping")));
        }
        let Some(mut listed) = self.api.list(endpoint, at.start_index, self.config.page_size, attributes)? else {
            // A server without /Users is not a SCIM service provider at this URL: never an empty directory.
            if endpoint == Endpoint::Users {
                return Err(not_scim(self.api.base_url()));
            }
            eprintln!("{} is not served (404 or 501): the server has no groups to list", endpoint.path());
            return Ok((Vec::new(), None));
        };
        let next = at.after(&listed, self.config.page_size).map(Position::token);
        // Paging is stateless: the same resource can come twice when the set shifts; keep the first.
        let mut seen = std::collections::HashSet::new();
        listed.resources.retain(|r| seen.insert(r["id"].as_str().unwrap_or_default().to_string()));
        Ok((listed.resources, next))
    }

    fn users_page(&self, token: Option<&str>) -> Result<ResourcePage> {
        let (users, next_token) = self.page(Endpoint::Users, token, &self.config.user_attributes)?;
        let mut resources: Vec<Resource> = users.iter().map(user::resource).collect();
        let (departments, entitlements, grants) = department::from_users(&resources);
        resources.extend(departments);
        Ok(ResourcePage { resources, entitlements, grants, next_token, ..Default::default() })
    }

    /// A groups page with each group's `member` entitlement and the grants of its members. When no group of
    /// the page carries `members`, the server is taken to leave them out of listings, and each group is read.
    fn groups_page(&self, token: Option<&str>) -> Result<ResourcePage> {
        let (mut groups, next_token) = self.page(Endpoint::Groups, token, &[])?;
        if !groups.is_empty() && !groups.iter().any(group::has_members) {
            eprintln!("the server listed {} groups without `members`; reading each group for its members ({} more requests)", groups.len(), groups.len());
            for listed in &mut groups {
                let id = listed["id"].as_str().unwrap_or_default().to_string();
                match self.api.get(Endpoint::Groups, &id, None)? {
                    Some(read) => *listed = read,
                    // Deleted since it was listed: it is not there any more.
                    None => *listed = serde_json::Value::Null,
                }
            }
            groups.retain(|g| !g.is_null());
        }
        let mut out = ResourcePage { next_token, ..Default::default() };
        for g in &groups {
            let resource = group::resource(g);
            out.entitlements.push(group::entitlement(&resource));
            out.grants.extend(group::grants(g));
            out.resources.push(resource);
        }
        Ok(out)
    }
}

impl<H: HttpClient> ConnectorSession for Session<H> {
    /// Users and the departments they name always; groups unless `/ResourceTypes` says the server has no
    /// `/Groups`.
    fn resource_types(&self) -> Result<Vec<ResourceType>> {
        let groups = match self.api.resource_type_endpoints()? {
            Some(endpoints) => endpoints.iter().any(|e| e.eq_ignore_ascii_case(Endpoint::Groups.path())),
            None => true,
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
        let endpoint = endpoint_of(&id.resource_type)?;
        let found = self.api.get(endpoint, &id.id, None)?.ok_or_else(|| ConnectorError::NotFound(format!("{}:{}", id.resource_type, id.id)))?;
        Ok(match endpoint {
            Endpoint::Users => user::resource(&found),
            Endpoint::Groups => group::resource(&found),
        })
    }

    fn create_account(&self, fields: &[(String, String)]) -> Result<CreateOutcome> {
        provisioning::create_user(self, fields)
    }

    fn update_resource(&self, id: &ResourceId, fields: &[(String, String)]) -> Result<Resource> {
        provisioning::update_user(self, id, fields)
    }

    fn create_resource(&self, resource_type: &str, fields: &[(String, String)]) -> Result<CreateOutcome> {
        provisioning::create_group(self, resource_type, fields)
    }

    fn delete_resource(&self, id: &ResourceId) -> Result<DeleteOutcome> {
        provisioning::delete(self, id)
    }

    fn grant(&self, principal: &ResourceId, entitlement: &str) -> Result<GrantOutcome> {
        provisioning::add_member(self, principal, entitlement)
    }

    fn revoke(&self, grant: &Grant) -> Result<RevokeOutcome> {
        provisioning::remove_member(self, grant)
    }
}

fn not_scim(base_url: &str) -> ConnectorError {
    ConnectorError::InvalidConfig(format!("{base_url}/Users is not a SCIM endpoint (404 or 501); check base_url"))
}

pub(crate) fn endpoint_of(resource_type: &str) -> Result<Endpoint> {
    match resource_type {
        USER => Ok(Endpoint::Users),
        GROUP => Ok(Endpoint::Groups),
        other => Err(ConnectorError::NotFound(format!("no resource type `{other}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_sdk::fake::FakeHttp;
    use serde_json::json;

    fn listed(ids: &[&str], total: Option<u64>) -> ListPage {
        ListPage { resources: ids.iter().map(|id| json!({"id": id})).collect(), total }
    }

    #[test]
    fn paging_advances_by_what_came_back_and_stops_at_a_short_page_that_reaches_the_total() {
        // Asked for 100 at a time; the server caps pages at 2, of a total of 5.
        let second = Position::FIRST.after(&listed(&["a", "b"], Some(5)), 100).unwrap();
        assert_eq!(second, Position { start_index: 3, page: 2, total_untrusted: false, largest: 2 });
        let third = second.after(&listed(&["c", "d"], Some(5)), 100).unwrap();
        assert_eq!(third.after(&listed(&["e"], Some(5)), 100), None, "5 of 5 on a short page: done without asking again");
        assert_eq!(Position::parse(Some(&third.token())).unwrap(), third);
        // One short first page that holds everything.
        assert_eq!(Position::FIRST.after(&listed(&["a"], Some(1)), 100), None);
    }

    #[test]
    fn a_full_last_page_is_confirmed_and_a_wrong_total_is_not_believed_again() {
        // 4 of 4 on a full page: ask once more, in case the total is too low.
        let next = Position::FIRST.after(&listed(&["a", "b"], Some(4)), 2).unwrap();
        let confirm = next.after(&listed(&["c", "d"], Some(4)), 2).unwrap();
        assert!(!confirm.total_untrusted);
        assert_eq!(confirm.after(&listed(&[], Some(4)), 2), None);
        // It said 2, then gave 3: only an empty page ends this listing.
        let next = Position::FIRST.after(&listed(&["a", "b", "c"], Some(2)), 10).unwrap();
        assert!(next.total_untrusted);
        let next = next.after(&listed(&["d"], Some(2)), 10).unwrap();
        assert_eq!(next.start_index, 5);
        assert_eq!(next.after(&listed(&[], Some(2)), 10), None);
        // No total at all: the same.
        assert!(Position::FIRST.after(&listed(&["a"], None), 10).unwrap().total_untrusted);
        // A total too high ends at the first empty page.
        assert_eq!(Position::FIRST.after(&listed(&[], Some(90)), 10), None);
    }

    #[test]
    fn tokens_it_did_not_issue_are_refused() {
        for bad in ["0:1:0:0", "1:0:0:0", "1:1:2:0", "x", "1:1:0"] {
            assert!(matches!(Position::parse(Some(bad)), Err(ConnectorError::Internal(_))), "{bad}");
        }
    }

    #[test]
    fn groups_without_members_are_read_one_by_one() {
        let base = "http://scim.test/v2";
        let http = FakeHttp::new()
            .with(&format!("{base}/Groups?startIndex=1&count=100"), 200, json!({"totalResults": 2, "Resources": [{"id": "g1", "displayName": "A"}, {"id": "g2", "displayName": "B"}]}))
            .with(&format!("{base}/Groups/g1"), 200, json!({"id": "g1", "displayName": "A", "members": [{"value": "u1"}]}))
            .with(&format!("{base}/Groups/g2"), 404, json!({"status": "404"}));
        let session = Scim::open(http, &[("base_url".into(), base.into())], false).unwrap();
        let page = session.list_resources("group", None, None).unwrap();
        assert_eq!(page.resources.iter().map(|r| r.id.id.as_str()).collect::<Vec<_>>(), vec!["g1"], "g2 vanished between list and read");
        assert_eq!(page.grants.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), vec!["group:g1:member:user:u1"]);
        assert_eq!(page.next_token, None);
    }
}
