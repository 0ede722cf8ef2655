//! The outbox and inbox on SQLite.

use sqlx::sqlite::SqlitePool;
use sqlx::{Sqlite, SqliteConnection};
use uuid::Uuid;

use crate::database::{Database, migrator};
use crate::outbox::row::{NewRow, StoredRow, now_us};

type Tuple = (
    i64,
    Uuid,
    String,
    String,
    String,
    Option<String>,
    i64,
    String,
    i32,
    String,
    Vec<u8>,
);

fn stored(t: Tuple) -> StoredRow {
    let (
        id,
        event_id,
        topic,
        event_type,
        source,
        subject,
        time_us,
        content_type,
        data_version,
        headers,
        data,
    ) = t;
    StoredRow {
        id,
        event_id,
        topic,
        event_type,
        source,
        subject,
        time_us,
        content_type,
        data_version,
        headers,
        data,
    }
}

/// Takes or renews the relay lease for `owner`: it succeeds when the lease is free,
/// expired, or held by `owner` already.
const LEASE: &str = "INSERT INTO edp_outbox_lease (name, owner, expires_us) VALUES ('relay', $1, $2) \
     ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_us = excluded.expires_us \
     WHERE edp_outbox_lease.owner = excluded.owner OR edp_outbox_lease.expires_us < $3";

impl Database for Sqlite {
    /// The owner name of the lease row this relay holds.
    type Leadership = String;
    /// SQLite has no notifications: the relay polls.
    type Wakeup = ();

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
        ])
    }

    async fn insert_outbox<'c>(
        conn: &'c mut SqliteConnection,
        row: &'c NewRow<'c>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO edp_outbox (event_id, topic, event_type, source, subject, time_us, \
             content_type, data_version, headers, data, created_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(row.event_id)
        .bind(row.topic)
        .bind(row.event_type)
        .bind(row.source)
        .bind(row.subject)
        .bind(row.time_us)
        .bind(row.content_type)
        .bind(row.data_version)
        .bind(row.headers.as_str())
        .bind(row.data)
        .bind(row.created_us)
        .execute(conn)
        .await
        .map(|_| ())
    }

    async fn fetch_unpublished(
        pool: &SqlitePool,
        limit: i64,
    ) -> Result<Vec<StoredRow>, sqlx::Error> {
        let rows: Vec<Tuple> = sqlx::query_as(
            "SELECT id, event_id, topic, event_type, source, subject, time_us, content_type, \
             data_version, headers, data FROM edp_outbox \
             WHERE published_us IS NULL ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(pool)
        .await?;
        Ok(rows.into_iter().map(stored).collect())
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

    async fn purge_published(pool: &SqlitePool, before_us: i64) -> Result<u64, sqlx::Error> {
        sqlx::query("DELETE FROM edp_outbox WHERE published_us IS NOT NULL AND published_us < $1")
            .bind(before_us)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    }

    async fn backlog(pool: &SqlitePool) -> Result<(i64, Option<i64>), sqlx::Error> {
        sqlx::query_as(
            "SELECT count(*), min(created_us) FROM edp_outbox WHERE published_us IS NULL",
        )
        .fetch_one(pool)
        .await
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

    async fn listen(_pool: &SqlitePool) -> Result<Option<()>, sqlx::Error> {
        Ok(None)
    }

    async fn woken(_: &mut ()) -> Result<(), sqlx::Error> {
        std::future::pending().await
    }

    async fn inbox_claim<'c>(
        conn: &'c mut SqliteConnection,
        group: &'c str,
        event_id: Uuid,
        now_us: i64,
    ) -> Result<bool, sqlx::Error> {
        sqlx::query(
            "INSERT INTO edp_inbox (consumer_group, event_id, received_us) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(group)
        .bind(event_id)
        .bind(now_us)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() == 1)
    }

    async fn inbox_contains<'c>(
        conn: &'c mut SqliteConnection,
        group: &'c str,
        event_id: Uuid,
    ) -> Result<bool, sqlx::Error> {
        sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM edp_inbox WHERE consumer_group = $1 AND event_id = $2)",
        )
        .bind(group)
        .bind(event_id)
        .fetch_one(conn)
        .await
        .map(|(found,): (bool,)| found)
    }

    async fn inbox_purge(pool: &SqlitePool, before_us: i64) -> Result<u64, sqlx::Error> {
        sqlx::query("DELETE FROM edp_inbox WHERE received_us < $1")
            .bind(before_us)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    }
}
