//! Per-event cost of the retry + timeout + circuit-breaker layers, against the same
//! handler with no layers, in the same run.
//!
//! Two views: a direct loop of calls into the handler stack (decode + handler, one
//! thread), and the whole in-memory pipeline (publish -> layers -> handler -> ack).
//!
//! Run: `cargo bench -p edp-core --bench middleware` (options: `--events N --rounds R`).
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use edp_core::error::BoxError;
use edp_core::handler::TypedHandler;
use edp_core::middleware::circuit_breaker::CircuitBreakerLayer;
use edp_core::middleware::retry::{RetryLayer, RetryPolicy};
use edp_core::middleware::timeout::TimeoutLayer;
use edp_core::transport::memory::MemoryTransport;
use edp_core::{Context, Message, Publisher, Service};
use tokio_util::sync::CancellationToken;
use tower::{ServiceBuilder, ServiceExt};

async fn handle(_ctx: Context, e: OrderPlaced) -> Result<(), BoxError> {
    black_box(&e);
    Ok(())
}

fn messages(n: usize) -> Vec<Message> {
    let publisher = Publisher::new("bench", MemoryTransport::new());
    events(n, 1000)
        .iter()
        .map(|e| Message::new(publisher.envelope(e, None).unwrap(), "bench-orders"))
        .collect()
}

async fn drive<S>(mut svc: S, msgs: &[Message]) -> Duration
where
    S: tower::Service<Message, Response = (), Error = BoxError>,
{
    let start = Instant::now();
    for m in msgs {
        svc.ready().await.unwrap().call(m.clone()).await.unwrap();
    }
    start.elapsed()
}

fn direct(rounds: usize, n: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let msgs = messages(n);
    let publisher = Publisher::new("bench", MemoryTransport::new());
    let typed = || {
        TypedHandler::new(
            handle,
            "handle",
            publisher.clone(),
            CancellationToken::new(),
        )
    };
    let (mut none, mut all) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        rt.block_on(async {
            none.push(drive(typed(), &msgs).await.as_nanos() as f64 / n as f64);
            let stacked = ServiceBuilder::new()
                .layer(RetryLayer::new(RetryPolicy::default()))
                .layer(CircuitBreakerLayer::default())
                .layer(TimeoutLayer::new(Duration::from_secs(5)))
                .service(typed());
            all.push(drive(stacked, &msgs).await.as_nanos() as f64 / n as f64);
        });
    }
    let (none, all) = (median(none), median(all));
    println!(
        "direct calls: {n} events x {rounds} rounds, one thread, medians (decode + handler included)"
    );
    println!("  no layers                       {:>8.0} ns/event", none);
    println!(
        "  retry + circuit breaker + timeout {:>6.0} ns/event   overhead {:+.0} ns, ratio {:.2}x",
        all,
        all - none,
        none / all
    );
}

fn pipeline(rt: &tokio::runtime::Runtime, events: &Arc<Vec<OrderPlaced>>, layered: bool) -> f64 {
    let n = events.len();
    rt.block_on(async {
        let transport = MemoryTransport::new();
        let done = Arc::new(tokio::sync::Notify::new());
        let (handler, _handled) = counting_handler(n, done.clone());
        let builder = Service::builder("bench", transport.clone());
        let service = if layered {
            builder
                .layer(RetryLayer::new(RetryPolicy::default()))
                .layer(CircuitBreakerLayer::default())
                .layer(TimeoutLayer::new(Duration::from_secs(5)))
                .handler(handler)
                .build()
        } else {
            builder.handler(handler).build()
        };
        let running = service.start().await.unwrap();
        let publisher = Publisher::new("bench-producer", transport.clone());
        let start = Instant::now();
        let evs = events.clone();
        let producer = tokio::spawn(async move {
            for chunk in evs.chunks(64) {
                publisher.publish_all(chunk).await.unwrap();
            }
        });
        done.notified().await;
        let elapsed = start.elapsed();
        producer.await.unwrap();
        running.shutdown().await.unwrap();
        rate(n, elapsed)
    })
}

fn main() {
    let n = arg_usize("--events", 200_000);
    let rounds = arg_usize("--rounds", 5);
    direct(rounds, n);
    let rt = runtime();
    let events = Arc::new(events(n, 1000));
    pipeline(&rt, &events, false);
    let (mut none, mut all) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        none.push(pipeline(&rt, &events, false));
        all.push(pipeline(&rt, &events, true));
    }
    let (none, all) = (median(none), median(all));
    println!("pipeline: {n} events x {rounds} rounds, in-memory, 2 worker threads, medians");
    println!("  no layers                       {:>10.0} events/s", none);
    println!(
        "  retry + circuit breaker + timeout {:>8.0} events/s   ratio {:.2}x",
        all,
        all / none
    );
}
