//! The Pingboard connector: its metadata, and a session's calls over any `HttpClient`.

use std::cell::RefCell;

use serde_json::Value;

use crate::api::{Collection, Listing, PingboardApi};
use crate::config::{self, Config};
use connector_sdk::error::{ConnectorError, Result};
use connector_sdk::http::HttpClient;
use connector_sdk::model::*;
use connector_sdk::{Connector, ConnectorSession, page};
use crate::provisioning;
use crate::resources::{self, DEPARTMENT, GROUP, GROUP_LIKE, LOCATION, USER, group, user};

/// The connector, as the SDK exports it.
pub struct Pingboard;

impl Connector for Pingboard {
    type Session<H: HttpClient + 'static> = Session<H>;

    fn metadata() -> Metadata {
        Metadata {
            name: "pingboard".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Pingboard users, groups, locations and departments, with group membership.".into(),
            config_schema: config::schema(),
            base_url_field: config::BASE_URL.into(),
            extra_origin_fields: Vec::new(),
            auth: AuthScheme::OAuth2ClientCredentials(OAuth2ClientCredentials {
                token_url: "/oauth/token".into(),
                client_id_field: config::CLIENT_ID.into(),
                client_secret_field: config::CLIENT_SECRET.into(),
                credentials_in: CredentialsPlacement::FormBody,
                credentials_in_field: None,
                grant_type_in: ParameterPlacement::Query,
                extra_params: Vec::new(),
            }),
            capabilities: resources::capabilities(),
            write_schemas: resources::write_schemas(),
        }
    }

    fn open<H: HttpClient + 'static>(http: H, config: &[(String, String)], provisioning: bool) -> Result<Session<H>> {
        Session::open(http, config, provisioning)
    }
}


pub struct Session<H> {
    api: PingboardApi<H>,
    provisioning: bool,
    /// The groups page whose grants are being returned over several calls (see `GRANTS_PER_CALL`).
    groups_page: RefCell<Option<GroupsPage>>,
}

/// Grants returned by one call at most. A groups page carries every member list of its groups (a location of a
/// large company has tens of thousands), so its grants come back over as many calls as needed, each with a
/// token `page:record:member` saying where to go on. The guest's memory stays at one raw page plus one chunk.
pub const GRANTS_PER_CALL: usize = 20_000;

struct GroupsPage {
    page: u32,
    listing: Listing,
    next_page: Option<u32>,
}

/// A listing page and whether the listing goes on from it. The first page (no token) hands back every other
/// page as an independent token `k/N`, which the host may fetch in any order and at once; such a page ends
/// there. A bare `k` (as issued before independent tokens) goes on to page k + 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PageAt {
    page: u32,
    alone: bool,
}

impl PageAt {
    fn parse(token: Option<&str>) -> Result<Self> {
        match token {
            None => Ok(PageAt { page: 1, alone: true }),
            Some(text) => match text.split_once('/') {
                Some((page, _count)) => Ok(PageAt { page: page::number(Some(page)).map_err(|_| page::not_issued(text))?, alone: true }),
                None => Ok(PageAt { page: page::number(Some(text))?, alone: false }),
            },
        }
    }

    /// The token of the page after this one, if the listing goes on from here.
    fn next(self, listing: &Listing) -> Option<u32> {
        if self.alone { None } else { listing.next_page() }
    }

    /// The pages after the first, for the host to fetch independently.
    fn independent(self, listing: &Listing) -> Vec<String> {
        match (self.page, self.alone) {
            (1, true) => (2..=listing.page_count).map(|k| format!("{k}/{}", listing.page_count)).collect(),
            _ => Vec::new(),
        }
    }
}

/// Where a groups listing goes on: a fresh page, or the grants of a page from a record and a member on.
#[derive(Debug, PartialEq, Eq)]
enum GroupsToken {
    Page(PageAt),
    Grants { at: PageAt, record: usize, member: usize },
}

impl GroupsToken {
    fn parse(token: Option<&str>) -> Result<Self> {
        match token {
            Some(text) if text.contains(':') => {
                // `page:record:member`, and `:1` when the page was fetched alone.
                let (numbers, alone) = match text.matches(':').count() {
                    3 => {
                        let [page, record, member, alone] = page::numbers::<4>(text)?;
                        ([page, record, member], alone == 1)
                    }
                    _ => (page::numbers::<3>(text)?, false),
                };
                let [page, record, member] = numbers;
                let page = u32::try_from(page).ok().filter(|&p| p >= 1).ok_or_else(|| page::not_issued(text))?;
                Ok(Self::Grants { at: PageAt { page, alone }, record, member })
            }
            token => Ok(Self::Page(PageAt::parse(token)?)),
        }
    }
}

