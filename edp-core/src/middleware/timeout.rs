//! Fails a call that takes longer than a limit; the inner future is dropped.
//!
//! This is tower's timeout, re-exported: the error is a boxed [`error::Elapsed`], which
//! the retry middleware retries (a slow call may succeed next time).
//!
//! ```
//! use std::time::Duration;
//! use edp_core::middleware::timeout::TimeoutLayer;
//! let layer = TimeoutLayer::new(Duration::from_secs(5));
//! ```

pub use tower::timeout::{Timeout, TimeoutLayer};

/// Timeout errors.
pub mod error {
    pub use tower::timeout::error::Elapsed;
}
