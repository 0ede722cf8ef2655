//! The outbox relay draining a backlog to Kafka against raw rdkafka, same run, same
//! broker: 200-byte JSON payloads, idempotent producer, `acks=all`, linger 5 ms.
//!
//! - edp: each round fills the outbox of a fresh PostgreSQL database with `--records`
//!   rows (`outbox::add_envelope`, transactions of 5,000 rows; not timed), then times
//!   `Relay::new(pool, transport).batch_size(B).drain()`: publish a batch and wait
//!   for the broker's acknowledgements while the next batch is read and the rows of
//!   the previous one are deleted, until none is left. The
//!   transport is connected and the topic exists before the clock starts.
//! - raw: a `BaseProducer` sends the same number of 200-byte records (same keys, no
//!   headers) as fast as librdkafka takes them, then flushes; connected and warmed
//!   with its idempotent producer id before the clock starts. It runs twice: bare, and
//!   with the six CloudEvents headers edp writes for each record (raw+headers), as a
//!   raw client of the same records must.
//!
//! The order of the two alternates from round to round. Reported as ratios, because
//! absolute rates drift on shared machines. The PostgreSQL is the edp-sql testkit's
//! (a throwaway cluster with `fsync=off`, or
//! `DATABASE_URL`); the broker is edp-kafka's testkit's (tansu, or `KAFKA_BROKERS`).
//!
//! Run: `cargo bench -p edp-sql --bench relay`. Options: `--records N` (default
//! 100000), `--rounds R` (4), `--batch B` (relay batch size, 5000 as the relay's default; or the environment
//! variable `EDP_BENCH_BATCH`), `--analyze` (run `ANALYZE edp_outbox` after filling,
//! as autovacuum does in time; without it the fresh table has no statistics yet, and
//! PostgreSQL may read the first batches by a bitmap scan and sort of the whole
//! backlog instead of the index in id order).
//!
//! Output: a header, one line per round (rates in events per second, and the
//! ratio), then the medians:
//!
//! ```text
//! 100000 outbox rows of 200 bytes, relay batch 5000, 4 rounds, outbox not analyzed; ...
//! round 1 (raw first): raw   602006/s  raw+headers   236478/s  edp   114110/s  edp/raw 0.19x  edp/raw+headers 0.48x  (fill 12.8 s)
//! round 2 (edp first): raw   622369/s  raw+headers   266710/s  edp   144345/s  edp/raw 0.23x  edp/raw+headers 0.54x  (fill 10.4 s)
//! ...
//! median: raw   612187/s  raw+headers   274883/s  edp   115563/s  edp/raw 0.19x  edp/raw+headers 0.42x (...)
//! ```
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

mod common;

use std::time::{Duration, Instant};

use common::{arg, median};
use edp_core::Envelope;
use edp_core::transport::Transport;
use edp_kafka::KafkaTransport;
use edp_kafka::testkit::Broker;
use edp_sql::outbox::{self, Relay};
use edp_sql::testkit::Postgres;
use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use sqlx::PgPool;

const PAYLOAD: usize = 200;
const FILL_TX: usize = 5000;

fn topic(what: &str) -> String {
    format!("bench-relay-{what}-{}", uuid::Uuid::now_v7().simple())
}

