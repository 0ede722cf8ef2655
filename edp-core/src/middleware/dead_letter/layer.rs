use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use futures_util::future::BoxFuture;
use tower_layer::Layer;
use tower_service::Service;

use super::{DeadLetterPolicy, send_dead_letter};
use crate::Publisher;
use crate::codec::{Codec, JsonCodec};
use crate::error::BoxError;
use crate::handler::Message;

/// Applies [`DeadLetter`]. Cheap to clone.
///
/// ```
/// use edp_core::{Publisher, transport::memory::MemoryTransport};
/// use edp_core::middleware::dead_letter::{DeadLetterLayer, DeadLetterPolicy};
///
/// let publisher = Publisher::new("payment", MemoryTransport::new());
/// let layer = DeadLetterLayer::new(publisher, DeadLetterPolicy::suffix(".poison"));
/// ```
pub struct DeadLetterLayer<C = JsonCodec> {
    shared: Arc<(Publisher<C>, DeadLetterPolicy)>,
}

impl<C> Clone for DeadLetterLayer<C> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<C> std::fmt::Debug for DeadLetterLayer<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetterLayer")
            .field("policy", &self.shared.1)
            .finish()
    }
}

impl<C: Codec> DeadLetterLayer<C> {
    /// Dead letters go through `publisher` to the topics `policy` names.
    pub fn new(publisher: Publisher<C>, policy: DeadLetterPolicy) -> Self {
        Self {
            shared: Arc::new((publisher, policy)),
        }
    }
}

impl<S, C> Layer<S> for DeadLetterLayer<C> {
    type Service = DeadLetter<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        DeadLetter {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Turns a final failure into a published dead letter and a success.
pub struct DeadLetter<S, C = JsonCodec> {
    inner: S,
    shared: Arc<(Publisher<C>, DeadLetterPolicy)>,
}

impl<S: Clone, C> Clone for DeadLetter<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S, C> std::fmt::Debug for DeadLetter<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetter")
            .field("policy", &self.shared.1)
            .finish()
    }
}

impl<S, C> Service<Message> for DeadLetter<S, C>
where
    S: Service<Message, Response = (), Error = BoxError>,
    C: Codec,
{
    type Response = ();
    type Error = BoxError;
    type Future = DeadLetterFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, msg: Message) -> Self::Future {
        DeadLetterFuture {
            state: State::Calling {
                fut: self.inner.call(msg.clone()),
                msg: Some((msg, self.shared.clone())),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`DeadLetter`].
    pub struct DeadLetterFuture<F, C> {
        #[pin]
        state: State<F, C>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, C> {
        Calling { #[pin] fut: F, msg: Option<(Message, Arc<(Publisher<C>, DeadLetterPolicy)>)> },
        Sending { fut: BoxFuture<'static, Result<(), BoxError>> },
    }
}

impl<F, C> Future for DeadLetterFuture<F, C>
where
    F: Future<Output = Result<(), BoxError>>,
    C: Codec,
{
    type Output = Result<(), BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { fut, msg } => {
                    let err = match ready!(fut.poll(cx)) {
                        Ok(()) => return Poll::Ready(Ok(())),
                        Err(e) => e,
                    };
                    let Some((msg, shared)) = msg.take() else {
                        return Poll::Ready(Err(err));
                    };
                    let fut = Box::pin(async move {
                        match send_dead_letter(&shared.0, &shared.1, &msg, &err).await {
                            Ok(()) => Ok(()),
                            Err(publish) => {
                                tracing::error!(error = %publish, "cannot publish dead letter; the event will be redelivered");
                                Err(err)
                            }
                        }
                    });
                    this.state.set(State::Sending { fut });
                }
                StateProj::Sending { fut } => return fut.as_mut().poll(cx),
            }
        }
    }
}
