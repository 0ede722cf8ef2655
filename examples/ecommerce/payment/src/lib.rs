//! The payment service of the ecommerce example: asked by the order placement saga
//! to authorize an order's payment (`AuthorizePayment`), it decides by one rule
//! ([`decide`]) and answers `PaymentSucceeded` or `PaymentFailed`; asked to void it
//! (`VoidPayment`, the saga's compensation), it voids it. Both are final per order: a
//! void that overtakes its authorization leaves a tombstone, and the late
//! authorization is declined.
//!
//! There is no payment provider yet: the rule stands in for one, so that the example
//! is deterministic (the demo and the tests know each order's outcome in advance).
//!
//! ```
//! use ecommerce_contracts::{OrderLine, OrderPlaced};
//! use ecommerce_payment::{Decision, decide};
//!
//! let order = OrderPlaced {
//!     order_id: "o-1".into(),
//!     customer_id: "c-1".into(),
//!     items: vec![OrderLine { product_id: "tv".into(), quantity: 1, unit_price_cents: 79_900 }],
//!     total_cents: 79_900,
//!     coupon: None,
//! };
//! assert!(matches!(decide(&order), Decision::Declined { .. }));
//! ```

use ecommerce_contracts::{
    AuthorizePayment, OrderPlaced, PaymentFailed, PaymentSucceeded, VoidPayment, format_cents,
};
use edp_core::error::BoxError;
use edp_core::middleware::retry::{RetryLayer, RetryPolicy};
use edp_core::transport::Transport;
use edp_core::{Codec, Context, JsonCodec, Service};
use edp_sql::InTransaction;
use edp_sql::inbox::{Inbox, InboxTx};
use edp_sql::outbox::Outbox;
use futures_util::future::BoxFuture;
use sqlx::Pool;
use uuid::Uuid;

/// The service's name: its consumer group and the `source` of its events.
pub const NAME: &str = "payment";

/// Orders with a total above this many cents (500.00) are declined.
pub const DECLINE_ABOVE_CENTS: u64 = 50_000;

/// What [`decide`] says about an order's payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Charge the order's total.
    Approved,
    /// Do not charge.
    Declined {
        /// Why, for people.
        reason: String,
    },
}

impl Decision {
    /// Whether the payment goes through.
    pub fn is_approved(&self) -> bool {
        matches!(self, Self::Approved)
    }
}

// ANCHOR: payment_rule
/// The payment rule: a payment is declined when the order total is above
/// [`DECLINE_ABOVE_CENTS`] (50_000 cents, 500.00); otherwise it is approved. A total of
/// exactly 500.00 is approved.
pub fn decide(order: &OrderPlaced) -> Decision {
    decide_amount(order.total_cents)
}

/// [`decide`] for an amount in cents.
pub fn decide_amount(total_cents: u64) -> Decision {
    if total_cents > DECLINE_ABOVE_CENTS {
        Decision::Declined {
            reason: format!(
                "order total {} is above the limit of {}",
                format_cents(total_cents),
                format_cents(DECLINE_ABOVE_CENTS)
            ),
        }
    } else {
        Decision::Approved
    }
}

/// Why an authorization that arrives after its void is declined.
pub const VOIDED_FIRST: &str = "the payment was voided before it was authorized";
// ANCHOR_END: payment_rule

/// The event a payment decision is announced with.
#[derive(Debug, Clone, PartialEq)]
pub enum PaymentOutcome {
    /// Approved and charged.
    Succeeded(PaymentSucceeded),
    /// Declined.
    Failed(PaymentFailed),
}

impl PaymentOutcome {
    /// The outcome [`decide`] gives `order`, with a new payment id when approved.
    pub fn of(order: &OrderPlaced) -> Self {
        Self::of_amount(&order.order_id, order.total_cents)
    }

    /// The outcome [`decide_amount`] gives `amount_cents` for `order_id`.
    pub fn of_amount(order_id: &str, amount_cents: u64) -> Self {
        match decide_amount(amount_cents) {
            Decision::Approved => Self::Succeeded(PaymentSucceeded {
                order_id: order_id.to_owned(),
                payment_id: Uuid::now_v7().to_string(),
                amount_cents,
            }),
            Decision::Declined { reason } => Self::Failed(PaymentFailed {
                order_id: order_id.to_owned(),
                reason,
            }),
        }
    }
}

/// A row of `payments`: (order_id, payment_id, amount_cents, declined reason).
type Row = (String, Option<String>, i64, Option<String>);

/// A stored payment: its outcome, and whether it was voided.
type Stored = (PaymentOutcome, bool);

