//! What an event store keeps and the operations every backend offers.

use std::future::Future;

use uuid::Uuid;

use crate::error::BoxError;

use super::event_set::EventSet;

/// One stream of events: an aggregate's kind (`"order"`) and its id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId {
    /// The aggregate type, [`Aggregate::KIND`](super::Aggregate::KIND).
    pub kind: String,
    /// The aggregate's id.
    pub id: String,
}

impl StreamId {
    /// The stream of aggregate `id` of type `kind`.
    pub fn new(kind: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            id: id.into(),
        }
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kind, self.id)
    }
}

/// What the appender expects the stream's version to be: the optimistic concurrency
/// check. A stream's version is the number of events in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the version is.
    Any,
    /// The stream must not exist yet (version 0).
    NoStream,
    /// The stream must be at exactly this version.
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream at `actual` meets the expectation.
    pub fn admits(self, actual: u64) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => actual == 0,
            Self::Exact(v) => v == actual,
        }
    }
}

/// A place in the store's global order, which projections follow and checkpoint.
///
/// Positions only compare within one store. On PostgreSQL the first part is the
/// writing transaction's id, so that a reader never passes a transaction that has not
/// committed yet; elsewhere it is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    /// The commit group (the transaction id on PostgreSQL, else 0).
    pub commit: i64,
    /// The event's sequence number in the store.
    pub seq: i64,
}

impl Position {
    /// Before every event.
    pub const START: Self = Self { commit: 0, seq: 0 };
}

/// Correlation and causation of appended events: which flow they belong to and what
/// caused them. Filled from a handler's [`Context`](crate::Context) or an HTTP
/// request.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Metadata {
    /// The flow's correlation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The id of the message that caused these events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
}

impl Metadata {
    /// The metadata of events caused by the message in `ctx`: its correlation id, and
    /// its id as the causation.
    pub fn caused_by<C: crate::Codec>(ctx: &crate::Context<C>) -> Self {
        Self {
            correlation_id: Some(ctx.correlation_id().to_string()),
            causation_id: Some(ctx.envelope().id.to_string()),
        }
    }
}

/// An event to append, encoded: what a backend writes.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Its id, unique in the store (a UUIDv7).
    pub event_id: Uuid,
    /// [`Event::NAME`](crate::Event::NAME).
    pub name: &'static str,
    /// [`Event::VERSION`](crate::Event::VERSION).
    pub version: u32,
    /// The payload as JSON.
    pub data: Vec<u8>,
}

impl NewEvent {
    /// Encodes `event` as the store keeps it.
    ///
    /// # Errors
    ///
    /// [`StoreError::Encode`] when serde cannot write it.
    pub fn encode<E: EventSet>(event: &E) -> Result<Self, StoreError> {
        Ok(Self {
            event_id: crate::event::new_id(),
            name: event.name(),
            version: event.version(),
            data: event
                .visit(super::event_set::ToJson)
                .map_err(|e| StoreError::Encode(Box::new(e)))?,
        })
    }
}

/// A stored event as the store gives it back, not yet decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// Its place in the global order.
    pub position: Position,
    /// The stream it belongs to.
    pub stream: StreamId,
    /// Its version in the stream: 1 for the first event.
    pub stream_version: u64,
    /// Its id.
    pub event_id: Uuid,
    /// The event name.
    pub name: String,
    /// The version of the event's type it was written with.
    pub version: u32,
    /// The payload as JSON.
    pub data: Vec<u8>,
    /// Correlation and causation.
    pub metadata: Metadata,
    /// When it was appended, in microseconds since the Unix epoch.
    pub recorded_us: i64,
}

/// A decoded stored event with where it sits.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded<E> {
    /// The event, upcast to the current version.
    pub event: E,
    /// Its place in the global order.
    pub position: Position,
    /// The stream it belongs to.
    pub stream: StreamId,
    /// Its version in the stream: 1 for the first event.
    pub stream_version: u64,
    /// Its id.
    pub event_id: Uuid,
    /// Correlation and causation.
    pub metadata: Metadata,
    /// When it was appended, in microseconds since the Unix epoch.
    pub recorded_us: i64,
}

/// A stored snapshot of an aggregate's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The stream version the state includes.
    pub stream_version: u64,
    /// [`Aggregate::SNAPSHOT_VERSION`](super::Aggregate::SNAPSHOT_VERSION) when it was
    /// taken: a snapshot of another shape is skipped.
    pub schema: u32,
    /// The state as JSON.
    pub data: Vec<u8>,
}

/// Why an event store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Optimistic concurrency: the stream moved since it was read. Load it again and
    /// retry the command ([`Repository::execute_retrying`](super::Repository::execute_retrying) does).
    #[error(
        "stream {stream} is at version {actual}, not at the expected {expected:?}: reload it and retry"
    )]
    Conflict {
        /// The stream.
        stream: StreamId,
        /// What the appender expected.
        expected: ExpectedVersion,
        /// The version found (as far as the backend can tell).
        actual: u64,
    },
    /// An event could not be encoded.
    #[error("an event could not be encoded as JSON")]
    Encode(#[source] BoxError),
    /// A stored event could not be read.
    #[error("event {stream}@{stream_version} could not be read")]
    Decode {
        /// Its stream.
        stream: StreamId,
        /// Its version in the stream.
        stream_version: u64,
        /// Why.
        #[source]
        source: super::DecodeEventError,
    },
    /// The database failed or is unreachable.
    #[error("the event store's database failed; the command can be tried again")]
    Database(#[source] BoxError),
}

impl StoreError {
    /// Whether this is a concurrency conflict.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }
}

/// An event store: append-only streams with optimistic concurrency, a global order for
/// projections, snapshots and projection checkpoints.
///
/// Backends: [`MemoryEventStore`](super::MemoryEventStore) here, and
/// PostgreSQL and SQLite in `edp-sql` (`edp_sql::event_store::SqlEventStore`), which
/// also writes outbox rows in the append's transaction. Use it through a
/// [`Repository`](super::Repository) and a [`Projector`](super::Projector).
pub trait EventStore: Clone + Send + Sync + 'static {
    /// Appends `events` to `stream` if its version admits `expected`; returns the new
    /// version. All or none are appended.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when the stream's version is not the expected one.
    fn append<E: EventSet>(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[E],
        metadata: &Metadata,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The events of `stream` with versions above `after_version`, in order.
    fn read_stream(
        &self,
        stream: &StreamId,
        after_version: u64,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// Up to `limit` events after `after` in the global order. An event whose
    /// transaction commits late is never passed over: it appears after `after`.
    fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// The last position in the global order that readers may reach now (for lag).
    fn head(&self) -> impl Future<Output = Result<Position, StoreError>> + Send;

    /// The latest snapshot of `stream`, if any.
    fn load_snapshot(
        &self,
        stream: &StreamId,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send;

    /// Stores `snapshot` as the latest of `stream`.
    fn save_snapshot(
        &self,
        stream: &StreamId,
        snapshot: Snapshot,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
