//! Orchestrated sagas: typed, persisted state machines whose steps send commands and
//! wait for replies, each with a mandatory deadline and a mandatory compensation; a
//! failure (a failure reply, an action's error, a deadline) undoes the completed
//! steps in reverse order.
//!
//! - [`Saga`]: the saga's data and its [`Definition`] (stages of [`Step`]s, with
//!   [`then_all`](Definition::then_all) for fork/join), drawn by
//!   [`Definition::mermaid`].
//! - [`Step`]: `DEADLINE` and `type Compensation` have no defaults, so a step without
//!   them does not compile; [`Pivot`] and [`Retriable`] mark the steps that are not
//!   undone.
//! - [`SagaEngine`]: start, replies (deduplicated through the store's inbox),
//!   deadlines on tokio's clock (persisted, they fire after a restart), queries.
//! - [`SagaStore`]: [`MemorySagaStore`] here; PostgreSQL and SQLite in `edp-sql`
//!   (`edp_sql::saga::SqlSagaStore`), where each transition and the commands it sends
//!   commit in one transaction with the outbox.

pub(crate) mod commands;
mod definition;
mod engine;
pub(crate) mod instance;
mod store;

pub use commands::Commands;
pub use definition::{
    Compensation, Definition, Pivot, Retriable, Saga, Step, StepGroup, StepKind, Verdict,
};
pub use engine::{DeadlineHandle, Deadlines, ReplyEffect, SagaEngine, SagaError, SagaView};
pub use instance::{Progress, ResendPolicy, SagaStatus, StepState};
pub use store::{HistoryEntry, MemorySagaStore, SagaStore, Saved, StoredSaga};

/// The trip saga of the documentation's examples.
#[doc(hidden)]
#[cfg(feature = "derive")]
pub mod doc_trip {
    #![allow(missing_docs)]
    use std::time::Duration;

    use serde::{Deserialize, Serialize};

    use super::{Commands, Compensation, Definition, Retriable, Saga, Step, Verdict};
    use crate::error::BoxError;

    #[derive(Debug, Clone, Serialize, Deserialize, crate::Event)]
    #[event(name = "trip.booked", topic = "trips", crate = "crate")]
    pub struct Booked {
        pub what: String,
    }

    #[derive(Debug, Clone, crate::event_sourcing::EventSet)]
    #[event_set(crate = "crate")]
    pub enum TripReply {
        Booked(Booked),
    }

    #[derive(Debug, Default, Serialize, Deserialize)]
    pub struct Trip {
        pub booked: Vec<String>,
    }

    impl Saga for Trip {
        const NAME: &'static str = "trip";
        type Reply = TripReply;
        fn definition() -> Definition<Self> {
            Definition::new()
                .then_all((BookHotel, BookFlight))
                .then(ChargeCard)
        }
    }

    macro_rules! step {
        ($ty:ident, $name:literal, $comp:ty) => {
            pub struct $ty;
            impl Step<Trip> for $ty {
                const NAME: &'static str = $name;
                const DEADLINE: Duration = Duration::from_secs(30);
                type Compensation = $comp;
                fn action(&self, _: &Trip, out: &mut Commands<'_>) -> Result<(), BoxError> {
                    out.send(&Booked { what: $name.into() })
                }
                fn on_reply(&self, trip: &mut Trip, reply: &TripReply) -> Verdict {
                    let TripReply::Booked(b) = reply;
                    if b.what == $name {
                        trip.booked.push(b.what.clone());
                        Verdict::Done
                    } else {
                        Verdict::NotMine
                    }
                }
            }
        };
    }
    step!(BookHotel, "book_hotel", Cancel);
    step!(BookFlight, "book_flight", Cancel);
    step!(ChargeCard, "charge_card", Retriable);

    #[derive(Default)]
    pub struct Cancel;
    impl Compensation<Trip> for Cancel {
        fn compensate(&self, _: &Trip, _: &mut Commands<'_>) -> Result<(), BoxError> {
            Ok(())
        }
    }
}
