use std::borrow::Cow;
use std::cell::RefCell;

use bytes::Bytes;
use rand::{Rng, SeedableRng, rngs::SmallRng};
use std::time::SystemTime;
use uuid::Uuid;

use super::Headers;
use super::headers::{CAUSATION_ID, CORRELATION_ID};

/// What travels on a transport: CloudEvents attributes, extension headers and the
/// encoded payload.
///
/// Field names follow CloudEvents 1.0 (`id`, `source`, `type`, `time`, `subject`,
/// `datacontenttype`, `data`), so that other tools can read an edp event. The payload's
/// schema version travels as the `dataversion` extension.
///
/// Build one with [`Envelope::builder`]; publishers do it for you.
///
/// ```
/// use edp_core::Envelope;
///
/// let env = Envelope::builder("order.placed", br#"{"order_id":"o-1"}"#.to_vec())
///     .source("order-service")
///     .subject("o-1")
///     .build();
/// assert_eq!(env.event_type, "order.placed");
/// assert_eq!(env.id.get_version_num(), 7);
/// assert_eq!(env.correlation_id(), env.id.to_string());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Envelope {
    /// CloudEvents `id`: a UUIDv7, so ids sort by creation time.
    pub id: Uuid,
    /// CloudEvents `source`: the service that produced the event.
    pub source: Cow<'static, str>,
    /// CloudEvents `type`: the [`Event::NAME`](crate::Event::NAME).
    pub event_type: Cow<'static, str>,
    /// CloudEvents `time`: when the event was created. Transports that carry it as
    /// text write RFC 3339 in UTC.
    pub time: SystemTime,
    /// CloudEvents `subject`: the partition key, if any.
    pub subject: Option<String>,
    /// CloudEvents `datacontenttype`, for example `application/json`.
    pub datacontenttype: Cow<'static, str>,
    /// Extension `dataversion`: the payload's schema version.
    pub dataversion: u32,
    /// Extension attributes: trace context, correlation and causation ids, and more.
    pub headers: Headers,
    /// The encoded payload.
    pub data: Bytes,
}

impl Envelope {
    /// Starts an envelope of `event_type` around an encoded payload.
    pub fn builder(
        event_type: impl Into<Cow<'static, str>>,
        data: impl Into<Bytes>,
    ) -> EnvelopeBuilder {
        EnvelopeBuilder {
            env: Self::new_now(event_type.into(), data.into()),
        }
    }

    /// A JSON envelope created now, with no source, key or headers.
    pub(crate) fn new_now(event_type: impl Into<Cow<'static, str>>, data: Bytes) -> Self {
        let now = SystemTime::now();
        Envelope {
            id: event_id_at(now),
            source: Cow::Borrowed(""),
            event_type: event_type.into(),
            time: now,
            subject: None,
            datacontenttype: Cow::Borrowed("application/json"),
            dataversion: 1,
            headers: Headers::new(),
            data,
        }
    }

    /// Sets correlation and causation from `parent`; see [`EnvelopeBuilder::caused_by`].
    pub(crate) fn carry_from(&mut self, parent: &Envelope) {
        let correlation = parent.correlation_id().into_owned();
        self.headers.insert(CORRELATION_ID, correlation);
        self.headers.insert(CAUSATION_ID, parent.id.to_string());
    }

    /// The correlation id: the header if set, else this event's own id.
    pub fn correlation_id(&self) -> Cow<'_, str> {
        match self.headers.get(CORRELATION_ID) {
            Some(c) => Cow::Borrowed(c),
            None => Cow::Owned(self.id.to_string()),
        }
    }

    /// The causation id: the id of the event or request that caused this one.
    pub fn causation_id(&self) -> Option<&str> {
        self.headers.get(CAUSATION_ID)
    }

    /// The partition key (the CloudEvents `subject`).
    pub fn key(&self) -> Option<&str> {
        self.subject.as_deref()
    }
}

