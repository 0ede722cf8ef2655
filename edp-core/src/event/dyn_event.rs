//! [`DynEvent`]: an [`Event`] behind `dyn`, for code that holds events of many types.

use std::any::TypeId;

use super::Event;

mod sealed {
    pub trait Sealed {}
    impl<E: super::Event> Sealed for E {}
}

/// An [`Event`] whose type is known only at run time: its name, version, topic, key
/// and Avro schema as methods, and its payload as an erased [`serde::Serialize`].
///
/// Every event is one (`&event as &dyn DynEvent`); nothing else can be. The saga
/// engine holds commands of many types this way, and codecs encode them through
/// [`Codec::encode_dyn`](crate::Codec::encode_dyn).
///
/// ```
/// use edp_core::event::DynEvent;
/// # use edp_core::Event;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Event)]
/// # #[event(name = "order.placed", topic = "orders", key = order_id)]
/// # struct OrderPlaced { order_id: String }
///
/// let event: &dyn DynEvent = &OrderPlaced { order_id: "o-1".into() };
/// assert_eq!((event.name(), event.topic()), ("order.placed", "orders"));
/// let json = serde_json::to_string(event.as_serialize())?;
/// assert_eq!(json, r#"{"order_id":"o-1"}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
pub trait DynEvent: sealed::Sealed + Send + Sync {
    /// [`Event::NAME`].
    fn name(&self) -> &'static str;
    /// [`Event::VERSION`].
    fn version(&self) -> u32;
    /// [`Event::TOPIC`].
    fn topic(&self) -> &'static str;
    /// [`Event::key`].
    fn key(&self) -> Option<String>;
    /// [`Event::avro_schema`].
    fn avro_schema(&self) -> Option<String>;
    /// The [`TypeId`] of the event's Rust type, as `TypeId::of::<E>()`: codecs that
    /// cache per type find the same entry through both paths.
    fn event_type_id(&self) -> TypeId;
    /// The payload, to serialize with any serde format.
    fn as_serialize(&self) -> &dyn erased_serde::Serialize;
}

impl<E: Event> DynEvent for E {
    fn name(&self) -> &'static str {
        E::NAME
    }
    fn version(&self) -> u32 {
        E::VERSION
    }
    fn topic(&self) -> &'static str {
        E::TOPIC
    }
    fn key(&self) -> Option<String> {
        Event::key(self)
    }
    fn avro_schema(&self) -> Option<String> {
        E::avro_schema()
    }
    fn event_type_id(&self) -> TypeId {
        TypeId::of::<E>()
    }
    fn as_serialize(&self) -> &dyn erased_serde::Serialize {
        self
    }
}
