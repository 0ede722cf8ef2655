//! The order service of the ecommerce example: orders are event-sourced, and each
//! order's placement runs as a saga.
//!
//! ```text
//! POST /v1/orders ──> order stream: OrderPlaced + outbox row (one transaction)
//!                          │ relay
//!                          └──> placement saga (order service) ──> ReserveStock ──> product
//!                               StockReserved <────────────────────────────────────┘
//!                               ──> AuthorizePayment ──> payment
//!                               PaymentSucceeded <──────────┘
//!                               ──> ConfirmOrder ──> order stream: OrderConfirmed
//!   a failure or a deadline: VoidPayment, ReleaseStock (in reverse), then CancelOrder
//! ```
//!
//! - [`router`]: the axum routes (`/v1/orders`), errors as [`problem::Problem`].
//! - [`service`]: the event-driven side, an [`edp_core::Service`] named `order`: it
//!   starts the saga, takes its replies, and applies its commands to the orders.
//! - [`OrderBook`]: the event-sourced orders ([`OrderAggregate`]), the placement
//!   saga ([`PlaceOrder`]) and the `orders` read model ([`OrderStore`], kept by the
//!   [`OrdersView`] projection), in the service's own database (SQLite or
//!   PostgreSQL).
//!
//! ```no_run
//! use ecommerce_order::{OrderBook, OrderStore};
//! use edp_core::JsonCodec;
//! use edp_core::transport::memory::MemoryTransport;
//! use edp_sql::outbox::Relay;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let transport = MemoryTransport::new();
//! let pool = sqlx::SqlitePool::connect("sqlite:order.db?mode=rwc").await?;
//! let book = OrderBook::new(OrderStore::open(pool.clone()).await?, JsonCodec);
//! let relay = Relay::new(pool, transport.clone()).start(); // publishes the outbox
//! let projector = book.projector().start(); // keeps the orders read model
//! let deadlines = book.placements.run_deadlines(); // the sagas' deadlines
//! let service = ecommerce_order::service(transport, book.clone());
//! let app = ecommerce_order::router(book);
//! let _running = service.start().await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

mod aggregate;
mod api;
mod book;
mod events;
mod extract;
pub mod idempotency;
pub mod problem;
mod projection;
mod request;
mod saga;
mod store;

pub use aggregate::{OrderAggregate, OrderCommand, OrderError, OrderEvent};
pub use api::{OrderList, SagaReport, router};
pub use book::{OrderBook, OrderEvents, Placements};
pub use events::{UnknownOrder, on_cancel_order, on_confirm_order, on_order_placed};
pub use projection::OrdersView;
pub use request::{
    MAX_ID_LEN, MAX_ITEMS, MAX_QUANTITY, MAX_UNIT_PRICE_CENTS, PlaceOrder, Violation,
};
pub use saga::{
    AuthorizePaymentStep, ConfirmOrderStep, PlaceOrder as PlaceOrderSaga, PlacementReply,
    ReleaseStockStep, ReserveStockStep, STEP_DEADLINE, VoidPaymentStep,
};
pub use store::{Completion, Order, OrderDb, OrderStatus, OrderStore};

use ecommerce_contracts::{
    OrderConfirmed, PaymentFailed, PaymentSucceeded, StockRejected, StockReserved,
};
use edp_core::middleware::retry::{RetryLayer, RetryPolicy};
use edp_core::transport::Transport;
use edp_core::{Codec, JsonCodec, Service};

/// The service's name: its consumer group and the `source` of its events.
pub const NAME: &str = "order";

/// The order service on `transport`, on `book`. Failed handlers are retried (3
/// attempts), then dead-lettered (database outages are redelivered instead).
pub fn service<T: Transport, DB: OrderDb>(
    transport: T,
    book: OrderBook<DB, JsonCodec>,
) -> Service<T> {
    service_with(transport, JsonCodec, book)
}

// ANCHOR: service
/// The order service with another codec (Avro, for example): it starts a placement
/// saga for each `OrderPlaced`, hands the saga its replies (deduplicated through the
/// saga store's inbox), and applies the saga's `ConfirmOrder` and `CancelOrder`.
pub fn service_with<T: Transport, C: Codec, DB: OrderDb>(
    transport: T,
    codec: C,
    book: OrderBook<DB, C>,
) -> Service<T, C> {
    let saga = &book.placements;
    Service::builder(NAME, transport)
        .codec(codec)
        .layer(RetryLayer::new(RetryPolicy::default()))
        .handler_with(book.clone(), on_order_placed::<DB, C>)
        .handler_with(book.clone(), on_confirm_order::<DB, C>)
        .handler_with(book.clone(), on_cancel_order::<DB, C>)
        .handler_named(
            "saga:stock-reserved",
            saga.reply_handler::<StockReserved, C>(),
        )
        .handler_named(
            "saga:stock-rejected",
            saga.reply_handler::<StockRejected, C>(),
        )
        .handler_named(
            "saga:payment-succeeded",
            saga.reply_handler::<PaymentSucceeded, C>(),
        )
        .handler_named(
            "saga:payment-failed",
            saga.reply_handler::<PaymentFailed, C>(),
        )
        .handler_named(
            "saga:order-confirmed",
            saga.reply_handler::<OrderConfirmed, C>(),
        )
        .build()
}
// ANCHOR_END: service
