//! In-memory publish -> typed handler -> ack throughput with the JSON codec, against a
//! bare loop in the same run: tokio mpsc plus serde_json encode and decode of the same
//! event. Reported as a ratio, because absolute rates drift on shared machines.
//!
//! Run: `cargo bench -p edp-core --bench throughput`. Options: `--events N`,
//! `--rounds R`, `--partitions P`, `--capacity C`, `--concurrency W`, `--threads T`
//! (runtime worker threads); `--features bench-mimalloc` runs both sides on mimalloc.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

#[path = "common/mod.rs"]
mod common;

#[cfg(feature = "bench-mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use common::*;
use edp_core::transport::memory::{MemoryConfig, MemoryTransport};
use edp_core::{Publisher, Service};

/// (events per second, CPU nanoseconds per event)
type Measure = (f64, f64);

fn bare_loop(rt: &tokio::runtime::Runtime, events: &Arc<Vec<OrderPlaced>>) -> Measure {
    let n = events.len();
    let cpu = cpu_ns();
    let r = rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(1024);
        let start = Instant::now();
        let evs = events.clone();
        let producer = tokio::spawn(async move {
            for e in evs.iter() {
                let bytes = serde_json::to_vec(e).unwrap();
                tx.send(bytes).await.unwrap();
            }
        });
        let consumer = tokio::spawn(async move {
            let mut count = 0usize;
            while let Some(b) = rx.recv().await {
                let e: OrderPlaced = serde_json::from_slice(&b).unwrap();
                black_box(&e);
                count += 1;
            }
            count
        });
        producer.await.unwrap();
        let handled = consumer.await.unwrap();
        assert_eq!(handled, n);
        rate(n, start.elapsed())
    });
    (r, (cpu_ns() - cpu) as f64 / n as f64)
}

fn edp_pipeline(
    rt: &tokio::runtime::Runtime,
    events: &Arc<Vec<OrderPlaced>>,
    batch: usize,
) -> Measure {
    let n = events.len();
    let cpu = cpu_ns();
    let r = rt.block_on(async {
        let transport = MemoryTransport::with_config(
            MemoryConfig::default()
                .partitions(arg_usize("--partitions", 8) as u32)
                .capacity(arg_usize("--capacity", MemoryConfig::default().capacity)),
        );
        let done = Arc::new(tokio::sync::Notify::new());
        let (handler, handled) = counting_handler(n, done.clone());
        let running = Service::builder("bench", transport.clone())
            .concurrency(arg_usize("--concurrency", 16))
            .handler(handler)
            .build()
            .start()
            .await
            .unwrap();
        let publisher = Publisher::new("bench-producer", transport.clone());
        let start = Instant::now();
        let evs = events.clone();
        let producer = tokio::spawn(async move {
            if batch <= 1 {
                for e in evs.iter() {
                    publisher.publish(e).await.unwrap();
                }
            } else {
                for chunk in evs.chunks(batch) {
                    publisher.publish_all(chunk).await.unwrap();
                }
            }
        });
        done.notified().await;
        let elapsed = start.elapsed();
        producer.await.unwrap();
        assert_eq!(handled.load(Ordering::Relaxed), n);
        running.shutdown().await.unwrap();
        rate(n, elapsed)
    });
    (r, (cpu_ns() - cpu) as f64 / n as f64)
}

fn main() {
    let n = arg_usize("--events", 200_000);
    let rounds = arg_usize("--rounds", 5);
    let events = Arc::new(events(n, 1000));
    let rt = runtime();
    if let Some(only) = std::env::args()
        .position(|a| a == "--only")
        .and_then(|i| std::env::args().nth(i + 1))
    {
        // For profiling one variant: `--only bare|single|batched`.
        for _ in 0..rounds {
            let m = match only.as_str() {
                "bare" => bare_loop(&rt, &events),
                "single" => edp_pipeline(&rt, &events, 1),
                _ => edp_pipeline(&rt, &events, 64),
            };
            println!("{only}: {:.0} events/s, {:.0} ns CPU/event", m.0, m.1);
        }
        return;
    }
    // Warm up allocators and code paths.
    bare_loop(&rt, &events);
    edp_pipeline(&rt, &events, 64);
    let (mut bare, mut single, mut batched) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        bare.push(bare_loop(&rt, &events));
        single.push(edp_pipeline(&rt, &events, 1));
        batched.push(edp_pipeline(&rt, &events, 64));
    }
    let m = |v: &Vec<Measure>| {
        (
            median(v.iter().map(|x| x.0).collect()),
            median(v.iter().map(|x| x.1).collect()),
        )
    };
    let (bare, single, batched) = (m(&bare), m(&single), m(&batched));
    println!(
        "throughput: {n} events x {rounds} rounds, 2 worker threads, 1000 keys, JSON, medians"
    );
    println!(
        "  bare mpsc + serde_json loop     {:>10.0} events/s   {:>6.0} ns CPU/event",
        bare.0, bare.1
    );
    println!(
        "  edp, publish one at a time      {:>10.0} events/s   {:>6.0} ns CPU/event   ratio {:.2}x",
        single.0,
        single.1,
        single.0 / bare.0
    );
    println!(
        "  edp, publish_all batches of 64  {:>10.0} events/s   {:>6.0} ns CPU/event   ratio {:.2}x",
        batched.0,
        batched.1,
        batched.0 / bare.0
    );
}
