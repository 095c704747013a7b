//! The connector's configuration: its schema (declared in metadata) and the parsed, non-secret values the host
//! passes to `open`. `client_secret` is declared secret: the host keeps it and performs the OAuth exchange.

use connector_sdk::error::{ConnectorError, Result};
use connector_sdk::model::ConfigField;

pub const BASE_URL: &str = "base_url";
pub const CLIENT_ID: &str = "client_id";
pub const CLIENT_SECRET: &str = "client_secret";
pub const PAGE_SIZE: &str = "page_size";

pub const DEFAULT_BASE_URL: &str = "https://app.pingboard.com";
pub const DEFAULT_PAGE_SIZE: u32 = 1000;
/// The largest page size public clients are known to use successfully.
pub const MAX_PAGE_SIZE: u32 = 3000;

pub fn schema() -> Vec<ConfigField> {
    vec![
        ConfigField {
            key: BASE_URL.into(),
            display_name: "Base URL".into(),
            description: "Origin of the Pingboard API; the only origin the connector may reach.".into(),
            required: false,
            secret: false,
            default_value: Some(DEFAULT_BASE_URL.into()),
            choices: Vec::new(),
        },
        ConfigField {
            key: CLIENT_ID.into(),
            display_name: "Client ID".into(),
            description: "Client ID of a Pingboard service account (Company settings → Integrations → API).".into(),
            required: true,
            secret: false,
            default_value: None,
            choices: Vec::new(),
        },
        ConfigField {
            key: CLIENT_SECRET.into(),
            display_name: "Client secret".into(),
            description: "Client secret of the same service account. Kept by the host; never given to the connector.".into(),
            required: true,
            secret: true,
            default_value: None,
            choices: Vec::new(),
        },
        ConfigField {
            key: PAGE_SIZE.into(),
            display_name: "Page size".into(),
            description: "Records per listing request (1 to 3000).".into(),
            required: false,
            secret: false,
            default_value: Some("1000".into()),
            choices: Vec::new(),
        },
    ]
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Scheme, host and optional port, without a trailing slash.
    pub base_url: String,
    pub page_size: u32,
}

impl Config {
    pub fn parse(pairs: &[(String, String)]) -> Result<Self> {
        let mut config = Config { base_url: DEFAULT_BASE_URL.to_string(), page_size: DEFAULT_PAGE_SIZE };
        for (key, value) in pairs {
            match key.as_str() {
                BASE_URL => config.base_url = parse_base_url(value)?,
                PAGE_SIZE => config.page_size = parse_page_size(value)?,
                CLIENT_ID => {}
                CLIENT_SECRET => {
                    return Err(ConnectorError::InvalidConfig(
                        "client_secret must be given to the host as a secret, not passed to the connector".into(),
                    ));
                }
                other => return Err(ConnectorError::InvalidConfig(format!("unknown config key `{other}`"))),
            }
        }
        Ok(config)
    }
}

fn parse_base_url(value: &str) -> Result<String> {
    let trimmed = value.trim().trim_end_matches('/');
    // Schemes are case-insensitive (RFC 3986 §3.1); the URL is kept with the scheme in lower case.
    let (scheme, rest) = trimmed.split_once("://").unwrap_or(("", trimmed));
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err(ConnectorError::InvalidConfig(format!("base_url `{value}` must start with https:// or http://")));
    }
    if rest.contains('@') {
        // Never repeated: it may hold a password.
        return Err(ConnectorError::InvalidConfig("base_url must not contain a user name or password".into()));
    }
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
        return Err(ConnectorError::InvalidConfig(format!(
            "base_url `{value}` must be an origin (scheme, host, optional port) with no path"
        )));
    }
    Ok(format!("{scheme}://{rest}"))
}

fn parse_page_size(value: &str) -> Result<u32> {
    match value.trim().parse::<u32>() {
        Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
        _ => Err(ConnectorError::InvalidConfig(format!(
            "page_size `{value}` must be a whole number from 1 to {MAX_PAGE_SIZE}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_apply() {
        let c = Config::parse(&pairs(&[("client_id", "abc")])).unwrap();
        assert_eq!(c, Config { base_url: "https://app.pingboard.com".into(), page_size: 1000 });
    }

    #[test]
    fn base_url_and_page_size_are_checked() {
        let c = Config::parse(&pairs(&[("base_url", "http://127.0.0.1:8080/"), ("page_size", "3000")])).unwrap();
        assert_eq!(c, Config { base_url: "http://127.0.0.1:8080".into(), page_size: 3000 });
        let c = Config::parse(&pairs(&[("base_url", "HTTPS://App.Pingboard.com")])).unwrap();
        assert_eq!(c.base_url, "https://App.Pingboard.com", "the scheme is case-insensitive");
        let err = Config::parse(&pairs(&[("base_url", "https://ada:s3cret@app.pingboard.com")])).unwrap_err();
        assert_eq!(err.to_string(), "invalid config: base_url must not contain a user name or password");
        for bad in [("page_size", "0"), ("page_size", "3001"), ("page_size", "ten"), ("base_url", "ftp://x"),
            ("base_url", "https://x/api"), ("nonsense", "1"), ("client_secret", "s3cret")]
        {
            let err = Config::parse(&pairs(&[bad])).unwrap_err();
            assert!(matches!(err, ConnectorError::InvalidConfig(_)), "{bad:?} gave {err:?}");
            assert!(!err.to_string().contains("s3cret"), "a secret leaked into {err}");
        }
    }
}