impl<H: HttpClient> Session<H> {
    pub fn open(http: H, config: &[(String, String)], provisioning: bool) -> Result<Self> {
        let config = Config::parse(config)?;
        Ok(Self { api: PingboardApi::new(http, config.base_url, config.page_size), provisioning, groups_page: RefCell::new(None) })
    }
}

impl<H: HttpClient> ConnectorSession for Session<H> {
    /// One request: the first user, which proves the token works and the account can read users.
    fn validate(&self) -> Result<String> {
        let listing = self.api.list_sized(Collection::Users, 1, 1)?;
        Ok(format!("Pingboard API reachable; {} users visible", listing.count))
    }

    fn resource_types(&self) -> Result<Vec<ResourceType>> {
        Ok(resources::resource_types())
    }

    /// `user` pages through `/users`. `group` pages through `/groups` and returns groups, locations and
    /// departments together with their member entitlements and grants; `location` and `department` are
    /// therefore listed with `group` (see capabilities) and list nothing on their own.
    fn list_resources(&self, resource_type: &str, parent: Option<&ResourceId>, token: Option<&str>) -> Result<ResourcePage> {
        if parent.is_some() {
            return Ok(ResourcePage::default()); // Pingboard resources have no parents.
        }
        match resource_type {
            USER => {
                let at = PageAt::parse(token)?;
                let listing = self.api.list(Collection::Users, at.page)?;
                let context = format!("GET /api/v2/users page {}", at.page);
                let resources = listing
                    .records()
                    .map(|raw| user::from_text(raw, &context))
                    .collect::<Result<_>>()?;
                let next_token = at.next(&listing).map(page::of_number);
                Ok(ResourcePage { resources, next_token, independent_tokens: at.independent(&listing), ..Default::default() })
            }
            GROUP => self.list_groups(GroupsToken::parse(token)?),
            LOCATION | DEPARTMENT => Ok(ResourcePage::default()),
            other => Err(unknown_type(other)),
        }
    }

    fn list_entitlements(&self, resource: &ResourceId, _token: Option<&str>) -> Result<EntitlementPage> {
        match resource.resource_type.as_str() {
            USER => Ok(EntitlementPage::default()),
            t if GROUP_LIKE.contains(&t) => {
                let found = self.get_group(resource)?;
                Ok(EntitlementPage { entitlements: vec![group::member_entitlement(resource, &found.1.display_name)], next_token: None })
            }
            other => Err(unknown_type(other)),
        }
    }

    fn list_grants(&self, resource: &ResourceId, _token: Option<&str>) -> Result<GrantPage> {
        match resource.resource_type.as_str() {
            USER => Ok(GrantPage::default()),
            t if GROUP_LIKE.contains(&t) => {
                let (record, _) = self.get_group(resource)?;
                Ok(GrantPage { grants: group::member_grants(resource, &record), ..Default::default() })
            }
            other => Err(unknown_type(other)),
        }
    }

    fn get_resource(&self, id: &ResourceId) -> Result<Resource> {
        match id.resource_type.as_str() {
            USER => {
                let context = format!("GET /api/v2/users/{}", id.id);
                let record = self.api.get(Collection::Users, &id.id)?.ok_or_else(|| not_found(id))?;
                user::from_value(&record, &context)
            }
            t if GROUP_LIKE.contains(&t) => Ok(self.get_group(id)?.1),
            other => Err(unknown_type(other)),
        }
    }

    fn create_account(&self, fields: &[(String, String)]) -> Result<CreateOutcome> {
        provisioning::create_account(self.provisioning()?, fields)
    }

    fn update_resource(&self, id: &ResourceId, fields: &[(String, String)]) -> Result<Resource> {
        provisioning::update_resource(self.provisioning()?, id, fields)
    }

    fn create_resource(&self, resource_type: &str, fields: &[(String, String)]) -> Result<CreateOutcome> {
        provisioning::create_resource(self.provisioning()?, resource_type, fields)
    }

    fn delete_resource(&self, id: &ResourceId) -> Result<DeleteOutcome> {
        provisioning::delete_resource(self.provisioning()?, id)
    }

