//! Reading the config `open` was given, typed, against the connector's own schema: every connector refuses the
//! same things the same way (a key it does not declare, a secret passed as config, a base URL with a password
//! in it) and reads values in the same few shapes (an origin, a URL with a path, a whole number in a range, a
//! flag, one of a field's choices). A value is trimmed; a blank one is absent; an absent one is the schema's
//! plain default (the host fills templated defaults in before `open`).

use std::ops::RangeInclusive;

use crate::error::{ConnectorError, Result};
use crate::model::ConfigField;

/// The config of one `open`, checked against `schema`.
pub struct ConfigReader<'a> {
    schema: &'a [ConfigField],
    given: &'a [(String, String)],
}

impl<'a> ConfigReader<'a> {
    /// Refuses a key the schema does not declare, and a secret field passed as config (its value is never
    /// repeated: the host keeps secrets and never passes them on).
    pub fn new(schema: &'a [ConfigField], given: &'a [(String, String)]) -> Result<Self> {
        for (key, _) in given {
            match schema.iter().find(|f| f.key == *key) {
                None => return Err(invalid(format!("unknown config key `{key}`"))),
                Some(f) if f.secret => return Err(invalid(format!("{key} must be given to the host as a secret, not passed to the connector"))),
                Some(_) => {}
            }
        }
        Ok(Self { schema, given })
    }

    /// Checks the whole config against the schema, so any host gets a clear `invalid-config` naming the field:
    /// besides what `new` refuses, a required field missing or blank, a value not among its field's choices.
    /// `open` runs it in every component, whatever its host checked.
    pub fn check(schema: &'a [ConfigField], given: &'a [(String, String)]) -> Result<()> {
        let config = Self::new(schema, given)?;
        for field in schema.iter().filter(|f| !f.secret) {
            if field.required {
                config.required(&field.key)?;
            }
            if !field.choices.is_empty() && config.text(&field.key).is_some() {
                config.choice(&field.key)?;
            }
        }
        Ok(())
    }

    /// The value of `key`: given (the last time, if more than once) and not blank, else the schema's default
    /// unless it is a template.
    pub fn text(&self, key: &str) -> Option<&'a str> {
        let given = self.given.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.trim()).filter(|v| !v.is_empty());
        given.or_else(|| self.field(key).and_then(|f| f.default_value.as_deref()).filter(|d| !d.contains('{')))
    }

    /// The value of a field the connector cannot work without.
    pub fn required(&self, key: &str) -> Result<&'a str> {
        self.text(key).ok_or_else(|| {
            let name = self.field(key).map(|f| format!(" ({})", f.display_name)).unwrap_or_default();
            invalid(format!("missing required config `{key}`{name}"))
        })
    }

    /// An http(s) origin (scheme, host, optional port) with no path, kept with its scheme in lower case and no
    /// trailing slash.
    pub fn origin(&self, key: &str) -> Result<String> {
        let value = self.required(key)?;
        let (scheme, rest) = http_url(key, value)?;
        if rest.contains(['/', '?', '#']) {
            return Err(invalid(format!("{key} `{value}` must be an origin (scheme, host, optional port) with no path")));
        }
        Ok(format!("{scheme}://{rest}"))
    }

    /// An http(s) URL that may have a path, but no query or fragment; without a trailing slash.
    pub fn url(&self, key: &str) -> Result<String> {
        let value = self.required(key)?;
        let (scheme, rest) = http_url(key, value)?;
        if rest.contains(['?', '#']) {
            return Err(invalid(format!("{key} `{value}` must be a URL with a host and no query or fragment")));
        }
        Ok(format!("{scheme}://{rest}"))
    }

    /// A whole number in `range`.
    pub fn int_range(&self, key: &str, range: RangeInclusive<u32>) -> Result<u32> {
        let value = self.required(key)?;
        value.parse::<u32>().ok().filter(|n| range.contains(n)).ok_or_else(|| {
            invalid(format!("{key} `{value}` must be a whole number from {} to {}", range.start(), range.end()))
        })
    }

    /// `true` or `false`.
    pub fn flag(&self, key: &str) -> Result<bool> {
        match self.required(key)? {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(invalid(format!("{key} `{other}` must be true or false"))),
        }
    }

    /// One of the field's declared choices.
    pub fn choice(&self, key: &str) -> Result<&'a str> {
        let value = self.required(key)?;
        let choices = self.field(key).map(|f| f.choices.as_slice()).unwrap_or_default();
        if choices.iter().any(|c| c == value) {
            return Ok(value);
        }
        Err(invalid(format!("config `{key}`: `{value}` is not one of {}", choices.join(", "))))
    }

    fn field(&self, key: &str) -> Option<&'a ConfigField> {
        self.schema.iter().find(|f| f.key == key)
    }
}

