//! One saga instance's progress, and how inputs move it: the pure state machine.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::commands::Commands;
use super::definition::{Definition, Saga, StepKind, Verdict};

/// Where an instance is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SagaStatus {
    /// Steps are running.
    Running,
    /// A step failed; the completed ones are being undone, in reverse.
    Compensating,
    /// Every step succeeded.
    Completed,
    /// Every started step was undone.
    Compensated,
    /// A compensation (or a retriable step) kept failing: an operator must look.
    Parked,
}

impl SagaStatus {
    /// Whether the instance has ended (completed, compensated or parked).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Compensated | Self::Parked)
    }

    /// The name stored and shown: `RUNNING`, `COMPLETED`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Compensating => "COMPENSATING",
            Self::Completed => "COMPLETED",
            Self::Compensated => "COMPENSATED",
            Self::Parked => "PARKED",
        }
    }
}

/// Where one step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StepState {
    /// Not reached.
    Pending,
    /// Its commands are sent; waiting for the reply until `deadline_ms`.
    Waiting {
        /// When the wait ends, in milliseconds of the saga clock.
        deadline_ms: i64,
        /// Sends so far (retriable steps send again).
        attempts: u32,
    },
    /// It succeeded.
    Done,
    /// It failed (its reply said so, or its action did): nothing to undo.
    Failed,
    /// No reply came in time: it may have happened, so it is undone too.
    TimedOut,
    /// Its compensation is sent; waiting for its confirmation until `deadline_ms`.
    Compensating {
        /// When to send it again.
        deadline_ms: i64,
        /// Sends so far.
        attempts: u32,
    },
    /// It was undone.
    Compensated,
}

/// What the engine persists of an instance besides its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Where the instance is.
    pub status: SagaStatus,
    /// The stage running (or the last one reached).
    pub stage: usize,
    /// Every step's state, in definition order.
    pub steps: Vec<StepState>,
    /// Why it was parked or compensated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Retries of compensations and of retriable steps: backoff and the attempt limit.
#[derive(Debug, Clone, Copy)]
pub struct ResendPolicy {
    /// The first wait before sending again.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
    /// Sends in all before parking.
    pub attempts: u32,
}

impl Default for ResendPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            attempts: 10,
        }
    }
}

impl ResendPolicy {
    fn backoff(&self, attempt: u32) -> Duration {
        crate::backoff::Backoff::new(self.initial, self.max)
            .jitter(false)
            .cap(attempt)
    }
}

/// What one transition produced: commands to send and lines for the history.
#[derive(Debug)]
pub(crate) struct Effects<'a> {
    pub(crate) commands: Commands<'a>,
    pub(crate) history: Vec<String>,
}

impl<'a> Effects<'a> {
    /// No effects yet; commands go into `commands`.
    pub(crate) fn new(commands: Commands<'a>) -> Self {
        Self {
            commands,
            history: Vec::new(),
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) struct Machine<'a, S: Saga> {
    pub(crate) def: &'a Definition<S>,
    pub(crate) retry: ResendPolicy,
    pub(crate) now_ms: i64,
}

impl<S: Saga> Machine<'_, S> {
    /// A new instance: runs the first stage.
    pub(crate) fn start(&self, data: &mut S, fx: &mut Effects<'_>) -> Progress {
        let mut p = Progress {
            status: SagaStatus::Running,
            stage: 0,
            steps: vec![StepState::Pending; self.def.steps.len()],
            reason: None,
        };
        fx.history.push("started".into());
        self.enter_stage(&mut p, data, fx);
        p
    }

