//! Write fields (`create-account`, `update-resource`, …) arrive as `KEY=VALUE` pairs by the source's own
//! field names. `check` enforces the names a write accepts and the ones it needs, with errors that name
//! them; the connector then converts values as its API wants.

use crate::error::{ConnectorError, Result};
use crate::model::ConfigField;

/// Checks the config `open` was given against the connector's own schema, so any host gets a clear
/// `invalid-config` naming the field: every required non-secret field present and not blank, and every value
/// one of its field's `choices` when it lists some. (Secret fields never reach the component.)
pub fn check_config(schema: &[ConfigField], config: &[(String, String)]) -> Result<()> {
    for field in schema.iter().filter(|f| !f.secret) {
        let value = config.iter().find(|(k, _)| *k == field.key).map(|(_, v)| v.trim());
        match value {
            None | Some("") if field.required => {
                return Err(ConnectorError::InvalidConfig(format!("missing required config `{}` ({})", field.key, field.display_name)));
            }
            Some(v) if !field.choices.is_empty() && !field.choices.iter().any(|c| c == v) => {
                return Err(ConnectorError::InvalidConfig(format!("config `{}`: `{v}` is not one of {}", field.key, field.choices.join(", "))));
            }
            _ => {}
        }
    }
    Ok(())
}

/// `given`, trimmed, if every key is `allowed` and every `mandatory` key has a non-blank value. `what` names
/// the write in errors ("create-account").
pub fn check<'a>(what: &str, given: &'a [(String, String)], allowed: &[&str], mandatory: &[&str]) -> Result<Vec<(&'a str, &'a str)>> {
    let mut out = Vec::with_capacity(given.len());
    for (key, value) in given {
        let key = key.trim();
        if !allowed.contains(&key) {
            return Err(ConnectorError::InvalidConfig(format!("{what}: unknown field `{key}` (known: {})", allowed.join(", "))));
        }
        out.push((key, value.trim()));
    }
    if let Some(missing) = mandatory.iter().find(|m| !out.iter().any(|(k, v)| k == *m && !v.is_empty())) {
        return Err(ConnectorError::InvalidConfig(format!("{what} needs `{missing}`")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_schema_is_checked_in_the_component_too() {
        let field = |key: &str, required: bool, secret: bool, choices: &[&str]| ConfigField {
            key: key.into(),
            display_name: key.to_uppercase(),
            required,
            secret,
            choices: choices.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        };
        let schema = [field("client_id", true, false, &[]), field("client_secret", true, true, &[]), field("region", false, false, &["com", "eu"])];
        assert_eq!(check_config(&schema, &pairs(&[("client_id", "x"), ("region", "eu")])), Ok(()));
        let err = check_config(&schema, &pairs(&[("region", "eu")])).unwrap_err();
        assert_eq!(err.to_string(), "invalid config: missing required config `client_id` (CLIENT_ID)");
        let err = check_config(&schema, &pairs(&[("client_id", " "), ("region", "eu")])).unwrap_err();
        assert_eq!(err.to_string(), "invalid config: missing required config `client_id` (CLIENT_ID)");
        let err = check_config(&schema, &pairs(&[("client_id", "x"), ("region", "mars")])).unwrap_err();
        assert_eq!(err.to_string(), "invalid config: config `region`: `mars` is not one of com, eu");
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        let given = pairs(&[("name", " Ada "), ("email", "ada@x.test")]);
        assert_eq!(check("create-account", &given, &["name", "email"], &["name"]), Ok(vec![("name", "Ada"), ("email", "ada@x.test")]));
        let err = check("create-account", &pairs(&[("colour", "blue")]), &["name"], &[]).unwrap_err();
        assert_eq!(err.to_string(), "invalid config: create-account: unknown field `colour` (known: name)");
        let err = check("create-account", &pairs(&[("name", " ")]), &["name"], &["name"]).unwrap_err();
        assert_eq!(err.to_string(), "invalid config: create-account needs `name`");
    }
}
