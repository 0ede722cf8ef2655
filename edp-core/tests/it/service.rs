//! The service runtime: routing, correlation, graceful shutdown, backpressure.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use edp_core::error::BoxError;
use edp_core::handler::Status;
use edp_core::testkit::{TestBus, outcome_of};
use edp_core::transport::memory::{MemoryConfig, MemoryTransport};
use edp_core::transport::{SubscribeOptions, Subscriber, Transport};
use edp_core::{Context, Envelope, Event, Publisher, Service};
use serde::{Deserialize, Serialize};

use crate::Ping;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "test.pong", topic = "pongs", key = key)]
struct Pong {
    key: String,
    n: u32,
}

async fn reply(ctx: Context, ping: Ping) -> Result<(), BoxError> {
    ctx.publish(&Pong {
        key: ping.key,
        n: ping.n,
    })
    .await?;
    Ok(())
}

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn handler_publishes_with_correlation_and_causation() {
    let bus = TestBus::new();
    let mut pongs = bus.record(["pongs"]).await;
    let _svc = bus
        .start(
            Service::builder("ponger", bus.transport())
                .handler(reply)
                .build(),
        )
        .await;

    let id = bus
        .publish(&Ping {
            key: "a".into(),
            n: 1,
        })
        .await;
    let (pong, env) = pongs.expect::<Pong>(WAIT).await.unwrap();
    assert_eq!(
        pong,
        Pong {
            key: "a".into(),
            n: 1
        }
    );
    assert_eq!(
        env.correlation_id(),
        id.to_string(),
        "correlation id carries forward"
    );
    assert_eq!(env.causation_id(), Some(id.to_string().as_str()));
    assert_eq!(&*env.source, "ponger");
    assert_eq!(env.subject.as_deref(), Some("a"));
    assert_eq!(env.dataversion, 1);
}

#[tokio::test]
async fn events_of_one_key_are_handled_in_order_and_keys_in_parallel() {
    let bus = TestBus::new();
    let seen = Arc::new(std::sync::Mutex::new(Vec::<(String, u32)>::new()));
    let s = seen.clone();
    let handler = move |_ctx: Context, ping: Ping| {
        let s = s.clone();
        async move {
            // Later events of a key finish faster: order must come from the runtime.
            tokio::time::sleep(Duration::from_millis(u64::from(20 - ping.n % 20))).await;
            s.lock().unwrap().push((ping.key, ping.n));
            Ok::<_, BoxError>(())
        }
    };
    let mut b = Service::builder("orderly", bus.transport())
        .concurrency(8)
        .handler(handler);
    let mut outcomes = b.observe();
    let _svc = bus.start(b.build()).await;
    let publisher = Publisher::new("test", bus.transport());
    let events: Vec<Ping> = (0..60)
        .map(|n| Ping {
            key: format!("k{}", n % 4),
            n,
        })
        .collect();
    publisher.publish_all(&events).await.unwrap();
    for _ in 0..60 {
        tokio::time::timeout(WAIT, outcomes.recv())
            .await
            .unwrap()
            .unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 60);
    for k in 0..4 {
        let ns: Vec<u32> = seen
            .iter()
            .filter(|(key, _)| *key == format!("k{k}"))
            .map(|(_, n)| *n)
            .collect();
        assert!(
            ns.windows(2).all(|w| w[0] < w[1]),
            "key k{k} out of order: {ns:?}"
        );
    }
}

#[tokio::test]
async fn unknown_event_types_are_skipped_by_default() {
    let bus = TestBus::new();
    let mut b = Service::builder("ponger", bus.transport()).handler(reply);
    let mut outcomes = b.observe();
    let _svc = bus.start(b.build()).await;
    let env = Envelope::builder("test.unrelated", &b"{}"[..]).build();
    let id = env.id;
    bus.publish_raw("pings", env).await;
    let o = outcome_of(&mut outcomes, id, WAIT).await.unwrap();
    assert_eq!(o.status, Status::Skipped);
}

#[tokio::test]
async fn shutdown_finishes_in_flight_handlers_and_acks() {
    let transport = MemoryTransport::new();
    let started = Arc::new(tokio::sync::Notify::new());
    let finished = Arc::new(AtomicU32::new(0));
    let (st, fin) = (started.clone(), finished.clone());
    let slow = move |_ctx: Context, _p: Ping| {
        let (st, fin) = (st.clone(), fin.clone());
        async move {
            st.notify_one();
            tokio::time::sleep(Duration::from_millis(200)).await;
            fin.fetch_add(1, Ordering::SeqCst);
            Ok::<_, BoxError>(())
        }
    };
    let running = Service::builder("slow", transport.clone())
        .handler(slow)
        .build()
        .start()
        .await
        .unwrap();
    Publisher::new("t", transport.clone())
        .publish(&Ping {
            key: "a".into(),
            n: 1,
        })
        .await
        .unwrap();
    started.notified().await;
    running.shutdown().await.unwrap();
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "the in-flight handler finished before shutdown returned"
    );
    // It was acked: a new member of the group gets nothing.
    let sub = transport
        .subscribe(SubscribeOptions::new("slow", ["pings"]))
        .await
        .unwrap();
    let again = tokio::time::timeout(Duration::from_millis(200), sub.recv()).await;
    assert!(again.is_err(), "the handled event was not redelivered");
}

