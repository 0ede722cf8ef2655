//! The Quickstart chapter: one event, one handler, one service on the in-memory bus.

// The quickstart prints what it does, so that it needs no logging setup.
#![allow(clippy::print_stdout)]

// ANCHOR: imports
use edp_core::app::App;
use edp_core::error::BoxError;
use edp_core::transport::memory::MemoryTransport;
use edp_core::{Context, Event, Publisher, Service};
use serde::{Deserialize, Serialize};
// ANCHOR_END: imports

// ANCHOR: event
/// A customer placed an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "order.placed", version = 1, topic = "orders", key = order_id)]
pub struct OrderPlaced {
    /// The order; also the partition key.
    pub order_id: String,
    /// What the order costs, in cents.
    pub total_cents: u64,
}
// ANCHOR_END: event

// ANCHOR: handler
/// Charges an order. Returning `Ok` acknowledges the event; an error retries it or
/// sends it to the dead-letter topic.
pub async fn charge(ctx: Context, order: OrderPlaced) -> Result<(), BoxError> {
    println!(
        "charging {} cents for order {} (event {}, correlation {})",
        order.total_cents,
        order.order_id,
        ctx.id(),
        ctx.correlation_id()
    );
    Ok(())
}
// ANCHOR_END: handler

// ANCHOR: main
/// Runs the payment service as an App, publishes one order, and serves until ctrl-c.
#[tokio::main]
pub async fn main() -> Result<(), BoxError> {
    let transport = MemoryTransport::new();
    let payment = App::new("payment")
        .service(
            Service::builder("payment", transport.clone())
                .handler(charge)
                .build(),
        )
        .transport(transport.clone())
        .start("127.0.0.1:8080") // subscribed, and /health/* and /metrics served
        .await?;

    Publisher::new("order", transport)
        .publish(&OrderPlaced {
            order_id: "o-1".into(),
            total_cents: 1200,
        })
        .await?;

    payment.run_until(edp_core::shutdown::signal()).await?; // ctrl-c or SIGTERM
    Ok(())
}
// ANCHOR_END: main

#[cfg(test)]
mod tests;