    fn grant(&self, principal: &ResourceId, entitlement: &str) -> Result<GrantOutcome> {
        provisioning::grant(self.provisioning()?, principal, entitlement)
    }

    fn revoke(&self, grant: &Grant) -> Result<RevokeOutcome> {
        provisioning::revoke(self.provisioning()?, grant)
    }
}

impl<H: HttpClient> Session<H> {
    /// A groups page: its resources and entitlements on the first call, then its grants, at most
    /// `GRANTS_PER_CALL` a call, before the listing moves to the next page.
    fn list_groups(&self, token: GroupsToken) -> Result<ResourcePage> {
        let mut out = ResourcePage::default();
        let (at, start) = match token {
            GroupsToken::Page(at) => {
                let listing = self.api.list(Collection::Groups, at.page)?;
                let context = format!("GET /api/v2/groups page {}", at.page);
                for raw in listing.records() {
                    let resource = group::to_resource(&group::fields_of_text(raw, &context)?, &context)?;
                    out.entitlements.push(group::member_entitlement(&resource.id, &resource.display_name));
                    out.resources.push(resource);
                }
                out.independent_tokens = at.independent(&listing);
                *self.groups_page.borrow_mut() = Some(GroupsPage { page: at.page, next_page: at.next(&listing), listing });
                (at, (0, 0))
            }
            GroupsToken::Grants { at, record, member } => {
                // A resumed sync, or another instance of the component, has a fresh session: fetch the page again.
                if self.groups_page.borrow().as_ref().is_none_or(|p| p.page != at.page) {
                    let listing = self.api.list(Collection::Groups, at.page)?;
                    *self.groups_page.borrow_mut() = Some(GroupsPage { page: at.page, next_page: at.next(&listing), listing });
                }
                (at, (record, member))
            }
        };
        let page = at.page;
        let context = format!("GET /api/v2/groups page {page}");
        let held = self.groups_page.borrow();
        let current = held.as_ref().ok_or_else(|| ConnectorError::Internal("no groups page is held".into()))?;
        let (mut record_at, mut member_at) = start;
        let mut taken = 0;
        while record_at < current.listing.len() {
            let members = group::Members::read(current.listing.record(record_at), &context)?;
            let from = member_at.min(members.len());
            let to = members.len().min(from + (GRANTS_PER_CALL - taken));
            out.grants.extend(members.grants(from..to));
            taken += to - from;
            if taken == GRANTS_PER_CALL {
                out.next_token = Some(format!("{page}:{record_at}:{to}:{}", u8::from(at.alone)));
                return Ok(out);
            }
            record_at += 1;
            member_at = 0;
        }
        out.next_token = current.next_page.map(page::of_number);
        drop(held);
        *self.groups_page.borrow_mut() = None;
        Ok(out)
    }

    /// Writes happen only in sessions opened with provisioning.
    fn provisioning(&self) -> Result<&PingboardApi<H>> {
        if self.provisioning { Ok(&self.api) } else { Err(ConnectorError::ProvisioningDisabled) }
    }

    /// A group-like resource of the requested type; a group of another type is not found.
    fn get_group(&self, id: &ResourceId) -> Result<(Value, Resource)> {
        let context = format!("GET /api/v2/groups/{}", id.id);
        let record = self.api.get(Collection::Groups, &id.id)?.ok_or_else(|| not_found(id))?;
        let resource = group::to_resource(&group::fields(&record), &context)?;
        if resource.id.resource_type != id.resource_type {
            return Err(not_found(id));
        }
        Ok((record, resource))
    }
}

fn unknown_type(resource_type: &str) -> ConnectorError {
    ConnectorError::NotFound(format!("unknown resource type `{resource_type}` (expected user, group, location or department)"))
}

fn not_found(id: &ResourceId) -> ConnectorError {
    ConnectorError::NotFound(format!("{} {}", id.resource_type, id.id))
}

#[cfg(test)]
mod tests {
    use connector_sdk::fake::FakeHttp;
    use serde_json::json;

    use super::*;

    fn config(page_size: &str) -> Vec<(String, String)> {
        vec![("base_url".into(), "https://pb.test".into()), ("page_size".into(), page_size.into())]
    }

    fn meta(key: &str, page: u32, page_size: u32, count: u64, page_count: u32) -> serde_json::Value {
        json!({ key: {"page": page, "page_size": page_size, "count": count, "page_count": page_count} })
    }

