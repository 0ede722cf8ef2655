//! Projections: read models kept from the store's global order, with checkpoints.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::error::BoxError;

use super::event_set::EventSet;
use super::store::{EventStore, Position, Recorded, RecordedEvent};
use super::upcast::Upcasters;

/// A read model built from events. The [`Projector`] reads the store's global order
/// from the projection's checkpoint and hands it batches; the projection applies a
/// batch and stores the checkpoint **with** it (in one transaction where the read model
/// is a database), so that a crash never loses or repeats an event for the model.
///
/// Events whose names are not in [`Self::Event`](Projection::Event) are passed over
/// (the checkpoint still moves past them).
///
/// `edp_sql::event_store::SqlProjection` implements it for read models in PostgreSQL
/// or SQLite; [`MemoryProjection`] keeps one in memory.
pub trait Projection: Send + 'static {
    /// The events it reads.
    type Event: EventSet;

    /// Its stable name: the key of its checkpoint and the label of its lag metric.
    fn name(&self) -> &str;

    /// Where it got to: the position of the last event applied, `None` before the first.
    fn checkpoint(&mut self) -> impl Future<Output = Result<Option<Position>, BoxError>> + Send;

    /// Applies `events` (perhaps none, when every event of the batch was passed over)
    /// and moves the checkpoint from `after` (where the batch was read from) to
    /// `up_to`, together. When the checkpoint is no longer at `after` (another runner
    /// of the same projection moved it), it applies nothing and fails.
    fn apply(
        &mut self,
        events: Vec<Recorded<Self::Event>>,
        after: Option<Position>,
        up_to: Position,
    ) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// Forgets the read model and the checkpoint, before a rebuild from the first event.
    fn reset(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send;
}

/// Runs a [`Projection`] over an [`EventStore`]: catch-up from its checkpoint, then
/// follows new events (polling), with lag reported as `edp_projection_lag`.
///
/// ```
/// use edp_core::event_sourcing::{MemoryEventStore, MemoryProjection, Projector, Repository};
/// # use edp_core::event_sourcing::doc_account::{Account, AccountEvent, Command};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), edp_core::error::BoxError> {
/// let store = MemoryEventStore::new();
/// let accounts = Repository::<Account, _>::new(store.clone());
/// accounts.execute("a-1", Command::Deposit { cents: 500 }).await?;
///
/// // Total deposits over every account.
/// let totals = MemoryProjection::new("totals", 0u64, |total, event| match &event.event {
///     AccountEvent::Deposited(d) => *total += d.cents,
/// });
/// let mut projector = Projector::new(store, totals.clone());
/// projector.catch_up().await?;
/// assert_eq!(totals.read(|t| *t), 500);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Projector<S, P> {
    store: S,
    projection: P,
    upcasters: Upcasters,
    batch: usize,
    poll: Duration,
}

impl<S: EventStore, P: Projection> Projector<S, P> {
    /// Runs `projection` over `store`, 500 events a batch, polling every 100 ms once
    /// caught up.
    pub fn new(store: S, projection: P) -> Self {
        Self {
            store,
            projection,
            upcasters: Upcasters::new(),
            batch: 500,
            poll: Duration::from_millis(100),
        }
    }

    /// Reads older event versions through `upcasters`.
    pub fn upcasters(mut self, upcasters: Upcasters) -> Self {
        self.upcasters = upcasters;
        self
    }

    /// Events per batch (and per checkpoint), at least 1.
    pub fn batch(mut self, events: usize) -> Self {
        self.batch = events.max(1);
        self
    }

