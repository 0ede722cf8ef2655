//! The order store: in memory for now (persistence comes with the outbox).

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use ecommerce_contracts::OrderLine;
use serde::{Deserialize, Serialize};

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Placed, waiting for payment.
    Pending,
    /// Paid: final.
    Confirmed,
    /// Payment declined: final.
    Cancelled,
}

impl OrderStatus {
    /// Whether no event changes it any more.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending)
    }

    /// `PENDING`, `CONFIRMED` or `CANCELLED`, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Confirmed => "CONFIRMED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An order, as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Its id: a UUIDv7, so ids sort by creation time.
    pub id: String,
    /// Who placed it.
    pub customer_id: String,
    /// What was ordered.
    pub items: Vec<OrderLine>,
    /// The total, in cents.
    pub total_cents: u64,
    /// Where it stands.
    pub status: OrderStatus,
    /// The payment, once confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    /// Why it was cancelled, once cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation_reason: Option<String>,
}

/// How a pending order ends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Completion {
    /// Paid by `payment_id`.
    Confirmed {
        /// The payment.
        payment_id: String,
    },
    /// Declined for `reason`.
    Cancelled {
        /// Why.
        reason: String,
    },
}

/// An order could not be completed.
///
/// Handling: `NotPending` means the event came late or twice; ignore it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompleteError {
    /// No such order.
    #[error("order `{0}` does not exist")]
    NotFound(String),
    /// It is final already.
    #[error("order `{id}` is {status} already; a final order does not change")]
    NotPending {
        /// The order.
        id: String,
        /// Its status.
        status: OrderStatus,
    },
}

/// Orders by id, shared by the HTTP API and the event handlers. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct OrderStore {
    orders: Arc<RwLock<BTreeMap<String, Order>>>,
}

impl OrderStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces `order`.
    pub fn insert(&self, order: Order) {
        self.write().insert(order.id.clone(), order);
    }

    /// Removes the order `id`.
    pub fn remove(&self, id: &str) -> Option<Order> {
        self.write().remove(id)
    }

    /// The order `id`.
    pub fn get(&self, id: &str) -> Option<Order> {
        self.read().get(id).cloned()
    }

    /// Every order, oldest first.
    pub fn list(&self) -> Vec<Order> {
        self.read().values().cloned().collect()
    }

    /// How many orders there are.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Moves the pending order `id` to its final state; fails if it is not pending.
    pub fn complete(&self, id: &str, completion: Completion) -> Result<Order, CompleteError> {
        let mut orders = self.write();
        let order = orders
            .get_mut(id)
            .ok_or_else(|| CompleteError::NotFound(id.to_owned()))?;
        if order.status.is_final() {
            return Err(CompleteError::NotPending {
                id: id.to_owned(),
                status: order.status,
            });
        }
        match completion {
            Completion::Confirmed { payment_id } => {
                order.status = OrderStatus::Confirmed;
                order.payment_id = Some(payment_id);
            }
            Completion::Cancelled { reason } => {
                order.status = OrderStatus::Cancelled;
                order.cancellation_reason = Some(reason);
            }
        }
        Ok(order.clone())
    }

    // A panic while holding the lock cannot leave an order half-written (every
    // mutation is one assignment after the checks), so a poisoned lock is still good.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Order>> {
        self.orders.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Order>> {
        self.orders.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(id: &str) -> Order {
        Order {
            id: id.into(),
            customer_id: "c".into(),
            items: Vec::new(),
            total_cents: 100,
            status: OrderStatus::Pending,
            payment_id: None,
            cancellation_reason: None,
        }
    }

    #[test]
    fn a_final_order_does_not_change() {
        let store = OrderStore::new();
        store.insert(pending("o-1"));
        let confirmed = store.complete(
            "o-1",
            Completion::Confirmed {
                payment_id: "p-1".into(),
            },
        );
        assert_eq!(confirmed.map(|o| o.status), Ok(OrderStatus::Confirmed));
        let again = store.complete(
            "o-1",
            Completion::Cancelled {
                reason: "late".into(),
            },
        );
        assert_eq!(
            again,
            Err(CompleteError::NotPending {
                id: "o-1".into(),
                status: OrderStatus::Confirmed
            })
        );
        assert_eq!(
            store.get("o-1").map(|o| o.payment_id),
            Some(Some("p-1".into()))
        );
        assert_eq!(
            store.complete(
                "nope",
                Completion::Cancelled {
                    reason: String::new()
                }
            ),
            Err(CompleteError::NotFound("nope".into()))
        );
    }

    #[test]
    fn status_is_screaming_case_in_json() -> Result<(), serde_json::Error> {
        assert_eq!(
            serde_json::to_string(&OrderStatus::Cancelled)?,
            "\"CANCELLED\""
        );
        Ok(())
    }
}
