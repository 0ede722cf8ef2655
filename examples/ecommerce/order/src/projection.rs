//! The orders read model: the `orders` table, kept from the event store's global
//! order by a checkpointed projection.

use edp_core::error::BoxError;
use edp_core::event_sourcing::Recorded;
use edp_sql::event_store::SqlProjection;
use sqlx::Transaction;

use crate::aggregate::OrderEvent;
use crate::store::{Completion, Order, OrderDb, OrderStatus};

// ANCHOR: projection
/// Keeps the `orders` table (what `GET /v1/orders` lists) from the order events.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrdersView;

impl<DB: OrderDb> SqlProjection<DB> for OrdersView {
    type Event = OrderEvent;

    fn name(&self) -> &str {
        "orders-view"
    }

    async fn apply(
        &self,
        tx: &mut Transaction<'static, DB>,
        event: &Recorded<OrderEvent>,
    ) -> Result<(), BoxError> {
        match &event.event {
            OrderEvent::Placed(e) => {
                let order = Order {
                    id: e.order_id.clone(),
                    customer_id: e.customer_id.clone(),
                    items: e.items.clone(),
                    total_cents: e.total_cents,
                    status: OrderStatus::Pending,
                    payment_id: None,
                    cancellation_reason: None,
                };
                DB::insert(&mut **tx, &order).await?;
            }
            OrderEvent::Confirmed(e) => {
                let done = Completion::Confirmed {
                    payment_id: e.payment_id.clone().unwrap_or_default(),
                };
                DB::finish(&mut **tx, &e.order_id, &done).await?;
            }
            OrderEvent::Cancelled(e) => {
                let done = Completion::Cancelled {
                    reason: e.reason.clone(),
                };
                DB::finish(&mut **tx, &e.order_id, &done).await?;
            }
        }
        Ok(())
    }

    async fn reset(&self, tx: &mut Transaction<'static, DB>) -> Result<(), BoxError> {
        DB::clear(&mut **tx).await?;
        Ok(())
    }
}
// ANCHOR_END: projection
