//! The code samples of the edp book, compiled and tested.
//!
//! Each module belongs to one chapter and marks the regions the chapter shows with
//! pairs of mdBook anchor comments, which the chapter pulls in with
//! `{{#include ../listings/src/<module>.rs:<anchor>}}`. Samples that must run are the unit
//! tests of their module (`src/<module>/tests.rs`), so `cargo test -p
//! edp-book-listings` runs every sample of the book; the README's quickstart is a
//! doc-test of this crate.
//!
//! `book/check_includes.py` checks that every include of the book names a file and an
//! anchor that exist.

// A failed `unwrap` in a test is a test failure with its message: what a test wants.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod app;
pub mod event_sourcing;
pub mod events;
pub mod gateway;
pub mod handlers;
pub mod middleware;
pub mod observability;
pub mod quickstart;
pub mod testing;
pub mod transport;

/// The README's Rust code blocks, compiled (and run, unless `no_run`) as doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
