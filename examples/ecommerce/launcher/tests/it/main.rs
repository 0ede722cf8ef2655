//! Integration tests of the ecommerce example: one binary, a module per area. They run
//! the real system (in-memory bus, HTTP on a loopback port 0), no mocks.

// A failed `expect` is a test failure carrying its message: what a test wants.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod api;
mod cli;
mod demo;
mod distributed;
mod kafka;
mod postgres;
mod redelivery;
mod resilience;
mod saga_crash;
mod shutdown;
mod telemetry;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use ecommerce::System;
use ecommerce::client::HttpClient;
use ecommerce_contracts::OrderLine;
use ecommerce_order::{Order, PlaceOrder};

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

/// The order `id` as the order service stores it, once `done` holds for it; panics
/// after [`PATIENCE`].
pub(crate) async fn wait_for_order<T: edp_core::transport::Transport>(
    system: &System<T>,
    id: &str,
    what: &str,
    done: impl Fn(&Order) -> bool,
) -> Order {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(order) = system.order(id).await.expect("the order database answers") {
            if done(&order) {
                return order;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {PATIENCE:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// How many orders the system has stored.
pub(crate) async fn order_count<T: edp_core::transport::Transport>(system: &System<T>) -> usize {
    system
        .order_count()
        .await
        .expect("the order database answers")
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
