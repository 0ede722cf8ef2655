//! Integration tests of edp-schema-registry.

// Helpers outside #[test] functions panic on failure too: a test failure, with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod book;
mod cli;
mod compat;
mod confluent;
mod evolution;
mod http;
mod server;
