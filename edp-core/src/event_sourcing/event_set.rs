//! The events of one aggregate: an enum whose variants each hold one [`Event`].

use crate::Event;

/// The events an aggregate records: an enum with one variant per event type, each
/// holding a type that derives [`Event`]. Derive it:
///
/// ```
/// use edp_core::Event;
/// use edp_core::event_sourcing::EventSet;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, Serialize, Deserialize, Event)]
/// #[event(name = "account.opened", topic = "accounts", key = id)]
/// struct Opened { id: String }
///
/// #[derive(Debug, Clone, Serialize, Deserialize, Event)]
/// #[event(name = "account.deposited", topic = "accounts", key = id)]
/// struct Deposited { id: String, cents: u64 }
///
/// #[derive(Debug, Clone, EventSet)]
/// enum AccountEvent {
///     Opened(Opened),
///     Deposited(Deposited),
/// }
///
/// let event: AccountEvent = Deposited { id: "a-1".into(), cents: 5 }.into();
/// assert_eq!(event.name(), "account.deposited");
/// assert_eq!(AccountEvent::NAMES, ["account.opened", "account.deposited"]);
/// ```
///
/// The derive also writes `From<Variant>` for the enum, and fails to compile when two
/// variants hold events of the same name. Each variant's [`Event::VERSION`] is the
/// version its events are stored with; older stored versions are read through
/// [`Upcasters`](super::Upcasters).
pub trait EventSet: Send + Sync + Sized + 'static {
    /// The names of the events of every variant, in declaration order.
    const NAMES: &'static [&'static str];

    /// Calls `visitor` with the event this value holds, typed.
    fn visit<'e, V: EventVisitor<'e>>(&'e self, visitor: V) -> V::Output;

    /// Decodes the event named `name` through `decoder`; `None` when no variant holds
    /// an event of that name.
    fn decode<D: EventDecoder>(name: &str, decoder: D) -> Option<Result<Self, D::Error>>;

    /// Calls `visitor` once per variant's event type, in declaration order (to
    /// subscribe a handler to each, say).
    fn each_type<V: TypeVisitor>(visitor: &mut V);

    /// Wraps `event` in its variant; `None` when no variant holds an `E`.
    fn wrap<E: Event>(event: E) -> Option<Self>;

    /// The [`Event::NAME`] of the event this value holds.
    fn name(&self) -> &'static str {
        self.visit(NameOf)
    }

    /// The [`Event::VERSION`] of the event this value holds.
    fn version(&self) -> u32 {
        self.visit(VersionOf)
    }
}

/// Something done with the typed event inside an [`EventSet`] value: encode it, add
/// it to an outbox, publish it. `'e` is how long the event is borrowed, so that the
/// output (a future, say) may hold it.
///
/// ```
/// use edp_core::Event;
/// use edp_core::event_sourcing::EventVisitor;
///
/// struct Topic;
/// impl EventVisitor<'_> for Topic {
///     type Output = &'static str;
///     fn visit<E: Event>(self, _event: &E) -> &'static str { E::TOPIC }
/// }
/// ```
pub trait EventVisitor<'e> {
    /// What the visit returns.
    type Output;
    /// Called with the typed event.
    fn visit<E: Event>(self, event: &'e E) -> Self::Output;
}

/// Something done with each event type of an [`EventSet`]: see
/// [`EventSet::each_type`].
pub trait TypeVisitor {
    /// Called with each type.
    fn visit<E: Event>(&mut self);
}

/// Turns stored data into a typed event, once [`EventSet::decode`] has chosen the type
/// by name.
pub trait EventDecoder {
    /// Why decoding failed.
    type Error;
    /// Decodes the stored data as `E`.
    fn decode<E: Event>(self) -> Result<E, Self::Error>;
}

struct NameOf;
impl EventVisitor<'_> for NameOf {
    type Output = &'static str;
    fn visit<E: Event>(self, _: &E) -> &'static str {
        E::NAME
    }
}

struct VersionOf;
impl EventVisitor<'_> for VersionOf {
    type Output = u32;
    fn visit<E: Event>(self, _: &E) -> u32 {
        E::VERSION
    }
}

/// Serializes the visited event as JSON, the way the event store keeps it.
pub(crate) struct ToJson;
impl EventVisitor<'_> for ToJson {
    type Output = Result<Vec<u8>, serde_json::Error>;
    fn visit<E: Event>(self, event: &E) -> Self::Output {
        serde_json::to_vec(event)
    }
}

/// Whether two names are equal, at compile time: `#[derive(EventSet)]` rejects two
/// variants of one name with it.
#[doc(hidden)]
pub const fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}
