//! The orders read model: the `orders` table in the order service's own database
//! (SQLite embedded, PostgreSQL distributed), kept by the `orders-view` projection
//! from the order events.

use ecommerce_contracts::OrderLine;
use edp_sql::InTransaction;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use sqlx::Pool;

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

    fn parse(s: &str) -> Option<Self> {
        match s {
            "PENDING" => Some(Self::Pending),
            "CONFIRMED" => Some(Self::Confirmed),
            "CANCELLED" => Some(Self::Cancelled),
            _ => None,
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

/// A row of the `orders` table: (id, customer_id, items as JSON, total_cents, status,
/// payment_id, cancellation_reason).
type Row = (
    String,
    String,
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
);

fn order_of(row: Row) -> Result<Order, sqlx::Error> {
    let (id, customer_id, items, total_cents, status, payment_id, cancellation_reason) = row;
    let items = serde_json::from_str(&items).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let status = OrderStatus::parse(&status)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown order status `{status}`").into()))?;
    Ok(Order {
        id,
        customer_id,
        items,
        total_cents: u64::try_from(total_cents).unwrap_or(0),
        status,
        payment_id,
        cancellation_reason,
    })
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS orders (
    id                  TEXT PRIMARY KEY,
    customer_id         TEXT NOT NULL,
    items               TEXT NOT NULL,
    total_cents         BIGINT NOT NULL,
    status              TEXT NOT NULL,
    payment_id          TEXT,
    cancellation_reason TEXT
)";

const COLUMNS: &str =
    "id, customer_id, items, total_cents, status, payment_id, cancellation_reason";

/// A database the order service can keep its orders in: SQLite or PostgreSQL. The SQL
/// is written once (both take `$1` placeholders) and compiled for each.
pub trait OrderDb:
    edp_sql::Database + edp_sql::event_store::EventStoreDatabase + edp_sql::saga::SagaSql
{
    #[doc(hidden)]
    fn create_schema(pool: &Pool<Self>) -> BoxFuture<'_, Result<(), sqlx::Error>>;
    #[doc(hidden)]
    fn insert<'c>(
        conn: &'c mut Self::Connection,
        order: &'c Order,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>>;
    #[doc(hidden)]
    fn fetch<'c>(
        conn: &'c mut Self::Connection,
        id: &'c str,
    ) -> BoxFuture<'c, Result<Option<Order>, sqlx::Error>>;
    #[doc(hidden)]
    fn fetch_all(pool: &Pool<Self>) -> BoxFuture<'_, Result<Vec<Order>, sqlx::Error>>;
    #[doc(hidden)]
    fn count(pool: &Pool<Self>) -> BoxFuture<'_, Result<i64, sqlx::Error>>;
    /// Empties the read model (a projection rebuild).
    #[doc(hidden)]
    fn clear(conn: &mut Self::Connection) -> BoxFuture<'_, Result<(), sqlx::Error>>;
    /// Sets a pending order's final state; `false` if it was not pending.
    #[doc(hidden)]
    fn finish<'c>(
        conn: &'c mut Self::Connection,
        id: &'c str,
        completion: &'c Completion,
    ) -> BoxFuture<'c, Result<bool, sqlx::Error>>;
}

macro_rules! order_db {
    ($db:ty) => {
        impl OrderDb for $db {
            fn create_schema(pool: &Pool<Self>) -> BoxFuture<'_, Result<(), sqlx::Error>> {
                Box::pin(async move { sqlx::query(SCHEMA).execute(pool).await.map(|_| ()) })
            }

            fn insert<'c>(conn: &'c mut Self::Connection, order: &'c Order) -> BoxFuture<'c, Result<(), sqlx::Error>> {
                Box::pin(async move {
                    let items = serde_json::to_string(&order.items).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
                    sqlx::query(
                        "INSERT INTO orders (id, customer_id, items, total_cents, status, payment_id, cancellation_reason) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&order.id)
                    .bind(&order.customer_id)
                    .bind(items)
                    .bind(i64::try_from(order.total_cents).unwrap_or(i64::MAX))
                    .bind(order.status.as_str())
                    .bind(&order.payment_id)
                    .bind(&order.cancellation_reason)
                    .execute(conn)
                    .await
                    .map(|_| ())
                })
            }

            fn fetch<'c>(conn: &'c mut Self::Connection, id: &'c str) -> BoxFuture<'c, Result<Option<Order>, sqlx::Error>> {
                Box::pin(async move {
                    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM orders WHERE id = $1")))
                        .bind(id)
                        .fetch_optional(conn)
                        .await?;
                    row.map(order_of).transpose()
                })
            }

            fn fetch_all(pool: &Pool<Self>) -> BoxFuture<'_, Result<Vec<Order>, sqlx::Error>> {
                Box::pin(async move {
                    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM orders ORDER BY id")))
                        .fetch_all(pool)
                        .await?;
                    rows.into_iter().map(order_of).collect()
                })
            }

            fn count(pool: &Pool<Self>) -> BoxFuture<'_, Result<i64, sqlx::Error>> {
                Box::pin(async move {
                    sqlx::query_as("SELECT count(*) FROM orders").fetch_one(pool).await.map(|(n,): (i64,)| n)
                })
            }

            fn clear(conn: &mut Self::Connection) -> BoxFuture<'_, Result<(), sqlx::Error>> {
                Box::pin(async move { sqlx::query("DELETE FROM orders").execute(conn).await.map(|_| ()) })
            }

            fn finish<'c>(conn: &'c mut Self::Connection, id: &'c str, completion: &'c Completion) -> BoxFuture<'c, Result<bool, sqlx::Error>> {
                Box::pin(async move {
                    let (status, payment_id, reason) = match completion {
                        Completion::Confirmed { payment_id } => (OrderStatus::Confirmed, Some(payment_id.as_str()), None),
                        Completion::Cancelled { reason } => (OrderStatus::Cancelled, None, Some(reason.as_str())),
                    };
                    sqlx::query(
                        "UPDATE orders SET status = $2, payment_id = $3, cancellation_reason = $4 \
                         WHERE id = $1 AND status = 'PENDING'",
                    )
                    .bind(id)
                    .bind(status.as_str())
                    .bind(payment_id)
                    .bind(reason)
                    .execute(conn)
                    .await
                    .map(|r| r.rows_affected() == 1)
                })
            }
        }
    };
}

