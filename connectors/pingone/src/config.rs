//! The config schema and its parsing. The host resolves `api_base` and `auth_base` from `region` unless the
//! operator sets them (templated defaults), checks `region` and `token_auth_method` against their choices,
//! and performs the token exchange; the component sees the non-secret values only.

use connector_sdk::error::{ConnectorError, Result};
use connector_sdk::model::ConfigField;

pub const REGION: &str = "region";
pub const API_BASE: &str = "api_base";
pub const AUTH_BASE: &str = "auth_base";
pub const ENVIRONMENT_ID: &str = "environment_id";
pub const AUTH_ENVIRONMENT_ID: &str = "auth_environment_id";
pub const CLIENT_ID: &str = "client_id";
pub const CLIENT_SECRET: &str = "client_secret";
pub const TOKEN_AUTH_METHOD: &str = "token_auth_method";
pub const PAGE_SIZE: &str = "page_size";
pub const ROLE_GRANTS: &str = "role_grants";

/// PingOne's regions by top-level domain (`../shared/reference/pingone-api.md` §1).
pub const REGIONS: [&str; 6] = ["com", "eu", "ca", "asia", "com.au", "sg"];
/// User pages hold at most 200 whatever `limit` asks.
pub const MAX_USER_PAGE: u32 = 200;

pub fn schema() -> Vec<ConfigField> {
    let field = |key: &str, display_name: &str, description: &str| ConfigField { key: key.into(), display_name: display_name.into(), description: description.into(), ..Default::default() };
    vec![
        ConfigField {
            default_value: Some("com".into()),
            choices: REGIONS.iter().map(|r| r.to_string()).collect(),
            ..field(REGION, "Region", "The PingOne region's domain: com (North America), eu, ca, asia, com.au or sg.")
        },
        ConfigField {
            default_value: Some("https://api.pingone.{region}/v1".into()),
            ..field(API_BASE, "API base URL", "The management API, with its /v1 path; the only origin the connector reaches.")
        },
        ConfigField {
            default_value: Some("https://auth.pingone.{region}".into()),
            ..field(AUTH_BASE, "Auth base URL", "Where the host asks for tokens ({auth_base}/{environment_id}/as/token); a custom domain goes here.")
        },
        ConfigField { required: true, ..field(ENVIRONMENT_ID, "Environment ID", "The environment to read and write (a UUID).") },
        ConfigField {
            default_value: Some("{environment_id}".into()),
            ..field(AUTH_ENVIRONMENT_ID, "Worker app's environment ID", "Where the worker app lives, when not in the environment it reads (e.g. the Administrators environment).")
        },
        ConfigField { required: true, ..field(CLIENT_ID, "Client ID", "The client ID of a worker application in that environment.") },
        ConfigField { required: true, secret: true, ..field(CLIENT_SECRET, "Client secret", "The worker application's secret. Kept by the host; never given to the connector.") },
        ConfigField {
            default_value: Some("basic".into()),
            choices: vec!["basic".into(), "post".into()],
            ..field(TOKEN_AUTH_METHOD, "Token auth method", "How the app authenticates at the token endpoint: basic (Client Secret Basic) or post (Client Secret Post).")
        },
        ConfigField { default_value: Some("200".into()), ..field(PAGE_SIZE, "Page size", "Users per listing request (1 to 200; PingOne sends at most 200).") },
        ConfigField {
            default_value: Some("true".into()),
            choices: vec!["true".into(), "false".into()],
            ..field(ROLE_GRANTS, "Role grants", "Read role assignments: one request per user and per group, as PingOne has no bulk read.")
        },
    ]
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The API base URL, without a trailing slash (`https://api.pingone.com/v1`).
    pub api_base: String,
    pub environment_id: String,
    pub page_size: u32,
    pub role_grants: bool,
}

impl Config {
    pub fn parse(config: &[(String, String)]) -> Result<Self> {
        let get = |key: &str| config.iter().find(|(k, _)| k == key).map(|(_, v)| v.trim()).filter(|v| !v.is_empty());
        let required = |key: &str| get(key).ok_or_else(|| ConnectorError::InvalidConfig(format!("missing `{key}`")));
        let api_base = required(API_BASE)?.trim_end_matches('/').to_string();
        if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
            return Err(ConnectorError::InvalidConfig(format!("`{API_BASE}` must be an http(s) URL, got `{api_base}`")));
        }
        let environment_id = required(ENVIRONMENT_ID)?.to_string();
        if !environment_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ConnectorError::InvalidConfig(format!("`{ENVIRONMENT_ID}` must be an environment ID (a UUID), got `{environment_id}`")));
        }
        let page_size = match get(PAGE_SIZE) {
            None => MAX_USER_PAGE,
            Some(text) => text.parse::<u32>().ok().filter(|n| (1..=MAX_USER_PAGE).contains(n)).ok_or_else(|| {
                ConnectorError::InvalidConfig(format!("`{PAGE_SIZE}` must be a whole number from 1 to {MAX_USER_PAGE}, got `{text}`"))
            })?,
        };
        let role_grants = match get(ROLE_GRANTS) {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => return Err(ConnectorError::InvalidConfig(format!("`{ROLE_GRANTS}` must be true or false, got `{other}`"))),
        };
        Ok(Self { api_base, environment_id, page_size, role_grants })
    }

    /// `<api_base>/environments/<id>`: every management path but the built-in roles sits under it.
    pub fn environment_url(&self) -> String {
        format!("{}/environments/{}", self.api_base, self.environment_id)
    }
}
