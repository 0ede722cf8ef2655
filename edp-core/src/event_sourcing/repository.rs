//! Loading aggregates from their events and recording what commands cause.

use std::marker::PhantomData;

use super::aggregate::Aggregate;
use super::store::{
    EventStore, ExpectedVersion, Metadata, RecordedEvent, Snapshot, StoreError, StreamId,
};
use super::upcast::Upcasters;

/// An aggregate as loaded: its state and the version of its stream.
#[derive(Debug, Clone, Default)]
pub struct Loaded<A> {
    /// The state, every event applied.
    pub state: A,
    /// The stream's version: the number of events in it (0: the aggregate is new).
    pub version: u64,
}

/// What a command recorded.
#[derive(Debug, Clone)]
pub struct Executed<A: Aggregate> {
    /// The events it caused (none when it changed nothing).
    pub events: Vec<A::Event>,
    /// The stream's version after them.
    pub version: u64,
    /// The state after them.
    pub state: A,
}

/// Why a command was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<E> {
    /// The aggregate refused it: its domain error.
    #[error(transparent)]
    Rejected(E),
    /// The store failed, or another writer got there first
    /// ([`StoreError::Conflict`]).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl<E> CommandError<E> {
    /// Whether another writer appended to the stream first.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_conflict())
    }
}

/// Loads aggregates of type `A` from an [`EventStore`] and records the events their
/// commands cause, with the optimistic concurrency check. Cheap to clone.
///
/// ```
/// # use edp_core::event_sourcing::doc_account::{Account, Command};
/// use edp_core::event_sourcing::{MemoryEventStore, Repository};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let accounts = Repository::<Account, _>::new(MemoryEventStore::new()).snapshot_every(100);
/// accounts.execute("a-1", Command::Deposit { cents: 500 }).await?;
/// accounts.execute("a-1", Command::Deposit { cents: 250 }).await?;
///
/// let loaded = accounts.load("a-1").await?;
/// assert_eq!((loaded.state.balance, loaded.version), (750, 2));
/// # Ok(()) }
/// ```
pub struct Repository<A, S> {
    store: S,
    upcasters: Upcasters,
    snapshot_every: Option<u64>,
    _aggregate: PhantomData<fn() -> A>,
}

impl<A, S: Clone> Clone for Repository<A, S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            upcasters: self.upcasters.clone(),
            snapshot_every: self.snapshot_every,
            _aggregate: PhantomData,
        }
    }
}

impl<A, S: std::fmt::Debug> std::fmt::Debug for Repository<A, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("aggregate", &std::any::type_name::<A>())
            .field("store", &self.store)
            .field("snapshot_every", &self.snapshot_every)
            .finish_non_exhaustive()
    }
}

impl<A: Aggregate, S: EventStore> Repository<A, S> {
    /// A repository on `store`, without snapshots or upcasters.
    pub fn new(store: S) -> Self {
        Self {
            store,
            upcasters: Upcasters::new(),
            snapshot_every: None,
            _aggregate: PhantomData,
        }
    }

    /// Reads older event versions through `upcasters`.
    pub fn upcasters(mut self, upcasters: Upcasters) -> Self {
        self.upcasters = upcasters;
        self
    }

    /// Takes a snapshot each time a stream passes a multiple of `events` (0: never).
    /// Loading then reads the snapshot and the events after it.
    pub fn snapshot_every(mut self, events: u64) -> Self {
        self.snapshot_every = (events > 0).then_some(events);
        self
    }

    /// The store underneath.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The stream of aggregate `id`.
    pub fn stream(id: &str) -> StreamId {
        StreamId::new(A::KIND, id)
    }

    /// Loads aggregate `id`: from its latest snapshot when there is a usable one, then
    /// the events after it. An aggregate without events loads as `A::default()` at
    /// version 0.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails or a stored event cannot be decoded.
    pub async fn load(&self, id: &str) -> Result<Loaded<A>, StoreError> {
        let stream = Self::stream(id);
        let mut loaded = match self.store.load_snapshot(&stream).await? {
            Some(snapshot) => restore::<A>(&stream, snapshot).unwrap_or_default(),
            None => Loaded::default(),
        };
        let events = self.store.read_stream(&stream, loaded.version).await?;
        for recorded in events {
            let version = recorded.stream_version;
            let event = self.decode(recorded)?;
            loaded.state.apply(&event);
            loaded.version = version;
        }
        Ok(loaded)
    }

