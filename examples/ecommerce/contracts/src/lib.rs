//! The events the ecommerce services share: the published language between them.
//!
//! Every service depends on this crate and on nothing of another service. An event is
//! a plain struct with `#[derive(Event)]`: a stable name, a schema version, the topic it
//! is published to, and its partition key. All of them are keyed by `order_id`, so the
//! events of one order stay in order on every topic.
//!
//! | event | topic | published by | consumed by |
//! |---|---|---|---|
//! | [`OrderPlaced`] | `orders` | order | order (starts the placement saga), notification |
//! | [`ReserveStock`], [`ReleaseStock`] | `stock-commands` | order (saga) | product |
//! | [`StockReserved`], [`StockRejected`] | `stock` | product | order (saga) |
//! | [`AuthorizePayment`], [`VoidPayment`] | `payment-commands` | order (saga) | payment |
//! | [`PaymentSucceeded`], [`PaymentFailed`] | `payments` | payment | order (saga) |
//! | [`ConfirmOrder`], [`CancelOrder`] | `order-commands` | order (saga) | order |
//! | [`OrderConfirmed`] | `orders` | order | order (saga), notification |
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
//!     coupon: None,
//! };
//! assert_eq!(OrderPlaced::NAME, "order.placed");
//! assert_eq!(OrderPlaced::TOPIC, "orders");
//! assert_eq!(placed.key().as_deref(), Some("o-1"));
//! ```
//!
//! Names and payloads are a contract: never change a published event's meaning. Add
//! optional fields freely; anything else is a new `version`.
//!
//! Each event also derives its Avro schema (`#[derive(AvroSchema)]`, `#[event(avro)]`).
//! Every version ever published is committed as `schemas/ecommerce/<name>.v<N>.avsc`;
//! this crate's tests check that each event's derived schema is its latest committed
//! version and can read every earlier one. After changing an event, run
//! `cargo run -p ecommerce-contracts --example schemas -- check` (or `write`, to add
//! the new version's file).

use edp_core::{AvroSchema, Event};
use serde::{Deserialize, Serialize};

// ANCHOR: order_placed
/// A customer placed an order; it waits for payment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, AvroSchema)]
#[event(name = "order.placed", version = 2, topic = "orders", key = order_id, avro)]
#[avro(namespace = "ecommerce.order")]
pub struct OrderPlaced {
    /// The order.
    pub order_id: String,
    /// Who placed it.
    pub customer_id: String,
    /// What was ordered; never empty.
    pub items: Vec<OrderLine>,
    /// The sum of `quantity * unit_price_cents` over the items, in cents.
    pub total_cents: u64,
    // ANCHOR: coupon
    /// The coupon code the customer entered, if any. Added in version 2: optional
    /// with default null, so v2 readers read v1 data as `None` and v1 readers skip it.
    pub coupon: Option<String>,
    // ANCHOR_END: coupon
}

/// One line of an order: a product, how many, and the price of one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, AvroSchema)]
#[event(name = "payment.succeeded", version = 1, topic = "payments", key = order_id, avro)]
#[avro(namespace = "ecommerce.payment")]
pub struct PaymentSucceeded {
    /// The order paid for.
    pub order_id: String,
    /// The payment, as the payment service knows it.
    pub payment_id: String,
    /// The amount charged, in cents.
    pub amount_cents: u64,
}

/// The payment of an order was declined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, AvroSchema)]
#[event(name = "payment.failed", version = 1, topic = "payments", key = order_id, avro)]
#[avro(namespace = "ecommerce.payment")]
pub struct PaymentFailed {
    /// The order.
    pub order_id: String,
    /// Why, for people.
    pub reason: String,
}

/// An order was paid and is confirmed: a final state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, AvroSchema)]
#[event(name = "order.confirmed", version = 2, topic = "orders", key = order_id, avro)]
#[avro(namespace = "ecommerce.order")]
pub struct OrderConfirmed {
    /// The order.
    pub order_id: String,
    /// The payment that paid it. Added in version 2 (the order became event-sourced,
    /// and its events carry all of its state): v1 data reads as `None`.
    #[serde(default)]
    pub payment_id: Option<String>,
}

/// An order was cancelled: a final state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, AvroSchema)]
#[event(name = "order.cancelled", version = 1, topic = "orders", key = order_id, avro)]
#[avro(namespace = "ecommerce.order")]
pub struct OrderCancelled {
    /// The order.
    pub order_id: String,
    /// Why, for people.
    pub reason: String,
}

/// Reserve the stock of an order's lines, all or none (a command of the placement
/// saga to the product service).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, AvroSchema)]
#[event(name = "stock.reserve", version = 1, topic = "stock-commands", key = order_id, avro)]
#[avro(namespace = "ecommerce.product")]
pub struct ReserveStock {
    /// The order the stock is for.
    pub order_id: String,
    /// What to reserve.
    pub items: Vec<OrderLine>,
}

