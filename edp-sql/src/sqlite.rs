//! The outbox and inbox on SQLite.

use sqlx::Sqlite;
use sqlx::sqlite::SqlitePool;
use uuid::Uuid;

use crate::database::{Database, migrator};
use crate::outbox::row::{NewRow, StoredRow, now_us};
use crate::shared_sql::{Tuple, shared_sql, stored};

/// Takes or renews the relay lease for `owner`: it succeeds when the lease is free,
/// expired, or held by `owner` already.
const LEASE: &str = "INSERT INTO edp_outbox_lease (name, owner, expires_us) VALUES ('relay', $1, $2) \
     ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_us = excluded.expires_us \
     WHERE edp_outbox_lease.owner = excluded.owner OR edp_outbox_lease.expires_us < $3";

impl Database for Sqlite {
    shared_sql!();

    /// The owner name of the lease row this relay holds.
    type Leadership = String;
    /// SQLite has no notifications: the relay polls.
    type Wakeup = ();

    async fn refresh_stats(pool: &SqlitePool) -> Result<(), sqlx::Error> {
        let _ = pool;
        Ok(()) // SQLite reads the partial index in order without statistics
    }

    fn migrator() -> sqlx::migrate::Migrator {
        migrator(&[
            (
                1,
                "outbox",
                include_str!("../migrations/sqlite/0001_outbox.sql"),
            ),
            (
                2,
                "inbox",
                include_str!("../migrations/sqlite/0002_inbox.sql"),
            ),
            (
                3,
                "event store",
                include_str!("../migrations/sqlite/0003_event_store.sql"),
            ),
            (
                4,
                "sagas",
                include_str!("../migrations/sqlite/0004_sagas.sql"),
            ),
        ])
    }

    async fn settle_published(
        pool: &SqlitePool,
        ids: &[i64],
        now_us: i64,
        delete: bool,
    ) -> Result<(), sqlx::Error> {
        let ids = serde_json::Value::from(ids).to_string();
        let query = if delete {
            sqlx::query("DELETE FROM edp_outbox WHERE id IN (SELECT value FROM json_each($1))")
                .bind(ids)
        } else {
            sqlx::query(
                "UPDATE edp_outbox SET published_us = $2 WHERE id IN (SELECT value FROM json_each($1))",
            )
            .bind(ids)
            .bind(now_us)
        };
        query.execute(pool).await.map(|_| ())
    }

    async fn try_lead(
        pool: &SqlitePool,
        owner: &str,
        lease_us: i64,
    ) -> Result<Option<String>, sqlx::Error> {
        let now = now_us();
        let taken = sqlx::query(LEASE)
            .bind(owner)
            .bind(now.saturating_add(lease_us))
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
            == 1;
        Ok(taken.then(|| owner.to_owned()))
    }

    async fn still_leading(
        pool: &SqlitePool,
        owner: &mut String,
        lease_us: i64,
    ) -> Result<bool, sqlx::Error> {
        Self::try_lead(pool, owner, lease_us)
            .await
            .map(|held| held.is_some())
    }

    async fn release(pool: &SqlitePool, owner: String) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE edp_outbox_lease SET expires_us = 0 WHERE name = 'relay' AND owner = $1",
        )
        .bind(owner)
        .execute(pool)
        .await
        .map(|_| ())
    }

    async fn listen(_pool: &SqlitePool) -> Result<Option<()>, sqlx::Error> {
        Ok(None)
    }

    async fn woken(_: &mut ()) -> Result<(), sqlx::Error> {
        std::future::pending().await
    }
}
