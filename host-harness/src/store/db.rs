//! One connection to either store, SQLite or PostgreSQL, behind the few operations the store needs: run a
//! statement, read rows, run a transaction. Every statement is written once, in the SQL both dialects share
//! (`ON CONFLICT`, `RETURNING`, `IS DISTINCT FROM`, numbered `?N` parameters), and sent to PostgreSQL with
//! `?N` rewritten to `$N`. Values are 64-bit integers, text, bytes or NULL in both, so a store's bytes read the same
//! from either. What differs (opening, schema, migration) lives in `sqlite.rs` and `postgres.rs`.

use anyhow::{Result, anyhow, bail};

use super::postgres::PgConn;
use super::sql::{Param, Row, Value};

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
            Param::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

/// Reads a row into `into`, reusing its values' buffers: a query's rows are read one after another into one `Row`.
fn read_sqlite_row(row: &rusqlite::Row<'_>, into: &mut Row) -> Result<()> {
    use rusqlite::types::ValueRef;
    let utf8 = |bytes| std::str::from_utf8(bytes).map_err(|_| anyhow!("the store holds text that is not UTF-8"));
    into.0.resize(row.as_ref().column_count(), Value::Null);
    for (i, value) in into.0.iter_mut().enumerate() {
        match (row.get_ref(i)?, value) {
            (ValueRef::Text(bytes), Value::Text(text)) => {
                text.clear();
                text.push_str(utf8(bytes)?);
            }
            (ValueRef::Blob(bytes), Value::Blob(blob)) => {
                blob.clear();
                blob.extend_from_slice(bytes);
            }
            (ValueRef::Text(bytes), value) => *value = Value::Text(utf8(bytes)?.to_string()),
            (ValueRef::Blob(bytes), value) => *value = Value::Blob(bytes.to_vec()),
            (ValueRef::Integer(n), value) => *value = Value::Int(n),
            (ValueRef::Null, value) => *value = Value::Null,
            (ValueRef::Real(_), _) => bail!("the store returned a value of an unexpected type in column {i}"),
        }
    }
    Ok(())
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
                let mut read = Row(Vec::new());
                while let Some(row) = rows.next()? {
                    read_sqlite_row(row, &mut read)?;
                    each(&read)?;
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
