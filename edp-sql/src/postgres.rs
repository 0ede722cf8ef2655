//! The outbox and inbox on PostgreSQL.

use sqlx::postgres::{PgListener, PgPool};
use sqlx::{Connection, PgConnection, Postgres};
use uuid::Uuid;

use crate::database::{Database, migrator};
use crate::outbox::row::{NewRow, StoredRow};
use crate::shared_sql::{Tuple, shared_sql, stored};

/// The advisory lock a publishing relay holds ("edp_outb" in ASCII).
const RELAY_LOCK: i64 = 0x6564_705f_6f75_7462;

impl Database for Postgres {
    shared_sql!();

    /// A connection of its own that holds the advisory lock: the lock goes when the
    /// connection does, so a relay that dies (even by kill -9) frees it at once.
    type Leadership = PgConnection;
    type Wakeup = PgListener;

    async fn refresh_stats(pool: &PgPool) -> Result<(), sqlx::Error> {
        sqlx::query("ANALYZE edp_outbox")
            .execute(pool)
            .await
            .map(|_| ())
    }

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
            (
                3,
                "event store",
                include_str!("../migrations/postgres/0003_event_store.sql"),
            ),
            (
                4,
                "sagas",
                include_str!("../migrations/postgres/0004_sagas.sql"),
            ),
        ])
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

    async fn release(_pool: &PgPool, conn: PgConnection) -> Result<(), sqlx::Error> {
        conn.close().await // the advisory lock goes with the connection
    }

    async fn listen(pool: &PgPool) -> Result<Option<PgListener>, sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen("edp_outbox").await?;
        Ok(Some(listener))
    }

    async fn woken(listener: &mut PgListener) -> Result<(), sqlx::Error> {
        listener.recv().await.map(|_| ())
    }
}
