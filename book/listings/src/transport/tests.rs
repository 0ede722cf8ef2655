use std::time::Duration;

use edp_core::transport::memory::{MemoryConfig, MemoryTransport};
use edp_core::transport::{SubscribeOptions, Subscriber, Transport};
use edp_core::{Envelope, Publisher};

use super::*;
use crate::quickstart::OrderPlaced;

const WAIT: Duration = Duration::from_secs(5);

fn order(id: &str) -> OrderPlaced {
    OrderPlaced {
        order_id: id.into(),
        total_cents: 100,
    }
}

#[tokio::test]
async fn take_reads_and_acks() {
    let bus = embedded_bus();
    let publisher = Publisher::new("order", bus.clone());
    publisher
        .publish_all(&[order("o-1"), order("o-2")])
        .await
        .unwrap();
    let taken = take(&bus, "audit", "orders", 2).await.unwrap();
    assert_eq!(taken.len(), 2);
}

// ANCHOR: groups
#[tokio::test]
async fn every_group_gets_every_event_and_members_of_a_group_share_them() {
    let bus = MemoryTransport::new();
    let billing = bus
        .subscribe(SubscribeOptions::new("billing", ["orders"]))
        .await
        .unwrap();
    let audit_1 = bus
        .subscribe(SubscribeOptions::new("audit", ["orders"]))
        .await
        .unwrap();
    let audit_2 = bus
        .connect() // a second process of the audit service
        .subscribe(SubscribeOptions::new("audit", ["orders"]))
        .await
        .unwrap();

    let events: Vec<OrderPlaced> = (0..20).map(|i| order(&format!("o-{i}"))).collect();
    Publisher::new("order", bus.clone())
        .publish_all(&events)
        .await
        .unwrap();

    let mut billed = 0;
    while tokio::time::timeout(Duration::from_millis(100), async {
        let d = billing.recv().await.unwrap().unwrap();
        billing.ack(&d).await.unwrap();
    })
    .await
    .is_ok()
    {
        billed += 1;
    }
    assert_eq!(billed, 20, "billing, alone in its group, gets everything");

    let (mut first, mut second) = (0, 0);
    for (member, count) in [(&audit_1, &mut first), (&audit_2, &mut second)] {
        while let Ok(Some(Ok(d))) =
            tokio::time::timeout(Duration::from_millis(100), member.recv()).await
        {
            member.ack(&d).await.unwrap();
            *count += 1;
        }
    }
    assert_eq!(
        first + second,
        20,
        "audit's members split the events between them"
    );
    assert!(first > 0 && second > 0, "each owns some partitions");
}
// ANCHOR_END: groups

// ANCHOR: ordering
#[tokio::test]
async fn a_key_delivers_its_next_event_only_after_the_previous_is_acked() {
    let bus = MemoryTransport::new();
    let sub = bus
        .subscribe(SubscribeOptions::new("billing", ["orders"]))
        .await
        .unwrap();
    let publisher = Publisher::new("order", bus.clone());
    publisher
        .publish_all(&[order("o-1"), order("o-1")])
        .await
        .unwrap(); // same key

    let first = sub.recv().await.unwrap().unwrap();
    let early = tokio::time::timeout(Duration::from_millis(100), sub.recv()).await;
    assert!(early.is_err(), "the second event waits for the first");

    sub.ack(&first).await.unwrap();
    let second = tokio::time::timeout(WAIT, sub.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(second.offset, Some(first.offset.unwrap() + 1));
}
// ANCHOR_END: ordering

// ANCHOR: redelivery
#[tokio::test]
async fn a_nacked_delivery_comes_again() {
    let bus = MemoryTransport::new();
    let sub = bus
        .subscribe(SubscribeOptions::new("billing", ["orders"]))
        .await
        .unwrap();
    Publisher::new("order", bus.clone())
        .publish(&order("o-1"))
        .await
        .unwrap();

    let first = sub.recv().await.unwrap().unwrap();
    assert_eq!(first.redeliveries, 0);
    sub.nack(&first).await.unwrap(); // "not now": delivered again, at once

    let again = tokio::time::timeout(WAIT, sub.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(again.envelope.id, first.envelope.id);
    assert_eq!(again.redeliveries, 1);
    sub.ack(&again).await.unwrap();
}
// ANCHOR_END: redelivery

// ANCHOR: backpressure
#[tokio::test]
async fn a_fast_publisher_waits_for_a_slow_group() {
    let bus = MemoryTransport::with_config(MemoryConfig::default().partitions(1).capacity(8));
    let slow = bus
        .subscribe(SubscribeOptions::new("slow", ["orders"]))
        .await
        .unwrap();
    let publisher = Publisher::new("order", bus.clone());
    let events: Vec<OrderPlaced> = (0..20).map(|i| order(&format!("o-{i}"))).collect();
    let publishing = tokio::spawn(async move { publisher.publish_all(&events).await });

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !publishing.is_finished(),
        "the publisher waits: the partition is full"
    );
    assert_eq!(bus.retained("orders").len(), 8, "memory stays bounded");

    for _ in 0..20 {
        let d = tokio::time::timeout(WAIT, slow.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        slow.ack(&d).await.unwrap(); // each ack makes room
    }
    publishing.await.unwrap().unwrap();
}
// ANCHOR_END: backpressure

#[tokio::test]
async fn a_new_group_replays_what_is_retained() {
    let bus = MemoryTransport::new();
    bus.publish(
        "orders",
        vec![Envelope::builder("order.placed", &b"{}"[..]).build()],
    )
    .await
    .unwrap();
    let taken = take(&bus, "late", "orders", 1).await.unwrap();
    assert_eq!(taken.len(), 1);
}
