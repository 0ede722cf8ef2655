//! Kafka publish and consume throughput of edp against raw rdkafka, same run, same
//! broker: 200-byte payloads, idempotent producer, linger 5 ms.
//!
//! - publish: raw `BaseProducer` (send, poll, flush), connected and warmed up before
//!   timing as edp's transport is, vs `KafkaTransport::publish` in batches (one
//!   completion per batch). A second raw line sends the same CloudEvents headers edp
//!   writes (`ce_id`, `ce_type`, ...), which is what a raw producer of the same records
//!   does.
//! - consume + ack: raw `BaseConsumer` (poll, then store the offset of each record) vs
//!   a `KafkaSubscriber` (`recv_batch`, then `ack` of the batch), all reading the same
//!   records (published by edp, so with their CloudEvents headers). The raw consumer
//!   runs before and after edp (the figure is their mean, so neither order nor drift
//!   favours edp), and once more reading the headers and copying the payload, as a
//!   raw consumer that dispatches by event type must.
//!
//! Reported as ratios, because absolute rates drift on shared machines. Use enough
//! records that the run outlasts librdkafka's prefetch (64 MiB by default): with
//! fewer, the consumer figures measure how fast a warm local queue drains and the
//! publish figures the producer's start-up.
//!
//! Run: `cargo bench -p edp-kafka --bench throughput` (starts a tansu broker unless
//! `KAFKA_BROKERS` is set); `--features bench-mimalloc` runs both sides on mimalloc.
//! Options: `--records N` (default 500000), `--rounds R` (2), `--batch B` (edp publish
//! batch, 1000), `--per-partition` (edp consumes with per-partition instead of
//! per-key order), `--lease L` (edp `recv_batch` size, 64), `--max-buffered M`
//! (per-partition fetch-ahead, 4096), `--commit-ms C` (1000), `--consume-only`
//! (publish untimed, then only edp consumes `--rounds` times: for profiling).
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use std::time::{Duration, Instant};

#[cfg(feature = "bench-mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use bytes::Bytes;
use edp_core::Envelope;
use edp_core::transport::{SubscribeOptions, Subscriber, Transport};
use edp_kafka::KafkaTransport;
use edp_kafka::testkit::Broker;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers as _, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

const PAYLOAD: usize = 200;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn topic(what: &str) -> String {
    format!("bench-{what}-{}", uuid::Uuid::now_v7().simple())
}

