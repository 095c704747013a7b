//! A complete connector in a few dozen lines, against a toy directory API:
//!
//!     GET /people?page=N  →  {"people": [{"id", "name", "email"}], "next_page": N | null}
//!     GET /teams          →  {"teams": [{"id", "name", "members": [person ids]}]}
//!
//! People are users; a team is a group with a `member` entitlement whose grants come with the listing. The
//! host adds the bearer token from the secret `token`. Build it with
//! `cargo build --release --target wasm32-wasip2 -p connector-sdk --example directory`.

use connector_sdk::http::{HttpClient, Method, Request, check_status};
use connector_sdk::model::*;
use connector_sdk::{Connector, ConnectorError, ConnectorSession, Result, page};
use serde_json::Value;

pub struct Directory;

pub struct Session<H> {
    http: H,
    base_url: String,
}

impl Connector for Directory {
    type Session<H: HttpClient + 'static> = Session<H>;

    fn metadata() -> Metadata {
        let list = Capabilities::LIST | Capabilities::INLINE_ENTITLEMENTS | Capabilities::INLINE_GRANTS;
        Metadata {
            name: "directory".into(),
            version: "0.1.0".into(),
            description: "The SDK's example: people and teams of a toy directory API".into(),
            config_schema: vec![
                ConfigField { key: "base_url".into(), display_name: "Base URL".into(), description: "The API's origin".into(), required: true, secret: false, default_value: None, choices: Vec::new() },
                ConfigField { key: "token".into(), display_name: "API token".into(), description: "Sent as a bearer token by the host".into(), required: true, secret: true, default_value: None, choices: Vec::new() },
            ],
            base_url_field: "base_url".into(),
            extra_origin_fields: Vec::new(),
            auth: AuthScheme::Bearer("token".into()),
            capabilities: vec![ResourceTypeCapabilities::new("user", list), ResourceTypeCapabilities::new("team", list)],
            write_schemas: Vec::new(),
        }
    }

    fn open<H: HttpClient + 'static>(http: H, config: &[(String, String)], _provisioning: bool) -> Result<Session<H>> {
        let base_url = config.iter().find(|(k, _)| k == "base_url").map(|(_, v)| v.trim_end_matches('/').to_string());
        Ok(Session { http, base_url: base_url.ok_or_else(|| ConnectorError::InvalidConfig("base_url is required".into()))? })
    }
}

impl<H: HttpClient> ConnectorSession for Session<H> {
    fn resource_types(&self) -> Result<Vec<ResourceType>> {
        let kind = |id: &str, name: &str, traits| ResourceType { id: id.into(), display_name: name.into(), traits, description: None };
        Ok(vec![kind("user", "Person", vec![TraitKind::User]), kind("team", "Team", vec![TraitKind::Group])])
    }

    fn list_resources(&self, resource_type: &str, _parent: Option<&ResourceId>, token: Option<&str>) -> Result<ResourcePage> {
        match resource_type {
            "user" => {
                let body = self.get(&format!("/people?page={}", page::number(token)?))?;
                let resources = body["people"].as_array().into_iter().flatten().map(person).collect();
                Ok(ResourcePage { resources, next_token: body["next_page"].as_u64().map(|p| page::of_number(p as u32)), ..Default::default() })
            }
            "team" => {
                let mut out = ResourcePage::default();
                for team in self.get("/teams")?["teams"].as_array().into_iter().flatten() {
                    let id = ResourceId::new("team", team["id"].as_str().unwrap_or_default());
                    let entitlement = format!("team:{}:member", id.id);
                    for member in team["members"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                        out.grants.push(Grant::new(&entitlement, ResourceId::new("user", member)));
                    }
                    let name = team["name"].as_str().unwrap_or_default().to_string();
                    out.entitlements.push(Entitlement { id: entitlement, resource: id.clone(), display_name: format!("{name} member"), description: None, slug: "member".into(), purpose: Purpose::Assignment, grantable_to: vec!["user".into()] });
                    out.resources.push(resource(id, name, None, team));
                }
                Ok(out)
            }
            other => Err(ConnectorError::NotFound(format!("unknown resource type `{other}`"))),
        }
    }
}

impl<H: HttpClient> Session<H> {
    fn get(&self, path: &str) -> Result<Value> {
        let response = self.http.send(&Request { method: Method::Get, url: format!("{}{path}", self.base_url), body: None })?;
        check_status(&response, &format!("GET {path}"))?;
        serde_json::from_slice(&response.body).map_err(|e| ConnectorError::bad_response(path, e))
    }
}

fn person(record: &Value) -> Resource {
    let email = record["email"].as_str().map(str::to_string);
    let user = UserTrait {
        emails: email.iter().map(|address| Email { address: address.clone(), primary: true }).collect(),
        login: email,
        login_aliases: vec![], employee_ids: vec![], name: None, account_type: AccountType::Human, manager_id: None, title: None,
        department_ids: vec![], location_ids: vec![], start_date: None, time_zone: None, locale: None, nickname: None,
        phone_numbers: vec![], photo_url: None,
    };
    let id = ResourceId::new("user", record["id"].as_str().unwrap_or_default());
    resource(id, record["name"].as_str().unwrap_or_default().to_string(), Some(user), record)
}

fn resource(id: ResourceId, display_name: String, user: Option<UserTrait>, record: &Value) -> Resource {
    let status = ResourceStatus { kind: StatusKind::Enabled, detail: None };
    Resource { id, parent: None, display_name, description: None, status, user, group: None, profile: record.to_string(), created_at: None, updated_at: None }
}

connector_sdk::export_connector!(Directory);