fn outcome_of((order_id, payment_id, amount_cents, reason): Row) -> PaymentOutcome {
    match (payment_id, reason) {
        (Some(payment_id), _) => PaymentOutcome::Succeeded(PaymentSucceeded {
            order_id,
            payment_id,
            amount_cents: u64::try_from(amount_cents).unwrap_or(0),
        }),
        (None, reason) => PaymentOutcome::Failed(PaymentFailed {
            order_id,
            reason: reason.unwrap_or_default(),
        }),
    }
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS payments (
    order_id     TEXT PRIMARY KEY,
    payment_id   TEXT,
    amount_cents BIGINT NOT NULL,
    reason       TEXT,
    voided       BIGINT NOT NULL DEFAULT 0
)";

/// A database the payment service can keep its payments in: SQLite or PostgreSQL.
pub trait PaymentDb: edp_sql::Database {
    #[doc(hidden)]
    fn create_schema(pool: &Pool<Self>) -> BoxFuture<'_, Result<(), sqlx::Error>>;
    #[doc(hidden)]
    fn fetch<'c>(
        conn: &'c mut Self::Connection,
        order_id: &'c str,
    ) -> BoxFuture<'c, Result<Option<PaymentOutcome>, sqlx::Error>>;
    #[doc(hidden)]
    fn insert<'c>(
        conn: &'c mut Self::Connection,
        outcome: &'c PaymentOutcome,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>>;
    #[doc(hidden)]
    fn count(pool: &Pool<Self>) -> BoxFuture<'_, Result<i64, sqlx::Error>>;
    #[doc(hidden)]
    fn fetch_stored<'c>(
        conn: &'c mut Self::Connection,
        order_id: &'c str,
    ) -> BoxFuture<'c, Result<Option<Stored>, sqlx::Error>>;
    /// Marks the payment of `order_id` voided, inserting a tombstone when there is
    /// none; `true` when it voided an authorized payment.
    #[doc(hidden)]
    fn void<'c>(
        conn: &'c mut Self::Connection,
        order_id: &'c str,
    ) -> BoxFuture<'c, Result<bool, sqlx::Error>>;
}

macro_rules! payment_db {
    ($db:ty) => {
        impl PaymentDb for $db {
            fn create_schema(pool: &Pool<Self>) -> BoxFuture<'_, Result<(), sqlx::Error>> {
                Box::pin(async move { sqlx::query(SCHEMA).execute(pool).await.map(|_| ()) })
            }

            fn fetch<'c>(conn: &'c mut Self::Connection, order_id: &'c str) -> BoxFuture<'c, Result<Option<PaymentOutcome>, sqlx::Error>> {
                Box::pin(async move {
                    let row: Option<Row> = sqlx::query_as(
                        "SELECT order_id, payment_id, amount_cents, reason FROM payments WHERE order_id = $1",
                    )
                    .bind(order_id)
                    .fetch_optional(conn)
                    .await?;
                    Ok(row.map(outcome_of))
                })
            }

            fn insert<'c>(conn: &'c mut Self::Connection, outcome: &'c PaymentOutcome) -> BoxFuture<'c, Result<(), sqlx::Error>> {
                Box::pin(async move {
                    let (order_id, payment_id, amount, reason) = match outcome {
                        PaymentOutcome::Succeeded(p) => (&p.order_id, Some(&p.payment_id), p.amount_cents, None),
                        PaymentOutcome::Failed(f) => (&f.order_id, None, 0, Some(&f.reason)),
                    };
                    sqlx::query("INSERT INTO payments (order_id, payment_id, amount_cents, reason) VALUES ($1, $2, $3, $4)")
                        .bind(order_id)
                        .bind(payment_id)
                        .bind(i64::try_from(amount).unwrap_or(i64::MAX))
                        .bind(reason)
                        .execute(conn)
                        .await
                        .map(|_| ())
                })
            }

            fn count(pool: &Pool<Self>) -> BoxFuture<'_, Result<i64, sqlx::Error>> {
                Box::pin(async move {
                    sqlx::query_as("SELECT count(*) FROM payments").fetch_one(pool).await.map(|(n,): (i64,)| n)
                })
            }

            fn fetch_stored<'c>(conn: &'c mut Self::Connection, order_id: &'c str) -> BoxFuture<'c, Result<Option<Stored>, sqlx::Error>> {
                Box::pin(async move {
                    let row: Option<(String, Option<String>, i64, Option<String>, i64)> = sqlx::query_as(
                        "SELECT order_id, payment_id, amount_cents, reason, voided FROM payments WHERE order_id = $1",
                    )
                    .bind(order_id)
                    .fetch_optional(conn)
                    .await?;
                    Ok(row.map(|(o, p, a, r, v)| (outcome_of((o, p, a, r)), v != 0)))
                })
            }

            fn void<'c>(conn: &'c mut Self::Connection, order_id: &'c str) -> BoxFuture<'c, Result<bool, sqlx::Error>> {
                Box::pin(async move {
                    let voided = sqlx::query(
                        "UPDATE payments SET voided = 1 WHERE order_id = $1 AND voided = 0 AND payment_id IS NOT NULL",
                    )
                    .bind(order_id)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    sqlx::query(
                        "INSERT INTO payments (order_id, payment_id, amount_cents, reason, voided) \
                         VALUES ($1, NULL, 0, $2, 1) ON CONFLICT (order_id) DO NOTHING",
                    )
                    .bind(order_id)
                    .bind(VOIDED_FIRST)
                    .execute(conn)
                    .await?;
                    Ok(voided == 1)
                })
            }
        }
    };
}

