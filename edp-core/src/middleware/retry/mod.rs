//! Retries a failed call with exponential backoff and full jitter.
//!
//! A call is retried until it succeeds, the attempts run out
//! ([`AttemptsExhausted`](error::AttemptsExhausted)), the next wait would pass the
//! elapsed-time limit ([`ElapsedExceeded`](error::ElapsedExceeded)), or the error is
//! [`Permanent`](crate::error::Permanent) ([`NotRetried`](error::NotRetried)). Waits run
//! on tokio's clock, so tests use the paused clock and take no real time.
//!
//! It wraps any tower service whose request is `Clone` and whose error is a
//! [`BoxError`]: event handlers and HTTP clients alike.
//!
//! ```
//! use std::time::Duration;
//! use edp_core::middleware::retry::{RetryLayer, RetryPolicy};
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
//! let c = calls.clone();
//! let mut svc = ServiceBuilder::new()
//!     .layer(RetryLayer::new(RetryPolicy::default().max_attempts(3).initial_backoff(Duration::from_millis(10))))
//!     .service_fn(move |_: ()| {
//!         let n = c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
//!         async move { if n < 2 { Err("flaky".into()) } else { Ok::<_, edp_core::error::BoxError>("ok") } }
//!     });
//! assert_eq!(svc.ready().await.unwrap().call(()).await.unwrap(), "ok");
//! assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
//! # }
//! ```

pub mod error;
mod future;
mod layer;
mod policy;

pub use future::ResponseFuture;
pub use layer::RetryLayer;
pub use policy::RetryPolicy;

use std::sync::Arc;
use std::task::{Context, Poll};

use rand::{Rng, SeedableRng, rngs::SmallRng};
use tower_service::Service;

use crate::error::BoxError;
use crate::middleware::classify::{Classify, ErrorsAreFailures};

/// Retries calls to `S` per a [`RetryPolicy`]. See the [module docs](self).
#[derive(Debug)]
pub struct Retry<S, K = ErrorsAreFailures> {
    inner: S,
    policy: Arc<RetryPolicy>,
    rng: SmallRng,
    classify: K,
}

impl<S: Clone, K: Clone> Clone for Retry<S, K> {
    fn clone(&self) -> Self {
        let mut rng = self.rng.clone();
        // Clones draw different jitter.
        let seed = rng.next_u64();
        Self {
            inner: self.inner.clone(),
            policy: self.policy.clone(),
            rng: SmallRng::seed_from_u64(seed),
            classify: self.classify.clone(),
        }
    }
}

impl<S> Retry<S> {
    /// Wraps `inner`, retrying errors.
    pub fn new(inner: S, policy: Arc<RetryPolicy>) -> Self {
        Self::with_classifier(inner, policy, ErrorsAreFailures)
    }
}

impl<S, K> Retry<S, K> {
    /// Wraps `inner`, retrying what `classify` calls a failure (an `Ok` response
    /// too, such as HTTP 503; after the last attempt that response is returned).
    pub fn with_classifier(inner: S, policy: Arc<RetryPolicy>, classify: K) -> Self {
        let rng = match policy.seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::seed_from_u64(crate::event::new_event_id().as_u64_pair().1),
        };
        Self {
            inner,
            policy,
            rng,
            classify,
        }
    }
}

impl<S, Req, K> Service<Req> for Retry<S, K>
where
    S: Service<Req, Error = BoxError> + Clone,
    Req: Clone,
    K: Classify<S::Response>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req, K>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // Use the service that was made ready; keep a clone for later attempts.
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        let fut = ready.call(req.clone());
        ResponseFuture::new(
            fut,
            ready,
            req,
            self.policy.clone(),
            self.rng.next_u64(),
            self.classify.clone(),
        )
    }
}
