//! Dead letters: after the last retry, and for undecodable payloads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edp_core::error::BoxError;
use edp_core::event::headers;
use edp_core::handler::Status;
use edp_core::middleware::retry::{RetryLayer, RetryPolicy};
use edp_core::testkit::{TestBus, outcome_of};
use edp_core::{Context, Envelope, Service};

use crate::Ping;

const WAIT: Duration = Duration::from_secs(30);

fn counting_handler(
    calls: Arc<Mutex<HashMap<u32, u32>>>,
) -> impl Fn(
    Context,
    Ping,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), BoxError>> + Send>>
+ Clone
+ Send
+ Sync
+ 'static {
    move |_ctx, ping: Ping| {
        let calls = calls.clone();
        Box::pin(async move {
            *calls.lock().unwrap().entry(ping.n).or_default() += 1;
            if ping.n == 3 {
                return Err("poison: payment provider rejected order 3".into());
            }
            Ok(())
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_event_is_dead_lettered_after_the_attempts_and_later_events_go_on() {
    let bus = TestBus::new();
    let mut dlq = bus.record(["pings.dlq"]).await;
    let calls = Arc::new(Mutex::new(HashMap::new()));
    let mut b = Service::builder("pinger", bus.transport())
        .layer(RetryLayer::new(
            RetryPolicy::default()
                .max_attempts(4)
                .initial_backoff(Duration::from_millis(100))
                .seed(7),
        ))
        .handler_named("charge", counting_handler(calls.clone()));
    let mut outcomes = b.observe();
    let _svc = bus.start(b.build()).await;

    let start = tokio::time::Instant::now();
    let mut ids = Vec::new();
    for n in 0..10 {
        // One key: the poison event sits in the middle of an ordered stream.
        ids.push(
            bus.publish(&Ping {
                key: "same".into(),
                n,
            })
            .await,
        );
    }
    for (n, id) in ids.iter().enumerate() {
        let o = outcome_of(&mut outcomes, *id, WAIT).await.unwrap();
        if n == 3 {
            assert!(matches!(o.status, Status::DeadLettered { .. }), "{o:?}");
        } else {
            assert_eq!(o.status, Status::Handled, "event {n}");
        }
    }
    // Full jitter keeps the three waits under 100 + 200 + 400 ms of virtual time.
    assert!(
        start.elapsed() <= Duration::from_millis(700),
        "{:?}",
        start.elapsed()
    );

    let calls = calls.lock().unwrap().clone();
    assert_eq!(
        calls[&3], 4,
        "the poison event was tried max_attempts times"
    );
    for n in (0..10).filter(|n| *n != 3) {
        assert_eq!(calls[&n], 1, "event {n} was handled once");
    }

    let (dead, env) = dlq.expect::<Ping>(WAIT).await.unwrap();
    assert_eq!(dead.n, 3);
    assert_eq!(env.id, ids[3], "the dead letter keeps the event id");
    let h = &env.headers;
    assert_eq!(h.get(headers::DLQ_TOPIC), Some("pings"));
    assert!(h.get(headers::DLQ_PARTITION).is_some());
    assert_eq!(h.get(headers::DLQ_OFFSET), Some("3"));
    assert_eq!(h.get(headers::DLQ_ATTEMPTS), Some("4"));
    assert_eq!(h.get(headers::DLQ_HANDLER), Some("charge"));
    assert_eq!(h.get(headers::DLQ_GROUP), Some("pinger"));
    let error = h.get(headers::DLQ_ERROR).unwrap();
    assert!(error.contains("gave up after 4 attempts"), "{error}");
    assert!(
        error.contains("poison: payment provider rejected order 3"),
        "{error}"
    );
    assert!(
        dlq.quiet_for(Duration::from_secs(1)).await.is_empty(),
        "exactly one dead letter"
    );
}

#[tokio::test(start_paused = true)]
async fn a_malformed_payload_is_dead_lettered_with_the_decode_reason_and_the_consumer_goes_on() {
    let bus = TestBus::new();
    let mut dlq = bus.record(["pings.dlq"]).await;
    let calls = Arc::new(Mutex::new(HashMap::new()));
    let mut b = Service::builder("pinger", bus.transport())
        .layer(RetryLayer::new(RetryPolicy::default().max_attempts(5)))
        .handler(counting_handler(calls.clone()));
    let mut outcomes = b.observe();
    let _svc = bus.start(b.build()).await;

    let bad = Envelope::builder("test.ping", &br#"{"key":"a","n":"#[..])
        .subject("a")
        .build();
    let bad_id = bad.id;
    bus.publish_raw("pings", bad).await;
    let good = bus
        .publish(&Ping {
            key: "a".into(),
            n: 1,
        })
        .await;

    let o = outcome_of(&mut outcomes, bad_id, WAIT).await.unwrap();
    assert!(matches!(o.status, Status::DeadLettered { .. }));
    assert_eq!(
        outcome_of(&mut outcomes, good, WAIT).await.unwrap().status,
        Status::Handled
    );

    let env = dlq.next(WAIT).await.unwrap();
    assert_eq!(env.id, bad_id);
    let error = env.headers.get(headers::DLQ_ERROR).unwrap();
    assert!(error.contains("cannot decode event `test.ping`"), "{error}");
    assert!(error.contains("EOF while parsing"), "{error}");
    assert_eq!(
        env.headers.get(headers::DLQ_ATTEMPTS),
        Some("1"),
        "decode errors are not retried"
    );
    assert_eq!(calls.lock().unwrap().get(&1), Some(&1));
}

#[tokio::test(start_paused = true)]
async fn without_dead_letters_a_failed_event_is_redelivered() {
    let bus = TestBus::new();
    let attempts = Arc::new(Mutex::new(0u32));
    let a = attempts.clone();
    let flaky = move |ctx: Context, _p: Ping| {
        let a = a.clone();
        async move {
            let mut n = a.lock().unwrap();
            *n += 1;
            if *n < 3 {
                return Err::<(), BoxError>(
                    format!("flaky {} (redeliveries {})", *n, ctx.redeliveries()).into(),
                );
            }
            Ok(())
        }
    };
    let mut b = Service::builder("pinger", bus.transport())
        .without_dead_letters()
        .handler(flaky);
    let mut outcomes = b.observe();
    let _svc = bus.start(b.build()).await;
    let id = bus
        .publish(&Ping {
            key: "a".into(),
            n: 1,
        })
        .await;
    let first = outcome_of(&mut outcomes, id, WAIT).await.unwrap();
    assert!(matches!(first.status, Status::Nacked { .. }));
    let second = outcome_of(&mut outcomes, id, WAIT).await.unwrap();
    assert!(matches!(second.status, Status::Nacked { .. }));
    assert_eq!(
        outcome_of(&mut outcomes, id, WAIT).await.unwrap().status,
        Status::Handled
    );
    assert_eq!(*attempts.lock().unwrap(), 3);
}

/// A dependency that is down (`Unavailable`) is not the event's fault: with dead
/// letters on, the event is nacked and redelivered, never dead-lettered.
#[tokio::test]
async fn an_unavailable_dependency_is_redelivered_not_dead_lettered() {
    let bus = TestBus::new();
    let mut dlq = bus.record(["pings.dlq"]).await;
    let attempts = Arc::new(Mutex::new(0u32));
    let a = attempts.clone();
    let database_down_twice = move |_ctx: Context, _p: Ping| {
        let a = a.clone();
        async move {
            let mut n = a.lock().unwrap();
            *n += 1;
            if *n < 3 {
                return Err(edp_core::error::unavailable("the database is restarting"));
            }
            Ok(())
        }
    };
    let mut b = Service::builder("pinger", bus.transport()).handler(database_down_twice);
    let mut outcomes = b.observe();
    let _svc = bus.start(b.build()).await;
    let id = bus
        .publish(&Ping {
            key: "a".into(),
            n: 1,
        })
        .await;
    for _ in 0..2 {
        let nacked = outcome_of(&mut outcomes, id, WAIT).await.unwrap();
        assert!(
            matches!(&nacked.status, Status::Nacked { error } if error.contains("the database is restarting")),
            "{:?}",
            nacked.status
        );
    }
    assert_eq!(
        outcome_of(&mut outcomes, id, WAIT).await.unwrap().status,
        Status::Handled
    );
    assert!(
        dlq.next(Duration::from_millis(200)).await.is_err(),
        "nothing dead-lettered"
    );
}

#[tokio::test]
async fn a_panicking_handler_dead_letters_its_event_and_the_partition_goes_on() {
    let bus = TestBus::new();
    let mut dlq = bus.record(["pings.dlq"]).await;
    let panicky = |_ctx: Context, ping: Ping| async move {
        if ping.n == 1 {
            panic!("bug on event {}", ping.n);
        }
        Ok::<(), BoxError>(())
    };
    let mut b = Service::builder("pinger", bus.transport())
        .concurrency(1)
        .handler(panicky);
    let mut outcomes = b.observe();
    let _svc = bus.start(b.build()).await;
    let ids: Vec<_> = futures_ids(&bus, 3).await;
    for (n, id) in ids.iter().enumerate() {
        let o = outcome_of(&mut outcomes, *id, Duration::from_secs(5))
            .await
            .unwrap();
        if n == 1 {
            assert!(matches!(o.status, Status::DeadLettered { .. }), "{o:?}");
        } else {
            assert_eq!(o.status, Status::Handled, "event {n}");
        }
    }
    let env = dlq.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(env.id, ids[1]);
    let error = env.headers.get(headers::DLQ_ERROR).unwrap();
    assert!(error.contains("panicked: bug on event 1"), "{error}");
}

async fn futures_ids(bus: &TestBus, n: u32) -> Vec<uuid::Uuid> {
    let mut ids = Vec::new();
    for n in 0..n {
        ids.push(
            bus.publish(&Ping {
                key: "same".into(),
                n,
            })
            .await,
        );
    }
    ids
}
