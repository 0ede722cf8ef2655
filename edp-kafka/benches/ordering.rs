//! Per-key ordered concurrency against per-partition ordering, on a real broker: a
//! handler that awaits 1 ms per event, 6 partitions, 1,000 keys. Per-partition order
//! runs at most one event per partition at a time; per-key order runs every key with
//! nothing in flight, so a slow handler scales with the keys, not the partitions.
//! Both runs check that every key was handled in publish order.
//!
//! Run: `cargo bench -p edp-kafka --bench ordering` (starts a tansu broker unless
//! `KAFKA_BROKERS` is set). Options: `--events N` (default 20000), `--keys K` (1000),
//! `--workers W` (256), `--sleep-us U` (1000).
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edp_core::error::BoxError;
use edp_core::transport::Transport;
use edp_core::{Context, Event, Publisher, Service};
use edp_kafka::testkit::Broker;
use edp_kafka::{KafkaTransport, Sequencing};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "bench.step", topic = "bench-ordering", key = key)]
struct Step {
    key: String,
    seq: u32,
}

struct Tally {
    last: Mutex<HashMap<String, u32>>,
    out_of_order: AtomicUsize,
    handled: AtomicUsize,
    first: Mutex<Option<Instant>>,
    last_at: Mutex<Option<Instant>>,
    sleep: Duration,
}

async fn on_step(tally: Arc<Tally>, _ctx: Context, step: Step) -> Result<(), BoxError> {
    {
        let mut first = tally.first.lock().unwrap();
        first.get_or_insert_with(Instant::now);
    }
    tokio::time::sleep(tally.sleep).await;
    {
        let mut last = tally.last.lock().unwrap();
        let prev = last.insert(step.key.clone(), step.seq);
        if prev.is_some_and(|p| p >= step.seq) {
            tally.out_of_order.fetch_add(1, AtomicOrdering::Relaxed);
        }
    }
    tally.handled.fetch_add(1, AtomicOrdering::Relaxed);
    *tally.last_at.lock().unwrap() = Some(Instant::now());
    Ok(())
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Publishes `events` steps over `keys` keys to a fresh topic.
async fn fill(transport: &KafkaTransport, topic: &str, events: u32, keys: u32) {
    let publisher = Publisher::new("bench", transport.clone());
    let mut batch = Vec::new();
    for seq in 0..events {
        let step = Step {
            key: format!("k{}", seq % keys),
            seq,
        };
        batch.push(publisher.envelope(&step, None).unwrap());
        if batch.len() == 1000 {
            transport
                .publish(topic, std::mem::take(&mut batch))
                .await
                .unwrap();
        }
    }
    if !batch.is_empty() {
        transport.publish(topic, batch).await.unwrap();
    }
}

/// Handles every event of `topic` in a fresh group; returns events per second between
/// the first and the last handled event, and the order violations.
async fn run(
    broker: &Broker,
    ordering: Sequencing,
    topic: &str,
    events: u32,
    workers: usize,
    sleep: Duration,
) -> (f64, usize) {
    let transport =
        KafkaTransport::connect(broker.config().ordering(ordering).max_buffered(100_000)).unwrap();
    let tally = Arc::new(Tally {
        last: Mutex::new(HashMap::new()),
        out_of_order: AtomicUsize::new(0),
        handled: AtomicUsize::new(0),
        first: Mutex::new(None),
        last_at: Mutex::new(None),
        sleep,
    });
    let service = Service::builder(format!("bench-{ordering:?}"), transport.clone())
        .topic(topic)
        .concurrency(workers)
        .handler_with(tally.clone(), on_step)
        .build();
    let running = service.start().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    while tally.handled.load(AtomicOrdering::Relaxed) < events as usize {
        assert!(Instant::now() < deadline, "not all events were handled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    running.shutdown().await.unwrap();
    transport.close().await.unwrap();
    let first = tally.first.lock().unwrap().unwrap();
    let last = tally.last_at.lock().unwrap().unwrap();
    let rate = f64::from(events) / last.duration_since(first).as_secs_f64();
    (rate, tally.out_of_order.load(AtomicOrdering::Relaxed))
}

fn main() {
    let events = arg("--events", 20_000) as u32;
    let keys = arg("--keys", 1_000) as u32;
    let workers = arg("--workers", 256) as usize;
    let sleep = Duration::from_micros(arg("--sleep-us", 1_000));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let broker = Broker::shared().expect("a broker");
    rt.block_on(async {
        let setup = KafkaTransport::connect(broker.config().topic_partitions(6)).unwrap();
        let topic = format!("bench-ordering-{}", uuid::Uuid::now_v7().simple());
        fill(&setup, &topic, events, keys).await;
        println!(
            "{events} events, {keys} keys, 6 partitions, handler awaits {sleep:?}, {workers} workers"
        );
        let (per_partition, bad_p) =
            run(broker, Sequencing::PerPartition, &topic, events, workers, sleep).await;
        println!("per-partition order: {per_partition:>9.0} events/s, {bad_p} out of order");
        let (per_key, bad_k) = run(broker, Sequencing::PerKey, &topic, events, workers, sleep).await;
        println!("per-key order:       {per_key:>9.0} events/s, {bad_k} out of order");
        println!("per-key / per-partition: {:.1}x", per_key / per_partition);
        assert_eq!(bad_p + bad_k, 0, "order per key was broken");
    });
}
