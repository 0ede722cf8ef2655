//! The in-memory event store: for tests and the embedded mode.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::event_set::EventSet;
use super::store::{
    EventStore, ExpectedVersion, Metadata, NewEvent, Position, RecordedEvent, Snapshot, StoreError,
    StreamId,
};

/// An event store in memory: every event in one global list, streams indexed.
/// Cheap to clone (clones share the store). Lost when the process ends.
///
/// ```
/// use edp_core::event_sourcing::{EventStore, ExpectedVersion, MemoryEventStore, Metadata, StreamId};
/// # use edp_core::event_sourcing::doc_account::{AccountEvent, Deposited};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MemoryEventStore::new();
/// let stream = StreamId::new("account", "a-1");
/// let events = [AccountEvent::from(Deposited { cents: 5 })];
/// store.append(&stream, ExpectedVersion::NoStream, &events, &Metadata::default()).await?;
/// let again = store.append(&stream, ExpectedVersion::NoStream, &events, &Metadata::default()).await;
/// assert!(again.unwrap_err().is_conflict());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryEventStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    all: Vec<RecordedEvent>,
    /// Indexes into `all`, per stream, in stream order.
    streams: HashMap<StreamId, Vec<usize>>,
    snapshots: HashMap<StreamId, Snapshot>,
}

impl MemoryEventStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves whole appends only (pushes happen
        // after every check), so the data stays consistent: go on with it.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many events the store holds.
    pub fn len(&self) -> usize {
        self.lock().all.len()
    }

    /// Whether the store holds no event.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

impl EventStore for MemoryEventStore {
    async fn append<E: EventSet>(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[E],
        metadata: &Metadata,
    ) -> Result<u64, StoreError> {
        let encoded = events
            .iter()
            .map(NewEvent::encode)
            .collect::<Result<Vec<_>, _>>()?;
        let recorded_us = now_us();
        let mut inner = self.lock();
        let actual = inner.streams.get(stream).map_or(0, |v| v.len() as u64);
        if !expected.admits(actual) {
            return Err(StoreError::Conflict {
                stream: stream.clone(),
                expected,
                actual,
            });
        }
        let mut version = actual;
        for event in encoded {
            version += 1;
            let index = inner.all.len();
            inner.all.push(RecordedEvent {
                position: Position {
                    commit: 0,
                    seq: index as i64 + 1,
                },
                stream: stream.clone(),
                stream_version: version,
                event_id: event.event_id,
                name: event.name.to_owned(),
                version: event.version,
                data: event.data,
                metadata: metadata.clone(),
                recorded_us,
            });
            inner.streams.entry(stream.clone()).or_default().push(index);
        }
        Ok(version)
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let inner = self.lock();
        let Some(indexes) = inner.streams.get(stream) else {
            return Ok(Vec::new());
        };
        let skip = usize::try_from(after_version).unwrap_or(usize::MAX);
        Ok(indexes
            .iter()
            .skip(skip)
            .map(|&i| inner.all[i].clone())
            .collect())
    }

    async fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let inner = self.lock();
        let start = usize::try_from(after.seq.max(0)).unwrap_or(usize::MAX);
        Ok(inner.all.iter().skip(start).take(limit).cloned().collect())
    }

    async fn head(&self) -> Result<Position, StoreError> {
        Ok(Position {
            commit: 0,
            seq: self.lock().all.len() as i64,
        })
    }

    async fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError> {
        Ok(self.lock().snapshots.get(stream).cloned())
    }

    async fn save_snapshot(&self, stream: &StreamId, snapshot: Snapshot) -> Result<(), StoreError> {
        self.lock().snapshots.insert(stream.clone(), snapshot);
        Ok(())
    }
}
