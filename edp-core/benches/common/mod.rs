//! Shared by the bench binaries: the event, timing and reporting helpers.
#![allow(
    dead_code,
    missing_docs,
    unreachable_pub,
    clippy::print_stdout,
    clippy::expect_used
)]

use std::time::{Duration, Instant};

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, edp_core::Event)]
#[event(name = "bench.order_placed", version = 1, topic = "bench-orders", key = order_id)]
pub struct OrderPlaced {
    pub order_id: String,
    pub customer_id: String,
    pub total_cents: u64,
    pub currency: String,
    pub lines: u32,
}

pub fn events(n: usize, keys: usize) -> Vec<OrderPlaced> {
    (0..n)
        .map(|i| OrderPlaced {
            order_id: format!("order-{:06}", i % keys),
            customer_id: format!("customer-{:04}", i % 997),
            total_cents: (i as u64 * 7919) % 100_000,
            currency: "EUR".into(),
            lines: (i % 5) as u32 + 1,
        })
        .collect()
}

pub fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub fn timed<F: FnOnce()>(f: F) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

pub fn arg_usize(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn runtime() -> tokio::runtime::Runtime {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    #[cfg(tokio_unstable)]
    if std::env::args().any(|a| a == "--no-lifo") {
        b.disable_lifo_slot();
    }
    b.worker_threads(arg_usize("--threads", 2))
        .enable_all()
        .build()
        .expect("bench runtime")
}

/// CPU time used by every thread of this process so far, in nanoseconds (from
/// /proc/self/task/*/schedstat): less sensitive to other load than wall time.
pub fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| {
            s.split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
        })
        .sum()
}

/// A handler that counts events and notifies `done` at the `n`-th; and the counter.
#[allow(clippy::type_complexity)]
pub fn counting_handler(
    n: usize,
    done: Arc<tokio::sync::Notify>,
) -> (
    impl Fn(edp_core::Context, OrderPlaced) -> std::future::Ready<Result<(), edp_core::error::BoxError>>
    + Clone
    + Send
    + Sync
    + 'static,
    Arc<AtomicUsize>,
) {
    let handled = Arc::new(AtomicUsize::new(0));
    let h = handled.clone();
    let handler = move |_ctx: edp_core::Context, e: OrderPlaced| {
        std::hint::black_box(&e);
        if h.fetch_add(1, Ordering::Relaxed) + 1 == n {
            done.notify_one();
        }
        std::future::ready(Ok(()))
    };
    (handler, handled)
}
