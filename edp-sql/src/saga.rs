//! Saga instances in PostgreSQL or SQLite: each transition, the commands it sends
//! (outbox rows) and the inbox record of the reply that caused it commit in one
//! transaction.
//!
//! ```no_run
//! use edp_core::saga::SagaEngine;
//! use edp_sql::saga::SqlSagaStore;
//! # use edp_core::saga::doc_trip::Trip;
//!
//! # async fn f(pool: sqlx::SqlitePool) -> Result<(), Box<dyn std::error::Error>> {
//! edp_sql::migrate(&pool).await?; // creates edp_sagas and edp_saga_history
//! let trips = SagaEngine::<Trip, _>::new(SqlSagaStore::new(pool));
//! let deadlines = trips.run_deadlines(); // fires persisted deadlines, also after a restart
//! trips.start(uuid::Uuid::now_v7(), Trip::default(), None).await?;
//! // ... a relay publishes the commands; `trips.register(builder)` takes the replies
//! deadlines.shutdown().await;
//! # Ok(()) }
//! ```

use std::future::Future;

use edp_core::Envelope;
use edp_core::error::BoxError;
use edp_core::saga::{HistoryEntry, Progress, SagaStatus, SagaStore, Saved, StoredSaga};
use sqlx::Pool;
use uuid::Uuid;

use crate::Database;
use crate::outbox::row::now_us;
use crate::outbox::{OutboxError, add_envelope};

/// Saga instances in the database behind a pool (run [`migrate`](crate::migrate)
/// first). Their commands go through the outbox, so a [`Relay`](crate::outbox::Relay)
/// on the same database publishes them. Cheap to clone.
#[derive(Debug)]
pub struct SqlSagaStore<DB: sqlx::Database> {
    pool: Pool<DB>,
}

impl<DB: sqlx::Database> Clone for SqlSagaStore<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
        }
    }
}

impl<DB: Database> SqlSagaStore<DB> {
    /// The store in the database behind `pool`.
    pub fn new(pool: Pool<DB>) -> Self {
        Self { pool }
    }

    /// The pool.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }
}

type Row = (Uuid, String, String, Option<i64>, i64);

fn stored(
    saga: &str,
    (id, data, progress, deadline_ms, version): Row,
) -> Result<StoredSaga, BoxError> {
    let progress: Progress = serde_json::from_str(&progress)?;
    Ok(StoredSaga {
        id,
        saga: saga.to_owned(),
        data: data.into_bytes(),
        progress,
        deadline_ms,
        version: u64::try_from(version).unwrap_or(0),
    })
}

/// A database error, marked [`Unavailable`](edp_core::error::Unavailable) when the
/// database is down, so that the delivery is retried rather than dead-lettered.
fn db(e: sqlx::Error) -> BoxError {
    if crate::is_unavailable(&e) {
        edp_core::error::unavailable(e)
    } else {
        Box::new(e)
    }
}

fn text(bytes: &[u8]) -> Result<&str, BoxError> {
    Ok(std::str::from_utf8(bytes)?)
}

