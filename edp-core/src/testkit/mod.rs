//! Test helpers: run services on the in-memory transport inside a test, publish
//! events, and await what the services handled and published, with timeouts that run
//! on tokio's clock (use `#[tokio::test(start_paused = true)]` for retry and
//! circuit-breaker tests: backoffs then take no real time).
//!
//! - [`TestBus`], [`Recorder`], [`outcome_of`]: run services and watch them.
//! - [`Faulty`]: a transport wrapper that injects the failures at-least-once delivery
//!   allows (duplicate deliveries, lost acks, delays), from a seed, to show that
//!   handlers are idempotent.
//! - [`aggregate`]: given events / when a command / then events or an error.
//! - [`saga`]: given a saga's data / when replies arrive and time passes / then
//!   commands and a status.
//!
#![doc = include_str!("bus_example.md")]

pub mod aggregate;
mod bus;
mod faults;
pub mod promtool;
pub mod saga;

pub use bus::{Recorder, TestBus, Timeout, outcome_of};
pub use faults::{Faults, Faulty, FaultyStats, FaultySubscriber};
