//! The events the ecommerce services share: the published language between them.
//!
//! Every service depends on this crate and on nothing of another service. An event is
//! a plain struct with `#[derive(Event)]`: a stable name, a schema version, the topic it
//! is published to, and its partition key. All of them are keyed by `order_id`, so the
//! events of one order stay in order on every topic.
//!
//! | event | topic | published by | consumed by |
//! |---|---|---|---|
//! | [`OrderPlaced`] | `orders` | order | payment, notification |
//! | [`PaymentSucceeded`] | `payments` | payment | order |
//! | [`PaymentFailed`] | `payments` | payment | order |
//! | [`OrderConfirmed`] | `orders` | order | notification |
//! | [`OrderCancelled`] | `orders` | order | notification |
//!
//! ```
//! use ecommerce_contracts::{OrderLine, OrderPlaced};
//! use edp_core::Event;
//!
//! let placed = OrderPlaced {
//!     order_id: "o-1".into(),
//!     customer_id: "c-1".into(),
//!     items: vec![OrderLine { product_id: "sku-1".into(), quantity: 2, unit_price_cents: 1500 }],
//!     total_cents: 3000,
//! };
//! assert_eq!(OrderPlaced::NAME, "order.placed");
//! assert_eq!(OrderPlaced::TOPIC, "orders");
//! assert_eq!(placed.key().as_deref(), Some("o-1"));
//! ```
//!
//! Names and payloads are a contract: never change a published event's meaning. Add
//! optional fields freely; anything else is a new `version`.

use edp_core::Event;
use serde::{Deserialize, Serialize};

// ANCHOR: order_placed
/// A customer placed an order; it waits for payment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "order.placed", version = 1, topic = "orders", key = order_id)]
pub struct OrderPlaced {
    /// The order.
    pub order_id: String,
    /// Who placed it.
    pub customer_id: String,
    /// What was ordered; never empty.
    pub items: Vec<OrderLine>,
    /// The sum of `quantity * unit_price_cents` over the items, in cents.
    pub total_cents: u64,
}

/// One line of an order: a product, how many, and the price of one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// The product.
    pub product_id: String,
    /// How many; at least 1.
    pub quantity: u32,
    /// The price of one, in cents; at least 1.
    pub unit_price_cents: u64,
}
// ANCHOR_END: order_placed

/// The payment of an order went through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "payment.succeeded", version = 1, topic = "payments", key = order_id)]
pub struct PaymentSucceeded {
    /// The order paid for.
    pub order_id: String,
    /// The payment, as the payment service knows it.
    pub payment_id: String,
    /// The amount charged, in cents.
    pub amount_cents: u64,
}

/// The payment of an order was declined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "payment.failed", version = 1, topic = "payments", key = order_id)]
pub struct PaymentFailed {
    /// The order.
    pub order_id: String,
    /// Why, for people.
    pub reason: String,
}

/// An order was paid and is confirmed: a final state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "order.confirmed", version = 1, topic = "orders", key = order_id)]
pub struct OrderConfirmed {
    /// The order.
    pub order_id: String,
}

/// An order was cancelled: a final state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "order.cancelled", version = 1, topic = "orders", key = order_id)]
pub struct OrderCancelled {
    /// The order.
    pub order_id: String,
    /// Why, for people.
    pub reason: String,
}

impl OrderLine {
    /// `quantity * unit_price_cents`, or `None` if it does not fit in a `u64`.
    pub fn total_cents(&self) -> Option<u64> {
        self.unit_price_cents.checked_mul(u64::from(self.quantity))
    }
}

/// Formats cents as a decimal amount: `50_000` -> `"500.00"`.
///
/// ```
/// assert_eq!(ecommerce_contracts::format_cents(123_456), "1234.56");
/// assert_eq!(ecommerce_contracts::format_cents(5), "0.05");
/// ```
pub fn format_cents(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_keyed_by_order() {
        let failed = PaymentFailed {
            order_id: "o-9".into(),
            reason: "declined".into(),
        };
        assert_eq!(failed.key().as_deref(), Some("o-9"));
        assert_eq!(PaymentFailed::TOPIC, "payments");
        assert_eq!(OrderCancelled::NAME, "order.cancelled");
        assert_eq!(OrderConfirmed::VERSION, 1);
    }

    #[test]
    fn order_placed_json_is_the_documented_shape() -> Result<(), serde_json::Error> {
        let json = r#"{"order_id":"o-1","customer_id":"c-1","items":[{"product_id":"p","quantity":2,"unit_price_cents":1500}],"total_cents":3000}"#;
        let placed: OrderPlaced = serde_json::from_str(json)?;
        assert_eq!(placed.items[0].total_cents(), Some(3000));
        assert_eq!(serde_json::to_string(&placed)?, json);
        Ok(())
    }

    /// Every contract event has `schemas/ecommerce/<name>.v<version>.avsc` with the
    /// same top-level fields, so the Avro contract cannot drift from the Rust types.
    #[test]
    fn avro_schemas_match_the_events() {
        fn check<E: Event>(sample: &E) {
            // The runner's value, not the compile-time one: a test binary built from
            // another checkout sharing the target directory must read this checkout.
            let root = std::env::var("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
            let path = format!(
                "{root}/../../../schemas/ecommerce/{}.v{}.avsc",
                E::NAME,
                E::VERSION
            );
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
            let mut in_schema: Vec<String> = schema["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["name"].as_str().unwrap().to_owned())
                .collect();
            let value = serde_json::to_value(sample).unwrap();
            let mut in_rust: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
            in_schema.sort();
            in_rust.sort();
            assert_eq!(in_schema, in_rust, "{path} and the Rust type differ");
        }
        let id = || "o-1".to_owned();
        check(&OrderPlaced {
            order_id: id(),
            customer_id: "c-1".into(),
            items: vec![],
            total_cents: 0,
        });
        check(&PaymentSucceeded {
            order_id: id(),
            payment_id: "p-1".into(),
            amount_cents: 1,
        });
        check(&PaymentFailed {
            order_id: id(),
            reason: "r".into(),
        });
        check(&OrderConfirmed { order_id: id() });
        check(&OrderCancelled {
            order_id: id(),
            reason: "r".into(),
        });
    }
}
