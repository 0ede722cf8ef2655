//! Given events, when a command, then events or an error: tests of an
//! [`Aggregate`]'s decisions, without a store.
//!
//! ```
//! use edp_core::testkit::aggregate::given;
//! # use edp_core::event_sourcing::doc_account::{Account, AccountEvent, Command, Deposited};
//!
//! given::<Account>([Deposited { cents: 5 }.into()])
//!     .when(Command::Deposit { cents: 7 })
//!     .then([AccountEvent::from(Deposited { cents: 7 })]);
//!
//! let err = given::<Account>([]).when(Command::Deposit { cents: 0 }).then_error();
//! assert_eq!(err.to_string(), "a deposit must be positive");
//! ```

use std::fmt::Debug;

use crate::event_sourcing::Aggregate;

/// Starts a test from the events already recorded: they are applied in order.
pub fn given<A: Aggregate>(events: impl IntoIterator<Item = A::Event>) -> Given<A> {
    let mut state = A::default();
    for event in events {
        state.apply(&event);
    }
    Given { state }
}

/// An aggregate with its history applied.
#[derive(Debug)]
pub struct Given<A> {
    state: A,
}

impl<A: Aggregate> Given<A> {
    /// The state the history gives.
    pub fn state(&self) -> &A {
        &self.state
    }

    /// Handles `command` against the state.
    pub fn when(self, command: A::Command) -> Then<A> {
        let result = self.state.handle(command);
        Then {
            state: self.state,
            result,
        }
    }
}

/// What a command gave.
#[derive(Debug)]
pub struct Then<A: Aggregate> {
    state: A,
    result: Result<Vec<A::Event>, A::Error>,
}

impl<A: Aggregate> Then<A> {
    /// Asserts that the command recorded exactly `expected`, in order; returns the
    /// state after them.
    ///
    /// # Panics
    ///
    /// When it recorded other events or was refused (this is an assertion).
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = A::Event>) -> A
    where
        A::Event: PartialEq + Debug,
    {
        let expected: Vec<A::Event> = expected.into_iter().collect();
        match self.result {
            Ok(events) => {
                assert_eq!(events, expected, "the command recorded other events");
                let mut state = self.state;
                for event in &events {
                    state.apply(event);
                }
                state
            }
            Err(e) => panic!("the command was refused ({e}), expected events {expected:?}"),
        }
    }

    /// Asserts that the command was refused; returns the error.
    ///
    /// # Panics
    ///
    /// When it recorded events (this is an assertion).
    #[track_caller]
    pub fn then_error(self) -> A::Error
    where
        A::Event: Debug,
    {
        match self.result {
            Err(e) => e,
            Ok(events) => {
                panic!("the command was accepted with events {events:?}, expected an error")
            }
        }
    }

    /// The raw outcome, for checks of your own.
    pub fn result(self) -> Result<Vec<A::Event>, A::Error> {
        self.result
    }
}
