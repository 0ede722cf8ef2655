//! In-memory transport edge cases (found in review; each failed before its fix).

use std::sync::Arc;
use std::time::Duration;

use edp_core::transport::memory::{MemoryConfig, MemorySubscriber, MemoryTransport};
use edp_core::transport::{SubscribeOptions, Subscriber, Transport};
use edp_core::{Publisher, Service};

use crate::Ping;

const WAIT: Duration = Duration::from_secs(5);

fn one_partition(capacity: usize) -> MemoryTransport {
    MemoryTransport::with_config(MemoryConfig::default().partitions(1).capacity(capacity))
}

/// Joins group `g` on `pings`.
async fn join_g(t: &MemoryTransport) -> MemorySubscriber {
    t.subscribe(SubscribeOptions::new("g", ["pings"]))
        .await
        .unwrap()
}

async fn ping(t: &MemoryTransport, n: u32) {
    Publisher::new("t", t.clone())
        .publish(&Ping { key: "k".into(), n })
        .await
        .unwrap();
}

#[tokio::test]
async fn an_ack_from_another_task_wakes_a_waiting_receiver() {
    let t = one_partition(16);
    let sub = Arc::new(join_g(&t).await);
    ping(&t, 0).await;
    ping(&t, 1).await;
    let first = sub.recv().await.unwrap().unwrap();
    // A receiver waits for the next event while another task acks the first.
    let receiver = tokio::spawn({
        let sub = sub.clone();
        async move { sub.recv().await.map(|d| d.map(|d| d.offset)) }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    sub.ack(&first).await.unwrap();
    let second = tokio::time::timeout(WAIT, receiver)
        .await
        .expect("the receiver woke");
    assert_eq!(second.unwrap().unwrap().unwrap(), Some(1));
}

#[tokio::test]
async fn a_waiting_publisher_goes_on_when_the_lagging_group_leaves() {
    let t = one_partition(1);
    let sub = join_g(&t).await;
    ping(&t, 0).await;
    let blocked = tokio::spawn({
        let t = t.clone();
        async move { ping(&t, 1).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!blocked.is_finished(), "the partition is full");
    drop(sub);
    tokio::time::timeout(WAIT, blocked)
        .await
        .expect("the publisher was woken")
        .unwrap();
}

#[tokio::test]
async fn a_batch_of_any_size_is_fine() {
    let t = one_partition(16);
    let sub = join_g(&t).await;
    for n in 0..3 {
        ping(&t, n).await;
    }
    let first = sub.recv().await.unwrap().unwrap();
    sub.ack(&first).await.unwrap();
    let rest = sub.recv_batch(usize::MAX).await.unwrap().unwrap();
    assert_eq!(
        rest.iter().map(|d| d.offset).collect::<Vec<_>>(),
        [Some(1), Some(2)]
    );
    sub.ack(&rest[1]).await.unwrap();
}

#[tokio::test]
async fn a_service_ends_when_its_transport_closes() {
    let t = MemoryTransport::new();
    let running = Service::builder("s", t.clone())
        .handler(|_ctx: edp_core::Context, _p: Ping| async {
            Ok::<(), edp_core::error::BoxError>(())
        })
        .build()
        .start()
        .await
        .unwrap();
    t.close().await.unwrap();
    tokio::time::timeout(WAIT, running.wait())
        .await
        .expect("the service noticed its subscription ended")
        .unwrap();
}

#[tokio::test]
async fn a_settle_from_an_earlier_lease_is_refused() {
    let t = one_partition(16);
    let sub = join_g(&t).await;
    for n in 0..3 {
        ping(&t, n).await;
    }
    let first = sub.recv_batch(8).await.unwrap().unwrap();
    assert_eq!(first.len(), 3);
    sub.nack(&first[0]).await.unwrap();
    let again = sub.recv_batch(8).await.unwrap().unwrap();
    assert_eq!(again[0].offset, Some(0));
    assert!(
        sub.ack(&first[2]).await.is_err(),
        "an ack from the released lease must not settle the new one"
    );
    sub.ack(&again[2]).await.unwrap();
}

#[tokio::test]
async fn a_deleted_group_forgets_its_position() {
    let t = one_partition(16);
    let sub = join_g(&t).await;
    assert!(!t.delete_group("g"), "a group with a member stays");
    ping(&t, 0).await;
    ping(&t, 1).await;
    let first = sub.recv().await.unwrap().unwrap();
    sub.ack(&first).await.unwrap();
    drop(sub);
    // Kept: the group resumes after what it acked.
    let again = join_g(&t).await;
    assert_eq!(again.recv().await.unwrap().unwrap().offset, Some(1));
    drop(again);
    // Deleted: a new group of that name starts from the oldest retained event.
    assert!(t.delete_group("g"));
    let fresh = join_g(&t).await;
    assert_eq!(fresh.recv().await.unwrap().unwrap().offset, Some(0));
}

#[tokio::test]
async fn a_dropped_recorder_holds_no_publisher_back() {
    let t = one_partition(1);
    let bus = edp_core::testkit::TestBus::on(t.clone());
    let recorder = bus.record(["pings"]).await;
    ping(&t, 0).await;
    drop(recorder);
    tokio::time::timeout(WAIT, ping(&t, 1))
        .await
        .expect("not blocked by the dropped recorder");
}
