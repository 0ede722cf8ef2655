//! The catalog, its stock and the reservations, in the product service's database.

use ecommerce_contracts::{OrderLine, ReserveStock};
use edp_sql::InTransaction;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use sqlx::Pool;

/// A product of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// Its id, the `product_id` of order lines.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The price of one, in cents.
    pub price_cents: u64,
    /// The stock it started with.
    pub initial_stock: u64,
    /// The stock not reserved.
    pub available: u64,
}

impl Product {
    /// A product with `stock` units, none reserved.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        price_cents: u64,
        stock: u64,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            price_cents,
            initial_stock: stock,
            available: stock,
        }
    }
}

/// What a reservation came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// Every line is reserved.
    Reserved,
    /// Nothing is, for this reason (a line out of stock, an unknown product).
    Rejected(String),
    /// The order was released before it was reserved: nothing is.
    Released(String),
}

const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS products (
        id            TEXT PRIMARY KEY,
        name          TEXT NOT NULL,
        price_cents   BIGINT NOT NULL,
        initial_stock BIGINT NOT NULL,
        available     BIGINT NOT NULL CHECK (available >= 0)
    )",
    "CREATE TABLE IF NOT EXISTS reservations (
        order_id TEXT PRIMARY KEY,
        items    TEXT NOT NULL,
        status   TEXT NOT NULL,
        reason   TEXT
    )",
];

type ProductRow = (String, String, i64, i64, i64);

/// A row of `reservations`: (items as JSON, status, reason).
type ReservationRow = (String, String, Option<String>);

fn product_of((id, name, price, initial, available): ProductRow) -> Product {
    Product {
        id,
        name,
        price_cents: u64::try_from(price).unwrap_or(0),
        initial_stock: u64::try_from(initial).unwrap_or(0),
        available: u64::try_from(available).unwrap_or(0),
    }
}

/// A database the product service can keep its catalog in: SQLite or PostgreSQL.
pub trait ProductDb: edp_sql::Database {
    #[doc(hidden)]
    fn create_schema<'a>(
        pool: &'a Pool<Self>,
        catalog: &'a [Product],
    ) -> BoxFuture<'a, Result<(), sqlx::Error>>;
    #[doc(hidden)]
    fn products(pool: &Pool<Self>) -> BoxFuture<'_, Result<Vec<Product>, sqlx::Error>>;
    #[doc(hidden)]
    fn reservation<'c>(
        conn: &'c mut Self::Connection,
        order_id: &'c str,
    ) -> BoxFuture<'c, Result<Option<ReservationRow>, sqlx::Error>>;
    #[doc(hidden)]
    fn take<'c>(
        conn: &'c mut Self::Connection,
        line: &'c OrderLine,
    ) -> BoxFuture<'c, Result<Option<bool>, sqlx::Error>>;
    #[doc(hidden)]
    fn put_back<'c>(
        conn: &'c mut Self::Connection,
        line: &'c OrderLine,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>>;
    #[doc(hidden)]
    fn record<'c>(
        conn: &'c mut Self::Connection,
        order_id: &'c str,
        items: &'c str,
        status: &'c str,
        reason: Option<&'c str>,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>>;
}

