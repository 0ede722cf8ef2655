//! Given a saga's data, when replies arrive and time passes, then these commands and
//! this status: tests of a saga's definition without a store, a transport or a clock
//! of the wall.
//!
//! ```
//! use std::time::Duration;
//! use edp_core::saga::SagaStatus;
//! use edp_core::testkit::saga::given;
//! # use edp_core::saga::doc_trip::{Booked, Trip, TripReply};
//!
//! let mut trip = given(Trip::default());
//! trip.then_sends(["trip.booked", "trip.booked"]); // hotel and flight at once
//! trip.when_reply(TripReply::Booked(Booked { what: "book_hotel".into() }))
//!     .then_sends([]); // joined: waits for the flight
//! trip.when_time_passes(Duration::from_secs(31)) // the flight never answers
//!     .then_status(SagaStatus::Compensated);
//! ```

use std::fmt::Debug;
use std::time::Duration;

use crate::JsonCodec;
use crate::event::{Cause, Encoder};
use crate::saga::commands::Commands;
use crate::saga::instance::{Effects, Machine};
use crate::saga::{Definition, Progress, ResendPolicy, Saga, SagaStatus};

/// Starts saga `S` with `data`: its first stage's commands are sent.
pub fn given<S: Saga>(data: S) -> SagaTest<S> {
    given_with(data, ResendPolicy::default())
}

/// [`given`] with a retry policy of your own for compensations and retriable steps.
pub fn given_with<S: Saga>(mut data: S, retry: ResendPolicy) -> SagaTest<S> {
    let def = S::definition();
    let encoder = Encoder::new(S::NAME, JsonCodec);
    let mut fx = Effects::new(Commands::new(&encoder, Cause::none(), &[]));
    let progress = Machine {
        def: &def,
        retry,
        now_ms: 0,
    }
    .start(&mut data, &mut fx);
    let (sent, history) = outcome(fx);
    SagaTest {
        def,
        retry,
        encoder,
        now_ms: 0,
        data,
        progress,
        sent,
        history,
    }
}

/// The names of the commands sent, and the history lines.
fn outcome(fx: Effects<'_>) -> (Vec<String>, Vec<String>) {
    let names = fx
        .commands
        .out
        .iter()
        .map(|(_, e)| e.event_type.to_string())
        .collect();
    (names, fx.history)
}

/// A saga under test: its data, where it is, and what the last input made it send.
pub struct SagaTest<S: Saga> {
    def: Definition<S>,
    retry: ResendPolicy,
    /// JSON: the commands' names are what the tests look at.
    encoder: Encoder<JsonCodec>,
    now_ms: i64,
    data: S,
    progress: Progress,
    sent: Vec<String>,
    history: Vec<String>,
}

impl<S: Saga + Debug> Debug for SagaTest<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SagaTest")
            .field("data", &self.data)
            .field("status", &self.progress.status)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl<S: Saga> SagaTest<S> {
    /// A reply arrives.
    pub fn when_reply(&mut self, reply: S::Reply) -> &mut Self {
        let mut fx = Effects::new(Commands::new(&self.encoder, Cause::none(), &[]));
        let machine = Machine {
            def: &self.def,
            retry: self.retry,
            now_ms: self.now_ms,
        };
        if !self.progress.status.is_final() {
            machine.reply(&mut self.progress, &mut self.data, &reply, &mut fx);
        }
        let (sent, history) = outcome(fx);
        self.record(sent, history)
    }

    /// `elapsed` passes: every deadline it reaches fires, one after another, as the
    /// engine's deadline task would fire them.
    pub fn when_time_passes(&mut self, elapsed: Duration) -> &mut Self {
        let until = self
            .now_ms
            .saturating_add(i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX));
        let mut fx = Effects::new(Commands::new(&self.encoder, Cause::none(), &[]));
        while let Some(next) = Machine::<S>::next_deadline(&self.progress).filter(|d| *d <= until) {
            self.now_ms = next.max(self.now_ms);
            let machine = Machine {
                def: &self.def,
                retry: self.retry,
                now_ms: self.now_ms,
            };
            machine.deadline(&mut self.progress, &mut self.data, &mut fx);
        }
        self.now_ms = until;
        let (sent, history) = outcome(fx);
        self.record(sent, history)
    }

    fn record(&mut self, sent: Vec<String>, history: Vec<String>) -> &mut Self {
        self.sent = sent;
        self.history.extend(history);
        self
    }

    /// Asserts the names of the commands the last input sent, in order.
    ///
    /// # Panics
    ///
    /// When it sent others (this is an assertion).
    #[track_caller]
    pub fn then_sends<const N: usize>(&mut self, names: [&str; N]) -> &mut Self {
        assert_eq!(
            self.sent, names,
            "the saga sent other commands; history: {:?}",
            self.history
        );
        self
    }

    /// Asserts the saga's status.
    ///
    /// # Panics
    ///
    /// When it is another (this is an assertion).
    #[track_caller]
    pub fn then_status(&mut self, status: SagaStatus) -> &mut Self {
        assert_eq!(self.progress.status, status, "history: {:?}", self.history);
        self
    }

    /// The saga's data now.
    pub fn data(&self) -> &S {
        &self.data
    }

    /// Its status now.
    pub fn status(&self) -> SagaStatus {
        self.progress.status
    }

    /// What happened so far, oldest first.
    pub fn history(&self) -> &[String] {
        &self.history
    }
}
