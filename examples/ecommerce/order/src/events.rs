//! The order service's event handlers: `OrderPlaced` starts the placement saga, the
//! saga's `ConfirmOrder` and `CancelOrder` move the order.
//!
//! The saga's replies go to its engine ([`edp_core::saga::SagaEngine::reply_handler`]),
//! which records each with the transition it causes and the commands it sends, in one
//! transaction; the order's own commands are idempotent by the aggregate's state (a
//! second `ConfirmOrder` records nothing).

use ecommerce_contracts::{CancelOrder, ConfirmOrder, OrderPlaced};
use edp_core::error::{BoxError, permanent};
use edp_core::event_sourcing::{CommandError, Metadata};
use edp_core::{Codec, Context};
use uuid::Uuid;

use crate::aggregate::{OrderCommand, OrderError};
use crate::book::OrderBook;
use crate::saga::PlaceOrder;
use crate::store::OrderDb;

/// A command names an order this service does not know.
///
/// Handling: permanent; the command goes to the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("command for unknown order `{0}`; check the sender, the command is dead-lettered")]
pub struct UnknownOrder(pub String);

// ANCHOR: start_saga
/// `OrderPlaced` -> the placement saga of the order starts (its id is the order's);
/// a redelivered event finds it started and changes nothing.
pub async fn on_order_placed<DB: OrderDb, C: Codec>(
    book: OrderBook<DB, C>,
    ctx: Context<C>,
    placed: OrderPlaced,
) -> Result<(), BoxError> {
    let id = Uuid::parse_str(&placed.order_id)
        .map_err(|_| permanent(UnknownOrder(placed.order_id.clone())))?;
    let saga = PlaceOrder {
        order_id: placed.order_id,
        customer_id: placed.customer_id,
        items: placed.items,
        total_cents: placed.total_cents,
        payment_id: None,
        failure: None,
    };
    let status = book
        .placements
        .start(id, saga, Some(ctx.envelope()))
        .await?;
    tracing::info!(order_id = %id, ?status, correlation_id = %ctx.correlation_id(), "placement saga started");
    Ok(())
}
// ANCHOR_END: start_saga

/// `ConfirmOrder` -> `OrderConfirmed` (published with the order's events).
pub async fn on_confirm_order<DB: OrderDb, C: Codec>(
    book: OrderBook<DB, C>,
    ctx: Context<C>,
    command: ConfirmOrder,
) -> Result<(), BoxError> {
    let confirm = OrderCommand::Confirm {
        payment_id: command.payment_id,
    };
    execute(&book, &ctx, &command.order_id, confirm).await
}

/// `CancelOrder` -> `OrderCancelled`.
pub async fn on_cancel_order<DB: OrderDb, C: Codec>(
    book: OrderBook<DB, C>,
    ctx: Context<C>,
    command: CancelOrder,
) -> Result<(), BoxError> {
    let cancel = OrderCommand::Cancel {
        reason: command.reason,
    };
    execute(&book, &ctx, &command.order_id, cancel).await
}

async fn execute<DB: OrderDb, C: Codec>(
    book: &OrderBook<DB, C>,
    ctx: &Context<C>,
    id: &str,
    command: OrderCommand,
) -> Result<(), BoxError> {
    // The events carry the command's correlation (the saga's id): the saga finds
    // `OrderConfirmed` by it.
    let metadata = Metadata::caused_by(ctx);
    match book
        .repository
        .execute_retrying(id, command, &metadata, 10)
        .await
    {
        Ok(done) => {
            tracing::info!(order_id = %id, events = done.events.len(), version = done.version, "order command applied");
            Ok(())
        }
        Err(CommandError::Rejected(OrderError::Unknown(_))) => {
            Err(permanent(UnknownOrder(id.to_owned())))
        }
        Err(CommandError::Rejected(e)) => Err(permanent(e)),
        Err(CommandError::Store(e)) => Err(e.into()),
    }
}
