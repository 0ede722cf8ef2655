use std::sync::Arc;

use tower_layer::Layer;

use super::state::Breaker;
use super::{CircuitBreaker, CircuitBreakerConfig, CircuitState, ErrorsAreFailures};

/// Applies one shared [`CircuitBreaker`]. Cheap to clone; clones share the breaker.
#[derive(Clone)]
pub struct CircuitBreakerLayer<K = ErrorsAreFailures> {
    breaker: Arc<Breaker>,
    classify: K,
}

impl Default for CircuitBreakerLayer {
    fn default() -> Self {
        Self::new(CircuitBreakerConfig::default())
    }
}

impl<K> std::fmt::Debug for CircuitBreakerLayer<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("name", &self.breaker.config.name)
            .finish()
    }
}

impl CircuitBreakerLayer {
    /// A breaker with `config`, counting every `Err` as a failure.
    pub fn new(config: CircuitBreakerConfig) -> Self {
        Self {
            breaker: Arc::new(Breaker::new(config)),
            classify: ErrorsAreFailures,
        }
    }
}

impl<K> CircuitBreakerLayer<K> {
    /// Uses `classify` to decide what a failure is (for example HTTP 5xx).
    pub fn classify<K2>(self, classify: K2) -> CircuitBreakerLayer<K2> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classify,
        }
    }

    /// The breaker's state now.
    pub fn state(&self) -> CircuitState {
        self.breaker.state()
    }
}

impl<S, K: Clone> Layer<S> for CircuitBreakerLayer<K> {
    type Service = CircuitBreaker<S, K>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreaker {
            inner,
            breaker: self.breaker.clone(),
            classify: self.classify.clone(),
        }
    }
}
