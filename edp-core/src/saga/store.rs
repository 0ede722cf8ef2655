//! Where saga instances live: the store trait and the in-memory store.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Envelope;
use crate::error::BoxError;
use crate::transport::Transport;

use super::instance::{Progress, SagaStatus};

/// One line of an instance's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When, in milliseconds of the saga clock (Unix time, moved by tokio's clock).
    pub at_ms: i64,
    /// What happened.
    pub what: String,
}

/// A saga instance as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSaga {
    /// Its id, also the correlation id of its commands and their replies.
    pub id: Uuid,
    /// [`Saga::NAME`](super::Saga::NAME).
    pub saga: String,
    /// The saga's data as JSON.
    pub data: Vec<u8>,
    /// Where it is.
    pub progress: Progress,
    /// The earliest pending deadline, in milliseconds of the saga clock.
    pub deadline_ms: Option<i64>,
    /// Bumped by each save: the optimistic concurrency check.
    pub version: u64,
}

/// What a save did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// Written, with its commands.
    Written,
    /// The instance changed since it was loaded (or exists already, for a new one):
    /// nothing written.
    Conflict,
    /// The message was applied before (the inbox has it): nothing written.
    Duplicate,
}

/// A store of saga instances. A save writes the instance, its new history lines, the
/// commands it sends and the inbox record of the message that moved it, all or
/// nothing: `edp_sql::saga::SqlSagaStore` does it in one database transaction with the
/// outbox; [`MemorySagaStore`] in one lock (then publishes).
pub trait SagaStore: Clone + Send + Sync + 'static {
    /// Loads instance `id` of saga `saga`.
    fn load(
        &self,
        saga: &'static str,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<StoredSaga>, BoxError>> + Send;

    /// Saves `instance` if it is at `expected` (`None`: it must be new), with
    /// `history`, `commands` (topic, envelope) and the inbox record `dedup` (consumer
    /// group, message id).
    fn save(
        &self,
        instance: &StoredSaga,
        expected: Option<u64>,
        history: &[HistoryEntry],
        commands: Vec<(&'static str, Envelope)>,
        dedup: Option<(&'static str, Uuid)>,
    ) -> impl Future<Output = Result<Saved, BoxError>> + Send;

    /// Whether the inbox has message `id` of consumer `group`.
    fn seen(
        &self,
        group: &'static str,
        id: Uuid,
    ) -> impl Future<Output = Result<bool, BoxError>> + Send;

    /// Up to `limit` unfinished instances whose deadline is at or before `now_ms`.
    fn due(
        &self,
        saga: &'static str,
        now_ms: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Uuid>, BoxError>> + Send;

    /// The earliest deadline of any unfinished instance.
    fn next_deadline(
        &self,
        saga: &'static str,
    ) -> impl Future<Output = Result<Option<i64>, BoxError>> + Send;

    /// The history of instance `id`, oldest first.
    fn history(
        &self,
        saga: &'static str,
        id: Uuid,
    ) -> impl Future<Output = Result<Vec<HistoryEntry>, BoxError>> + Send;

    /// Instances of `saga` with `status`, up to `limit`, oldest first.
    fn list(
        &self,
        saga: &'static str,
        status: SagaStatus,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Uuid>, BoxError>> + Send;
}

/// Saga instances in memory, their commands published through a transport after each
/// save. For tests (with tokio's paused clock) and the embedded mode; a process that
/// dies loses them, and a publish that fails after a save is logged, not retried: use
/// the SQL store (with the outbox) where that matters.
#[derive(Debug)]
pub struct MemorySagaStore<T> {
    inner: Arc<Mutex<Inner>>,
    transport: T,
}

impl<T: Clone> Clone for MemorySagaStore<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            transport: self.transport.clone(),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    instances: HashMap<(String, Uuid), StoredSaga>,
    history: HashMap<Uuid, Vec<HistoryEntry>>,
    inbox: HashSet<(&'static str, Uuid)>,
}

impl<T: Transport> MemorySagaStore<T> {
    /// An empty store publishing through `transport`.
    pub fn new(transport: T) -> Self {
        Self {
            inner: Arc::default(),
            transport,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Saves change the maps only after every check: a poisoned lock holds whole saves.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<T: Transport> SagaStore for MemorySagaStore<T> {
    async fn load(&self, saga: &'static str, id: Uuid) -> Result<Option<StoredSaga>, BoxError> {
        Ok(self.lock().instances.get(&(saga.to_owned(), id)).cloned())
    }

    async fn save(
        &self,
        instance: &StoredSaga,
        expected: Option<u64>,
        history: &[HistoryEntry],
        commands: Vec<(&'static str, Envelope)>,
        dedup: Option<(&'static str, Uuid)>,
    ) -> Result<Saved, BoxError> {
        {
            let mut inner = self.lock();
            let key = (instance.saga.clone(), instance.id);
            let current = inner.instances.get(&key).map(|i| i.version);
            if current != expected {
                return Ok(Saved::Conflict);
            }
            if let Some(d) = dedup {
                if inner.inbox.contains(&d) {
                    return Ok(Saved::Duplicate);
                }
                inner.inbox.insert(d);
            }
            inner.instances.insert(key, instance.clone());
            inner
                .history
                .entry(instance.id)
                .or_default()
                .extend_from_slice(history);
        }
        for (topic, env) in commands {
            if let Err(e) = self.transport.publish(topic, vec![env]).await {
                tracing::error!(saga = %instance.saga, id = %instance.id, error = %e,
                    "saga command not published (the memory store does not retry)");
            }
        }
        Ok(Saved::Written)
    }

    async fn seen(&self, group: &'static str, id: Uuid) -> Result<bool, BoxError> {
        Ok(self.lock().inbox.contains(&(group, id)))
    }

    async fn due(
        &self,
        saga: &'static str,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<Uuid>, BoxError> {
        let inner = self.lock();
        let mut due: Vec<(i64, Uuid)> = inner
            .instances
            .values()
            .filter(|i| i.saga == saga)
            .filter_map(|i| i.deadline_ms.filter(|d| *d <= now_ms).map(|d| (d, i.id)))
            .collect();
        due.sort();
        Ok(due.into_iter().take(limit).map(|(_, id)| id).collect())
    }

    async fn next_deadline(&self, saga: &'static str) -> Result<Option<i64>, BoxError> {
        Ok(self
            .lock()
            .instances
            .values()
            .filter(|i| i.saga == saga)
            .filter_map(|i| i.deadline_ms)
            .min())
    }

    async fn history(&self, _saga: &'static str, id: Uuid) -> Result<Vec<HistoryEntry>, BoxError> {
        Ok(self.lock().history.get(&id).cloned().unwrap_or_default())
    }

    async fn list(
        &self,
        saga: &'static str,
        status: SagaStatus,
        limit: usize,
    ) -> Result<Vec<Uuid>, BoxError> {
        let inner = self.lock();
        let mut ids: Vec<Uuid> = inner
            .instances
            .values()
            .filter(|i| i.saga == saga && i.progress.status == status)
            .map(|i| i.id)
            .collect();
        ids.sort();
        ids.truncate(limit);
        Ok(ids)
    }
}
