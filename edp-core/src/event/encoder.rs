//! [`Encoder`]: the one place where events become envelopes.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use super::headers::{CAUSATION_ID, CORRELATION_ID};
use super::{DynEvent, Envelope, Event};
use crate::codec::{Codec, EncodeError, JsonCodec, PrepareError, PrepareFuture};

/// Turns events into envelopes in a service's codec: id, type, version, source (the
/// service), time, key, content type, payload, and the correlation, causation and
/// trace context its [`Cause`] gives. Transport-free and cheap to clone.
///
/// Every envelope edp makes comes from one: the [`Publisher`](crate::Publisher)'s,
/// the transactional outbox's, the saga engine's commands, and dead letters
/// ([`forward`](Self::forward)). So an event carries the same fields whichever way
/// it leaves.
///
/// ```
/// use edp_core::event::{Cause, Encoder};
/// use edp_core::JsonCodec;
/// # use edp_core::Event;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Event)]
/// # #[event(name = "order.placed", topic = "orders", key = order_id)]
/// # struct OrderPlaced { order_id: String }
///
/// let encoder = Encoder::new("order", JsonCodec);
/// let placed = encoder.encode(&OrderPlaced { order_id: "o-1".into() }, Cause::request("req-42"))?;
/// assert_eq!((&*placed.source, placed.key()), ("order", Some("o-1")));
/// assert_eq!(placed.correlation_id(), "req-42");
///
/// // What follows from it shares its correlation id and names it as the cause.
/// let next = encoder.encode(&OrderPlaced { order_id: "o-2".into() }, Cause::event(&placed))?;
/// assert_eq!(next.correlation_id(), "req-42");
/// assert_eq!(next.causation_id(), Some(placed.id.to_string().as_str()));
/// # Ok::<(), edp_core::codec::EncodeError>(())
/// ```
#[derive(Clone)]
pub struct Encoder<C = JsonCodec> {
    codec: C,
    source: &'static str,
}

impl<C> fmt::Debug for Encoder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encoder")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// What a new envelope follows from: its correlation id, causation id and trace.
///
/// - [`Cause::none()`] (the default): the event starts a correlation of its own (its
///   own id) and has no causation id.
/// - [`Cause::event`]: an event being handled; the new one shares its correlation id,
///   and its causation id is that event's id.
/// - [`Cause::request`]: an outside request; its id is the correlation and causation
///   id.
///
/// [`correlation`](Self::correlation) and [`causation`](Self::causation) set either
/// id outright (a saga's commands carry the saga's id as correlation id).
///
/// The trace: inside a traced span (a handler's `process` span, an HTTP request's
/// span) the envelope continues that span's trace; otherwise it carries the cause
/// event's `traceparent` and `tracestate` unchanged
/// ([`telemetry::stamp`](crate::telemetry::stamp)).
#[derive(Debug, Clone, Copy, Default)]
pub struct Cause<'a> {
    parent: Option<&'a Envelope>,
    correlation: Option<&'a str>,
    causation: Option<&'a str>,
}

impl<'a> Cause<'a> {
    /// No cause: a new correlation.
    pub fn none() -> Self {
        Self::default()
    }

    /// The event being handled, `parent`.
    pub fn event(parent: &'a Envelope) -> Self {
        Self {
            parent: Some(parent),
            ..Self::default()
        }
    }

    /// An outside request with id `id` (an HTTP request id, for example).
    pub fn request(id: &'a str) -> Self {
        Self {
            parent: None,
            correlation: Some(id),
            causation: Some(id),
        }
    }

    /// Sets the correlation id.
    pub fn correlation(mut self, id: &'a str) -> Self {
        self.correlation = Some(id);
        self
    }

    /// Sets the causation id.
    pub fn causation(mut self, id: &'a str) -> Self {
        self.causation = Some(id);
        self
    }

    /// The event it follows from, if any.
    pub fn parent(&self) -> Option<&'a Envelope> {
        self.parent
    }

    /// Writes the correlation, causation and trace headers onto `env`.
    fn stamp(&self, env: &mut Envelope) {
        match (self.correlation, self.parent) {
            (Some(id), _) => env.headers.insert(CORRELATION_ID, id),
            (None, Some(parent)) => env
                .headers
                .insert(CORRELATION_ID, parent.correlation_id().into_owned()),
            (None, None) => {}
        }
        match (self.causation, self.parent) {
            (Some(id), _) => env.headers.insert(CAUSATION_ID, id),
            (None, Some(parent)) => env.headers.insert(CAUSATION_ID, parent.id.to_string()),
            (None, None) => {}
        }
        crate::telemetry::stamp(env, self.parent);
    }
}

impl<'a> From<Option<&'a Envelope>> for Cause<'a> {
    /// [`Cause::event`] or [`Cause::none`].
    fn from(parent: Option<&'a Envelope>) -> Self {
        Self {
            parent,
            ..Self::default()
        }
    }
}

