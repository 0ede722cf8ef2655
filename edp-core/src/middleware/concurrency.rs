//! Limits how many calls run at once; callers wait for a slot.
//!
//! This is tower's concurrency limit, re-exported. A service's overall parallelism is
//! set with [`ServiceBuilder::concurrency`](crate::ServiceBuilder::concurrency); this
//! layer limits one handler further (for example one that calls a fragile API).
//!
//! ```
//! use edp_core::middleware::concurrency::ConcurrencyLimitLayer;
//! let layer = ConcurrencyLimitLayer::new(4);
//! ```

pub use tower::limit::{ConcurrencyLimit, ConcurrencyLimitLayer};