macro_rules! product_db {
    ($db:ty) => {
        impl ProductDb for $db {
            fn create_schema<'a>(pool: &'a Pool<Self>, catalog: &'a [Product]) -> BoxFuture<'a, Result<(), sqlx::Error>> {
                Box::pin(async move {
                    for ddl in SCHEMA {
                        sqlx::query(ddl).execute(pool).await?;
                    }
                    for p in catalog {
                        sqlx::query(
                            "INSERT INTO products (id, name, price_cents, initial_stock, available) \
                             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING",
                        )
                        .bind(&p.id)
                        .bind(&p.name)
                        .bind(i64::try_from(p.price_cents).unwrap_or(i64::MAX))
                        .bind(i64::try_from(p.initial_stock).unwrap_or(i64::MAX))
                        .execute(pool)
                        .await?;
                    }
                    Ok(())
                })
            }

            fn products(pool: &Pool<Self>) -> BoxFuture<'_, Result<Vec<Product>, sqlx::Error>> {
                Box::pin(async move {
                    let rows: Vec<ProductRow> = sqlx::query_as(
                        "SELECT id, name, price_cents, initial_stock, available FROM products ORDER BY id",
                    )
                    .fetch_all(pool)
                    .await?;
                    Ok(rows.into_iter().map(product_of).collect())
                })
            }

            fn reservation<'c>(
                conn: &'c mut Self::Connection,
                order_id: &'c str,
            ) -> BoxFuture<'c, Result<Option<ReservationRow>, sqlx::Error>> {
                Box::pin(async move {
                    sqlx::query_as("SELECT items, status, reason FROM reservations WHERE order_id = $1")
                        .bind(order_id)
                        .fetch_optional(conn)
                        .await
                })
            }

            fn take<'c>(conn: &'c mut Self::Connection, line: &'c OrderLine) -> BoxFuture<'c, Result<Option<bool>, sqlx::Error>> {
                Box::pin(async move {
                    let quantity = i64::from(line.quantity);
                    let taken = sqlx::query(
                        "UPDATE products SET available = available - $2 WHERE id = $1 AND available >= $2",
                    )
                    .bind(&line.product_id)
                    .bind(quantity)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if taken == 1 {
                        return Ok(Some(true));
                    }
                    let known: Option<i64> = sqlx::query_scalar("SELECT available FROM products WHERE id = $1")
                        .bind(&line.product_id)
                        .fetch_optional(&mut *conn)
                        .await?;
                    Ok(known.map(|_| false))
                })
            }

            fn put_back<'c>(conn: &'c mut Self::Connection, line: &'c OrderLine) -> BoxFuture<'c, Result<(), sqlx::Error>> {
                Box::pin(async move {
                    sqlx::query("UPDATE products SET available = available + $2 WHERE id = $1")
                        .bind(&line.product_id)
                        .bind(i64::from(line.quantity))
                        .execute(conn)
                        .await
                        .map(|_| ())
                })
            }

            fn record<'c>(
                conn: &'c mut Self::Connection,
                order_id: &'c str,
                items: &'c str,
                status: &'c str,
                reason: Option<&'c str>,
            ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO reservations (order_id, items, status, reason) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, reason = excluded.reason",
                    )
                    .bind(order_id)
                    .bind(items)
                    .bind(status)
                    .bind(reason)
                    .execute(conn)
                    .await
                    .map(|_| ())
                })
            }
        }
    };
}

product_db!(sqlx::Sqlite);
product_db!(sqlx::Postgres);

/// The catalog of the product service, in its database. Cheap to clone.
#[derive(Debug)]
pub struct Products<DB: ProductDb> {
    pool: Pool<DB>,
}

impl<DB: ProductDb> Clone for Products<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
        }
    }
}

impl<DB: ProductDb> Products<DB>
where
    DB::Connection: sqlx::migrate::Migrate,
{
    /// The catalog in the database behind `pool`: creates the tables (and the outbox
    /// and inbox) when missing, and adds the products of `catalog` not there yet.
    pub async fn open(pool: Pool<DB>, catalog: &[Product]) -> Result<Self, sqlx::Error> {
        edp_sql::migrate(&pool).await?;
        DB::create_schema(&pool, catalog).await?;
        Ok(Self { pool })
    }
}

impl<DB: ProductDb> Products<DB> {
    /// The pool.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// Every product, by id.
    pub async fn list(&self) -> Result<Vec<Product>, sqlx::Error> {
        DB::products(&self.pool).await
    }

    /// The product `id`.
    pub async fn get(&self, id: &str) -> Result<Option<Product>, sqlx::Error> {
        Ok(self.list().await?.into_iter().find(|p| p.id == id))
    }

    /// Reserves every line of `command` inside `tx`, or none; the first answer for an
    /// order is the answer for good.
    pub async fn reserve(
        tx: &mut impl InTransaction<Database = DB>,
        command: &ReserveStock,
    ) -> Result<Reservation, sqlx::Error> {
        if let Some((_, status, reason)) =
            DB::reservation(tx.connection(), &command.order_id).await?
        {
            return Ok(match status.as_str() {
                "RESERVED" => Reservation::Reserved,
                "RELEASED" => {
                    Reservation::Released(reason.unwrap_or_else(|| "the order was released".into()))
                }
                _ => Reservation::Rejected(reason.unwrap_or_default()),
            });
        }
        let items =
            serde_json::to_string(&command.items).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let mut taken: Vec<&OrderLine> = Vec::new();
        let mut refusal = None;
        for line in &command.items {
            match DB::take(tx.connection(), line).await? {
                Some(true) => taken.push(line),
                Some(false) => {
                    refusal = Some(format!("product {} is out of stock", line.product_id));
                    break;
                }
                None => {
                    refusal = Some(format!("product {} is not in the catalog", line.product_id));
                    break;
                }
            }
        }
        if let Some(reason) = refusal {
            for line in taken {
                DB::put_back(tx.connection(), line).await?;
            }
            DB::record(
                tx.connection(),
                &command.order_id,
                &items,
                "REJECTED",
                Some(&reason),
            )
            .await?;
            return Ok(Reservation::Rejected(reason));
        }
        DB::record(tx.connection(), &command.order_id, &items, "RESERVED", None).await?;
        Ok(Reservation::Reserved)
    }

