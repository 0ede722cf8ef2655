//! Kafka for edp: the same services, on Apache Kafka or any Kafka-compatible broker,
//! by configuration alone.
//!
//! [`KafkaTransport`] implements edp-core's
//! [`Transport`](edp_core::transport::Transport) with librdkafka:
//!
//! - **Producer**: idempotent, `acks=all`, batched by `linger.ms`; a published batch
//!   completes when the brokers acknowledged every record of it, with the first
//!   error if one failed.
//! - **Consumer**: offsets stored only after the handler acked
//!   (`enable.auto.offset.store=false`), never past the lowest record still in
//!   flight; records of one key in order and different keys in parallel (or the whole
//!   partition in order, [`Sequencing::PerPartition`]); rebalance-safe (on revoke,
//!   leasing stops, in-flight handlers finish, the safe offset is committed);
//!   `read_committed`; bounded fetch-ahead per partition.
//! - **Topics** created when missing, with the configured partitions and replication;
//!   a [health check](KafkaTransport::health).
//! - **Records** in the CloudEvents Kafka binding, binary mode: any CloudEvents tool
//!   reads them; a record edp cannot read is dead-lettered with the reason.
//!
//! ```no_run
//! use edp_core::{Context, Service, error::BoxError};
//! use edp_kafka::{KafkaConfig, KafkaTransport};
//! # use edp_core::Event;
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize, Event)]
//! # #[event(name = "order.placed", topic = "orders", key = order_id)]
//! # struct OrderPlaced { order_id: String }
//!
//! async fn on_order_placed(_ctx: Context, event: OrderPlaced) -> Result<(), BoxError> {
//!     tracing::info!(order_id = %event.order_id, "charging");
//!     Ok(())
//! }
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let transport = KafkaTransport::connect(KafkaConfig::new("localhost:9092"))?;
//! Service::builder("payment", transport)
//!     .handler(on_order_placed)
//!     .build()
//!     .run()
//!     .await?;
//! # Ok(()) }
//! ```

mod admin;
mod config;
mod consumer;
mod error;
mod log;
mod producer;
mod record;
#[cfg(feature = "testkit")]
pub mod testkit;
mod transport;

pub use config::KafkaConfig;
pub use consumer::{KafkaSubscriber, Sequencing};
pub use error::KafkaTransportError;
pub use transport::KafkaTransport;