impl<C> Encoder<C> {
    /// The service name written to each envelope's `source`.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// The codec.
    pub fn codec(&self) -> &C {
        &self.codec
    }
}

impl<C: Codec> Encoder<C> {
    /// The encoder of the service named `source` (each envelope's `source`),
    /// writing payloads with `codec`.
    pub fn new(source: impl AsRef<str>, codec: C) -> Self {
        Self {
            codec,
            source: crate::intern::intern(source.as_ref()),
        }
    }

    /// Gets the codec ready to encode `E` (for Avro: registers or looks up the schema
    /// of `E`). Returns at once when there is nothing to do; [`encode`](Self::encode)
    /// of an `E` the codec is not ready for fails.
    ///
    /// # Errors
    ///
    /// [`PrepareError`]: permanent for an event type that cannot be encoded, transient
    /// ([`PrepareError::is_transient`]) when a service the codec needs is unavailable.
    pub async fn prepare<E: Event>(&self) -> Result<(), PrepareError> {
        match self.codec.prepare_encode::<E>() {
            Some(work) => work.await,
            None => Ok(()),
        }
    }

    /// Encodes `event` into a new envelope following from `cause`.
    ///
    /// # Errors
    ///
    /// [`EncodeError`] when the codec cannot encode it (or is not
    /// [prepared](Self::prepare) for its type).
    #[inline]
    pub fn encode<E: Event>(&self, event: &E, cause: Cause<'_>) -> Result<Envelope, EncodeError> {
        let data = self.codec.encode(event)?;
        let content_type = self.codec.content_type_for::<E>();
        Ok(self.envelope(E::NAME, E::VERSION, event.key(), content_type, data, cause))
    }

    /// What must happen before [`encode_dyn`](Self::encode_dyn) of `event` can
    /// succeed, or `None` when nothing is left to do; see [`Codec::prepare_encode_dyn`].
    pub fn prepare_dyn(&self, event: &dyn DynEvent) -> Option<PrepareFuture> {
        self.codec.prepare_encode_dyn(event)
    }

    /// [`encode`](Self::encode) for an event behind `dyn`, through
    /// [`Codec::encode_dyn`]: the envelope is the same.
    ///
    /// # Errors
    ///
    /// [`EncodeError`] when the codec cannot encode it, is not prepared for its type,
    /// or encodes typed events only.
    pub fn encode_dyn(
        &self,
        event: &dyn DynEvent,
        cause: Cause<'_>,
    ) -> Result<Envelope, EncodeError> {
        let data = self.codec.encode_dyn(event)?;
        let content_type = self.codec.content_type_for_dyn(event);
        Ok(self.envelope(
            event.name(),
            event.version(),
            event.key(),
            content_type,
            data,
            cause,
        ))
    }

    /// `envelope` sent on again from this service, unchanged (id, source, type,
    /// content type, payload, correlation and causation are the original's, so it can
    /// be replayed as it was), except for the trace: inside a traced span it continues
    /// that span's trace. Dead letters are made this way.
    pub fn forward(&self, envelope: &Envelope) -> Envelope {
        let mut env = envelope.clone();
        crate::telemetry::stamp(&mut env, Some(envelope));
        env
    }

    #[inline]
    fn envelope(
        &self,
        event_type: &'static str,
        version: u32,
        key: Option<String>,
        content_type: &'static str,
        data: Bytes,
        cause: Cause<'_>,
    ) -> Envelope {
        let mut env = Envelope::new_now(event_type, data);
        env.source = Cow::Borrowed(self.source);
        env.subject = key;
        env.datacontenttype = Cow::Borrowed(content_type);
        env.dataversion = version;
        cause.stamp(&mut env);
        env
    }
}

/// [`Encoder::prepare_dyn`] and [`Encoder::encode_dyn`] behind a vtable, so that the
/// saga engine holds an encoder of any codec.
pub(crate) trait DynEncoder: Send + Sync + 'static {
    fn source(&self) -> &'static str;
    fn prepare_dyn(&self, event: &dyn DynEvent) -> Option<PrepareFuture>;
    fn encode_dyn(&self, event: &dyn DynEvent, cause: Cause<'_>) -> Result<Envelope, EncodeError>;
}

impl<C: Codec> DynEncoder for Encoder<C> {
    fn source(&self) -> &'static str {
        self.source
    }
    fn prepare_dyn(&self, event: &dyn DynEvent) -> Option<PrepareFuture> {
        Encoder::prepare_dyn(self, event)
    }
    fn encode_dyn(&self, event: &dyn DynEvent, cause: Cause<'_>) -> Result<Envelope, EncodeError> {
        Encoder::encode_dyn(self, event, cause)
    }
}

/// An encoder of any codec, shared.
pub(crate) type SharedEncoder = Arc<dyn DynEncoder>;
