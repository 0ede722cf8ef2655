//! The saga engine: starts instances, moves them on replies and deadlines, answers
//! queries.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::codec::{Codec, JsonCodec, PrepareError};
use crate::error::BoxError;
use crate::event::{Cause, Encoder, SharedEncoder};
use crate::event_sourcing::{EventSet, TypeVisitor};
use crate::handler::{Handler, ServiceBuilder};
use crate::transport::Transport;
use crate::{Context, Envelope, Event};

use super::commands::{Commands, Refused, Unprepared};
use super::definition::{Definition, Saga};
use super::instance::{Effects, Machine, Progress, ResendPolicy, SagaStatus, StepState};
use super::store::{HistoryEntry, SagaStore, Saved, StoredSaga};

/// The saga clock: Unix milliseconds at the engine's start, moved on by tokio's clock,
/// so that deadlines are wall-clock times in the store (they fire after a restart)
/// and tests move them with `tokio::time::pause` / `advance`.
#[derive(Debug, Clone, Copy)]
struct Clock {
    wall_ms: i64,
    base: tokio::time::Instant,
}

impl Clock {
    /// The process's saga clock, shared by every engine in it: an engine started
    /// again in the same process (a restart in a test) goes on from the same time,
    /// also on a paused clock.
    fn shared() -> Self {
        static CLOCK: std::sync::OnceLock<Clock> = std::sync::OnceLock::new();
        *CLOCK.get_or_init(Clock::new)
    }

    fn new() -> Self {
        let wall_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Self {
            wall_ms,
            base: tokio::time::Instant::now(),
        }
    }

    fn now_ms(&self) -> i64 {
        self.wall_ms
            .saturating_add(i64::try_from(self.base.elapsed().as_millis()).unwrap_or(i64::MAX))
    }

    fn instant_of(&self, ms: i64) -> tokio::time::Instant {
        let after = u64::try_from(ms.saturating_sub(self.wall_ms)).unwrap_or(0);
        self.base + Duration::from_millis(after)
    }
}

/// Why a saga operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SagaError {
    /// The store failed (the database is down, for example). Retry.
    #[error("the saga store failed; try again")]
    Store(#[source] BoxError),
    /// The stored data of an instance does not decode into the saga's type.
    #[error("saga {saga} instance {id}: its stored data does not decode")]
    Data {
        /// The saga.
        saga: &'static str,
        /// The instance.
        id: Uuid,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The codec could not get ready to encode the saga's commands: a service it
    /// needs (a schema registry) is unavailable. Transient: retry.
    #[error("the codec cannot encode the saga's commands yet")]
    Codec(#[source] PrepareError),
    /// Other writers kept changing the instance.
    #[error("saga {saga} instance {id} kept changing under this writer; try again")]
    Contended {
        /// The saga.
        saga: &'static str,
        /// The instance.
        id: Uuid,
    },
}

/// What a reply did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyEffect {
    /// It moved the instance.
    Applied,
    /// The instance had it already (a redelivery).
    Duplicate,
    /// No instance has this id (logged, acknowledged).
    UnknownInstance,
    /// The instance has ended (logged, acknowledged).
    Finished,
    /// No waiting step took it (logged, acknowledged).
    Unexpected,
}

/// An instance as a query sees it: status, data, each step's state, the pending
/// deadline and the history.
#[derive(Debug, Clone)]
pub struct SagaView<S> {
    /// The instance id.
    pub id: Uuid,
    /// Where it is.
    pub status: SagaStatus,
    /// Why it compensated or was parked.
    pub reason: Option<String>,
    /// The saga's data.
    pub data: S,
    /// Each step's name and state, in definition order.
    pub steps: Vec<(&'static str, StepState)>,
    /// The earliest pending deadline, Unix milliseconds.
    pub deadline_ms: Option<i64>,
    /// What happened, oldest first.
    pub history: Vec<HistoryEntry>,
}

/// Runs instances of saga `S` on store `St`. Cheap to clone.
///
/// Its commands are JSON from a service named after the saga until
/// [`encoder`](Self::encoder) gives it the service's.
///
/// - [`start`](Self::start) creates an instance and sends its first stage's commands;
/// - [`register`](Self::register) subscribes a service to the saga's replies
///   ([`on_reply`](Self::on_reply) by hand), deduplicated through the store's inbox;
/// - [`run_deadlines`](Self::run_deadlines) fires deadlines on tokio's clock;
/// - [`get`](Self::get) answers what an instance is doing.
pub struct SagaEngine<S: Saga, St> {
    inner: Arc<Inner<S, St>>,
}

impl<S: Saga, St> Clone for SagaEngine<S, St> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<S: Saga, St> std::fmt::Debug for SagaEngine<S, St> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SagaEngine")
            .field("saga", &S::NAME)
            .field("definition", &self.inner.def)
            .finish_non_exhaustive()
    }
}

