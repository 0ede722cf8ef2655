//! Interned names: topics, groups and service names live for the whole process, so
//! that envelopes and deliveries carry them as `&'static str` and copying one costs no
//! atomic reference count shared between threads (measured: such counts were a large
//! share of an in-memory event's cost).
//!
//! Memory grows only with the number of distinct names, which is small in any real
//! system.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, PoisonError};

static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();

/// The process-wide copy of `name`.
pub(crate) fn intern(name: &str) -> &'static str {
    let names = NAMES.get_or_init(|| Mutex::new(HashSet::new()));
    let mut names = names.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(found) = names.get(name) {
        return found;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}