    /// A reply arrived. Returns whether any step or compensation took it.
    pub(crate) fn reply(
        &self,
        p: &mut Progress,
        data: &mut S,
        reply: &S::Reply,
        fx: &mut Effects<'_>,
    ) -> bool {
        match p.status {
            SagaStatus::Running => {
                let Some(stage) = self.def.stages.get(p.stage) else {
                    return false;
                };
                for &i in stage {
                    if !matches!(p.steps.get(i), Some(StepState::Waiting { .. })) {
                        continue;
                    }
                    let Some(step) = self.def.steps.get(i) else {
                        continue;
                    };
                    match step.on_reply(data, reply) {
                        Verdict::NotMine => continue,
                        Verdict::Done => {
                            p.steps[i] = StepState::Done;
                            fx.history.push(format!("step {} done", step.name()));
                            self.after_step(p, data, fx);
                            return true;
                        }
                        Verdict::Failed(reason) => {
                            if step.kind() == StepKind::Retriable {
                                fx.history.push(format!(
                                    "step {} failed ({reason}); retrying",
                                    step.name()
                                ));
                                self.retry_step(p, i, data, fx);
                            } else {
                                p.steps[i] = StepState::Failed;
                                fx.history
                                    .push(format!("step {} failed: {reason}", step.name()));
                                self.begin_compensation(p, data, fx, reason);
                            }
                            return true;
                        }
                    }
                }
                false
            }
            SagaStatus::Compensating => {
                for (i, step) in self.def.steps.iter().enumerate() {
                    if !matches!(p.steps.get(i), Some(StepState::Compensating { .. })) {
                        continue;
                    }
                    match step.on_compensation_reply(data, reply) {
                        Verdict::NotMine => continue,
                        Verdict::Done => {
                            p.steps[i] = StepState::Compensated;
                            fx.history.push(format!("step {} compensated", step.name()));
                            self.compensate_next(p, data, fx);
                            return true;
                        }
                        Verdict::Failed(reason) => {
                            fx.history
                                .push(format!("compensation of {} failed ({reason})", step.name()));
                            self.retry_compensation(p, i, data, fx, &reason);
                            return true;
                        }
                    }
                }
                false
            }
            _ => false,
        }
    }

    /// The saga clock reached `now_ms`: deadlines that passed fire.
    pub(crate) fn deadline(&self, p: &mut Progress, data: &mut S, fx: &mut Effects<'_>) {
        for i in 0..p.steps.len() {
            let Some(step) = self.def.steps.get(i) else {
                continue;
            };
            match p.steps[i] {
                StepState::Waiting { deadline_ms, .. }
                    if deadline_ms <= self.now_ms && p.status == SagaStatus::Running =>
                {
                    // A pivot whose reply is late may have happened, and it cannot be
                    // undone: ask again, as for a retriable step, rather than compensate.
                    if matches!(step.kind(), StepKind::Retriable | StepKind::Pivot) {
                        fx.history
                            .push(format!("step {} timed out; retrying", step.name()));
                        self.retry_step(p, i, data, fx);
                    } else {
                        p.steps[i] = StepState::TimedOut;
                        fx.history.push(format!("step {} timed out", step.name()));
                        let reason = format!("step {} timed out", step.name());
                        self.begin_compensation(p, data, fx, reason);
                    }
                }
                StepState::Compensating { deadline_ms, .. }
                    if deadline_ms <= self.now_ms && p.status == SagaStatus::Compensating =>
                {
                    fx.history.push(format!(
                        "compensation of {} unconfirmed; sending again",
                        step.name()
                    ));
                    self.retry_compensation(p, i, data, fx, "no confirmation in time");
                }
                _ => {}
            }
        }
    }

    /// Whether stored progress fits this definition (the same number of steps); an
    /// instance stored under another definition is parked rather than run.
    pub(crate) fn fits(&self, p: &Progress) -> bool {
        p.steps.len() == self.def.steps.len()
    }

    /// Parks `p` for `reason` (from outside a transition).
    pub(crate) fn park_now(&self, p: &mut Progress, fx: &mut Effects<'_>, reason: String) {
        self.park(p, fx, reason);
    }