order_db!(sqlx::Sqlite);
order_db!(sqlx::Postgres);

/// The orders of the order service, in its database. Cheap to clone.
#[derive(Debug)]
pub struct OrderStore<DB: OrderDb> {
    pool: Pool<DB>,
}

impl<DB: OrderDb> Clone for OrderStore<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
        }
    }
}

// ANCHOR: open
impl<DB: OrderDb> OrderStore<DB>
where
    DB::Connection: sqlx::migrate::Migrate,
{
    /// The store in the database behind `pool`: creates the `orders` table and the
    /// outbox and inbox tables when missing.
    pub async fn open(pool: Pool<DB>) -> Result<Self, sqlx::Error> {
        edp_sql::migrate(&pool).await?;
        DB::create_schema(&pool).await?;
        Ok(Self { pool })
    }
}
// ANCHOR_END: open

impl<DB: OrderDb> OrderStore<DB> {
    /// The pool.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// The order `id`.
    pub async fn get(&self, id: &str) -> Result<Option<Order>, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        DB::fetch(&mut conn, id).await
    }

    /// Every order, oldest first.
    pub async fn list(&self) -> Result<Vec<Order>, sqlx::Error> {
        DB::fetch_all(&self.pool).await
    }

    /// How many orders there are.
    pub async fn count(&self) -> Result<usize, sqlx::Error> {
        DB::count(&self.pool)
            .await
            .map(|n| usize::try_from(n).unwrap_or(0))
    }

    /// Adds `order` inside `tx`.
    pub async fn insert(
        tx: &mut impl InTransaction<Database = DB>,
        order: &Order,
    ) -> Result<(), sqlx::Error> {
        DB::insert(tx.connection(), order).await
    }

    /// The order `id` as `tx` sees it.
    pub async fn get_in(
        tx: &mut impl InTransaction<Database = DB>,
        id: &str,
    ) -> Result<Option<Order>, sqlx::Error> {
        DB::fetch(tx.connection(), id).await
    }

    /// Moves the pending order `id` to its final state inside `tx`; `false` if it was
    /// not pending (a duplicate or late event).
    pub async fn complete(
        tx: &mut impl InTransaction<Database = DB>,
        id: &str,
        completion: &Completion,
    ) -> Result<bool, sqlx::Error> {
        DB::finish(tx.connection(), id, completion).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(id: &str) -> Order {
        Order {
            id: id.into(),
            customer_id: "c".into(),
            items: vec![OrderLine {
                product_id: "p".into(),
                quantity: 2,
                unit_price_cents: 50,
            }],
            total_cents: 100,
            status: OrderStatus::Pending,
            payment_id: None,
            cancellation_reason: None,
        }
    }

    #[tokio::test]
    async fn a_final_order_does_not_change() -> Result<(), Box<dyn std::error::Error>> {
        // One connection: each connection to `:memory:` is a database of its own.
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await?;
        let store = OrderStore::open(pool.clone()).await?;
        let mut tx = pool.begin().await?;
        OrderStore::insert(&mut tx, &pending("o-1")).await?;
        let paid = Completion::Confirmed {
            payment_id: "p-1".into(),
        };
        assert!(OrderStore::complete(&mut tx, "o-1", &paid).await?);
        let late = Completion::Cancelled {
            reason: "late".into(),
        };
        assert!(
            !OrderStore::complete(&mut tx, "o-1", &late).await?,
            "final already"
        );
        assert!(!OrderStore::complete(&mut tx, "nope", &late).await?);
        tx.commit().await?;
        let order = store.get("o-1").await?.ok_or("stored")?;
        assert_eq!(order.status, OrderStatus::Confirmed);
        assert_eq!(order.payment_id.as_deref(), Some("p-1"));
        assert_eq!(order.items, pending("o-1").items);
        assert_eq!(store.count().await?, 1);
        Ok(())
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
