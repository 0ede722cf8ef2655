//! The order service's event handlers: payments settle pending orders.
//!
//! Both handlers are idempotent. The transport delivers at least once, so a payment
//! event may arrive twice (a redelivery after a crash, a retry after a failed ack).
//! A pending order is settled once; for an order that is final already the event is
//! acknowledged and nothing happens, so no second `OrderConfirmed` is published.
//!
//! Until the transactional outbox arrives, a handler publishes first and changes the
//! order second: if publishing fails, the order stays pending and the retried event
//! does both. The opposite order could leave a confirmed order whose
//! `OrderConfirmed` never left.

use ecommerce_contracts::{OrderCancelled, OrderConfirmed, PaymentFailed, PaymentSucceeded};
use edp_core::error::{BoxError, permanent};
use edp_core::{Codec, Context};

use crate::store::{Completion, Order, OrderStore};

/// A payment event names an order this service does not know.
///
/// Handling: permanent; the event goes to the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("payment event for unknown order `{0}`; check the publisher, the event is dead-lettered")]
pub struct UnknownOrder(pub String);

/// A payment's amount is not the order's total.
///
/// Handling: permanent; the order stays pending and the event goes to the
/// dead-letter topic for a person to look at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "payment `{payment_id}` of {paid} cents does not match order `{order_id}` total of {total} cents"
)]
pub struct AmountMismatch {
    /// The order.
    pub order_id: String,
    /// The payment.
    pub payment_id: String,
    /// What was paid.
    pub paid: u64,
    /// What the order costs.
    pub total: u64,
}

/// `PaymentSucceeded` -> the order is `CONFIRMED` and `OrderConfirmed` is published.
///
/// Events for orders that are final already are ignored.
pub async fn on_payment_succeeded<C: Codec>(
    orders: OrderStore,
    ctx: Context<C>,
    event: PaymentSucceeded,
) -> Result<(), BoxError> {
    let Some(order) = pending_order(&orders, &event.order_id)? else {
        return Ok(());
    };
    if event.amount_cents != order.total_cents {
        return Err(permanent(AmountMismatch {
            order_id: order.id,
            payment_id: event.payment_id,
            paid: event.amount_cents,
            total: order.total_cents,
        }));
    }
    ctx.publish(&OrderConfirmed {
        order_id: order.id.clone(),
    })
    .await?;
    settle(
        &orders,
        &order.id,
        Completion::Confirmed {
            payment_id: event.payment_id,
        },
    );
    tracing::info!(order_id = %order.id, correlation_id = %ctx.correlation_id(), "order confirmed");
    Ok(())
}

/// `PaymentFailed` -> the order is `CANCELLED` and `OrderCancelled` is published.
///
/// Events for orders that are final already are ignored.
pub async fn on_payment_failed<C: Codec>(
    orders: OrderStore,
    ctx: Context<C>,
    event: PaymentFailed,
) -> Result<(), BoxError> {
    let Some(order) = pending_order(&orders, &event.order_id)? else {
        return Ok(());
    };
    ctx.publish(&OrderCancelled {
        order_id: order.id.clone(),
        reason: event.reason.clone(),
    })
    .await?;
    settle(
        &orders,
        &order.id,
        Completion::Cancelled {
            reason: event.reason,
        },
    );
    tracing::info!(order_id = %order.id, correlation_id = %ctx.correlation_id(), "order cancelled");
    Ok(())
}

/// The order if it is pending; `None` (with a log line) if it is final already.
fn pending_order(orders: &OrderStore, id: &str) -> Result<Option<Order>, BoxError> {
    match orders.get(id) {
        None => Err(permanent(UnknownOrder(id.to_owned()))),
        Some(order) if order.status.is_final() => {
            tracing::debug!(order_id = %id, status = %order.status, "order is final already; duplicate or late payment event ignored");
            Ok(None)
        }
        Some(order) => Ok(Some(order)),
    }
}

fn settle(orders: &OrderStore, id: &str, completion: Completion) {
    // Events of one order are handled one at a time (they share a partition key); only
    // a duplicate handled at the same time (a zombie consumer after a rebalance) can
    // settle it first. Then this one published a second, equal event: at least once,
    // which the consumers downstream (notification) absorb.
    if let Err(e) = orders.complete(id, completion) {
        tracing::warn!(error = %e, "order changed while its payment event was handled");
    }
}
