//! Why the retry middleware gave up. Each carries the number of calls made.

use std::time::Duration;

use crate::error::BoxError;

/// Every allowed attempt failed.
///
/// Handling: the dead-letter middleware routes the event, with `attempts` in the
/// `dlqattempts` header.
#[derive(Debug, thiserror::Error)]
#[error("gave up after {attempts} attempts")]
pub struct AttemptsExhausted {
    /// Calls made.
    pub attempts: u32,
    /// The last attempt's error.
    #[source]
    pub source: BoxError,
}

/// The next backoff would pass the policy's maximum elapsed time.
#[derive(Debug, thiserror::Error)]
#[error("gave up after {attempts} attempts in {elapsed:?}, at the elapsed-time limit")]
pub struct ElapsedExceeded {
    /// Calls made.
    pub attempts: u32,
    /// Time since the first call.
    pub elapsed: Duration,
    /// The last attempt's error.
    #[source]
    pub source: BoxError,
}

/// The error was [`Permanent`](crate::error::Permanent): retrying cannot help.
#[derive(Debug, thiserror::Error)]
#[error("not retried after attempt {attempts}: the error is permanent")]
pub struct NotRetried {
    /// Calls made.
    pub attempts: u32,
    /// The permanent error.
    #[source]
    pub source: BoxError,
}

/// The number of calls the retry middleware made, if `err` came through it.
pub fn attempts(err: &(dyn std::error::Error + 'static)) -> Option<u32> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(x) = e.downcast_ref::<AttemptsExhausted>() {
            return Some(x.attempts);
        }
        if let Some(x) = e.downcast_ref::<ElapsedExceeded>() {
            return Some(x.attempts);
        }
        if let Some(x) = e.downcast_ref::<NotRetried>() {
            return Some(x.attempts);
        }
        current = e.source();
    }
    None
}
