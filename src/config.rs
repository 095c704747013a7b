//! The connector's configuration: its schema (declared in metadata) and the parsed, non-secret values the host
//! passes to `open`. `client_secret` is declared secret: the host keeps it and performs the OAuth exchange.

use connector_sdk::config::ConfigReader;
use connector_sdk::error::Result;
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
        ConfigField::new(BASE_URL, "Base URL", "Origin of the Pingboard API; the only origin the connector may reach.").default_value(DEFAULT_BASE_URL),
        ConfigField::new(CLIENT_ID, "Client ID", "Client ID of a Pingboard service account (Company settings → Integrations → API).").required(),
        ConfigField::new(CLIENT_SECRET, "Client secret", "Client secret of the same service account. Kept by the host; never given to the connector.")
            .required()
            .secret(),
        ConfigField::new(PAGE_SIZE, "Page size", format!("Records per listing request (1 to {MAX_PAGE_SIZE}).")).default_value(DEFAULT_PAGE_SIZE.to_string()),
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
        let schema = schema();
        let config = ConfigReader::new(&schema, pairs)?;
        Ok(Config { base_url: config.origin(BASE_URL)?, page_size: config.int_range(PAGE_SIZE, 1..=MAX_PAGE_SIZE)? })
    }
}

#[cfg(test)]
mod tests {
    use connector_sdk::ConnectorError;

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
