//! The payment service of the ecommerce example: for every `OrderPlaced` it decides
//! the payment by one rule ([`decide`]) and publishes `PaymentSucceeded` or
//! `PaymentFailed`.
//!
//! There is no payment provider yet: the rule stands in for one, so that the example
//! is deterministic (the demo and the tests know each order's outcome in advance).
//!
//! ```
//! use ecommerce_contracts::{OrderLine, OrderPlaced};
//! use ecommerce_payment::{Decision, decide};
//!
//! let order = OrderPlaced {
//!     order_id: "o-1".into(),
//!     customer_id: "c-1".into(),
//!     items: vec![OrderLine { product_id: "tv".into(), quantity: 1, unit_price_cents: 79_900 }],
//!     total_cents: 79_900,
//!     coupon: None,
//! };
//! assert!(matches!(decide(&order), Decision::Declined { .. }));
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use ecommerce_contracts::{OrderPlaced, PaymentFailed, PaymentSucceeded, format_cents};
use edp_core::error::BoxError;
use edp_core::middleware::retry::{RetryLayer, RetryPolicy};
use edp_core::transport::Transport;
use edp_core::{Codec, Context, JsonCodec, Service};
use uuid::Uuid;

/// The service's name: its consumer group and the `source` of its events.
pub const NAME: &str = "payment";

/// Orders with a total above this many cents (500.00) are declined.
pub const DECLINE_ABOVE_CENTS: u64 = 50_000;

/// What [`decide`] says about an order's payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Charge the order's total.
    Approved,
    /// Do not charge.
    Declined {
        /// Why, for people.
        reason: String,
    },
}

impl Decision {
    /// Whether the payment goes through.
    pub fn is_approved(&self) -> bool {
        matches!(self, Self::Approved)
    }
}

// ANCHOR: payment_rule
/// The payment rule: a payment is declined when the order total is above
/// [`DECLINE_ABOVE_CENTS`] (50_000 cents, 500.00); otherwise it is approved. A total of
/// exactly 500.00 is approved.
pub fn decide(order: &OrderPlaced) -> Decision {
    if order.total_cents > DECLINE_ABOVE_CENTS {
        Decision::Declined {
            reason: format!(
                "order total {} is above the limit of {}",
                format_cents(order.total_cents),
                format_cents(DECLINE_ABOVE_CENTS)
            ),
        }
    } else {
        Decision::Approved
    }
}
// ANCHOR_END: payment_rule

/// The event a payment decision is announced with.
#[derive(Debug, Clone, PartialEq)]
pub enum PaymentOutcome {
    /// Approved and charged.
    Succeeded(PaymentSucceeded),
    /// Declined.
    Failed(PaymentFailed),
}

/// The payments decided so far, one per order. Cheap to clone.
///
/// It makes the handler idempotent: an `OrderPlaced` delivered twice gets the same
/// outcome, with the same payment id, instead of a second charge.
#[derive(Debug, Clone, Default)]
pub struct Payments {
    by_order: Arc<Mutex<HashMap<String, PaymentOutcome>>>,
}

impl Payments {
    /// No payments yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decides the payment of `order` the first time; afterwards returns that first
    /// outcome again.
    pub fn settle(&self, order: &OrderPlaced) -> PaymentOutcome {
        let mut by_order = self.by_order.lock().unwrap_or_else(PoisonError::into_inner);
        by_order
            .entry(order.order_id.clone())
            .or_insert_with(|| match decide(order) {
                Decision::Approved => PaymentOutcome::Succeeded(PaymentSucceeded {
                    order_id: order.order_id.clone(),
                    payment_id: Uuid::now_v7().to_string(),
                    amount_cents: order.total_cents,
                }),
                Decision::Declined { reason } => PaymentOutcome::Failed(PaymentFailed {
                    order_id: order.order_id.clone(),
                    reason,
                }),
            })
            .clone()
    }

    /// The outcome for the order `order_id`, if decided.
    pub fn get(&self, order_id: &str) -> Option<PaymentOutcome> {
        let by_order = self.by_order.lock().unwrap_or_else(PoisonError::into_inner);
        by_order.get(order_id).cloned()
    }

    /// How many orders have a payment outcome.
    pub fn len(&self) -> usize {
        self.by_order
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether none has.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// ANCHOR: payment_handler
/// `OrderPlaced` -> `PaymentSucceeded` or `PaymentFailed`, as [`decide`] says.
///
/// A redelivered order gets the outcome it got the first time, published again (the
/// first publish may be the one that failed); the order service ignores payment
/// events for orders that are settled already.
pub async fn on_order_placed<C: Codec>(
    payments: Payments,
    ctx: Context<C>,
    order: OrderPlaced,
) -> Result<(), BoxError> {
    match payments.settle(&order) {
        PaymentOutcome::Succeeded(paid) => {
            ctx.publish(&paid).await?;
            tracing::info!(order_id = %paid.order_id, payment_id = %paid.payment_id, "payment succeeded");
        }
        PaymentOutcome::Failed(failed) => {
            ctx.publish(&failed).await?;
            tracing::info!(order_id = %failed.order_id, reason = %failed.reason, "payment failed");
        }
    }
    Ok(())
}
// ANCHOR_END: payment_handler

// ANCHOR: payment_service
/// The payment service on `transport`, recording its decisions in `payments`.
pub fn service<T: Transport>(transport: T, payments: Payments) -> Service<T> {
    service_with(transport, JsonCodec, payments)
}

/// The payment service with another codec (Avro, for example).
pub fn service_with<T: Transport, C: Codec>(
    transport: T,
    codec: C,
    payments: Payments,
) -> Service<T, C> {
    Service::builder(NAME, transport)
        .codec(codec)
        .layer(RetryLayer::new(RetryPolicy::default()))
        .handler_with(payments, on_order_placed)
        .build()
}
// ANCHOR_END: payment_service

#[cfg(test)]
mod tests {
    use ecommerce_contracts::OrderLine;

    use super::*;

    fn order(total_cents: u64) -> OrderPlaced {
        OrderPlaced {
            order_id: format!("o-{total_cents}"),
            customer_id: "c-1".into(),
            items: vec![OrderLine {
                product_id: "p".into(),
                quantity: 1,
                unit_price_cents: total_cents,
            }],
            total_cents,
            coupon: None,
        }
    }

    #[test]
    fn totals_up_to_the_limit_are_approved() {
        for total in [1, 1_500, 49_999, 50_000] {
            assert_eq!(decide(&order(total)), Decision::Approved, "total {total}");
        }
    }

    #[test]
    fn totals_above_the_limit_are_declined() {
        for total in [50_001, 79_900, u64::MAX] {
            assert!(!decide(&order(total)).is_approved(), "total {total}");
        }
        assert_eq!(
            decide(&order(50_001)),
            Decision::Declined {
                reason: "order total 500.01 is above the limit of 500.00".into()
            }
        );
    }

    #[test]
    fn an_order_is_settled_once() {
        let payments = Payments::new();
        let first = payments.settle(&order(1_000));
        let again = payments.settle(&order(1_000));
        assert_eq!(first, again);
        assert!(matches!(first, PaymentOutcome::Succeeded(ref p) if p.amount_cents == 1_000));
        assert_eq!(payments.len(), 1);
    }
}
