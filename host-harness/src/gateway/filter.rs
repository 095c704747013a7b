//! SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2): parsed into a tree, then evaluated against a SCIM
//! resource as JSON. `not` binds tighter than `and`, which binds tighter than `or`; parentheses group; a value
//! path (`emails[type eq "work" and value co "@x"]`) holds when one element of the attribute does. Attribute
//! names are case-insensitive, and so are string comparisons except of `id`, `externalId` and `meta.version`
//! (the attributes RFC 7643 marks `caseExact`).

use std::cmp::Ordering;

use serde_json::Value;

pub(super) use crate::scim_path::field;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// `[schema:]attribute[.subAttribute]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema's URN when the path names one (`urn:…:enterprise:2.0:User:manager`).
    pub schema: Option<String>,
    pub attribute: String,
    pub sub: Option<String>,
}

/// A filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare(AttrPath, Op, Value),
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attribute[filter]`, and (a tolerance: some clients write it) `attribute[filter].sub op value`.
    ValuePath(AttrPath, Box<Filter>),
}

/// A PATCH operation's path: `attribute[.sub]`, or `attribute[filter][.sub]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    /// The sub-attribute after a value filter (`emails[type eq "work"].value`).
    pub sub: Option<String>,
}

/// A filter or path that does not parse: the SCIM error `invalidFilter` (or `invalidPath`), with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Filters nest at most this deep: a client cannot exhaust the stack with parentheses.
const MAX_DEPTH: usize = 32;

impl Filter {
    /// Parses a filter.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut parser = Parser { tokens: tokenize(text)?, at: 0, depth: 0 };
        let filter = parser.or()?;
        match parser.peek() {
            None => Ok(filter),
            Some(token) => Err(ParseError(format!("unexpected `{}` in the filter", token.text()))),
        }
    }

    /// Whether `resource` passes.
    pub fn matches(&self, resource: &Value) -> Result<bool, ParseError> {
        Ok(match self {
            Filter::And(a, b) => a.matches(resource)? && b.matches(resource)?,
            Filter::Or(a, b) => a.matches(resource)? || b.matches(resource)?,
            Filter::Not(a) => !a.matches(resource)?,
            Filter::Present(path) => values(resource, path).iter().any(|v| !matches!(v, Value::Null) && v.as_str() != Some("") && v.as_array().is_none_or(|a| !a.is_empty())),
            Filter::Compare(path, op, expected) => {
                let exact = path.is_case_exact();
                // `ne` holds when no value equals: an absent attribute equals nothing.
                let (op, negate) = if *op == Op::Ne { (Op::Eq, true) } else { (*op, false) };
                let mut any = false;
                for value in values(resource, path) {
                    if compare(value, op, expected, exact)? {
                        any = true;
                        break;
                    }
                }
                any != negate
            }
            Filter::ValuePath(path, inner) => {
                let mut any = false;
                for item in values(resource, &AttrPath { sub: None, ..path.clone() }) {
                    if inner.matches(item)? {
                        any = true;
                        break;
                    }
                }
                any
            }
        })
    }

    /// Whether the filter reads the top-level attribute `attribute`.
    pub fn mentions(&self, attribute: &str) -> bool {
        match self {
            Filter::Compare(path, ..) | Filter::Present(path) | Filter::ValuePath(path, _) => path.attribute.eq_ignore_ascii_case(attribute),
            Filter::And(a, b) | Filter::Or(a, b) => a.mentions(attribute) || b.mentions(attribute),
            Filter::Not(a) => a.mentions(attribute),
        }
    }

    /// The value this filter requires at `attribute` when it is (or is a conjunct of) `attribute eq "value"`: the
    /// store answers that through an index before the rest is evaluated.
    pub fn required_eq(&self, attribute: &str) -> Option<&str> {
        match self {
            Filter::Compare(path, Op::Eq, Value::String(value)) if path.sub.is_none() && path.attribute.eq_ignore_ascii_case(attribute) && path.is_core() => Some(value),
            Filter::And(a, b) => a.required_eq(attribute).or_else(|| b.required_eq(attribute)),
            _ => None,
        }
    }
}

