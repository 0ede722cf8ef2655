//! Each service of the shop as an [`App`] of its own: its handlers, its background
//! tasks, its routes and its readiness checks. A process runs one of them alone
//! (`EDP_SERVICES=order`) or several merged into one App (the default: all four,
//! on one listener).

use std::time::Duration;

use ecommerce_notification::Outbox;
use ecommerce_order::{OrderBook, OrderDb, OrderStore};
use ecommerce_payment::{PaymentDb, Payments};
use ecommerce_product::{ProductDb, Products};
use edp_core::Codec;
use edp_core::app::App;
use edp_core::transport::Transport;
use edp_sql::inbox::Inbox;
use edp_sql::outbox::Relay;
use sqlx::Pool;

/// How long inbox records are kept: longer than any redelivery takes.
const INBOX_KEEP: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often old inbox records are purged.
const INBOX_PURGE_EVERY: Duration = Duration::from_secs(3600);

// ANCHOR: order_app
/// The order service: event-sourced orders and the placement saga, the projection
/// that keeps the orders read model, the saga deadlines, the outbox relay and the
/// inbox purge, and `/v1/orders`.
pub fn order<T: Transport, C: Codec, DB: OrderDb>(
    transport: &T,
    codec: &C,
    orders: OrderStore<DB>,
) -> App {
    let book = OrderBook::new(orders.clone(), codec.clone());
    let pool = orders.pool().clone();
    App::new("order")
        .service(ecommerce_order::service_with(
            transport.clone(),
            codec.clone(),
            book.clone(),
        ))
        .task(book.projector())
        .task(book.placements.deadlines())
        .task(Relay::new(pool.clone(), transport.clone()).name("order"))
        .task(
            Inbox::new(pool.clone())
                .purging(INBOX_KEEP, INBOX_PURGE_EVERY)
                .name("order"),
        )
        .routes(ecommerce_order::router(book))
        .check("order-database", pinger(pool))
}
// ANCHOR_END: order_app

/// The payment service: payments authorized and voided, its outbox relay and inbox
/// purge.
pub fn payment<T: Transport, C: Codec, DB: PaymentDb>(
    transport: &T,
    codec: &C,
    payments: Payments<DB>,
) -> App {
    let pool = payments.pool().clone();
    App::new("payment")
        .service(ecommerce_payment::service_with(
            transport.clone(),
            codec.clone(),
            payments,
        ))
        .task(Relay::new(pool.clone(), transport.clone()).name("payment"))
        .task(
            Inbox::new(pool.clone())
                .purging(INBOX_KEEP, INBOX_PURGE_EVERY)
                .name("payment"),
        )
        .check("payment-database", pinger(pool))
}

/// The product service: the catalog and its stock, `/v1/products`, its outbox relay
/// and inbox purge.
pub fn product<T: Transport, C: Codec, DB: ProductDb>(
    transport: &T,
    codec: &C,
    products: Products<DB>,
) -> App {
    let pool = products.pool().clone();
    App::new("product")
        .service(ecommerce_product::service_with(
            transport.clone(),
            codec.clone(),
            products.clone(),
        ))
        .task(Relay::new(pool.clone(), transport.clone()).name("product"))
        .task(
            Inbox::new(pool.clone())
                .purging(INBOX_KEEP, INBOX_PURGE_EVERY)
                .name("product"),
        )
        .routes(ecommerce_product::router(products))
        .check("product-database", pinger(pool))
}

/// The notification service: what it sent, and `/v1/notifications`.
pub fn notification<T: Transport, C: Codec>(transport: &T, codec: &C, outbox: Outbox) -> App {
    App::new("notification")
        .service(ecommerce_notification::service_with(
            transport.clone(),
            codec.clone(),
            outbox.clone(),
        ))
        .routes(ecommerce_notification::router(outbox))
}

/// A readiness check that pings the database behind `pool`.
fn pinger<DB: edp_sql::Database>(
    pool: Pool<DB>,
) -> impl Fn() -> futures_util::future::BoxFuture<'static, Result<(), sqlx::Error>> + Send + Sync + 'static
{
    move || {
        let pool = pool.clone();
        Box::pin(async move { edp_sql::ping(&pool).await })
    }
}