/// Builds an [`Envelope`]; see [`Envelope::builder`].
#[derive(Debug, Clone)]
pub struct EnvelopeBuilder {
    env: Envelope,
}

impl EnvelopeBuilder {
    /// Sets the id (default: a new UUIDv7).
    pub fn id(mut self, id: Uuid) -> Self {
        self.env.id = id;
        self
    }
    /// Sets the producing service.
    pub fn source(mut self, source: impl Into<Cow<'static, str>>) -> Self {
        self.env.source = source.into();
        self
    }
    /// Sets the creation time (default: now).
    pub fn time(mut self, time: SystemTime) -> Self {
        self.env.time = time;
        self
    }
    /// Sets the partition key.
    pub fn subject(mut self, key: impl Into<String>) -> Self {
        self.env.subject = Some(key.into());
        self
    }
    /// Sets or clears the partition key.
    pub fn subject_opt(mut self, key: Option<String>) -> Self {
        self.env.subject = key;
        self
    }
    /// Sets the content type (default: `application/json`).
    pub fn datacontenttype(mut self, ct: impl Into<Cow<'static, str>>) -> Self {
        self.env.datacontenttype = ct.into();
        self
    }
    /// Sets the payload's schema version (default: 1).
    pub fn dataversion(mut self, version: u32) -> Self {
        self.env.dataversion = version;
        self
    }
    /// Sets one extension header.
    pub fn header(mut self, name: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Self {
        self.env.headers.insert(name, value);
        self
    }
    /// Replaces all extension headers.
    pub fn headers(mut self, headers: Headers) -> Self {
        self.env.headers = headers;
        self
    }
    /// Carries correlation forward from `parent`: the new event shares the parent's
    /// correlation id, and its causation id is the parent's id.
    pub fn caused_by(mut self, parent: &Envelope) -> Self {
        self.env.carry_from(parent);
        self
    }
    /// Finishes the envelope.
    pub fn build(self) -> Envelope {
        self.env
    }
}

thread_local! {
    static ID_RNG: RefCell<SmallRng> = RefCell::new(seed_rng());
}

pub(crate) fn seed_rng() -> SmallRng {
    match SmallRng::try_from_rng(&mut rand::rngs::SysRng) {
        Ok(rng) => rng,
        // The OS refused entropy: fall back to the clock, ids stay unique by time.
        Err(_) => SmallRng::seed_from_u64(
            SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
                ^ u64::from(std::process::id()),
        ),
    }
}

/// A new UUIDv7 from the clock and a thread-local fast random generator.
///
/// `Uuid::now_v7` asks the OS for randomness on every call, which costs more than a
/// whole in-memory event; ids need uniqueness, not secrecy.
pub(crate) fn new_event_id() -> Uuid {
    event_id_at(std::time::SystemTime::now())
}

fn event_id_at(now: SystemTime) -> Uuid {
    let millis = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let (a, b) = ID_RNG.with(|rng| {
        let mut rng = rng.borrow_mut();
        (rng.next_u64(), rng.next_u64())
    });
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&a.to_le_bytes());
    random[8..].copy_from_slice(&b.to_le_bytes()[..2]);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v7_and_distinct() {
        let a = new_event_id();
        let b = new_event_id();
        assert_eq!(a.get_version_num(), 7);
        assert_ne!(a, b);
    }

    #[test]
    fn caused_by_carries_correlation_forward() {
        let root = Envelope::builder("a", Vec::new()).build();
        let child = Envelope::builder("b", Vec::new()).caused_by(&root).build();
        let grandchild = Envelope::builder("c", Vec::new()).caused_by(&child).build();
        assert_eq!(child.correlation_id(), root.id.to_string());
        assert_eq!(grandchild.correlation_id(), root.id.to_string());
        assert_eq!(
            grandchild.causation_id(),
            Some(child.id.to_string().as_str())
        );
    }
}