    /// The earliest deadline pending, if any.
    pub(crate) fn next_deadline(p: &Progress) -> Option<i64> {
        if p.status.is_final() {
            return None;
        }
        p.steps
            .iter()
            .filter_map(|s| match s {
                StepState::Waiting { deadline_ms, .. }
                | StepState::Compensating { deadline_ms, .. } => Some(*deadline_ms),
                _ => None,
            })
            .min()
    }

    fn enter_stage(&self, p: &mut Progress, data: &mut S, fx: &mut Effects<'_>) {
        let Some(stage) = self.def.stages.get(p.stage).cloned() else {
            self.finish(p, data, fx, SagaStatus::Completed);
            return;
        };
        for i in stage {
            if p.status != SagaStatus::Running {
                return;
            }
            self.send_step(p, i, data, fx, 1);
        }
    }

    fn send_step(
        &self,
        p: &mut Progress,
        i: usize,
        data: &mut S,
        fx: &mut Effects<'_>,
        attempts: u32,
    ) {
        let Some(step) = self.def.steps.get(i) else {
            return;
        };
        let mut out = fx.commands.fork();
        match step.action(data, &mut out) {
            Ok(()) => {
                fx.commands.join(out);
                p.steps[i] = StepState::Waiting {
                    deadline_ms: self.now_ms.saturating_add(ms(step.deadline())),
                    attempts,
                };
                fx.history.push(format!("step {} sent", step.name()));
            }
            Err(e) => {
                p.steps[i] = StepState::Failed;
                fx.history
                    .push(format!("step {} failed to send: {e}", step.name()));
                self.begin_compensation(p, data, fx, format!("step {} failed: {e}", step.name()));
            }
        }
    }

    fn retry_step(&self, p: &mut Progress, i: usize, data: &mut S, fx: &mut Effects<'_>) {
        let attempts = match p.steps[i] {
            StepState::Waiting { attempts, .. } => attempts,
            _ => 1,
        };
        if attempts >= self.retry.attempts {
            let name = self.def.steps.get(i).map_or("?", |s| s.name());
            self.park(
                p,
                fx,
                format!("retriable step {name} failed {attempts} times"),
            );
            return;
        }
        self.send_step(p, i, data, fx, attempts + 1);
        // Wait the backoff or the step's own deadline, whichever is longer.
        if let StepState::Waiting {
            deadline_ms,
            attempts,
        } = p.steps[i]
        {
            let backoff = self.now_ms.saturating_add(ms(self.retry.backoff(attempts)));
            p.steps[i] = StepState::Waiting {
                deadline_ms: deadline_ms.max(backoff),
                attempts,
            };
        }
    }

    fn after_step(&self, p: &mut Progress, data: &mut S, fx: &mut Effects<'_>) {
        let Some(stage) = self.def.stages.get(p.stage) else {
            return;
        };
        if stage
            .iter()
            .all(|&i| p.steps.get(i) == Some(&StepState::Done))
        {
            p.stage += 1;
            self.enter_stage(p, data, fx);
        }
    }

    fn begin_compensation(
        &self,
        p: &mut Progress,
        data: &mut S,
        fx: &mut Effects<'_>,
        reason: String,
    ) {
        if p.status != SagaStatus::Running {
            return;
        }
        // Past a pivot that succeeded there is no way back: the steps after it must
        // be retriable, and one that fails anyway is for an operator.
        let past_pivot = self
            .def
            .steps
            .iter()
            .zip(&p.steps)
            .any(|(step, state)| step.kind() == StepKind::Pivot && *state == StepState::Done);
        if past_pivot {
            self.park(
                p,
                fx,
                format!(
                    "{reason} after the pivot succeeded; steps after a pivot must be retriable"
                ),
            );
            return;
        }
        p.status = SagaStatus::Compensating;
        p.reason = Some(reason);
        // Steps still waiting in this stage may yet happen: undo them too.
        for s in p.steps.iter_mut() {
            if matches!(s, StepState::Waiting { .. }) {
                *s = StepState::TimedOut;
            }
        }
        fx.history.push("compensating".into());
        self.compensate_next(p, data, fx);
    }

