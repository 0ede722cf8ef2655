//! The order service's write side: the event-sourced orders and the placement saga,
//! in the service's database.

use std::time::Duration;

use edp_core::event_sourcing::{Projector, Repository};
use edp_core::saga::SagaEngine;
use edp_core::{Codec, Encoder};
use edp_sql::event_store::{Checkpointed, SqlEventStore};
use edp_sql::outbox::Outbox;
use edp_sql::saga::SqlSagaStore;

use crate::NAME;
use crate::aggregate::OrderAggregate;
use crate::projection::OrdersView;
use crate::saga::PlaceOrder;
use crate::store::{OrderDb, OrderStore};

/// The orders' event store, with the outbox (every order event is published).
pub type OrderEvents<DB, C> = SqlEventStore<DB, C>;

/// The placement saga's engine, its instances in the order database.
pub type Placements<DB> = SagaEngine<PlaceOrder, SqlSagaStore<DB>>;

/// The order service's state: the event-sourced orders, the placement saga, and the
/// `orders` read model. Cheap to clone.
#[derive(Debug)]
pub struct OrderBook<DB: OrderDb, C> {
    /// The read model.
    pub orders: OrderStore<DB>,
    /// The orders, event-sourced (a snapshot every 100 events).
    pub repository: Repository<OrderAggregate, OrderEvents<DB, C>>,
    /// The placement saga.
    pub placements: Placements<DB>,
}

impl<DB: OrderDb, C: Codec> Clone for OrderBook<DB, C> {
    fn clone(&self) -> Self {
        Self {
            orders: self.orders.clone(),
            repository: self.repository.clone(),
            placements: self.placements.clone(),
        }
    }
}

impl<DB: OrderDb, C: Codec> OrderBook<DB, C> {
    /// The book on `orders`' database, publishing with `codec`: order events and
    /// the placement saga's commands alike.
    pub fn new(orders: OrderStore<DB>, codec: C) -> Self {
        let encoder = Encoder::new(NAME, codec);
        let store = SqlEventStore::new(orders.pool().clone())
            .with_outbox(Outbox::with_encoder(encoder.clone()));
        Self {
            repository: Repository::new(store).snapshot_every(100),
            placements: SagaEngine::new(SqlSagaStore::new(orders.pool().clone())).encoder(encoder),
            orders,
        }
    }

    /// The projector that keeps the `orders` read model (start it beside the service).
    pub fn projector(&self) -> Projector<OrderEvents<DB, C>, Checkpointed<DB, OrdersView>> {
        Projector::new(
            self.repository.store().clone(),
            Checkpointed::new(self.orders.pool().clone(), OrdersView),
        )
        .poll_interval(Duration::from_millis(20))
    }
}
