//! Timeout failures.

use std::time::Duration;

/// The call did not finish in time; its future was dropped.
///
/// Handling: retryable (the retry middleware retries it); if it keeps happening, the
/// limit is too short or the dependency is slow.
#[derive(Debug, Clone, thiserror::Error)]
#[error("call did not finish within {limit:?}; it was cancelled")]
pub struct Elapsed {
    /// The limit.
    pub limit: Duration,
}
