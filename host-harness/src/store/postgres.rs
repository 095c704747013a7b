//! The PostgreSQL store, for many replicas (`serve` on Kubernetes): one tokio-postgres connection per `Store`,
//! driven on a thread of its own so that the store's API stays blocking like SQLite's, and usable from any
//! thread, async or not. Statements are prepared once per connection. Session limits keep a paused or wedged
//! replica from holding locks: an idle transaction is ended, a statement or a lock wait is bounded.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use bytes::BytesMut;
use futures_util::StreamExt;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::Statement;

use super::schema::{POSTGRES_FIRST_VERSION, POSTGRES_SCHEMA, POSTGRES_SCHEMA_VERSION, POSTGRES_STEPS};
use super::sql::{Param, Row, Value, numbered_as_dollars};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Set on every connection: a transaction left open (a replica paused mid-commit) is ended after 5 s, so that
/// a replica taking its tenant over waits for its locks no longer than that (and never past the 10 s lock
/// timeout); no statement runs past 60 s.
const SESSION_SETTINGS: &str = "SET idle_in_transaction_session_timeout = '5s'; SET statement_timeout = '60s'; SET lock_timeout = '10s';";

pub struct PgConn {
    client: tokio_postgres::Client,
    statements: RefCell<HashMap<String, Statement>>,
}

/// A store's connection string with every password hidden, for messages: a URL's user info and its
/// `password` (or `sslpassword`) query parameter, or a key=value string's `password` words.
pub fn display_url(url: &str) -> String {
    let hides = |key: &str| key.to_ascii_lowercase().contains("password");
    if is_key_value(url) {
        let words = url.split_whitespace().map(|word| match word.split_once('=') {
            Some((key, _)) if hides(key) => format!("{key}=***"),
            _ => word.to_string(),
        });
        return words.collect::<Vec<_>>().join(" ");
    }
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            if parsed.query_pairs().any(|(key, _)| hides(&key)) {
                let kept: Vec<(String, String)> =
                    parsed.query_pairs().map(|(key, value)| (key.to_string(), if hides(&key) { "***".to_string() } else { value.to_string() })).collect();
                parsed.query_pairs_mut().clear().extend_pairs(kept);
            }
            parsed.to_string()
        }
        Err(_) => "the PostgreSQL store".into(),
    }
}

/// Whether `text` is a libpq key=value connection string (`host=db dbname=harness user=h password=…`), which
/// names a PostgreSQL database as a URL does.
pub fn is_key_value(text: &str) -> bool {
    const KEYS: [&str; 8] = ["host", "hostaddr", "port", "dbname", "user", "password", "sslmode", "application_name"];
    text.split_whitespace().any(|word| word.split_once('=').is_some_and(|(key, _)| KEYS.contains(&key)))
}

