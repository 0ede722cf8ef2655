//! Order placement as a saga: reserve the stock, authorize the payment, confirm the
//! order; when a step fails or does not answer in time, what was done is undone in
//! reverse and the order is cancelled.

use std::time::Duration;

use ecommerce_contracts::{
    AuthorizePayment, CancelOrder, ConfirmOrder, OrderConfirmed, OrderLine, PaymentFailed,
    PaymentSucceeded, ReleaseStock, ReserveStock, StockRejected, StockReserved, VoidPayment,
};
use edp_core::error::BoxError;
use edp_core::event_sourcing::EventSet;
use edp_core::saga::{
    Commands, Compensation, Definition, Retriable, Saga, SagaStatus, Step, Verdict,
};
use serde::{Deserialize, Serialize};

// ANCHOR: saga
/// The replies the placement saga reacts to.
#[derive(Debug, Clone, EventSet)]
pub enum PlacementReply {
    /// The product service reserved the stock.
    StockReserved(StockReserved),
    /// It could not.
    StockRejected(StockRejected),
    /// The payment service authorized the payment.
    PaymentSucceeded(PaymentSucceeded),
    /// It declined it.
    PaymentFailed(PaymentFailed),
    /// The order service confirmed the order.
    OrderConfirmed(OrderConfirmed),
}

/// The placement saga of one order: its id is the order's id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaceOrder {
    /// The order.
    pub order_id: String,
    /// Who pays.
    pub customer_id: String,
    /// What to reserve.
    pub items: Vec<OrderLine>,
    /// What to charge, in cents.
    pub total_cents: u64,
    /// The payment, once authorized.
    pub payment_id: Option<String>,
    /// Why a step failed, when one did.
    pub failure: Option<String>,
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

    /// A compensated placement cancels the order, in the transaction that ends it.
    fn on_finished(&self, status: SagaStatus, out: &mut Commands) -> Result<(), BoxError> {
        if status == SagaStatus::Compensated {
            let reason = self
                .failure
                .clone()
                .unwrap_or_else(|| "a step did not answer in time".into());
            out.send(&CancelOrder {
                order_id: self.order_id.clone(),
                reason,
            })?;
        }
        Ok(())
    }
}
// ANCHOR_END: saga

/// How long the product and payment services have to answer.
pub const STEP_DEADLINE: Duration = Duration::from_secs(30);

// ANCHOR: step
/// Step 1: reserve the stock of every line.
#[derive(Debug)]
pub struct ReserveStockStep;

impl Step<PlaceOrder> for ReserveStockStep {
    const NAME: &'static str = "reserve_stock";
    const DEADLINE: Duration = STEP_DEADLINE;
    type Compensation = ReleaseStockStep;

    fn action(&self, saga: &PlaceOrder, out: &mut Commands) -> Result<(), BoxError> {
        out.send(&ReserveStock {
            order_id: saga.order_id.clone(),
            items: saga.items.clone(),
        })
    }

    fn on_reply(&self, saga: &mut PlaceOrder, reply: &PlacementReply) -> Verdict {
        match reply {
            PlacementReply::StockReserved(_) => Verdict::Done,
            PlacementReply::StockRejected(r) => {
                saga.failure = Some(r.reason.clone());
                Verdict::Failed(r.reason.clone())
            }
            _ => Verdict::NotMine,
        }
    }
}

/// Undoes step 1: the stock goes back (idempotent; final even before the reservation).
#[derive(Debug, Default)]
pub struct ReleaseStockStep;

impl Compensation<PlaceOrder> for ReleaseStockStep {
    fn compensate(&self, saga: &PlaceOrder, out: &mut Commands) -> Result<(), BoxError> {
        out.send(&ReleaseStock {
            order_id: saga.order_id.clone(),
        })
    }
}
// ANCHOR_END: step

/// Step 2: authorize the payment.
#[derive(Debug)]
pub struct AuthorizePaymentStep;

impl Step<PlaceOrder> for AuthorizePaymentStep {
    const NAME: &'static str = "authorize_payment";
    const DEADLINE: Duration = STEP_DEADLINE;
    type Compensation = VoidPaymentStep;

    fn action(&self, saga: &PlaceOrder, out: &mut Commands) -> Result<(), BoxError> {
        out.send(&AuthorizePayment {
            order_id: saga.order_id.clone(),
            customer_id: saga.customer_id.clone(),
            amount_cents: saga.total_cents,
        })
    }