    /// Starts the next compensation, in reverse definition order; ends the saga when
    /// none is left.
    fn compensate_next(&self, p: &mut Progress, data: &mut S, fx: &mut Effects<'_>) {
        loop {
            if p.steps
                .iter()
                .any(|s| matches!(s, StepState::Compensating { .. }))
            {
                return; // one at a time
            }
            let next = (0..p.steps.len()).rev().find(|&i| {
                matches!(p.steps[i], StepState::Done | StepState::TimedOut)
                    && self
                        .def
                        .steps
                        .get(i)
                        .is_some_and(|s| s.kind() == StepKind::Compensatable)
            });
            let Some(i) = next else {
                // Pivots and retriables that succeeded are not undone.
                self.finish(p, data, fx, SagaStatus::Compensated);
                return;
            };
            if !self.send_compensation(p, i, data, fx, 1) {
                return; // parked, or waiting for its confirmation or a retry
            }
        }
    }

    /// Sends step `i`'s compensation; `true` when it is done at once (not awaited).
    fn send_compensation(
        &self,
        p: &mut Progress,
        i: usize,
        data: &mut S,
        fx: &mut Effects<'_>,
        attempts: u32,
    ) -> bool {
        let Some(step) = self.def.steps.get(i) else {
            return true;
        };
        let mut out = fx.commands.fork();
        match step.compensate(data, &mut out) {
            Ok(()) => {
                fx.commands.join(out);
                if step.compensation_awaits_reply() {
                    let wait = ms(step
                        .compensation_deadline()
                        .max(self.retry.backoff(attempts)));
                    p.steps[i] = StepState::Compensating {
                        deadline_ms: self.now_ms.saturating_add(wait),
                        attempts,
                    };
                    fx.history
                        .push(format!("compensation of {} sent", step.name()));
                    false
                } else {
                    p.steps[i] = StepState::Compensated;
                    fx.history.push(format!("step {} compensated", step.name()));
                    true
                }
            }
            Err(e) => {
                fx.history
                    .push(format!("compensation of {} failed: {e}", step.name()));
                if attempts >= self.retry.attempts {
                    self.park(
                        p,
                        fx,
                        format!(
                            "compensation of {} failed {attempts} times: {e}",
                            step.name()
                        ),
                    );
                } else {
                    p.steps[i] = StepState::Compensating {
                        deadline_ms: self.now_ms.saturating_add(ms(self.retry.backoff(attempts))),
                        attempts,
                    };
                }
                false
            }
        }
    }

    fn retry_compensation(
        &self,
        p: &mut Progress,
        i: usize,
        data: &mut S,
        fx: &mut Effects<'_>,
        reason: &str,
    ) {
        let attempts = match p.steps[i] {
            StepState::Compensating { attempts, .. } => attempts,
            _ => 1,
        };
        if attempts >= self.retry.attempts {
            let name = self.def.steps.get(i).map_or("?", |s| s.name());
            self.park(
                p,
                fx,
                format!("compensation of {name} failed {attempts} times: {reason}"),
            );
            return;
        }
        if self.send_compensation(p, i, data, fx, attempts + 1) {
            self.compensate_next(p, data, fx);
        }
    }

    fn finish(&self, p: &mut Progress, data: &S, fx: &mut Effects<'_>, status: SagaStatus) {
        p.status = status;
        let mut out = fx.commands.fork();
        match data.on_finished(status, &mut out) {
            Ok(()) => fx.commands.join(out),
            Err(e) => fx.history.push(format!("closing commands failed: {e}")),
        }
        fx.history.push(status.as_str().to_lowercase());
    }

    fn park(&self, p: &mut Progress, fx: &mut Effects<'_>, reason: String) {
        tracing::error!(saga = S::NAME, %reason, "saga parked for an operator");
        fx.history.push(format!("parked: {reason}"));
        p.status = SagaStatus::Parked;
        p.reason = Some(reason);
    }
}
