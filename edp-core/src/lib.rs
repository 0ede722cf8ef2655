//! Event-driven services in Rust: derive [`Event`] on your domain types, write handlers
//! as plain async functions, and get publishing, consuming, retries, dead letters and
//! circuit breakers over an in-memory or Kafka transport.
//!
//! ```
//! use edp_core::{Context, Event, Service, error::BoxError, transport::memory::MemoryTransport};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Serialize, Deserialize, Event)]
//! #[event(name = "order.placed", version = 1, topic = "orders", key = order_id)]
//! struct OrderPlaced { order_id: String, total_cents: u64 }
//!
//! async fn on_order_placed(ctx: Context, order: OrderPlaced) -> Result<(), BoxError> {
//!     tracing::info!(order = %order.order_id, correlation = %ctx.correlation_id(), "charging");
//!     Ok(())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), BoxError> {
//! let transport = MemoryTransport::new();
//! let mut payment = Service::builder("payment", transport.clone())
//!     .handler(on_order_placed)
//!     .build();
//! let mut outcomes = payment.observe(); // what happened to each delivery
//! let running = payment.start().await?; // subscribed when this returns
//!
//! let id = edp_core::Publisher::new("order", transport)
//!     .publish(&OrderPlaced { order_id: "o-1".into(), total_cents: 1200 })
//!     .await?;
//! let outcome = outcomes.recv().await?;
//! assert_eq!((outcome.id, outcome.status), (id, edp_core::handler::Status::Handled));
//! running.shutdown().await?; // stops intake, finishes in-flight handlers, acks
//! # Ok(()) }
//! ```
//!
//! # Concepts
//!
//! - [`event`]: the [`Event`] trait, the [`Envelope`] that travels (CloudEvents
//!   attributes, trace and correlation headers) and the [`Encoder`] that makes every
//!   envelope.
//! - [`codec`]: bytes to events and back; [`JsonCodec`] always; Avro schemas derived
//!   from Rust types in [`codec::avro`] (the Avro codec is the `edp-avro` crate).
//! - [`transport`]: publish, subscribe by consumer group, ack and nack;
//!   [`MemoryTransport`](transport::memory::MemoryTransport) in-process.
//! - [`handler`]: handlers, their [`Context`], the [`Service`] that routes events to them.
//! - [`middleware`]: retry, timeout, circuit breaker, concurrency limit, dead letters,
//!   as tower layers.
//! - [`event_sourcing`]: aggregates, the event store, snapshots, upcasters and
//!   checkpointed projections.
//! - [`saga`]: orchestrated sagas with mandatory deadlines and compensations.
//! - [`shutdown`]: graceful shutdown on ctrl-c and SIGTERM.
//! - [`health`]: liveness and readiness checks, reported as one JSON-ready value.
//! - `testkit` (feature): run services in tests and await their events.
//!
//! # Features
//!
//! | feature | adds | default |
//! |---|---|---|
//! | `derive` | `#[derive(Event)]` and `#[derive(AvroSchema)]` | yes |
//! | `testkit` | `testkit` (run services in tests, inject faults) and the transport `conformance` suite | no |
//! | `bench-mimalloc` | runs the benchmarks on mimalloc (benchmarks only) | no |

pub mod app;
pub mod backoff;
pub mod codec;
#[cfg(feature = "config")]
pub mod config;
pub mod error;
pub mod event;
pub mod event_sourcing;
pub mod handler;
pub mod health;
pub mod intern;
pub mod middleware;
#[cfg(feature = "app")]
pub mod problem;
mod publisher;
pub mod saga;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod transport;

pub use codec::avro::AvroSchema;
pub use codec::{Codec, JsonCodec};
#[cfg(feature = "derive")]
pub use edp_macros::{AvroSchema, Event};
pub use event::{Encoder, Envelope, Event, SharedEnvelope};
pub use handler::{Context, Handler, Message, Service, ServiceBuilder, ServiceError};
pub use publisher::Publisher;

#[doc(hidden)]
pub mod __private {
    pub use serde::{Serialize, de::DeserializeOwned};
    pub use serde_json::Value;
    pub use std::string::{String, ToString};
}
