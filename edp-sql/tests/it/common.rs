use edp_core::Event;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, SqlitePool};

pub(crate) type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// The event the tests write: a deposit into an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "account.deposited", version = 1, topic = "deposits", key = account)]
pub(crate) struct Deposited {
    pub(crate) account: String,
    pub(crate) cents: i64,
}

/// A deposit of `cents` into `account`.
pub(crate) fn deposit(account: &str, cents: i64) -> Deposited {
    Deposited {
        account: account.into(),
        cents,
    }
}

/// A second topic, to check that runs of topics keep their order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "account.audited", version = 1, topic = "audits", key = account)]
pub(crate) struct Audited {
    pub(crate) account: String,
}

/// A fresh SQLite database in a scratch file, migrated, with a `ledger` table that
/// has no unique constraint (so duplicate effects would show).
pub(crate) async fn sqlite()
-> Result<(SqlitePool, tempdir::Dir), Box<dyn std::error::Error + Send + Sync>> {
    let dir = tempdir::Dir::new()?;
    let url = format!("sqlite:{}?mode=rwc", dir.path().join("test.db").display());
    let options: sqlx::sqlite::SqliteConnectOptions = url.parse()?;
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(
            options
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(std::time::Duration::from_secs(30)),
        )
        .await?;
    edp_sql::migrate(&pool).await?;
    sqlx::query("CREATE TABLE ledger (account TEXT NOT NULL, cents BIGINT NOT NULL)")
        .execute(&pool)
        .await?;
    Ok((pool, dir))
}

// ANCHOR: postgres
/// A fresh PostgreSQL database, migrated, with the same `ledger` table.
pub(crate) async fn postgres()
-> Result<edp_sql::testkit::TestDatabase, Box<dyn std::error::Error + Send + Sync>> {
    let db = edp_sql::testkit::Postgres::shared()?.database().await?;
    edp_sql::migrate(db.pool()).await?;
    sqlx::query("CREATE TABLE ledger (account TEXT NOT NULL, cents BIGINT NOT NULL)")
        .execute(db.pool())
        .await?;
    Ok(db)
}
// ANCHOR_END: postgres

pub(crate) async fn pg_pool(db: &edp_sql::testkit::TestDatabase) -> PgPool {
    db.pool().clone()
}

/// Runs a test body on both databases: `both!(name, |pool| async move { ... })`
/// makes `name::sqlite` and `name::postgres`. The body is written once and compiled
/// for each pool type.
macro_rules! both {
    ($name:ident, |$pool:ident| $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use crate::common::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() -> TestResult {
                #[allow(dead_code)]
                type Db = sqlx::Sqlite;
                let (pool, _dir) = crate::common::sqlite().await?;
                let $pool = pool;
                $body.await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() -> TestResult {
                #[allow(dead_code)]
                type Db = sqlx::Postgres;
                let db = crate::common::postgres().await?;
                let $pool = crate::common::pg_pool(&db).await;
                $body.await
            }
        }
    };
}
pub(crate) use both;

/// A scratch directory removed on drop.
pub(crate) mod tempdir {
    use std::path::{Path, PathBuf};

    pub(crate) struct Dir(PathBuf);

    impl Dir {
        pub(crate) fn new() -> std::io::Result<Self> {
            let path =
                std::env::temp_dir().join(format!("edp-sql-{}", uuid::Uuid::now_v7().simple()));
            std::fs::create_dir_all(&path)?;
            Ok(Self(path))
        }
        pub(crate) fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
