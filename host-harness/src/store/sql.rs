//! The SQL both stores speak: statement parameters (`args!`), rows read back, and the few text helpers that
//! write statements (`?N` numbering, multi-row `VALUES`). A leaf: it knows neither store.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use anyhow::{Result, anyhow, bail};

/// A statement's parameter.
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl From<i64> for Param<'_> {
    fn from(value: i64) -> Self {
        Param::Int(value)
    }
}

impl From<bool> for Param<'_> {
    fn from(value: bool) -> Self {
        Param::Int(i64::from(value))
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(value: &'a str) -> Self {
        Param::Text(value)
    }
}

impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(value: &'a [u8]) -> Self {
        Param::Blob(value)
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(value: &'a String) -> Self {
        Param::Text(value)
    }
}

impl<'a, T: Into<Param<'a>>> From<Option<T>> for Param<'a> {
    fn from(value: Option<T>) -> Self {
        value.map_or(Param::Null, Into::into)
    }
}

/// `args![a, b, c]`: a statement's parameters, each converted to a `Param`.
macro_rules! args {
    ($($value:expr),* $(,)?) => { &[$($crate::store::sql::Param::from($value)),*] };
}
pub(crate) use args;

/// A value read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// One row read back, by column position.
#[derive(Debug, Clone)]
pub struct Row(pub(super) Vec<Value>);

impl Row {
    fn value(&self, i: usize) -> Result<&Value> {
        self.0.get(i).ok_or_else(|| anyhow!("the store returned no column {i}"))
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.value(i)? {
            Value::Null => Ok(None),
            Value::Int(n) => Ok(Some(*n)),
            Value::Text(_) | Value::Blob(_) => bail!("the store returned text or bytes for the integer column {i}"),
        }
    }

    pub fn int(&self, i: usize) -> Result<i64> {
        self.opt_int(i)?.ok_or_else(|| anyhow!("the store returned NULL for column {i}"))
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<&str>> {
        match self.value(i)? {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s)),
            Value::Int(_) => bail!("the store returned an integer for the text column {i}"),
            Value::Blob(_) => bail!("the store returned bytes for the text column {i}"),
        }
    }

    /// A text or bytes column's bytes.
    pub fn bytes(&self, i: usize) -> Result<&[u8]> {
        match self.value(i)? {
            Value::Text(s) => Ok(s.as_bytes()),
            Value::Blob(b) => Ok(b),
            Value::Null => bail!("the store returned NULL for column {i}"),
            Value::Int(_) => bail!("the store returned an integer for the bytes column {i}"),
        }
    }

    pub fn text(&self, i: usize) -> Result<&str> {
        self.opt_text(i)?.ok_or_else(|| anyhow!("the store returned NULL for column {i}"))
    }

    pub fn opt_string(&self, i: usize) -> Result<Option<String>> {
        Ok(self.opt_text(i)?.map(str::to_string))
    }

    pub fn string(&self, i: usize) -> Result<String> {
        Ok(self.text(i)?.to_string())
    }
}

/// `?N` parameters as PostgreSQL's `$N`, outside quoted text.
pub fn numbered_as_dollars(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted && chars.peek().is_some_and(char::is_ascii_digit) => out.push('$'),
            c => out.push(c),
        }
    }
    out
}

/// `rows` rows of `columns` numbered parameters: `(?1, ?2), (?3, ?4)`. Made once for each shape: a sync's page
/// writer asks for the same few thousands of times, and writing 1,536 numbers a statement took a seventh of its
/// time (BENCHMARKS.md, session 17).
pub(super) fn rows_of(columns: usize, rows: usize) -> Arc<str> {
    /// By (columns, rows): a few hundred shapes at most (`pages.rs` writes at most `ROWS_PER_INSERT` rows at once).
    type Made = HashMap<(usize, usize), Arc<str>>;
    static MADE: LazyLock<Mutex<Made>> = LazyLock::new(Mutex::default);
    let mut made = MADE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    made.entry((columns, rows))
        .or_insert_with(|| {
            let numbers: Vec<String> = (0..rows).map(|row| (1..=columns).map(|column| format!("?{}", row * columns + column)).collect::<Vec<_>>().join(", ")).collect();
            format!("({})", numbers.join("), (")).into()
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_parameters_become_dollars_outside_quoted_text() {
        assert_eq!(numbered_as_dollars("SELECT a FROM t WHERE b = ?1 AND c = ?12"), "SELECT a FROM t WHERE b = $1 AND c = $12");
        assert_eq!(numbered_as_dollars("SELECT '?1', x || '?' FROM t WHERE y = ?2"), "SELECT '?1', x || '?' FROM t WHERE y = $2");
        assert_eq!(numbered_as_dollars("SELECT 'it''s ?3' WHERE z = ?3"), "SELECT 'it''s ?3' WHERE z = $3");
    }

    #[test]
    fn multi_row_inserts_number_their_parameters_row_by_row() {
        assert_eq!(&*rows_of(2, 3), "(?1, ?2), (?3, ?4), (?5, ?6)");
        assert_eq!(&*rows_of(1, 1), "(?1)");
    }
}
