//! The REST API: `/v1/orders`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use ecommerce_contracts::OrderPlaced;
use edp_core::{Codec, Publisher};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::extract::Json;
use crate::idempotency::{self, Claim, IdempotencyKeys};
use crate::problem::Problem;
use crate::request::{PlaceOrder, invalid_order};
use crate::store::{Order, OrderStatus, OrderStore};

#[derive(Debug)]
struct Api<C> {
    orders: OrderStore,
    publisher: Publisher<C>,
    keys: IdempotencyKeys,
}

impl<C> Clone for Api<C> {
    fn clone(&self) -> Self {
        Self {
            orders: self.orders.clone(),
            publisher: self.publisher.clone(),
            keys: self.keys.clone(),
        }
    }
}

/// The body of `GET /v1/orders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderList {
    /// Every order, oldest first.
    pub orders: Vec<Order>,
}

/// The routes of the order API, publishing through `publisher`:
///
/// | route | answer |
/// |---|---|
/// | `POST /v1/orders` | 201 with the order (`PENDING`) and its `Location`; publishes `OrderPlaced`; with an `Idempotency-Key`, a retry answers with the same order |
/// | `GET /v1/orders/{id}` | 200 with the order, 404 if there is none |
/// | `GET /v1/orders` | 200 with `{ "orders": [...] }`, oldest first |
///
/// Errors are `application/problem+json` ([`Problem`]).
pub fn router<C: Codec>(orders: OrderStore, publisher: Publisher<C>) -> axum::Router {
    axum::Router::new()
        .route("/v1/orders", get(list_orders::<C>).post(place_order::<C>))
        .route("/v1/orders/{id}", get(get_order::<C>))
        .with_state(Api {
            orders,
            publisher,
            keys: IdempotencyKeys::default(),
        })
}

// ANCHOR: place_order
async fn place_order<C: Codec>(
    State(api): State<Api<C>>,
    headers: HeaderMap,
    Json(request): Json<PlaceOrder>,
) -> Result<impl IntoResponse, Problem> {
    let total_cents = request.validate().map_err(invalid_order)?;
    let key = idempotency::key_of(&headers)?;
    let key = match api.keys.claim(key, &request)? {
        Claim::Done(id) => {
            return Ok(created(api.orders.get(&id).ok_or_else(|| {
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
    // Stored before publishing: the payment's answer may come back at once.
    api.orders.insert(order.clone());
    let placed = OrderPlaced {
        order_id: order.id.clone(),
        customer_id: order.customer_id.clone(),
        items: order.items.clone(),
        total_cents,
        // The API takes no coupons yet; v2 consumers read `None`.
        coupon: None,
    };
    match api.publisher.publish(&placed).await {
        Ok(event_id) => {
            tracing::info!(order_id = %order.id, total_cents, %event_id, "order placed")
        }
        Err(e) => {
            api.orders.remove(&order.id);
            if let Some(key) = &key {
                api.keys.release(key);
            }
            tracing::error!(order_id = %order.id, error = %e, "cannot publish order.placed; order dropped");
            return Err(Problem::unavailable(
                "the order could not be handed to the event bus and was not placed; try again",
            ));
        }
    }
    if let Some(key) = &key {
        api.keys.complete(key, &order.id);
    }
    Ok(created(order))
}

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

async fn get_order<C: Codec>(
    State(api): State<Api<C>>,
    Path(id): Path<String>,
) -> Result<axum::Json<Order>, Problem> {
    api.orders.get(&id).map(axum::Json).ok_or_else(|| {
        Problem::not_found(format!("order `{id}` does not exist"))
            .with_instance(format!("/v1/orders/{id}"))
    })
}

async fn list_orders<C: Codec>(State(api): State<Api<C>>) -> axum::Json<OrderList> {
    axum::Json(OrderList {
        orders: api.orders.list(),
    })
}
