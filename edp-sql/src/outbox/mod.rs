//! The transactional outbox: add events inside your own database transaction, next
//! to the domain write; a [`Relay`] publishes them through any transport after the
//! transaction commits.
//!
//! ```no_run
//! use edp_sql::outbox::Outbox;
//! # use edp_core::Event;
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize, Event)]
//! # #[event(name = "order.placed", topic = "orders", key = order_id)]
//! # struct OrderPlaced { order_id: String }
//!
//! # async fn place(pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
//! let outbox = Outbox::new("order");
//! let mut tx = pool.begin().await?;
//! sqlx::query("INSERT INTO orders (id) VALUES ($1)").bind("o-1").execute(&mut *tx).await?;
//! outbox.add(&mut tx, &OrderPlaced { order_id: "o-1".into() }).await?;
//! tx.commit().await?; // the order and its event, or neither
//! # Ok(()) }
//! ```
//!
//! What it guarantees:
//!
//! - An event is published if and only if its transaction commits, at least once.
//! - Rows are read by id among the committed ones each time, never past a remembered
//!   high-water mark: a row whose transaction commits late (after rows with higher
//!   ids) is published on the next pass, not skipped.
//! - One relay publishes at a time (a PostgreSQL advisory lock, or a lease row on
//!   SQLite), in id order, so events of one key keep the order of their commits.
//!   Run as many relays as you like for failover.
//! - The envelope is stored whole: the trace context and correlation headers present
//!   when the row was written travel with the event.

pub(crate) mod added;
mod error;
mod relay;
pub(crate) mod row;

pub use error::{OutboxError, RelayError};
pub use relay::{Relay, RelayHandle, Retention};

use std::sync::Arc;
use std::time::Duration;

use edp_core::codec::{Codec, JsonCodec};
use edp_core::event::{Cause, Encoder};
use edp_core::{Envelope, Event};
use sqlx::Pool;
use uuid::Uuid;

use crate::Database;
use crate::transaction::InTransaction;
use row::{NewRow, now_us};

/// Writes events into the outbox table inside the caller's transaction: its
/// [`Encoder`] makes them envelopes in the service's codec, as a
/// [`Publisher`](edp_core::Publisher)'s does. Cheap to clone.
#[derive(Debug)]
pub struct Outbox<C = JsonCodec> {
    encoder: Arc<Encoder<C>>,
}

impl<C> Clone for Outbox<C> {
    fn clone(&self) -> Self {
        Self {
            encoder: self.encoder.clone(),
        }
    }
}

impl Outbox<JsonCodec> {
    /// A JSON outbox for the service named `source` (each envelope's `source`).
    pub fn new(source: impl Into<Arc<str>>) -> Self {
        Self::with_codec(source, JsonCodec)
    }
}

impl<C: Codec> Outbox<C> {
    /// An outbox with another codec (Avro, for example).
    pub fn with_codec(source: impl Into<Arc<str>>, codec: C) -> Self {
        Self::with_encoder(Encoder::new(source.into(), codec))
    }

    /// An outbox whose envelopes `encoder` makes.
    pub fn with_encoder(encoder: Encoder<C>) -> Self {
        Self {
            encoder: Arc::new(encoder),
        }
    }

    /// The encoder that makes its envelopes.
    pub fn encoder(&self) -> &Encoder<C> {
        &self.encoder
    }

    /// Adds `event`, to be published to [`E::TOPIC`](Event::TOPIC) once `tx` commits.
    /// Returns the event's id.
    ///
    /// # Errors
    ///
    /// [`OutboxError`]; `tx` stays usable but should be rolled back.
    pub async fn add<E: Event>(
        &self,
        tx: &mut impl InTransaction,
        event: &E,
    ) -> Result<Uuid, OutboxError> {
        let env = self.envelope(event, Cause::none()).await?;
        add_envelope(tx, E::TOPIC, &env).await?;
        Ok(env.id)
    }

    /// Adds `event` as a consequence of `parent` (the event being handled): it
    /// carries the parent's correlation id and trace context (`traceparent`,
    /// `tracestate`), and its causation id is the parent's id.
    pub async fn add_caused_by<E: Event>(
        &self,
        tx: &mut impl InTransaction,
        event: &E,
        parent: &Envelope,
    ) -> Result<Uuid, OutboxError> {
        let env = self.envelope(event, Cause::event(parent)).await?;
        add_envelope(tx, E::TOPIC, &env).await?;
        Ok(env.id)
    }

    /// Adds `event` recorded in an event store: the envelope takes the stored event's
    /// id, correlation and causation.
    pub(crate) async fn add_recorded<E: Event>(
        &self,
        tx: &mut impl InTransaction,
        event: &E,
        id: Uuid,
        metadata: &edp_core::event_sourcing::Metadata,
    ) -> Result<(), OutboxError> {
        let mut cause = Cause::none();
        if let Some(c) = &metadata.correlation_id {
            cause = cause.correlation(c);
        }
        if let Some(c) = &metadata.causation_id {
            cause = cause.causation(c);
        }
        let mut env = self.envelope(event, cause).await?;
        env.id = id;
        add_envelope(tx, E::TOPIC, &env).await
    }

    /// The envelope `event` is stored as: the trace goes on from the current span (an
    /// HTTP request's, a handler's), or else from the cause.
    async fn envelope<E: Event>(
        &self,
        event: &E,
        cause: Cause<'_>,
    ) -> Result<Envelope, OutboxError> {
        self.encoder
            .prepare::<E>()
            .await
            .map_err(OutboxError::Prepare)?;
        self.encoder
            .encode(event, cause)
            .map_err(OutboxError::Encode)
    }
}

/// Adds a ready-made envelope, to be published to `topic` once `tx` commits.
///
/// # Errors
///
/// [`OutboxError::Duplicate`] when its id is in the outbox already, or
/// [`OutboxError::Database`].
pub async fn add_envelope(
    tx: &mut impl InTransaction,
    topic: &str,
    envelope: &Envelope,
) -> Result<(), OutboxError> {
    let row = NewRow::new(topic, envelope, now_us());
    insert(tx, &row).await
}

async fn insert<T: InTransaction>(tx: &mut T, row: &NewRow<'_>) -> Result<(), OutboxError> {
    T::Database::insert_outbox(tx.connection(), row)
        .await
        .map(|()| added::wake())
        .map_err(|e| match e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                OutboxError::Duplicate(row.event_id)
            }
            other => OutboxError::Database(other),
        })
}

/// How far behind the relay is: the unpublished rows and the age of the oldest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backlog {
    /// Rows not yet published.
    pub unpublished: u64,
    /// How long the oldest of them has waited; `None` when there are none.
    pub oldest_age: Option<Duration>,
}

/// Reads the outbox backlog of the database behind `pool` (for metrics and health).
///
/// ```no_run
/// # async fn f(pool: sqlx::SqlitePool) -> Result<(), sqlx::Error> {
/// let backlog = edp_sql::outbox::backlog(&pool).await?;
/// tracing::info!(unpublished = backlog.unpublished, "outbox backlog");
/// # Ok(()) }
/// ```
pub async fn backlog<DB: Database>(pool: &Pool<DB>) -> Result<Backlog, sqlx::Error> {
    let (count, oldest) = DB::backlog(pool).await?;
    let now = now_us();
    Ok(Backlog {
        unpublished: u64::try_from(count).unwrap_or(0),
        oldest_age: oldest.map(|c| Duration::from_micros(u64::try_from(now - c).unwrap_or(0))),
    })
}
