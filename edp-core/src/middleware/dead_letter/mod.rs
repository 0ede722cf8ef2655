//! After the last attempt, publishes the failed event to a dead-letter topic with the
//! reason, and reports success so that the consumer acks it and goes on: a poison
//! event never blocks its partition.
//!
//! The dead letter is the original envelope (same id, source, type, content type,
//! payload, correlation and causation, so that it can be replayed as it was), made by
//! the publisher's [`Encoder::forward`](crate::event::Encoder::forward): its trace
//! continues from the failed handler's span where there is one. It gets these headers
//! (names in [`crate::event::headers`]):
//!
//! | header | value |
//! |---|---|
//! | `dlqtopic` | the topic it was consumed from |
//! | `dlqpartition`, `dlqoffset` | where it was, when the transport knows |
//! | `dlqerror` | the last error with its causes |
//! | `dlqattempts` | handler calls made (from the retry middleware; 1 without it) |
//! | `dlqhandler` | the handler that failed |
//! | `dlqgroup` | the consumer group |
//!
//! A [`Service`](crate::Service) dead-letters by default (topic `<topic>.dlq`); use
//! this layer directly to give one handler another policy. If publishing the dead letter
//! fails, the original error is returned and the event is redelivered.

mod layer;

pub use layer::{DeadLetter, DeadLetterFuture, DeadLetterLayer};

use std::sync::Arc;

use crate::codec::Codec;
use crate::error::{BoxError, chain_to_string, find};
use crate::event::{Encoder, headers};
use crate::handler::{HandlerFailed, Message};
use crate::middleware::retry;
use crate::transport::PublishError;
use crate::{Envelope, Publisher};

/// Where dead letters go: a topic named from the source topic.
///
/// ```
/// use edp_core::middleware::dead_letter::DeadLetterPolicy;
/// assert_eq!(DeadLetterPolicy::default().topic_for("orders"), "orders.dlq");
/// assert_eq!(DeadLetterPolicy::suffix("-dead").topic_for("orders"), "orders-dead");
/// assert_eq!(DeadLetterPolicy::single_topic("poison").topic_for("orders"), "poison");
/// ```
#[derive(Clone)]
pub struct DeadLetterPolicy {
    name: Arc<dyn Fn(&str) -> String + Send + Sync>,
}

impl std::fmt::Debug for DeadLetterPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetterPolicy")
            .field("example", &(self.name)("<topic>"))
            .finish()
    }
}

impl Default for DeadLetterPolicy {
    /// `<topic>.dlq`.
    fn default() -> Self {
        Self::suffix(".dlq")
    }
}

impl DeadLetterPolicy {
    /// `<topic><suffix>`.
    pub fn suffix(suffix: impl Into<String>) -> Self {
        let suffix = suffix.into();
        Self::named_by(move |t| format!("{t}{suffix}"))
    }
    /// One topic for every source topic.
    pub fn single_topic(topic: impl Into<String>) -> Self {
        let topic = topic.into();
        Self::named_by(move |_| topic.clone())
    }
    /// A topic named by `f` from the source topic.
    pub fn named_by(f: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        Self { name: Arc::new(f) }
    }
    /// The dead-letter topic for `source_topic`.
    pub fn topic_for(&self, source_topic: &str) -> String {
        (self.name)(source_topic)
    }
}

/// Builds, with `encoder`, the dead letter of `msg` failed with `err`.
pub fn dead_letter_envelope<C: Codec>(
    encoder: &Encoder<C>,
    msg: &Message,
    err: &(dyn std::error::Error + 'static),
) -> Envelope {
    let mut env = encoder.forward(&msg.envelope);
    let h = &mut env.headers;
    h.insert(headers::DLQ_TOPIC, msg.topic.to_string());
    if let Some(p) = msg.partition {
        h.insert(headers::DLQ_PARTITION, p.to_string());
    }
    if let Some(o) = msg.offset {
        h.insert(headers::DLQ_OFFSET, o.to_string());
    }
    h.insert(headers::DLQ_ERROR, chain_to_string(err));
    let attempts = retry::error::attempts(err).unwrap_or(1);
    h.insert(headers::DLQ_ATTEMPTS, attempts.to_string());
    let handler = find::<HandlerFailed>(err)
        .map(|f| f.handler.to_string())
        .unwrap_or_else(|| "(none)".to_owned());
    h.insert(headers::DLQ_HANDLER, handler);
    if !msg.group.is_empty() {
        h.insert(headers::DLQ_GROUP, msg.group.to_string());
    }
    env
}

/// Publishes the dead letter of `msg`.
pub async fn send_dead_letter<C: Codec>(
    publisher: &Publisher<C>,
    policy: &DeadLetterPolicy,
    msg: &Message,
    err: &BoxError,
) -> Result<(), PublishError> {
    let env = dead_letter_envelope(publisher.encoder(), msg, &**err);
    let topic = policy.topic_for(&msg.topic);
    tracing::warn!(
        event_id = %msg.envelope.id,
        event_type = %msg.envelope.event_type,
        topic = %msg.topic,
        dead_letter_topic = %topic,
        error = %chain_to_string(&**err),
        "event dead-lettered"
    );
    publisher.send(&topic, vec![env]).await
}
