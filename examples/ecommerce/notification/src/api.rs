//! The REST API: `GET /v1/notifications`.

use axum::extract::State;
use axum::routing::get;
use serde::{Deserialize, Serialize};

use crate::sender::{Notification, Outbox};

/// The body of `GET /v1/notifications`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationList {
    /// Every notification sent, oldest first.
    pub notifications: Vec<Notification>,
}

/// `GET /v1/notifications`: what `outbox` holds, as `{ "notifications": [...] }`.
pub fn router(outbox: Outbox) -> axum::Router {
    axum::Router::new()
        .route("/v1/notifications", get(list))
        .with_state(outbox)
}

async fn list(State(outbox): State<Outbox>) -> axum::Json<NotificationList> {
    axum::Json(NotificationList {
        notifications: outbox.list(),
    })
}