struct Inner<S: Saga, St> {
    store: St,
    def: Definition<S>,
    retry: ResendPolicy,
    encoder: SharedEncoder,
    clock: Clock,
    wake: Notify,
}

impl<S: Saga, St: SagaStore> SagaEngine<S, St> {
    /// An engine for `S` on `store`, with the default [`ResendPolicy`].
    pub fn new(store: St) -> Self {
        Self::with_retry(store, ResendPolicy::default())
    }

    /// An engine whose compensations and retriable steps retry by `retry`.
    pub fn with_retry(store: St, retry: ResendPolicy) -> Self {
        Self::build(store, retry, Arc::new(Encoder::new(S::NAME, JsonCodec)))
    }

    /// The same engine, its commands made by `encoder`: in the service's codec (Avro
    /// included), with the service's name as their source. Call it before cloning the
    /// engine: clones made before keep the encoder they had.
    ///
    /// ```
    /// use edp_core::{Encoder, JsonCodec};
    /// use edp_core::saga::{MemorySagaStore, SagaEngine};
    /// use edp_core::transport::memory::MemoryTransport;
    /// # use edp_core::saga::doc_trip::Trip;
    ///
    /// let store = MemorySagaStore::new(MemoryTransport::new());
    /// let trips = SagaEngine::<Trip, _>::new(store).encoder(Encoder::new("travel", JsonCodec));
    /// ```
    pub fn encoder<C: Codec>(self, encoder: Encoder<C>) -> Self {
        Self::build(
            self.inner.store.clone(),
            self.inner.retry,
            Arc::new(encoder),
        )
    }

