//! Backpressure: a publisher floods a slow handler for 10 seconds. With edp's bounded
//! in-memory partitions the publisher is slowed down and memory stays flat; the raw
//! peer in the same run, an unbounded tokio channel into the same slow consumer,
//! shows what happens without a bound. Reports steady and peak RSS for both.
//!
//! Run: `cargo bench -p edp-core --bench backpressure` (options: `--seconds S`).
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use edp_core::error::BoxError;
use edp_core::transport::memory::MemoryTransport;
use edp_core::{Context, Publisher, Service};

/// The slow handler: 1 ms of await per event.
const HANDLER_WAIT: Duration = Duration::from_millis(1);

struct Report {
    steady_kib: u64,
    peak_kib: u64,
    published: u64,
    handled: u64,
}

/// Samples RSS every 100 ms until `stop`; steady = the sample at 1 s.
async fn sample(stop: Arc<AtomicBool>) -> (u64, u64) {
    let start = Instant::now();
    let (mut steady, mut peak) = (0, 0);
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let rss = rss_kib();
        peak = peak.max(rss);
        if steady == 0 && start.elapsed() >= Duration::from_secs(1) {
            steady = rss;
        }
    }
    (steady, peak)
}

fn edp_flood(rt: &tokio::runtime::Runtime, seconds: u64) -> Report {
    rt.block_on(async {
        let transport = MemoryTransport::new();
        let handled = Arc::new(AtomicU64::new(0));
        let h = handled.clone();
        let slow = move |_ctx: Context, _e: OrderPlaced| {
            let h = h.clone();
            async move {
                tokio::time::sleep(HANDLER_WAIT).await;
                h.fetch_add(1, Ordering::Relaxed);
                Ok::<(), BoxError>(())
            }
        };
        let running = Service::builder("slow", transport.clone())
            .handler(slow)
            .build()
            .start()
            .await
            .unwrap();
        let publisher = Publisher::new("flood", transport.clone());
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = tokio::spawn(sample(stop.clone()));
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let evs = events(10_000, 1000);
        let mut published = 0u64;
        while Instant::now() < deadline {
            for chunk in evs.chunks(100) {
                publisher.publish_all(chunk).await.unwrap();
                published += chunk.len() as u64;
            }
        }
        stop.store(true, Ordering::Relaxed);
        let (steady_kib, peak_kib) = sampler.await.unwrap();
        let handled = handled.load(Ordering::Relaxed);
        running.stop_token().cancel();
        let _ = running.wait().await;
        Report {
            steady_kib,
            peak_kib,
            published,
            handled,
        }
    })
}

fn unbounded_flood(rt: &tokio::runtime::Runtime, seconds: u64) -> Report {
    rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        let handled = Arc::new(AtomicU64::new(0));
        let h = handled.clone();
        let consumer = tokio::spawn(async move {
            while let Some(b) = rx.recv().await {
                let e: OrderPlaced = serde_json::from_slice(&b).unwrap();
                std::hint::black_box(e);
                tokio::time::sleep(HANDLER_WAIT).await;
                h.fetch_add(1, Ordering::Relaxed);
            }
        });
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = tokio::spawn(sample(stop.clone()));
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let evs = events(10_000, 1000);
        let mut published = 0u64;
        'flood: while Instant::now() < deadline {
            for chunk in evs.chunks(100) {
                for e in chunk {
                    tx.send(serde_json::to_vec(e).unwrap()).unwrap();
                    published += 1;
                }
                tokio::task::yield_now().await;
                if Instant::now() >= deadline {
                    break 'flood;
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        let (steady_kib, peak_kib) = sampler.await.unwrap();
        let handled = handled.load(Ordering::Relaxed);
        drop(tx);
        consumer.abort();
        Report {
            steady_kib,
            peak_kib,
            published,
            handled,
        }
    })
}

fn main() {
    let seconds = arg_usize("--seconds", 10) as u64;
    let rt = runtime();
    let edp = edp_flood(&rt, seconds);
    let raw = unbounded_flood(&rt, seconds);
    println!(
        "backpressure: {seconds} s flood into a handler that awaits {HANDLER_WAIT:?} per event"
    );
    for (name, r) in [
        ("edp, bounded partitions", &edp),
        ("unbounded tokio channel", &raw),
    ] {
        println!(
            "  {name:<24} RSS steady {:>8} KiB  peak {:>8} KiB  (+{} KiB)   published {:>9}  handled {:>7}",
            r.steady_kib,
            r.peak_kib,
            r.peak_kib.saturating_sub(r.steady_kib),
            r.published,
            r.handled
        );
    }
}
