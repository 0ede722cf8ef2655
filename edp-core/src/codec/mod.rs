//! Codecs turn events into payload bytes and back.
//!
//! [`JsonCodec`] is always available. [`avro`] derives Avro schemas from Rust types for
//! the Avro codec of the `edp-avro` crate. A codec sets the envelope's `datacontenttype`,
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

pub mod avro;
mod buffer;
mod json;

pub use buffer::encode_buffered;
pub use json::JsonCodec;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::error::BoxError;
use crate::event::DynEvent;
use crate::{Envelope, Event};

/// The work a codec does before it can encode or decode, such as fetching a schema
/// from a registry. See [`Codec::prepare_encode`].
pub type PrepareFuture = BoxFuture<'static, Result<(), PrepareError>>;

/// Turns events into payload bytes and back.
///
/// Implement it for another format (Avro, Protobuf). `decode` must never panic on
/// input from outside: return a [`DecodeError`].
///
/// `encode` and `decode` are synchronous: they run once per event. A codec that needs
/// I/O first (a schema registry) does it in [`prepare_encode`](Codec::prepare_encode)
/// and [`prepare_decode`](Codec::prepare_decode), which return `None` once everything
/// is cached, so the per-event path stays a synchronous call. The
/// [`Publisher`](crate::Publisher) calls `prepare_encode` before encoding and the typed
/// handler calls `prepare_decode` before decoding.
pub trait Codec: Clone + Send + Sync + 'static {
    /// The MIME type written to `datacontenttype`, for example `application/json`.
    fn content_type(&self) -> &'static str;

    /// The content type of the payloads of `E`: [`content_type`](Codec::content_type)
    /// by default. A codec that writes some events in another format (JSON on some
    /// topics, Avro on others) overrides it.
    fn content_type_for<E: Event>(&self) -> &'static str {
        self.content_type()
    }

    /// Encodes `event` into payload bytes.
    fn encode<E: Event>(&self, event: &E) -> Result<Bytes, EncodeError>;

    /// Decodes the payload of `envelope` as an `E`.
    fn decode<E: Event>(&self, envelope: &Envelope) -> Result<E, DecodeError>;

    /// What must happen before `encode::<E>` can succeed (for example, registering
    /// the schema of `E` and learning its id), or `None` when nothing is left to do.
    ///
    /// `None` by default. A codec returns `None` from the second call on, so callers
    /// may call it before every encode.
    fn prepare_encode<E: Event>(&self) -> Option<PrepareFuture> {
        None
    }

    /// What must happen before `decode` of `envelope` can succeed (for example,
    /// fetching the writer schema its payload names), or `None` when nothing is left to
    /// do.
    ///
    /// `None` by default. A payload the codec cannot make sense of here returns `None`
    /// too: `decode` reports it.
    fn prepare_decode(&self, envelope: &Envelope) -> Option<PrepareFuture> {
        let _ = envelope;
        None
    }

    /// [`content_type_for`](Codec::content_type_for) the type of `event`, an event
    /// behind `dyn`. [`content_type`](Codec::content_type) by default: a codec that
    /// overrides `content_type_for` overrides this too.
    fn content_type_for_dyn(&self, event: &dyn DynEvent) -> &'static str {
        let _ = event;
        self.content_type()
    }

    /// [`encode`](Codec::encode) for an event behind `dyn`, such as a saga's commands:
    /// serialize [`event.as_serialize()`](DynEvent::as_serialize) into the same bytes
    /// `encode` writes. (`encode` stays the fast path for typed events.)
    ///
    /// By default it refuses with an [`EncodeError`], so a codec that does not
    /// implement it cannot send saga commands.
    fn encode_dyn(&self, event: &dyn DynEvent) -> Result<Bytes, EncodeError> {
        Err(EncodeError {
            event_type: event.name(),
            reason: "this codec encodes typed events only; implement `Codec::encode_dyn` \
                     to send it as a saga command"
                .to_owned(),
        })
    }

    /// [`prepare_encode`](Codec::prepare_encode) for the type of `event`, an event
    /// behind `dyn`. `None` by default.
    fn prepare_encode_dyn(&self, event: &dyn DynEvent) -> Option<PrepareFuture> {
        let _ = event;
        None
    }
}

/// A codec could not get ready to encode or decode.
///
/// Handling depends on the variant: [`Decode`](Self::Decode) and
/// [`Encode`](Self::Encode) are permanent (the consumer dead-letters the event; a
/// publisher returns the error); [`Unavailable`](Self::Unavailable) is transient (the
/// retry middleware retries it, and the consumer nacks the event for redelivery
/// instead of dead-lettering it: the event is fine, a service the codec needs is not).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrepareError {
    /// The payload can never be decoded, for example it names a schema id the registry
    /// does not know.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The event type can never be encoded, for example it has no schema or the
    /// registry refused its schema as incompatible.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// A service the codec needs (a schema registry) failed or could not be reached.
    #[error("{what} is unavailable; the event will be tried again")]
    Unavailable {
        /// What could not be reached, for example `schema registry at http://...`.
        what: String,
        /// Why.
        #[source]
        source: BoxError,
    },
}

impl PrepareError {
    /// Whether trying again later may succeed: [`Unavailable`](Self::Unavailable).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
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

impl DecodeError {
    /// A failure to decode `envelope` as `E`, for `reason`.
    pub fn of<E: Event>(envelope: &Envelope, reason: impl Into<String>) -> Self {
        Self {
            event_type: E::NAME.to_owned(),
            version: envelope.dataversion,
            reason: reason.into(),
        }
    }

    /// Checks what every codec checks first: that `envelope` carries type `E` and a
    /// content type `accepts` takes (`what` names the format in the error).
    ///
    /// ```
    /// use edp_core::{Envelope, Event, codec::DecodeError};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Event)]
    /// # #[event(name = "order.placed", topic = "orders")]
    /// # struct OrderPlaced { order_id: String }
    /// let env = Envelope::builder("order.placed", &b"{}"[..]).datacontenttype("text/plain").build();
    /// let err = DecodeError::check::<OrderPlaced>(&env, |ct| ct.ends_with("json"), "JSON").unwrap_err();
    /// assert_eq!(err.reason, "content type `text/plain` is not JSON");
    /// ```
    pub fn check<E: Event>(
        envelope: &Envelope,
        accepts: impl FnOnce(&str) -> bool,
        what: &str,
    ) -> Result<(), Self> {
        if envelope.event_type != E::NAME {
            return Err(Self::of::<E>(
                envelope,
                format!("the envelope carries type `{}`", envelope.event_type),
            ));
        }
        if !accepts(&envelope.datacontenttype) {
            return Err(Self::of::<E>(
                envelope,
                format!("content type `{}` is not {what}", envelope.datacontenttype),
            ));
        }
        Ok(())
    }
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
