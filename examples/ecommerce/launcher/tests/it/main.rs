//! Integration tests of the ecommerce example: one binary, a module per area. They run
//! the real system (in-memory bus, HTTP on a loopback port 0), no mocks.

// A failed `expect` is a test failure carrying its message: what a test wants.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod api;
mod cli;
mod demo;
mod redelivery;
mod resilience;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use ecommerce::System;
use ecommerce::client::HttpClient;
use ecommerce_contracts::OrderLine;
use ecommerce_order::{Order, PlaceOrder};
use edp_core::transport::memory::{MemorySubscriber, MemoryTransport};
use edp_core::transport::{SubscribeOptions, Subscriber, Transport};
use edp_core::{Envelope, SharedEnvelope};

/// Loopback, any free port.
pub(crate) const ANY_PORT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// Long enough for a slow CI machine; tests that pass return long before.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// The system on a fresh bus and a client of it.
pub(crate) async fn start() -> (System, HttpClient) {
    let system = ecommerce::start(ANY_PORT).await.expect("system starts");
    let client = HttpClient::connect(system.local_addr())
        .await
        .expect("client connects");
    (system, client)
}

/// An order of one line costing `total_cents`.
pub(crate) fn order_of(total_cents: u64) -> PlaceOrder {
    PlaceOrder {
        customer_id: "customer-test".into(),
        items: vec![OrderLine {
            product_id: "sku-test".into(),
            quantity: 1,
            unit_price_cents: total_cents,
        }],
    }
}

/// Places `request` and returns the order the API answered with.
pub(crate) async fn place(client: &mut HttpClient, request: &PlaceOrder) -> Order {
    let response = client
        .post_json("/v1/orders", request)
        .await
        .expect("POST /v1/orders");
    assert_eq!(response.status, 201, "body: {}", response.text());
    response.json().expect("an order")
}

/// Polls `done` every 5 ms until it holds; panics naming `what` after [`PATIENCE`].
pub(crate) async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {PATIENCE:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Records every event of some topics, in its own consumer group.
pub(crate) struct Recorder {
    sub: MemorySubscriber,
}

impl Recorder {
    pub(crate) async fn new(transport: &MemoryTransport, topics: &[&str]) -> Self {
        let group = format!("test-recorder-{}", uuid_like());
        let sub = transport
            .subscribe(SubscribeOptions::new(group, topics.iter().copied()))
            .await
            .expect("recorder subscribes");
        Self { sub }
    }

    /// The next event, or `None` if none comes within `within`.
    pub(crate) async fn next(&self, within: Duration) -> Option<SharedEnvelope> {
        let delivery = tokio::time::timeout(within, self.sub.recv())
            .await
            .ok()??
            .expect("delivery");
        self.sub.ack(&delivery).await.expect("ack");
        Some(delivery.envelope)
    }

    /// Every event up to and including the first for which `last` holds.
    pub(crate) async fn until(&self, last: impl Fn(&Envelope) -> bool) -> Vec<SharedEnvelope> {
        let mut seen = Vec::new();
        loop {
            let env = self
                .next(PATIENCE)
                .await
                .unwrap_or_else(|| panic!("timed out; events seen: {seen:?}"));
            let done = last(&env);
            seen.push(env);
            if done {
                return seen;
            }
        }
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
