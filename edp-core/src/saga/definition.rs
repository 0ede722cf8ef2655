//! What a saga is made of: its steps, their compensations, and the order they run in.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Commands;
use crate::error::BoxError;
use crate::event_sourcing::EventSet;

/// An orchestrated saga: its data (what the steps need and learn), the replies it
/// reacts to, and its [`Definition`]: steps run one stage after another, each with a
/// deadline and a compensation.
///
/// ```
/// # use edp_core::saga::doc_trip::{Trip, BookHotel, BookFlight, ChargeCard};
/// use edp_core::saga::{Definition, Saga};
/// # /*
/// impl Saga for Trip {
///     const NAME: &'static str = "trip";
///     type Reply = TripReply;
///     fn definition() -> Definition<Self> {
///         Definition::new()
///             .then_all((BookHotel, BookFlight)) // at once, joined before the next stage
///             .then(ChargeCard)
///     }
/// }
/// # */
/// let mermaid = Trip::definition().mermaid();
/// assert!(mermaid.contains("book_hotel"));
/// ```
pub trait Saga: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The saga's stable name: the key of its instances and its inbox group.
    const NAME: &'static str;
    /// Every reply and event its steps and compensations react to.
    type Reply: EventSet;
    /// The steps, stage by stage.
    fn definition() -> Definition<Self>;

    /// Sends the commands that close the saga, in the transaction that ends it:
    /// `Completed` after the last step, `Compensated` after the last compensation
    /// (cancel the order, say). Not called for a parked saga. Nothing by default.
    ///
    /// # Errors
    ///
    /// Logged in the saga's history; the saga ends all the same.
    fn on_finished(
        &self,
        status: super::SagaStatus,
        out: &mut Commands<'_>,
    ) -> Result<(), BoxError> {
        let _ = (status, out);
        Ok(())
    }
}

/// A step of saga `S`: an action that sends commands, the reply it waits for, a
/// **mandatory** deadline, and a **mandatory** compensation.
///
/// Both are associated items without defaults, so a step without them does not
/// compile: `type Compensation` names the step that undoes it, or [`Pivot`] (the point
/// of no return: it is not undone, and what follows must succeed) or [`Retriable`]
/// (it is retried until it succeeds, so it needs no undoing); `DEADLINE` is how long
/// the saga waits for the step's reply. A step that times out may have happened (its
/// reply lost), so it is compensated like one that succeeded.
pub trait Step<S: Saga>: Send + Sync + 'static {
    /// The step's name, in the saga's history and diagram.
    const NAME: &'static str;
    /// How long to wait for the reply.
    const DEADLINE: Duration;
    /// What undoes the step: a [`Compensation`], or [`Pivot`] or [`Retriable`].
    type Compensation: Compensation<S>;

    /// Sends the step's commands.
    ///
    /// # Errors
    ///
    /// The step fails (and the saga compensates what was done before it).
    fn action(&self, saga: &S, out: &mut Commands<'_>) -> Result<(), BoxError>;

    /// Whether `reply` answers this step: [`Verdict::Done`] (the saga may record what
    /// it learned in `saga`), [`Verdict::Failed`], or [`Verdict::NotMine`].
    fn on_reply(&self, saga: &mut S, reply: &S::Reply) -> Verdict;
}

/// What a reply means to a step or compensation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It is not the reply this step waits for.
    NotMine,
    /// The step succeeded.
    Done,
    /// The step failed, for this reason.
    Failed(String),
}