/// Give back what was reserved for an order (the compensation of [`ReserveStock`]).
/// Idempotent, and final: a reservation that arrives after it is rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, AvroSchema)]
#[event(name = "stock.release", version = 1, topic = "stock-commands", key = order_id, avro)]
#[avro(namespace = "ecommerce.product")]
pub struct ReleaseStock {
    /// The order.
    pub order_id: String,
}

/// The stock of every line of an order is reserved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, AvroSchema)]
#[event(name = "stock.reserved", version = 1, topic = "stock", key = order_id, avro)]
#[avro(namespace = "ecommerce.product")]
pub struct StockReserved {
    /// The order.
    pub order_id: String,
}

/// The stock of an order could not be reserved: nothing was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, AvroSchema)]
#[event(name = "stock.rejected", version = 1, topic = "stock", key = order_id, avro)]
#[avro(namespace = "ecommerce.product")]
pub struct StockRejected {
    /// The order.
    pub order_id: String,
    /// Why, for people.
    pub reason: String,
}

/// Authorize the payment of an order (a command of the placement saga).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, AvroSchema)]
#[event(name = "payment.authorize", version = 1, topic = "payment-commands", key = order_id, avro)]
#[avro(namespace = "ecommerce.payment")]
pub struct AuthorizePayment {
    /// The order.
    pub order_id: String,
    /// Who pays.
    pub customer_id: String,
    /// How much, in cents.
    pub amount_cents: u64,
}

/// Void the payment of an order (the compensation of [`AuthorizePayment`]).
/// Idempotent, and final: an authorization that arrives after it is declined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, AvroSchema)]
#[event(name = "payment.void", version = 1, topic = "payment-commands", key = order_id, avro)]
#[avro(namespace = "ecommerce.payment")]
pub struct VoidPayment {
    /// The order.
    pub order_id: String,
}

/// Confirm an order: its stock is reserved and its payment authorized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, AvroSchema)]
#[event(name = "order.confirm", version = 1, topic = "order-commands", key = order_id, avro)]
#[avro(namespace = "ecommerce.order")]
pub struct ConfirmOrder {
    /// The order.
    pub order_id: String,
    /// The payment that paid it.
    pub payment_id: String,
}

/// Cancel an order: its placement failed and what it reserved was given back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, AvroSchema)]
#[event(name = "order.cancel", version = 1, topic = "order-commands", key = order_id, avro)]
#[avro(namespace = "ecommerce.order")]
pub struct CancelOrder {
    /// The order.
    pub order_id: String,
    /// Why, for people.
    pub reason: String,
}

/// One contract event's Avro schema, as its Rust type derives it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedSchema {
    /// The event name, [`Event::NAME`].
    pub event: &'static str,
    /// The schema version, [`Event::VERSION`].
    pub version: u32,
    /// The schema's JSON text.
    pub schema: String,
}

/// The Avro schema of every contract event, derived from its Rust type: what the
/// schema-evolution checks compare with the committed `.avsc` files.
///
/// ```
/// let schemas = ecommerce_contracts::avro_schemas();
/// assert_eq!(schemas.len(), 13);
/// assert_eq!((schemas[0].event, schemas[0].version), ("order.placed", 2));
/// ```
pub fn avro_schemas() -> Vec<DerivedSchema> {
    fn of<E: Event>() -> DerivedSchema {
        DerivedSchema {
            event: E::NAME,
            version: E::VERSION,
            schema: E::avro_schema().unwrap_or_default(),
        }
    }
    vec![
        of::<OrderPlaced>(),
        of::<PaymentSucceeded>(),
        of::<PaymentFailed>(),
        of::<OrderConfirmed>(),
        of::<OrderCancelled>(),
        of::<ReserveStock>(),
        of::<ReleaseStock>(),
        of::<StockReserved>(),
        of::<StockRejected>(),
        of::<AuthorizePayment>(),
        of::<VoidPayment>(),
        of::<ConfirmOrder>(),
        of::<CancelOrder>(),
    ]
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
        assert_eq!(OrderConfirmed::VERSION, 2);
    }

    #[test]
    fn order_placed_json_is_the_documented_shape() -> Result<(), serde_json::Error> {
        let json = r#"{"order_id":"o-1","customer_id":"c-1","items":[{"product_id":"p","quantity":2,"unit_price_cents":1500}],"total_cents":3000,"coupon":null}"#;
        let placed: OrderPlaced = serde_json::from_str(json)?;
        assert_eq!(placed.items[0].total_cents(), Some(3000));
        assert_eq!(serde_json::to_string(&placed)?, json);
        // v1 JSON has no coupon: read as `None`.
        let v1 = r#"{"order_id":"o-1","customer_id":"c-1","items":[],"total_cents":0}"#;
        assert_eq!(serde_json::from_str::<OrderPlaced>(v1)?.coupon, None);
        Ok(())
    }
}
