use std::time::Duration;

use edp_core::Context;
use edp_core::Service;
use edp_core::saga::{MemorySagaStore, Saga, SagaEngine, Status};
use edp_core::testkit::TestBus;
use uuid::Uuid;

use super::*;

/// A stock service that always has stock, and a payment service that never answers.
async fn stock(ctx: Context, cmd: ReserveStock) -> Result<(), BoxError> {
    ctx.publish(&StockReserved {
        order_id: cmd.order_id,
        ok: true,
    })
    .await?;
    Ok(())
}

async fn silent_payment(_: Context, _: AuthorizePayment) -> Result<(), BoxError> {
    Ok(())
}

// ANCHOR: paused_clock
#[tokio::test(start_paused = true)]
async fn a_payment_that_never_answers_is_voided_and_the_stock_released() -> Result<(), BoxError> {
    let bus = TestBus::new();
    let mut undo = bus.record(["stock-commands", "payment-commands"]).await;
    let engine = SagaEngine::<PlaceOrder, _>::new(MemorySagaStore::new(bus.transport()));
    let _orchestrator = bus
        .start(
            engine
                .register(Service::builder("orders", bus.transport()))
                .build(),
        )
        .await;
    let _participants = bus
        .start(
            Service::builder("others", bus.transport())
                .handler(stock)
                .handler(silent_payment)
                .build(),
        )
        .await;
    let deadlines = engine.run_deadlines();

    let id = Uuid::now_v7();
    let order = PlaceOrder {
        order_id: "o-1".into(),
        sku: "tv".into(),
        quantity: 1,
        amount_cents: 79_900,
    };
    engine.start(id, order, None).await?;
    tokio::time::sleep(Duration::from_secs(31)).await; // the paused clock: instant

    let saga = engine.get(id).await?.ok_or("no such saga")?;
    assert_eq!(saga.status, Status::Compensated);
    assert_eq!(
        saga.reason.as_deref(),
        Some("step authorize_payment timed out")
    );
    let mut sent: Vec<String> = undo
        .quiet_for(Duration::from_secs(1))
        .await
        .iter()
        .map(|e| e.event_type.to_string())
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        [
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

/// The diagram the chapter shows is the one the code draws: regenerate it with
/// `UPDATE_DIAGRAMS=1 cargo test -p edp-book-listings sagas`.
#[test]
fn the_book_shows_the_current_diagram() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../src/generated/place-order.mmd"
    );
    let drawn = PlaceOrder::definition().mermaid();
    if std::env::var_os("UPDATE_DIAGRAMS").is_some() {
        std::fs::write(path, &drawn).unwrap();
    }
    let shown = std::fs::read_to_string(path).unwrap_or_default();
    assert_eq!(
        shown, drawn,
        "the book's diagram is stale: run with UPDATE_DIAGRAMS=1"
    );
}
