//! A tenant's token endpoint, from the connector's template: on the base URL's origin or a config field's, with
//! config values filled into its path, percent-encoded, so that no value can move it to another origin.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use crate::contract::model::ConfigField;
use crate::egress::Origin;

/// The token endpoint of a tenant, from the connector's template (see `token-url` in `wit/connector.wit`). The
/// component never names the origin the client secret goes to: it is the base URL's (a template starting
/// with `/`) or a config field's (`{field}/…`), and config values in the path are percent-encoded, so none
/// can move it elsewhere.
pub(super) fn token_url(template: &str, base_url: &str, config: &BTreeMap<String, String>, schema: &[ConfigField]) -> Result<String> {
    let (origin_value, path) = if template.starts_with('/') {
        // A path on the base URL's origin (not under the base URL's own path).
        (Origin::parse(base_url)?.to_string(), template)
    } else if let Some(rest) = template.strip_prefix('{')
        && let Some((field, path)) = rest.split_once('}')
    {
        match schema.iter().find(|f| f.key == field) {
            Some(f) if !f.secret => {}
            _ => bail!("the connector's token URL starts with `{{{field}}}`, which is not one of its non-secret config fields"),
        }
        let value = config.get(field).ok_or_else(|| anyhow::anyhow!("the connector's token URL needs config `{field}`: pass it with --config {field}=…"))?;
        (value.clone(), path)
    } else {
        bail!(
            "the connector's token URL `{}` names an origin of its own; a token URL must start with / (the base URL's origin) or with a config field, `{{field}}`",
            crate::display::printable(template, 256)
        );
    };
    if !path.starts_with('/') {
        bail!("the connector's token URL must continue with a path after its origin, got `{}`", crate::display::printable(path, 256));
    }
    let expanded = fill_placeholders(path, "the connector's token URL", config, schema)?;
    let origin = Origin::parse(&origin_value)?;
    let url = format!("{}{expanded}", origin_value.trim_end_matches('/'));
    // Whatever the values, the endpoint stays on the origin the template names.
    let parsed = url::Url::parse(&url).map_err(|e| anyhow::anyhow!("the token URL `{url}` is not a URL ({e})"))?;
    if Origin::parse(parsed.as_str())? != origin {
        bail!("the token URL `{url}` left the origin {origin}");
    }
    Ok(url)
}

/// `text` with each `{key}` replaced by that non-secret config value, percent-encoded (so a value stays one
/// path segment or one label: it cannot add a path, a port or a host). `what` names the text in errors.
pub(super) fn fill_placeholders(text: &str, what: &str, config: &BTreeMap<String, String>, schema: &[ConfigField]) -> Result<String> {
    let mut filled = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').map(|c| open + c).ok_or_else(|| anyhow::anyhow!("{what} has an unclosed `{{`"))?;
        let key = &rest[open + 1..close];
        match schema.iter().find(|f| f.key == key) {
            Some(f) if !f.secret => {}
            _ => bail!("{what} uses `{{{key}}}`, which is not one of its non-secret config fields"),
        }
        let value = config.get(key).ok_or_else(|| anyhow::anyhow!("{what} needs config `{key}`: pass it with --config {key}=…"))?;
        filled.push_str(&rest[..open]);
        filled.push_str(&connector_model::wire::percent_encode(value));
        rest = &rest[close + 1..];
    }
    filled.push_str(rest);
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_url_stays_on_an_origin_from_the_config() {
        let field = |key: &str, secret: bool| ConfigField { key: key.into(), display_name: key.into(), secret, ..Default::default() };
        let schema = [field("base_url", false), field("auth_base", false), field("environment_id", false), field("client_secret", true)];
        let config = BTreeMap::from([
            ("base_url".to_string(), "https://api.example.test/v1".to_string()),
            ("auth_base".to_string(), "https://auth.example.test".to_string()),
            ("environment_id".to_string(), "env-1".to_string()),
        ]);
        let url = |template: &str, config: &BTreeMap<String, String>| token_url(template, &config["base_url"], config, &schema).map_err(|e| e.to_string());
        assert_eq!(url("/oauth/token", &config).unwrap(), "https://api.example.test:443/oauth/token", "on the base URL's origin");
        assert_eq!(url("{auth_base}/{environment_id}/as/token", &config).unwrap(), "https://auth.example.test/env-1/as/token");
        // A value cannot move the endpoint: it is encoded into one path segment.
        let mut steered = config.clone();
        steered.insert("environment_id".into(), "@evil.test:443/../x".into());
        assert_eq!(url("{auth_base}/{environment_id}/as/token", &steered).unwrap(), "https://auth.example.test/%40evil.test%3A443%2F..%2Fx/as/token");
        assert_eq!(
            url("https://evil.test/steal", &config).unwrap_err(),
            "the connector's token URL `https://evil.test/steal` names an origin of its own; a token URL must start with / (the base URL's origin) or with a config field, `{field}`"
        );
        assert_eq!(url("{client_secret}/x", &config).unwrap_err(), "the connector's token URL starts with `{client_secret}`, which is not one of its non-secret config fields");
        assert_eq!(url("{auth_base}x", &config).unwrap_err(), "the connector's token URL must continue with a path after its origin, got `x`");
        assert_eq!(url("/{nope}/token", &config).unwrap_err(), "the connector's token URL uses `{nope}`, which is not one of its non-secret config fields");
    }
}
