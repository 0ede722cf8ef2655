//! The event store on SQLite: one writer at a time, so `seq` is in commit order.

use edp_core::event_sourcing::{NewEvent, Position, RecordedEvent, Snapshot, StreamId};
use sqlx::sqlite::SqlitePool;
use sqlx::{Sqlite, SqliteConnection};

use super::backend::{EventRow, EventStoreDatabase, json_text, recorded, shared_sql, snapshot};

macro_rules! columns {
    () => {
        "0, seq, stream_kind, stream_id, stream_version, event_id, \
     event_type, event_version, data, metadata, recorded_us"
    };
}

const FIRST: &str = "INSERT INTO edp_events (stream_kind, stream_id, stream_version, event_id, \
     event_type, event_version, data, metadata, recorded_us) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 \
     WHERE $10 = 0 OR EXISTS (SELECT 1 FROM edp_events \
         WHERE stream_kind = $1 AND stream_id = $2 AND stream_version = $10)";

const NEXT: &str = "INSERT INTO edp_events (stream_kind, stream_id, stream_version, event_id, \
     event_type, event_version, data, metadata, recorded_us) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

const FIRST_ANY: &str = "INSERT INTO edp_events (stream_kind, stream_id, stream_version, event_id, \
     event_type, event_version, data, metadata, recorded_us) \
     SELECT $1, $2, COALESCE((SELECT max(stream_version) FROM edp_events \
         WHERE stream_kind = $1 AND stream_id = $2), 0) + 1, $3, $4, $5, $6, $7, $8 \
     RETURNING stream_version";

type Query<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>;

/// Binds $1..$9 of FIRST and NEXT.
fn bind<'q>(
    query: Query<'q>,
    stream: &'q StreamId,
    version: i64,
    event: &'q NewEvent,
    metadata: Option<&'q str>,
    recorded_us: i64,
) -> Query<'q> {
    query
        .bind(&stream.kind)
        .bind(&stream.id)
        .bind(version)
        .bind(event.event_id)
        .bind(event.name)
        .bind(i64::from(event.version))
        .bind(json_text(&event.data))
        .bind(metadata)
        .bind(recorded_us)
}

impl EventStoreDatabase for Sqlite {
    shared_sql!();

    async fn insert_events(
        conn: &mut SqliteConnection,
        stream: &StreamId,
        before: Option<u64>,
        events: &[NewEvent],
        metadata: Option<&str>,
        recorded_us: i64,
    ) -> Result<Option<u64>, sqlx::Error> {
        // A read before the first write could not take the write lock later (another
        // writer moves the snapshot on): the first statement writes, so that it waits
        // for the lock instead, and reads the version under it.
        let first = events.first();
        let mut version: i64 = match (before, first) {
            (_, None) => return Ok(before),
            (Some(before), Some(event)) => {
                let before = i64::try_from(before).unwrap_or(i64::MAX);
                let done = bind(
                    sqlx::query(FIRST),
                    stream,
                    before + 1,
                    event,
                    metadata,
                    recorded_us,
                )
                .bind(before)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if done == 0 {
                    return Ok(None);
                }
                before + 1
            }
            (None, Some(event)) => {
                sqlx::query_scalar(FIRST_ANY)
                    .bind(&stream.kind)
                    .bind(&stream.id)
                    .bind(event.event_id)
                    .bind(event.name)
                    .bind(i64::from(event.version))
                    .bind(json_text(&event.data))
                    .bind(metadata)
                    .bind(recorded_us)
                    .fetch_one(&mut *conn)
                    .await?
            }
        };
        for event in events.iter().skip(1) {
            version += 1;
            bind(
                sqlx::query(NEXT),
                stream,
                version,
                event,
                metadata,
                recorded_us,
            )
            .execute(&mut *conn)
            .await?;
        }
        Ok(u64::try_from(version).ok())
    }

    async fn read_stream(
        pool: &SqlitePool,
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
        pool: &SqlitePool,
        after: Position,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, sqlx::Error> {
        let rows: Vec<EventRow> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM edp_events WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after.seq)
        .bind(limit)
        .fetch_all(pool)
        .await?;
        Ok(rows.into_iter().map(recorded).collect())
    }

    async fn head(pool: &SqlitePool) -> Result<Position, sqlx::Error> {
        let (commit, seq): (Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT 0, max(seq) FROM edp_events")
                .fetch_one(pool)
                .await?;
        Ok(Position {
            commit: commit.unwrap_or(0),
            seq: seq.unwrap_or(0),
        })
    }

    async fn load_snapshot(
        pool: &SqlitePool,
        stream: &StreamId,
    ) -> Result<Option<Snapshot>, sqlx::Error> {
        let row: Option<(i64, i32, String)> = sqlx::query_as(
            "SELECT stream_version, schema_version, data FROM edp_snapshots \
             WHERE stream_kind = $1 AND stream_id = $2",
        )
        .bind(&stream.kind)
        .bind(&stream.id)
        .fetch_optional(pool)
        .await?;
        Ok(row.map(snapshot))
    }

    async fn save_snapshot(
        pool: &SqlitePool,
        stream: &StreamId,
        snapshot: &Snapshot,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO edp_snapshots (stream_kind, stream_id, stream_version, schema_version, data) \
             VALUES ($1, $2, $3, $4, $5) \
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
