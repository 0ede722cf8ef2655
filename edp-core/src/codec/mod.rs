//! Codecs turn events into payload bytes and back.
//!
//! [`JsonCodec`] is always available. A codec sets the envelope's `datacontenttype`,
//! and decoding checks that the envelope carries the type and content type asked for,
//! so a wrong or malformed payload is a [`DecodeError`] that names the event type and
//! the reason, never a panic.
//!
//! ```
//! use edp_core::{Codec, Event, JsonCodec, Envelope};
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Debug, PartialEq, Serialize, Deserialize, Event)]
//! # #[event(name = "order.placed", topic = "orders")]
//! # struct OrderPlaced { order_id: String }
//!
//! let codec = JsonCodec;
//! let data = codec.encode(&OrderPlaced { order_id: "o-1".into() })?;
//! let env = Envelope::builder(OrderPlaced::NAME, data).build();
//! let back: OrderPlaced = codec.decode(&env)?;
//! assert_eq!(back.order_id, "o-1");
//!
//! let broken = Envelope::builder(OrderPlaced::NAME, &b"{not json"[..]).build();
//! let err = codec.decode::<OrderPlaced>(&broken).unwrap_err();
//! assert!(err.to_string().starts_with("cannot decode event `order.placed`"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod json;

pub use json::JsonCodec;

use bytes::Bytes;

use crate::{Envelope, Event};

/// Turns events into payload bytes and back.
///
/// Implement it for another format (Avro, Protobuf). `decode` must never panic on
/// input from outside: return a [`DecodeError`].
pub trait Codec: Clone + Send + Sync + 'static {
    /// The MIME type written to `datacontenttype`, for example `application/json`.
    fn content_type(&self) -> &'static str;

    /// Encodes `event` into payload bytes.
    fn encode<E: Event>(&self, event: &E) -> Result<Bytes, EncodeError>;

    /// Decodes the payload of `envelope` as an `E`.
    fn decode<E: Event>(&self, envelope: &Envelope) -> Result<E, DecodeError>;
}

/// An event could not be decoded.
///
/// Handling: not retryable (the bytes will not change); the consumer dead-letters the
/// event with this message in the `dlqerror` header and goes on.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode event `{event_type}` (schema version {version}): {reason}")]
pub struct DecodeError {
    /// The event type the payload was decoded as.
    pub event_type: String,
    /// The schema version found on the envelope.
    pub version: u32,
    /// What was wrong, with the position for syntax errors.
    pub reason: String,
}

/// An event could not be encoded.
///
/// Handling: a bug in the event type (for example a map with non-string keys in JSON);
/// not retryable.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode event `{event_type}`: {reason}")]
pub struct EncodeError {
    /// The event type being encoded.
    pub event_type: &'static str,
    /// What went wrong.
    pub reason: String,
}
