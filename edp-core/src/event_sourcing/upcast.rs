//! Upcasters: stored events of an older version, read as the current version.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use crate::Event;

use super::event_set::{EventDecoder, EventSet, same_name};

type AnyEvent = Box<dyn Any + Send>;

#[derive(Clone)]
struct Step {
    to_version: u32,
    /// Decodes data stored at this step's version.
    decode: fn(&[u8]) -> Result<AnyEvent, serde_json::Error>,
    /// Turns this step's type into the next version's.
    up: Arc<dyn Fn(AnyEvent) -> Option<AnyEvent> + Send + Sync>,
}

/// Typed upcasters: each turns one version of an event into a later version of the
/// same event. Events are stored with the version their type had
/// ([`Event::VERSION`], set in `#[derive(Event)]`); reading one of an older version
/// decodes it as the older type and upcasts it step by step.
///
/// Keep the old type next to the new one, under another Rust name but the same event
/// name:
///
/// ```
/// use edp_core::Event;
/// use edp_core::event_sourcing::Upcasters;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Event)]
/// #[event(name = "order.placed", version = 1, topic = "orders")]
/// struct OrderPlacedV1 { order_id: String, total: f64 }
///
/// #[derive(Serialize, Deserialize, Event)]
/// #[event(name = "order.placed", version = 2, topic = "orders")]
/// struct OrderPlaced { order_id: String, total_cents: u64 }
///
/// let upcasters = Upcasters::new().upcast(|v1: OrderPlacedV1| OrderPlaced {
///     order_id: v1.order_id,
///     total_cents: (v1.total * 100.0).round() as u64,
/// });
/// let read: OrderPlaced = upcasters
///     .decode(1, br#"{"order_id":"o-1","total":12.5}"#)
///     .unwrap();
/// assert_eq!(read.total_cents, 1250);
/// ```
///
/// Adding an upcaster between different event names, or to an earlier version, does
/// not compile.
#[derive(Clone, Default)]
pub struct Upcasters {
    steps: Arc<HashMap<(&'static str, u32), Step>>,
}

impl std::fmt::Debug for Upcasters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut steps: Vec<_> = self
            .steps
            .iter()
            .map(|((name, from), step)| format!("{name} v{from} -> v{}", step.to_version))
            .collect();
        steps.sort();
        f.debug_struct("Upcasters").field("steps", &steps).finish()
    }
}

impl Upcasters {
    /// No upcasters: every event is read at the version it was stored with.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the step from `From` to `To`, two versions of one event. The chain may
    /// skip versions (v1 -> v3) or go one at a time (v1 -> v2 -> v3).
    ///
    /// Adding a second step from the same version replaces the first.
    pub fn upcast<From: Event, To: Event>(
        mut self,
        upcast: impl Fn(From) -> To + Send + Sync + 'static,
    ) -> Self {
        const {
            assert!(
                same_name(From::NAME, To::NAME),
                "an upcaster turns an event into a later version of the same event: the names differ"
            );
            assert!(
                From::VERSION < To::VERSION,
                "an upcaster goes from an older version to a newer one"
            );
        }
        let step = Step {
            to_version: To::VERSION,
            decode: |data| Ok(Box::new(serde_json::from_slice::<From>(data)?)),
            up: Arc::new(move |any| {
                let from = any.downcast::<From>().ok()?;
                Some(Box::new(upcast(*from)) as AnyEvent)
            }),
        };
        Arc::make_mut(&mut self.steps).insert((From::NAME, From::VERSION), step);
        self
    }

    /// Decodes JSON `data` stored at `version` as `E`, upcasting when `version` is
    /// older than [`E::VERSION`](Event::VERSION).
    ///
    /// # Errors
    ///
    /// [`DecodeEventError`]: bad JSON, a version newer than the code knows, or no
    /// chain of upcasters from `version` to `E::VERSION`.
    pub fn decode<E: Event>(&self, version: u32, data: &[u8]) -> Result<E, DecodeEventError> {
        if version == E::VERSION {
            return serde_json::from_slice(data).map_err(|source| DecodeEventError::Json {
                name: E::NAME,
                version,
                source,
            });
        }
        if version > E::VERSION {
            return Err(DecodeEventError::Newer {
                name: E::NAME,
                stored: version,
                known: E::VERSION,
            });
        }
        let missing = || DecodeEventError::NoUpcaster {
            name: E::NAME,
            from: version,
            to: E::VERSION,
        };
        let first = self.steps.get(&(E::NAME, version)).ok_or_else(missing)?;
        let mut event = (first.decode)(data).map_err(|source| DecodeEventError::Json {
            name: E::NAME,
            version,
            source,
        })?;
        let mut step = first;
        loop {
            event = (step.up)(event).ok_or_else(missing)?;
            if step.to_version == E::VERSION {
                return event.downcast::<E>().map(|e| *e).map_err(|_| missing());
            }
            step = self
                .steps
                .get(&(E::NAME, step.to_version))
                .ok_or_else(missing)?;
        }
    }

    /// Decodes a stored event of the set `S` by its name and version.
    ///
    /// # Errors
    ///
    /// [`DecodeEventError::Unknown`] when no variant of `S` holds an event of that
    /// name; otherwise as [`decode`](Self::decode).
    pub fn decode_set<S: EventSet>(
        &self,
        name: &str,
        version: u32,
        data: &[u8],
    ) -> Result<S, DecodeEventError> {
        S::decode(
            name,
            JsonDecoder {
                upcasters: self,
                version,
                data,
            },
        )
        .unwrap_or_else(|| {
            Err(DecodeEventError::Unknown {
                name: name.to_owned(),
            })
        })
    }
}

struct JsonDecoder<'a> {
    upcasters: &'a Upcasters,
    version: u32,
    data: &'a [u8],
}

impl EventDecoder for JsonDecoder<'_> {
    type Error = DecodeEventError;
    fn decode<E: Event>(self) -> Result<E, DecodeEventError> {
        self.upcasters.decode(self.version, self.data)
    }
}

/// Why a stored event could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeEventError {
    /// The stored name is not one of the set's events.
    #[error(
        "no variant of the event set holds events named `{name}`: add one, or an upcaster from a removed event"
    )]
    Unknown {
        /// The stored name.
        name: String,
    },
    /// The stored version is newer than the code's type: older code reads newer data.
    #[error("`{name}` v{stored} is newer than this code knows (v{known}): deploy the newer code")]
    Newer {
        /// The event name.
        name: &'static str,
        /// The stored version.
        stored: u32,
        /// The version of the type in this code.
        known: u32,
    },
    /// Nothing turns the stored version into the current one.
    #[error("no upcaster chain turns `{name}` v{from} into v{to}: add one with Upcasters::upcast")]
    NoUpcaster {
        /// The event name.
        name: &'static str,
        /// The stored version.
        from: u32,
        /// The current version.
        to: u32,
    },
    /// The stored JSON does not fit the type of its version.
    #[error("stored `{name}` v{version} does not decode")]
    Json {
        /// The event name.
        name: &'static str,
        /// The version it was decoded as.
        version: u32,
        /// What serde_json said.
        #[source]
        source: serde_json::Error,
    },
}
