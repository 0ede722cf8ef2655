//! Middleware as tower [`Layer`](tower_layer::Layer)s.
//!
//! Each wraps a `Service<Message>` (a handler's stack) and most wrap any tower service,
//! so the same [`retry`], [`timeout`] and [`circuit_breaker`] layers serve event
//! handlers and HTTP clients.
//!
//! | layer | what it does |
//! |---|---|
//! | [`RetryLayer`](retry::RetryLayer) | exponential backoff with full jitter, bounded by attempts and elapsed time; permanent errors are not retried |
//! | [`TimeoutLayer`](timeout::TimeoutLayer) | fails a call that takes too long, dropping its future |
//! | [`CircuitBreakerLayer`](circuit_breaker::CircuitBreakerLayer) | closed / open / half-open, on consecutive failures or failure rate |
//! | [`ConcurrencyLimitLayer`](concurrency::ConcurrencyLimitLayer) | at most N calls at once |
//! | [`DeadLetterLayer`](dead_letter::DeadLetterLayer) | after the last attempt, publishes the event to a dead-letter topic with the reason |
//!
//! Layers added first are outermost:
//!
//! ```
//! use std::time::Duration;
//! use edp_core::middleware::{circuit_breaker::CircuitBreakerLayer, retry::{RetryLayer, RetryPolicy}, timeout::TimeoutLayer};
//! use edp_core::{Service, transport::memory::MemoryTransport};
//!
//! let service = Service::builder("payment", MemoryTransport::new())
//!     .layer(RetryLayer::new(RetryPolicy::default().max_attempts(5)))
//!     .layer(CircuitBreakerLayer::default())
//!     .layer(TimeoutLayer::new(Duration::from_secs(2)));
//!     // .handler(...) — layers wrap the handlers registered after them
//! ```

pub mod circuit_breaker;
pub mod classify;
pub mod concurrency;
pub mod dead_letter;
pub mod retry;
pub mod timeout;
