//! The Handlers and middleware chapter, part one: handler functions, their context,
//! the service that routes events to them, and its shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use edp_core::error::{BoxError, permanent};
use edp_core::handler::UnknownEvents;
use edp_core::middleware::dead_letter::DeadLetterPolicy;
use edp_core::middleware::retry::{RetryLayer, RetryPolicy};
use edp_core::transport::Transport;
use edp_core::{Context, Event, Service, ServiceError};
use serde::{Deserialize, Serialize};

// ANCHOR: events
/// Reserve stock for an order. Keyed by product: the reservations of one product are
/// handled one at a time, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "stock.reserve", topic = "stock", key = product_id)]
pub struct ReserveStock {
    /// The order that needs the stock.
    pub order_id: String,
    /// The product.
    pub product_id: String,
    /// How many; at least 1.
    pub quantity: u32,
}

/// Give back an order's reservation. Same topic and key as [`ReserveStock`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "stock.release", topic = "stock", key = product_id)]
pub struct ReleaseStock {
    /// The order.
    pub order_id: String,
    /// The product.
    pub product_id: String,
}

/// The answer to a [`ReserveStock`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "stock.reserved", topic = "stock-events", key = product_id)]
pub struct StockReserved {
    /// The order.
    pub order_id: String,
    /// The product.
    pub product_id: String,
    /// Whether there was enough; `false` reserves nothing.
    pub reserved: bool,
}
// ANCHOR_END: events

/// The stock of each product and the reservations made: the inventory's state, cheap
/// to clone (clones share it).
#[derive(Debug, Clone, Default)]
pub struct Stock {
    inner: Arc<Mutex<Levels>>,
}

#[derive(Debug, Default)]
struct Levels {
    available: HashMap<String, u32>,
    /// order id -> (product, quantity, reserved)
    reservations: HashMap<String, (String, u32, bool)>,
}

impl Stock {
    /// `quantity` of `product_id` in stock.
    pub fn with(self, product_id: &str, quantity: u32) -> Self {
        self.levels()
            .available
            .insert(product_id.to_owned(), quantity);
        self
    }

    /// What is left of `product_id`.
    pub fn available(&self, product_id: &str) -> u32 {
        self.levels()
            .available
            .get(product_id)
            .copied()
            .unwrap_or(0)
    }

    /// Reserves once per order: a second call for the same order returns the first
    /// answer and takes nothing, so a redelivered event is harmless.
    pub fn reserve(&self, order_id: &str, product_id: &str, quantity: u32) -> bool {
        let mut levels = self.levels();
        if let Some((_, _, reserved)) = levels.reservations.get(order_id) {
            return *reserved;
        }
        let left = levels.available.entry(product_id.to_owned()).or_default();
        let reserved = *left >= quantity;
        if reserved {
            *left -= quantity;
        }
        levels.reservations.insert(
            order_id.to_owned(),
            (product_id.to_owned(), quantity, reserved),
        );
        reserved
    }

    /// Gives back the reservation of `order_id`, if it has one.
    pub fn release(&self, order_id: &str) {
        let mut levels = self.levels();
        if let Some((product, quantity, true)) = levels.reservations.remove(order_id) {
            *levels.available.entry(product).or_default() += quantity;
        }
    }

    fn levels(&self) -> std::sync::MutexGuard<'_, Levels> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

// ANCHOR: handler_fn
/// `ReserveStock` -> `StockReserved`. A quantity of 0 is a bad event, not a bad moment:
/// a permanent error, dead-lettered without retries.
pub async fn reserve(stock: Stock, ctx: Context, cmd: ReserveStock) -> Result<(), BoxError> {
    if cmd.quantity == 0 {
        return Err(permanent(format!(
            "order {}: quantity must be at least 1",
            cmd.order_id
        )));
    }
    let reserved = stock.reserve(&cmd.order_id, &cmd.product_id, cmd.quantity);
    ctx.publish(&StockReserved {
        order_id: cmd.order_id,
        product_id: cmd.product_id,
        reserved,
    })
    .await?; // a failed publish is an error: the event is retried
    Ok(())
}
// ANCHOR_END: handler_fn

// ANCHOR: context
/// `ReleaseStock` -> the reservation is given back. Logs what the context knows.
pub async fn release(stock: Stock, ctx: Context, cmd: ReleaseStock) -> Result<(), BoxError> {
    let message = ctx.message();
    tracing::info!(
        event_id = %ctx.id(),
        correlation_id = %ctx.correlation_id(),
        source = %ctx.envelope().source,
        topic = %message.topic,
        group = %message.group,
        partition = ?message.partition,
        offset = ?message.offset,
        redeliveries = ctx.redeliveries(),
        "releasing stock of order {}",
        cmd.order_id
    );
    stock.release(&cmd.order_id);
    Ok(())
}
// ANCHOR_END: context

// ANCHOR: builder
/// The inventory service: both handlers, one consumer group, the `stock` topic.
pub fn inventory<T: Transport>(transport: T, stock: Stock) -> Service<T> {
    Service::builder("inventory", transport)
        .group("inventory") // the consumer group; default: the service name
        .concurrency(16) // events handled at once; one key is always one at a time
        .dead_letters(DeadLetterPolicy::suffix(".dlq")) // the default: `stock.dlq`
        .unknown_events(UnknownEvents::DeadLetter) // the default is Skip
        .shutdown_grace(Duration::from_secs(10)) // default 30 s
        .layer(RetryLayer::new(RetryPolicy::default())) // wraps the handlers below
        .handler_with(stock.clone(), reserve) // each call gets a clone of the state
        .handler_with(stock, release)
        .build()
}
// ANCHOR_END: builder

// ANCHOR: run
/// Runs the inventory until ctrl-c or SIGTERM, then stops gracefully.
pub async fn serve<T: Transport>(transport: T) -> Result<(), ServiceError> {
    inventory(transport, Stock::default()).run().await
}
// ANCHOR_END: run

/// A slow downstream call, for the cancellation sample.
pub async fn rebuild_search_index(_product_id: &str) -> Result<(), BoxError> {
    tokio::time::sleep(Duration::from_secs(120)).await;
    Ok(())
}

/// Asks the search index to rebuild a product's entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "search.reindex", topic = "search", key = product_id)]
pub struct Reindex {
    /// The product.
    pub product_id: String,
}

// ANCHOR: cancellation
/// A long handler that gives up when shutdown's grace period runs out.
pub async fn reindex(ctx: Context, cmd: Reindex) -> Result<(), BoxError> {
    tokio::select! {
        done = rebuild_search_index(&cmd.product_id) => done,
        () = ctx.cancellation().cancelled() => {
            Err(format!("shutdown: reindexing {} interrupted", cmd.product_id).into())
        }
    }
}
// ANCHOR_END: cancellation

#[cfg(test)]
mod tests;
