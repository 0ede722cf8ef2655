//! edp-core integration tests: one binary, a module per area.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod app;
mod avro_schema;
mod circuit_breaker;
mod conformance;
mod dead_letter;
mod derive;
mod encoder;
mod event_sourcing;
mod faults;
mod memory;
mod prepare;
mod retry;
mod saga;
mod service;
mod telemetry;
mod timeout;

use serde::{Deserialize, Serialize};

/// A sample event for the tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, edp_core::Event)]
#[event(name = "test.ping", version = 1, topic = "pings", key = key)]
pub struct Ping {
    /// Partition key.
    pub key: String,
    /// Sequence number.
    pub n: u32,
}
