//! The REST API: `/v1/orders`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use ecommerce_contracts::OrderPlaced;
use edp_core::Codec;
use edp_sql::outbox::Outbox;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::extract::Json;
use crate::idempotency::{self, Claim, IdempotencyKeys};
use crate::problem::Problem;
use crate::request::{PlaceOrder, invalid_order};
use crate::store::{Order, OrderDb, OrderStatus, OrderStore};

#[derive(Debug)]
struct Api<DB: OrderDb, C> {
    orders: OrderStore<DB>,
    outbox: Outbox<C>,
    keys: IdempotencyKeys,
}

impl<DB: OrderDb, C> Clone for Api<DB, C> {
    fn clone(&self) -> Self {
        Self {
            orders: self.orders.clone(),
            outbox: self.outbox.clone(),
            keys: self.keys.clone(),
        }
    }
}

/// The database failed: 503, logged with the cause.
fn unavailable(what: &str, e: impl std::fmt::Display) -> Problem {
    tracing::error!(error = %e, "{what}");
    Problem::unavailable(format!(
        "{what}; the order database is unavailable, try again"
    ))
}

/// The body of `GET /v1/orders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderList {
    /// Every order, oldest first.
    pub orders: Vec<Order>,
}

/// The routes of the order API on the orders of `orders`, publishing through `outbox`:
///
/// | route | answer |
/// |---|---|
/// | `POST /v1/orders` | 201 with the order (`PENDING`) and its `Location`; stores it and its `OrderPlaced` in one transaction (the outbox relay publishes it); with an `Idempotency-Key`, a retry answers with the same order; 503 while the database is down |
/// | `GET /v1/orders/{id}` | 200 with the order, 404 if there is none |
/// | `GET /v1/orders` | 200 with `{ "orders": [...] }`, oldest first |
///
/// Errors are `application/problem+json` ([`Problem`]).
pub fn router<DB: OrderDb, C: Codec>(orders: OrderStore<DB>, outbox: Outbox<C>) -> axum::Router {
    axum::Router::new()
        .route(
            "/v1/orders",
            get(list_orders::<DB, C>).post(place_order::<DB, C>),
        )
        .route("/v1/orders/{id}", get(get_order::<DB, C>))
        .with_state(Api {
            orders,
            outbox,
            keys: IdempotencyKeys::default(),
        })
}

// ANCHOR: place_order
async fn place_order<DB: OrderDb, C: Codec>(
    State(api): State<Api<DB, C>>,
    headers: HeaderMap,
    Json(request): Json<PlaceOrder>,
) -> Result<impl IntoResponse, Problem> {
    let total_cents = request.validate().map_err(invalid_order)?;
    let key = idempotency::key_of(&headers)?;
    let key = match api.keys.claim(key, &request)? {
        Claim::Done(id) => {
            let order = api.orders.get(&id).await;
            let order = order.map_err(|e| unavailable("cannot read the order", e))?;
            return Ok(created(order.ok_or_else(|| {
                Problem::not_found(format!("order {id} made with this Idempotency-Key is gone"))
            })?));
        }
        Claim::New(key) => Some(key),
        Claim::None => None,
    };
    let order = Order {
        id: Uuid::now_v7().to_string(),
        customer_id: request.customer_id,
        items: request.items,
        total_cents,
        status: OrderStatus::Pending,
        payment_id: None,
        cancellation_reason: None,
    };
    let placed = OrderPlaced {
        order_id: order.id.clone(),
        customer_id: order.customer_id.clone(),
        items: order.items.clone(),
        total_cents,
        // The API takes no coupons yet; v2 consumers read `None`.
        coupon: None,
    };
    // The order and its event in one transaction: both or neither.
    match store_with_event(&api, &order, &placed).await {
        Ok(event_id) => {
            tracing::info!(order_id = %order.id, total_cents, %event_id, "order placed")
        }
        Err(problem) => {
            if let Some(key) = &key {
                api.keys.release(key);
            }
            return Err(problem);
        }
    }
    if let Some(key) = &key {
        api.keys.complete(key, &order.id);
    }
    Ok(created(order))
}

// ANCHOR: store_with_event
async fn store_with_event<DB: OrderDb, C: Codec>(
    api: &Api<DB, C>,
    order: &Order,
    placed: &OrderPlaced,
) -> Result<Uuid, Problem> {
    let failed = |e: &dyn std::fmt::Display| unavailable("the order was not placed", e);
    let mut tx = api.orders.pool().begin().await.map_err(|e| failed(&e))?;
    OrderStore::insert(&mut tx, order)
        .await
        .map_err(|e| failed(&e))?;
    let event_id = api
        .outbox
        .add(&mut tx, placed)
        .await
        .map_err(|e| failed(&e))?;
    tx.commit().await.map_err(|e| failed(&e))?;
    Ok(event_id)
}
// ANCHOR_END: store_with_event

/// 201 with the order and its `Location`.
fn created(
    order: Order,
) -> (
    StatusCode,
    [(header::HeaderName, String); 1],
    axum::Json<Order>,
) {
    let location = format!("/v1/orders/{}", order.id);
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(order),
    )
}
// ANCHOR_END: place_order

async fn get_order<DB: OrderDb, C: Codec>(
    State(api): State<Api<DB, C>>,
    Path(id): Path<String>,
) -> Result<axum::Json<Order>, Problem> {
    let order = api.orders.get(&id).await;
    let order = order.map_err(|e| unavailable("cannot read the order", e))?;
    order.map(axum::Json).ok_or_else(|| {
        Problem::not_found(format!("order `{id}` does not exist"))
            .with_instance(format!("/v1/orders/{id}"))
    })
}

async fn list_orders<DB: OrderDb, C: Codec>(
    State(api): State<Api<DB, C>>,
) -> Result<axum::Json<OrderList>, Problem> {
    let orders = api.orders.list().await;
    let orders = orders.map_err(|e| unavailable("cannot list the orders", e))?;
    Ok(axum::Json(OrderList { orders }))
}