#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a compensation of saga `{S}`",
    label = "not a compensation",
    note = "name a type implementing `Compensation<{S}>` that undoes the step, or `Pivot` (the step is the point of no return) or `Retriable` (the step is retried until it succeeds)"
)]
/// How a step is undone. The kind of a step, after Richardson's taxonomy, comes from
/// its compensation: a compensatable step has one, [`Pivot`] and [`Retriable`] mark
/// the others.
pub trait Compensation<S: Saga>: Default + Send + Sync + 'static {
    /// The kind of step it belongs to.
    const KIND: StepKind = StepKind::Compensatable;
    /// Whether to wait for a reply confirming the compensation (recognised by
    /// [`on_reply`](Self::on_reply)). When `false`, it is done once its commands are
    /// sent (through the outbox, so at least once).
    const AWAITS_REPLY: bool = false;
    /// How long to wait for that reply before sending the compensation again.
    const DEADLINE: Duration = Duration::from_secs(30);

    /// Sends the commands that undo the step. Must be idempotent: it may run more
    /// than once, and for a step whose outcome was unknown (timed out).
    ///
    /// # Errors
    ///
    /// It is retried with backoff, and parked for an operator when it keeps failing.
    fn compensate(&self, saga: &S, out: &mut Commands<'_>) -> Result<(), BoxError>;

    /// Whether `reply` confirms (or refuses) the compensation.
    fn on_reply(&self, saga: &mut S, reply: &S::Reply) -> Verdict {
        let _ = (saga, reply);
        Verdict::NotMine
    }
}

/// The kinds of steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// Undone by its compensation when a later step fails.
    Compensatable,
    /// The go/no-go step: not undone; the steps after it must be [`Retriable`].
    Pivot,
    /// Retried until it succeeds (or parked after too many attempts); never undone.
    Retriable,
}

/// Marks the pivot step: `type Compensation = Pivot;`. A pivot is never undone: when
/// its reply is late it is asked again (it may have happened), and a step that fails
/// after it succeeded parks the saga.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pivot;

impl<S: Saga> Compensation<S> for Pivot {
    const KIND: StepKind = StepKind::Pivot;
    fn compensate(&self, _: &S, _: &mut Commands<'_>) -> Result<(), BoxError> {
        Ok(())
    }
}

/// Marks a step retried until it succeeds: `type Compensation = Retriable;`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Retriable;

impl<S: Saga> Compensation<S> for Retriable {
    const KIND: StepKind = StepKind::Retriable;
    fn compensate(&self, _: &S, _: &mut Commands<'_>) -> Result<(), BoxError> {
        Ok(())
    }
}

/// A step with its types erased, as the definition keeps it.
pub(crate) trait DynStep<S: Saga>: Send + Sync {
    fn name(&self) -> &'static str;
    fn deadline(&self) -> Duration;
    fn kind(&self) -> StepKind;
    fn compensation_awaits_reply(&self) -> bool;
    fn compensation_deadline(&self) -> Duration;
    fn action(&self, saga: &S, out: &mut Commands<'_>) -> Result<(), BoxError>;
    fn on_reply(&self, saga: &mut S, reply: &S::Reply) -> Verdict;
    fn compensate(&self, saga: &S, out: &mut Commands<'_>) -> Result<(), BoxError>;
    fn on_compensation_reply(&self, saga: &mut S, reply: &S::Reply) -> Verdict;
}

struct Erased<T, C> {
    step: T,
    compensation: C,
}

impl<S: Saga, T: Step<S>> DynStep<S> for Erased<T, T::Compensation> {
    fn name(&self) -> &'static str {
        T::NAME
    }
    fn deadline(&self) -> Duration {
        T::DEADLINE
    }
    fn kind(&self) -> StepKind {
        <T::Compensation as Compensation<S>>::KIND
    }
    fn compensation_awaits_reply(&self) -> bool {
        <T::Compensation as Compensation<S>>::AWAITS_REPLY
    }
    fn compensation_deadline(&self) -> Duration {
        <T::Compensation as Compensation<S>>::DEADLINE
    }
    fn action(&self, saga: &S, out: &mut Commands<'_>) -> Result<(), BoxError> {
        self.step.action(saga, out)
    }
    fn on_reply(&self, saga: &mut S, reply: &S::Reply) -> Verdict {
        self.step.on_reply(saga, reply)
    }
    fn compensate(&self, saga: &S, out: &mut Commands<'_>) -> Result<(), BoxError> {
        self.compensation.compensate(saga, out)
    }
    fn on_compensation_reply(&self, saga: &mut S, reply: &S::Reply) -> Verdict {
        self.compensation.on_reply(saga, reply)
    }
}

/// The steps of a saga, stage by stage: [`then`](Self::then) adds a stage of one
/// step, [`then_all`](Self::then_all) a stage of steps that run at once and are joined
/// before the next stage.
pub struct Definition<S: Saga> {
    pub(crate) steps: Vec<Box<dyn DynStep<S>>>,
    /// Indexes into `steps`, per stage.
    pub(crate) stages: Vec<Vec<usize>>,
}

impl<S: Saga> std::fmt::Debug for Definition<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stages: Vec<Vec<&str>> = self
            .stages
            .iter()
            .map(|s| {
                s.iter()
                    .filter_map(|&i| self.steps.get(i).map(|st| st.name()))
                    .collect()
            })
            .collect();
        f.debug_struct("Definition")
            .field("saga", &S::NAME)
            .field("stages", &stages)
            .finish()
    }
}

