//! Transports move envelopes between services: publish by topic, subscribe by topic
//! and consumer group, ack or nack each delivery, close.
//!
//! The trait is small on purpose, so that a new transport (NATS JetStream, a
//! PostgreSQL queue) is a weekend's work, and every transport runs the same
//! `conformance` suite (feature `testkit`) with one test function.
//!
//! - [`MemoryTransport`](memory::MemoryTransport): in-process, the embedded default and the
//!   test transport.
//! - `edp-kafka`: Apache Kafka and compatible brokers.
//!
//! The contract every transport keeps:
//!
//! - **At least once**: a delivery that is not acked is delivered again (to this or
//!   another member of the group).
//! - **Consumer groups**: every group gets every event; the members of one group share
//!   the topic's partitions.
//! - **Order per key**, where [`Capabilities::ordered_per_key`] says so: events with the
//!   same key are delivered in publish order, and the next one is not delivered until
//!   the previous one is acked.
//!
//! ```
//! use edp_core::transport::{memory::MemoryTransport, SubscribeOptions, Subscriber, Transport};
//! use edp_core::Envelope;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), edp_core::error::BoxError> {
//! let transport = MemoryTransport::new();
//! let sub = transport.subscribe(SubscribeOptions::new("billing", ["orders"])).await?;
//! transport.publish("orders", vec![Envelope::builder("order.placed", &b"{}"[..]).build()]).await?;
//!
//! let delivery = sub.recv().await.expect("subscribed")?;
//! assert_eq!(delivery.envelope.event_type, "order.placed");
//! sub.ack(&delivery).await?;
//! # Ok(()) }
//! ```

mod delivery;
mod error;
pub mod memory;

#[cfg(feature = "testkit")]
pub mod conformance;

pub use delivery::{AckToken, Delivery};
pub use error::{AckError, CloseError, PublishError, ReceiveError, SubscribeError};

use std::future::Future;

use crate::Envelope;

/// Publish and subscribe by topic and consumer group.
///
/// A `Transport` value is a client connection: clones share it, and
/// [`close`](Transport::close) ends it (stops intake, drains in-flight work) without
/// affecting other clients of the same broker.
pub trait Transport: Clone + Send + Sync + 'static {
    /// The subscription handle this transport returns.
    type Subscriber: Subscriber;

    /// Publishes a batch to `topic`. Returns when the transport has accepted every
    /// envelope (durably, for transports that persist). Waits, rather than buffering
    /// without bound, when consumers are slow.
    fn publish(
        &self,
        topic: &str,
        batch: Vec<Envelope>,
    ) -> impl Future<Output = Result<(), PublishError>> + Send;

    /// Joins a consumer group on some topics.
    fn subscribe(
        &self,
        options: SubscribeOptions,
    ) -> impl Future<Output = Result<Self::Subscriber, SubscribeError>> + Send;

    /// Stops this client: publishing fails from now on, subscribers stop receiving new
    /// deliveries, and the call returns once in-flight deliveries are acked or nacked.
    fn close(&self) -> impl Future<Output = Result<(), CloseError>> + Send;

    /// What this transport guarantees beyond the base contract.
    fn capabilities(&self) -> Capabilities;

    /// The `messaging.system` name on this transport's spans (OpenTelemetry
    /// messaging conventions), for example `kafka`. The default is `edp`.
    fn messaging_system(&self) -> &'static str {
        "edp"
    }

    /// Whether the transport can reach what it needs (for Kafka, a metadata fetch from
    /// the brokers), for readiness checks. The default, for in-process transports, is
    /// always `Ok`.
    fn health(&self) -> impl Future<Output = Result<(), crate::error::BoxError>> + Send {
        async { Ok(()) }
    }
}

/// A membership in a consumer group. Shared by reference: several workers may call
/// [`recv`](Subscriber::recv) at once.
pub trait Subscriber: Send + Sync + 'static {
    /// The next delivery; `None` once the subscriber is closed and has nothing left.
    ///
    /// Cancel-safe: dropping the future loses nothing.
    fn recv(&self) -> impl Future<Output = Option<Result<Delivery, ReceiveError>>> + Send;

    /// Up to `max` deliveries of one partition, in order; `None` once closed.
    ///
    /// Settle them in order: acking or nacking a delivery also acks the earlier
    /// deliveries of its batch, so one ack of the last delivery settles a whole batch.
    /// Where order is guaranteed, the partition delivers nothing more until the whole
    /// batch is settled; a nack releases the rest of the batch, which is delivered again
    /// from the nacked one. The default takes one delivery.
    fn recv_batch(
        &self,
        max: usize,
    ) -> impl Future<Output = Option<Result<Vec<Delivery>, ReceiveError>>> + Send {
        let _ = max;
        async move { self.recv().await.map(|r| r.map(|d| vec![d])) }
    }

    /// Acknowledges a delivery: it is done and will not be delivered to this group again.
    fn ack(&self, delivery: &Delivery) -> impl Future<Output = Result<(), AckError>> + Send;

    /// Rejects a delivery: it will be delivered again.
    fn nack(&self, delivery: &Delivery) -> impl Future<Output = Result<(), AckError>> + Send;

    /// Leaves the group: no new deliveries; in-flight ones may still be acked.
    fn close(&self) -> impl Future<Output = Result<(), CloseError>> + Send;

    /// Whether the member has joined its group and holds its share of the
    /// partitions: `false` while it joins or while a rebalance is in flight.
    /// Readiness checks use it. The default, for in-process transports, is `true`.
    fn assigned(&self) -> bool {
        true
    }
}

/// Guarantees beyond the base contract, which the `conformance` suite checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Events with the same key are delivered in order, one at a time per group.
    pub ordered_per_key: bool,
    /// A group that subscribes after events were published still receives them
    /// (as Kafka's `auto.offset.reset=earliest`).
    pub replays_to_new_groups: bool,
    /// The broker may take seconds to assign partitions after a subscribe (Kafka's
    /// group join); the suite then waits longer.
    pub slow_group_join: bool,
}

impl Capabilities {
    /// All guarantees, as the in-memory transport gives them.
    pub const fn all() -> Self {
        Self {
            ordered_per_key: true,
            replays_to_new_groups: true,
            slow_group_join: false,
        }
    }
}

/// What to subscribe to: a consumer group and its topics.
///
/// ```
/// use edp_core::transport::SubscribeOptions;
/// let opts = SubscribeOptions::new("payment", ["orders", "refunds"]);
/// assert_eq!(opts.topics.len(), 2);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SubscribeOptions {
    /// The consumer group. Members of one group share partitions; each group gets
    /// every event.
    pub group: String,
    /// The topics to consume.
    pub topics: Vec<String>,
}

impl SubscribeOptions {
    /// Subscribe `group` to `topics`.
    pub fn new<T: Into<String>>(
        group: impl Into<String>,
        topics: impl IntoIterator<Item = T>,
    ) -> Self {
        Self {
            group: group.into(),
            topics: topics.into_iter().map(Into::into).collect(),
        }
    }
}
