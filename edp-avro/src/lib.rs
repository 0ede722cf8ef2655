//! Avro for edp: a [`Codec`](edp_core::Codec) that writes Avro binary in the Confluent
//! wire format, with schemas derived from Rust types and kept in a schema registry.
//!
//! ```
//! use edp_avro::{AvroCodec, SchemaRegistryClient};
//! use edp_core::{AvroSchema, Event, Publisher, Service, Context, error::BoxError};
//! use edp_core::transport::memory::MemoryTransport;
//! use edp_schema_registry::EmbeddedRegistry;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Serialize, Deserialize, Event, AvroSchema)]
//! #[event(name = "order.placed", version = 1, topic = "orders", key = order_id, avro)]
//! #[avro(namespace = "ecommerce.order")]
//! struct OrderPlaced { order_id: String, total_cents: u64 }
//!
//! async fn charge(_ctx: Context<AvroCodec>, order: OrderPlaced) -> Result<(), BoxError> {
//!     tracing::info!(order = %order.order_id, "charging");
//!     Ok(())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), BoxError> {
//! let registry = EmbeddedRegistry::start("127.0.0.1:0").await?; // or Confluent's
//! let codec = AvroCodec::new(SchemaRegistryClient::new(&registry.url())?);
//!
//! let transport = MemoryTransport::new();
//! let mut payment = Service::builder("payment", transport.clone())
//!     .codec(codec.clone())
//!     .handler(charge)
//!     .build();
//! let mut outcomes = payment.observe();
//! let running = payment.start().await?;
//!
//! let publisher = Publisher::with_codec("order", transport, codec.clone());
//! publisher.publish(&OrderPlaced { order_id: "o-1".into(), total_cents: 1200 }).await?;
//! assert_eq!(outcomes.recv().await?.status, edp_core::handler::Status::Handled);
//!
//! // Registered under the TopicRecordName subject.
//! let subjects = registry.registry().subjects();
//! assert_eq!(subjects, ["orders-ecommerce.order.OrderPlaced"]);
//! running.shutdown().await?;
//! registry.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! # Concepts
//!
//! - Schemas come from the Rust types: `#[derive(AvroSchema)]` and `#[event(avro)]`
//!   (see [`edp_core::codec::avro`]); schema evolution is checked at build time
//!   against the committed `.avsc` files (`edp_schema_registry::evolution`).
//! - [`AvroCodec`]: the codec; schema ids and schemas are fetched once and cached, so
//!   encoding and decoding stay synchronous after the first event.
//! - [`wire`]: the Confluent wire format, magic byte `0`, a 4-byte big-endian schema
//!   id, the Avro datum.
//! - [`SchemaRegistryClient`]: the registry's REST API with caches;
//!   [`SubjectNameStrategy`]: `TopicName`, `RecordName`, `TopicRecordName`.
//! - [`PerTopic`]: JSON on some topics, Avro on the others.
//!
//! # Failures
//!
//! A payload that is not in the wire format (wrong magic byte, too short), names a
//! schema id the registry does not know, or holds truncated or invalid Avro is a
//! permanent [`DecodeError`](edp_core::codec::DecodeError): the consumer dead-letters
//! it with the reason and goes on. A registry that cannot be reached is transient
//! ([`PrepareError::Unavailable`](edp_core::codec::PrepareError::Unavailable)): the
//! retry middleware retries it and the consumer redelivers the event rather than
//! dead-letter it.
//!
//! # Why this crate
//!
//! The codec works on every transport, so it is not in `edp-kafka`, which would force
//! librdkafka on users of the in-memory transport. The per-event path uses
//! `serde_avro_fast`: 1.2x serde_json on the reference event where apache-avro's
//! value path is 0.12x, and apache-avro would add second copies of `rand`,
//! `getrandom` and `syn`. The registry client is a few requests on hyper, already in
//! the tree, rather than `schema_registry_converter` (a second HTTP stack, a second
//! `hashbrown`, apache-avro for its Avro support, and Rust 1.88).

mod codec;
mod per_topic;
mod registry;
mod subject;
pub mod wire;

pub use codec::{AvroCodec, CONTENT_TYPE};
pub use per_topic::PerTopic;
pub use registry::{RegistryClientError, SchemaRegistryClient};
pub use subject::SubjectNameStrategy;

/// The error type of sources.
type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
