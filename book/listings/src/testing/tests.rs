use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use edp_core::error::BoxError;
use edp_core::handler::Status;
use edp_core::middleware::retry::{RetryLayer, RetryPolicy};
use edp_core::testkit::{TestBus, outcome_of};
use edp_core::transport::conformance;
use edp_core::transport::memory::MemoryTransport;
use edp_core::{Context, Service};

use super::Counting;
use crate::handlers::{ReserveStock, Stock, StockReserved, inventory, reserve};

const WAIT: Duration = Duration::from_secs(5);

fn reservation(order_id: &str, quantity: u32) -> ReserveStock {
    ReserveStock {
        order_id: order_id.into(),
        product_id: "sku-1".into(),
        quantity,
    }
}

// ANCHOR: testbus
#[tokio::test]
async fn the_inventory_answers_a_reservation() {
    let bus = TestBus::new();
    let mut answers = bus.record(["stock-events"]).await; // from now on, in its own group
    let stock = Stock::default().with("sku-1", 5);
    let _inventory = bus.start(inventory(bus.transport(), stock.clone())).await;

    let id = bus.publish(&reservation("o-1", 3)).await; // as the `test` service

    let (answer, envelope) = answers.expect::<StockReserved>(WAIT).await.unwrap();
    assert!(answer.reserved);
    assert_eq!(envelope.causation_id(), Some(id.to_string().as_str()));
    assert_eq!(stock.available("sku-1"), 2);
}
// ANCHOR_END: testbus

// ANCHOR: direct_call
#[tokio::test]
async fn a_handler_called_directly() {
    let bus = TestBus::new();
    let mut answers = bus.record(["stock-events"]).await;
    let stock = Stock::default().with("sku-1", 5);
    let cmd = reservation("o-2", 2);

    // No service, no routing: the handler is a function; the context is a delivery's.
    reserve(stock.clone(), bus.context_for(&cmd), cmd)
        .await
        .unwrap();

    let (answer, _) = answers.expect::<StockReserved>(WAIT).await.unwrap();
    assert!(answer.reserved);
    assert_eq!(stock.available("sku-1"), 3);
}
// ANCHOR_END: direct_call

// ANCHOR: outcomes
#[tokio::test]
async fn every_delivery_has_an_outcome() {
    let bus = TestBus::new();
    let stock = Stock::default().with("sku-1", 5);
    let mut builder = Service::builder("inventory", bus.transport()).handler_with(stock, reserve);
    let mut outcomes = builder.observe(); // before build: a broadcast of every outcome
    let _inventory = bus.start(builder.build()).await;

    let fine = bus.publish(&reservation("o-1", 1)).await;
    let zero = bus.publish(&reservation("o-2", 0)).await; // a permanent error

    let fine = outcome_of(&mut outcomes, fine, WAIT).await.unwrap();
    assert_eq!(fine.status, Status::Handled);
    let zero = outcome_of(&mut outcomes, zero, WAIT).await.unwrap();
    assert!(
        matches!(zero.status, Status::DeadLettered { ref error } if error.contains("at least 1"))
    );
}
// ANCHOR_END: outcomes

// ANCHOR: recorder
#[tokio::test]
async fn a_recorder_waits_filters_and_checks_for_silence() {
    let bus = TestBus::new();
    let mut answers = bus.record(["stock-events"]).await;
    let stock = Stock::default().with("sku-1", 5);
    let _inventory = bus.start(inventory(bus.transport(), stock)).await;

    for (order, quantity) in [("o-1", 4), ("o-2", 4), ("o-3", 1)] {
        bus.publish(&reservation(order, quantity)).await;
    }
    // The first answer that matches; others stay buffered for later calls.
    let (short, _) = answers
        .expect_where::<StockReserved>(WAIT, |a| !a.reserved)
        .await
        .unwrap();
    assert_eq!(short.order_id, "o-2");
    let rest = answers.collect(2, WAIT).await; // o-1 (buffered) and o-3
    assert_eq!(rest.len(), 2);
    assert!(
        answers
            .quiet_for(Duration::from_millis(200))
            .await
            .is_empty()
    );
}
// ANCHOR_END: recorder

// ANCHOR: paused_clock
#[tokio::test(start_paused = true)]
async fn a_minute_of_backoff_takes_no_time() {
    let bus = TestBus::new();
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let flaky = move |_ctx: Context, _cmd: ReserveStock| {
        let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            if n < 6 {
                return Err::<(), BoxError>(format!("warehouse offline (call {n})").into());
            }
            Ok(())
        }
    };
    let policy = RetryPolicy::default()
        .max_attempts(6)
        .initial_backoff(Duration::from_secs(1))
        .max_backoff(Duration::from_secs(60))
        .jitter(false); // exact waits, so that the test can name them
    let mut builder = Service::builder("inventory", bus.transport())
        .layer(RetryLayer::new(policy))
        .handler(flaky);
    let mut outcomes = builder.observe();
    let _inventory = bus.start(builder.build()).await;

    let start = tokio::time::Instant::now();
    let id = bus.publish(&reservation("o-1", 1)).await;
    let outcome = outcome_of(&mut outcomes, id, Duration::from_secs(60))
        .await
        .unwrap();

    assert_eq!(outcome.status, Status::Handled);
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    assert_eq!(start.elapsed(), Duration::from_secs(1 + 2 + 4 + 8 + 16)); // virtual time
}
// ANCHOR_END: paused_clock

// ANCHOR: conformance
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counting_transport_passes_the_conformance_suite() {
    let broker = MemoryTransport::new();
    // The factory opens a new client of the same broker on each call.
    conformance::run(move || {
        let client = Counting::new(broker.connect());
        async move { client }
    })
    .await;
}
// ANCHOR_END: conformance

#[tokio::test]
async fn counting_counts() {
    let transport = Counting::new(MemoryTransport::new());
    let bus_publisher = edp_core::Publisher::new("test", transport.clone());
    bus_publisher.publish(&reservation("o-1", 1)).await.unwrap();
    assert_eq!(transport.published(), 1);
}
