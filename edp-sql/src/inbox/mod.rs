//! The inbox: an idempotent consumer. Each event a consumer group applies is
//! recorded in the same transaction as the handler's writes, so a redelivered event
//! is acknowledged without applying its effects again.
//!
//! Wrap a handler with [`Inbox::handler`]. It gets an [`InboxTx`], an open
//! transaction that already holds the inbox record: write through it, add outbox
//! events to it, and commit it.
//!
//! ```no_run
//! use edp_core::{Context, Service, error::BoxError, transport::memory::MemoryTransport};
//! use edp_sql::inbox::{Inbox, InboxTx};
//! # use edp_core::Event;
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize, Event)]
//! # #[event(name = "order.placed", topic = "orders", key = order_id)]
//! # struct OrderPlaced { order_id: String, total_cents: i64 }
//!
//! async fn charge(_ctx: Context, mut tx: InboxTx<sqlx::Sqlite>, order: OrderPlaced) -> Result<(), BoxError> {
//!     sqlx::query("INSERT INTO charges (order_id, cents) VALUES ($1, $2)")
//!         .bind(&order.order_id)
//!         .bind(order.total_cents)
//!         .execute(&mut *tx)
//!         .await?;
//!     tx.commit().await?; // the charge and the inbox record, or neither
//!     Ok(())
//! }
//!
//! # async fn f(pool: sqlx::SqlitePool) {
//! let service = Service::builder("payment", MemoryTransport::new())
//!     .handler(Inbox::new(pool).handler(charge))
//!     .build();
//! # }
//! ```
//!
//! What it guarantees: effects written through the `InboxTx` happen once per
//! (consumer group, event id), however often the event is delivered. Effects outside
//! the database (an e-mail, a call to another service) may repeat: make them
//! idempotent, or record them in the transaction first and send them from the
//! outbox.

mod handler;

pub use handler::{InboxHandler, InboxStateHandler, InboxTx, NotCommitted};

use std::time::Duration;

use sqlx::Pool;
use uuid::Uuid;

use crate::Database;
use crate::outbox::row::now_us;
use crate::transaction::InTransaction;

/// The inbox of the database behind a pool. Cheap to clone.
#[derive(Debug)]
pub struct Inbox<DB: Database> {
    pool: Pool<DB>,
}

impl<DB: Database> Clone for Inbox<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
        }
    }
}

impl<DB: Database> Inbox<DB> {
    /// The inbox in the database behind `pool` (run [`migrate`](crate::migrate) first).
    pub fn new(pool: Pool<DB>) -> Self {
        Self { pool }
    }

    /// The pool.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// Records that `group` applies `event_id`, inside `tx`. Returns `false` when it
    /// was recorded already by a committed transaction: skip the effects. With
    /// PostgreSQL, a concurrent transaction recording the same id makes this wait
    /// until it commits (then `false`) or rolls back (then `true`).
    ///
    /// [`Inbox::handler`] does this for you.
    pub async fn claim(
        tx: &mut impl InTransaction<Database = DB>,
        group: &str,
        event_id: Uuid,
    ) -> Result<bool, sqlx::Error> {
        DB::inbox_claim(tx.connection(), group, event_id, now_us()).await
    }

    /// Whether `group` has applied `event_id` (a committed record exists).
    pub async fn contains(&self, group: &str, event_id: Uuid) -> Result<bool, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        DB::inbox_contains(&mut conn, group, event_id).await
    }

    /// Deletes records older than `keep`; returns how many. A redelivery older than
    /// the window is applied again, so keep it longer than any redelivery can take
    /// (the broker's retention, for Kafka).
    pub async fn purge(&self, keep: Duration) -> Result<u64, sqlx::Error> {
        let before = now_us().saturating_sub(i64::try_from(keep.as_micros()).unwrap_or(i64::MAX));
        DB::inbox_purge(&self.pool, before).await
    }

    /// Purges records older than `keep` every `every`, on a task of its own, until the
    /// returned handle is aborted or dropped with the runtime. Failures (the database
    /// down) are logged and tried again at the next turn.
    ///
    /// ```no_run
    /// # async fn f(pool: sqlx::SqlitePool) {
    /// use std::time::Duration;
    /// let inbox = edp_sql::inbox::Inbox::new(pool);
    /// let day = Duration::from_secs(24 * 3600);
    /// let purging = inbox.purge_every(7 * day, Duration::from_secs(3600));
    /// // ... at shutdown:
    /// purging.abort();
    /// # }
    /// ```
    pub fn purge_every(&self, keep: Duration, every: Duration) -> tokio::task::JoinHandle<()> {
        let mut purging = self.purging(keep, every);
        tokio::spawn(async move {
            let never = tokio_util::sync::CancellationToken::new();
            purging.purge_until(&never).await;
        })
    }

    /// Purging as an [`App`](edp_core::app) task named `inbox-purge` (see
    /// [`Purging::name`]): records older
    /// than `keep` deleted every `every` until the App stops; failures (the database
    /// down) are logged and tried again at the next turn.
    ///
    /// ```no_run
    /// # fn f(pool: sqlx::SqlitePool) -> edp_core::app::App {
    /// use std::time::Duration;
    /// let day = Duration::from_secs(24 * 3600);
    /// let inbox = edp_sql::inbox::Inbox::new(pool);
    /// edp_core::app::App::new("payment").task(inbox.purging(7 * day, Duration::from_secs(3600)))
    /// # }
    /// ```
    pub fn purging(&self, keep: Duration, every: Duration) -> Purging<DB> {
        Purging {
            inbox: self.clone(),
            keep,
            every,
            name: "inbox-purge".into(),
        }
    }

    /// Wraps `handler`, an `async fn(Context, InboxTx<DB>, E) -> Result<(), Err>`,
    /// into an edp handler that records each event in the inbox first and skips
    /// events recorded already.
    pub fn handler<F>(&self, handler: F) -> InboxHandler<DB, F> {
        InboxHandler::new(self.pool.clone(), handler)
    }

    /// The same with state: `async fn(S, Context, InboxTx<DB>, E)`.
    pub fn handler_with<S, F>(&self, state: S, handler: F) -> InboxStateHandler<DB, S, F> {
        InboxStateHandler::new(self.pool.clone(), state, handler)
    }
}

/// Inbox purging as an [`App`](edp_core::app) task; see [`Inbox::purging`].
#[derive(Debug)]
pub struct Purging<DB: Database> {
    inbox: Inbox<DB>,
    keep: Duration,
    every: Duration,
    name: String,
}

impl<DB: Database> Purging<DB> {
    /// Names the task `inbox-purge:<name>` (the database's service, say) instead of
    /// `inbox-purge`, for an App that purges several inboxes.
    pub fn name(mut self, name: &str) -> Self {
        self.name = format!("inbox-purge:{name}");
        self
    }

    async fn purge_until(&mut self, stop: &tokio_util::sync::CancellationToken) {
        let mut ticks = tokio::time::interval(self.every.max(Duration::from_millis(1)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            match self.inbox.purge(self.keep).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(purged = n, "inbox records past the retention deleted"),
                Err(e) => tracing::warn!(error = %e, "cannot purge the inbox; trying again later"),
            }
        }
    }
}

impl<DB: Database> edp_core::app::Task for Purging<DB> {
    fn name(&self) -> std::borrow::Cow<'static, str> {
        self.name.clone().into()
    }

    async fn run(
        &mut self,
        stop: tokio_util::sync::CancellationToken,
    ) -> Result<(), edp_core::error::BoxError> {
        self.purge_until(&stop).await;
        Ok(())
    }
}
