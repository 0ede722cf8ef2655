//! The SQL the outbox and inbox run the same way on every database: SQLite takes
//! PostgreSQL's `$1` placeholders, so one text serves both. Each backend's `impl
//! Database` takes these methods with `shared_sql!()` and writes only what differs.

use crate::outbox::row::StoredRow;

/// A row of `edp_outbox` as the relay reads it: id, topic, envelope.
pub(crate) type Tuple = (i64, String, Vec<u8>);

pub(crate) fn stored((id, topic, envelope): Tuple) -> StoredRow {
    StoredRow {
        id,
        topic,
        envelope,
    }
}

macro_rules! shared_sql {
    () => {
        async fn insert_outbox<'c>(
            conn: &'c mut <Self as sqlx::Database>::Connection,
            row: &'c NewRow<'c>,
        ) -> Result<(), sqlx::Error> {
            sqlx::query(
                "INSERT INTO edp_outbox (event_id, topic, event_type, subject, envelope, created_us) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(row.event_id)
            .bind(row.topic)
            .bind(row.event_type)
            .bind(row.subject)
            .bind(row.envelope.as_slice())
            .bind(row.created_us)
            .execute(conn)
            .await
            .map(|_| ())
        }

        async fn fetch_unpublished(
            pool: &sqlx::Pool<Self>,
            after: i64,
            limit: i64,
        ) -> Result<Vec<StoredRow>, sqlx::Error> {
            let rows: Vec<Tuple> = sqlx::query_as(
                "SELECT id, topic, envelope FROM edp_outbox \
                     WHERE published_us IS NULL AND id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(stored).collect())
        }

        async fn purge_published(pool: &sqlx::Pool<Self>, before_us: i64) -> Result<u64, sqlx::Error> {
            sqlx::query("DELETE FROM edp_outbox WHERE published_us IS NOT NULL AND published_us < $1")
                .bind(before_us)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        }

        async fn backlog(pool: &sqlx::Pool<Self>) -> Result<(i64, Option<i64>), sqlx::Error> {
            sqlx::query_as(
                "SELECT count(*), min(created_us) FROM edp_outbox WHERE published_us IS NULL",
            )
            .fetch_one(pool)
            .await
        }

        async fn inbox_claim<'c>(
            conn: &'c mut <Self as sqlx::Database>::Connection,
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
            conn: &'c mut <Self as sqlx::Database>::Connection,
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

        async fn inbox_purge(pool: &sqlx::Pool<Self>, before_us: i64) -> Result<u64, sqlx::Error> {
            sqlx::query("DELETE FROM edp_inbox WHERE received_us < $1")
                .bind(before_us)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        }
    };
}

pub(crate) use shared_sql;
