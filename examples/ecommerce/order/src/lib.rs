//! The order service of the ecommerce example: takes orders over REST, publishes
//! `OrderPlaced`, and settles each order when its payment succeeds or fails.
//!
//! ```text
//! POST /v1/orders ──> orders (PENDING) + outbox: OrderPlaced ──> relay ──> payment
//!                          one transaction                                 │
//!   CONFIRMED + OrderConfirmed <── inbox <── PaymentSucceeded ─────────────┤
//!   CANCELLED + OrderCancelled <── inbox <── PaymentFailed ────────────────┘
//! ```
//!
//! - [`router`]: the axum routes (`/v1/orders`), errors as [`problem::Problem`].
//! - [`service`]: the event-driven side, an [`edp_core::Service`] named `order`,
//!   whose handlers run behind the inbox.
//! - [`OrderStore`]: the orders, in the service's own database (SQLite or
//!   PostgreSQL), written in one transaction with their outbox events.
//!
//! ```no_run
//! use ecommerce_order::OrderStore;
//! use edp_core::transport::memory::MemoryTransport;
//! use edp_sql::outbox::{Outbox, Relay};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let transport = MemoryTransport::new();
//! let pool = sqlx::SqlitePool::connect("sqlite:order.db?mode=rwc").await?;
//! let orders = OrderStore::open(pool.clone()).await?;
//! let relay = Relay::new(pool, transport.clone()).start(); // publishes the outbox
//! let service = ecommerce_order::service(transport, orders.clone());
//! let app = ecommerce_order::router(orders, Outbox::new(ecommerce_order::NAME));
//! let _running = service.start().await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

mod api;
mod events;
mod extract;
pub mod idempotency;
pub mod problem;
mod request;
mod store;

pub use api::{OrderList, router};
pub use events::{AmountMismatch, UnknownOrder, on_payment_failed, on_payment_succeeded};
pub use request::{
    MAX_ID_LEN, MAX_ITEMS, MAX_QUANTITY, MAX_UNIT_PRICE_CENTS, PlaceOrder, Violation,
};
pub use store::{Completion, Order, OrderDb, OrderStatus, OrderStore};

use edp_core::middleware::retry::{RetryLayer, RetryPolicy};
use edp_core::transport::Transport;
use edp_core::{Codec, JsonCodec, Service};
use edp_sql::inbox::Inbox;
use edp_sql::outbox::Outbox;

/// The service's name: its consumer group and the `source` of its events.
pub const NAME: &str = "order";

/// The order service on `transport`: settles the orders of `orders` as payment
/// events arrive, behind the inbox, publishing through the outbox. Failed handlers
/// are retried (3 attempts), then dead-lettered.
pub fn service<T: Transport, DB: OrderDb>(transport: T, orders: OrderStore<DB>) -> Service<T> {
    service_with(transport, JsonCodec, orders)
}

// ANCHOR: service
/// The order service with another codec (Avro, for example).
pub fn service_with<T: Transport, C: Codec, DB: OrderDb>(
    transport: T,
    codec: C,
    orders: OrderStore<DB>,
) -> Service<T, C> {
    let inbox = Inbox::new(orders.pool().clone());
    let outbox = Outbox::with_codec(NAME, codec.clone());
    Service::builder(NAME, transport)
        .codec(codec)
        .layer(RetryLayer::new(RetryPolicy::default()))
        .handler(inbox.handler_with(outbox.clone(), on_payment_succeeded::<DB, C>))
        .handler(inbox.handler_with(outbox, on_payment_failed::<DB, C>))
        .build()
}
// ANCHOR_END: service