payment_db!(sqlx::Sqlite);
payment_db!(sqlx::Postgres);

/// The payments decided so far, one per order, in the payment service's database.
/// Cheap to clone.
#[derive(Debug)]
pub struct Payments<DB: PaymentDb> {
    pool: Pool<DB>,
}

impl<DB: PaymentDb> Clone for Payments<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
        }
    }
}

impl<DB: PaymentDb> Payments<DB>
where
    DB::Connection: sqlx::migrate::Migrate,
{
    /// The payments in the database behind `pool`: creates the `payments` table and
    /// the outbox and inbox tables when missing.
    pub async fn open(pool: Pool<DB>) -> Result<Self, sqlx::Error> {
        edp_sql::migrate(&pool).await?;
        DB::create_schema(&pool).await?;
        Ok(Self { pool })
    }
}

impl<DB: PaymentDb> Payments<DB> {
    /// The pool.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// The outcome for the order `order_id`, if decided.
    pub async fn get(&self, order_id: &str) -> Result<Option<PaymentOutcome>, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        DB::fetch(&mut conn, order_id).await
    }

    /// How many orders have a payment outcome.
    pub async fn count(&self) -> Result<usize, sqlx::Error> {
        DB::count(&self.pool)
            .await
            .map(|n| usize::try_from(n).unwrap_or(0))
    }

    /// Whether the payment of `order_id` was voided.
    pub async fn voided(&self, order_id: &str) -> Result<bool, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        Ok(DB::fetch_stored(&mut conn, order_id)
            .await?
            .is_some_and(|(_, v)| v))
    }

    /// Authorizes the payment `command` asks for inside `tx` the first time;
    /// afterwards returns that first outcome again (an order is never charged twice).
    /// Declined when the payment was voided first.
    pub async fn authorize(
        tx: &mut impl InTransaction<Database = DB>,
        command: &AuthorizePayment,
    ) -> Result<PaymentOutcome, sqlx::Error> {
        if let Some((first, _)) = DB::fetch_stored(tx.connection(), &command.order_id).await? {
            return Ok(first);
        }
        let outcome = PaymentOutcome::of_amount(&command.order_id, command.amount_cents);
        DB::insert(tx.connection(), &outcome).await?;
        Ok(outcome)
    }

    /// Voids the payment of `order_id` inside `tx`; `true` when an authorized payment
    /// was voided. Without a payment, records the void, so that a late authorization
    /// is declined.
    pub async fn void(
        tx: &mut impl InTransaction<Database = DB>,
        order_id: &str,
    ) -> Result<bool, sqlx::Error> {
        DB::void(tx.connection(), order_id).await
    }

    /// Decides the payment of `order` inside `tx` the first time; afterwards returns
    /// that first outcome again (an order is never charged twice).
    pub async fn settle(
        tx: &mut impl InTransaction<Database = DB>,
        order: &OrderPlaced,
    ) -> Result<PaymentOutcome, sqlx::Error> {
        if let Some(first) = DB::fetch(tx.connection(), &order.order_id).await? {
            return Ok(first);
        }
        let outcome = PaymentOutcome::of(order);
        DB::insert(tx.connection(), &outcome).await?;
        Ok(outcome)
    }
}

// ANCHOR: payment_handler
/// `AuthorizePayment` -> `PaymentSucceeded` or `PaymentFailed`, as [`decide`] says:
/// the payment and its reply commit in one transaction, with the inbox record of the
/// command, so a redelivered command is not charged again.
pub async fn on_authorize_payment<DB: PaymentDb, C: Codec>(
    outbox: Outbox<C>,
    ctx: Context<C>,
    mut tx: InboxTx<DB>,
    command: AuthorizePayment,
) -> Result<(), BoxError> {
    match Payments::authorize(&mut tx, &command).await? {
        PaymentOutcome::Succeeded(paid) => {
            outbox.add_caused_by(&mut tx, &paid, ctx.envelope()).await?;
            tx.commit().await?;
            tracing::info!(order_id = %paid.order_id, payment_id = %paid.payment_id, "payment authorized");
        }
        PaymentOutcome::Failed(failed) => {
            outbox
                .add_caused_by(&mut tx, &failed, ctx.envelope())
                .await?;
            tx.commit().await?;
            tracing::info!(order_id = %failed.order_id, reason = %failed.reason, "payment declined");
        }
    }
    Ok(())
}