    fn build(store: St, retry: ResendPolicy, encoder: SharedEncoder) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                def: S::definition(),
                retry,
                encoder,
                clock: Clock::shared(),
                wake: Notify::new(),
            }),
        }
    }

    /// The saga's definition.
    pub fn definition(&self) -> &Definition<S> {
        &self.inner.def
    }

    /// The store.
    pub fn store(&self) -> &St {
        &self.inner.store
    }

    fn machine(&self) -> Machine<'_, S> {
        Machine {
            def: &self.inner.def,
            retry: self.inner.retry,
            now_ms: self.inner.clock.now_ms(),
        }
    }

    /// Starts instance `id` with `data`, sending its first stage's commands; `cause`
    /// is the message that asked for it (its id becomes the commands' causation).
    /// Starting an id that exists already does nothing (so a redelivered request
    /// starts one saga).
    ///
    /// # Errors
    ///
    /// [`SagaError::Store`], or [`SagaError::Codec`] when the codec cannot get ready
    /// for the first commands.
    pub async fn start(
        &self,
        id: Uuid,
        data: S,
        cause: Option<&Envelope>,
    ) -> Result<SagaStatus, SagaError> {
        if let Some(existing) = self.load(id).await? {
            return Ok(existing.progress.status);
        }
        let correlation = id.to_string();
        let mut refused = Vec::new();
        // The data as given, to start again from once the codec is ready.
        let initial = self.encode(id, &data)?;
        let mut data = data;
        for _ in 0..PREPARE_ROUNDS {
            let mut fx = Effects::new(self.commands(cause, &correlation, &refused));
            let progress = self.machine().start(&mut data, &mut fx);
            if !fx.commands.unprepared.is_empty() {
                let work = std::mem::take(&mut fx.commands.unprepared);
                drop(fx);
                self.prepare(work, &mut refused).await?;
                data = self.decode(id, &initial)?;
                continue;
            }
            let stored = self.stored(id, &data, progress, 0)?;
            let status = stored.progress.status;
            return match self.save(&stored, None, fx, None).await? {
                Saved::Written => Ok(status),
                // Started concurrently by another caller.
                Saved::Conflict | Saved::Duplicate => {
                    Ok(self.load(id).await?.map_or(status, |s| s.progress.status))
                }
            };
        }
        Err(SagaError::Contended { saga: S::NAME, id })
    }

    /// The commands of a transition of instance `correlation` caused by `cause`.
    fn commands<'a>(
        &'a self,
        cause: Option<&'a Envelope>,
        correlation: &'a str,
        refused: &'a [Refused],
    ) -> Commands<'a> {
        let cause = Cause::from(cause).correlation(correlation);
        Commands::new(&*self.inner.encoder, cause, refused)
    }

    /// Gets the codec ready for the command types a transition sent before it was:
    /// those it refuses for good go into `refused` (sending one then fails the step).
    async fn prepare(
        &self,
        work: Vec<Unprepared>,
        refused: &mut Vec<Refused>,
    ) -> Result<(), SagaError> {
        for u in work {
            match u.work.await {
                Ok(()) => {}
                Err(e) if e.is_transient() => return Err(SagaError::Codec(e)),
                Err(e) => {
                    tracing::warn!(saga = S::NAME, command = u.event_type, error = %e,
                        "the codec refuses a command type; the step sending it fails");
                    refused.push(Refused::new(u.type_id, u.event_type, e));
                }
            }
        }
        Ok(())
    }

    /// Applies a reply carried by `envelope` (its correlation id names the
    /// instance). Duplicates, replies for unknown or ended instances and replies no
    /// step waits for are logged and acknowledged.
    ///
    /// # Errors
    ///
    /// [`SagaError::Store`] (retry the delivery) or [`SagaError::Data`].
    pub async fn on_reply(
        &self,
        envelope: &Envelope,
        reply: S::Reply,
    ) -> Result<ReplyEffect, SagaError> {
        let correlation = envelope.correlation_id();
        let Ok(id) = Uuid::parse_str(&correlation) else {
            tracing::warn!(saga = S::NAME, correlation = %correlation, event = %envelope.event_type,
                "reply whose correlation id is not a saga id; acknowledged");
            return Ok(ReplyEffect::UnknownInstance);
        };
        let dedup = Some((S::NAME, envelope.id));
        let delivery = self
            .transition(id, Some(envelope), dedup, |m, p, data, fx| {
                m.reply(p, data, &reply, fx)
            })
            .await?;
        match delivery {
            ReplyEffect::Applied | ReplyEffect::Duplicate => {}
            other => {
                tracing::info!(saga = S::NAME, %id, event = %envelope.event_type, outcome = ?other,
                "reply not applied; acknowledged")
            }
        }
        Ok(delivery)
    }

    /// Fires every deadline that has passed; returns how many instances moved.
    ///
    /// # Errors
    ///
    /// [`SagaError::Store`].
    pub async fn fire_due(&self) -> Result<usize, SagaError> {
        let now = self.inner.clock.now_ms();
        let due = self
            .inner
            .store
            .due(S::NAME, now, 1000)
            .await
            .map_err(SagaError::Store)?;
        let mut moved = 0;
        for id in due {
            let fired = self
                .transition(id, None, None, |m, p, data, fx| {
                    let before = p.clone();
                    m.deadline(p, data, fx);
                    *p != before
                })
                .await;
            match fired {
                Ok(ReplyEffect::Applied) => moved += 1,
                Ok(_) => {}
                // One broken instance must not hold back the others' deadlines.
                Err(SagaError::Data { source, .. }) => {
                    self.park_broken(id, &format!("its stored data does not decode: {source}"))
                        .await?;
                }
                Err(e @ (SagaError::Store(_) | SagaError::Codec(_))) => return Err(e),
                Err(e) => {
                    tracing::warn!(saga = S::NAME, %id, error = %e, "deadline not fired; trying again later")
                }
            }
        }
        Ok(moved)
    }

    /// Fires deadlines as tokio's clock reaches them, until the handle is stopped.
    /// Deadlines stored before a restart fire at once if they have passed.
    pub fn run_deadlines(&self) -> DeadlineHandle {
        let stop = CancellationToken::new();
        let engine = self.clone();
        let token = stop.clone();
        let task = tokio::spawn(async move { engine.fire_deadlines_until(&token).await });
        DeadlineHandle { stop, task }
    }

    /// The deadlines as an [`App`](crate::app) task named `saga-deadlines:<saga>`:
    /// [`run_deadlines`](Self::run_deadlines) under the App's lifecycle.
    pub fn deadlines(&self) -> Deadlines<S, St> {
        Deadlines(self.clone())
    }

    async fn fire_deadlines_until(&self, stop: &CancellationToken) {
        let backoff =
            crate::backoff::Backoff::new(Duration::from_millis(100), Duration::from_secs(5))
                .jitter(false);
        let mut failures = 0u32;
        loop {
            let next = match self.fire_due().await {
                Ok(_) => self
                    .inner
                    .store
                    .next_deadline(S::NAME)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let next = match next {
                Ok(next) => {
                    failures = 0;
                    next
                }
                // The store is down (or one read failed): look again soon, not
                // at the one-minute horizon, or a deadline due meanwhile waits.
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let wait = backoff.cap(failures);
                    tracing::warn!(saga = S::NAME, error = %e, retry_in = ?wait, "firing deadlines failed");
                    let at =
                        self.inner.clock.now_ms() + i64::try_from(wait.as_millis()).unwrap_or(0);
                    Some(at)
                }
            };
            // Wake at the next deadline, when a save sets an earlier one, or at
            // least every minute (another process may have set one).
            let horizon = tokio::time::Instant::now() + Duration::from_secs(60);
            let at = next.map_or(horizon, |ms| self.inner.clock.instant_of(ms).min(horizon));
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep_until(at) => {}
                () = self.inner.wake.notified() => {}
            }
        }
    }

    /// What instance `id` is doing, or `None` when there is no such instance.
    ///
    /// # Errors
    ///
    /// [`SagaError::Store`] or [`SagaError::Data`].
    pub async fn get(&self, id: Uuid) -> Result<Option<SagaView<S>>, SagaError> {
        let Some(stored) = self.load(id).await? else {
            return Ok(None);
        };
        let data = self.decode(id, &stored.data)?;
        let history = self
            .inner
            .store
            .history(S::NAME, id)
            .await
            .map_err(SagaError::Store)?;
        let steps = self
            .inner
            .def
            .steps
            .iter()
            .zip(&stored.progress.steps)
            .map(|(s, st)| (s.name(), *st))
            .collect();
        Ok(Some(SagaView {
            id,
            status: stored.progress.status,
            reason: stored.progress.reason.clone(),
            data,
            steps,
            deadline_ms: stored.deadline_ms,
            history,
        }))
    }

    /// Ids of instances in `status`, up to `limit` (parked ones, for an operator).
    ///
    /// # Errors
    ///
    /// [`SagaError::Store`].
    pub async fn list(&self, status: SagaStatus, limit: usize) -> Result<Vec<Uuid>, SagaError> {
        self.inner
            .store
            .list(S::NAME, status, limit)
            .await
            .map_err(SagaError::Store)
    }

    /// Subscribes `builder`'s service to every reply type of the saga: each is
    /// applied through [`on_reply`](Self::on_reply). A store failure fails the
    /// delivery, so the transport redelivers it.
    pub fn register<T: Transport, C: Codec>(
        &self,
        builder: ServiceBuilder<T, C>,
    ) -> ServiceBuilder<T, C> {
        let mut registrar = Registrar {
            engine: self.clone(),
            builder: Some(builder),
        };
        S::Reply::each_type(&mut registrar);
        // invariant: the registrar gives the builder back after each visit.
        registrar
            .builder
            .unwrap_or_else(|| unreachable!("the builder is always put back"))
    }

    /// A handler that applies replies of type `E` (a variant of the saga's replies)
    /// through [`on_reply`](Self::on_reply): register it on a service with layers of
    /// its own (`builder.handler_named("saga", engine.reply_handler::<E, _>())`).
    /// Store errors fail the delivery (database outages as
    /// [`Unavailable`](crate::error::Unavailable), so it is redelivered).
    pub fn reply_handler<E: Event, C: Codec>(&self) -> impl Handler<E, C> {
        let engine = self.clone();
        move |ctx: Context<C>, event: E| {
            let engine = engine.clone();
            async move {
                let Some(reply) = S::Reply::wrap(event) else {
                    tracing::warn!(
                        saga = S::NAME,
                        event = E::NAME,
                        "not one of the saga's replies; acknowledged"
                    );
                    return Ok::<(), BoxError>(());
                };
                match engine.on_reply(ctx.envelope(), reply).await {
                    Ok(_) => Ok(()),
                    Err(SagaError::Store(e)) => Err(e),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    async fn load(&self, id: Uuid) -> Result<Option<StoredSaga>, SagaError> {
        self.inner
            .store
            .load(S::NAME, id)
            .await
            .map_err(SagaError::Store)
    }

    fn encode(&self, id: Uuid, data: &S) -> Result<Vec<u8>, SagaError> {
        serde_json::to_vec(data).map_err(|source| SagaError::Data {
            saga: S::NAME,
            id,
            source,
        })
    }

    fn decode(&self, id: Uuid, data: &[u8]) -> Result<S, SagaError> {
        serde_json::from_slice(data).map_err(|source| SagaError::Data {
            saga: S::NAME,
            id,
            source,
        })
    }

    fn stored(
        &self,
        id: Uuid,
        data: &S,
        progress: Progress,
        version: u64,
    ) -> Result<StoredSaga, SagaError> {
        Ok(StoredSaga {
            id,
            saga: S::NAME.to_owned(),
            data: self.encode(id, data)?,
            deadline_ms: Machine::<S>::next_deadline(&progress),
            progress,
            version,
        })
    }

    async fn save(
        &self,
        stored: &StoredSaga,
        expected: Option<u64>,
        fx: Effects<'_>,
        dedup: Option<(&'static str, Uuid)>,
    ) -> Result<Saved, SagaError> {
        let now = self.inner.clock.now_ms();
        let history: Vec<HistoryEntry> = fx
            .history
            .into_iter()
            .map(|what| HistoryEntry { at_ms: now, what })
            .collect();
        let saved = self
            .inner
            .store
            .save(stored, expected, &history, fx.commands.out, dedup)
            .await
            .map_err(SagaError::Store)?;
        if saved == Saved::Written && stored.deadline_ms.is_some() {
            self.inner.wake.notify_one();
        }
        Ok(saved)
    }

    /// Parks instance `id` without running it (its data or progress does not fit the
    /// saga any more), so that an operator sees it and it stops leading the deadlines.
    async fn park_broken(&self, id: Uuid, reason: &str) -> Result<(), SagaError> {
        tracing::error!(saga = S::NAME, %id, reason, "saga instance parked");
        for _ in 0..50 {
            let Some(mut stored) = self.load(id).await? else {
                return Ok(());
            };
            if stored.progress.status.is_final() {
                return Ok(());
            }
            let correlation = id.to_string();
            let mut fx = Effects::new(self.commands(None, &correlation, &[]));
            self.machine()
                .park_now(&mut stored.progress, &mut fx, reason.to_owned());
            let expected = stored.version;
            stored.version += 1;
            stored.deadline_ms = None;
            match self.save(&stored, Some(expected), fx, None).await? {
                Saved::Conflict => continue,
                _ => return Ok(()),
            }
        }
        Err(SagaError::Contended { saga: S::NAME, id })
    }

    /// Loads, applies `f`, saves; again on a concurrent change, and after getting the
    /// codec ready for commands it could not encode yet.
    async fn transition(
        &self,
        id: Uuid,
        cause: Option<&Envelope>,
        dedup: Option<(&'static str, Uuid)>,
        f: impl Fn(&Machine<'_, S>, &mut Progress, &mut S, &mut Effects<'_>) -> bool,
    ) -> Result<ReplyEffect, SagaError> {
        let correlation = id.to_string();
        let mut refused = Vec::new();
        for _ in 0..50 {
            let Some(stored) = self.load(id).await? else {
                return Ok(ReplyEffect::UnknownInstance);
            };
            if stored.progress.status.is_final() {
                return Ok(ReplyEffect::Finished);
            }
            if !self.machine().fits(&stored.progress) {
                let reason = format!(
                    "it was stored with {} steps and the definition now has {}",
                    stored.progress.steps.len(),
                    self.inner.def.steps.len()
                );
                self.park_broken(id, &reason).await?;
                return Ok(ReplyEffect::Finished);
            }
            let mut data = self.decode(id, &stored.data)?;
            let mut progress = stored.progress.clone();
            let mut fx = Effects::new(self.commands(cause, &correlation, &refused));
            if !f(&self.machine(), &mut progress, &mut data, &mut fx) {
                // A redelivery of a reply applied before finds no step waiting for it.
                if let Some((group, message)) = dedup {
                    if self
                        .inner
                        .store
                        .seen(group, message)
                        .await
                        .map_err(SagaError::Store)?
                    {
                        return Ok(ReplyEffect::Duplicate);
                    }
                }
                return Ok(ReplyEffect::Unexpected);
            }
            if !fx.commands.unprepared.is_empty() {
                let work = std::mem::take(&mut fx.commands.unprepared);
                drop(fx);
                self.prepare(work, &mut refused).await?;
                continue;
            }
            let next = self.stored(id, &data, progress, stored.version + 1)?;
            match self.save(&next, Some(stored.version), fx, dedup).await? {
                Saved::Written => return Ok(ReplyEffect::Applied),
                Saved::Duplicate => return Ok(ReplyEffect::Duplicate),
                Saved::Conflict => continue,
            }
        }
        Err(SagaError::Contended { saga: S::NAME, id })
    }
}

/// How many times a start runs again after getting the codec ready: once per new
/// command type at most, in any sane definition.
const PREPARE_ROUNDS: usize = 50;

/// Subscribes a reply handler per reply type.
struct Registrar<S: Saga, St, T: Transport, C: Codec> {
    engine: SagaEngine<S, St>,
    builder: Option<ServiceBuilder<T, C>>,
}

impl<S: Saga, St: SagaStore, T: Transport, C: Codec> TypeVisitor for Registrar<S, St, T, C> {
    fn visit<E: Event>(&mut self) {
        let Some(builder) = self.builder.take() else {
            return;
        };
        let engine = self.engine.clone();
        let handler = move |ctx: Context<C>, event: E| {
            let engine = engine.clone();
            async move {
                let Some(reply) = S::Reply::wrap(event) else {
                    return Ok::<(), BoxError>(());
                };
                engine.on_reply(ctx.envelope(), reply).await?;
                Ok(())
            }
        };
        self.builder = Some(builder.handler_named(format!("saga:{}", S::NAME), handler));
    }
}

/// The deadlines of a saga as an [`App`](crate::app) task; see
/// [`SagaEngine::deadlines`].
#[derive(Debug)]
pub struct Deadlines<S: Saga, St>(SagaEngine<S, St>);

impl<S: Saga, St: SagaStore> crate::app::Task for Deadlines<S, St> {
    fn name(&self) -> std::borrow::Cow<'static, str> {
        format!("saga-deadlines:{}", S::NAME).into()
    }

    async fn run(&mut self, stop: CancellationToken) -> Result<(), crate::error::BoxError> {
        self.0.fire_deadlines_until(&stop).await;
        Ok(())
    }
}

/// The running deadline task of [`SagaEngine::run_deadlines`].
#[derive(Debug)]
pub struct DeadlineHandle {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl DeadlineHandle {
    /// Stops firing deadlines.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}