    /// How often to look for new events once caught up.
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll = every;
        self
    }

    /// The projection.
    pub fn projection(&self) -> &P {
        &self.projection
    }

    /// Applies one batch after the checkpoint; returns how many events it read from
    /// the store (0: caught up).
    ///
    /// # Errors
    ///
    /// The store's or the projection's error, or an event that does not decode: the
    /// checkpoint stays before it, so nothing is skipped.
    pub async fn step(&mut self) -> Result<usize, BoxError> {
        let checkpoint = self.projection.checkpoint().await?;
        let raw = self
            .store
            .read_all(checkpoint.unwrap_or(Position::START), self.batch)
            .await?;
        let Some(last) = raw.last() else {
            crate::telemetry::metrics::set_projection_lag(self.projection.name(), 0, None);
            return Ok(0);
        };
        let up_to = last.position;
        let read = raw.len();
        let oldest_us = raw.first().map(|e| e.recorded_us);
        let events = raw
            .into_iter()
            .filter(|e| P::Event::NAMES.contains(&e.name.as_str()))
            .map(|e| decode(&self.upcasters, e))
            .collect::<Result<Vec<_>, _>>()?;
        match self.projection.apply(events, checkpoint, up_to).await {
            Ok(()) => {}
            // Someone else applied this batch: read on from where they got to.
            Err(e) if e.is::<CheckpointMoved>() => {
                tracing::debug!(
                    projection = self.projection.name(),
                    "checkpoint moved by another runner"
                );
                return Ok(read);
            }
            Err(e) => return Err(e),
        }
        let name = self.projection.name().to_owned();
        report_lag(&self.store, &name, up_to, oldest_us).await;
        Ok(read)
    }

    /// Applies batches until the projection has read every event committed so far.
    /// Returns the number of events read.
    ///
    /// # Errors
    ///
    /// As [`step`](Self::step).
    pub async fn catch_up(&mut self) -> Result<u64, BoxError> {
        let mut total = 0u64;
        loop {
            let read = self.step().await?;
            if read == 0 {
                return Ok(total);
            }
            total += read as u64;
        }
    }

    /// Forgets the read model and builds it again from the first event.
    ///
    /// # Errors
    ///
    /// As [`step`](Self::step).
    pub async fn rebuild(&mut self) -> Result<u64, BoxError> {
        self.projection.reset().await?;
        self.catch_up().await
    }

    /// Catches up, then follows new events until `stop` is cancelled. Errors are
    /// logged and retried with backoff (100 ms up to 5 s); the checkpoint never moves
    /// past an event that was not applied.
    pub async fn run(mut self, stop: CancellationToken) -> Self {
        self.follow(&stop).await;
        self
    }

    /// [`run`](Self::run) on a borrowed projector.
    async fn follow(&mut self, stop: &CancellationToken) {
        let backoff =
            crate::backoff::Backoff::new(Duration::from_millis(100), Duration::from_secs(5))
                .jitter(false);
        let mut failures = 0u32;
        loop {
            let wait = match self.step().await {
                Ok(0) => {
                    failures = 0;
                    self.poll
                }
                Ok(_) => {
                    failures = 0;
                    Duration::ZERO
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let wait = backoff.cap(failures);
                    tracing::warn!(projection = self.projection.name(), error = %e,
                        retry_in = ?wait, "projection step failed");
                    wait
                }
            };
            if stop.is_cancelled() {
                return;
            }
            if !wait.is_zero() {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }

    /// Runs the projector on its own task until the handle is shut down.
    pub fn start(self) -> ProjectorHandle<S, P>
    where
        S: 'static,
    {
        let stop = CancellationToken::new();
        let task = tokio::spawn(self.run(stop.clone()));
        ProjectorHandle { stop, task }
    }
}

/// The projector as an [`App`](crate::app) task named `projection:<name>`: it
/// catches up, then follows new events, retrying failed steps with backoff itself.
impl<S, P> crate::app::Task for Projector<S, P>
where
    S: EventStore + 'static,
    P: Projection + 'static,
    Self: Send,
{
    fn name(&self) -> std::borrow::Cow<'static, str> {
        format!("projection:{}", self.projection.name()).into()
    }

    async fn run(&mut self, stop: CancellationToken) -> Result<(), BoxError> {
        self.follow(&stop).await;
        Ok(())
    }
}