/// A 200-byte JSON object.
fn payload(i: usize) -> Vec<u8> {
    let mut p = format!(
        r#"{{"order_id":"o-{i:06}","customer_id":"c-{}","total_cents":123456,"note":""#,
        i % 100
    )
    .into_bytes();
    p.resize(PAYLOAD - 2, b'x');
    p.extend_from_slice(br#""}"#);
    p
}

fn key(i: usize) -> String {
    format!("k{}", i % 1000)
}

fn envelope(i: usize) -> Envelope {
    Envelope::builder("bench.record", payload(i))
        .source("bench")
        .subject(key(i))
        .build()
}

/// Fills the outbox with `n` rows for `topic`, in transactions of 5,000.
async fn fill(pool: &PgPool, topic: &str, n: usize) {
    let mut i = 0;
    while i < n {
        let mut tx = pool.begin().await.unwrap();
        for _ in 0..FILL_TX.min(n - i) {
            outbox::add_envelope(&mut tx, topic, &envelope(i))
                .await
                .unwrap();
            i += 1;
        }
        tx.commit().await.unwrap();
    }
}

/// edp: drains the outbox through the relay; events per second.
async fn edp_drain(pool: &PgPool, t: &KafkaTransport, batch: usize, n: usize) -> f64 {
    let relay = Relay::new(pool.clone(), t.clone()).batch_size(batch);
    let start = Instant::now();
    let published = relay.drain().await.unwrap();
    let rate = n as f64 / start.elapsed().as_secs_f64();
    assert_eq!(published, n as u64, "the relay published every row");
    let left = outbox::backlog(pool).await.unwrap().unpublished;
    assert_eq!(left, 0, "the outbox is empty");
    rate
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
/// full, then flush; events per second. Connected, with its idempotent producer id,
/// before the clock starts.
/// With `headers`, each record carries the CloudEvents headers edp writes, as a raw
/// client of the same records must.
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
    let records: Vec<(String, Vec<u8>)> = (0..n).map(|i| (key(i), payload(i))).collect();
    let start = Instant::now();
    for (key, data) in &records {
        let mut record = BaseRecord::to(topic).key(key).payload(data);
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

/// The CloudEvents headers of one record, as a raw producer writes them (the ones edp
/// writes for these envelopes).
fn ce_headers() -> OwnedHeaders {
    let id = uuid::Uuid::now_v7().hyphenated().to_string();
    let h = |key, value| Header {
        key,
        value: Some(value),
    };
    OwnedHeaders::new_with_capacity(6)
        .insert(h("ce_specversion", "1.0"))
        .insert(h("ce_id", id.as_str()))
        .insert(h("ce_source", "bench"))
        .insert(h("ce_type", "bench.record"))
        .insert(h("ce_time", "2026-12-04T08:00:00.000000Z"))
        .insert(h("content-type", "application/json"))
}

fn main() {
    let n = arg("--records", 100_000) as usize;
    let rounds = arg("--rounds", 4);
    let batch_env = std::env::var("EDP_BENCH_BATCH").ok();
    let batch_default = batch_env.and_then(|b| b.parse().ok()).unwrap_or(5000);
    let batch = arg("--batch", batch_default) as usize;
    let analyze = std::env::args().any(|a| a == "--analyze");
    let broker = Broker::shared().expect("a Kafka broker");
    let brokers = broker.brokers().to_owned();
    let postgres = Postgres::shared().expect("a PostgreSQL");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let t = KafkaTransport::connect(broker.config()).unwrap();
    println!(
        "{n} outbox rows of {PAYLOAD} bytes, relay batch {batch}, {rounds} rounds, outbox \
         {}; Kafka: idempotent producer, acks=all, linger 5 ms; PostgreSQL: testkit \
         cluster (fsync=off) unless DATABASE_URL",
        if analyze { "analyzed" } else { "not analyzed" }
    );
    let (mut raws, mut rawhs, mut edps) = (Vec::new(), Vec::new(), Vec::new());
    let (mut ratios, mut ratios_h) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let (raw_topic, rawh_topic, edp_topic) = (topic("raw"), topic("rawh"), topic("edp"));
        let db = rt.block_on(postgres.database()).unwrap();
        let fill_secs = rt.block_on(async {
            edp_sql::migrate(db.pool()).await.unwrap();
            // Topics exist and the transport is warm before timing.
            for x in [&raw_topic, &rawh_topic, &edp_topic] {
                t.publish(x, vec![envelope(0)]).await.unwrap();
            }
            let start = Instant::now();
            fill(db.pool(), &edp_topic, n).await;
            if analyze {
                sqlx::query("ANALYZE edp_outbox")
                    .execute(db.pool())
                    .await
                    .unwrap();
            }
            start.elapsed().as_secs_f64()
        });
        let raw_first = round % 2 == 1;
        let raws_now = |brokers: &str| {
            (
                raw_publish(brokers, &raw_topic, n, false),
                raw_publish(brokers, &rawh_topic, n, true),
            )
        };
        let ((raw, rawh), edp) = if raw_first {
            let raw = raws_now(&brokers);
            (raw, rt.block_on(edp_drain(db.pool(), &t, batch, n)))
        } else {
            let edp = rt.block_on(edp_drain(db.pool(), &t, batch, n));
            (raws_now(&brokers), edp)
        };
        drop(db);
        println!(
            "round {round} ({} first): raw {raw:>8.0}/s  raw+headers {rawh:>8.0}/s  edp \
             {edp:>8.0}/s  edp/raw {:.2}x  edp/raw+headers {:.2}x  (fill {fill_secs:.1} s)",
            if raw_first { "raw" } else { "edp" },
            edp / raw,
            edp / rawh
        );
        raws.push(raw);
        rawhs.push(rawh);
        edps.push(edp);
        ratios.push(edp / raw);
        ratios_h.push(edp / rawh);
    }
    let (raw, rawh, edp) = (median(raws), median(rawhs), median(edps));
    println!(
        "median: raw {raw:>8.0}/s  raw+headers {rawh:>8.0}/s  edp {edp:>8.0}/s  edp/raw \
         {:.2}x  edp/raw+headers {:.2}x (medians of round ratios {:.2}x, {:.2}x)",
        edp / raw,
        edp / rawh,
        median(ratios),
        median(ratios_h)
    );
}
