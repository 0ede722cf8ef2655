use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use edp_core::error::BoxError;
use edp_core::event::headers;
use edp_core::handler::Status;
use edp_core::testkit::{TestBus, outcome_of};
use edp_core::transport::memory::MemoryTransport;
use edp_core::{Context, Envelope, Publisher, Service};

use super::*;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn events_are_routed_by_type_to_their_handler() {
    let bus = TestBus::new();
    let mut answers = bus.record(["stock-events"]).await;
    let stock = Stock::default().with("sku-1", 5);
    let mut service = inventory(bus.transport(), stock.clone());
    let mut outcomes = service.observe();
    let _running = bus.start(service).await;

    bus.publish(&ReserveStock {
        order_id: "o-1".into(),
        product_id: "sku-1".into(),
        quantity: 3,
    })
    .await;
    let (answer, _) = answers.expect::<StockReserved>(WAIT).await.unwrap();
    assert!(answer.reserved);
    assert_eq!(stock.available("sku-1"), 2);

    // Same topic, same key, another type: the other handler, after the first.
    let id = bus
        .publish(&ReleaseStock {
            order_id: "o-1".into(),
            product_id: "sku-1".into(),
        })
        .await;
    let outcome = outcome_of(&mut outcomes, id, WAIT).await.unwrap();
    assert_eq!(outcome.status, Status::Handled);
    assert_eq!(stock.available("sku-1"), 5);
}

#[tokio::test]
async fn a_redelivered_reservation_takes_nothing_twice() {
    let stock = Stock::default().with("sku-1", 5);
    assert!(stock.reserve("o-1", "sku-1", 3));
    assert!(stock.reserve("o-1", "sku-1", 3), "same answer");
    assert_eq!(stock.available("sku-1"), 2, "taken once");
    assert!(!stock.reserve("o-2", "sku-1", 3), "not enough left");
}

// ANCHOR: unknown_type
#[tokio::test(start_paused = true)]
async fn an_unknown_event_type_is_dead_lettered_when_asked() {
    let bus = TestBus::new();
    let mut dead = bus.record(["stock.dlq"]).await;
    let _running = bus
        .start(inventory(bus.transport(), Stock::default()))
        .await;

    let stray = Envelope::builder("stock.counted", &b"{}"[..]).build();
    bus.publish_raw("stock", stray).await;

    let letter = dead.next(WAIT).await.unwrap();
    let error = letter.headers.get(headers::DLQ_ERROR).unwrap();
    assert!(
        error.contains("no handler for event type `stock.counted`"),
        "{error}"
    );
}
// ANCHOR_END: unknown_type

#[tokio::test(start_paused = true)]
async fn a_permanent_error_is_dead_lettered_at_once() {
    let bus = TestBus::new();
    let mut dead = bus.record(["stock.dlq"]).await;
    let _running = bus
        .start(inventory(bus.transport(), Stock::default()))
        .await;
    bus.publish(&ReserveStock {
        order_id: "o-9".into(),
        product_id: "sku-1".into(),
        quantity: 0,
    })
    .await;
    let (bad, letter) = dead.expect::<ReserveStock>(WAIT).await.unwrap();
    assert_eq!(bad.order_id, "o-9");
    let h = &letter.headers;
    assert_eq!(h.get(headers::DLQ_ATTEMPTS), Some("1"), "not retried");
    assert_eq!(h.get(headers::DLQ_HANDLER), Some("handlers::reserve")); // its path
    assert!(
        h.get(headers::DLQ_ERROR)
            .unwrap()
            .contains("quantity must be at least 1")
    );
}

// ANCHOR: shutdown
#[tokio::test]
async fn shutdown_finishes_the_handlers_in_flight() {
    let transport = MemoryTransport::new();
    let finished = Arc::new(AtomicU32::new(0));
    let done = finished.clone();
    let slow = move |_ctx: Context, _cmd: ReleaseStock| {
        let done = done.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            done.fetch_add(1, Ordering::SeqCst);
            Ok::<_, BoxError>(())
        }
    };
    let mut builder = Service::builder("inventory", transport.clone()).handler(slow);
    let mut outcomes = builder.observe();
    let running = builder.build().start().await.unwrap();

    Publisher::new("order", transport)
        .publish(&ReleaseStock {
            order_id: "o-1".into(),
            product_id: "sku-1".into(),
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await; // the handler is running

    running.shutdown().await.unwrap(); // stops intake, waits for the handler, acks
    assert_eq!(finished.load(Ordering::SeqCst), 1);
    assert_eq!(outcomes.recv().await.unwrap().status, Status::Handled);
}
// ANCHOR_END: shutdown

// ANCHOR: cancellation_test
#[tokio::test(start_paused = true)]
async fn a_handler_interrupted_by_shutdown_is_put_back() {
    let bus = TestBus::new();
    let mut b = Service::builder("search", bus.transport())
        .shutdown_grace(Duration::from_secs(1))
        .handler(reindex);
    let mut outcomes = b.observe();
    let running = bus.start(b.build()).await;
    let id = bus
        .publish(&Reindex {
            product_id: "sku-1".into(),
        })
        .await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    running.shutdown().await.unwrap();
    let outcome = outcome_of(&mut outcomes, id, WAIT).await.unwrap();
    // Interrupted, not broken: the event is nacked and delivered again later,
    // never dead-lettered.
    assert!(
        matches!(outcome.status, Status::Nacked { .. }),
        "{outcome:?}"
    );
}
// ANCHOR_END: cancellation_test
