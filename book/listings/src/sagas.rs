//! The Sagas chapter: order placement as a saga (reserve stock, authorize payment,
//! confirm), its participants' contracts, and a test on the paused clock.

// The chapter shows these types whole; their fields speak for themselves.
#![allow(missing_docs)]

use std::time::Duration;

use edp_core::Event;
use edp_core::error::BoxError;
use edp_core::event_sourcing::EventSet;
use edp_core::saga::{Commands, Compensation, Definition, Outcome, Retriable, Saga, Step};
use serde::{Deserialize, Serialize};

// ANCHOR: messages
// Commands the saga sends...
#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "stock.reserve", topic = "stock-commands", key = order_id)]
pub struct ReserveStock {
    pub order_id: String,
    pub sku: String,
    pub quantity: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "stock.release", topic = "stock-commands", key = order_id)]
pub struct ReleaseStock {
    pub order_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "payment.authorize", topic = "payment-commands", key = order_id)]
pub struct AuthorizePayment {
    pub order_id: String,
    pub amount_cents: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "payment.void", topic = "payment-commands", key = order_id)]
pub struct VoidPayment {
    pub order_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "order.confirm", topic = "order-commands", key = order_id)]
pub struct ConfirmOrder {
    pub order_id: String,
}

// ...and the replies it reacts to, gathered in one event set.
#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "stock.reserved", topic = "stock-replies", key = order_id)]
pub struct StockReserved {
    pub order_id: String,
    pub ok: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "payment.authorized", topic = "payment-replies", key = order_id)]
pub struct PaymentAuthorized {
    pub order_id: String,
    pub ok: bool,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "order.confirmed", topic = "order-replies", key = order_id)]
pub struct OrderConfirmed {
    pub order_id: String,
}

#[derive(Debug, Clone, EventSet)]
pub enum PlacementReply {
    Stock(StockReserved),
    Payment(PaymentAuthorized),
    Confirmed(OrderConfirmed),
}
// ANCHOR_END: messages

// ANCHOR: saga
/// The saga's data: what its steps need, and what they learn.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PlaceOrder {
    pub order_id: String,
    pub sku: String,
    pub quantity: u32,
    pub amount_cents: u64,
}

impl Saga for PlaceOrder {
    const NAME: &'static str = "place-order";
    type Reply = PlacementReply;

    fn definition() -> Definition<Self> {
        Definition::new()
            .then(ReserveStockStep)
            .then(AuthorizePaymentStep)
            .then(ConfirmOrderStep)
    }
}
// ANCHOR_END: saga

// ANCHOR: step
pub struct ReserveStockStep;

impl Step<PlaceOrder> for ReserveStockStep {
    const NAME: &'static str = "reserve_stock";
    const DEADLINE: Duration = Duration::from_secs(30); // mandatory
    type Compensation = ReleaseStockStep; // mandatory: or Pivot, or Retriable

    fn action(&self, saga: &PlaceOrder, out: &mut Commands) -> Result<(), BoxError> {
        out.send(&ReserveStock {
            order_id: saga.order_id.clone(),
            sku: saga.sku.clone(),
            quantity: saga.quantity,
        })
    }

    fn on_reply(&self, _: &mut PlaceOrder, reply: &PlacementReply) -> Outcome {
        match reply {
            PlacementReply::Stock(r) if r.ok => Outcome::Done,
            PlacementReply::Stock(_) => Outcome::Failed("out of stock".into()),
            _ => Outcome::NotMine,
        }
    }
}

#[derive(Default)]
pub struct ReleaseStockStep;

impl Compensation<PlaceOrder> for ReleaseStockStep {
    fn compensate(&self, saga: &PlaceOrder, out: &mut Commands) -> Result<(), BoxError> {
        out.send(&ReleaseStock {
            order_id: saga.order_id.clone(),
        })
    }
}
// ANCHOR_END: step

pub struct AuthorizePaymentStep;

impl Step<PlaceOrder> for AuthorizePaymentStep {
    const NAME: &'static str = "authorize_payment";
    const DEADLINE: Duration = Duration::from_secs(30);
    type Compensation = VoidPaymentStep;

    fn action(&self, saga: &PlaceOrder, out: &mut Commands) -> Result<(), BoxError> {
        out.send(&AuthorizePayment {
            order_id: saga.order_id.clone(),
            amount_cents: saga.amount_cents,
        })
    }

    fn on_reply(&self, _: &mut PlaceOrder, reply: &PlacementReply) -> Outcome {
        match reply {
            PlacementReply::Payment(p) if p.ok => Outcome::Done,
            PlacementReply::Payment(p) => Outcome::Failed(p.reason.clone()),
            _ => Outcome::NotMine,
        }
    }
}

#[derive(Default)]
pub struct VoidPaymentStep;

impl Compensation<PlaceOrder> for VoidPaymentStep {
    fn compensate(&self, saga: &PlaceOrder, out: &mut Commands) -> Result<(), BoxError> {
        out.send(&VoidPayment {
            order_id: saga.order_id.clone(),
        })
    }
}

// ANCHOR: retriable
pub struct ConfirmOrderStep;

impl Step<PlaceOrder> for ConfirmOrderStep {
    const NAME: &'static str = "confirm_order";
    const DEADLINE: Duration = Duration::from_secs(10);
    // After the payment, the order is confirmed, however long it takes.
    type Compensation = Retriable;

    fn action(&self, saga: &PlaceOrder, out: &mut Commands) -> Result<(), BoxError> {
        out.send(&ConfirmOrder {
            order_id: saga.order_id.clone(),
        })
    }

    fn on_reply(&self, _: &mut PlaceOrder, reply: &PlacementReply) -> Outcome {
        match reply {
            PlacementReply::Confirmed(_) => Outcome::Done,
            _ => Outcome::NotMine,
        }
    }
}
// ANCHOR_END: retriable

#[cfg(test)]
mod tests;
