use std::sync::Arc;

use tower_layer::Layer;

use super::{Retry, RetryPolicy};
use crate::middleware::classify::ErrorsAreFailures;

/// Applies [`Retry`] with a policy. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct RetryLayer<K = ErrorsAreFailures> {
    policy: Arc<RetryPolicy>,
    classify: K,
}

impl RetryLayer {
    /// Retries errors per `policy`.
    pub fn new(policy: RetryPolicy) -> Self {
        Self {
            policy: Arc::new(policy),
            classify: ErrorsAreFailures,
        }
    }
}

impl<K> RetryLayer<K> {
    /// Also retries what `classify` calls a failure, for example HTTP 5xx responses
    /// (the circuit breaker's [`Classify`](crate::middleware::classify::Classify) serves here too).
    pub fn classify<K2>(self, classify: K2) -> RetryLayer<K2> {
        RetryLayer {
            policy: self.policy,
            classify,
        }
    }
}

impl<S, K: Clone> Layer<S> for RetryLayer<K> {
    type Service = Retry<S, K>;

    fn layer(&self, inner: S) -> Retry<S, K> {
        Retry::with_classifier(inner, self.policy.clone(), self.classify.clone())
    }
}
