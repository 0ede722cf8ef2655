//! The Event sourcing and CQRS chapter: a shopping cart recorded as events, its
//! repository on SQLite with the outbox, an upcaster, and a projection.

// The chapter shows these types whole; their fields speak for themselves.
#![allow(missing_docs)]

use edp_core::Event;
use edp_core::error::BoxError;
use edp_core::event_sourcing::{Aggregate, EventSet, Recorded, Upcasters};
use edp_sql::event_store::SqlProjection;
use serde::{Deserialize, Serialize};
use sqlx::{Sqlite, Transaction};

// ANCHOR: events
/// An item went into the cart (version 2: quantities arrived in the second release).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "cart.item_added", version = 2, topic = "carts", key = cart_id)]
pub struct ItemAdded {
    pub cart_id: String,
    pub sku: String,
    pub quantity: u32,
}

/// The cart was checked out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "cart.checked_out", topic = "carts", key = cart_id)]
pub struct CheckedOut {
    pub cart_id: String,
}

/// Everything a cart records: one variant per event type.
#[derive(Debug, Clone, PartialEq, EventSet)]
pub enum CartEvent {
    ItemAdded(ItemAdded),
    CheckedOut(CheckedOut),
}
// ANCHOR_END: events

// ANCHOR: aggregate
/// The cart's state: only what its decisions need.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Cart {
    pub items: u32,
    pub checked_out: bool,
}

/// What a cart can be asked.
#[derive(Debug, Clone)]
pub enum CartCommand {
    Add {
        cart_id: String,
        sku: String,
        quantity: u32,
    },
    CheckOut {
        cart_id: String,
    },
}

/// Why a cart refuses.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum CartError {
    #[error("the cart is checked out already")]
    CheckedOut,
    #[error("an empty cart cannot be checked out")]
    Empty,
}

impl Aggregate for Cart {
    const KIND: &'static str = "cart";
    type Command = CartCommand;
    type Event = CartEvent;
    type Error = CartError;

    fn handle(&self, command: CartCommand) -> Result<Vec<CartEvent>, CartError> {
        if self.checked_out {
            return Err(CartError::CheckedOut);
        }
        match command {
            CartCommand::Add {
                cart_id,
                sku,
                quantity,
            } => Ok(vec![
                ItemAdded {
                    cart_id,
                    sku,
                    quantity,
                }
                .into(),
            ]),
            CartCommand::CheckOut { .. } if self.items == 0 => Err(CartError::Empty),
            CartCommand::CheckOut { cart_id } => Ok(vec![CheckedOut { cart_id }.into()]),
        }
    }

    fn apply(&mut self, event: &CartEvent) {
        match event {
            CartEvent::ItemAdded(e) => self.items += e.quantity,
            CartEvent::CheckedOut(_) => self.checked_out = true,
        }
    }
}
// ANCHOR_END: aggregate

// ANCHOR: upcaster
/// Version 1, as the first release stored it: one item per event.
#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "cart.item_added", version = 1, topic = "carts", key = cart_id)]
pub struct ItemAddedV1 {
    pub cart_id: String,
    pub sku: String,
}

/// Reads stored v1 events as v2.
pub fn upcasters() -> Upcasters {
    Upcasters::new().upcast(|v1: ItemAddedV1| ItemAdded {
        cart_id: v1.cart_id,
        sku: v1.sku,
        quantity: 1,
    })
}
// ANCHOR_END: upcaster

// ANCHOR: projection
/// The read model: open carts and their item counts, in table `open_carts`.
pub struct OpenCarts;

impl SqlProjection<Sqlite> for OpenCarts {
    type Event = CartEvent;

    fn name(&self) -> &str {
        "open-carts"
    }

    async fn apply(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        event: &Recorded<CartEvent>,
    ) -> Result<(), BoxError> {
        let query = match &event.event {
            CartEvent::ItemAdded(e) => sqlx::query(
                "INSERT INTO open_carts (cart_id, items) VALUES ($1, $2) \
                 ON CONFLICT (cart_id) DO UPDATE SET items = items + excluded.items",
            )
            .bind(&e.cart_id)
            .bind(i64::from(e.quantity)),
            CartEvent::CheckedOut(e) => {
                sqlx::query("DELETE FROM open_carts WHERE cart_id = $1").bind(&e.cart_id)
            }
        };
        query.execute(&mut **tx).await?;
        Ok(())
    }

    async fn reset(&self, tx: &mut Transaction<'static, Sqlite>) -> Result<(), BoxError> {
        sqlx::query("DELETE FROM open_carts")
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}
// ANCHOR_END: projection

#[cfg(test)]
mod tests;