    #[test]
    fn users_page_until_page_count() {
        let http = FakeHttp::new()
            .with("https://pb.test/api/v2/users?page=1&page_size=2", 200, json!({"users": [{"id": "1", "email": "a@x.test"}, {"id": "2"}], "meta": meta("users", 1, 2, 3, 2)}))
            .with("https://pb.test/api/v2/users?page=2&page_size=2", 200, json!({"users": [{"id": "3", "reports_to_id": 1}], "meta": meta("users", 2, 2, 3, 2)}));
        let session = Session::open(&http, &config("2"), false).unwrap();
        let first = session.list_resources(USER, None, None).unwrap();
        assert_eq!(first.resources.iter().map(|r| r.id.id.as_str()).collect::<Vec<_>>(), ["1", "2"]);
        // The first page hands back the others as independent tokens, and ends its own chain.
        assert_eq!((first.next_token.as_deref(), first.independent_tokens.as_slice()), (None, &["2/2".to_string()][..]));
        let second = session.list_resources(USER, None, Some(&first.independent_tokens[0])).unwrap();
        assert_eq!(second.resources[0].user.as_ref().unwrap().manager_id.as_deref(), Some("1"));
        assert_eq!((second.next_token.as_deref(), second.independent_tokens.len()), (None, 0));
        assert!(first.entitlements.is_empty() && first.grants.is_empty());
        assert_eq!(http.asked().len(), 2);
        // A bare page number, as issued before independent tokens, still goes on to the next page.
        let chained = session.list_resources(USER, None, Some("1")).unwrap();
        assert_eq!((chained.next_token.as_deref(), chained.independent_tokens.len()), (Some("2"), 0));
    }

    #[test]
    fn one_groups_listing_serves_groups_locations_and_departments_with_members() {
        let http = FakeHttp::new().with("https://pb.test/api/v2/groups?page=1&page_size=1000",
            200,
            json!({"groups": [
                {"id": "10", "name": "Platform", "type": "group", "links": {"users": ["1", "2"]}},
                {"id": "11", "name": "Lisbon", "type": "location", "links": {}},
                {"id": "12", "name": "Finance", "type": "department", "links": {"users": ["2"]}},
            ], "meta": meta("groups", 1, 1000, 3, 1)}),
        );
        let session = Session::open(&http, &config("1000"), false).unwrap();
        let page = session.list_resources(GROUP, None, None).unwrap();
        let ids: Vec<String> = page.resources.iter().map(|r| format!("{}:{}", r.id.resource_type, r.id.id)).collect();
        assert_eq!(ids, ["group:10", "location:11", "department:12"]);
        let entitlements: Vec<&str> = page.entitlements.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(entitlements, ["group:10:member", "location:11:member", "department:12:member"]);
        let grants: Vec<&str> = page.grants.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(grants, ["group:10:member:user:1", "group:10:member:user:2", "department:12:member:user:2"]);
        assert_eq!(page.next_token, None);
        // Listed with `group`: no request of their own.
        assert_eq!(session.list_resources(LOCATION, None, None).unwrap(), ResourcePage::default());
        assert_eq!(http.asked().len(), 1);
    }

    #[test]
    fn a_groups_page_returns_its_grants_over_several_calls_without_more_requests() {
        let big: Vec<String> = (0..25_000).map(|i| i.to_string()).collect();
        let http = FakeHttp::new().with("https://pb.test/api/v2/groups?page=1&page_size=1000",
            200,
            json!({"groups": [
                {"id": "7", "name": "Lisbon", "type": "location", "links": {"users": big}},
                {"id": "8", "name": "Tiny", "type": "group", "links": {"users": ["1"]}},
            ], "meta": meta("groups", 1, 1000, 2, 1)}),
        );
        let session = Session::open(&http, &config("1000"), false).unwrap();
        let first = session.list_resources(GROUP, None, None).unwrap();
        assert_eq!((first.resources.len(), first.entitlements.len(), first.grants.len()), (2, 2, GRANTS_PER_CALL));
        assert_eq!(first.next_token.as_deref(), Some("1:0:20000:1"), "page 1, from record 0 and member 20000, fetched alone");
        let second = session.list_resources(GROUP, None, first.next_token.as_deref()).unwrap();
        assert!(second.resources.is_empty() && second.entitlements.is_empty());
        assert_eq!(second.grants.len(), 5_001);
        assert_eq!(second.grants[0].id, "location:7:member:user:20000");
        assert_eq!(second.grants[5_000].id, "group:8:member:user:1");
        assert_eq!(second.next_token, None);
        assert_eq!(http.asked().len(), 1, "the page is fetched once");

        // A resumed sync continues from the token in a new session, fetching that page again.
        let resumed = Session::open(&http, &config("1000"), false).unwrap();
        assert_eq!(resumed.list_resources(GROUP, None, Some("1:0:20000:1")).unwrap(), second);
        assert_eq!(http.asked().len(), 2);
        for bad in ["1:x:2", "1:2", "0", "a:b:c", "0/3", "x/3", "1:0:0:x"] {
            assert!(matches!(resumed.list_resources(GROUP, None, Some(bad)), Err(ConnectorError::Internal(_))), "{bad}");
        }
    }

