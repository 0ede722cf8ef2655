//! Where the services keep their data: a database per service, SQLite files
//! (embedded, the default) or PostgreSQL databases (distributed).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};

/// Where the services keep their data.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Storage {
    /// SQLite files `order.db` and `payment.db` in this directory, or, with `None`,
    /// in a new temporary directory deleted at shutdown (the default).
    Sqlite(Option<PathBuf>),
    /// PostgreSQL: the server at this URL, with the databases `ecommerce_order`,
    /// `ecommerce_payment` and `ecommerce_product` (created when missing).
    Postgres(String),
}

impl Default for Storage {
    fn default() -> Self {
        Self::Sqlite(None)
    }
}

impl std::fmt::Display for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(Some(dir)) => write!(f, "SQLite in {}", dir.display()),
            Self::Sqlite(None) => f.write_str("SQLite in a temporary directory"),
            Self::Postgres(url) => {
                let shown = PgConnectOptions::from_str(url)
                    .map(|o| format!("{}:{}", o.get_host(), o.get_port()))
                    .unwrap_or_else(|_| "?".into());
                write!(f, "PostgreSQL at {shown}")
            }
        }
    }
}

/// A database could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The data directory could not be made.
    #[error("cannot create the data directory {0}")]
    Dir(PathBuf, #[source] std::io::Error),
    /// The database refused a connection or the schema.
    #[error("cannot open the {service} database; is the database reachable and the URL right?")]
    Open {
        /// The service.
        service: &'static str,
        /// Why.
        #[source]
        source: sqlx::Error,
    },
}

/// A SQLite database file for `service` in `dir`.
pub(crate) async fn sqlite(dir: &Path, service: &'static str) -> Result<SqlitePool, StorageError> {
    std::fs::create_dir_all(dir).map_err(|e| StorageError::Dir(dir.to_owned(), e))?;
    let options = SqliteConnectOptions::new()
        .filename(dir.join(format!("{service}.db")))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // WAL with NORMAL: a crash of the process loses nothing; a power cut may lose
        // the last commits (SQLite's recommended setting for WAL).
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10));
    SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .map_err(|source| StorageError::Open { service, source })
}

/// The PostgreSQL database `ecommerce_<service>` on the server at `url`, created
/// when missing.
pub(crate) async fn postgres(url: &str, service: &'static str) -> Result<PgPool, StorageError> {
    let open = |source| StorageError::Open { service, source };
    let server = PgConnectOptions::from_str(url).map_err(open)?;
    let name = format!("ecommerce_{service}");
    let mut admin = server.connect().await.map_err(open)?;
    let exists: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&mut admin)
        .await
        .map_err(open)?;
    if exists.is_none() {
        // The name is ours, not the user's: safe to put in the statement.
        let created = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await;
        if let Err(e) = created {
            // Another process may have created it meanwhile: `42P04` when it had
            // committed before, `23505` on the catalog's unique index when both ran
            // at once.
            let raced = matches!(&e, sqlx::Error::Database(d)
                if matches!(d.code().as_deref(), Some("42P04" | "23505")));
            if !raced {
                return Err(open(e));
            }
        }
    }
    admin.close().await.map_err(open)?;
    PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(2))
        .connect_with(server.database(&name))
        .await
        .map_err(open)
}
