//! The connector's configuration: its schema (declared in metadata) and the parsed, non-secret values the host
//! passes to `open`. `token` is declared secret: the host keeps it and adds `Authorization: Bearer` itself.

use connector_sdk::config::ConfigReader;
use connector_sdk::error::{ConnectorError, Result};
use connector_sdk::model::ConfigField;

pub const BASE_URL: &str = "base_url";
pub const TOKEN: &str = "token";
pub const PAGE_SIZE: &str = "page_size";
pub const USER_ATTRIBUTES: &str = "user_attributes";

pub const DEFAULT_PAGE_SIZE: u32 = 100;
pub const MAX_PAGE_SIZE: u32 = 10_000;

pub fn schema() -> Vec<ConfigField> {
    vec![
        ConfigField::new(
            BASE_URL,
            "SCIM base URL",
            "The service provider's SCIM base URL, e.g. https://<your_domain>.pingboard.com/scim/v2; its origin is the only one the connector may reach.",
        )
        .required(),
        ConfigField::new(TOKEN, "Bearer token", "The SCIM bearer token the service provider issued. Kept by the host; never given to the connector.").required().secret(),
        ConfigField::new(PAGE_SIZE, "Page size", format!("Resources asked for per listing request (`count`, 1 to {MAX_PAGE_SIZE}); servers may return fewer."))
            .default_value(DEFAULT_PAGE_SIZE.to_string()),
        ConfigField::new(
            USER_ATTRIBUTES,
            "User attributes",
            "Optional comma-separated SCIM attributes to ask for when listing users (`attributes=`), e.g. userName,name,emails,active; empty asks for the server's default set.",
        ),
    ]
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The SCIM base URL without a trailing slash (scheme, host, optional port and path).
    pub base_url: String,
    pub page_size: u32,
    /// Attribute names for `attributes=` on user listings; empty for the server's default.
    pub user_attributes: Vec<String>,
}

impl Config {
    pub fn parse(pairs: &[(String, String)]) -> Result<Self> {
        let schema = schema();
        let config = ConfigReader::new(&schema, pairs)?;
        Ok(Config {
            base_url: config.url(BASE_URL)?,
            page_size: config.int_range(PAGE_SIZE, 1..=MAX_PAGE_SIZE)?,
            user_attributes: parse_attributes(config.text(USER_ATTRIBUTES).unwrap_or_default())?,
        })
    }
}

/// Attribute notation (RFC 7644 §3.10): names, dots, colons (schema URNs) and digits only.
fn parse_attributes(value: &str) -> Result<Vec<String>> {
    let names: Vec<String> = value.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_string).collect();
    match names.iter().find(|n| !n.chars().all(|c| c.is_ascii_alphanumeric() || ".:_-$".contains(c))) {
        Some(bad) => Err(ConnectorError::InvalidConfig(format!("user_attributes: `{bad}` is not a SCIM attribute name"))),
        None => Ok(names),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn base_url_keeps_its_path() {
        let c = Config::parse(&pairs(&[("base_url", "HTTPS://acme.pingboard.com/scim/v2/")])).unwrap();
        assert_eq!(c, Config { base_url: "https://acme.pingboard.com/scim/v2".into(), page_size: 100, user_attributes: vec![] });
        let c = Config::parse(&pairs(&[("base_url", "http://127.0.0.1:9/v2"), ("page_size", "1000"), ("user_attributes", "userName, emails ,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager")])).unwrap();
        assert_eq!((c.page_size, c.user_attributes.len()), (1000, 3));
    }

    #[test]
    fn bad_values_are_named() {
        let err = Config::parse(&pairs(&[])).unwrap_err();
        assert_eq!(err.to_string(), "invalid config: missing required config `base_url` (SCIM base URL)");
        let err = Config::parse(&pairs(&[("base_url", "https://ada:s3cret@x.test/scim")])).unwrap_err();
        assert!(!err.to_string().contains("s3cret"));
        for bad in [("page_size", "0"), ("page_size", "10001"), ("base_url", "ftp://x"), ("base_url", "https://x/scim?a=1"),
            ("user_attributes", "name;drop"), ("token", "s3cret"), ("colour", "blue")]
        {
            let err = Config::parse(&pairs(&[("base_url", "https://x.test/scim"), bad])).unwrap_err();
            assert!(matches!(err, ConnectorError::InvalidConfig(_)), "{bad:?} gave {err:?}");
            assert!(!err.to_string().contains("s3cret"), "a secret leaked into {err}");
        }
    }
}
