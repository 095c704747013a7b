//! A flow's mapping: each target field is a CEL expression (Common Expression Language) over the source
//! resource's export record, as `export --format jsonl` prints it. A plain path (`user.name.given_name`,
//! `user.emails[0].address`) is already CEL; beyond paths, CEL's conditionals (`c ? a : b`), `!`, `has()`, `+`,
//! and the strings extension (`lowerAscii()`, `upperAscii()`, `join()`, `substring()`, `trim()`, `replace()`,
//! `split()`) cover what provisioning mappings commonly use.

use std::sync::Arc;

use anyhow::{Result, anyhow};
use cel::{Context, Env, ExecutionError, Program, Value};

/// One compiled expression, with its text for messages.
#[derive(Clone)]
pub struct Expression {
    text: String,
    program: Arc<Program>,
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// What an expression made of a record: the values to write (none when the record has nothing there), or why
/// it made nothing writable.
pub type Values = std::result::Result<Vec<String>, String>;

/// The environment every flow expression compiles and runs in: CEL's standard library and its strings extension.
fn env() -> Arc<Env> {
    static ENV: std::sync::OnceLock<Arc<Env>> = std::sync::OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        env.add_extension(cel::extensions::strings).expect("the strings extension declares each overload once");
        Arc::new(env)
    })
    .clone()
}

impl Expression {
    /// Compiles `text`, or says why it does not parse.
    pub fn compile(text: &str) -> Result<Self> {
        let program = env().compile(text).map_err(|e| {
            let first = e.to_string().lines().next().unwrap_or("a syntax error").trim().to_string();
            anyhow!("`{text}` does not parse: {first}")
        })?;
        Ok(Self { text: text.to_string(), program: Arc::new(program) })
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Its values over `record` (an export record, a JSON object): a string, number or boolean is one value, a
    /// list one per element, and null or a path the record lacks none.
    pub fn values(&self, record: &serde_json::Value) -> Values {
        let mut context = Context::with_env(env());
        if let Some(fields) = record.as_object() {
            for (name, value) in fields {
                context.add_variable_from_value(name.as_str(), cel::to_value(value).map_err(|e| e.to_string())?);
            }
        }
        match self.program.execute(&context) {
            Ok(value) => flatten(&value).map_err(|why| format!("`{}` {why}", self.text)),
            // A record without the path (or without an `[n]`th element) has nothing to write there, as an attribute
            // left empty in the source.
            Err(ExecutionError::NoSuchKey(_) | ExecutionError::UndeclaredReference(_) | ExecutionError::IndexOutOfBounds(_)) => Ok(Vec::new()),
            Err(e) => Err(format!("`{}` failed: {e}", self.text)),
        }
    }
}

fn flatten(value: &Value) -> std::result::Result<Vec<String>, String> {
    Ok(match value {
        Value::Null => Vec::new(),
        Value::String(s) => vec![s.to_string()],
        Value::Bool(b) => vec![b.to_string()],
        Value::Int(i) => vec![i.to_string()],
        Value::UInt(u) => vec![u.to_string()],
        Value::Float(f) => vec![f.to_string()],
        Value::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items.iter() {
                match flatten(item)?.as_slice() {
                    [] => {}
                    [one] => out.push(one.clone()),
                    _ => return Err("yields a list of lists".into()),
                }
            }
            out
        }
        Value::Map(_) => return Err("yields an object, not a value (name one of its fields)".into()),
        other => return Err(format!("yields a {}, not a string", other.type_of())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> serde_json::Value {
        json!({
            "kind": "resource", "resource_type": "user", "id": "u1", "display_name": "Ada Lovelace",
            "status": "enabled",
            "user": {"login": "Ada@Example.com", "emails": [{"address": "ada@example.com", "primary": true}],
                     "name": {"given_name": "Ada", "family_name": "Lovelace"}, "department_ids": ["d1", "d2"], "account_type": "human"},
            "profile": {"employeeNumber": 1815, "active": true}
        })
    }

    fn values(text: &str) -> Values {
        Expression::compile(text).unwrap().values(&record())
    }

    #[test]
    fn plain_paths_index_and_read_the_export_record() {
        assert_eq!(values("user.name.given_name"), Ok(vec!["Ada".into()]));
        assert_eq!(values("user.emails[0].address"), Ok(vec!["ada@example.com".into()]));
        assert_eq!(values("profile.employeeNumber"), Ok(vec!["1815".into()]));
        assert_eq!(values("profile.active"), Ok(vec!["true".into()]));
        assert_eq!(values("user.department_ids"), Ok(vec!["d1".into(), "d2".into()]));
        assert_eq!(values("user.title"), Ok(vec![]), "a path the record lacks writes nothing");
        assert_eq!(values("manager.id"), Ok(vec![]), "nor does a top-level key it lacks");
    }

    #[test]
    fn what_mappings_commonly_use_is_cel() {
        assert_eq!(values("user.login.lowerAscii()"), Ok(vec!["ada@example.com".into()]));
        assert_eq!(values("user.name.family_name.upperAscii()"), Ok(vec!["LOVELACE".into()]));
        assert_eq!(values("[user.name.given_name, user.name.family_name].join(' ')"), Ok(vec!["Ada Lovelace".into()]));
        assert_eq!(values("user.name.given_name.substring(0, 1) + user.name.family_name"), Ok(vec!["ALovelace".into()]));
        assert_eq!(values("has(user.title) ? user.title : 'Staff'"), Ok(vec!["Staff".into()]), "coalesce");
        assert_eq!(values("status == 'enabled' ? 'true' : 'false'"), Ok(vec!["true".into()]));
        assert_eq!(values("!(status == 'enabled')"), Ok(vec!["false".into()]));
    }

    #[test]
    fn what_cannot_be_written_is_named() {
        assert_eq!(values("user.name"), Err("`user.name` yields an object, not a value (name one of its fields)".into()));
        assert_eq!(values("user.emails[3].address"), Ok(vec![]), "a fourth address it lacks writes nothing");
        assert!(values("user.login + 1").unwrap_err().starts_with("`user.login + 1` failed: "));
        let error = Expression::compile("user.name.").unwrap_err().to_string();
        assert!(error.starts_with("`user.name.` does not parse: "), "{error}");
        assert_eq!(error.lines().count(), 1);
    }
}