    /// Gives back what `order_id` holds inside `tx`; `true` when it held something.
    /// Without a reservation, records the release, so that a late reservation is
    /// rejected.
    pub async fn release(
        tx: &mut impl InTransaction<Database = DB>,
        order_id: &str,
    ) -> Result<bool, sqlx::Error> {
        match DB::reservation(tx.connection(), order_id).await? {
            Some((items, status, _)) if status == "RESERVED" => {
                let lines: Vec<OrderLine> =
                    serde_json::from_str(&items).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                for line in &lines {
                    DB::put_back(tx.connection(), line).await?;
                }
                DB::record(
                    tx.connection(),
                    order_id,
                    &items,
                    "RELEASED",
                    Some("the order was released"),
                )
                .await?;
                Ok(true)
            }
            Some(_) => Ok(false),
            None => {
                DB::record(
                    tx.connection(),
                    order_id,
                    "[]",
                    "RELEASED",
                    Some("the order was released before its stock was reserved"),
                )
                .await?;
                Ok(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(product: &str, quantity: u32) -> OrderLine {
        OrderLine {
            product_id: product.into(),
            quantity,
            unit_price_cents: 100,
        }
    }

    fn reserve(order: &str, lines: Vec<OrderLine>) -> ReserveStock {
        ReserveStock {
            order_id: order.into(),
            items: lines,
        }
    }

    #[tokio::test]
    async fn stock_is_reserved_all_or_nothing_and_conserved()
    -> Result<(), Box<dyn std::error::Error>> {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await?;
        let catalog = [
            Product::new("a", "A", 100, 5),
            Product::new("b", "B", 100, 1),
        ];
        let products = Products::open(pool.clone(), &catalog).await?;
        let mut tx = pool.begin().await?;
        assert_eq!(
            Products::reserve(&mut tx, &reserve("o-1", vec![line("a", 2), line("b", 1)])).await?,
            Reservation::Reserved
        );
        // Asked again: the same answer, nothing taken twice.
        assert_eq!(
            Products::reserve(&mut tx, &reserve("o-1", vec![line("a", 2), line("b", 1)])).await?,
            Reservation::Reserved
        );
        // b is gone: o-2 gets nothing, a stays at 3.
        let out =
            Products::reserve(&mut tx, &reserve("o-2", vec![line("a", 1), line("b", 1)])).await?;
        assert_eq!(
            out,
            Reservation::Rejected("product b is out of stock".into())
        );
        let unknown = Products::reserve(&mut tx, &reserve("o-3", vec![line("zz", 1)])).await?;
        assert_eq!(
            unknown,
            Reservation::Rejected("product zz is not in the catalog".into())
        );
        tx.commit().await?;
        let stock = |p: &Product| (p.id.clone(), p.available);
        assert_eq!(
            products.list().await?.iter().map(stock).collect::<Vec<_>>(),
            [("a".into(), 3), ("b".into(), 0)]
        );

        let mut tx = pool.begin().await?;
        assert!(Products::release(&mut tx, "o-1").await?);
        assert!(!Products::release(&mut tx, "o-1").await?, "released once");
        // A release that overtakes its reservation: the reservation is refused later.
        assert!(!Products::release(&mut tx, "o-4").await?);
        let late = Products::reserve(&mut tx, &reserve("o-4", vec![line("a", 1)])).await?;
        assert!(matches!(late, Reservation::Released(_)), "{late:?}");
        tx.commit().await?;
        assert_eq!(
            products.list().await?.iter().map(stock).collect::<Vec<_>>(),
            [("a".into(), 5), ("b".into(), 1)]
        );
        Ok(())
    }
}
