use std::sync::Arc;

use crate::error::BoxError;

/// A handler returned an error (or its event could not be decoded for it).
///
/// Handling: the retry middleware retries it unless it is
/// [`Permanent`](crate::error::Permanent); the dead-letter middleware reads the handler
/// name from it.
#[derive(Debug, thiserror::Error)]
#[error("handler `{handler}` failed")]
pub struct HandlerFailed {
    /// The handler's name: its function path unless named at registration.
    pub handler: Arc<str>,
    /// What it returned.
    #[source]
    pub source: BoxError,
}

/// A handler panicked. The panic is caught, so the worker goes on.
///
/// Handling: a bug; not retried. The event is dead-lettered with the panic message, or
/// redelivered when dead letters are off.
#[derive(Debug, thiserror::Error)]
#[error("handler for `{event_type}` panicked: {message}")]
pub struct HandlerPanicked {
    /// The event type being handled.
    pub event_type: String,
    /// The panic's message, if it was a string.
    pub message: String,
}

/// No handler is registered for a delivery's event type.
///
/// Handling: not retryable. By default the service acks and skips such events (a topic
/// may carry types this service does not care about);
/// [`UnknownEvents::DeadLetter`](super::UnknownEvents::DeadLetter) dead-letters them
/// instead.
#[derive(Debug, thiserror::Error)]
#[error("no handler for event type `{0}`; register one or stop subscribing to its topic")]
pub struct UnknownEventType(pub String);
