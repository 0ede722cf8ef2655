//! The SQL of the event store on each database.

use std::future::Future;

use edp_core::event_sourcing::{
    Metadata, NewEvent, Position, RecordedEvent, Snapshot, StoreError, StreamId,
};
use sqlx::Pool;

use crate::Database;

/// A database the event store lives in: [`sqlx::Postgres`] or [`sqlx::Sqlite`]. Its
/// methods are the SQL of each backend and not part of the public API.
pub trait EventStoreDatabase: Database {
    /// Inserts `events` as versions `before + 1 ..` of `stream` (after its last
    /// version when `before` is `None`); returns the new version. Returns `None`,
    /// having written nothing, when `before > 0` and the stream has no version
    /// `before`.
    #[doc(hidden)]
    fn insert_events<'c>(
        conn: &'c mut Self::Connection,
        stream: &'c StreamId,
        before: Option<u64>,
        events: &'c [NewEvent],
        metadata: Option<&'c str>,
        recorded_us: i64,
    ) -> impl Future<Output = Result<Option<u64>, sqlx::Error>> + Send + 'c;

    /// The stream's version: its highest event version, 0 when it has none.
    #[doc(hidden)]
    fn stream_version<'c>(
        conn: &'c mut Self::Connection,
        stream: &'c StreamId,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'c;

    #[doc(hidden)]
    fn read_stream(
        pool: &Pool<Self>,
        stream: &StreamId,
        after_version: u64,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, sqlx::Error>> + Send;

    /// Events after `after` in the global order, only as far as every earlier
    /// transaction has ended.
    #[doc(hidden)]
    fn read_all(
        pool: &Pool<Self>,
        after: Position,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, sqlx::Error>> + Send;

    #[doc(hidden)]
    fn head(pool: &Pool<Self>) -> impl Future<Output = Result<Position, sqlx::Error>> + Send;

    #[doc(hidden)]
    fn load_snapshot(
        pool: &Pool<Self>,
        stream: &StreamId,
    ) -> impl Future<Output = Result<Option<Snapshot>, sqlx::Error>> + Send;

    #[doc(hidden)]
    fn save_snapshot(
        pool: &Pool<Self>,
        stream: &StreamId,
        snapshot: &Snapshot,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    #[doc(hidden)]
    fn load_checkpoint<'c>(
        conn: &'c mut Self::Connection,
        name: &'c str,
    ) -> impl Future<Output = Result<Option<Position>, sqlx::Error>> + Send + 'c;

    /// Moves a projection's checkpoint from `from` to `to`; `false` when it is not at
    /// `from` (another runner moved it), having changed nothing.
    #[doc(hidden)]
    fn advance_checkpoint<'c>(
        conn: &'c mut Self::Connection,
        name: &'c str,
        from: Option<Position>,
        to: Position,
        now_us: i64,
    ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send + 'c;

    /// Deletes a projection's checkpoint.
    #[doc(hidden)]
    fn delete_checkpoint<'c>(
        conn: &'c mut Self::Connection,
        name: &'c str,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'c;
}

/// Creates a projection's checkpoint unless it exists (same text on both backends).
pub(crate) const CHECKPOINT_FIRST: &str = "INSERT INTO edp_projections (name, commit_pos, seq, updated_us) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING";

/// Moves a projection's checkpoint if it is where the runner read it.
pub(crate) const CHECKPOINT_NEXT: &str = "UPDATE edp_projections SET commit_pos = $2, seq = $3, \
     updated_us = $4 WHERE name = $1 AND commit_pos = $5 AND seq = $6";

/// A row of `edp_events` as both backends select it.
pub(crate) type EventRow = (
    i64,
    i64,
    String,
    String,
    i64,
    uuid::Uuid,
    String,
    i32,
    String,
    Option<String>,
    i64,
);

pub(crate) fn recorded(row: EventRow) -> RecordedEvent {
    let (commit, seq, kind, id, version, event_id, name, event_version, data, metadata, at) = row;
    RecordedEvent {
        position: Position { commit, seq },
        stream: StreamId { kind, id },
        stream_version: u64::try_from(version).unwrap_or(0),
        event_id,
        name,
        version: u32::try_from(event_version).unwrap_or(0),
        data: data.into_bytes(),
        metadata: metadata
            .and_then(|m| serde_json::from_str::<Metadata>(&m).ok())
            .unwrap_or_default(),
        recorded_us: at,
    }
}

pub(crate) fn snapshot((version, schema, data): (i64, i32, String)) -> Snapshot {
    Snapshot {
        stream_version: u64::try_from(version).unwrap_or(0),
        schema: u32::try_from(schema).unwrap_or(0),
        data: data.into_bytes(),
    }
}

/// The JSON text of an encoded event (serde_json writes UTF-8).
pub(crate) fn json_text(data: &[u8]) -> &str {
    std::str::from_utf8(data).unwrap_or("null")
}

pub(crate) fn database(e: sqlx::Error) -> StoreError {
    StoreError::Database(Box::new(e))
}

/// The methods whose SQL is the same text on both backends (SQLite takes `$1`
/// placeholders too): each backend's impl takes them with `shared_sql!()`.
macro_rules! shared_sql {
    () => {
    async fn stream_version(
        conn: &mut <Self as sqlx::Database>::Connection,
        stream: &edp_core::event_sourcing::StreamId,
    ) -> Result<u64, sqlx::Error> {
        let v: Option<i64> = sqlx::query_scalar(
            "SELECT max(stream_version) FROM edp_events WHERE stream_kind = $1 AND stream_id = $2",
        )
        .bind(&stream.kind)
        .bind(&stream.id)
        .fetch_one(conn)
        .await?;
        Ok(v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0))
    }

    async fn load_checkpoint(
        conn: &mut <Self as sqlx::Database>::Connection,
        name: &str,
    ) -> Result<Option<edp_core::event_sourcing::Position>, sqlx::Error> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT commit_pos, seq FROM edp_projections WHERE name = $1")
                .bind(name)
                .fetch_optional(conn)
                .await?;
        Ok(row.map(|(commit, seq)| edp_core::event_sourcing::Position { commit, seq }))
    }

    async fn advance_checkpoint(
        conn: &mut <Self as sqlx::Database>::Connection,
        name: &str,
        from: Option<edp_core::event_sourcing::Position>,
        to: edp_core::event_sourcing::Position,
        now_us: i64,
    ) -> Result<bool, sqlx::Error> {
        let query = match from {
            None => sqlx::query($crate::event_store::backend::CHECKPOINT_FIRST),
            Some(_) => sqlx::query($crate::event_store::backend::CHECKPOINT_NEXT),
        }
        .bind(name)
        .bind(to.commit)
        .bind(to.seq)
        .bind(now_us);
        let query = match from {
            Some(from) => query.bind(from.commit).bind(from.seq),
            None => query,
        };
        Ok(query.execute(conn).await?.rows_affected() == 1)
    }

    async fn delete_checkpoint(conn: &mut <Self as sqlx::Database>::Connection, name: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM edp_projections WHERE name = $1")
            .bind(name)
            .execute(conn)
            .await
            .map(|_| ())
    }
    };
}
pub(crate) use shared_sql;
