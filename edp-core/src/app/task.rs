//! Background tasks: what an [`App`](super::App) runs beside its handlers and routes.

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::error::BoxError;
use crate::health::Check;

/// A long-running part of a service: an outbox relay, a projector, saga deadlines,
/// inbox purging, discovery registration, or your own loop.
///
/// [`run`](Task::run) works until `stop` is cancelled, then finishes what it holds
/// (a relay its batch in flight) and returns `Ok`. An `Err` is a failure: the
/// [`App`](super::App) restarts the task with backoff, or ends, as its
/// [`TaskPolicy`] says; `run` is called again on the same value, so keep what must
/// survive a restart in `self`. Returning `Ok` before `stop` fires means the task is
/// done (a one-off migration, say) and is not restarted.
///
/// ```
/// use edp_core::app::Task;
/// use edp_core::error::BoxError;
/// use tokio_util::sync::CancellationToken;
///
/// struct Ticker { ticks: u64 }
///
/// impl Task for Ticker {
///     fn name(&self) -> std::borrow::Cow<'static, str> { "ticker".into() }
///
///     async fn run(&mut self, stop: CancellationToken) -> Result<(), BoxError> {
///         let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
///         loop {
///             tokio::select! {
///                 () = stop.cancelled() => return Ok(()),
///                 _ = every.tick() => self.ticks += 1,
///             }
///         }
///     }
/// }
/// ```
pub trait Task: Send + 'static {
    /// The task's name, in logs, readiness reports and metrics.
    fn name(&self) -> Cow<'static, str>;

    /// Works until `stop` is cancelled; see the trait's documentation.
    fn run(&mut self, stop: CancellationToken)
    -> impl Future<Output = Result<(), BoxError>> + Send;

    /// A readiness check of its own, beside the App's record of whether the task runs
    /// (default: none).
    fn readiness(&self) -> Option<Check> {
        None
    }

    /// When shutdown stops it (default [`Phase::Background`]).
    fn phase(&self) -> Phase {
        Phase::Background
    }
}

/// When the App stops a task during shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// With the listener, first: the task announces the service to others
    /// (discovery registration), so stopping it takes the service out of rotation
    /// before in-flight work is finished.
    Intake,
    /// After the handlers have drained: relays, projectors, deadlines, purges. A relay
    /// stopped here still publishes what the last handlers wrote to the outbox in
    /// its batch in flight.
    Background,
}

/// What the App does when a task fails (returns `Err` or panics).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TaskPolicy {
    /// Run it again after a delay that doubles from `first` up to `max` (full
    /// jitter), for as long as the App runs; readiness reports the task as down until
    /// it has run for `first` without failing again.
    Restart {
        /// The first delay.
        first: Duration,
        /// The longest delay.
        max: Duration,
    },
    /// Shut the whole App down (in order), which then ends with the task's error.
    EndApp,
}

impl Default for TaskPolicy {
    /// Restart, first after 100 ms, at most every 30 s.
    fn default() -> Self {
        Self::Restart {
            first: Duration::from_millis(100),
            max: Duration::from_secs(30),
        }
    }
}

/// A task from a closure: `|stop| async move { ... }`, called again on a restart.
///
/// ```
/// use edp_core::app::{App, TaskFn};
/// use edp_core::error::BoxError;
///
/// let app = App::new("reports").task(TaskFn::new("nightly-report", |stop| async move {
///     stop.cancelled().await;
///     Ok::<_, BoxError>(())
/// }));
/// ```
pub struct TaskFn<F> {
    name: Cow<'static, str>,
    run: F,
    phase: Phase,
}

impl<F> std::fmt::Debug for TaskFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskFn").field("name", &self.name).finish()
    }
}

impl<F, Fut, E> TaskFn<F>
where
    F: FnMut(CancellationToken) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError>,
{
    /// A task named `name` that runs `run(stop)`.
    pub fn new(name: impl Into<Cow<'static, str>>, run: F) -> Self {
        Self {
            name: name.into(),
            run,
            phase: Phase::Background,
        }
    }

    /// Stops it in `phase` instead of [`Phase::Background`].
    pub fn phase(mut self, phase: Phase) -> Self {
        self.phase = phase;
        self
    }
}

impl<F, Fut, E> Task for TaskFn<F>
where
    F: FnMut(CancellationToken) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError>,
{
    fn name(&self) -> Cow<'static, str> {
        self.name.clone()
    }

    fn run(
        &mut self,
        stop: CancellationToken,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let fut = (self.run)(stop);
        async move { fut.await.map_err(Into::into) }
    }

    fn phase(&self) -> Phase {
        self.phase
    }
}

/// [`Task`] made object-safe, so that an App holds tasks of many types.
#[cfg(feature = "app")]
pub(super) trait DynTask: Send + 'static {
    fn name(&self) -> Cow<'static, str>;
    fn run(
        &mut self,
        stop: CancellationToken,
    ) -> futures_util::future::BoxFuture<'_, Result<(), BoxError>>;
    fn phase(&self) -> Phase;
}

#[cfg(feature = "app")]
impl<T: Task> DynTask for T {
    fn name(&self) -> Cow<'static, str> {
        Task::name(self)
    }

    fn run(
        &mut self,
        stop: CancellationToken,
    ) -> futures_util::future::BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(Task::run(self, stop))
    }

    fn phase(&self) -> Phase {
        Task::phase(self)
    }
}
