use std::borrow::Cow;

use tower::util::BoxCloneSyncService;
use tower::{Service as _, ServiceExt};

use super::{Message, UnknownEventType};
use crate::error::BoxError;

/// A route's service, after the middleware stack: type-erased.
pub(crate) type Route = BoxCloneSyncService<Message, (), BoxError>;

/// What a service does with an event type it has no handler for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnknownEvents {
    /// Ack it and go on, with a debug log (the default: a topic may carry types this
    /// service does not handle).
    #[default]
    Skip,
    /// Send it to the dead-letter topic with an [`UnknownEventType`] error.
    DeadLetter,
}

/// Routes messages by event type to their handler's middleware stack.
///
/// The service runtime owns one router per worker; clones share middleware state (a
/// circuit breaker stays one breaker).
#[derive(Clone)]
pub struct Router {
    routes: Vec<(Cow<'static, str>, Route)>,
    pub(crate) unknown: UnknownEvents,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field(
                "types",
                &self.routes.iter().map(|r| &r.0).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// How a message was dispatched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dispatched {
    Handled,
    Skipped,
}

impl Router {
    pub(crate) fn new(routes: Vec<(Cow<'static, str>, Route)>, unknown: UnknownEvents) -> Self {
        Self { routes, unknown }
    }

    /// The event types that have a handler.
    pub fn event_types(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|(t, _)| t.as_ref())
    }

    pub(crate) fn route_mut(&mut self, event_type: &str) -> Option<&mut Route> {
        self.routes
            .iter_mut()
            .find(|(t, _)| t == event_type)
            .map(|(_, r)| r)
    }

    /// Runs `msg` through its route. `Err` means the message should be redelivered.
    pub(crate) async fn dispatch(&mut self, msg: Message) -> Result<Dispatched, BoxError> {
        let unknown = self.unknown;
        match self.route_mut(&msg.envelope.event_type) {
            Some(route) => {
                route.ready().await?.call(msg).await?;
                Ok(Dispatched::Handled)
            }
            None if unknown == UnknownEvents::Skip => {
                tracing::debug!(event_type = %msg.envelope.event_type, topic = %msg.topic, "no handler; skipped");
                Ok(Dispatched::Skipped)
            }
            None => Err(Box::new(UnknownEventType(
                msg.envelope.event_type.to_string(),
            ))),
        }
    }
}
