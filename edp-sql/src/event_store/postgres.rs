//! The event store on PostgreSQL.

use edp_core::event_sourcing::{NewEvent, Position, RecordedEvent, Snapshot, StreamId};
use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Postgres};

use super::backend::{EventRow, EventStoreDatabase, json_text, recorded, shared_sql, snapshot};

macro_rules! columns {
    () => {
        "tx_id::text::bigint, seq, stream_kind, stream_id, stream_version, event_id, \
     event_type, event_version, data::text, metadata::text, recorded_us"
    };
}

/// One event, guarded as the many-event statement is.
const ONE: &str = "INSERT INTO edp_events (stream_kind, stream_id, stream_version, event_id, \
     event_type, event_version, data, metadata, recorded_us) \
     SELECT $1, $2, $3 + 1, $4, $5, $6, $7::jsonb, $8::jsonb, $9 \
     WHERE $3 = 0 OR EXISTS (SELECT 1 FROM edp_events \
         WHERE stream_kind = $1 AND stream_id = $2 AND stream_version = $3)";

impl EventStoreDatabase for Postgres {
    shared_sql!();

    async fn insert_events(
        conn: &mut PgConnection,
        stream: &StreamId,
        before: Option<u64>,
        events: &[NewEvent],
        metadata: Option<&str>,
        recorded_us: i64,
    ) -> Result<Option<u64>, sqlx::Error> {
        let before = match before {
            Some(v) => v,
            None => Self::stream_version(&mut *conn, stream).await?,
        };
        let before_i = i64::try_from(before).unwrap_or(i64::MAX);
        let count = events.len() as i64;
        if let [event] = events {
            // One event: the same statement without arrays (most appends are one event).
            let inserted = sqlx::query(ONE)
                .bind(&stream.kind)
                .bind(&stream.id)
                .bind(before_i)
                .bind(event.event_id)
                .bind(event.name)
                .bind(i32::try_from(event.version).unwrap_or(i32::MAX))
                .bind(json_text(&event.data))
                .bind(metadata)
                .bind(recorded_us)
                .execute(conn)
                .await?
                .rows_affected();
            return Ok((inserted == 1).then_some(before + 1));
        }
        let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.event_id).collect();
        let types: Vec<&str> = events.iter().map(|e| e.name).collect();
        let versions: Vec<i32> = events
            .iter()
            .map(|e| i32::try_from(e.version).unwrap_or(i32::MAX))
            .collect();
        let data: Vec<&str> = events.iter().map(|e| json_text(&e.data)).collect();
        // One statement for the whole append, guarded: when the caller expects a
        // version above 0, that version must exist (a gap is a conflict too).
        let inserted = sqlx::query(
            "INSERT INTO edp_events (stream_kind, stream_id, stream_version, event_id, event_type, \
                 event_version, data, metadata, recorded_us) \
             SELECT $1, $2, $3 + e.n, e.id, e.ty, e.v, e.d::jsonb, $8::jsonb, $9 \
             FROM UNNEST($4::uuid[], $5::text[], $6::int[], $7::text[]) WITH ORDINALITY AS e(id, ty, v, d, n) \
             WHERE $3 = 0 OR EXISTS (SELECT 1 FROM edp_events \
                 WHERE stream_kind = $1 AND stream_id = $2 AND stream_version = $3)",
        )
        .bind(&stream.kind)
        .bind(&stream.id)
        .bind(before_i)
        .bind(ids)
        .bind(types)
        .bind(versions)
        .bind(data)
        .bind(metadata)
        .bind(recorded_us)
        .execute(conn)
        .await?
        .rows_affected();
        Ok((inserted as i64 == count).then_some(before + events.len() as u64))
    }

    async fn read_stream(
        pool: &PgPool,
        stream: &StreamId,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, sqlx::Error> {
        let rows: Vec<EventRow> = sqlx::query_as(concat!(
            "SELECT ", columns!(), " FROM edp_events \
             WHERE stream_kind = $1 AND stream_id = $2 AND stream_version > $3 ORDER BY stream_version"
        ))
        .bind(&stream.kind)
        .bind(&stream.id)
        .bind(i64::try_from(after_version).unwrap_or(i64::MAX))
        .fetch_all(pool)
        .await?;
        Ok(rows.into_iter().map(recorded).collect())
    }

    async fn read_all(
        pool: &PgPool,
        after: Position,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, sqlx::Error> {
        // Transactions below the snapshot's xmin have all ended: the rows they wrote
        // are final, and no other row can appear before them.
        let rows: Vec<EventRow> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM edp_events \
             WHERE (tx_id, seq) > ($1::text::xid8, $2) \
               AND tx_id < pg_snapshot_xmin(pg_current_snapshot()) \
             ORDER BY tx_id, seq LIMIT $3"
        ))
        .bind(after.commit.to_string())
        .bind(after.seq)
        .bind(limit)
        .fetch_all(pool)
        .await?;
        Ok(rows.into_iter().map(recorded).collect())
    }

    async fn head(pool: &PgPool) -> Result<Position, sqlx::Error> {
        let (commit, seq): (Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT max(tx_id::text::bigint), max(seq) FROM edp_events")
                .fetch_one(pool)
                .await?;
        Ok(Position {
            commit: commit.unwrap_or(0),
            seq: seq.unwrap_or(0),
        })
    }

    async fn load_snapshot(
        pool: &PgPool,
        stream: &StreamId,
    ) -> Result<Option<Snapshot>, sqlx::Error> {
        let row: Option<(i64, i32, String)> = sqlx::query_as(
            "SELECT stream_version, schema_version, data::text FROM edp_snapshots \
             WHERE stream_kind = $1 AND stream_id = $2",
        )
        .bind(&stream.kind)
        .bind(&stream.id)
        .fetch_optional(pool)
        .await?;
        Ok(row.map(snapshot))
    }

    async fn save_snapshot(
        pool: &PgPool,
        stream: &StreamId,
        snapshot: &Snapshot,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO edp_snapshots (stream_kind, stream_id, stream_version, schema_version, data) \
             VALUES ($1, $2, $3, $4, $5::jsonb) \
             ON CONFLICT (stream_kind, stream_id) DO UPDATE SET stream_version = excluded.stream_version, \
                 schema_version = excluded.schema_version, data = excluded.data \
             WHERE edp_snapshots.stream_version < excluded.stream_version",
        )
        .bind(&stream.kind)
        .bind(&stream.id)
        .bind(i64::try_from(snapshot.stream_version).unwrap_or(i64::MAX))
        .bind(i32::try_from(snapshot.schema).unwrap_or(i32::MAX))
        .bind(json_text(&snapshot.data))
        .execute(pool)
        .await
        .map(|_| ())
    }
}