impl AttrPath {
    fn parse(text: &str) -> Result<Self, ParseError> {
        let (schema, rest) = match text.rfind(':') {
            Some(at) if text.len() > 4 && text[..4].eq_ignore_ascii_case("urn:") => (Some(text[..at].to_string()), &text[at + 1..]),
            _ => (None, text),
        };
        let (attribute, sub) = match rest.split_once('.') {
            Some((a, s)) => (a, Some(s.to_string())),
            None => (rest, None),
        };
        let name_ok = |s: &str| s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '$') && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-$".contains(c));
        if !name_ok(attribute) || sub.as_deref().is_some_and(|s| !name_ok(s)) {
            return Err(ParseError(format!("`{text}` is not an attribute path")));
        }
        Ok(Self { schema, attribute: attribute.to_string(), sub })
    }

    /// Whether it names an attribute of the resource's core schema (no URN, or the User or Group core URN).
    pub fn is_core(&self) -> bool {
        self.schema.as_deref().is_none_or(|s| s.to_ascii_lowercase().starts_with("urn:ietf:params:scim:schemas:core:2.0:"))
    }

    fn is_case_exact(&self) -> bool {
        let name = self.attribute.to_ascii_lowercase();
        let sub = self.sub.as_deref().map(str::to_ascii_lowercase);
        matches!((name.as_str(), sub.as_deref()), ("id" | "externalid", None) | ("meta", Some("version")))
    }

    /// The container the path starts from in `resource`: the resource, or its extension object.
    fn container<'v>(&self, resource: &'v Value) -> Option<&'v Value> {
        match &self.schema {
            Some(schema) if !self.is_core() => field(resource, schema),
            _ => Some(resource),
        }
    }
}

impl PatchPath {
    /// Parses a PATCH operation's `path`.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let text = text.trim();
        let Some(open) = text.find('[') else { return Ok(Self { attr: AttrPath::parse(text)?, filter: None, sub: None }) };
        let close = text.rfind(']').ok_or_else(|| ParseError(format!("`{text}` opens a value filter it does not close")))?;
        let attr = AttrPath::parse(&text[..open])?;
        if attr.sub.is_some() {
            return Err(ParseError(format!("`{text}`: a value filter follows an attribute, not a sub-attribute")));
        }
        let filter = Filter::parse(&text[open + 1..close])?;
        let sub = match &text[close + 1..] {
            "" => None,
            rest => Some(rest.strip_prefix('.').filter(|s| !s.is_empty()).ok_or_else(|| ParseError(format!("`{text}` has `{rest}` after its value filter")))?.to_string()),
        };
        Ok(Self { attr, filter: Some(filter), sub })
    }
}

/// The values at `path` in `resource`: a multi-valued attribute's elements (or their sub-attribute), or the one
/// value.
fn values<'v>(resource: &'v Value, path: &AttrPath) -> Vec<&'v Value> {
    let Some(found) = path.container(resource).and_then(|c| field(c, &path.attribute)) else { return Vec::new() };
    let items: Vec<&Value> = match found {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    match &path.sub {
        None => items,
        Some(sub) => items.into_iter().filter_map(|item| field(item, sub)).flat_map(|v| match v {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        }).collect(),
    }
}