impl<S: Saga> Default for Definition<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Saga> Definition<S> {
    /// No steps yet.
    pub fn new() -> Self {
        Self {
            steps: Vec::new(),
            stages: Vec::new(),
        }
    }

    /// Adds a stage of one step, after the stages so far.
    pub fn then<T: Step<S>>(mut self, step: T) -> Self {
        let i = self.push(step);
        self.stages.push(vec![i]);
        self
    }

    /// Adds a stage of several steps that run at once (fork) and must all succeed
    /// before the next stage (join): a tuple of 2 to 4 steps.
    pub fn then_all<G: StepGroup<S>>(mut self, group: G) -> Self {
        let mut stage = Vec::new();
        group.add_to(&mut self, &mut stage);
        self.stages.push(stage);
        self
    }

    fn push<T: Step<S>>(&mut self, step: T) -> usize {
        self.steps.push(Box::new(Erased {
            step,
            compensation: T::Compensation::default(),
        }));
        self.steps.len() - 1
    }

    /// The names of the steps, stage by stage.
    pub fn stages(&self) -> Vec<Vec<&'static str>> {
        self.stages
            .iter()
            .map(|s| {
                s.iter()
                    .filter_map(|&i| self.steps.get(i).map(|st| st.name()))
                    .collect()
            })
            .collect()
    }

    /// A Mermaid flowchart of the saga: the stages left to right, forks and joins,
    /// and the compensations that run, in reverse, when a step fails.
    pub fn mermaid(&self) -> String {
        let mut out = format!("flowchart LR\n    start([{} started])\n", S::NAME);
        let mut previous = vec!["start".to_owned()];
        for stage in &self.stages {
            let mut here = Vec::new();
            for &i in stage {
                let Some(step) = self.steps.get(i) else {
                    continue;
                };
                let id = step.name().to_owned();
                let deadline = step.deadline().as_secs();
                let label = match step.kind() {
                    StepKind::Compensatable => format!("{}<br/>deadline {deadline}s", step.name()),
                    StepKind::Pivot => format!("{}<br/>pivot, deadline {deadline}s", step.name()),
                    StepKind::Retriable => {
                        format!("{}<br/>retriable, deadline {deadline}s", step.name())
                    }
                };
                out.push_str(&format!("    {id}[\"{label}\"]\n"));
                for p in &previous {
                    out.push_str(&format!("    {p} --> {id}\n"));
                }
                if step.kind() == StepKind::Compensatable {
                    out.push_str(&format!(
                        "    {id} -. \"on failure\" .-> undo_{id}[/\"undo {}\"/]\n",
                        step.name()
                    ));
                }
                here.push(id);
            }
            previous = here;
        }
        out.push_str("    done([completed])\n");
        for p in &previous {
            out.push_str(&format!("    {p} --> done\n"));
        }
        out
    }
}

/// Steps that run at once in one stage: tuples of 2 to 4 [`Step`]s.
pub trait StepGroup<S: Saga> {
    /// Adds the steps to `definition` and their indexes to `stage`.
    #[doc(hidden)]
    fn add_to(self, definition: &mut Definition<S>, stage: &mut Vec<usize>);
}

macro_rules! step_group {
    ($($t:ident),+) => {
        impl<S: Saga, $($t: Step<S>),+> StepGroup<S> for ($($t,)+) {
            #[allow(non_snake_case)]
            fn add_to(self, definition: &mut Definition<S>, stage: &mut Vec<usize>) {
                let ($($t,)+) = self;
                $(stage.push(definition.push($t));)+
            }
        }
    };
}
step_group!(A, B);
step_group!(A, B, C);
step_group!(A, B, C, D);
