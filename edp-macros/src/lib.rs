//! Derive macros for [edp](https://docs.rs/edp-core). Use them through `edp-core`,
//! which re-exports them behind its default `derive` feature:
//!
//! ```
//! use edp_core::Event;
//!
//! #[derive(serde::Serialize, serde::Deserialize, Event)]
//! #[event(name = "order.placed", version = 1, topic = "orders", key = order_id)]
//! struct OrderPlaced { order_id: String }
//! ```

mod event;

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
/// | `crate = "path::to::edp_core"` | where `edp_core` is, when renamed | `::edp_core` |
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    event::derive(&input).into()
}
