//! Event sourcing and CQRS: aggregates whose state is the fold of their events, an
//! event store with optimistic concurrency, snapshots, upcasters for older event
//! versions, and projections that follow the store's global order from a checkpoint.
//!
//! - [`Aggregate`]: `handle` a command against the state → events or a domain error;
//!   `apply` an event → the next state.
//! - [`EventSet`] (derive it): the enum of an aggregate's events, one variant per
//!   [`Event`](crate::Event) type.
//! - [`EventStore`]: [`MemoryEventStore`] here; PostgreSQL and SQLite in `edp-sql`,
//!   which writes outbox rows in the append's transaction.
//! - [`Repository`]: load (snapshot + later events) and execute commands.
//! - [`Upcasters`]: typed steps from older event versions to the current one.
//! - [`Projection`] and [`Projector`]: checkpointed catch-up, rebuild, lag metric.
//! - `testkit::aggregate` (feature `testkit`): given events / when command / then
//!   events or error.
//!
//! ```
//! # use edp_core::event_sourcing::doc_account::{Account, Command};
//! use edp_core::event_sourcing::{MemoryEventStore, Repository};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let accounts = Repository::<Account, _>::new(MemoryEventStore::new());
//! let done = accounts.execute("a-1", Command::Deposit { cents: 500 }).await?;
//! assert_eq!((done.version, done.state.balance), (1, 500));
//! # Ok(()) }
//! ```

mod aggregate;
mod event_set;
mod memory;
mod projection;
mod repository;
mod store;
mod upcast;

pub use aggregate::Aggregate;
#[cfg(feature = "derive")]
pub use edp_macros::EventSet;
#[doc(hidden)]
pub use event_set::same_name;
pub use event_set::{EventDecoder, EventSet, EventVisitor, TypeVisitor};
pub use memory::MemoryEventStore;
pub use projection::{CheckpointMoved, MemoryProjection, Projection, Projector, ProjectorHandle};
pub use repository::{CommandError, Executed, Loaded, Repository};
pub use store::{
    EventStore, ExpectedVersion, Metadata, NewEvent, Position, Recorded, RecordedEvent, Snapshot,
    StoreError, StreamId,
};
pub use upcast::{DecodeEventError, Upcasters};

/// The account of the documentation's examples.
#[doc(hidden)]
#[cfg(feature = "derive")]
pub mod doc_account {
    #![allow(missing_docs)]
    use serde::{Deserialize, Serialize};

    use crate::Event;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
    #[event(name = "account.deposited", topic = "accounts", crate = "crate")]
    pub struct Deposited {
        pub cents: u64,
    }

    #[derive(Debug, Clone, PartialEq, super::EventSet)]
    #[event_set(crate = "crate")]
    pub enum AccountEvent {
        Deposited(Deposited),
    }

    #[derive(Debug, Default, Clone, Serialize, Deserialize)]
    pub struct Account {
        pub balance: u64,
    }

    #[derive(Debug, Clone)]
    pub enum Command {
        Deposit { cents: u64 },
    }

    #[derive(Debug, thiserror::Error)]
    #[error("a deposit must be positive")]
    pub struct NotPositive;

    impl super::Aggregate for Account {
        const KIND: &'static str = "account";
        type Command = Command;
        type Event = AccountEvent;
        type Error = NotPositive;

        fn handle(&self, command: Command) -> Result<Vec<AccountEvent>, NotPositive> {
            match command {
                Command::Deposit { cents: 0 } => Err(NotPositive),
                Command::Deposit { cents } => Ok(vec![Deposited { cents }.into()]),
            }
        }

        fn apply(&mut self, event: &AccountEvent) {
            match event {
                AccountEvent::Deposited(e) => self.balance += e.cents,
            }
        }
    }
}
