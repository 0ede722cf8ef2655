//! Handlers: plain async functions taking a [`Context`] and a typed event.
//!
//! Register them on a [`ServiceBuilder`]; the service routes each delivery by its
//! event type, decodes it, runs it through the middleware stack and calls the handler.
//! `Ok` acks the delivery; an error goes through retry and, after the last attempt,
//! to the dead-letter topic.
//!
//! ```
//! use edp_core::{Context, Service, error::BoxError, transport::memory::MemoryTransport};
//! # use edp_core::Event;
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize, Event)]
//! # #[event(name = "order.placed", topic = "orders", key = order_id)]
//! # struct OrderPlaced { order_id: String }
//!
//! async fn on_order_placed(ctx: Context, event: OrderPlaced) -> Result<(), BoxError> {
//!     tracing::info!(order = %event.order_id, id = %ctx.id(), "order placed");
//!     Ok(())
//! }
//!
//! let service = Service::builder("payment", MemoryTransport::new())
//!     .handler(on_order_placed)
//!     .build();
//! ```

mod context;
mod error;
mod message;
mod router;
mod runtime;
mod service;
mod typed;

pub use context::Context;
pub use error::{HandlerFailed, HandlerPanicked, UnknownEventType};
pub use message::Message;
pub use router::{Router, UnknownEvents};
pub use runtime::{
    Assignment, InvalidRecord, NotAssigned, Outcome, RunningService, ServiceError, Status,
};
pub use service::{Service, ServiceBuilder};
pub use typed::TypedHandler;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::codec::{Codec, JsonCodec};
use crate::error::BoxError;

/// An async function that handles one event type: `async fn(Context, E) -> Result<(), Err>`
/// where `Err: Into<BoxError>`.
///
/// It is implemented for every such function and closure; there is nothing to derive.
pub trait Handler<E, C = JsonCodec>: Clone + Send + Sync + 'static {
    /// The future the handler returns.
    type Future: Future<Output = Result<(), BoxError>> + Send + 'static;

    /// Handles `event`.
    fn call(&self, ctx: Context<C>, event: E) -> Self::Future;
}

impl<F, Fut, E, C, Err> Handler<E, C> for F
where
    F: Fn(Context<C>, E) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Err>> + Send + 'static,
    Err: Into<BoxError>,
    C: Codec,
{
    type Future = IntoBoxError<Fut>;

    fn call(&self, ctx: Context<C>, event: E) -> Self::Future {
        IntoBoxError {
            inner: (self)(ctx, event),
        }
    }
}

/// A handler with state: `async fn(S, Context, E)`; see
/// [`ServiceBuilder::handler_with`].
#[derive(Debug, Clone)]
pub struct WithState<S, H> {
    state: S,
    handler: H,
}

impl<S, H, Fut, E, C, Err> Handler<E, C> for WithState<S, H>
where
    S: Clone + Send + Sync + 'static,
    H: Fn(S, Context<C>, E) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Err>> + Send + 'static,
    Err: Into<BoxError>,
    C: Codec,
{
    type Future = IntoBoxError<Fut>;

    fn call(&self, ctx: Context<C>, event: E) -> Self::Future {
        IntoBoxError {
            inner: (self.handler)(self.state.clone(), ctx, event),
        }
    }
}

pin_project_lite::pin_project! {
    /// Maps a handler's error into a [`BoxError`].
    #[derive(Debug)]
    pub struct IntoBoxError<F> {
        #[pin]
        inner: F,
    }
}

impl<F, Err> Future for IntoBoxError<F>
where
    F: Future<Output = Result<(), Err>>,
    Err: Into<BoxError>,
{
    type Output = Result<(), BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map(|r| r.map_err(Into::into))
    }
}
