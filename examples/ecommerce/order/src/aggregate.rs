//! The order, event-sourced: its state is the fold of its events, which are the
//! contract events other services read.

use ecommerce_contracts::{OrderCancelled, OrderConfirmed, OrderPlaced};
use edp_core::event_sourcing::{Aggregate, EventSet};
use serde::{Deserialize, Serialize};

use crate::store::{Order, OrderStatus};

// ANCHOR: aggregate
/// What an order records: the contract events, published through the outbox as they
/// are appended.
#[derive(Debug, Clone, PartialEq, EventSet)]
pub enum OrderEvent {
    /// It was placed.
    Placed(OrderPlaced),
    /// It was confirmed (stock reserved, payment authorized).
    Confirmed(OrderConfirmed),
    /// It was cancelled (and what it reserved given back).
    Cancelled(OrderCancelled),
}

/// What an order can be asked.
#[derive(Debug, Clone)]
pub enum OrderCommand {
    /// Place it (the API, after validation).
    Place(Order),
    /// Confirm it (the placement saga, once paid).
    Confirm {
        /// The payment.
        payment_id: String,
    },
    /// Cancel it (the placement saga, once compensated).
    Cancel {
        /// Why.
        reason: String,
    },
}

/// Why an order refuses a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// An order with this id exists already.
    #[error("order `{0}` exists already")]
    Exists(String),
    /// There is no such order.
    #[error("order `{0}` does not exist")]
    Unknown(String),
    /// The order ended otherwise already.
    #[error("order `{id}` is {status} already")]
    Final {
        /// The order.
        id: String,
        /// How it ended.
        status: OrderStatus,
    },
}

/// An order's state: `None` until placed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OrderAggregate(pub Option<Order>);

impl Aggregate for OrderAggregate {
    const KIND: &'static str = "order";
    type Command = OrderCommand;
    type Event = OrderEvent;
    type Error = OrderError;

    fn handle(&self, command: OrderCommand) -> Result<Vec<OrderEvent>, OrderError> {
        match (&self.0, command) {
            (Some(order), OrderCommand::Place(_)) => Err(OrderError::Exists(order.id.clone())),
            (None, OrderCommand::Place(order)) => Ok(vec![
                OrderPlaced {
                    order_id: order.id,
                    customer_id: order.customer_id,
                    items: order.items,
                    total_cents: order.total_cents,
                    coupon: None,
                }
                .into(),
            ]),
            (None, OrderCommand::Confirm { .. } | OrderCommand::Cancel { .. }) => {
                Err(OrderError::Unknown(String::new()))
            }
            (Some(order), OrderCommand::Confirm { payment_id }) => match order.status {
                OrderStatus::Pending => Ok(vec![
                    OrderConfirmed {
                        order_id: order.id.clone(),
                        payment_id: Some(payment_id),
                    }
                    .into(),
                ]),
                OrderStatus::Confirmed => Ok(Vec::new()), // again: nothing new
                status => Err(OrderError::Final {
                    id: order.id.clone(),
                    status,
                }),
            },
            (Some(order), OrderCommand::Cancel { reason }) => match order.status {
                OrderStatus::Pending => Ok(vec![
                    OrderCancelled {
                        order_id: order.id.clone(),
                        reason,
                    }
                    .into(),
                ]),
                OrderStatus::Cancelled => Ok(Vec::new()),
                status => Err(OrderError::Final {
                    id: order.id.clone(),
                    status,
                }),
            },
        }
    }

    fn apply(&mut self, event: &OrderEvent) {
        match event {
            OrderEvent::Placed(e) => {
                self.0 = Some(Order {
                    id: e.order_id.clone(),
                    customer_id: e.customer_id.clone(),
                    items: e.items.clone(),
                    total_cents: e.total_cents,
                    status: OrderStatus::Pending,
                    payment_id: None,
                    cancellation_reason: None,
                });
            }
            OrderEvent::Confirmed(e) => {
                if let Some(order) = &mut self.0 {
                    order.status = OrderStatus::Confirmed;
                    order.payment_id.clone_from(&e.payment_id);
                }
            }
            OrderEvent::Cancelled(e) => {
                if let Some(order) = &mut self.0 {
                    order.status = OrderStatus::Cancelled;
                    order.cancellation_reason = Some(e.reason.clone());
                }
            }
        }
    }
}
// ANCHOR_END: aggregate

#[cfg(test)]
mod tests {
    use ecommerce_contracts::OrderLine;
    use edp_core::testkit::aggregate::given;

    use super::*;

    fn order() -> Order {
        Order {
            id: "o-1".into(),
            customer_id: "c-1".into(),
            items: vec![OrderLine {
                product_id: "sku-1".into(),
                quantity: 2,
                unit_price_cents: 1_500,
            }],
            total_cents: 3_000,
            status: OrderStatus::Pending,
            payment_id: None,
            cancellation_reason: None,
        }
    }

    fn placed() -> OrderEvent {
        let o = order();
        OrderPlaced {
            order_id: o.id,
            customer_id: o.customer_id,
            items: o.items,
            total_cents: 3_000,
            coupon: None,
        }
        .into()
    }

    // ANCHOR: given_when_then
    #[test]
    fn a_placed_order_is_confirmed_once_and_then_cannot_be_cancelled() {
        let confirmed: OrderEvent = OrderConfirmed {
            order_id: "o-1".into(),
            payment_id: Some("p-1".into()),
        }
        .into();
        given::<OrderAggregate>([placed()])
            .when(OrderCommand::Confirm {
                payment_id: "p-1".into(),
            })
            .then([confirmed.clone()]);
        // Confirmed again (a redelivered command): nothing new.
        given::<OrderAggregate>([placed(), confirmed.clone()])
            .when(OrderCommand::Confirm {
                payment_id: "p-1".into(),
            })
            .then([]);
        let refused = given::<OrderAggregate>([placed(), confirmed])
            .when(OrderCommand::Cancel {
                reason: "late".into(),
            })
            .then_error();
        assert_eq!(
            refused,
            OrderError::Final {
                id: "o-1".into(),
                status: OrderStatus::Confirmed
            }
        );
    }
    // ANCHOR_END: given_when_then

    #[test]
    fn an_order_is_placed_once() {
        let state = given::<OrderAggregate>([])
            .when(OrderCommand::Place(order()))
            .then([placed()]);
        assert_eq!(state.0, Some(order()));
        let again = given::<OrderAggregate>([placed()])
            .when(OrderCommand::Place(order()))
            .then_error();
        assert_eq!(again, OrderError::Exists("o-1".into()));
    }
}
