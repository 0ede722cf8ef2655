//! Derive macros for [edp](https://docs.rs/edp-core): `#[derive(Event)]` and
//! `#[derive(AvroSchema)]`. Use them through `edp-core`,
//! which re-exports them behind its default `derive` feature:
//!
//! ```
//! use edp_core::Event;
//!
//! #[derive(serde::Serialize, serde::Deserialize, Event)]
//! #[event(name = "order.placed", version = 1, topic = "orders", key = order_id)]
//! struct OrderPlaced { order_id: String }
//! ```

mod avro;
mod event;
mod event_set;

use proc_macro::TokenStream;

/// Implements `edp_core::Event`.
///
/// Attributes, inside `#[event(...)]`:
///
/// | attribute | meaning | default |
/// |---|---|---|
/// | `name = "order.placed"` | the stable event type name (required) | — |
/// | `version = 2` | the payload's schema version, at least 1 | `1` |
/// | `topic = "orders"` | the default topic | the name |
/// | `key = order_id` | the field whose `Display` value is the partition key | no key |
/// | `avro` | `Event::avro_schema` returns the type's `AvroSchema` (derive it too) | no schema |
/// | `crate = "path::to::edp_core"` | where `edp_core` is, when renamed | `::edp_core` |
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    event::derive(&input).into()
}

/// Implements `edp_core::codec::avro::AvroSchema`: the Avro schema of a struct, from
/// its fields, the way serde writes them.
///
/// Attributes, inside `#[avro(...)]` on the struct:
///
/// | attribute | meaning | default |
/// |---|---|---|
/// | `name = "OrderPlaced"` | the record's name | the struct's name |
/// | `namespace = "ecommerce.order"` | the record's namespace | the enclosing record's |
/// | `crate = "path::to::edp_core"` | where `edp_core` is, when renamed | `::edp_core` |
///
/// On fields, `#[serde(rename = "...")]`, `#[serde(alias = "...")]` and
/// `#[serde(default)]` / `#[serde(default = "path")]` are honoured; serde attributes
/// that change the shape serde writes are compile errors. Doc comments become `doc`.
/// See `edp_core::codec::avro` for how types map.
#[proc_macro_derive(AvroSchema, attributes(avro))]
pub fn derive_avro_schema(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    avro::derive(&input).into()
}

/// Implements `edp_core::event_sourcing::EventSet` on an enum whose variants each hold
/// one event (a type implementing `edp_core::Event`), and `From<Event>` for each.
///
/// Two variants holding events of one name fail to compile. The one attribute,
/// `#[event_set(crate = "path::to::edp_core")]`, says where `edp_core` is when renamed.
///
/// ```
/// use edp_core::Event;
/// use edp_core::event_sourcing::EventSet;
///
/// #[derive(serde::Serialize, serde::Deserialize, Event)]
/// #[event(name = "order.placed", topic = "orders")]
/// struct OrderPlaced { order_id: String }
///
/// #[derive(EventSet)]
/// enum OrderEvent { Placed(OrderPlaced) }
///
/// assert_eq!(OrderEvent::NAMES, ["order.placed"]);
/// ```
#[proc_macro_derive(EventSet, attributes(event_set))]
pub fn derive_event_set(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    event_set::derive(&input).into()
}
