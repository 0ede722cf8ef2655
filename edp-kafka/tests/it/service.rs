//! Services on Kafka: handled events, bad records dead-lettered with the reason, and
//! offsets that move past both.

use std::time::Duration;

use edp_core::error::BoxError;
use edp_core::handler::Status;
use edp_core::transport::{SubscribeOptions, Subscriber, Transport};
use edp_core::{Context, Event, Publisher, Service};
use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "test.ping", topic = "pings", key = key)]
struct Ping {
    key: String,
    n: u32,
}

const WAIT: Duration = Duration::from_secs(60);

fn raw_producer() -> BaseProducer {
    let broker = edp_kafka::testkit::Broker::shared().unwrap();
    ClientConfig::new()
        .set("bootstrap.servers", broker.brokers())
        .create()
        .unwrap()
}

/// Sends one record as a foreign producer would.
fn send_raw(topic: &str, key: &str, payload: &[u8], headers: Option<OwnedHeaders>) {
    let producer = raw_producer();
    let mut record = BaseRecord::to(topic).key(key).payload(payload);
    if let Some(h) = headers {
        record = record.headers(h);
    }
    producer.send(record).map_err(|(e, _)| e).unwrap();
    producer.flush(Duration::from_secs(10)).unwrap();
}

/// The CloudEvents headers of a `test.ping`, as another CloudEvents producer writes them.
fn ce_headers(id: &str) -> OwnedHeaders {
    let h = |key, value| Header {
        key,
        value: Some(value),
    };
    OwnedHeaders::new()
        .insert(h("ce_specversion", "1.0"))
        .insert(h("ce_id", id))
        .insert(h("ce_source", "elsewhere"))
        .insert(h("ce_type", "test.ping"))
        .insert(h("content-type", "application/json"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_records_are_dead_lettered_with_the_reason_and_the_consumer_goes_on() {
    let transport = crate::client();
    let topic = format!("pings-{}", uuid::Uuid::now_v7().simple());
    let dlq = format!("{topic}.dlq");
    let group = format!("svc-{}", uuid::Uuid::now_v7().simple());
    let dead = transport
        .subscribe(SubscribeOptions::new(
            format!("{group}-dlq"),
            [dlq.as_str()],
        ))
        .await
        .unwrap();
    let (tx, mut handled) = mpsc::unbounded_channel();
    let mut builder = Service::builder(group.clone(), transport.clone())
        .topic(topic.clone())
        .handler_with(
            tx,
            |tx: mpsc::UnboundedSender<Ping>, _ctx: Context, p: Ping| async move {
                let _ = tx.send(p);
                Ok::<(), BoxError>(())
            },
        );
    let mut outcomes = builder.observe();
    let running = builder.build().start().await.unwrap();

    let publisher = Publisher::new("test", transport.clone());
    let first = Ping {
        key: "a".into(),
        n: 1,
    };
    let env = publisher.envelope(&first, None).unwrap();
    transport.publish(&topic, vec![env]).await.unwrap();
    let bad_json_id = uuid::Uuid::now_v7().to_string();
    send_raw(
        &topic,
        "a",
        br#"{"key":"a","n":"#,
        Some(ce_headers(&bad_json_id)),
    );
    send_raw(&topic, "b", b"hello from a foreign producer", None);
    let last = Ping {
        key: "a".into(),
        n: 2,
    };
    transport
        .publish(&topic, vec![publisher.envelope(&last, None).unwrap()])
        .await
        .unwrap();

    // The good ones are handled, in order, around the bad ones.
    let (got1, got2) = (
        crate::next(&mut handled).await,
        crate::next(&mut handled).await,
    );
    assert_eq!((got1, got2), (first, last));

    // ANCHOR: dead_letters
    // Both bad ones are in the dead-letter topic, each with its reason, its topic
    // and its offset.
    let reasons = crate::dead_letters(&dead, &topic, 2).await;
    // ANCHOR_END: dead_letters
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("cannot decode event `test.ping`")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("not a CloudEvents record")),
        "{reasons:?}"
    );
    let mut dead_lettered = 0;
    while dead_lettered < 2 {
        let o = tokio::time::timeout(WAIT, outcomes.recv())
            .await
            .unwrap()
            .unwrap();
        if matches!(o.status, Status::DeadLettered { .. }) {
            dead_lettered += 1;
        }
    }
    running.shutdown().await.unwrap();

    // The offsets moved past all four: the group's next member gets nothing again.
    let again = transport
        .subscribe(SubscribeOptions::new(group, [topic.as_str()]))
        .await
        .unwrap();
    let replay = tokio::time::timeout(Duration::from_secs(8), again.recv()).await;
    assert!(replay.is_err(), "a handled record came again: {replay:?}");
    again.close().await.unwrap();
    dead.close().await.unwrap();
}

/// A nacked record comes back after the redelivery backoff, not at once, while other
/// keys go on meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nacked_record_comes_back_after_its_backoff_and_other_keys_go_on() {
    let broker = edp_kafka::testkit::Broker::shared().unwrap();
    let backoff = Duration::from_millis(400);
    let transport = edp_kafka::KafkaTransport::connect(
        broker
            .config()
            .topic_partitions(1)
            .redelivery_backoff(backoff, Duration::from_secs(2)),
    )
    .unwrap();
    let topic = format!("nacks-{}", uuid::Uuid::now_v7().simple());
    let sub = transport
        .subscribe(SubscribeOptions::new(
            format!("g-{}", uuid::Uuid::now_v7().simple()),
            [topic.as_str()],
        ))
        .await
        .unwrap();
    let publisher = Publisher::new("test", transport.clone());
    let a = publisher
        .envelope(
            &Ping {
                key: "a".into(),
                n: 1,
            },
            None,
        )
        .unwrap();
    let b = publisher
        .envelope(
            &Ping {
                key: "b".into(),
                n: 2,
            },
            None,
        )
        .unwrap();
    let (a_id, b_id) = (a.id, b.id);
    transport.publish(&topic, vec![a, b]).await.unwrap();

    let first = tokio::time::timeout(WAIT, sub.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.envelope.id, a_id, "one partition: publish order");
    sub.nack(&first).await.unwrap();
    let nacked_at = std::time::Instant::now();
    let second = tokio::time::timeout(WAIT, sub.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(second.envelope.id, b_id, "key b is not held up by key a");
    sub.ack(&second).await.unwrap();
    let again = tokio::time::timeout(WAIT, sub.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let waited = nacked_at.elapsed();
    assert_eq!(again.envelope.id, a_id);
    assert_eq!(again.redeliveries, 1);
    assert!(
        waited >= backoff,
        "came back after {waited:?}, before the backoff"
    );
    sub.ack(&again).await.unwrap();
    sub.close().await.unwrap();
}

/// The sum of the samples whose line starts with `prefix` in the Prometheus text;
/// `None` when there is none.
fn sum_of(text: &str, prefix: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// A running service is ready once its consumer holds its partitions and unready
/// once it has left; `edp_consumer_lag` shows the records it has not committed (from
/// librdkafka's statistics every 5 s), and falls to 0 once they are handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_assignment_and_lag_is_measured() {
    let transport = crate::client();
    let topic = format!("pings-{}", uuid::Uuid::now_v7().simple());
    let group = format!("lag-{}", uuid::Uuid::now_v7().simple());
    let publisher = Publisher::new("test", transport.clone());
    for n in 0..20 {
        let ping = Ping { key: "k".into(), n };
        publisher
            .send(&topic, vec![publisher.envelope(&ping, None).unwrap()])
            .await
            .unwrap();
    }
    // The handler waits for the gate: nothing is committed until it opens.
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let running = Service::builder(group.clone(), transport.clone())
        .topic(topic.clone())
        .handler_with(
            gate.clone(),
            |gate: std::sync::Arc<tokio::sync::Semaphore>, _ctx: Context, _p: Ping| async move {
                gate.acquire().await?.forget();
                Ok::<(), BoxError>(())
            },
        )
        .build()
        .start()
        .await
        .unwrap();
    let assignment = running.assignment();
    // Subscribed when start returns; assigned once the group has formed.
    let deadline = tokio::time::Instant::now() + WAIT;
    while !assignment.is_assigned() {
        assert!(tokio::time::Instant::now() < deadline, "never assigned");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let health = edp_core::health::Health::new().check("consumer", assignment.check());
    assert_eq!(health.ready().await.status, edp_core::health::Condition::Up);

    // Summed over the topic's partitions (the key picks one).
    let lag = |text: &str| sum_of(text, &format!("edp_consumer_lag{{group=\"{group}\","));
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = edp_core::telemetry::metrics::render();
        if lag(&text) == Some(20.0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "lag never reached 20: {:?}",
            lag(&text)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    gate.add_permits(20);
    loop {
        let text = edp_core::telemetry::metrics::render();
        if lag(&text) == Some(0.0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "lag never fell to 0: {:?}",
            lag(&text)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    running.shutdown().await.unwrap();
    assert!(
        !assignment.is_assigned(),
        "a member that left holds nothing"
    );
    let report = health.ready().await;
    assert_eq!(report.status, edp_core::health::Condition::Down);
    let text = format!("{report:?}");
    assert!(text.contains("has no partition assignment"), "{text}");
}
