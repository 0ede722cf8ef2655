//! The outbox and inbox on PostgreSQL.

use sqlx::postgres::{PgListener, PgPool};
use sqlx::{Connection, PgConnection, Postgres};
use uuid::Uuid;

use crate::database::{Database, migrator};
use crate::outbox::row::{NewRow, StoredRow};

/// The advisory lock a publishing relay holds ("edp_outb" in ASCII).
const RELAY_LOCK: i64 = 0x6564_705f_6f75_7462;

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

impl Database for Postgres {
    /// A connection of its own that holds the advisory lock: the lock goes when the
    /// connection does, so a relay that dies (even by kill -9) frees it at once.
    type Leadership = PgConnection;
    type Wakeup = PgListener;

    fn migrator() -> sqlx::migrate::Migrator {
        migrator(&[
            (
                1,
                "outbox",
                include_str!("../migrations/postgres/0001_outbox.sql"),
            ),
            (
                2,
                "inbox",
                include_str!("../migrations/postgres/0002_inbox.sql"),
            ),
        ])
    }

    async fn insert_outbox<'c>(
        conn: &'c mut PgConnection,
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

    async fn fetch_unpublished(pool: &PgPool, limit: i64) -> Result<Vec<StoredRow>, sqlx::Error> {
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
        pool: &PgPool,
        ids: &[i64],
        now_us: i64,
        delete: bool,
    ) -> Result<(), sqlx::Error> {
        let query = if delete {
            sqlx::query("DELETE FROM edp_outbox WHERE id = ANY($1)").bind(ids)
        } else {
            sqlx::query("UPDATE edp_outbox SET published_us = $2 WHERE id = ANY($1)")
                .bind(ids)
                .bind(now_us)
        };
        query.execute(pool).await.map(|_| ())
    }

    async fn purge_published(pool: &PgPool, before_us: i64) -> Result<u64, sqlx::Error> {
        sqlx::query("DELETE FROM edp_outbox WHERE published_us IS NOT NULL AND published_us < $1")
            .bind(before_us)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    }

    async fn backlog(pool: &PgPool) -> Result<(i64, Option<i64>), sqlx::Error> {
        sqlx::query_as(
            "SELECT count(*), min(created_us) FROM edp_outbox WHERE published_us IS NULL",
        )
        .fetch_one(pool)
        .await
    }

    async fn try_lead(
        pool: &PgPool,
        _owner: &str,
        _lease_us: i64,
    ) -> Result<Option<PgConnection>, sqlx::Error> {
        let mut conn = pool.acquire().await?.detach();
        let (locked,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
            .bind(RELAY_LOCK)
            .fetch_one(&mut conn)
            .await?;
        if locked {
            Ok(Some(conn))
        } else {
            conn.close().await?;
            Ok(None)
        }
    }

    async fn still_leading(
        _pool: &PgPool,
        conn: &mut PgConnection,
        _lease_us: i64,
    ) -> Result<bool, sqlx::Error> {
        conn.ping().await.map(|()| true)
    }

    async fn listen(pool: &PgPool) -> Result<Option<PgListener>, sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen("edp_outbox").await?;
        Ok(Some(listener))
    }

    async fn woken(listener: &mut PgListener) -> Result<(), sqlx::Error> {
        listener.recv().await.map(|_| ())
    }

    async fn inbox_claim<'c>(
        conn: &'c mut PgConnection,
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
        conn: &'c mut PgConnection,
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

    async fn inbox_purge(pool: &PgPool, before_us: i64) -> Result<u64, sqlx::Error> {
        sqlx::query("DELETE FROM edp_inbox WHERE received_us < $1")
            .bind(before_us)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    }
}
