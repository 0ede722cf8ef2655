use std::time::Duration;

use edp_core::handler::Status;
use edp_core::testkit::{TestBus, outcome_of};
use edp_core::{Event, Service};

use super::{OrderPlaced, charge};

#[test]
fn the_event_has_its_name_topic_and_key() {
    let order = OrderPlaced {
        order_id: "o-1".into(),
        total_cents: 1200,
    };
    assert_eq!(OrderPlaced::NAME, "order.placed");
    assert_eq!(OrderPlaced::TOPIC, "orders");
    assert_eq!(order.key().as_deref(), Some("o-1"));
}

// ANCHOR: test
#[tokio::test]
async fn the_payment_service_handles_a_published_order() {
    let bus = TestBus::new();
    let mut payment = Service::builder("payment", bus.transport()).handler(charge);
    let mut outcomes = payment.observe();
    let _running = bus.start(payment.build()).await;

    let id = bus
        .publish(&OrderPlaced {
            order_id: "o-1".into(),
            total_cents: 1200,
        })
        .await;
    let outcome = outcome_of(&mut outcomes, id, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(outcome.status, Status::Handled);
}
// ANCHOR_END: test
