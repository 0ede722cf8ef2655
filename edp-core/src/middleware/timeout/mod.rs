//! Fails a call that takes longer than a limit; the inner future is dropped.
//!
//! The error is a boxed [`error::Elapsed`], which the retry middleware retries (a slow
//! call may succeed next time). Time runs on tokio's clock, so tests use the paused
//! clock.
//!
//! A call that completes on its first poll never starts a timer: the limit is
//! measured from the call's first wait. Creating a timer for every call cost a large
//! share of an in-memory event (measured), and a call that has not waited cannot have
//! taken long.
//!
//! ```
//! use std::time::Duration;
//! use edp_core::middleware::timeout::{TimeoutLayer, error::Elapsed};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let slow = ServiceBuilder::new()
//!     .layer(TimeoutLayer::new(Duration::from_millis(50)))
//!     .service_fn(|()| async {
//!         tokio::time::sleep(Duration::from_secs(1)).await;
//!         Ok::<_, edp_core::error::BoxError>(())
//!     });
//! let err = slow.oneshot(()).await.unwrap_err();
//! assert_eq!(err.downcast_ref::<Elapsed>().unwrap().limit, Duration::from_millis(50));
//! # }
//! ```

pub mod error;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Sleep;
use tower_layer::Layer;
use tower_service::Service;

use crate::error::BoxError;

/// Applies [`Timeout`]. Cheap to clone.
#[derive(Debug, Clone, Copy)]
pub struct TimeoutLayer {
    limit: Duration,
}

impl TimeoutLayer {
    /// Calls taking longer than `limit` fail with [`error::Elapsed`].
    pub fn new(limit: Duration) -> Self {
        Self { limit }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout {
            inner,
            limit: self.limit,
        }
    }
}

/// Fails calls to `S` that take longer than a limit. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Timeout<S> {
    inner: S,
    limit: Duration,
}

impl<S, Req> Service<Req> for Timeout<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        ResponseFuture {
            inner: self.inner.call(req),
            limit: self.limit,
            sleep: None,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Timeout`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        limit: Duration,
        // Started at the first wait; boxed because it is rare.
        sleep: Option<Pin<Box<Sleep>>>,
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(r) = this.inner.poll(cx) {
            return Poll::Ready(r.map_err(Into::into));
        }
        let limit = *this.limit;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Box::new(error::Elapsed { limit }))),
            Poll::Pending => Poll::Pending,
        }
    }
}