fn payload() -> Vec<u8> {
    let mut p =
        br#"{"order_id":"o-000000","customer_id":"c-1","total_cents":123456,"note":""#.to_vec();
    p.resize(PAYLOAD - 2, b'x');
    p.extend_from_slice(br#""}"#);
    p
}

fn raw_producer(brokers: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("compression.type", "none")
        .create()
        .unwrap()
}

/// Raw rdkafka: send every record, serving delivery reports only when the queue is
/// full (the fastest loop librdkafka allows), then flush. The producer is connected
/// and has its idempotent producer id before the clock starts. With `headers`, each
/// record carries the CloudEvents headers edp writes.
fn raw_publish(brokers: &str, topic: &str, n: usize, headers: bool) -> f64 {
    let producer = raw_producer(brokers);
    producer
        .send(
            BaseRecord::<str, str>::to(topic)
                .key("warm-up")
                .payload("{}"),
        )
        .unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();
    let data = payload();
    let start = Instant::now();
    for i in 0..n {
        let key = format!("k{}", i % 1000);
        let mut record = BaseRecord::to(topic).key(&key).payload(&data);
        if headers {
            record = record.headers(ce_headers());
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(1));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    n as f64 / start.elapsed().as_secs_f64()
}

/// The CloudEvents headers of one record, as a raw producer writes them.
fn ce_headers() -> OwnedHeaders {
    let id = uuid::Uuid::now_v7().hyphenated().to_string();
    let time = "2026-11-25T08:00:00.000000Z";
    let h = |key, value| Header {
        key,
        value: Some(value),
    };
    // The headers edp writes (`ce_dataversion` only when it is not 1).
    OwnedHeaders::new_with_capacity(6)
        .insert(h("ce_specversion", "1.0"))
        .insert(h("ce_id", id.as_str()))
        .insert(h("ce_source", "bench"))
        .insert(h("ce_type", "bench.record"))
        .insert(h("ce_time", time))
        .insert(h("content-type", "application/json"))
}

fn envelopes(n: usize) -> Vec<Envelope> {
    let data = Bytes::from(payload());
    (0..n)
        .map(|i| {
            Envelope::builder("bench.record", data.clone())
                .source("bench")
                .subject(format!("k{}", i % 1000))
                .build()
        })
        .collect()
}

/// edp: `publish` batches of `batch` envelopes, `in_flight` batches at once.
async fn edp_publish(t: &KafkaTransport, topic: &str, n: usize, batch: usize) -> f64 {
    let mut all = envelopes(n);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    while !all.is_empty() {
        let rest = all.split_off(all.len().saturating_sub(batch));
        let (t, topic) = (t.clone(), topic.to_owned());
        tasks.spawn(async move { t.publish(&topic, rest).await.unwrap() });
        while tasks.len() >= 8 {
            tasks.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Raw rdkafka: poll every record of `topic` and store its offset (manual offset
/// store, as an at-least-once consumer does). With `read`, it also reads every header
/// as UTF-8 and copies the payload out, as a consumer that dispatches by event type
/// must. Timed from the first record.
fn raw_consume(brokers: &str, topic: &str, n: usize, read: bool) -> f64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("raw-{}", uuid::Uuid::now_v7().simple()))
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "2000")
        .set("heartbeat.interval.ms", "200")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut got = 0;
    let mut start = None;
    while got < n {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            start.get_or_insert_with(Instant::now);
            if read {
                if let Some(hs) = m.headers() {
                    for h in hs.iter() {
                        std::hint::black_box(h.value.map(std::str::from_utf8));
                    }
                }
                std::hint::black_box(m.payload().map(<[u8]>::to_vec));
            } else {
                std::hint::black_box(m.payload());
            }
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(m.topic(), m.partition(), Offset::Offset(m.offset() + 1))
                .unwrap();
            consumer.store_offsets(&tpl).unwrap();
            got += 1;
        }
    }
    n as f64 / start.unwrap().elapsed().as_secs_f64()
}

/// edp: `recv_batch` and ack each batch, on one task. Timed from the first record.
async fn edp_consume(t: &KafkaTransport, topic: &str, n: usize) -> f64 {
    let group = format!("edp-{}", uuid::Uuid::now_v7().simple());
    let sub = t
        .subscribe(SubscribeOptions::new(group, [topic]))
        .await
        .unwrap();
    let mut got = 0;
    let mut start = None;
    while got < n {
        let batch = sub
            .recv_batch(arg("--lease", 64) as usize)
            .await
            .unwrap()
            .unwrap();
        start.get_or_insert_with(Instant::now);
        got += batch.len();
        std::hint::black_box(&batch[0].envelope.data);
        sub.ack(batch.last().unwrap()).await.unwrap();
    }
    let rate = n as f64 / start.unwrap().elapsed().as_secs_f64();
    sub.close().await.unwrap();
    rate
}

fn main() {
    let n = arg("--records", 500_000) as usize;
    let rounds = arg("--rounds", 2);
    let batch = arg("--batch", 1000) as usize;
    let broker = Broker::shared().expect("a broker");
    let brokers = broker.brokers().to_owned();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ordering = if std::env::args().any(|a| a == "--per-partition") {
        edp_kafka::Sequencing::PerPartition
    } else {
        edp_kafka::Sequencing::PerKey
    };
    let t = KafkaTransport::connect(
        broker
            .config()
            .ordering(ordering)
            .max_buffered(arg("--max-buffered", 4096) as usize)
            .commit_interval(Duration::from_millis(arg("--commit-ms", 1000))),
    )
    .unwrap();
    println!("{n} records of {PAYLOAD} bytes, idempotent producer, linger 5 ms, {rounds} rounds");
    if std::env::args().any(|a| a == "--consume-only") {
        // For profiling: publish untimed, then consume with edp only.
        let b = topic("edp");
        rt.block_on(edp_publish(&t, &b, n, batch));
        for round in 1..=rounds {
            let edp_c = rt.block_on(edp_consume(&t, &b, n));
            println!("round {round} consume+ack: edp {edp_c:>8.0}/s");
        }
        return;
    }
    for round in 1..=rounds {
        let (a, b, c) = (topic("raw"), topic("edp"), topic("rawh"));
        // Topics exist before timing: create them with a first publish.
        rt.block_on(async {
            for x in [&a, &b, &c] {
                t.publish(x, envelopes(1)).await.unwrap();
            }
        });
        let raw = raw_publish(&brokers, &a, n, false);
        let edp = rt.block_on(edp_publish(&t, &b, n, batch));
        let rawh = raw_publish(&brokers, &c, n, true);
        println!(
            "round {round} publish: raw {raw:>8.0}/s  raw+headers {rawh:>8.0}/s  edp {edp:>8.0}/s  \
             edp/raw {:.2}x  edp/raw+headers {:.2}x",
            edp / raw,
            edp / rawh
        );
        // Every consumer reads the same records (edp's, with their CloudEvents
        // headers), each in its own group.
        let before = raw_consume(&brokers, &b, n + 1, false);
        let edp_c = rt.block_on(edp_consume(&t, &b, n + 1));
        let after = raw_consume(&brokers, &b, n + 1, false);
        let read = raw_consume(&brokers, &b, n + 1, true);
        let raw_c = (before + after) / 2.0;
        println!(
            "round {round} consume+ack: raw {raw_c:>8.0}/s (before {before:.0}, after {after:.0})  \
             raw reading headers {read:>8.0}/s  edp {edp_c:>8.0}/s  edp/raw {:.2}x  \
             edp/raw reading headers {:.2}x",
            edp_c / raw_c,
            edp_c / read
        );
    }
}
