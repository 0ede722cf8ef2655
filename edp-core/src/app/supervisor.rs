//! Runs one task under its [`TaskPolicy`]: restarts with backoff, or ends the App.

use std::borrow::Cow;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::task::{DynTask, Phase, TaskPolicy};
use crate::error::BoxError;

/// Whether a supervised task is up, and why not; read by readiness.
#[derive(Debug, Clone, Default)]
pub(super) struct TaskState(Arc<Mutex<Option<String>>>);

impl TaskState {
    fn set_down(&self, why: String) {
        if let Ok(mut s) = self.0.lock() {
            *s = Some(why);
        }
    }

    fn set_up(&self) {
        if let Ok(mut s) = self.0.lock() {
            *s = None;
        }
    }

    /// `Err(why)` while the task is failing.
    pub(super) fn check(&self) -> Result<(), String> {
        match self.0.lock() {
            Ok(s) => s.clone().map_or(Ok(()), Err),
            Err(_) => Err("the task's state is unreadable (a panic while it was written)".into()),
        }
    }
}

/// A task running under supervision.
pub(super) struct Supervised {
    pub(super) name: Cow<'static, str>,
    pub(super) phase: Phase,
    pub(super) handle: JoinHandle<Result<(), BoxError>>,
}

/// The failure of a task whose policy is [`TaskPolicy::EndApp`], sent to the App.
pub(super) type Fatal = tokio::sync::mpsc::UnboundedSender<(Cow<'static, str>, BoxError)>;

/// Spawns `task`, run until `stop` under `policy`.
pub(super) fn spawn(
    mut task: Box<dyn DynTask>,
    policy: TaskPolicy,
    stop: CancellationToken,
    state: TaskState,
    fatal: Fatal,
) -> Supervised {
    let name = task.name();
    let phase = task.phase();
    let task_name = name.clone();
    let handle = tokio::spawn(async move {
        let name = task_name;
        let mut failures = 0u32;
        let mut rng = crate::event::envelope::seed_rng();
        loop {
            let run = AssertUnwindSafe(task.run(stop.clone())).catch_unwind();
            let outcome = match &policy {
                TaskPolicy::Restart { first, .. } => {
                    // Up again once it has run a first delay's length without failing.
                    let mut run = std::pin::pin!(run);
                    tokio::select! {
                        outcome = &mut run => outcome,
                        () = tokio::time::sleep(*first) => {
                            state.set_up();
                            failures = 0;
                            run.await
                        }
                    }
                }
                TaskPolicy::EndApp => run.await,
            };
            let error: BoxError = match outcome {
                Ok(Ok(())) => {
                    tracing::debug!(task = %name, "task finished");
                    state.set_up();
                    return Ok(());
                }
                Ok(Err(e)) => e,
                Err(panic) => panic_message(&panic).into(),
            };
            if stop.is_cancelled() {
                tracing::warn!(task = %name, error = %crate::error::chain_to_string(&*error), "task failed while stopping");
                return Err(error);
            }
            match &policy {
                TaskPolicy::EndApp => {
                    let why = crate::error::chain_to_string(&*error);
                    tracing::error!(task = %name, error = %why, "task failed; ending the app as its policy says");
                    state.set_down(format!("failed: {why}"));
                    let _ = fatal.send((name.clone(), error));
                    return Ok(());
                }
                TaskPolicy::Restart { first, max } => {
                    failures = failures.saturating_add(1);
                    let delay =
                        crate::backoff::Backoff::new(*first, *max).delay(failures, &mut rng);
                    let why = crate::error::chain_to_string(&*error);
                    tracing::warn!(task = %name, error = %why, attempt = failures, delay_ms = delay.as_millis() as u64, "task failed; restarting");
                    crate::telemetry::metrics::count_task_restart(&name);
                    state.set_down(format!(
                        "failed {failures} time(s), last: {why}; restarting in {} ms",
                        delay.as_millis()
                    ));
                    tokio::select! {
                        () = stop.cancelled() => return Ok(()),
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    });
    Supervised {
        name,
        phase,
        handle,
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    format!("panicked: {text}")
}