    fn on_reply(&self, saga: &mut PlaceOrder, reply: &PlacementReply) -> Verdict {
        match reply {
            PlacementReply::PaymentSucceeded(p) => {
                saga.payment_id = Some(p.payment_id.clone());
                Verdict::Done
            }
            PlacementReply::PaymentFailed(p) => {
                saga.failure = Some(p.reason.clone());
                Verdict::Failed(p.reason.clone())
            }
            _ => Verdict::NotMine,
        }
    }
}

/// Undoes step 2: the payment is voided (idempotent; final even before the
/// authorization, which is then declined).
#[derive(Debug, Default)]
pub struct VoidPaymentStep;

impl Compensation<PlaceOrder> for VoidPaymentStep {
    fn compensate(&self, saga: &PlaceOrder, out: &mut Commands) -> Result<(), BoxError> {
        out.send(&VoidPayment {
            order_id: saga.order_id.clone(),
        })
    }
}

// ANCHOR: retriable
/// Step 3: confirm the order. Paid and reserved, it is confirmed however long it
/// takes: retried, never undone.
#[derive(Debug)]
pub struct ConfirmOrderStep;

impl Step<PlaceOrder> for ConfirmOrderStep {
    const NAME: &'static str = "confirm_order";
    const DEADLINE: Duration = Duration::from_secs(10);
    type Compensation = Retriable;

    fn action(&self, saga: &PlaceOrder, out: &mut Commands) -> Result<(), BoxError> {
        out.send(&ConfirmOrder {
            order_id: saga.order_id.clone(),
            payment_id: saga.payment_id.clone().unwrap_or_default(),
        })
    }

    fn on_reply(&self, _: &mut PlaceOrder, reply: &PlacementReply) -> Verdict {
        match reply {
            PlacementReply::OrderConfirmed(_) => Verdict::Done,
            _ => Verdict::NotMine,
        }
    }
}
// ANCHOR_END: retriable

#[cfg(test)]
mod tests {
    use edp_core::saga::{MemorySagaStore, SagaEngine, StepState};
    use edp_core::testkit::TestBus;
    use edp_core::testkit::saga::given;
    use edp_core::{Context, Service};
    use uuid::Uuid;

    use super::*;

    /// A product service with stock for everything.
    async fn stock(ctx: Context, cmd: ReserveStock) -> Result<(), BoxError> {
        ctx.publish(&StockReserved {
            order_id: cmd.order_id,
        })
        .await?;
        Ok(())
    }

    /// A payment service that never answers.
    async fn silent_payment(_: Context, _: AuthorizePayment) -> Result<(), BoxError> {
        Ok(())
    }

    fn placement(id: Uuid) -> PlaceOrder {
        PlaceOrder {
            order_id: id.to_string(),
            customer_id: "c-1".into(),
            items: vec![OrderLine {
                product_id: "sku-1".into(),
                quantity: 2,
                unit_price_cents: 1_500,
            }],
            total_cents: 3_000,
            payment_id: None,
            failure: None,
        }
    }

    // ANCHOR: given_when_then
    #[test]
    fn a_declined_payment_releases_the_stock_and_cancels_the_order() {
        let id = Uuid::now_v7();
        let order_id = id.to_string();
        let mut saga = given(placement(id));
        saga.then_sends(["stock.reserve"]);
        saga.when_reply(
            StockReserved {
                order_id: order_id.clone(),
            }
            .into(),
        )
        .then_sends(["payment.authorize"]);
        saga.when_reply(
            PaymentFailed {
                order_id,
                reason: "declined".into(),
            }
            .into(),
        )
        .then_sends(["stock.release", "order.cancel"])
        .then_status(SagaStatus::Compensated);
    }
    // ANCHOR_END: given_when_then

    #[test]
    fn a_stock_out_cancels_the_order_and_asks_nothing_of_the_payment_service() {
        let id = Uuid::now_v7();
        let mut saga = given(placement(id));
        saga.when_reply(
            StockRejected {
                order_id: id.to_string(),
                reason: "out of stock".into(),
            }
            .into(),
        )
        .then_sends(["order.cancel"])
        .then_status(SagaStatus::Compensated);
        assert_eq!(saga.data().failure.as_deref(), Some("out of stock"));
    }

