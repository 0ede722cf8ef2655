//! `Idempotency-Key` on `POST /v1/orders`: a client that retries a request (after a
//! timeout, say) with the same key gets the order the first request made, and no second
//! order is placed or published.
//!
//! Follows the IETF `Idempotency-Key` header draft: the same key with a different body
//! is 422, and a retry that arrives while the first request is still being handled is
//! 409. At most [`MAX_KEYS`] keys are remembered; the oldest are forgotten first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::{HeaderMap, StatusCode};

use crate::problem::Problem;
use crate::request::PlaceOrder;

/// The header.
pub const HEADER: &str = "idempotency-key";
/// The most keys remembered at once.
pub const MAX_KEYS: usize = 10_000;
/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// The keys seen, with the request each came with and the order it made.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdempotencyKeys {
    inner: Arc<Mutex<Keys>>,
}

#[derive(Debug, Default)]
struct Keys {
    by_key: HashMap<String, Entry>,
    order: VecDeque<String>,
}

#[derive(Debug, Clone)]
struct Entry {
    request: PlaceOrder,
    /// `None` while the first request is being handled.
    order_id: Option<String>,
}

/// What to do with a request.
pub(crate) enum Claim {
    /// No key: handle it.
    None,
    /// A new key, now reserved: handle it, then [`IdempotencyKeys::complete`] or
    /// [`IdempotencyKeys::release`].
    New(String),
    /// The key made this order already: answer with it.
    Done(String),
}

/// Why a request with a key was refused.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// 400: not a valid key.
    Malformed,
    /// 422: the key came with another request before.
    Reused(String),
    /// 409: the first request with the key is still being handled.
    InFlight(String),
}

impl From<Refusal> for Problem {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Malformed => Problem::malformed(format!(
                "the Idempotency-Key header must be 1 to {MAX_KEY_LEN} visible ASCII characters"
            )),
            Refusal::Reused(key) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                Problem::INVALID_REQUEST,
                "Idempotency-Key reused",
                format!(
                    "Idempotency-Key `{key}` was used with a different request; use a new key for a new order"
                ),
            ),
            Refusal::InFlight(key) => Problem::new(
                StatusCode::CONFLICT,
                "about:blank",
                "Conflict",
                format!(
                    "a request with Idempotency-Key `{key}` is still being handled; retry shortly"
                ),
            ),
        }
    }
}

/// Reads the key from `headers`: absent is fine, malformed is refused.
pub(crate) fn key_of(headers: &HeaderMap) -> Result<Option<String>, Refusal> {
    let Some(value) = headers.get(HEADER) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| {
            !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or(Refusal::Malformed)?;
    Ok(Some(key.to_owned()))
}

impl IdempotencyKeys {
    fn lock(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reserves `key` for `request`, or says what an earlier use of it decided.
    pub(crate) fn claim(
        &self,
        key: Option<String>,
        request: &PlaceOrder,
    ) -> Result<Claim, Refusal> {
        let Some(key) = key else {
            return Ok(Claim::None);
        };
        let mut keys = self.lock();
        if let Some(entry) = keys.by_key.get(&key) {
            if entry.request != *request {
                return Err(Refusal::Reused(key));
            }
            return match &entry.order_id {
                Some(id) => Ok(Claim::Done(id.clone())),
                None => Err(Refusal::InFlight(key)),
            };
        }
        while keys.order.len() >= MAX_KEYS {
            if let Some(old) = keys.order.pop_front() {
                keys.by_key.remove(&old);
            }
        }
        keys.by_key.insert(
            key.clone(),
            Entry {
                request: request.clone(),
                order_id: None,
            },
        );
        keys.order.push_back(key.clone());
        Ok(Claim::New(key))
    }

    /// Records that `key` made order `order_id`.
    pub(crate) fn complete(&self, key: &str, order_id: &str) {
        if let Some(entry) = self.lock().by_key.get_mut(key) {
            entry.order_id = Some(order_id.to_owned());
        }
    }

    /// Forgets `key` (its request failed; a retry may use it again).
    pub(crate) fn release(&self, key: &str) {
        let mut keys = self.lock();
        keys.by_key.remove(key);
        keys.order.retain(|k| k != key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(customer: &str) -> PlaceOrder {
        serde_json::from_value(serde_json::json!({
            "customer_id": customer,
            "items": [{ "product_id": "sku-1", "quantity": 1, "unit_price_cents": 100 }]
        }))
        .unwrap()
    }

    #[test]
    fn a_key_is_new_then_in_flight_then_done_or_released() {
        let keys = IdempotencyKeys::default();
        let r = request("c-1");
        assert!(matches!(
            keys.claim(Some("k".into()), &r),
            Ok(Claim::New(_))
        ));
        assert!(matches!(
            keys.claim(Some("k".into()), &r),
            Err(Refusal::InFlight(_))
        ));
        keys.complete("k", "o-1");
        assert!(matches!(keys.claim(Some("k".into()), &r), Ok(Claim::Done(id)) if id == "o-1"));
        assert!(matches!(
            keys.claim(Some("k".into()), &request("c-2")),
            Err(Refusal::Reused(_))
        ));
        keys.release("k");
        assert!(matches!(
            keys.claim(Some("k".into()), &r),
            Ok(Claim::New(_))
        ));
        assert!(matches!(keys.claim(None, &r), Ok(Claim::None)));
    }

    #[test]
    fn the_oldest_keys_are_forgotten_past_the_bound() {
        let keys = IdempotencyKeys::default();
        let r = request("c-1");
        for i in 0..=MAX_KEYS {
            assert!(matches!(
                keys.claim(Some(format!("k{i}")), &r),
                Ok(Claim::New(_))
            ));
        }
        assert_eq!(keys.lock().by_key.len(), MAX_KEYS);
        assert!(
            matches!(keys.claim(Some("k0".into()), &r), Ok(Claim::New(_))),
            "k0 was forgotten"
        );
    }
}
