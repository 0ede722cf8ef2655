//! Read models in the database, their checkpoints written in the same transaction.

use std::future::Future;

use edp_core::error::BoxError;
use edp_core::event_sourcing::{CheckpointMoved, EventSet, Position, Projection, Recorded};
use sqlx::{Pool, Transaction};

use super::backend::EventStoreDatabase;
use crate::outbox::row::now_us;

/// A read model in a PostgreSQL or SQLite database: write it through the
/// transaction each event is applied in. Run it with
/// [`Checkpointed`] and a [`Projector`](edp_core::event_sourcing::Projector): each batch
/// of events and the checkpoint after it commit together, so a crash (kill -9 included)
/// neither loses nor repeats an event for the model.
///
/// ```no_run
/// use edp_core::error::BoxError;
/// use edp_core::event_sourcing::{Projector, Recorded};
/// use edp_sql::event_store::{Checkpointed, SqlEventStore, SqlProjection};
/// use sqlx::{Sqlite, Transaction};
/// # use edp_core::event_sourcing::doc_account::AccountEvent;
///
/// /// Balance per account, in table `balances`.
/// struct Balances;
///
/// impl SqlProjection<Sqlite> for Balances {
///     type Event = AccountEvent;
///
///     fn name(&self) -> &str { "balances" }
///
///     async fn apply(&self, tx: &mut Transaction<'static, Sqlite>, event: &Recorded<AccountEvent>) -> Result<(), BoxError> {
///         let AccountEvent::Deposited(d) = &event.event;
///         sqlx::query("INSERT INTO balances (id, cents) VALUES ($1, $2) \
///                      ON CONFLICT (id) DO UPDATE SET cents = cents + excluded.cents")
///             .bind(&event.stream.id).bind(d.cents as i64)
///             .execute(&mut **tx).await?;
///         Ok(())
///     }
///
///     async fn reset(&self, tx: &mut Transaction<'static, Sqlite>) -> Result<(), BoxError> {
///         sqlx::query("DELETE FROM balances").execute(&mut **tx).await?;
///         Ok(())
///     }
/// }
///
/// # async fn f(pool: sqlx::SqlitePool) -> Result<(), BoxError> {
/// let store = SqlEventStore::new(pool.clone());
/// let running = Projector::new(store, Checkpointed::new(pool, Balances)).start();
/// // ...
/// running.shutdown().await?;
/// # Ok(()) }
/// ```
pub trait SqlProjection<DB: EventStoreDatabase>: Send + Sync + 'static {
    /// The events it reads.
    type Event: EventSet;

    /// Its stable name: the key of its checkpoint.
    fn name(&self) -> &str;

    /// Applies one event through `tx`.
    fn apply(
        &self,
        tx: &mut Transaction<'static, DB>,
        event: &Recorded<Self::Event>,
    ) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// Empties the read model, before a rebuild.
    fn reset(
        &self,
        tx: &mut Transaction<'static, DB>,
    ) -> impl Future<Output = Result<(), BoxError>> + Send;
}

/// A [`SqlProjection`] with its checkpoint in table `edp_projections` of the same
/// database: the [`Projection`] a [`Projector`](edp_core::event_sourcing::Projector)
/// runs.
#[derive(Debug)]
pub struct Checkpointed<DB: sqlx::Database, P> {
    pool: Pool<DB>,
    projection: P,
}

impl<DB: EventStoreDatabase, P: SqlProjection<DB>> Checkpointed<DB, P> {
    /// `projection`, writing through `pool` (the database of its read model, which
    /// may be another than the event store's).
    pub fn new(pool: Pool<DB>, projection: P) -> Self {
        Self { pool, projection }
    }

    /// The projection.
    pub fn projection(&self) -> &P {
        &self.projection
    }
}

impl<DB: EventStoreDatabase, P: SqlProjection<DB>> Projection for Checkpointed<DB, P> {
    type Event = P::Event;

    fn name(&self) -> &str {
        self.projection.name()
    }

    async fn checkpoint(&mut self) -> Result<Option<Position>, BoxError> {
        let mut conn = self.pool.acquire().await?;
        Ok(DB::load_checkpoint(&mut conn, self.projection.name()).await?)
    }

    async fn apply(
        &mut self,
        events: Vec<Recorded<Self::Event>>,
        after: Option<Position>,
        up_to: Position,
    ) -> Result<(), BoxError> {
        let mut tx = self.pool.begin().await?;
        // First, so that a second runner of the same projection (a replica, or a
        // killed one whose commit was still in flight) waits here or finds the
        // checkpoint moved, and never applies a batch twice.
        let name = self.projection.name();
        if !DB::advance_checkpoint(&mut tx, name, after, up_to, now_us()).await? {
            return Err(CheckpointMoved(name.to_owned()).into());
        }
        for event in &events {
            self.projection.apply(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn reset(&mut self) -> Result<(), BoxError> {
        let mut tx = self.pool.begin().await?;
        self.projection.reset(&mut tx).await?;
        DB::delete_checkpoint(&mut tx, self.projection.name()).await?;
        tx.commit().await?;
        Ok(())
    }
}
