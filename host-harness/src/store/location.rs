//! Where a store is, as the command line and the tenants' service name it, and as messages show it.

use std::path::PathBuf;

use super::postgres;

/// Where a store is: an SQLite file (a path, or `sqlite:PATH`) or a PostgreSQL database (`postgres://…`, or a
/// libpq key=value string such as `host=db dbname=harness user=h`).
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection string (a URL or libpq key=value pairs).
    Postgres(String),
}

/// As `Display`: a PostgreSQL connection string may hold a password.
impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreLocation({self})")
    }
}

impl std::str::FromStr for StoreLocation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") || postgres::is_key_value(text) {
            return Ok(Self::Postgres(text.to_string()));
        }
        let path = text.strip_prefix("sqlite:").unwrap_or(text);
        if path.is_empty() {
            return Err("a store is a file path, sqlite:PATH or postgres://…".into());
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }
}

/// The location as messages show it: a PostgreSQL URL without its password.
impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => f.write_str(&postgres::display_url(url)),
        }
    }
}

impl StoreLocation {
    /// Whether the store exists already (a PostgreSQL database is assumed to).
    pub fn exists(&self) -> bool {
        match self {
            Self::Sqlite(path) => path.is_file(),
            Self::Postgres(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_value_connection_string_is_postgres_and_never_shown_with_its_password() {
        let location: StoreLocation = "host=db.internal dbname=harness user=h password=s3cret".parse().unwrap();
        assert_eq!(location, StoreLocation::Postgres("host=db.internal dbname=harness user=h password=s3cret".into()));
        assert_eq!(location.to_string(), "host=db.internal dbname=harness user=h password=***");
        assert_eq!(format!("{location:?}"), "StoreLocation(host=db.internal dbname=harness user=h password=***)");
        let url: StoreLocation = "postgres://h@db/harness?password=s3cret".parse().unwrap();
        assert_eq!(url.to_string(), "postgres://h@db/harness?password=***");
        assert_eq!("state=1.db".parse::<StoreLocation>().unwrap(), StoreLocation::Sqlite("state=1.db".into()), "a file may have = in its name");
    }
}