#[tokio::test]
async fn shutdown_stops_intake() {
    let transport = MemoryTransport::new();
    let handled = Arc::new(AtomicU32::new(0));
    let h = handled.clone();
    let count = move |_ctx: Context, _p: Ping| {
        let h = h.clone();
        async move {
            h.fetch_add(1, Ordering::SeqCst);
            Ok::<_, BoxError>(())
        }
    };
    let running = Service::builder("count", transport.clone())
        .handler(count)
        .build()
        .start()
        .await
        .unwrap();
    running.shutdown().await.unwrap();
    Publisher::new("t", transport.clone())
        .publish(&Ping {
            key: "a".into(),
            n: 1,
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(handled.load(Ordering::SeqCst), 0);
    // The event waits for the group; nothing was lost.
    let sub = transport
        .subscribe(SubscribeOptions::new("count", ["pings"]))
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(WAIT, sub.recv())
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_fast_publisher_waits_for_a_slow_consumer() {
    let transport =
        MemoryTransport::with_config(MemoryConfig::default().partitions(1).capacity(16));
    let sub = transport
        .subscribe(SubscribeOptions::new("slow", ["pings"]))
        .await
        .unwrap();
    let publisher = Publisher::new("t", transport.clone());
    let events: Vec<Ping> = (0..40).map(|n| Ping { key: "a".into(), n }).collect();
    let publishing = tokio::spawn(async move { publisher.publish_all(&events).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !publishing.is_finished(),
        "publisher should be held back by a full partition"
    );
    assert_eq!(
        transport.retained("pings").len(),
        16,
        "the partition holds no more than its capacity"
    );
    for _ in 0..40 {
        let d = tokio::time::timeout(WAIT, sub.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        sub.ack(&d).await.unwrap();
    }
    publishing.await.unwrap().unwrap();
}

#[tokio::test]
async fn closing_the_transport_drains_in_flight_deliveries() {
    let transport = MemoryTransport::new();
    let sub = transport
        .subscribe(SubscribeOptions::new("g", ["pings"]))
        .await
        .unwrap();
    Publisher::new("t", transport.clone())
        .publish(&Ping {
            key: "a".into(),
            n: 1,
        })
        .await
        .unwrap();
    let d = sub.recv().await.unwrap().unwrap();
    let closing = tokio::spawn({
        let t = transport.clone();
        async move { t.close().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !closing.is_finished(),
        "close waits for the in-flight delivery"
    );
    sub.ack(&d).await.unwrap();
    tokio::time::timeout(WAIT, closing)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let err = Publisher::new("t", transport.clone())
        .publish(&Ping {
            key: "a".into(),
            n: 2,
        })
        .await;
    assert!(err.is_err(), "publishing after close fails");
}

#[tokio::test]
async fn a_correlation_id_from_outside_flows_through_handlers() {
    let bus = TestBus::new();
    let mut pongs = bus.record(["pongs"]).await;
    let _svc = bus
        .start(
            Service::builder("ponger", bus.transport())
                .handler(reply)
                .build(),
        )
        .await;
    let publisher = Publisher::new("gateway", bus.transport());
    let id = publisher
        .publish_correlated(
            &Ping {
                key: "a".into(),
                n: 7,
            },
            "req-42",
        )
        .await
        .unwrap();
    let (_, env) = pongs.expect::<Pong>(WAIT).await.unwrap();
    assert_eq!(env.correlation_id(), "req-42");
    assert_eq!(env.causation_id(), Some(id.to_string().as_str()));
}

#[tokio::test]
async fn unknown_event_types_can_be_dead_lettered() {
    let bus = TestBus::new();
    let mut dlq = bus.record(["pings.dlq"]).await;
    let mut b = Service::builder("ponger", bus.transport())
        .unknown_events(edp_core::handler::UnknownEvents::DeadLetter)
        .handler(reply);
    let mut outcomes = b.observe();
    let _svc = bus.start(b.build()).await;
    let env = Envelope::builder("test.unrelated", &b"{}"[..]).build();
    let id = env.id;
    bus.publish_raw("pings", env).await;
    let o = outcome_of(&mut outcomes, id, WAIT).await.unwrap();
    assert!(matches!(o.status, Status::DeadLettered { .. }), "{o:?}");
    let dead = dlq.next(WAIT).await.unwrap();
    assert_eq!(dead.id, id);
    let error = dead
        .headers
        .get(edp_core::event::headers::DLQ_ERROR)
        .unwrap();
    assert!(
        error.contains("no handler for event type `test.unrelated`"),
        "{error}"
    );
}

/// A record the transport could not read whole (it marks it `invalid`) is
/// dead-lettered with the transport's reason, without calling a handler, and the
/// service goes on with the next event.
#[tokio::test]
async fn a_record_marked_invalid_by_the_transport_is_dead_lettered() {
    let bus = TestBus::new();
    let mut dlq = bus.record(["pings.dlq"]).await;
    let mut b = Service::builder("ponger", bus.transport()).handler(reply);
    let mut outcomes = b.observe();
    let _svc = bus.start(b.build()).await;
    let env = Envelope::builder(Ping::NAME, &b"{}"[..])
        .header(edp_core::event::headers::INVALID, "no `ce_id` header")
        .build();
    let id = env.id;
    bus.publish_raw("pings", env).await;
    let o = outcome_of(&mut outcomes, id, WAIT).await.unwrap();
    assert!(matches!(o.status, Status::DeadLettered { .. }), "{o:?}");
    let dead = dlq.next(WAIT).await.unwrap();
    let error = dead
        .headers
        .get(edp_core::event::headers::DLQ_ERROR)
        .unwrap();
    assert!(
        error.contains("could not read this record: no `ce_id` header"),
        "{error}"
    );
}
