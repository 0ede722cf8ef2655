//! The order service's event handlers: payments settle pending orders.
//!
//! Each handler runs behind the inbox: the order's new state, the event it
//! publishes (through the outbox) and the record that this payment event was applied
//! commit in one transaction. A redelivered payment event is acknowledged without
//! effects, and a crash between the write and the ack loses nothing.

use ecommerce_contracts::{OrderCancelled, OrderConfirmed, PaymentFailed, PaymentSucceeded};
use edp_core::error::{BoxError, permanent};
use edp_core::{Codec, Context};
use edp_sql::inbox::InboxTx;
use edp_sql::outbox::Outbox;

use crate::store::{Completion, Order, OrderDb, OrderStore};

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

// ANCHOR: on_payment_succeeded
/// `PaymentSucceeded` -> the order is `CONFIRMED` and `OrderConfirmed` is published.
///
/// Events for orders that are final already change nothing.
pub async fn on_payment_succeeded<DB: OrderDb, C: Codec>(
    outbox: Outbox<C>,
    ctx: Context<C>,
    mut tx: InboxTx<DB>,
    event: PaymentSucceeded,
) -> Result<(), BoxError> {
    let Some(order) = pending_order(&mut tx, &event.order_id).await? else {
        tx.commit().await?; // records the event as applied: it changed nothing
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
    let confirmed = Completion::Confirmed {
        payment_id: event.payment_id,
    };
    if OrderStore::complete(&mut tx, &order.id, &confirmed).await? {
        let confirmed = OrderConfirmed {
            order_id: order.id.clone(),
        };
        outbox
            .add_caused_by(&mut tx, &confirmed, ctx.envelope())
            .await?;
    }
    tx.commit().await?; // the order, its event and the inbox record, or none
    tracing::info!(order_id = %order.id, correlation_id = %ctx.correlation_id(), "order confirmed");
    Ok(())
}
// ANCHOR_END: on_payment_succeeded

/// `PaymentFailed` -> the order is `CANCELLED` and `OrderCancelled` is published.
///
/// Events for orders that are final already change nothing.
pub async fn on_payment_failed<DB: OrderDb, C: Codec>(
    outbox: Outbox<C>,
    ctx: Context<C>,
    mut tx: InboxTx<DB>,
    event: PaymentFailed,
) -> Result<(), BoxError> {
    let Some(order) = pending_order(&mut tx, &event.order_id).await? else {
        tx.commit().await?;
        return Ok(());
    };
    let cancelled = Completion::Cancelled {
        reason: event.reason.clone(),
    };
    if OrderStore::complete(&mut tx, &order.id, &cancelled).await? {
        let cancelled = OrderCancelled {
            order_id: order.id.clone(),
            reason: event.reason,
        };
        outbox
            .add_caused_by(&mut tx, &cancelled, ctx.envelope())
            .await?;
    }
    tx.commit().await?;
    tracing::info!(order_id = %order.id, correlation_id = %ctx.correlation_id(), "order cancelled");
    Ok(())
}

/// The order if it is pending; `None` (with a log line) if it is final already.
async fn pending_order<DB: OrderDb>(
    tx: &mut InboxTx<DB>,
    id: &str,
) -> Result<Option<Order>, BoxError> {
    match OrderStore::get_in(tx, id).await? {
        None => Err(permanent(UnknownOrder(id.to_owned()))),
        Some(order) if order.status.is_final() => {
            tracing::debug!(order_id = %id, status = %order.status, "order is final already; late payment event ignored");
            Ok(None)
        }
        Some(order) => Ok(Some(order)),
    }
}