    /// Loads aggregate `id`, handles `command`, and appends the events it causes,
    /// expecting the version it loaded.
    ///
    /// # Errors
    ///
    /// [`CommandError::Rejected`] with the aggregate's error, or
    /// [`CommandError::Store`]; a concurrent append gives [`StoreError::Conflict`]
    /// (see [`execute_retrying`](Self::execute_retrying)).
    pub async fn execute(
        &self,
        id: &str,
        command: A::Command,
    ) -> Result<Executed<A>, CommandError<A::Error>> {
        self.execute_with(id, command, &Metadata::default()).await
    }

    /// [`execute`](Self::execute) with the correlation and causation of the events.
    pub async fn execute_with(
        &self,
        id: &str,
        command: A::Command,
        metadata: &Metadata,
    ) -> Result<Executed<A>, CommandError<A::Error>> {
        let Loaded { mut state, version } = self.load(id).await?;
        let events = state.handle(command).map_err(CommandError::Rejected)?;
        if events.is_empty() {
            return Ok(Executed {
                events,
                version,
                state,
            });
        }
        let stream = Self::stream(id);
        let new_version = self
            .store
            .append(&stream, ExpectedVersion::Exact(version), &events, metadata)
            .await?;
        for event in &events {
            state.apply(event);
        }
        if let Some(every) = self.snapshot_every {
            if new_version / every > version / every {
                self.snapshot(&stream, &state, new_version).await;
            }
        }
        Ok(Executed {
            events,
            version: new_version,
            state,
        })
    }

    /// [`execute_with`](Self::execute_with), loading again and retrying up to
    /// `attempts` times in all while other writers append to the stream first.
    pub async fn execute_retrying(
        &self,
        id: &str,
        command: A::Command,
        metadata: &Metadata,
        attempts: u32,
    ) -> Result<Executed<A>, CommandError<A::Error>>
    where
        A::Command: Clone,
    {
        let mut left = attempts.max(1);
        loop {
            left -= 1;
            match self.execute_with(id, command.clone(), metadata).await {
                Err(e) if e.is_conflict() && left > 0 => {
                    tracing::debug!(
                        aggregate = A::KIND,
                        id,
                        "concurrent append; retrying the command"
                    );
                }
                other => return other,
            }
        }
    }

    /// Decodes a stored event of this aggregate, upcasting older versions.
    ///
    /// # Errors
    ///
    /// [`StoreError::Decode`].
    pub fn decode(&self, recorded: RecordedEvent) -> Result<A::Event, StoreError> {
        self.upcasters
            .decode_set::<A::Event>(&recorded.name, recorded.version, &recorded.data)
            .map_err(|source| StoreError::Decode {
                stream: recorded.stream,
                stream_version: recorded.stream_version,
                source,
            })
    }

    /// Saves a snapshot; a failure is logged, never the command's failure.
    async fn snapshot(&self, stream: &StreamId, state: &A, version: u64) {
        let data = match serde_json::to_vec(state) {
            Ok(data) => data,
            Err(e) => {
                tracing::warn!(%stream, error = %e, "snapshot not taken: the state does not serialize");
                return;
            }
        };
        let snapshot = Snapshot {
            stream_version: version,
            schema: A::SNAPSHOT_VERSION,
            data,
        };
        if let Err(e) = self.store.save_snapshot(stream, snapshot).await {
            tracing::warn!(%stream, error = %e, "snapshot not saved");
        }
    }
}

/// The state in `snapshot`, or `None` when it is of another shape (logged).
fn restore<A: Aggregate>(stream: &StreamId, snapshot: Snapshot) -> Option<Loaded<A>> {
    if snapshot.schema != A::SNAPSHOT_VERSION {
        tracing::info!(%stream, stored = snapshot.schema, current = A::SNAPSHOT_VERSION,
            "snapshot of an older shape skipped; loading from the events");
        return None;
    }
    match serde_json::from_slice(&snapshot.data) {
        Ok(state) => Some(Loaded {
            state,
            version: snapshot.stream_version,
        }),
        Err(e) => {
            tracing::warn!(%stream, error = %e, "snapshot does not decode; loading from the events");
            None
        }
    }
}
