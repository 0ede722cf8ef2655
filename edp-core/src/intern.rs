//! Interned names: topics, groups and service names live for the whole process, so
//! that envelopes and deliveries carry them as `&'static str` and copying one costs no
//! atomic reference count shared between threads (measured: such counts were a large
//! share of an in-memory event's cost).
//!
//! Memory grows only with the number of distinct names, which is small in any real
//! system. [`value`] does the same for values that repeat on every record (event
//! types, sources, content types), up to a bound, so that a producer writing a new value
//! per record cannot make the process grow. Transports use both.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, PoisonError};

static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();

/// The process-wide copy of `name`.
pub fn intern(name: &str) -> &'static str {
    let names = NAMES.get_or_init(|| Mutex::new(HashSet::new()));
    let mut names = names.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(found) = names.get(name) {
        return found;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

/// How many distinct attribute values [`value`] keeps.
const MAX_VALUES: usize = 4096;

static VALUES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();

/// `value` without an allocation when it was seen before; a fresh copy once
/// 4,096 distinct values are kept.
pub fn value(value: &str) -> Cow<'static, str> {
    let values = VALUES.get_or_init(Mutex::default);
    let mut values = values.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(v) = values.get(value) {
        return Cow::Borrowed(v);
    }
    if values.len() >= MAX_VALUES || value.len() > 256 {
        return Cow::Owned(value.to_owned());
    }
    let leaked: &'static str = Box::leak(value.to_owned().into_boxed_str());
    values.insert(leaked);
    Cow::Borrowed(leaked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_shared_up_to_the_bound() {
        let a = value("order.placed");
        let b = value("order.placed");
        assert!(matches!((&a, &b), (Cow::Borrowed(x), Cow::Borrowed(y)) if std::ptr::eq(*x, *y)));
        assert!(
            matches!(value(&"x".repeat(300)), Cow::Owned(_)),
            "long values are not kept"
        );
    }
}
