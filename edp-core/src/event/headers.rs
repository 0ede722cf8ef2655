//! Extension headers of an [`Envelope`](super::Envelope) and the names edp uses.
//!
//! Names follow CloudEvents extension attribute rules (lowercase letters and digits),
//! so that a CloudEvents binding carries them unchanged.

/// W3C trace context: `traceparent`.
pub const TRACEPARENT: &str = "traceparent";
/// W3C trace context: `tracestate`.
pub const TRACESTATE: &str = "tracestate";
/// The id shared by every event that follows from one request.
pub const CORRELATION_ID: &str = "correlationid";
/// The id of the event (or request) that caused this one.
pub const CAUSATION_ID: &str = "causationid";

/// Set by a transport on a record it could not read into a whole envelope (for
/// example a Kafka record without the CloudEvents `ce_type` header): what is wrong.
/// The service dead-letters such a delivery with this reason, without calling a
/// handler, and goes on.
pub const INVALID: &str = "invalid";

/// Dead letters: the topic the event was consumed from.
pub const DLQ_TOPIC: &str = "dlqtopic";
/// Dead letters: the partition the event was consumed from, where known.
pub const DLQ_PARTITION: &str = "dlqpartition";
/// Dead letters: the offset the event was consumed at, where known.
pub const DLQ_OFFSET: &str = "dlqoffset";
/// Dead letters: the error text of the last attempt, with its causes.
pub const DLQ_ERROR: &str = "dlqerror";
/// Dead letters: how many times the handler was called.
pub const DLQ_ATTEMPTS: &str = "dlqattempts";
/// Dead letters: the name of the handler that failed.
pub const DLQ_HANDLER: &str = "dlqhandler";
/// Dead letters: the consumer group that gave up.
pub const DLQ_GROUP: &str = "dlqgroup";

use std::borrow::Cow;

/// Extension headers: an ordered list of name/value pairs, small and cheap to clone.
///
/// ```
/// use edp_core::event::{Headers, headers};
///
/// let mut h = Headers::new();
/// h.insert(headers::CORRELATION_ID, "req-42");
/// h.insert(headers::CORRELATION_ID, "req-43");
/// assert_eq!(h.get(headers::CORRELATION_ID), Some("req-43"));
/// assert_eq!(h.len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(Cow<'static, str>, String)>);

impl Headers {
    /// An empty set.
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `name` to `value`, replacing an earlier value.
    pub fn insert(&mut self, name: impl Into<Cow<'static, str>>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let at = self.0.iter().position(|(n, _)| n == name)?;
        Some(self.0.remove(at).1)
    }

    /// Iterates over name/value pairs in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_ref(), v.as_str()))
    }

    /// The number of headers.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<N: Into<Cow<'static, str>>, V: Into<String>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut h = Headers::new();
        for (n, v) in iter {
            h.insert(n, v);
        }
        h
    }
}
