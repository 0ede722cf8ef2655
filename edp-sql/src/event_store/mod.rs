//! The event store on PostgreSQL and SQLite: [`SqlEventStore`] implements
//! [`EventStore`], and with an outbox it writes
//! each appended event's outbox row in the append's transaction. [`SqlProjection`]
//! keeps a read model in the same database, its checkpoint in the same transaction.
//!
//! ```no_run
//! use edp_core::event_sourcing::Repository;
//! use edp_sql::event_store::SqlEventStore;
//! use edp_sql::outbox::Outbox;
//! # use edp_core::event_sourcing::doc_account::{Account, Command};
//!
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = sqlx::SqlitePool::connect("sqlite:accounts.db?mode=rwc").await?;
//! edp_sql::migrate(&pool).await?; // creates edp_events, edp_snapshots, edp_projections
//! let store = SqlEventStore::new(pool).with_outbox(Outbox::new("accounts"));
//! let accounts = Repository::<Account, _>::new(store).snapshot_every(100);
//! accounts.execute("a-1", Command::Deposit { cents: 500 }).await?; // events + outbox rows, one transaction
//! # Ok(()) }
//! ```
//!
//! The global order: on SQLite, commit order (one writer at a time). On PostgreSQL,
//! (writing transaction id, sequence), read only below the oldest transaction still
//! running, so that a transaction committing late is never passed over by a
//! projection. A transaction left open for long holds projections back until it ends.

mod backend;
#[cfg(feature = "postgres")]
mod postgres;
mod projection;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use backend::EventStoreDatabase;
pub use projection::{Checkpointed, SqlProjection};

use std::future::Future;
use std::pin::Pin;

use edp_core::Event;
use edp_core::codec::{Codec, JsonCodec};
use edp_core::event_sourcing::{
    EventSet, EventStore, EventVisitor, ExpectedVersion, Metadata, NewEvent, Position,
    RecordedEvent, Snapshot, StoreError, StreamId,
};
use sqlx::Pool;

use crate::outbox::{Outbox, OutboxError};
use crate::transaction::InTransaction;
use backend::database;

/// The event store in a PostgreSQL or SQLite database (run
/// [`migrate`](crate::migrate) first). Cheap to clone.
pub struct SqlEventStore<DB: sqlx::Database, C = JsonCodec> {
    pool: Pool<DB>,
    outbox: Option<Outbox<C>>,
}

impl<DB: sqlx::Database, C> Clone for SqlEventStore<DB, C> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            outbox: self.outbox.clone(),
        }
    }
}

impl<DB: sqlx::Database, C> std::fmt::Debug for SqlEventStore<DB, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlEventStore")
            .field("outbox", &self.outbox.is_some())
            .finish_non_exhaustive()
    }
}

impl<DB: EventStoreDatabase> SqlEventStore<DB, JsonCodec> {
    /// The store in the database behind `pool`, without an outbox.
    pub fn new(pool: Pool<DB>) -> Self {
        Self { pool, outbox: None }
    }
}

impl<DB: EventStoreDatabase, C: Codec> SqlEventStore<DB, C> {
    /// Also adds every appended event to `outbox`, in the append's transaction, with
    /// the stored event's id: published if and only if it was recorded.
    pub fn with_outbox<C2: Codec>(self, outbox: Outbox<C2>) -> SqlEventStore<DB, C2> {
        SqlEventStore {
            pool: self.pool,
            outbox: Some(outbox),
        }
    }

