//! What counts as a failure, for the circuit breaker and retry alike.
//!
//! By default every `Err` is a failure and every `Ok` a success. Around an HTTP client,
//! count 5xx responses as failures too; a closure does it:
//!
//! ```
//! use edp_core::error::BoxError;
//! use edp_core::middleware::classify::Classify;
//!
//! let server_errors = |res: Result<&http::Response<()>, &BoxError>| {
//!     res.map_or(true, |r| r.status().is_server_error())
//! };
//! let ok = http::Response::builder().status(200).body(()).unwrap();
//! assert!(!server_errors.is_failure(Ok(&ok)));
//! ```

use crate::error::BoxError;

/// Decides whether a call's outcome counts as a failure.
pub trait Classify<Res>: Clone + Send + Sync + 'static {
    /// True if `result` is a failure.
    fn is_failure(&self, result: Result<&Res, &BoxError>) -> bool;
}

/// The default classifier: every `Err` is a failure, every `Ok` a success.
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorsAreFailures;

impl<Res> Classify<Res> for ErrorsAreFailures {
    fn is_failure(&self, result: Result<&Res, &BoxError>) -> bool {
        result.is_err()
    }
}

impl<Res, F> Classify<Res> for F
where
    F: Fn(Result<&Res, &BoxError>) -> bool + Clone + Send + Sync + 'static,
{
    fn is_failure(&self, result: Result<&Res, &BoxError>) -> bool {
        self(result)
    }
}
