//! One connection to either store, SQLite or PostgreSQL, behind the few operations the store needs: run a
//! statement, read rows, run a transaction. Every statement is written once, in the SQL both dialects share
//! (`ON CONFLICT`, `RETURNING`, `IS DISTINCT FROM`, numbered `?N` parameters), and sent to PostgreSQL with
//! `?N` rewritten to `$N`. Values are 64-bit integers, text or NULL in both, so a store's bytes read the same
//! from either. What differs (opening, schema, migration) lives in `sqlite.rs` and `postgres.rs`.

use anyhow::{Result, anyhow, bail};

use super::postgres::PgConn;

/// A statement's parameter.
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    Null,
    Int(i64),
    Text(&'a str),
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
    ($($value:expr),* $(,)?) => { &[$($crate::store::db::Param::from($value)),*] };
}
pub(crate) use args;

/// A value read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
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
            Value::Text(_) => bail!("the store returned text for the integer column {i}"),
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

pub enum Db {
    Sqlite(rusqlite::Connection),
    Postgres(PgConn),
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value as Owned, ValueRef};
        Ok(match self {
            Param::Null => ToSqlOutput::Owned(Owned::Null),
            Param::Int(n) => ToSqlOutput::Owned(Owned::Integer(*n)),
            Param::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

fn sqlite_row(row: &rusqlite::Row<'_>) -> Result<Row> {
    use rusqlite::types::ValueRef;
    let columns = row.as_ref().column_count();
    let mut values = Vec::with_capacity(columns);
    for i in 0..columns {
        values.push(match row.get_ref(i)? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(n) => Value::Int(n),
            ValueRef::Text(bytes) => Value::Text(String::from_utf8(bytes.to_vec()).map_err(|_| anyhow!("the store holds text that is not UTF-8"))?),
            ValueRef::Real(_) | ValueRef::Blob(_) => bail!("the store returned a value of an unexpected type in column {i}"),
        });
    }
    Ok(Row(values))
}

impl Db {
    /// Runs a statement; how many rows it changed.
    pub fn execute(&self, sql: &str, args: &[Param<'_>]) -> Result<u64> {
        match self {
            Db::Sqlite(conn) => Ok(conn.prepare_cached(sql)?.execute(rusqlite::params_from_iter(args))? as u64),
            Db::Postgres(pg) => pg.execute(sql, args),
        }
    }

    /// Calls `each` with every row a query returns, as they come.
    pub fn for_each(&self, sql: &str, args: &[Param<'_>], mut each: impl FnMut(&Row) -> Result<()>) -> Result<()> {
        match self {
            Db::Sqlite(conn) => {
                let mut stmt = conn.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
                while let Some(row) = rows.next()? {
                    each(&sqlite_row(row)?)?;
                }
                Ok(())
            }
            Db::Postgres(pg) => pg.for_each(sql, args, each),
        }
    }

    pub fn rows(&self, sql: &str, args: &[Param<'_>]) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        self.for_each(sql, args, |row| {
            rows.push(row.clone());
            Ok(())
        })?;
        Ok(rows)
    }

    /// The first row a query returns, if any.
    pub fn row(&self, sql: &str, args: &[Param<'_>]) -> Result<Option<Row>> {
        Ok(self.rows(sql, args)?.into_iter().next())
    }

    /// Runs `f` in one transaction: committed if it succeeds, rolled back if it fails. On SQLite the
    /// transaction takes the write lock at once (`BEGIN IMMEDIATE`), so a read-then-write inside cannot be
    /// overtaken by another writer.
    pub fn transaction<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.batch(match self {
            Db::Sqlite(_) => "BEGIN IMMEDIATE",
            Db::Postgres(_) => "BEGIN",
        })?;
        match f() {
            Ok(value) => {
                self.batch("COMMIT")?;
                Ok(value)
            }
            Err(e) => {
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Runs statements without parameters (schema changes, transaction control).
    pub fn batch(&self, sql: &str) -> Result<()> {
        match self {
            Db::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Db::Postgres(pg) => pg.batch(sql),
        }
    }

    /// The store's clock in epoch ms, as SQL. Lease and heartbeat times all come from it, so replicas whose own
    /// clocks disagree still agree on who holds what. (An SQLite store has one machine's clock, the same for every
    /// process that opens it.)
    pub fn clock_sql(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
            Db::Postgres(_) => "CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT)",
        }
    }

    /// The store's clock now (`clock_sql`), in epoch ms.
    pub fn now_ms(&self) -> Result<i64> {
        self.row(&format!("SELECT {}", self.clock_sql()), &[])?.ok_or_else(|| anyhow!("the store did not tell its time"))?.int(0)
    }

    /// The clause that locks the rows a read-then-write transaction reads: PostgreSQL's row locks. SQLite's
    /// transactions hold the one write lock from their start (`transaction`), so it needs none.
    pub fn for_update(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "",
            Db::Postgres(_) => " FOR UPDATE",
        }
    }

    /// Like `for_update`, but skipping rows another transaction holds: a claim passes over tenants another
    /// replica is claiming at that moment.
    pub fn skip_locked(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "",
            Db::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_parameters_become_dollars_outside_quoted_text() {
        assert_eq!(numbered_as_dollars("SELECT a FROM t WHERE b = ?1 AND c = ?12"), "SELECT a FROM t WHERE b = $1 AND c = $12");
        assert_eq!(numbered_as_dollars("SELECT '?1', x || '?' FROM t WHERE y = ?2"), "SELECT '?1', x || '?' FROM t WHERE y = $2");
        assert_eq!(numbered_as_dollars("SELECT 'it''s ?3' WHERE z = ?3"), "SELECT 'it''s ?3' WHERE z = $3");
    }
}