    /// The pool.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// Appends inside the caller's transaction `tx` (with the outbox rows, when the
    /// store has an outbox), so that other writes commit with the events. Returns the
    /// stream's new version.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when the stream is not at the expected version; on
    /// PostgreSQL the transaction is then aborted: roll it back.
    pub async fn append_in<E: EventSet>(
        &self,
        tx: &mut impl InTransaction<Database = DB>,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[E],
        metadata: &Metadata,
    ) -> Result<u64, StoreError> {
        let encoded = events
            .iter()
            .map(NewEvent::encode)
            .collect::<Result<Vec<_>, _>>()?;
        let before = match expected {
            ExpectedVersion::Exact(v) => Some(v),
            ExpectedVersion::NoStream => Some(0),
            ExpectedVersion::Any => None,
        };
        if encoded.is_empty() {
            return match before {
                Some(v) => Ok(v),
                None => DB::stream_version(tx.connection(), stream)
                    .await
                    .map_err(database),
            };
        }
        let meta = (metadata != &Metadata::default())
            .then(|| serde_json::to_string(metadata).ok())
            .flatten();
        let inserted = DB::insert_events(
            tx.connection(),
            stream,
            before,
            &encoded,
            meta.as_deref(),
            crate::outbox::row::now_us(),
        )
        .await;
        let conflict = |actual| StoreError::Conflict {
            stream: stream.clone(),
            expected,
            actual,
        };
        let version = match inserted {
            Ok(Some(version)) => version,
            Ok(None) => {
                let actual = DB::stream_version(tx.connection(), stream)
                    .await
                    .unwrap_or(0);
                return Err(conflict(actual));
            }
            // Someone else wrote one of these versions first.
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                return Err(conflict(before.map_or(0, |v| v + 1)));
            }
            Err(e) => return Err(database(e)),
        };
        if let Some(outbox) = &self.outbox {
            for (event, stored) in events.iter().zip(&encoded) {
                event
                    .visit(ToOutbox {
                        outbox,
                        tx: &mut *tx,
                        id: stored.event_id,
                        metadata,
                    })
                    .await
                    .map_err(|e| StoreError::Database(Box::new(e)))?;
            }
        }
        Ok(version)
    }
}

/// Adds the visited event to the outbox.
struct ToOutbox<'a, C, T> {
    outbox: &'a Outbox<C>,
    tx: &'a mut T,
    id: uuid::Uuid,
    metadata: &'a Metadata,
}

impl<'a, C: Codec, T: InTransaction> EventVisitor<'a> for ToOutbox<'a, C, T> {
    type Output = Pin<Box<dyn Future<Output = Result<(), OutboxError>> + Send + 'a>>;

    fn visit<E: Event>(self, event: &'a E) -> Self::Output {
        Box::pin(
            self.outbox
                .add_recorded(self.tx, event, self.id, self.metadata),
        )
    }
}

impl<DB: EventStoreDatabase, C: Codec> EventStore for SqlEventStore<DB, C> {
    async fn append<E: EventSet>(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[E],
        metadata: &Metadata,
    ) -> Result<u64, StoreError> {
        // `Any` never conflicts: when another writer takes the next version first,
        // try again after it.
        let mut attempts = if expected == ExpectedVersion::Any {
            100
        } else {
            1
        };
        loop {
            attempts -= 1;
            let mut tx = self.pool.begin().await.map_err(database)?;
            let appended = match self
                .append_in(&mut tx, stream, expected, events, metadata)
                .await
            {
                Ok(version) => tx.commit().await.map(|()| version).map_err(|e| match e {
                    sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
                        stream: stream.clone(),
                        expected,
                        actual: version,
                    },
                    e => database(e),
                }),
                Err(e) => Err(e),
            };
            match appended {
                Err(e) if e.is_conflict() && attempts > 0 => continue,
                other => return other,
            }
        }
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        DB::read_stream(&self.pool, stream, after_version)
            .await
            .map_err(database)
    }

    async fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        DB::read_all(&self.pool, after, i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(database)
    }

    async fn head(&self) -> Result<Position, StoreError> {
        DB::head(&self.pool).await.map_err(database)
    }

    async fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError> {
        DB::load_snapshot(&self.pool, stream)
            .await
            .map_err(database)
    }

    async fn save_snapshot(&self, stream: &StreamId, snapshot: Snapshot) -> Result<(), StoreError> {
        DB::save_snapshot(&self.pool, stream, &snapshot)
            .await
            .map_err(database)
    }
}
