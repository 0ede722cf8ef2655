//! The order service of the ecommerce example: takes orders over REST, publishes
//! `OrderPlaced`, and settles each order when its payment succeeds or fails.
//!
//! ```text
//! POST /v1/orders ──> OrderStore (PENDING) ──> OrderPlaced ──> payment
//!                                                                  │
//!   CONFIRMED + OrderConfirmed <── PaymentSucceeded ───────────────┤
//!   CANCELLED + OrderCancelled <── PaymentFailed ──────────────────┘
//! ```
//!
//! - [`router`]: the axum routes (`/v1/orders`), errors as [`problem::Problem`].
//! - [`service`]: the event-driven side, an [`edp_core::Service`] named `order`.
//! - [`OrderStore`]: the orders, in memory for now.
//!
//! ```no_run
//! use ecommerce_order::OrderStore;
//! use edp_core::transport::memory::MemoryTransport;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let transport = MemoryTransport::new();
//! let orders = OrderStore::new();
//! let service = ecommerce_order::service(transport, orders.clone());
//! let app = ecommerce_order::router(orders, service.publisher().clone());
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
pub use store::{CompleteError, Completion, Order, OrderStatus, OrderStore};

use edp_core::middleware::retry::{RetryLayer, RetryPolicy};
use edp_core::transport::Transport;
use edp_core::{Codec, JsonCodec, Service};

/// The service's name: its consumer group and the `source` of its events.
pub const NAME: &str = "order";

/// The order service on `transport`: settles the orders of `orders` as payment
/// events arrive. Failed handlers are retried (3 attempts), then dead-lettered.
pub fn service<T: Transport>(transport: T, orders: OrderStore) -> Service<T> {
    service_with(transport, JsonCodec, orders)
}

/// The order service with another codec (Avro, for example).
pub fn service_with<T: Transport, C: Codec>(
    transport: T,
    codec: C,
    orders: OrderStore,
) -> Service<T, C> {
    Service::builder(NAME, transport)
        .codec(codec)
        .layer(RetryLayer::new(RetryPolicy::default()))
        .handler_with(orders.clone(), on_payment_succeeded)
        .handler_with(orders, on_payment_failed)
        .build()
}
