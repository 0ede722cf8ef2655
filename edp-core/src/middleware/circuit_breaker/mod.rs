//! A circuit breaker: closed, open, half-open.
//!
//! While closed, calls go through and failures are counted. Too many failures (see
//! [`CircuitBreakerConfig`]) open it: calls fail at once with
//! [`CircuitOpen`](error::CircuitOpen), without reaching the service, until the open
//! period ends. Then probe calls go through (half-open): successes close it, a failure
//! opens it again. Time runs on tokio's clock, so tests use the paused clock.
//!
//! One layer is one breaker: every service it wraps shares its state. Make one layer
//! per downstream dependency.
//!
//! It wraps any tower service. What counts as a failure is a [`Classify`]: by default an
//! `Err`; for an HTTP client, classify 5xx responses too:
//!
//! ```
//! use std::time::Duration;
//! use edp_core::middleware::circuit_breaker::{CircuitBreakerConfig, CircuitBreakerLayer};
//!
//! let http_breaker = CircuitBreakerLayer::new(CircuitBreakerConfig::default().name("payments-api"))
//!     .classify(|res: Result<&http::Response<String>, &edp_core::error::BoxError>| match res {
//!         Ok(resp) => resp.status().is_server_error(),
//!         Err(_) => true,
//!     });
//! ```

mod config;
pub mod error;
mod future;
mod layer;
mod state;

pub use config::CircuitBreakerConfig;
pub use future::ResponseFuture;
pub use layer::{CircuitBreakerLayer, Permit};
pub use state::CircuitState;

use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use self::state::Breaker;
use crate::error::BoxError;

pub use super::classify::{Classify, ErrorsAreFailures};

/// Wraps a service with a circuit breaker. See the [module docs](self).
pub struct CircuitBreaker<S, K = ErrorsAreFailures> {
    inner: S,
    breaker: Arc<Breaker>,
    classify: K,
}

impl<S: Clone, K: Clone> Clone for CircuitBreaker<S, K> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<S, K> std::fmt::Debug for CircuitBreaker<S, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.breaker.config.name)
            .field("state", &self.breaker.state())
            .finish()
    }
}

impl<S, K> CircuitBreaker<S, K> {
    /// The breaker's state now.
    pub fn state(&self) -> CircuitState {
        self.breaker.state()
    }
}

impl<S, Req, K> Service<Req> for CircuitBreaker<S, K>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    K: Classify<S::Response>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, K>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.breaker.admit() {
            Ok(admission) => ResponseFuture::called(
                self.inner.call(req),
                self.breaker.clone(),
                admission,
                self.classify.clone(),
            ),
            Err(open) => ResponseFuture::rejected(open),
        }
    }
}
