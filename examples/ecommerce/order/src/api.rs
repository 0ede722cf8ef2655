//! The REST API: `/v1/orders`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use edp_core::Codec;
use edp_core::event_sourcing::{CommandError, Metadata};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::aggregate::OrderCommand;
use crate::book::OrderBook;
use crate::extract::Json;
use crate::idempotency::{self, Claim, IdempotencyKeys};
use crate::problem::Problem;
use crate::request::{PlaceOrder, invalid_order};
use crate::store::{Order, OrderDb, OrderStatus};

#[derive(Debug)]
struct Api<DB: OrderDb, C> {
    book: OrderBook<DB, C>,
    keys: IdempotencyKeys,
}

impl<DB: OrderDb, C: Codec> Clone for Api<DB, C> {
    fn clone(&self) -> Self {
        Self {
            book: self.book.clone(),
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

/// The routes of the order API on `book`:
///
/// | route | answer |
/// |---|---|
/// | `POST /v1/orders` | 201 with the order (`PENDING`) and its `Location`; appends its `OrderPlaced` to the order's stream, with its outbox row, in one transaction (the relay publishes it, and the placement saga starts); with an `Idempotency-Key`, a retry answers with the same order; 503 while the database is down |
/// | `GET /v1/orders/{id}` | 200 with the order as its events make it, 404 if there is none |
/// | `GET /v1/orders/{id}/saga` | 200 with its placement saga: status, each step's state, the pending deadline, the history |
/// | `GET /v1/orders` | 200 with `{ "orders": [...] }`, oldest first, from the `orders` read model |
///
/// Errors are `application/problem+json` ([`Problem`]).
pub fn router<DB: OrderDb, C: Codec>(book: OrderBook<DB, C>) -> axum::Router {
    axum::Router::new()
        .route(
            "/v1/orders",
            get(list_orders::<DB, C>).post(place_order::<DB, C>),
        )
        .route("/v1/orders/{id}", get(get_order::<DB, C>))
        .route("/v1/orders/{id}/saga", get(get_saga::<DB, C>))
        .with_state(Api {
            book,
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
            let order = load(&api, &id).await?;
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
    // The order's first event and its outbox row in one transaction: both or neither.
    match place(&api, &order).await {
        Ok(()) => tracing::info!(order_id = %order.id, total_cents, "order placed"),
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
async fn place<DB: OrderDb, C: Codec>(api: &Api<DB, C>, order: &Order) -> Result<(), Problem> {
    let placed = api
        .book
        .repository
        .execute_with(
            &order.id,
            OrderCommand::Place(order.clone()),
            &Metadata::default(),
        )
        .await;
    match placed {
        Ok(_) => Ok(()),
        Err(CommandError::Rejected(e)) => {
            Err(Problem::from_status(StatusCode::CONFLICT, e.to_string()))
        }
        Err(CommandError::Store(e)) => Err(unavailable("the order was not placed", e)),
    }
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

/// The order `id` as its events make it.
async fn load<DB: OrderDb, C: Codec>(api: &Api<DB, C>, id: &str) -> Result<Option<Order>, Problem> {
    let loaded = api.book.repository.load(id).await;
    Ok(loaded
        .map_err(|e| unavailable("cannot read the order", e))?
        .state
        .0)
}

async fn get_order<DB: OrderDb, C: Codec>(
    State(api): State<Api<DB, C>>,
    Path(id): Path<String>,
) -> Result<axum::Json<Order>, Problem> {
    let order = load(&api, &id).await?;
    order.map(axum::Json).ok_or_else(|| {
        Problem::not_found(format!("order `{id}` does not exist"))
            .with_instance(format!("/v1/orders/{id}"))
    })
}

/// The placement saga of an order, as `GET /v1/orders/{id}/saga` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SagaReport {
    /// The saga (and order) id.
    pub id: String,
    /// `RUNNING`, `COMPENSATING`, `COMPLETED`, `COMPENSATED` or `PARKED`.
    pub status: String,
    /// Why it compensated or was parked.
    pub reason: Option<String>,
    /// Each step's name and state.
    pub steps: Vec<(String, String)>,
    /// The pending deadline, Unix milliseconds.
    pub deadline_ms: Option<i64>,
    /// What happened, oldest first.
    pub history: Vec<String>,
}

async fn get_saga<DB: OrderDb, C: Codec>(
    State(api): State<Api<DB, C>>,
    Path(id): Path<String>,
) -> Result<axum::Json<SagaReport>, Problem> {
    let missing = || {
        Problem::not_found(format!("order `{id}` has no placement saga"))
            .with_instance(format!("/v1/orders/{id}/saga"))
    };
    let saga_id = Uuid::parse_str(&id).map_err(|_| missing())?;
    let view = api.book.placements.get(saga_id).await;
    let view = view
        .map_err(|e| unavailable("cannot read the saga", e))?
        .ok_or_else(missing)?;
    Ok(axum::Json(SagaReport {
        id: view.id.to_string(),
        status: view.status.as_str().to_owned(),
        reason: view.reason,
        steps: view
            .steps
            .iter()
            .map(|(name, state)| ((*name).to_owned(), format!("{state:?}")))
            .collect(),
        deadline_ms: view.deadline_ms,
        history: view.history.into_iter().map(|h| h.what).collect(),
    }))
}

async fn list_orders<DB: OrderDb, C: Codec>(
    State(api): State<Api<DB, C>>,
) -> Result<axum::Json<OrderList>, Problem> {
    let orders = api.book.orders.list().await;
    let orders = orders.map_err(|e| unavailable("cannot list the orders", e))?;
    Ok(axum::Json(OrderList { orders }))
}
