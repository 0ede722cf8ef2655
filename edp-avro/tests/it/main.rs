//! edp-avro integration tests: one binary, a module per area.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod book;
mod codec;
mod dead_letter;
mod registry;

use edp_avro::{AvroCodec, SchemaRegistryClient};
use edp_schema_registry::EmbeddedRegistry;

/// A codec on `registry`, with its own caches.
pub fn codec(registry: &EmbeddedRegistry) -> AvroCodec {
    AvroCodec::new(SchemaRegistryClient::new(&registry.url()).unwrap())
}

/// The reference event.
pub fn placed(coupon: Option<&str>) -> ecommerce_contracts::OrderPlaced {
    ecommerce_contracts::OrderPlaced {
        order_id: "o-1".into(),
        customer_id: "c-1".into(),
        items: vec![ecommerce_contracts::OrderLine {
            product_id: "sku-1".into(),
            quantity: 2,
            unit_price_cents: 1500,
        }],
        total_cents: 3000,
        coupon: coupon.map(str::to_owned),
    }
}