    #[test]
    fn a_paid_order_is_confirmed_and_a_slow_confirmation_is_asked_again() {
        let id = Uuid::now_v7();
        let order_id = id.to_string();
        let mut saga = given(placement(id));
        saga.when_reply(
            StockReserved {
                order_id: order_id.clone(),
            }
            .into(),
        );
        saga.when_reply(
            PaymentSucceeded {
                order_id: order_id.clone(),
                payment_id: "p-1".into(),
                amount_cents: 3_000,
            }
            .into(),
        )
        .then_sends(["order.confirm"]);
        // Retriable: no answer in 10 s sends it again, it is never undone.
        saga.when_time_passes(Duration::from_secs(11))
            .then_sends(["order.confirm"])
            .then_status(SagaStatus::Running);
        saga.when_reply(
            OrderConfirmed {
                order_id,
                payment_id: Some("p-1".into()),
            }
            .into(),
        )
        .then_sends([])
        .then_status(SagaStatus::Completed);
        assert_eq!(saga.data().payment_id.as_deref(), Some("p-1"));
    }

    /// The diagram the Sagas chapter shows is the one the code draws: regenerate it
    /// with `UPDATE_DIAGRAMS=1 cargo test -p ecommerce-order diagram`.
    #[test]
    fn the_book_shows_the_current_diagram() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../book/src/generated/place-order.mmd"
        );
        let drawn = PlaceOrder::definition().mermaid();
        if std::env::var_os("UPDATE_DIAGRAMS").is_some() {
            let _ = std::fs::write(path, &drawn);
        }
        let shown = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            shown, drawn,
            "the book's diagram is stale: run with UPDATE_DIAGRAMS=1"
        );
    }

    // ANCHOR: paused_clock
    /// The acceptance case: a payment service that never answers. At the deadline the
    /// payment is voided, the stock released and the order cancelled, even though
    /// the orchestrator was restarted during the wait (on tokio's paused clock: the
    /// 30 s take no time).
    #[tokio::test(start_paused = true)]
    async fn a_silent_payment_cancels_the_order_at_the_deadline_across_a_restart()
    -> Result<(), BoxError> {
        let bus = TestBus::new();
        let mut sent = bus
            .record(["stock-commands", "payment-commands", "order-commands"])
            .await;
        let store = MemorySagaStore::new(bus.transport());
        let _others = bus
            .start(
                Service::builder("others", bus.transport())
                    .handler(stock)
                    .handler(silent_payment)
                    .build(),
            )
            .await;
        let first = SagaEngine::<PlaceOrder, _>::new(store.clone());
        let orchestrator = bus
            .start(
                first
                    .register(Service::builder("order", bus.transport()))
                    .build(),
            )
            .await;
        let id = Uuid::now_v7();
        first.start(id, placement(id), None).await?;

        // 10 s into the wait for the payment, the orchestrator goes down.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let waiting = first.get(id).await?.ok_or("no saga")?;
        assert_eq!(waiting.status, SagaStatus::Running);
        assert!(matches!(
            waiting.steps[1],
            ("authorize_payment", StepState::Waiting { .. })
        ));
        orchestrator.shutdown().await?;
        drop(first);

        // Another one starts on the same store; the stored deadline fires.
        let second = SagaEngine::<PlaceOrder, _>::new(store);
        let _orchestrator = bus
            .start(
                second
                    .register(Service::builder("order", bus.transport()))
                    .build(),
            )
            .await;
        let deadlines = second.run_deadlines();
        tokio::time::sleep(Duration::from_secs(25)).await;
        let ended = second.get(id).await?.ok_or("no saga")?;
        assert_eq!(ended.status, SagaStatus::Compensated);
        assert_eq!(
            ended.reason.as_deref(),
            Some("step authorize_payment timed out")
        );

        let mut commands: Vec<String> = sent
            .quiet_for(Duration::from_secs(1))
            .await
            .iter()
            .map(|e| e.event_type.to_string())
            .collect();
        commands.sort();
        assert_eq!(
            commands,
            [
                "order.cancel",
                "payment.authorize",
                "payment.void",
                "stock.release",
                "stock.reserve"
            ]
        );
        deadlines.shutdown().await;
        Ok(())
    }
    // ANCHOR_END: paused_clock
}
