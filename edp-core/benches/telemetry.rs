//! The cost of telemetry on the in-memory pipeline (publish -> typed handler -> ack,
//! JSON), as ratios against the same pipeline with telemetry off, in the same run.
//!
//! Each variant runs in a child process of its own (a process has one tracing
//! subscriber), in turns, round after round:
//!
//! - `off`: no subscriber, handler metrics off;
//! - `logs`: the `Telemetry` subscriber (pretty logs at info), no span export,
//!   metrics off;
//! - `metrics`: Prometheus handler metrics only;
//! - `export0`: logs and OTLP export, no trace sampled (the cost of carrying the
//!   context);
//! - `full`: logs, OTLP/HTTP span export at the default sampling ratio, and
//!   Prometheus handler metrics;
//! - `full100`: the same with every trace sampled.
//!
//! Spans go over real OTLP/HTTP to a sink in the parent process that reads and
//! discards them (the parent is idle while a child measures).
//!
//! Run: `cargo bench -p edp-core --bench telemetry --features otel,prometheus`.
//! Options: `--events N`, `--rounds R`, `--batch B` (publish_all batches; 1 publishes
//! one at a time).
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

#[path = "common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use common::*;
use edp_core::telemetry::Telemetry;
use edp_core::transport::memory::MemoryTransport;
use edp_core::{Publisher, Service};

const VARIANTS: [&str; 6] = ["off", "logs", "metrics", "export0", "full", "full100"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--variant") {
        let variant = args[i + 1].clone();
        let endpoint = args[i + 2].clone();
        child(&variant, &endpoint);
        return;
    }
    let sink = otlp_sink();
    let rounds = arg_usize("--rounds", 5);
    let me = std::env::current_exe().unwrap();
    let pass: Vec<String> = args[1..]
        .iter()
        .filter(|a| *a != "--bench")
        .cloned()
        .collect();
    let mut results: Vec<Vec<(f64, f64)>> = vec![Vec::new(); VARIANTS.len()];
    for round in 0..=rounds {
        for (v, variant) in VARIANTS.iter().enumerate() {
            let out = Command::new(&me)
                .args(&pass)
                .args(["--variant", variant, &sink])
                .output()
                .expect("the bench runs itself");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text
                .lines()
                .find_map(|l| l.strip_prefix("RESULT "))
                .expect("a RESULT line");
            let mut it = line.split(' ').map(|x| x.parse::<f64>().unwrap());
            if round > 0 {
                // round 0 warms the page cache and the CPU
                results[v].push((it.next().unwrap(), it.next().unwrap()));
            }
        }
    }
    let n = arg_usize("--events", 200_000);
    let batch = arg_usize("--batch", 64);
    println!(
        "telemetry: {n} events x {rounds} rounds, publish_all batches of {batch}, 2 worker threads, medians; default sampling ratio {}",
        edp_core::telemetry::DEFAULT_SAMPLE_RATIO
    );
    let med = |v: &Vec<(f64, f64)>| {
        (
            median(v.iter().map(|x| x.0).collect()),
            median(v.iter().map(|x| x.1).collect()),
        )
    };
    for (v, variant) in VARIANTS.iter().enumerate() {
        let m = med(&results[v]);
        // Per-round ratios against the `off` run just before: the machine's load
        // drifts less within a round than across the run.
        let per_round: Vec<f64> = results[v]
            .iter()
            .zip(&results[0])
            .map(|(x, o)| x.0 / o.0)
            .collect();
        let cpu: Vec<f64> = results[v]
            .iter()
            .zip(&results[0])
            .map(|(x, o)| o.1 / x.1)
            .collect();
        println!(
            "  {variant:<8} {:>10.0} events/s  {:>6.0} ns CPU/event  ratio {:.2}x of off (per round: {}), by CPU {:.2}x",
            m.0,
            m.1,
            median(per_round.clone()),
            per_round
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(" "),
            median(cpu),
        );
    }
}

fn child(variant: &str, endpoint: &str) {
    let n = arg_usize("--events", 200_000);
    let batch = arg_usize("--batch", 64);
    let events = Arc::new(events(n, 1000));
    let rt = runtime();
    let _enter = rt.enter();
    let telemetry = match variant {
        "off" => None,
        "logs" => Some(Telemetry::new("bench").filter("info").init().unwrap()),
        "metrics" => None,
        "export0" => Some(
            Telemetry::new("bench")
                .filter("info")
                .otlp_endpoint(endpoint)
                .sample_ratio(0.0)
                .init()
                .unwrap(),
        ),
        "full" => Some(
            Telemetry::new("bench")
                .filter("info")
                .otlp_endpoint(endpoint)
                .init()
                .unwrap(),
        ),
        _ => Some(
            Telemetry::new("bench")
                .filter("info")
                .otlp_endpoint(endpoint)
                .sample_ratio(1.0)
                .init()
                .unwrap(),
        ),
    };
    let metrics = variant.starts_with("full") || variant == "metrics";
    let cpu = cpu_ns();
    let r = rt.block_on(async {
        let transport = MemoryTransport::new();
        let done = Arc::new(tokio::sync::Notify::new());
        let (handler, handled) = counting_handler(n, done.clone());
        let running = Service::builder("bench", transport.clone())
            .concurrency(16)
            .metrics(metrics)
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
    let cpu = (cpu_ns() - cpu) as f64 / n as f64;
    if let Some(t) = telemetry {
        rt.block_on(t.shutdown());
    }
    println!("RESULT {r} {cpu}");
}

/// An OTLP/HTTP sink on a thread: answers 200 to every request after reading its
/// body. Returns its base URL.
fn otlp_sink() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                length = v.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    if conn.write_all(ok).is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}
