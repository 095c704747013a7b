//! Write fields (`create-account`, `update-resource`, …) arrive as `KEY=VALUE` pairs by the source's own
//! field names. `check` enforces the connector's declared write schema, with errors that name the field; the
//! connector then converts values as its API wants.

use crate::error::{ConnectorError, Result};
use crate::model::{Write, WriteSchema};

/// `given`, trimmed, if `schema` accepts every field for `write` (named `what` in errors, `create-account`):
/// declared names only, each writable by that write, required ones present and not blank on a create. The host
/// checks the same before the call; a connector checks again, since no host has to get it right.
pub fn check<'a>(what: &str, write: Write, schema: &WriteSchema, given: &'a [(String, String)]) -> Result<Vec<(&'a str, &'a str)>> {
    schema.check(what, write, given).map_err(ConnectorError::InvalidConfig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::WriteField;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn unknown_misplaced_and_missing_fields_are_named() {
        let schema = WriteSchema::new("user", vec![WriteField::new("name", "").required(), WriteField::new("email", ""), WriteField::new("login", "").create_only(), WriteField::new("enabled", "").update_only()]);
        let given = pairs(&[("name", " Ada "), ("email", "ada@x.test")]);
        assert_eq!(check("create-account", Write::Create, &schema, &given), Ok(vec![("name", "Ada"), ("email", "ada@x.test")]));
        let err = |write, given: &[(&str, &str)]| check("w", write, &schema, &pairs(given)).unwrap_err().to_string();
        assert_eq!(err(Write::Create, &[("colour", "blue")]), "invalid config: w: unknown field `colour` (known: name, email, login)");
        assert_eq!(err(Write::Update, &[("colour", "blue")]), "invalid config: w: unknown field `colour` (known: name, email, enabled)");
        assert_eq!(err(Write::Create, &[("name", " ")]), "invalid config: w needs `name`");
        assert_eq!(err(Write::Update, &[("login", "ada")]), "invalid config: w: `login` can be set only by a create");
        assert_eq!(err(Write::Create, &[("name", "A"), ("enabled", "true")]), "invalid config: w: `enabled` can be set only by an update");
        assert_eq!(err(Write::Create, &[("name", "A"), ("name", "B")]), "invalid config: w: `name` takes one value");
        assert_eq!(check("w", Write::Update, &schema, &pairs(&[])), Ok(vec![]), "an update needs nothing");
    }
}