    #[test]
    fn single_resources_and_their_grants_are_fetched_by_id() {
        let http = FakeHttp::new()
            .with("https://pb.test/api/v2/groups/12", 200, json!({"groups": [{"id": "12", "name": "Finance", "type": "department", "links": {"users": ["2"]}}]}))
            .with("https://pb.test/api/v2/users/2", 200, json!({"users": [{"id": "2", "first_name": "Zoë"}]}));
        let session = Session::open(&http, &config("10"), false).unwrap();
        assert_eq!(session.get_resource(&ResourceId::new(USER, "2")).unwrap().display_name, "Zoë");
        assert_eq!(session.get_resource(&ResourceId::new(DEPARTMENT, "12")).unwrap().display_name, "Finance");
        assert_eq!(session.list_grants(&ResourceId::new(DEPARTMENT, "12"), None).unwrap().grants[0].id, "department:12:member:user:2");
        // A department asked for as a location does not exist; neither does an unknown id or type.
        assert!(matches!(session.get_resource(&ResourceId::new(LOCATION, "12")), Err(ConnectorError::NotFound(_))));
        assert!(matches!(session.get_resource(&ResourceId::new(USER, "404")), Err(ConnectorError::NotFound(_))));
        assert!(matches!(session.list_resources("robot", None, None), Err(ConnectorError::NotFound(_))));
        assert!(matches!(session.list_resources(USER, None, Some("zero")), Err(ConnectorError::Internal(_))));
    }

    #[test]
    fn writes_refuse_without_provisioning_before_any_request() {
        let http = FakeHttp::new();
        let session = Session::open(&http, &config("10"), false).unwrap();
        let user = ResourceId::new(USER, "1");
        let fields = vec![("name".to_string(), "x".to_string())];
        assert_eq!(session.grant(&user, "group:2:member"), Err(ConnectorError::ProvisioningDisabled));
        assert_eq!(session.revoke(&Grant::new("group:2:member", user.clone())), Err(ConnectorError::ProvisioningDisabled));
        assert_eq!(session.create_account(&fields), Err(ConnectorError::ProvisioningDisabled));
        assert_eq!(session.update_resource(&user, &fields), Err(ConnectorError::ProvisioningDisabled));
        assert_eq!(session.create_resource(GROUP, &fields), Err(ConnectorError::ProvisioningDisabled));
        assert_eq!(session.delete_resource(&user), Err(ConnectorError::ProvisioningDisabled));
        assert!(http.asked().is_empty());
    }

    #[test]
    fn metadata_declares_host_performed_oauth_and_single_pass_capabilities() {
        let m = Pingboard::metadata();
        assert_eq!(m.base_url_field, "base_url");
        let AuthScheme::OAuth2ClientCredentials(oauth) = &m.auth else { panic!("{:?}", m.auth) };
        assert_eq!((oauth.token_url.as_str(), oauth.client_id_field.as_str(), oauth.client_secret_field.as_str()), ("/oauth/token", "client_id", "client_secret"));
        assert_eq!((oauth.credentials_in, oauth.grant_type_in), (CredentialsPlacement::FormBody, ParameterPlacement::Query));
        let secret: Vec<_> = m.config_schema.iter().filter(|f| f.secret).map(|f| f.key.as_str()).collect();
        assert_eq!(secret, ["client_secret"]);
        let group = m.capabilities.iter().find(|c| c.resource_type == GROUP).unwrap();
        assert!(group.capabilities.contains(Capabilities::INLINE_ENTITLEMENTS | Capabilities::INLINE_GRANTS));
        for t in [LOCATION, DEPARTMENT] {
            assert_eq!(m.capabilities.iter().find(|c| c.resource_type == t).unwrap().listed_with.as_deref(), Some(GROUP));
        }
    }
}
