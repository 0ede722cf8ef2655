use std::sync::Arc;

use tower_layer::Layer;

use super::error::CircuitOpen;
use super::state::{Admission, Breaker};
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

    /// Asks the breaker for one call made by hand, without wrapping a service: a
    /// [`Permit`] to report the call's outcome on, or [`CircuitOpen`] when the circuit
    /// rejects calls now. A permit dropped without an outcome counts as nothing.
    ///
    /// ```
    /// use edp_core::middleware::circuit_breaker::{CircuitBreakerConfig, CircuitBreakerLayer, CircuitState};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let breaker = CircuitBreakerLayer::new(CircuitBreakerConfig::default().tolerate_consecutive_failures(0));
    /// let permit = breaker.try_call().expect("closed");
    /// permit.failed(); // the call failed
    /// assert_eq!(breaker.state(), CircuitState::Open);
    /// assert!(breaker.try_call().is_err());
    /// # }
    /// ```
    pub fn try_call(&self) -> Result<Permit, CircuitOpen> {
        let admission = self.breaker.admit()?;
        Ok(Permit {
            breaker: self.breaker.clone(),
            admission,
            done: false,
        })
    }
}

/// One admitted call of a [`CircuitBreakerLayer::try_call`]: report how it went.
#[must_use = "report the call's outcome with `succeeded` or `failed`"]
pub struct Permit {
    breaker: Arc<Breaker>,
    admission: Admission,
    done: bool,
}

impl std::fmt::Debug for Permit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.breaker.config.name)
            .field("probe", &self.admission.probe)
            .finish()
    }
}

impl Permit {
    /// The call succeeded.
    pub fn succeeded(self) {
        self.finish(false);
    }

    /// The call failed: it counts toward opening the circuit.
    pub fn failed(self) {
        self.finish(true);
    }

    /// The call finished; `failure` says how.
    pub fn finish(mut self, failure: bool) {
        self.done = true;
        self.breaker.record(self.admission, failure);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.done && self.admission.probe {
            self.breaker.abandon(self.admission);
        }
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
