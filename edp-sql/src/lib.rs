//! The transactional outbox and the idempotent inbox for edp, on PostgreSQL and
//! SQLite through sqlx: every state change is published, and every event's effect is
//! applied once.
//!
//! ```no_run
//! use edp_core::transport::memory::MemoryTransport;
//! use edp_sql::outbox::{Outbox, Relay};
//! # use edp_core::Event;
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize, Event)]
//! # #[event(name = "order.placed", topic = "orders", key = order_id)]
//! # struct OrderPlaced { order_id: String }
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = sqlx::SqlitePool::connect("sqlite:orders.db?mode=rwc").await?;
//! edp_sql::migrate(&pool).await?; // creates edp_outbox and edp_inbox
//! let relay = Relay::new(pool.clone(), MemoryTransport::new()).start();
//!
//! let outbox = Outbox::new("order");
//! let mut tx = pool.begin().await?;
//! // ... your INSERT or UPDATE through &mut *tx ...
//! outbox.add(&mut tx, &OrderPlaced { order_id: "o-1".into() }).await?;
//! tx.commit().await?; // now the relay publishes it
//!
//! relay.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Concepts
//!
//! - [`outbox`]: [`Outbox`](outbox::Outbox) adds events inside your transaction;
//!   [`Relay`](outbox::Relay) publishes committed rows through any transport.
//! - [`inbox`]: [`Inbox::handler`](inbox::Inbox::handler) records each event in the
//!   handler's transaction and skips events applied already.
//! - [`event_store`]: the event store of `edp_core::event_sourcing` in the same
//!   database, appending events and their outbox rows in one transaction, and
//!   projections whose checkpoints commit with their read models.
//! - [`saga`]: the store of `edp_core::saga` instances, each
//!   transition committed with its commands (outbox) and its reply's inbox record.
//! - [`migrate`]: creates the tables (embedded migrations, recorded in
//!   `_edp_migrations`, apart from your own).
//! - `testkit` (feature): a throwaway PostgreSQL cluster and a fresh database per test.
//!
//! # Guarantees
//!
//! Delivery is at least once: an event whose transaction committed is published,
//! perhaps more than once (a relay that dies after publishing and before marking the
//! row publishes it again). Effects on transactional state happen once: a consumer
//! behind the inbox applies each event id once per consumer group. Effects outside
//! the database (an e-mail) may repeat unless made idempotent.
//!
//! # Features
//!
//! | feature | adds | default |
//! |---|---|---|
//! | `postgres` | PostgreSQL (LISTEN/NOTIFY wake-ups, an advisory lock per relay) | yes |
//! | `sqlite` | SQLite, bundled (the embedded default; the relay polls) | yes |
//! | `testkit` | `testkit`: a throwaway PostgreSQL cluster and a fresh database per test | no |
//! | `drill` | the `edp-sql-drill` binary the kill -9 tests run | no |

mod database;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub mod event_store;
pub mod inbox;
mod outage;
pub mod outbox;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub mod saga;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod shared_sql;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "testkit")]
pub mod testkit;
mod transaction;

pub use database::Database;
pub use outage::is_unavailable;
pub use transaction::InTransaction;

/// Whether the database behind `pool` answers: takes a connection and pings it. For
/// readiness checks ([`edp_core::health`]).
///
/// ```no_run
/// # async fn f(pool: sqlx::SqlitePool) {
/// let health = edp_core::health::Health::new().check("database", move || {
///     let pool = pool.clone();
///     async move { edp_sql::ping(&pool).await }
/// });
/// # }
/// ```
pub async fn ping<DB: Database>(pool: &sqlx::Pool<DB>) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let mut conn = pool.acquire().await?;
    conn.ping().await
}

/// Creates or updates the outbox and inbox tables in the database behind `pool`.
/// Safe to call at every start and from several processes at once.
///
/// The migrations are embedded and recorded in the table `_edp_migrations`, so they
/// never mix with your own sqlx migrations.
///
/// # Errors
///
/// [`sqlx::migrate::MigrateError`] when the database is unreachable or refuses the DDL.
pub async fn migrate<DB>(pool: &sqlx::Pool<DB>) -> Result<(), sqlx::migrate::MigrateError>
where
    DB: Database,
    DB::Connection: sqlx::migrate::Migrate,
{
    DB::migrator().run(pool).await
}