/// The lower-case scheme and the rest of an http(s) URL without a trailing slash; never repeats a value that
/// holds a user name or password.
fn http_url<'v>(key: &str, value: &'v str) -> Result<(String, &'v str)> {
    let trimmed = value.trim_end_matches('/');
    let (scheme, rest) = trimmed.split_once("://").unwrap_or(("", trimmed));
    // Schemes are case-insensitive (RFC 3986 §3.1).
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err(invalid(format!("{key} `{value}` must start with https:// or http://")));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(invalid(format!("{key} must not contain a user name or password")));
    }
    if authority.is_empty() || rest.contains(char::is_whitespace) {
        return Err(invalid(format!("{key} `{value}` must be a URL with a host")));
    }
    Ok((scheme, rest))
}

fn invalid(message: String) -> ConnectorError {
    ConnectorError::InvalidConfig(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Vec<ConfigField> {
        vec![
            ConfigField::new("base_url", "Base URL", "").default_value("https://api.example.test"),
            ConfigField::new("scim_url", "SCIM URL", "").required(),
            ConfigField::new("token", "Token", "").required().secret(),
            ConfigField::new("page_size", "Page size", "").default_value("100"),
            ConfigField::new("region", "Region", "").default_value("com").choices(&["com", "eu"]),
            ConfigField::new("api", "API", "").default_value("https://api.{region}"),
            ConfigField::new("roles", "Roles", "").default_value("true"),
        ]
    }

    fn read<T>(given: &[(&str, &str)], read: impl Fn(&ConfigReader) -> Result<T>) -> std::result::Result<T, String> {
        let schema = schema();
        let given: Vec<(String, String)> = given.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ConfigReader::new(&schema, &given).and_then(|c| read(&c)).map_err(|e| e.to_string())
    }

    fn open(given: &[(&str, &str)]) -> std::result::Result<(), String> {
        let given: Vec<(String, String)> = given.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ConfigReader::check(&schema(), &given).map_err(|e| e.to_string())
    }

    #[test]
    fn values_are_typed_and_default_to_the_schema() {
        assert_eq!(read(&[], |c| c.origin("base_url")), Ok("https://api.example.test".into()));
        assert_eq!(read(&[("base_url", "HTTP://127.0.0.1:9/ ")], |c| c.origin("base_url")), Ok("http://127.0.0.1:9".into()));
        assert_eq!(read(&[("scim_url", "https://x.test/scim/v2/")], |c| c.url("scim_url")), Ok("https://x.test/scim/v2".into()));
        assert_eq!(read(&[("page_size", " 250 ")], |c| c.int_range("page_size", 1..=1000)), Ok(250));
        assert_eq!(read(&[], |c| c.flag("roles")), Ok(true));
        assert_eq!(read(&[("region", "eu")], |c| c.choice("region").map(str::to_string)), Ok("eu".into()));
        assert_eq!(read(&[], |c| Ok(c.text("api").map(str::to_string))), Ok(None), "a templated default is the host's to fill in");
    }

    #[test]
    fn what_is_refused_is_named_and_no_password_is_repeated() {
        assert_eq!(read(&[("colour", "blue")], |c| Ok(c.text("x").map(str::to_string))), Err("invalid config: unknown config key `colour`".into()));
        assert_eq!(read(&[("token", "s3cret")], |c| Ok(c.text("x").map(str::to_string))), Err("invalid config: token must be given to the host as a secret, not passed to the connector".into()));
        assert_eq!(read(&[], |c| c.url("scim_url")), Err("invalid config: missing required config `scim_url` (SCIM URL)".into()));
        assert_eq!(open(&[]), Err("invalid config: missing required config `scim_url` (SCIM URL)".into()));
        assert_eq!(open(&[("scim_url", " ")]), Err("invalid config: missing required config `scim_url` (SCIM URL)".into()));
        assert_eq!(read(&[("base_url", "https://ada:s3cret@x.test")], |c| c.origin("base_url")), Err("invalid config: base_url must not contain a user name or password".into()));
        assert_eq!(read(&[("base_url", "https://x.test/api")], |c| c.origin("base_url")), Err("invalid config: base_url `https://x.test/api` must be an origin (scheme, host, optional port) with no path".into()));
        assert_eq!(read(&[("base_url", "ftp://x")], |c| c.origin("base_url")), Err("invalid config: base_url `ftp://x` must start with https:// or http://".into()));
        assert_eq!(read(&[("scim_url", "https://x.test/s?a=1")], |c| c.url("scim_url")), Err("invalid config: scim_url `https://x.test/s?a=1` must be a URL with a host and no query or fragment".into()));
        assert_eq!(read(&[("page_size", "0")], |c| c.int_range("page_size", 1..=1000)), Err("invalid config: page_size `0` must be a whole number from 1 to 1000".into()));
        assert_eq!(read(&[("roles", "yes")], |c| c.flag("roles")), Err("invalid config: roles `yes` must be true or false".into()));
        assert_eq!(open(&[("scim_url", "https://x.test"), ("region", "mars")]), Err("invalid config: config `region`: `mars` is not one of com, eu".into()));
    }
}