/// `VoidPayment` -> the order's payment is voided (or a tombstone recorded). No reply:
/// the saga does not wait for it.
pub async fn on_void_payment<DB: PaymentDb, C: Codec>(
    ctx: Context<C>,
    mut tx: InboxTx<DB>,
    command: VoidPayment,
) -> Result<(), BoxError> {
    let voided = Payments::void(&mut tx, &command.order_id).await?;
    tx.commit().await?;
    tracing::info!(order_id = %command.order_id, voided, correlation_id = %ctx.correlation_id(), "payment voided");
    Ok(())
}
// ANCHOR_END: payment_handler

// ANCHOR: payment_service
/// The payment service on `transport`, recording its decisions in `payments`.
pub fn service<T: Transport, DB: PaymentDb>(transport: T, payments: Payments<DB>) -> Service<T> {
    service_with(transport, JsonCodec, payments)
}

/// The payment service with another codec (Avro, for example).
pub fn service_with<T: Transport, C: Codec, DB: PaymentDb>(
    transport: T,
    codec: C,
    payments: Payments<DB>,
) -> Service<T, C> {
    let inbox = Inbox::new(payments.pool().clone());
    let outbox = Outbox::with_codec(NAME, codec.clone());
    Service::builder(NAME, transport)
        .codec(codec)
        .layer(RetryLayer::new(RetryPolicy::default()))
        .handler(inbox.handler_with(outbox, on_authorize_payment::<DB, C>))
        .handler(inbox.handler(on_void_payment::<DB, C>))
        .build()
}
// ANCHOR_END: payment_service

#[cfg(test)]
mod tests {
    use ecommerce_contracts::OrderLine;

    use super::*;

    fn order(total_cents: u64) -> OrderPlaced {
        OrderPlaced {
            order_id: format!("o-{total_cents}"),
            customer_id: "c-1".into(),
            items: vec![OrderLine {
                product_id: "p".into(),
                quantity: 1,
                unit_price_cents: total_cents,
            }],
            total_cents,
            coupon: None,
        }
    }

    #[test]
    fn totals_up_to_the_limit_are_approved() {
        for total in [1, 1_500, 49_999, 50_000] {
            assert_eq!(decide(&order(total)), Decision::Approved, "total {total}");
        }
    }

    #[test]
    fn totals_above_the_limit_are_declined() {
        for total in [50_001, 79_900, u64::MAX] {
            assert!(!decide(&order(total)).is_approved(), "total {total}");
        }
        assert_eq!(
            decide(&order(50_001)),
            Decision::Declined {
                reason: "order total 500.01 is above the limit of 500.00".into()
            }
        );
    }

    #[tokio::test]
    async fn an_order_is_settled_once() -> Result<(), Box<dyn std::error::Error>> {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1) // each connection to `:memory:` is a database of its own
            .connect("sqlite::memory:")
            .await?;
        let payments = Payments::open(pool.clone()).await?;
        let mut tx = pool.begin().await?;
        let first = Payments::settle(&mut tx, &order(1_000)).await?;
        let again = Payments::settle(&mut tx, &order(1_000)).await?;
        tx.commit().await?;
        assert_eq!(first, again);
        assert!(matches!(first, PaymentOutcome::Succeeded(ref p) if p.amount_cents == 1_000));
        assert_eq!(payments.count().await?, 1);
        assert_eq!(payments.get("o-1000").await?, Some(first));
        Ok(())
    }

    #[tokio::test]
    async fn a_void_is_final_and_overtaking_ones_decline_the_late_authorization()
    -> Result<(), Box<dyn std::error::Error>> {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await?;
        let payments = Payments::open(pool.clone()).await?;
        let authorize = |order_id: &str| AuthorizePayment {
            order_id: order_id.into(),
            customer_id: "c".into(),
            amount_cents: 1_000,
        };
        let mut tx = pool.begin().await?;
        assert!(matches!(
            Payments::authorize(&mut tx, &authorize("o-1")).await?,
            PaymentOutcome::Succeeded(_)
        ));
        assert!(Payments::void(&mut tx, "o-1").await?);
        assert!(!Payments::void(&mut tx, "o-1").await?, "voided once");
        // The void overtakes the authorization: it is declined when it comes.
        assert!(!Payments::void(&mut tx, "o-2").await?);
        let late = Payments::authorize(&mut tx, &authorize("o-2")).await?;
        assert!(
            matches!(late, PaymentOutcome::Failed(ref f) if f.reason == VOIDED_FIRST),
            "{late:?}"
        );
        tx.commit().await?;
        assert!(payments.voided("o-1").await? && payments.voided("o-2").await?);
        Ok(())
    }
}
