use std::borrow::Cow;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Message;
use crate::codec::{Codec, JsonCodec};
use crate::transport::PublishError;
use crate::{Envelope, Event, Publisher};

/// What a handler gets besides its event: the envelope's metadata, a cancellation
/// token, and a publisher whose events carry the correlation forward.
///
/// ```
/// use edp_core::{Context, error::BoxError};
/// # use edp_core::Event;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Event)]
/// # #[event(name = "order.placed", topic = "orders", key = order_id)]
/// # struct OrderPlaced { order_id: String }
/// # #[derive(Serialize, Deserialize, Event)]
/// # #[event(name = "payment.succeeded", topic = "payments", key = order_id)]
/// # struct PaymentSucceeded { order_id: String }
///
/// async fn charge(ctx: Context, event: OrderPlaced) -> Result<(), BoxError> {
///     tracing::info!(correlation = %ctx.correlation_id(), "charging");
///     // Carries correlationid = the order request's, causationid = this event's id.
///     ctx.publish(&PaymentSucceeded { order_id: event.order_id }).await?;
///     Ok(())
/// }
/// ```
pub struct Context<C = JsonCodec> {
    message: Message,
    shared: Arc<Shared<C>>,
}

/// What every context of one handler shares, in one allocation: building a context
/// costs one reference count.
pub(crate) struct Shared<C> {
    pub(crate) publisher: Publisher<C>,
    /// In an `Arc`: cloning a token itself takes a lock shared by all its clones.
    pub(crate) cancel: Arc<CancellationToken>,
    pub(crate) handler: Arc<str>,
}

impl<C> Clone for Shared<C> {
    fn clone(&self) -> Self {
        Self {
            publisher: self.publisher.clone(),
            cancel: self.cancel.clone(),
            handler: self.handler.clone(),
        }
    }
}

impl<C> Clone for Context<C> {
    fn clone(&self) -> Self {
        Self {
            message: self.message.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<C> std::fmt::Debug for Context<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("id", &self.message.envelope.id)
            .field("type", &self.message.envelope.event_type)
            .field("topic", &self.message.topic)
            .finish()
    }
}

impl<C: Codec> Context<C> {
    /// A context for `message`; the runtime builds these, tests may too.
    pub fn new(message: Message, publisher: Publisher<C>, cancel: CancellationToken) -> Self {
        Self {
            message,
            shared: Arc::new(Shared {
                publisher,
                cancel: Arc::new(cancel),
                handler: Arc::from(""),
            }),
        }
    }

    pub(crate) fn from_shared(message: Message, shared: Arc<Shared<C>>) -> Self {
        Self { message, shared }
    }

    /// The envelope of the event being handled.
    pub fn envelope(&self) -> &Envelope {
        &self.message.envelope
    }

    /// The message: envelope, topic, group, partition, offset.
    pub fn message(&self) -> &Message {
        &self.message
    }

    /// The event's id.
    pub fn id(&self) -> Uuid {
        self.message.envelope.id
    }

    /// The correlation id (the header, or the event's own id at the root).
    pub fn correlation_id(&self) -> Cow<'_, str> {
        self.message.envelope.correlation_id()
    }

    /// How many times this event was delivered before (0 the first time).
    pub fn redeliveries(&self) -> u32 {
        self.message.redeliveries
    }

    /// Fires when the service shuts down and the grace period for in-flight handlers
    /// has run out: stop long work and return.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.shared.cancel
    }

    /// Publishes `event` to its topic. It carries this event's correlation id, and its
    /// causation id is this event's id.
    pub async fn publish<E: Event>(&self, event: &E) -> Result<Uuid, PublishError> {
        let publisher = &self.shared.publisher;
        publisher.prepare::<E>().await?;
        let env = publisher.envelope(event, Some(&self.message.envelope))?;
        let id = env.id;
        publisher.send(E::TOPIC, vec![env]).await?;
        Ok(id)
    }

    /// The publisher, for envelopes made by hand.
    pub fn publisher(&self) -> &Publisher<C> {
        &self.shared.publisher
    }
}
