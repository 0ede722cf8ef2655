//! Events and the envelope they travel in.
//!
//! An [`Event`] is a domain type with a stable name, a schema version, a default topic
//! and an optional partition key. Derive it:
//!
//! ```
//! use edp_core::Event;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Serialize, Deserialize, Event)]
//! #[event(name = "order.placed", version = 1, topic = "orders", key = order_id)]
//! struct OrderPlaced {
//!     order_id: String,
//!     total_cents: u64,
//! }
//!
//! let event = OrderPlaced { order_id: "o-1".into(), total_cents: 1200 };
//! assert_eq!(OrderPlaced::NAME, "order.placed");
//! assert_eq!(OrderPlaced::TOPIC, "orders");
//! assert_eq!(event.key().as_deref(), Some("o-1"));
//! ```
//!
//! What travels on a transport is an [`Envelope`]: CloudEvents attributes, extension
//! [`Headers`] and the encoded payload. An [`Encoder`] makes every envelope edp sends:
//! it encodes the event with the service's codec and stamps source, correlation,
//! causation and trace context from a [`Cause`].

mod dyn_event;
mod encoder;
pub(crate) mod envelope;
pub mod headers;
mod shared;

pub use dyn_event::DynEvent;
pub use encoder::{Cause, Encoder};
pub(crate) use encoder::{DynEncoder, SharedEncoder};
pub(crate) use envelope::new_event_id;
pub use envelope::{Envelope, EnvelopeBuilder};
pub use headers::Headers;
pub use shared::SharedEnvelope;

/// A new UUIDv7, as event ids are made: from the clock and a per-thread generator,
/// without asking the operating system for randomness each time (which costs more
/// than a whole in-memory event). Unique, time-ordered, not secret.
///
/// ```
/// let a = edp_core::event::new_id();
/// let b = edp_core::event::new_id();
/// assert!(a != b && a.get_version_num() == 7);
/// ```
pub fn new_id() -> uuid::Uuid {
    envelope::new_event_id()
}

use serde::{Serialize, de::DeserializeOwned};

/// A domain event: a type with a stable name, a schema version, a default topic and an
/// optional partition key.
///
/// Implement it with `#[derive(Event)]` (feature `derive`, on by default). By hand:
///
/// ```
/// use edp_core::Event;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct PaymentFailed { order_id: String, reason: String }
///
/// impl Event for PaymentFailed {
///     const NAME: &'static str = "payment.failed";
///     const VERSION: u32 = 1;
///     const TOPIC: &'static str = "payments";
///     fn key(&self) -> Option<String> { Some(self.order_id.clone()) }
/// }
/// ```
pub trait Event: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The stable event type name, the CloudEvents `type`, for example `order.placed`.
    /// Routing uses it, so never change it once published.
    const NAME: &'static str;
    /// The schema version of the payload, at least 1.
    const VERSION: u32;
    /// The topic that [`Publisher::publish`](crate::Publisher::publish) sends it to.
    const TOPIC: &'static str;
    /// The partition key: events with the same key keep their order. `None` spreads
    /// events over partitions.
    fn key(&self) -> Option<String>;

    /// The Avro schema of the payload as JSON text, for codecs that write Avro.
    ///
    /// `None` by default. `#[derive(Event)]` with `#[event(..., avro)]` returns the
    /// schema the type's [`AvroSchema`](crate::codec::avro::AvroSchema) derives.
    fn avro_schema() -> Option<String> {
        None
    }
}
