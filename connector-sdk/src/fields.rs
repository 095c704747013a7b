//! Write fields (`create-account`, `update-resource`, …) arrive as `KEY=VALUE` pairs by the source's own
//! field names. `check` enforces the names a write accepts and the ones it needs, with errors that name
//! them; the connector then converts values as its API wants.

use crate::error::{ConnectorError, Result};

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
    fn unknown_and_missing_fields_are_named() {
        let given = pairs(&[("name", " Ada "), ("email", "ada@x.test")]);
        assert_eq!(check("create-account", &given, &["name", "email"], &["name"]), Ok(vec![("name", "Ada"), ("email", "ada@x.test")]));
        let err = check("create-account", &pairs(&[("colour", "blue")]), &["name"], &[]).unwrap_err();
        assert_eq!(err.to_string(), "invalid config: create-account: unknown field `colour` (known: name)");
        let err = check("create-account", &pairs(&[("name", " ")]), &["name"], &["name"]).unwrap_err();
        assert_eq!(err.to_string(), "invalid config: create-account needs `name`");
    }
}
