//! Reading a SCIM attribute path (RFC 7644 §3.10) out of a SCIM resource: `title`, `name.givenName`,
//! `emails[type eq "work"].value`, or an extension's `urn:…:User:manager.value`. A connector's write schema names
//! its fields' SCIM paths this way; a flow reads a target account's current values through them. Attribute names
//! are case-insensitive, as SCIM's are; a value filter compares with `eq` only.

use serde_json::Value;

/// The values at `path` in `resource`: each string, number or boolean found (one per element of a multi-valued
/// attribute that passes the filter), or none.
pub fn values(resource: &Value, path: &str) -> Vec<String> {
    let (container, rest) = match path.rfind(':') {
        Some(at) if path.starts_with("urn:") => (field(resource, &path[..at]), &path[at + 1..]),
        _ => (Some(resource), path),
    };
    let Some(container) = container else { return Vec::new() };
    let Some(path) = AttributePath::parse(rest) else { return Vec::new() };
    let mut out = Vec::new();
    for item in each(field(container, path.attribute)) {
        if let Some((name, expected)) = &path.filter
            && !each(field(item, name)).any(|v| scalar(v).is_some_and(|v| v.eq_ignore_ascii_case(expected)))
        {
            continue;
        }
        let found = match path.sub_attribute {
            Some(sub) => field(item, sub),
            None => Some(item),
        };
        out.extend(each(found).filter_map(scalar));
    }
    out
}

/// `attribute[filterAttribute eq "value"].subAttribute`, each part but the first optional.
struct AttributePath<'a> {
    attribute: &'a str,
    filter: Option<(&'a str, String)>,
    sub_attribute: Option<&'a str>,
}

impl<'a> AttributePath<'a> {
    fn parse(path: &'a str) -> Option<Self> {
        let (head, filter, tail) = match path.split_once('[') {
            Some((head, rest)) => {
                let (filter, tail) = rest.split_once(']')?;
                (head, Some(filter), tail)
            }
            None => (path, None, ""),
        };
        let (attribute, sub_attribute) = match (head.split_once('.'), tail.strip_prefix('.')) {
            (Some((attribute, sub)), _) if filter.is_none() => (attribute, Some(sub)),
            (None, sub) => (head, sub.filter(|s| !s.is_empty())),
            _ => return None,
        };
        let filter = match filter {
            Some(text) => {
                let mut words = text.splitn(3, ' ');
                let (name, op, literal) = (words.next()?, words.next()?, words.next()?.trim());
                if !op.eq_ignore_ascii_case("eq") {
                    return None;
                }
                Some((name, literal.trim_matches('"').to_string()))
            }
            None => None,
        };
        Some(Self { attribute, filter, sub_attribute })
    }
}

/// A member of an object by case-insensitive name.
pub(crate) fn field<'v>(value: &'v Value, name: &str) -> Option<&'v Value> {
    value.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// The elements of a multi-valued attribute, or the one value of a single-valued one.
fn each(value: Option<&Value>) -> impl Iterator<Item = &Value> {
    let (list, one) = match value {
        Some(Value::Array(items)) => (items.as_slice(), None),
        Some(Value::Null) | None => (&[][..], None),
        Some(other) => (&[][..], Some(other)),
    };
    list.iter().chain(one)
}

/// A string, number or boolean as text.
pub(crate) fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_read_simple_complex_filtered_and_extension_attributes() {
        let user = json!({
            "userName": "ada", "active": true, "title": "Analyst",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "ada@home.test", "type": "home"}, {"value": "ada@work.test", "type": "work", "primary": true}],
            "phoneNumbers": [{"value": "+1 555", "type": "WORK"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "7"}, "employeeNumber": "1815"}
        });
        let at = |path: &str| values(&user, path);
        assert_eq!(at("userName"), ["ada"]);
        assert_eq!(at("username"), ["ada"], "attribute names are case-insensitive");
        assert_eq!(at("active"), ["true"]);
        assert_eq!(at("name.givenName"), ["Ada"]);
        assert_eq!(at("emails[type eq \"work\"].value"), ["ada@work.test"]);
        assert_eq!(at("emails.value"), ["ada@home.test", "ada@work.test"]);
        assert_eq!(at("phoneNumbers[type eq \"work\"].value"), ["+1 555"], "and so are values compared by a filter");
        assert_eq!(at("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"), ["7"]);
        assert_eq!(at("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"), ["1815"]);
        assert!(at("nickName").is_empty() && at("name.middleName").is_empty() && at("emails[type eq \"other\"].value").is_empty());
        assert!(at("emails[type co \"w\"].value").is_empty(), "only eq filters are read");
    }
}
