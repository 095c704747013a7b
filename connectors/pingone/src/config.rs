//! The config schema and its parsing. The host resolves `api_base` and `auth_base` from `region` unless the
//! operator sets them (templated defaults), checks `region` and `token_auth_method` against their choices,
//! and performs the token exchange; the component sees the non-secret values only.

use connector_sdk::config::ConfigReader;
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

/// PingOne's regions, by the top-level domain of their API and auth hosts.
pub const REGIONS: [&str; 6] = ["com", "eu", "ca", "asia", "com.au", "sg"];
/// User pages hold at most 200 whatever `limit` asks.
pub const MAX_USER_PAGE: u32 = 200;

pub fn schema() -> Vec<ConfigField> {
    vec![
        ConfigField::new(REGION, "Region", "The PingOne region's domain: com (North America), eu, ca, asia, com.au or sg.").default_value("com").choices(&REGIONS),
        ConfigField::new(API_BASE, "API base URL", "The management API, with its /v1 path; the only origin the connector reaches.")
            .default_value("https://api.pingone.{region}/v1"),
        ConfigField::new(AUTH_BASE, "Auth base URL", "Where the host asks for tokens ({auth_base}/{environment_id}/as/token); a custom domain goes here.")
            .default_value("https://auth.pingone.{region}"),
        ConfigField::new(ENVIRONMENT_ID, "Environment ID", "The environment to read and write (a UUID).").required(),
        ConfigField::new(
            AUTH_ENVIRONMENT_ID,
            "Worker app's environment ID",
            "Where the worker app lives, when not in the environment it reads (e.g. the Administrators environment).",
        )
        .default_value("{environment_id}"),
        ConfigField::new(CLIENT_ID, "Client ID", "The client ID of a worker application in that environment.").required(),
        ConfigField::new(CLIENT_SECRET, "Client secret", "The worker application's secret. Kept by the host; never given to the connector.").required().secret(),
        ConfigField::new(
            TOKEN_AUTH_METHOD,
            "Token auth method",
            "How the app authenticates at the token endpoint: basic (Client Secret Basic) or post (Client Secret Post).",
        )
        .default_value("basic")
        .choices(&["basic", "post"]),
        ConfigField::new(PAGE_SIZE, "Page size", "Users per listing request (1 to 200; PingOne sends at most 200).").default_value(MAX_USER_PAGE.to_string()),
        ConfigField::new(ROLE_GRANTS, "Role grants", "Read role assignments: one request per user and per group, as PingOne has no bulk read.")
            .default_value("true")
            .choices(&["true", "false"]),
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
    pub fn parse(given: &[(String, String)]) -> Result<Self> {
        let schema = schema();
        let config = ConfigReader::new(&schema, given)?;
        let environment_id = config.required(ENVIRONMENT_ID)?.to_string();
        if !environment_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ConnectorError::InvalidConfig(format!("{ENVIRONMENT_ID} `{environment_id}` must be an environment ID (a UUID)")));
        }
        Ok(Self {
            api_base: config.url(API_BASE)?,
            environment_id,
            page_size: config.int_range(PAGE_SIZE, 1..=MAX_USER_PAGE)?,
            role_grants: config.flag(ROLE_GRANTS)?,
        })
    }

    /// `<api_base>/environments/<id>`: every management path but the built-in roles sits under it.
    pub fn environment_url(&self) -> String {
        format!("{}/environments/{}", self.api_base, self.environment_id)
    }
}