/// The SQL of the saga store on each database: [`sqlx::Postgres`] and
/// [`sqlx::Sqlite`]. Not part of the public API.
pub trait SagaSql: Database {
    #[doc(hidden)]
    fn load(
        pool: &Pool<Self>,
        saga: &'static str,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<StoredSaga>, BoxError>> + Send;
    #[doc(hidden)]
    fn save(
        pool: &Pool<Self>,
        instance: &StoredSaga,
        expected: Option<u64>,
        history: &[HistoryEntry],
        commands: Vec<(&'static str, Envelope)>,
        dedup: Option<(&'static str, Uuid)>,
    ) -> impl Future<Output = Result<Saved, BoxError>> + Send;
    #[doc(hidden)]
    fn seen(
        pool: &Pool<Self>,
        group: &'static str,
        id: Uuid,
    ) -> impl Future<Output = Result<bool, BoxError>> + Send;
    #[doc(hidden)]
    fn due(
        pool: &Pool<Self>,
        saga: &'static str,
        now_ms: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Uuid>, BoxError>> + Send;
    #[doc(hidden)]
    fn next_deadline(
        pool: &Pool<Self>,
        saga: &'static str,
    ) -> impl Future<Output = Result<Option<i64>, BoxError>> + Send;
    #[doc(hidden)]
    fn history(
        pool: &Pool<Self>,
        saga: &'static str,
        id: Uuid,
    ) -> impl Future<Output = Result<Vec<HistoryEntry>, BoxError>> + Send;
    #[doc(hidden)]
    fn list(
        pool: &Pool<Self>,
        saga: &'static str,
        status: SagaStatus,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Uuid>, BoxError>> + Send;
}

impl<DB: SagaSql> SagaStore for SqlSagaStore<DB> {
    fn load(
        &self,
        saga: &'static str,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<StoredSaga>, BoxError>> + Send {
        DB::load(&self.pool, saga, id)
    }

    fn save(
        &self,
        instance: &StoredSaga,
        expected: Option<u64>,
        history: &[HistoryEntry],
        commands: Vec<(&'static str, Envelope)>,
        dedup: Option<(&'static str, Uuid)>,
    ) -> impl Future<Output = Result<Saved, BoxError>> + Send {
        DB::save(&self.pool, instance, expected, history, commands, dedup)
    }

    fn seen(
        &self,
        group: &'static str,
        id: Uuid,
    ) -> impl Future<Output = Result<bool, BoxError>> + Send {
        DB::seen(&self.pool, group, id)
    }

    fn due(
        &self,
        saga: &'static str,
        now_ms: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Uuid>, BoxError>> + Send {
        DB::due(&self.pool, saga, now_ms, limit)
    }

    fn next_deadline(
        &self,
        saga: &'static str,
    ) -> impl Future<Output = Result<Option<i64>, BoxError>> + Send {
        DB::next_deadline(&self.pool, saga)
    }

    fn history(
        &self,
        saga: &'static str,
        id: Uuid,
    ) -> impl Future<Output = Result<Vec<HistoryEntry>, BoxError>> + Send {
        DB::history(&self.pool, saga, id)
    }

    fn list(
        &self,
        saga: &'static str,
        status: SagaStatus,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Uuid>, BoxError>> + Send {
        DB::list(&self.pool, saga, status, limit)
    }
}

macro_rules! saga_store {
    ($db:ty) => {
        impl SagaSql for $db {
            async fn load(pool: &Pool<Self>, saga: &'static str, id: Uuid) -> Result<Option<StoredSaga>, BoxError> {
                let row: Option<Row> = sqlx::query_as(
                    "SELECT id, data, progress, deadline_ms, version FROM edp_sagas WHERE saga = $1 AND id = $2",
                )
                .bind(saga)
                .bind(id)
                .fetch_optional(pool)
                .await.map_err(db)?;
                row.map(|r| stored(saga, r)).transpose()
            }

            async fn save(
                pool: &Pool<Self>,
                instance: &StoredSaga,
                expected: Option<u64>,
                history: &[HistoryEntry],
                commands: Vec<(&'static str, Envelope)>,
                dedup: Option<(&'static str, Uuid)>,
            ) -> Result<Saved, BoxError> {
                let now = now_us();
                let progress = serde_json::to_string(&instance.progress)?;
                let version = i64::try_from(instance.version).unwrap_or(i64::MAX);
                let mut tx = pool.begin().await.map_err(db)?;
                if let Some((group, message)) = dedup {
                    if !<$db as Database>::inbox_claim(&mut tx, group, message, now).await? {
                        return Ok(Saved::Duplicate);
                    }
                }
                let written = match expected {
                    None => sqlx::query(
                        "INSERT INTO edp_sagas (saga, id, status, data, progress, deadline_ms, version, updated_us) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (saga, id) DO NOTHING",
                    )
                    .bind(&instance.saga)
                    .bind(instance.id)
                    .bind(instance.progress.status.as_str())
                    .bind(text(&instance.data)?)
                    .bind(&progress)
                    .bind(instance.deadline_ms)
                    .bind(version)
                    .bind(now)
                    .execute(&mut *tx)
                    .await.map_err(db)?,
                    Some(expected) => sqlx::query(
                        "UPDATE edp_sagas SET status = $3, data = $4, progress = $5, deadline_ms = $6, \
                             version = $7, updated_us = $8 \
                         WHERE saga = $1 AND id = $2 AND version = $9",
                    )
                    .bind(&instance.saga)
                    .bind(instance.id)
                    .bind(instance.progress.status.as_str())
                    .bind(text(&instance.data)?)
                    .bind(&progress)
                    .bind(instance.deadline_ms)
                    .bind(version)
                    .bind(now)
                    .bind(i64::try_from(expected).unwrap_or(i64::MAX))
                    .execute(&mut *tx)
                    .await.map_err(db)?,
                }
                .rows_affected();
                if written != 1 {
                    return Ok(Saved::Conflict); // rolled back on drop
                }
                for entry in history {
                    sqlx::query("INSERT INTO edp_saga_history (saga, id, at_ms, what) VALUES ($1, $2, $3, $4)")
                        .bind(&instance.saga)
                        .bind(instance.id)
                        .bind(entry.at_ms)
                        .bind(&entry.what)
                        .execute(&mut *tx)
                        .await.map_err(db)?;
                }
                for (topic, envelope) in commands {
                    add_envelope(&mut tx, topic, &envelope).await.map_err(|e| match e {
                        OutboxError::Database(e) => db(e),
                        other => BoxError::from(other),
                    })?;
                }
                tx.commit().await.map_err(db)?;
                Ok(Saved::Written)
            }

            async fn seen(pool: &Pool<Self>, group: &'static str, id: Uuid) -> Result<bool, BoxError> {
                let mut conn = pool.acquire().await.map_err(db)?;
                <$db as Database>::inbox_contains(&mut conn, group, id).await.map_err(db)
            }

            async fn due(pool: &Pool<Self>, saga: &'static str, now_ms: i64, limit: usize) -> Result<Vec<Uuid>, BoxError> {
                sqlx::query_scalar(
                    "SELECT id FROM edp_sagas WHERE saga = $1 AND deadline_ms <= $2 ORDER BY deadline_ms LIMIT $3",
                )
                .bind(saga)
                .bind(now_ms)
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(pool)
                .await.map_err(db)
            }

            async fn next_deadline(pool: &Pool<Self>, saga: &'static str) -> Result<Option<i64>, BoxError> {
                sqlx::query_scalar("SELECT min(deadline_ms) FROM edp_sagas WHERE saga = $1")
                    .bind(saga)
                    .fetch_one(pool)
                    .await.map_err(db)
            }

            async fn history(pool: &Pool<Self>, saga: &'static str, id: Uuid) -> Result<Vec<HistoryEntry>, BoxError> {
                let rows: Vec<(i64, String)> = sqlx::query_as(
                    "SELECT at_ms, what FROM edp_saga_history WHERE saga = $1 AND id = $2 ORDER BY seq",
                )
                .bind(saga)
                .bind(id)
                .fetch_all(pool)
                .await.map_err(db)?;
                Ok(rows.into_iter().map(|(at_ms, what)| HistoryEntry { at_ms, what }).collect())
            }

            async fn list(pool: &Pool<Self>, saga: &'static str, status: SagaStatus, limit: usize) -> Result<Vec<Uuid>, BoxError> {
                sqlx::query_scalar(
                    "SELECT id FROM edp_sagas WHERE saga = $1 AND status = $2 ORDER BY updated_us LIMIT $3",
                )
                .bind(saga)
                .bind(status.as_str())
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(pool)
                .await.map_err(db)
            }
        }
    };
}

#[cfg(feature = "postgres")]
saga_store!(sqlx::Postgres);
#[cfg(feature = "sqlite")]
saga_store!(sqlx::Sqlite);