async fn report_lag<S: EventStore>(store: &S, name: &str, up_to: Position, oldest_us: Option<i64>) {
    let Ok(head) = store.head().await else {
        return;
    };
    let behind = u64::try_from(head.seq.saturating_sub(up_to.seq)).unwrap_or(0);
    let age = (behind > 0)
        .then(|| oldest_us.map(|t| Duration::from_micros(u64::try_from(now_us() - t).unwrap_or(0))))
        .flatten();
    crate::telemetry::metrics::set_projection_lag(name, behind, age);
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Decodes a stored event for a projection.
fn decode<E: EventSet>(upcasters: &Upcasters, raw: RecordedEvent) -> Result<Recorded<E>, BoxError> {
    let event = upcasters
        .decode_set::<E>(&raw.name, raw.version, &raw.data)
        .map_err(|source| super::StoreError::Decode {
            stream: raw.stream.clone(),
            stream_version: raw.stream_version,
            source,
        })?;
    Ok(Recorded {
        event,
        position: raw.position,
        stream: raw.stream,
        stream_version: raw.stream_version,
        event_id: raw.event_id,
        metadata: raw.metadata,
        recorded_us: raw.recorded_us,
    })
}

/// Another runner of the same projection moved its checkpoint first: the batch was
/// not applied (rolled back), and the [`Projector`] reads on from the new checkpoint.
/// Return it from [`Projection::apply`] when the checkpoint is not at `after`.
#[derive(Debug, thiserror::Error)]
#[error("projection `{0}`: another runner moved the checkpoint first; the batch was not applied")]
pub struct CheckpointMoved(pub String);

/// A running [`Projector`].
#[derive(Debug)]
pub struct ProjectorHandle<S, P> {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Projector<S, P>>,
}

impl<S, P> ProjectorHandle<S, P> {
    /// Stops after the batch in hand and gives the projector back.
    ///
    /// # Errors
    ///
    /// The task's [`JoinError`](tokio::task::JoinError) if it panicked.
    pub async fn shutdown(self) -> Result<Projector<S, P>, tokio::task::JoinError> {
        self.stop.cancel();
        self.task.await
    }
}

type Fold<E, T> = Arc<dyn Fn(&mut T, &Recorded<E>) + Send + Sync>;

/// A read model in memory: a value of type `T` and a function that folds each event
/// into it. Clones share the model, so keep one to read it.
pub struct MemoryProjection<E, T> {
    name: Arc<str>,
    shared: Arc<Mutex<(T, Option<Position>)>>,
    initial: Arc<dyn Fn() -> T + Send + Sync>,
    fold: Fold<E, T>,
}

impl<E, T> Clone for MemoryProjection<E, T> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            shared: self.shared.clone(),
            initial: self.initial.clone(),
            fold: self.fold.clone(),
        }
    }
}

impl<E, T> std::fmt::Debug for MemoryProjection<E, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryProjection")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<E: EventSet, T: Clone + Send + Sync + 'static> MemoryProjection<E, T> {
    /// A model named `name` starting at `initial`, folding each event with `fold`.
    pub fn new(
        name: impl Into<Arc<str>>,
        initial: T,
        fold: impl Fn(&mut T, &Recorded<E>) + Send + Sync + 'static,
    ) -> Self {
        let start = initial.clone();
        Self {
            name: name.into(),
            shared: Arc::new(Mutex::new((initial, None))),
            initial: Arc::new(move || start.clone()),
            fold: Arc::new(fold),
        }
    }

    /// Reads the model.
    pub fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.lock().0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (T, Option<Position>)> {
        // A panic in a fold happens on a copy: the model and checkpoint under the
        // lock are whole, so the poison is tolerated.
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<E: EventSet, T: Clone + Send + Sync + 'static> Projection for MemoryProjection<E, T> {
    type Event = E;

    fn name(&self) -> &str {
        &self.name
    }

    async fn checkpoint(&mut self) -> Result<Option<Position>, BoxError> {
        Ok(self.lock().1)
    }

    async fn apply(
        &mut self,
        events: Vec<Recorded<E>>,
        after: Option<Position>,
        up_to: Position,
    ) -> Result<(), BoxError> {
        let mut guard = self.lock();
        let (model, checkpoint) = &mut *guard;
        if *checkpoint != after {
            return Err(CheckpointMoved(self.name.to_string()).into());
        }
        // Folded into a copy, swapped in whole: a fold that panics leaves the model
        // and the checkpoint as they were, and the batch is applied once when retried.
        let mut next = model.clone();
        for event in &events {
            (self.fold)(&mut next, event);
        }
        *model = next;
        *checkpoint = Some(up_to);
        Ok(())
    }

    async fn reset(&mut self) -> Result<(), BoxError> {
        *self.lock() = ((self.initial)(), None);
        Ok(())
    }
}