fn compare(actual: &Value, op: Op, expected: &Value, exact: bool) -> Result<bool, ParseError> {
    let fold = |s: &str| if exact { s.to_string() } else { s.to_lowercase() };
    Ok(match (actual, expected) {
        (Value::String(a), Value::String(e)) => {
            let (a, e) = (fold(a), fold(e));
            match op {
                Op::Eq => a == e,
                Op::Ne => a != e,
                Op::Co => a.contains(&e),
                Op::Sw => a.starts_with(&e),
                Op::Ew => a.ends_with(&e),
                Op::Gt => a > e,
                Op::Ge => a >= e,
                Op::Lt => a < e,
                Op::Le => a <= e,
            }
        }
        (Value::Number(a), Value::Number(e)) => {
            let ordering = a.as_f64().partial_cmp(&e.as_f64()).unwrap_or(Ordering::Equal);
            match op {
                Op::Eq => ordering == Ordering::Equal,
                Op::Ne => ordering != Ordering::Equal,
                Op::Gt => ordering == Ordering::Greater,
                Op::Ge => ordering != Ordering::Less,
                Op::Lt => ordering == Ordering::Less,
                Op::Le => ordering != Ordering::Greater,
                Op::Co | Op::Sw | Op::Ew => return Err(ParseError("co, sw and ew compare strings".into())),
            }
        }
        (Value::Bool(a), Value::Bool(e)) => match op {
            Op::Eq => a == e,
            Op::Ne => a != e,
            _ => return Err(ParseError("a boolean is compared only with eq or ne".into())),
        },
        // A boolean the client wrote as a string, as Entra does ("False"); and null.
        (Value::Bool(a), Value::String(e)) if matches!(op, Op::Eq | Op::Ne) && (e.eq_ignore_ascii_case("true") || e.eq_ignore_ascii_case("false")) => {
            (*a == e.eq_ignore_ascii_case("true")) == (op == Op::Eq)
        }
        (_, Value::Null) => (matches!(actual, Value::Null)) == (op == Op::Eq),
        _ => op == Op::Ne,
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Word(String),
    Literal(Value),
}

impl Token {
    fn text(&self) -> String {
        match self {
            Token::Open => "(".into(),
            Token::Close => ")".into(),
            Token::OpenBracket => "[".into(),
            Token::CloseBracket => "]".into(),
            Token::Word(w) => w.clone(),
            Token::Literal(v) => v.to_string(),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, ParseError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | '[' | ']' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    '[' => Token::OpenBracket,
                    _ => Token::CloseBracket,
                });
            }
            '"' => {
                // A JSON string: read to its closing quote, escapes included, and let serde_json decode it.
                chars.next();
                let mut escaped = false;
                let mut end = None;
                for (i, c) in chars.by_ref() {
                    match (escaped, c) {
                        (true, _) => escaped = false,
                        (false, '\\') => escaped = true,
                        (false, '"') => {
                            end = Some(i);
                            break;
                        }
                        _ => {}
                    }
                }
                let end = end.ok_or_else(|| ParseError("a string in the filter is not closed".into()))?;
                let value: Value = serde_json::from_str(&text[at..=end]).map_err(|_| ParseError(format!("{} is not a JSON string", &text[at..=end])))?;
                tokens.push(Token::Literal(value));
            }
            _ => {
                let mut end = text.len();
                while let Some(&(i, c)) = chars.peek() {
                    if c.is_whitespace() || "()[]\"".contains(c) {
                        end = i;
                        break;
                    }
                    chars.next();
                }
                let word = &text[at..end];
                // `].value` after a value filter arrives as a word starting with a dot.
                tokens.push(Token::Word(word.to_string()));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn or(&mut self) -> Result<Filter, ParseError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ParseError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError(format!("the filter nests deeper than {MAX_DEPTH}")));
        }
        let filter = if self.keyword("not") {
            self.at += 1;
            self.expect(Token::Open, "`(` after not")?;
            let inner = self.or()?;
            self.expect(Token::Close, "`)`")?;
            Filter::Not(Box::new(inner))
        } else if self.peek() == Some(&Token::Open) {
            self.at += 1;
            let inner = self.or()?;
            self.expect(Token::Close, "`)`")?;
            inner
        } else {
            self.attribute_expression()?
        };
        self.depth -= 1;
        Ok(filter)
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<(), ParseError> {
        match self.next() {
            Some(found) if found == token => Ok(()),
            Some(found) => Err(ParseError(format!("expected {what} in the filter, found `{}`", found.text()))),
            None => Err(ParseError(format!("the filter ends where {what} was expected"))),
        }
    }

    fn attribute_expression(&mut self) -> Result<Filter, ParseError> {
        let path = match self.next() {
            Some(Token::Word(word)) => AttrPath::parse(&word)?,
            Some(other) => return Err(ParseError(format!("expected an attribute in the filter, found `{}`", other.text()))),
            None => return Err(ParseError("the filter is empty where an attribute was expected".into())),
        };
        if self.peek() == Some(&Token::OpenBracket) {
            self.at += 1;
            let inner = self.or()?;
            self.expect(Token::CloseBracket, "`]`")?;
            // `emails[type eq "work"].value eq "x"`: the sub-attribute's comparison is made inside the filter.
            if let Some(Token::Word(word)) = self.peek().cloned()
                && let Some(sub) = word.strip_prefix('.')
            {
                self.at += 1;
                let sub_path = AttrPath::parse(sub)?;
                let comparison = self.comparison(sub_path)?;
                return Ok(Filter::ValuePath(path, Box::new(Filter::And(Box::new(inner), Box::new(comparison)))));
            }
            return Ok(Filter::ValuePath(path, Box::new(inner)));
        }
        self.comparison(path)
    }

    fn comparison(&mut self, path: AttrPath) -> Result<Filter, ParseError> {
        let op = match self.next() {
            Some(Token::Word(op)) => op.to_ascii_lowercase(),
            _ => return Err(ParseError(format!("expected an operator after `{}` in the filter", path.attribute))),
        };
        let op = match op.as_str() {
            "pr" => return Ok(Filter::Present(path)),
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            other => return Err(ParseError(format!("`{other}` is not a filter operator"))),
        };
        let value = match self.next() {
            Some(Token::Literal(value)) => value,
            Some(Token::Word(word)) => match word.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => serde_json::from_str::<serde_json::Number>(&word).map(Value::Number).map_err(|_| ParseError(format!("`{word}` is not a value: strings are quoted")))?,
            },
            _ => return Err(ParseError(format!("expected a value after `{}`", path.attribute))),
        };
        Ok(Filter::Compare(path, op, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ada() -> Value {
        json!({
            "id": "U1", "userName": "Ada@Example.test", "active": true, "title": "Analyst",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "ada@home.test", "type": "home"}, {"value": "ada@work.test", "type": "work"}],
            "meta": {"lastModified": "2026-03-01T10:00:00Z", "resourceType": "User"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "1815", "manager": {"value": "U7"}}
        })
    }

    fn holds(filter: &str) -> bool {
        Filter::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}")).matches(&ada()).unwrap()
    }

    #[test]
    fn every_operator_compares_as_rfc_7644_says() {
        for (filter, expected) in [
            ("userName eq \"ada@example.test\"", true),
            ("USERNAME EQ \"ADA@EXAMPLE.TEST\"", true),
            ("id eq \"u1\"", false),
            ("userName ne \"grace@example.test\"", true),
            ("nickName ne \"x\"", true),
            ("userName co \"example\"", true),
            ("userName sw \"ada\"", true),
            ("userName ew \".test\"", true),
            ("meta.lastModified gt \"2026-01-01T00:00:00Z\"", true),
            ("meta.lastModified le \"2026-01-01T00:00:00Z\"", false),
            ("title pr", true),
            ("nickName pr", false),
            ("active eq true", true),
            ("active eq \"False\"", false),
            ("name.familyName eq \"lovelace\"", true),
            ("emails.value eq \"ada@work.test\"", true),
            ("emails[type eq \"work\" and value co \"@work\"]", true),
            ("emails[type eq \"work\"].value eq \"ada@home.test\"", false),
            ("emails[type eq \"work\"].value eq \"ada@work.test\"", true),
            ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"1815\"", true),
            ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"U7\"", true),
            ("urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"ADA\"", true),
            ("title eq \"x\" or not (active eq false) and userName pr", true),
            ("(title eq \"x\" or active eq false) and userName pr", false),
            ("not (emails[type eq \"home\"])", false),
        ] {
            assert_eq!(holds(filter), expected, "{filter}");
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let parsed = Filter::parse("a eq 1 or b eq 2 and c eq 3").unwrap();
        assert!(matches!(parsed, Filter::Or(_, right) if matches!(*right, Filter::And(_, _))));
    }

    #[test]
    fn an_index_answers_a_required_equality() {
        let parsed = Filter::parse("userName eq \"Ada\" and active eq true").unwrap();
        assert_eq!(parsed.required_eq("username"), Some("Ada"));
        assert_eq!(Filter::parse("userName eq \"Ada\" or active eq true").unwrap().required_eq("userName"), None);
        assert_eq!(Filter::parse("emails[value eq \"x\"]").unwrap().required_eq("value"), None);
    }

    #[test]
    fn a_filter_that_does_not_parse_says_why() {
        for (filter, why) in [
            ("userName", "expected an operator after `userName` in the filter"),
            ("userName eq", "expected a value after `userName`"),
            ("userName eq ada", "`ada` is not a value: strings are quoted"),
            ("userName is \"x\"", "`is` is not a filter operator"),
            ("(userName pr", "the filter ends where `)` was expected"),
            ("userName pr)", "unexpected `)` in the filter"),
            ("userName eq \"x", "a string in the filter is not closed"),
            ("9lives pr", "`9lives` is not an attribute path"),
        ] {
            assert_eq!(Filter::parse(filter).unwrap_err().0, why, "{filter}");
        }
        let deep = format!("{}a pr{}", "(".repeat(40), ")".repeat(40));
        assert_eq!(Filter::parse(&deep).unwrap_err().0, "the filter nests deeper than 32");
    }

    #[test]
    fn patch_paths_name_an_attribute_a_filtered_element_or_its_sub_attribute() {
        let path = PatchPath::parse("emails[type eq \"work\"].value").unwrap();
        assert_eq!(path.attr.attribute, "emails");
        assert_eq!(path.sub.as_deref(), Some("value"));
        assert!(path.filter.is_some());
        let path = PatchPath::parse("members[value eq \"2819c223-7f76-453a-919d-413861904646\"]").unwrap();
        assert_eq!((path.attr.attribute.as_str(), path.sub), ("members", None));
        let path = PatchPath::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager").unwrap();
        assert_eq!(path.attr.schema.as_deref(), Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"));
        assert_eq!(path.attr.attribute, "manager");
        assert_eq!(PatchPath::parse("name.givenName").unwrap().attr.sub.as_deref(), Some("givenName"));
        assert!(PatchPath::parse("emails[type eq \"work\"]value").is_err());
    }
}
