//! Topic names as `&'static str`, so a delivery names its topic without an allocation.
//! A process consumes a bounded set of topics, so the leak is bounded.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, PoisonError};

static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();

/// The interned copy of `name`.
pub(crate) fn intern(name: &str) -> &'static str {
    let names = NAMES.get_or_init(Mutex::default);
    let mut names = names.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(n) = names.get(name) {
        return n;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}
