use std::borrow::Cow;

use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower_service::Service;

use futures_util::FutureExt;

use super::{HandlerPanicked, Message, UnknownEventType};
use crate::error::BoxError;

/// A route's service, after the middleware stack: type-erased.
pub(crate) type Route = Box<dyn ErasedRoute>;

/// A type-erased route that reuses one allocation for its futures: each call writes
/// the new future over the finished one in place, so handling an event allocates
/// nothing here (boxing each future cost a measurable share of an in-memory event).
pub(crate) trait ErasedRoute: Send {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>>;
    fn start(&mut self, msg: Message);
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>>;
    fn clone_route(&self) -> Route;
}

pub(crate) struct RouteImpl<S: Service<Message>> {
    svc: S,
    fut: Pin<Box<Option<S::Future>>>,
}

impl<S> RouteImpl<S>
where
    S: Service<Message, Response = (), Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    pub(crate) fn boxed(svc: S) -> Route {
        Box::new(Self {
            svc,
            fut: Box::pin(None),
        })
    }
}

impl<S> ErasedRoute for RouteImpl<S>
where
    S: Service<Message, Response = (), Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.svc.poll_ready(cx)
    }

    fn start(&mut self, msg: Message) {
        let fut = self.svc.call(msg);
        self.fut.as_mut().set(Some(fut));
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        let Some(fut) = self.fut.as_mut().as_pin_mut() else {
            return Poll::Ready(Err("route polled without a call".into()));
        };
        let out = fut.poll(cx);
        if out.is_ready() {
            self.fut.as_mut().set(None);
        }
        out
    }

    fn clone_route(&self) -> Route {
        RouteImpl::boxed(self.svc.clone())
    }
}

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
pub struct Router {
    routes: Vec<(Cow<'static, str>, Route)>,
    pub(crate) unknown: UnknownEvents,
}

impl Clone for Router {
    fn clone(&self) -> Self {
        Self {
            routes: self
                .routes
                .iter()
                .map(|(t, r)| (t.clone(), r.clone_route()))
                .collect(),
            unknown: self.unknown,
        }
    }
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
                let event_type = msg.envelope.event_type.clone();
                let call = async {
                    poll_fn(|cx| route.poll_ready(cx)).await?;
                    route.start(msg);
                    poll_fn(|cx| route.poll(cx)).await
                };
                // A panicking handler must not take its worker (and the partition it
                // holds) down: it becomes an error like any other.
                match AssertUnwindSafe(call).catch_unwind().await {
                    Ok(result) => result.map(|()| Dispatched::Handled),
                    Err(panic) => Err(Box::new(HandlerPanicked {
                        event_type: event_type.to_string(),
                        message: panic_message(&*panic),
                    })),
                }
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

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(not a string)".to_owned()
    }
}
