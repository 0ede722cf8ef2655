use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use tower_service::Service;

use super::context::Shared;
use super::{Context, Handler, HandlerFailed, Message};
use crate::codec::{Codec, PrepareFuture};
use crate::error::{BoxError, Permanent};
use crate::{Event, Publisher};

/// The innermost service of a route: decodes the payload as `E` and calls the handler.
///
/// A decode failure is a [`Permanent`] error inside [`HandlerFailed`], so it is not
/// retried and goes to the dead-letter topic with the reason.
///
/// When the codec must first do I/O for this envelope ([`Codec::prepare_decode`], an
/// Avro schema not yet fetched), that work runs before decoding: a
/// [`PrepareError`](crate::codec::PrepareError) that is permanent (an unknown schema id) is dead-lettered like a
/// decode failure; a transient one (the registry is down) is returned as is, so the
/// retry middleware retries it and the consumer redelivers rather than dead-letters.
/// Once the codec has what it needs, the call is synchronous again.
///
/// Cloning is one reference count: the retry middleware clones its inner service on
/// every call (measured cheaper than a private copy per worker).
pub struct TypedHandler<H, E, C> {
    handler: H,
    shared: Arc<Shared<C>>,
    _event: PhantomData<fn() -> E>,
}

impl<H: Clone, E, C> Clone for TypedHandler<H, E, C> {
    fn clone(&self) -> Self {
        Self {
            handler: self.handler.clone(),
            shared: self.shared.clone(),
            _event: PhantomData,
        }
    }
}

impl<H, E, C> TypedHandler<H, E, C>
where
    H: Handler<E, C>,
    E: Event,
    C: Codec,
{
    /// Wraps `handler`, named `name` in errors and dead letters.
    pub fn new(
        handler: H,
        name: impl Into<Arc<str>>,
        publisher: Publisher<C>,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            handler,
            shared: Arc::new(Shared {
                publisher,
                cancel: Arc::new(cancel),
                handler: name.into(),
            }),
            _event: PhantomData,
        }
    }
}

impl<H, E, C> Service<Message> for TypedHandler<H, E, C>
where
    H: Handler<E, C>,
    E: Event,
    C: Codec,
{
    type Response = ();
    type Error = BoxError;
    type Future = TypedFuture<H::Future, C>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, msg: Message) -> Self::Future {
        if let Some(work) = self.shared.publisher.codec().prepare_decode(&msg.envelope) {
            return TypedFuture::Preparing {
                fut: Box::pin(prepare_then_call(
                    work,
                    self.handler.clone(),
                    self.shared.clone(),
                    msg,
                )),
            };
        }
        match self.shared.publisher.codec().decode::<E>(&msg.envelope) {
            Ok(event) => {
                let ctx = Context::from_shared(msg, self.shared.clone());
                TypedFuture::Running {
                    inner: self.handler.call(ctx, event),
                    shared: Some(self.shared.clone()),
                }
            }
            Err(e) => TypedFuture::Failed {
                err: Some(Box::new(HandlerFailed {
                    handler: self.shared.handler.clone(),
                    source: Box::new(Permanent(Box::new(e))),
                })),
            },
        }
    }
}

/// The slow path of [`TypedHandler::call`]: the codec prepares, then the event is
/// decoded and handled. Boxed, and taken only while the codec is missing something.
async fn prepare_then_call<H, E, C>(
    work: PrepareFuture,
    handler: H,
    shared: Arc<Shared<C>>,
    msg: Message,
) -> Result<(), BoxError>
where
    H: Handler<E, C>,
    E: Event,
    C: Codec,
{
    let failed = |source: BoxError| -> BoxError {
        Box::new(HandlerFailed {
            handler: shared.handler.clone(),
            source,
        })
    };
    if let Err(e) = work.await {
        let transient = e.is_transient();
        let source: BoxError = Box::new(e);
        return Err(failed(if transient {
            source
        } else {
            Box::new(Permanent(source))
        }));
    }
    let event = shared
        .publisher
        .codec()
        .decode::<E>(&msg.envelope)
        .map_err(|e| failed(Box::new(Permanent(Box::new(e)))))?;
    let ctx = Context::from_shared(msg, shared.clone());
    handler.call(ctx, event).await.map_err(failed)
}

pin_project_lite::pin_project! {
    /// The future of [`TypedHandler`].
    #[project = TypedProj]
    pub enum TypedFuture<F, C> {
        /// The handler runs.
        Running { #[pin] inner: F, shared: Option<Arc<Shared<C>>> },
        /// Decoding failed.
        Failed { err: Option<BoxError> },
        /// The codec prepares first (boxed: rare).
        Preparing { fut: BoxFuture<'static, Result<(), BoxError>> },
    }
}

impl<F, C> Future for TypedFuture<F, C>
where
    F: Future<Output = Result<(), BoxError>>,
{
    type Output = Result<(), BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        match self.project() {
            TypedProj::Running { inner, shared } => match inner.poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
                Poll::Ready(Err(source)) => Poll::Ready(Err(Box::new(HandlerFailed {
                    handler: shared
                        .take()
                        .map_or_else(|| Arc::from("unknown"), |s| s.handler.clone()),
                    source,
                }))),
            },
            TypedProj::Preparing { fut } => fut.as_mut().poll(cx),
            TypedProj::Failed { err } => Poll::Ready(Err(err
                .take()
                .unwrap_or_else(|| "typed handler future polled after completion".into()))),
        }
    }
}