impl PgConn {
    pub fn connect(url: &str) -> Result<Self> {
        let shown = display_url(url);
        let (mut config, tls) = super::postgres_tls::settings(url, &shown)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("connector-harness");
        }
        // The connection's I/O runs on a thread with a runtime of its own; the client talks to it over channels,
        // so it can be used from any thread, inside a runtime or not.
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::Builder::new().name("postgres-connection".into()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = sender.send(Err(anyhow!("cannot start the connection's runtime: {e}")));
                    return;
                }
            };
            runtime.block_on(async move {
                match config.connect(tls).await {
                    Ok((client, connection)) => {
                        let _ = sender.send(Ok(client));
                        // Ends when the client is dropped or the server goes away.
                        let _ = connection.await;
                    }
                    Err(e) => {
                        let _ = sender.send(Err(anyhow!(describe(&e))));
                    }
                }
            });
        })?;
        let client = receiver.recv().map_err(|_| anyhow!("the connection thread stopped"))?.with_context(|| format!("cannot connect to {shown}"))?;
        let conn = Self { client, statements: RefCell::default() };
        conn.batch(SESSION_SETTINGS)?;
        Ok(conn)
    }

    fn statement(&self, sql: &str) -> Result<Statement> {
        if let Some(statement) = self.statements.borrow().get(sql) {
            return Ok(statement.clone());
        }
        let statement = futures_executor::block_on(self.client.prepare(&numbered_as_dollars(sql))).map_err(|e| anyhow!(describe(&e)))?;
        self.statements.borrow_mut().insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    pub fn execute(&self, sql: &str, args: &[Param<'_>]) -> Result<u64> {
        let statement = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        futures_executor::block_on(self.client.execute(&statement, &params)).map_err(|e| anyhow!(describe(&e)))
    }

    pub fn for_each(&self, sql: &str, args: &[Param<'_>], mut each: impl FnMut(&Row) -> Result<()>) -> Result<()> {
        let statement = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        futures_executor::block_on(async {
            let rows = self.client.query_raw(&statement, params).await.map_err(|e| anyhow!(describe(&e)))?;
            futures_util::pin_mut!(rows);
            while let Some(row) = rows.next().await {
                each(&read_row(&row.map_err(|e| anyhow!(describe(&e)))?)?)?;
            }
            Ok(())
        })
    }

    pub fn batch(&self, sql: &str) -> Result<()> {
        futures_executor::block_on(self.client.batch_execute(sql)).map_err(|e| anyhow!(describe(&e)))
    }
}

/// A driver error in one line: the server's own message when it sent one.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("PostgreSQL: {}", db.message()),
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

fn read_row(row: &tokio_postgres::Row) -> Result<Row> {
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let value = match *column.type_() {
            Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Int),
            Type::INT4 => row.try_get::<_, Option<i32>>(i)?.map(|n| Value::Int(n.into())),
            Type::INT2 => row.try_get::<_, Option<i16>>(i)?.map(|n| Value::Int(n.into())),
            Type::BOOL => row.try_get::<_, Option<bool>>(i)?.map(|b| Value::Int(b.into())),
            Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR | Type::UNKNOWN => row.try_get::<_, Option<String>>(i)?.map(Value::Text),
            Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob),
            ref other => bail!("the store returned a column of type {other}"),
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

/// Parameters take the type the statement needs of them (an integer sent to an INT4 or BOOL context, say).
impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Param::Null => Ok(IsNull::Yes),
            Param::Int(n) => match *ty {
                Type::INT8 => n.to_sql(ty, out),
                Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*n)?.to_sql(ty, out),
                Type::BOOL => (*n != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => n.to_string().to_sql(ty, out),
                ref other => Err(format!("an integer cannot be sent as {other}").into()),
            },
            Param::Text(s) => s.to_sql(ty, out),
            Param::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Creates the schema if the database has none, or brings an older one up to date, under a transaction-scoped
/// advisory lock, so that replicas starting together migrate once. A database written by a newer harness is
/// refused.
pub fn migrate(conn: &PgConn, version: i64) -> Result<Option<i64>> {
    // Every store a replica opens after the first finds the schema in place: no lock, one query.
    if schema_version(conn).ok().flatten() == Some(version) {
        return Ok(None);
    }
    conn.batch("BEGIN; SELECT pg_advisory_xact_lock(7238412650913)")?;
    let migrated = (|| {
        conn.batch("CREATE TABLE IF NOT EXISTS harness_schema (version BIGINT NOT NULL)")?;
        match schema_version(conn)? {
            Some(v) if v == version => Ok(None),
            Some(v) if v > version => bail!("it was written by a newer connector-harness (schema {v}; this one writes {version})"),
            Some(v) if v >= POSTGRES_FIRST_VERSION => {
                steps_after(conn, v)?;
                conn.execute("UPDATE harness_schema SET version = ?1", &[Param::Int(version)])?;
                Ok(Some(v))
            }
            Some(v) => bail!("its schema {v} predates this harness's PostgreSQL support; start from an empty database"),
            None => {
                conn.batch(POSTGRES_SCHEMA)?;
                steps_after(conn, POSTGRES_SCHEMA_VERSION)?;
                conn.execute("INSERT INTO harness_schema (version) VALUES (?1)", &[Param::Int(version)])?;
                Ok(None)
            }
        }
    })();
    match migrated {
        Ok(from) => conn.batch("COMMIT").map(|()| from),
        Err(e) => {
            let _ = conn.batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Runs the steps from schema `version` on.
fn steps_after(conn: &PgConn, version: i64) -> Result<()> {
    for (to, script) in POSTGRES_STEPS {
        if version < to {
            conn.batch(script)?;
        }
    }
    Ok(())
}

/// The schema's version, if the database has one.
fn schema_version(conn: &PgConn) -> Result<Option<i64>> {
    let mut found = None;
    conn.for_each("SELECT version FROM harness_schema", &[], |row| {
        found = Some(row.int(0)?);
        Ok(())
    })?;
    Ok(found)
}

/// For a reader: an error unless the database holds a store this harness can read.
pub fn check_schema(conn: &PgConn, version: i64) -> Result<()> {
    match schema_version(conn).ok().flatten() {
        Some(v) if v <= version => Ok(()),
        Some(v) => bail!("it was written by a newer connector-harness (schema {v}; this one reads up to {version})"),
        None => bail!("it holds no connector-harness store: run `connector-harness sync` or `serve` on it first"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_4_store_loses_the_grants_index_by_principal() {
        let server = real_servers::Postgres::start();
        let conn = PgConn::connect(&server.database("v4")).unwrap();
        let indexes = || {
            let mut names = Vec::new();
            conn.for_each("SELECT indexname FROM pg_indexes WHERE tablename = 'grants' ORDER BY indexname", &[], |row| {
                names.push(row.string(0)?);
                Ok(())
            })
            .unwrap();
            names
        };
        // The version 4 schema: today's, with the index.
        conn.batch(&format!("{POSTGRES_SCHEMA} CREATE INDEX grants_by_principal ON grants (sync_id, principal_type, principal_id);")).unwrap();
        conn.batch("CREATE TABLE harness_schema (version BIGINT NOT NULL); INSERT INTO harness_schema VALUES (4);").unwrap();
        assert_eq!(indexes(), ["grants_by_principal", "grants_pkey"]);
        migrate(&conn, 7).unwrap();
        assert_eq!((indexes(), schema_version(&conn).unwrap()), (vec!["grants_pkey".to_string()], Some(7)));
        migrate(&conn, 7).unwrap();
        let err = migrate(&conn, 6).unwrap_err().to_string();
        assert!(err.contains("written by a newer connector-harness (schema 7; this one writes 6)"), "{err}");
    }

    #[test]
    fn a_store_url_is_shown_without_its_password() {
        assert_eq!(display_url("postgres://harness:s3cret@db.internal:5432/harness"), "postgres://harness:***@db.internal:5432/harness");
        assert_eq!(display_url("postgres://harness@127.0.0.1:5432/h"), "postgres://harness@127.0.0.1:5432/h");
        assert_eq!(display_url("postgres://u:p@[::1"), "the PostgreSQL store");
        assert_eq!(display_url("postgres://h@db/h?sslmode=require&password=s3cret"), "postgres://h@db/h?sslmode=require&password=***");
        assert_eq!(display_url("postgresql://db/h?PASSWORD=s3cret&sslpassword=k3y"), "postgresql://db/h?PASSWORD=***&sslpassword=***");
        assert_eq!(display_url("host=db  dbname=h user=h password=s3cret"), "host=db dbname=h user=h password=***");
    }
}
