//! The aggregate: a consistency boundary whose state is the fold of its events.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::event_set::EventSet;

/// An event-sourced aggregate: `handle` decides, from the current state, which events
/// a command causes (or refuses it with a domain error); `apply` folds one event into
/// the state. The state is never saved directly: it is rebuilt from the events (and
/// from a [`Snapshot`](super::Snapshot) when one is taken).
///
/// ```
/// use edp_core::Event;
/// use edp_core::event_sourcing::{Aggregate, EventSet};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
/// #[event(name = "account.deposited", topic = "accounts", key = id)]
/// struct Deposited { id: String, cents: u64 }
///
/// #[derive(Debug, Clone, PartialEq, EventSet)]
/// enum AccountEvent { Deposited(Deposited) }
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Account { balance: u64 }
///
/// enum Command { Deposit { id: String, cents: u64 } }
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("a deposit must be positive")]
/// struct NotPositive;
///
/// impl Aggregate for Account {
///     const KIND: &'static str = "account";
///     type Command = Command;
///     type Event = AccountEvent;
///     type Error = NotPositive;
///
///     fn handle(&self, command: Command) -> Result<Vec<AccountEvent>, NotPositive> {
///         match command {
///             Command::Deposit { cents: 0, .. } => Err(NotPositive),
///             Command::Deposit { id, cents } => Ok(vec![Deposited { id, cents }.into()]),
///         }
///     }
///
///     fn apply(&mut self, event: &AccountEvent) {
///         match event {
///             AccountEvent::Deposited(e) => self.balance += e.cents,
///         }
///     }
/// }
/// ```
pub trait Aggregate: Default + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The aggregate type, the kind of its streams, for example `"order"`.
    const KIND: &'static str;
    /// The shape of the state as snapshots store it. Raise it when the state's fields
    /// change: snapshots of another shape are then skipped (and the state rebuilt
    /// from events), never misread.
    const SNAPSHOT_VERSION: u32 = 1;

    /// What the aggregate is asked to do.
    type Command: Send;
    /// What it records.
    type Event: EventSet;
    /// Why it refuses a command.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Decides what `command` causes, from the current state. Pure: no I/O, no clock;
    /// put what it needs into the command.
    ///
    /// # Errors
    ///
    /// The domain error when the command is refused; nothing is recorded then.
    fn handle(&self, command: Self::Command) -> Result<Vec<Self::Event>, Self::Error>;

    /// Folds `event` into the state. It must not fail: the event happened.
    fn apply(&mut self, event: &Self::Event);
}
