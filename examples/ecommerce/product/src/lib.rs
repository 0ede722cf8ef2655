//! The product service of the ecommerce example: the catalog and its stock.
//!
//! The order placement saga asks it to reserve an order's stock ([`ReserveStock`]:
//! every line or none) and, when the order fails later, to give it back
//! ([`ReleaseStock`]). Both run behind the inbox, so a redelivered command changes
//! nothing, and both are final per order: a release that overtakes its reservation
//! (the saga timed out) leaves a tombstone, and the late reservation is rejected.
//!
//! Stock is conserved: for every product, `initial = available + reserved`, where
//! `reserved` is the quantity held by reservations in state `RESERVED`.
//!
//! ```no_run
//! use ecommerce_product::Products;
//! use edp_core::transport::memory::MemoryTransport;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = sqlx::SqlitePool::connect("sqlite:product.db?mode=rwc").await?;
//! let products = Products::open(pool, &ecommerce_product::default_catalog()).await?;
//! let service = ecommerce_product::service(MemoryTransport::new(), products.clone());
//! let _running = service.start().await?;
//! # Ok(()) }
//! ```

mod store;

pub use store::{Product, ProductDb, Products, Reservation};

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ecommerce_contracts::{ReleaseStock, ReserveStock, StockRejected, StockReserved};
use edp_core::error::BoxError;
use edp_core::middleware::retry::{RetryLayer, RetryPolicy};
use edp_core::problem::Problem;
use edp_core::transport::Transport;
use edp_core::{Codec, Context, JsonCodec, Service};
use edp_sql::inbox::{Inbox, InboxTx};
use edp_sql::outbox::Outbox;

/// The service's name: its consumer group and the `source` of its events.
pub const NAME: &str = "product";

/// The catalog the reference system starts with: five products with plenty of stock,
/// the product the tests order (`sku-test`), and one that runs out (`sku-rare`, 5).
pub fn default_catalog() -> Vec<Product> {
    let mut catalog: Vec<Product> = (0..5)
        .map(|i| {
            Product::new(
                format!("sku-{i}"),
                format!("Product {i}"),
                1_500 + i * 1_000,
                1_000_000,
            )
        })
        .collect();
    catalog.push(Product::new("sku-test", "Test product", 1_000, 1_000_000));
    catalog.push(Product::new("sku-rare", "Rare product", 99_00, 5));
    catalog
}

// ANCHOR: reserve
/// `ReserveStock` -> `StockReserved` (every line reserved) or `StockRejected`
/// (nothing reserved), once per order: a redelivery or a second command for the same
/// order answers as the first did.
pub async fn on_reserve_stock<DB: ProductDb, C: Codec>(
    outbox: Outbox<C>,
    ctx: Context<C>,
    mut tx: InboxTx<DB>,
    command: ReserveStock,
) -> Result<(), BoxError> {
    match Products::reserve(&mut tx, &command).await? {
        Reservation::Reserved => {
            let reply = StockReserved {
                order_id: command.order_id.clone(),
            };
            outbox
                .add_caused_by(&mut tx, &reply, ctx.envelope())
                .await?;
        }
        Reservation::Rejected(reason) | Reservation::Released(reason) => {
            let reply = StockRejected {
                order_id: command.order_id.clone(),
                reason,
            };
            outbox
                .add_caused_by(&mut tx, &reply, ctx.envelope())
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
// ANCHOR_END: reserve

/// `ReleaseStock` -> what the order's reservation held goes back to the shelf; a
/// release before any reservation leaves a tombstone. No reply: the saga does not
/// wait for it (it is sent through the outbox, at least once).
pub async fn on_release_stock<DB: ProductDb, C: Codec>(
    ctx: Context<C>,
    mut tx: InboxTx<DB>,
    command: ReleaseStock,
) -> Result<(), BoxError> {
    let released = Products::release(&mut tx, &command.order_id).await?;
    tx.commit().await?;
    tracing::info!(order_id = %command.order_id, released, correlation_id = %ctx.correlation_id(), "stock released");
    Ok(())
}

/// The product service on `transport`, on the catalog of `products`.
pub fn service<T: Transport, DB: ProductDb>(transport: T, products: Products<DB>) -> Service<T> {
    service_with(transport, JsonCodec, products)
}

// ANCHOR: service
/// The product service with another codec (Avro, for example).
pub fn service_with<T: Transport, C: Codec, DB: ProductDb>(
    transport: T,
    codec: C,
    products: Products<DB>,
) -> Service<T, C> {
    let inbox = Inbox::new(products.pool().clone());
    let outbox = Outbox::with_codec(NAME, codec.clone());
    Service::builder(NAME, transport)
        .codec(codec)
        .layer(RetryLayer::new(RetryPolicy::default()))
        .handler(inbox.handler_with(outbox, on_reserve_stock::<DB, C>))
        .handler(inbox.handler(on_release_stock::<DB, C>))
        .build()
}
// ANCHOR_END: service

/// `GET /v1/products` (the catalog with available stock) and `GET /v1/products/{id}`.
pub fn router<DB: ProductDb>(products: Products<DB>) -> axum::Router {
    axum::Router::new()
        .route("/v1/products", get(list::<DB>))
        .route("/v1/products/{id}", get(one::<DB>))
        .with_state(products)
}

async fn list<DB: ProductDb>(State(products): State<Products<DB>>) -> Response {
    match products.list().await {
        Ok(all) => axum::Json(serde_json::json!({ "products": all })).into_response(),
        Err(e) => unavailable(&e),
    }
}

async fn one<DB: ProductDb>(
    State(products): State<Products<DB>>,
    Path(id): Path<String>,
) -> Response {
    match products.get(&id).await {
        Ok(Some(p)) => axum::Json(p).into_response(),
        Ok(None) => Problem::not_found(format!("product `{id}` does not exist")).into_response(),
        Err(e) => unavailable(&e),
    }
}

fn unavailable(e: &sqlx::Error) -> Response {
    tracing::error!(error = %e, "cannot read the catalog");
    Problem::unavailable("the product database is unavailable; try again").into_response()
}
