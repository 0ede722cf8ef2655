//! The shared transport conformance suite: Watermill's universal pub/sub scenarios,
//! ported. Every transport runs all of it with one test function:
//!
//! ```
//! use edp_core::transport::{conformance, memory::MemoryTransport};
//!
//! # #[tokio::main] async fn main() {
//! let broker = MemoryTransport::new();
//! conformance::run(move || { let b = broker.connect(); async move { b } }).await;
//! # }
//! ```
//!
//! The factory returns a new client of the same broker on each call. Each scenario uses
//! fresh topic and group names. Where a transport lacks a [`Capabilities`] flag, the
//! scenario asserts the documented weaker behaviour instead; it never skips. All
//! failures are collected and reported together.

mod scenarios;

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

use super::{Capabilities, Delivery, Subscriber, Transport};
use crate::Envelope;

/// A scenario's failure message.
pub type Failure = String;

/// The scenarios, by name, in the order they run.
pub const SCENARIOS: &[&str] = &[
    "publish_subscribe",
    "concurrent_subscribers",
    "many_topics",
    "resend_on_nack",
    "no_delivery_past_unacked",
    "continue_after_close_and_reopen",
    "concurrent_close",
    "continue_after_handler_errors",
    "per_key_order_with_several_subscribers",
    "nothing_lost_when_publisher_closes",
    "topic_isolation",
    "each_group_gets_everything",
    "cancellation",
    "new_group_replays",
    "batches_settle_in_order",
];

/// Runs every scenario against clients made by `factory`; panics listing every
/// scenario that failed.
pub async fn run<T, F, Fut>(factory: F)
where
    T: Transport,
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send,
{
    let failures = run_report(factory).await;
    if !failures.is_empty() {
        let list: Vec<String> = failures
            .iter()
            .map(|(n, f)| format!("  {n}: {f}"))
            .collect();
        panic!(
            "{} of {} conformance scenarios failed:\n{}",
            failures.len(),
            SCENARIOS.len(),
            list.join("\n")
        );
    }
}

/// Runs every scenario; returns the failed ones with their messages.
pub async fn run_report<T, F, Fut>(factory: F) -> Vec<(&'static str, Failure)>
where
    T: Transport,
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send,
{
    let mut failures = Vec::new();
    for name in SCENARIOS {
        let env = Env::new(&factory, name).await;
        let limit = env.timing.scenario;
        let result = tokio::time::timeout(limit, scenarios::run(name, &env, &factory)).await;
        let outcome = match result {
            Ok(r) => r,
            Err(_) => Err(format!("did not finish within {limit:?}")),
        };
        match outcome {
            Ok(()) => tracing::info!(scenario = name, "conformance scenario passed"),
            Err(f) => {
                tracing::error!(scenario = name, failure = %f, "conformance scenario failed");
                failures.push((*name, f));
            }
        }
        let _ = env.transport.close().await;
    }
    failures
}

/// Waits tuned to the transport.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// How long to wait for an event that should come.
    pub(crate) arrive: Duration,
    /// How long to watch for an event that should not come.
    pub(crate) quiet: Duration,
    /// A whole scenario.
    pub(crate) scenario: Duration,
}

/// One scenario's environment: a client, its capabilities, unique names.
pub(crate) struct Env<T> {
    pub(crate) transport: T,
    pub(crate) caps: Capabilities,
    pub(crate) timing: Timing,
    prefix: String,
}

impl<T: Transport> Env<T> {
    async fn new<F, Fut>(factory: &F, scenario: &str) -> Self
    where
        F: Fn() -> Fut,
        Fut: Future<Output = T>,
    {
        let transport = factory().await;
        let caps = transport.capabilities();
        let timing = if caps.slow_group_join {
            Timing {
                arrive: Duration::from_secs(60),
                quiet: Duration::from_secs(3),
                scenario: Duration::from_secs(300),
            }
        } else {
            Timing {
                arrive: Duration::from_secs(5),
                quiet: Duration::from_millis(300),
                scenario: Duration::from_secs(60),
            }
        };
        let id = crate::event::new_event_id().simple().to_string();
        Self {
            transport,
            caps,
            timing,
            prefix: format!("conf-{scenario}-{}", &id[id.len() - 12..]),
        }
    }

    /// A unique topic or group name.
    pub(crate) fn name(&self, what: &str) -> String {
        format!("{}-{what}", self.prefix)
    }
}

/// A test envelope: payload `{"seq":N,"key":"K"}`, a `seq` header, subject `key`.
pub(crate) fn envelope(seq: u32, key: &str) -> Envelope {
    let data = format!(r#"{{"seq":{seq},"key":"{key}"}}"#);
    Envelope::builder("conformance.test", Bytes::from(data))
        .source("conformance")
        .subject(key)
        .header("seq", seq.to_string())
        .header("xtest", format!("value-{seq}"))
        .build()
}

/// The `seq` of a test envelope.
pub(crate) fn seq_of(d: &Delivery) -> Option<u32> {
    d.envelope.headers.get("seq").and_then(|s| s.parse().ok())
}

/// `recv` with a time limit; `None` on timeout or close.
pub(crate) async fn recv_within<S: Subscriber>(sub: &S, within: Duration) -> Option<Delivery> {
    match tokio::time::timeout(within, sub.recv()).await {
        Ok(Some(Ok(d))) => Some(d),
        _ => None,
    }
}
