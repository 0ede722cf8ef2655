//! Where notifications go: the [`Sender`] trait and the in-memory [`Outbox`].

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use edp_core::error::BoxError;
use serde::{Deserialize, Serialize};

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// The order was paid and confirmed.
    OrderConfirmed,
    /// The order was cancelled.
    OrderCancelled,
}

/// A message to a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The order it is about.
    pub order_id: String,
    /// Who gets it: the customer id, or `order:<id>` if the customer is unknown.
    pub recipient: String,
    /// What about.
    pub kind: NotificationKind,
    /// The subject line.
    pub subject: String,
    /// The text.
    pub body: String,
}

/// Delivers notifications: an email or SMS gateway in production, the [`Outbox`] in
/// development and tests.
///
/// ```
/// use std::future::Future;
/// use ecommerce_notification::{Notification, SendError, Sender};
///
/// /// Writes notifications to the log.
/// #[derive(Clone)]
/// struct LogSender;
///
/// impl Sender for LogSender {
///     fn send(&self, n: &Notification) -> impl Future<Output = Result<(), SendError>> + Send {
///         tracing::info!(to = %n.recipient, subject = %n.subject, "notification");
///         std::future::ready(Ok(()))
///     }
/// }
/// ```
pub trait Sender: Clone + Send + Sync + 'static {
    /// Delivers `notification`. An error is retried by the service's retry layer.
    fn send(
        &self,
        notification: &Notification,
    ) -> impl Future<Output = Result<(), SendError>> + Send;
}

/// A notification could not be delivered.
///
/// Handling: retried with backoff; after the last attempt the event that caused it
/// goes to the dead-letter topic.
#[derive(Debug, thiserror::Error)]
#[error("cannot send the notification about order `{order_id}` to `{recipient}`")]
pub struct SendError {
    /// The order.
    pub order_id: String,
    /// The recipient.
    pub recipient: String,
    /// Why.
    #[source]
    pub source: BoxError,
}

/// An in-memory sender that keeps every notification it is given, in order: the
/// development sink, and what `GET /v1/notifications` shows. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    sent: Arc<Mutex<Vec<Notification>>>,
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every notification sent, oldest first.
    pub fn list(&self) -> Vec<Notification> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The notifications about order `order_id`.
    pub fn for_order(&self, order_id: &str) -> Vec<Notification> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|n| n.order_id == order_id)
            .cloned()
            .collect()
    }

    /// How many were sent.
    pub fn len(&self) -> usize {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether none was.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Sender for Outbox {
    fn send(
        &self,
        notification: &Notification,
    ) -> impl Future<Output = Result<(), SendError>> + Send {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(notification.clone());
        std::future::ready(Ok(()))
    }
}
