//! Error plumbing shared by handlers and middleware.
//!
//! Each concern has its own error type beside it (`codec::DecodeError`,
//! `transport::PublishError`, ...). A middleware stack carries [`BoxError`], and
//! callers downcast to the struct they need.

/// The error type that flows through a handler's middleware stack.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Marks an error as permanent: retrying cannot help.
///
/// The retry middleware gives up at once on a permanent error, and the dead-letter
/// middleware routes the event straight away. Decode failures are permanent.
///
/// Handling: return it from a handler (through [`permanent`]) when the event itself is
/// wrong, for example a business rule that rejects it.
///
/// ```
/// use edp_core::error::{permanent, Permanent, BoxError};
///
/// let err: BoxError = permanent("amount must be positive");
/// assert!(Permanent::is_permanent(&*err));
/// ```
#[derive(Debug, thiserror::Error)]
#[error("permanent failure")]
pub struct Permanent(#[source] pub BoxError);

impl Permanent {
    /// Whether `err` or any error in its `source()` chain is a [`Permanent`].
    pub fn is_permanent(err: &(dyn std::error::Error + 'static)) -> bool {
        let mut current = Some(err);
        while let Some(e) = current {
            if e.is::<Permanent>() {
                return true;
            }
            current = e.source();
        }
        false
    }
}

/// Wraps `err` in [`Permanent`], so that it is not retried.
pub fn permanent(err: impl Into<BoxError>) -> BoxError {
    Box::new(Permanent(err.into()))
}

/// Marks an error as a dependency being unavailable (a database down, a registry
/// unreachable): the event is fine and will succeed later.
///
/// The retry middleware retries it like any other error; when the attempts run out,
/// the service nacks the event for redelivery instead of dead-lettering it, so an
/// outage never sends good events to the dead-letter topic.
///
/// Handling: return it from a handler (through [`unavailable`]) when a service it
/// needs is down.
///
/// ```
/// use edp_core::error::{unavailable, Unavailable, BoxError};
///
/// let err: BoxError = unavailable("database is restarting");
/// assert!(Unavailable::is_unavailable(&*err));
/// ```
#[derive(Debug, thiserror::Error)]
#[error("a dependency is unavailable; the event will be redelivered")]
pub struct Unavailable(#[source] pub BoxError);

impl Unavailable {
    /// Whether `err` or any error in its `source()` chain is an [`Unavailable`].
    pub fn is_unavailable(err: &(dyn std::error::Error + 'static)) -> bool {
        find::<Unavailable>(err).is_some()
    }
}

/// Wraps `err` in [`Unavailable`], so that it is redelivered, never dead-lettered.
pub fn unavailable(err: impl Into<BoxError>) -> BoxError {
    Box::new(Unavailable(err.into()))
}

/// Finds the first error of type `T` in `err`'s `source()` chain, `err` included.
///
/// ```
/// use edp_core::error::{find, permanent, Permanent};
///
/// let err = permanent("bad");
/// assert!(find::<Permanent>(&*err).is_some());
/// ```
pub fn find<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// Renders an error and its whole `source()` chain on one line: `outer: inner: root`.
pub fn chain_to_string(err: &(dyn std::error::Error + 'static)) -> String {
    use std::fmt::Write;
    let mut out = err.to_string();
    let mut current = err.source();
    while let Some(e) = current {
        let _ = write!(out, ": {e}");
        current = e.source();
    }
    out
}
