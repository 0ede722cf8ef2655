//! Publishing typed events through any transport.

use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use uuid::Uuid;

use crate::codec::{Codec, EncodeError, JsonCodec, PrepareError};
use crate::event::{Cause, Encoder};
use crate::transport::{PublishError, Transport};
use crate::{Envelope, Event};

/// Publishes typed events: its [`Encoder`] makes them envelopes in the service's codec,
/// and it hands them to the transport. Cheap to clone.
///
/// Inside a handler, publish through [`Context::publish`](crate::Context::publish)
/// instead: its events carry the correlation and causation ids forward.
///
/// ```
/// use edp_core::{Publisher, transport::memory::MemoryTransport};
/// # use edp_core::Event;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Event)]
/// # #[event(name = "order.placed", topic = "orders", key = order_id)]
/// # struct OrderPlaced { order_id: String }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), edp_core::transport::PublishError> {
/// let publisher = Publisher::new("order-service", MemoryTransport::new());
/// let id = publisher.publish(&OrderPlaced { order_id: "o-1".into() }).await?;
/// assert_eq!(id.get_version_num(), 7);
/// # Ok(()) }
/// ```
pub struct Publisher<C = JsonCodec> {
    inner: Arc<Inner<C>>,
}

struct Inner<C> {
    transport: Box<dyn DynPublish>,
    encoder: Encoder<C>,
    /// `messaging.system` on publish spans.
    system: &'static str,
}

impl<C> Clone for Publisher<C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<C> fmt::Debug for Publisher<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("source", &self.inner.encoder.source())
            .finish()
    }
}

impl Publisher<JsonCodec> {
    /// A JSON publisher for the service named `source`.
    pub fn new<T: Transport>(source: impl Into<Arc<str>>, transport: T) -> Self {
        Self::with_codec(source, transport, JsonCodec)
    }
}

impl<C: Codec> Publisher<C> {
    /// A publisher with another codec.
    pub fn with_codec<T: Transport>(source: impl Into<Arc<str>>, transport: T, codec: C) -> Self {
        Self::with_encoder(transport, Encoder::new(source.into(), codec))
    }

    /// A publisher whose envelopes `encoder` makes.
    pub fn with_encoder<T: Transport>(transport: T, encoder: Encoder<C>) -> Self {
        Self {
            inner: Arc::new(Inner {
                system: transport.messaging_system(),
                transport: Box::new(transport),
                encoder,
            }),
        }
    }

    /// The service name written to each envelope's `source`.
    pub fn source(&self) -> &str {
        self.inner.encoder.source()
    }

    /// The codec.
    pub fn codec(&self) -> &C {
        self.inner.encoder.codec()
    }

    /// The encoder that makes its envelopes.
    pub fn encoder(&self) -> &Encoder<C> {
        &self.inner.encoder
    }

    /// Gets the codec ready to encode `E` (for Avro: registers or looks up the schema
    /// of `E`). Publishing does it; call it yourself before [`envelope`](Self::envelope)
    /// with a codec that needs it. Returns at once when there is nothing to do.
    ///
    /// # Errors
    ///
    /// [`PrepareError`]: permanent for an event type that cannot be encoded, transient
    /// ([`PrepareError::is_transient`]) when a service the codec needs is unavailable.
    pub async fn prepare<E: Event>(&self) -> Result<(), PrepareError> {
        self.inner.encoder.prepare::<E>().await
    }

    /// Encodes `event` into an envelope, without publishing it (the outbox stores
    /// envelopes). With a `parent`, the envelope carries its correlation forward
    /// ([`Encoder::encode`] with [`Cause::event`]).
    ///
    /// This does not [`prepare`](Self::prepare) the codec: with a codec that needs it
    /// (Avro), call `prepare::<E>()` once first.
    pub fn envelope<E: Event>(
        &self,
        event: &E,
        parent: Option<&Envelope>,
    ) -> Result<Envelope, EncodeError> {
        self.inner.encoder.encode(event, Cause::from(parent))
    }

    /// Publishes one event to [`E::TOPIC`](Event::TOPIC) and returns its id.
    pub async fn publish<E: Event>(&self, event: &E) -> Result<Uuid, PublishError> {
        self.prepare::<E>().await?;
        let env = self.envelope(event, None)?;
        let id = env.id;
        self.send(E::TOPIC, vec![env]).await?;
        Ok(id)
    }

    /// Publishes one event that starts from an outside request: it carries
    /// `correlation_id` (for example the HTTP request id) as its correlation and
    /// causation id, so every event that follows from it shares that id.
    ///
    /// ```
    /// # use edp_core::{Publisher, transport::memory::MemoryTransport, Event};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Event)]
    /// # #[event(name = "order.placed", topic = "orders")]
    /// # struct OrderPlaced { order_id: String }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), edp_core::transport::PublishError> {
    /// let publisher = Publisher::new("order", MemoryTransport::new());
    /// publisher.publish_correlated(&OrderPlaced { order_id: "o-1".into() }, "req-42").await?;
    /// # Ok(()) }
    /// ```
    pub async fn publish_correlated<E: Event>(
        &self,
        event: &E,
        correlation_id: &str,
    ) -> Result<Uuid, PublishError> {
        self.prepare::<E>().await?;
        let env = self
            .inner
            .encoder
            .encode(event, Cause::request(correlation_id))?;
        let id = env.id;
        self.send(E::TOPIC, vec![env]).await?;
        Ok(id)
    }

    /// Publishes events of one type as one batch to [`E::TOPIC`](Event::TOPIC).
    pub async fn publish_all<E: Event>(&self, events: &[E]) -> Result<(), PublishError> {
        self.prepare::<E>().await?;
        let mut batch = Vec::with_capacity(events.len());
        for e in events {
            batch.push(self.envelope(e, None)?);
        }
        self.send(E::TOPIC, batch).await
    }

    /// Publishes ready-made envelopes to `topic`.
    ///
    /// While spans are exported, each envelope of a sampled trace gets a `publish`
    /// span, and its `traceparent` names that span.
    pub async fn send(&self, topic: &str, mut batch: Vec<Envelope>) -> Result<(), PublishError> {
        // Held until the batch is sent: dropping them ends the spans.
        let _spans = crate::telemetry::publish_spans(self.inner.system, topic, &mut batch);
        self.inner.transport.publish(topic, batch).await
    }
}

/// [`Transport::publish`] behind a vtable, so that publishers need no transport type.
trait DynPublish: Send + Sync + 'static {
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        batch: Vec<Envelope>,
    ) -> BoxFuture<'a, Result<(), PublishError>>;
}

impl<T: Transport> DynPublish for T {
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        batch: Vec<Envelope>,
    ) -> BoxFuture<'a, Result<(), PublishError>> {
        Box::pin(Transport::publish(self, topic, batch))
    }
}
