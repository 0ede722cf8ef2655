//! Circuit breaker failures.

use std::time::Duration;

/// The circuit is open: the call was rejected without reaching the service.
///
/// Handling: retryable later; the retry middleware waits and tries again, an HTTP
/// gateway answers 503 with `Retry-After`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("circuit `{name}` is open; calls resume in {retry_after:?}")]
pub struct CircuitOpen {
    /// The breaker's name.
    pub name: String,
    /// Time until the breaker lets a probe call through.
    pub retry_after: Duration,
}
