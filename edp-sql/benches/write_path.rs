//! The order + outbox write path against the same two inserts in plain SQL, same run,
//! same PostgreSQL database, same tables, 8 concurrent clients.
//!
//! - edp: `BEGIN; INSERT INTO orders ...; Outbox::new("order").add(&mut tx,
//!   &OrderPlaced { .. }); COMMIT` (the event encodes to about 200 bytes of JSON).
//! - plain: `BEGIN;` the same `INSERT INTO orders`; an `INSERT INTO edp_outbox` of the
//!   same columns written by hand with sqlx (a UUIDv7, the topic, type and key, the
//!   payload by `serde_json` as the envelope, a timestamp); `COMMIT`.
//!
//! Each client is a tokio task on a multi-thread runtime with a connection of its own
//! from one pool (as many connections as clients). Each side runs for a fixed time,
//! alternating which goes first, for several rounds after an untimed warm-up of both.
//! Reported as ratios, because absolute rates drift on shared machines.
//!
//! The PostgreSQL is the edp-sql testkit's throwaway cluster, which runs with
//! `fsync=off` (commits do not wait for the disk, so the figures are the CPU cost of
//! the write path), or the server at `DATABASE_URL`.
//!
//! Run: `cargo bench -p edp-sql --bench write_path`. Options: `--clients C` (default
//! 8), `--secs S` (per side and round, 5), `--rounds R` (6).
//!
//! Output: a header, one line per round (transactions per second of each side, and
//! the ratio), then the medians:
//!
//! ```text
//! 8 clients, 5 s per side and round, 6 rounds, event of 194 bytes of JSON; PostgreSQL ...
//! round 1 (plain first): plain    8785 tx/s  edp   10015 tx/s  edp/plain 1.14x
//! round 2 (edp first): plain    9703 tx/s  edp    9146 tx/s  edp/plain 0.94x
//! ...
//! median: plain    9622 tx/s  edp   10210 tx/s  edp/plain 1.06x (median of round ratios 1.06x)
//! ```
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{arg, median};
use edp_core::Event;
use edp_sql::outbox::Outbox;
use edp_sql::testkit::Postgres;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// The event each transaction adds: about 200 bytes of JSON.
#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "order.placed", version = 1, topic = "orders", key = order_id)]
struct OrderPlaced {
    order_id: String,
    customer_id: String,
    total_cents: i64,
    currency: String,
    items: u32,
    shipping_address: String,
}

const INSERT_ORDER: &str =
    "INSERT INTO orders (id, customer_id, total_cents, body) VALUES ($1, $2, $3, $4)";

const INSERT_OUTBOX: &str = "INSERT INTO edp_outbox (event_id, topic, event_type, subject, \
     envelope, created_us) VALUES ($1, $2, $3, $4, $5, $6)";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Side {
    Edp,
    Plain,
}

/// The order `id` and its event.
fn order(id: String, n: u64) -> OrderPlaced {
    OrderPlaced {
        customer_id: format!("c-{:04}", n % 1000),
        total_cents: 1999 + (n % 10_000) as i64,
        currency: "EUR".into(),
        items: 1 + (n % 7) as u32,
        shipping_address:
            "Bahnhofstrasse 12, 8001 Zuerich, Switzerland, c/o Example AG, 3rd floor, door B".into(),
        order_id: id,
    }
}

fn micros(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_micros() as i64
}

/// One transaction: the order row and its event, the edp way or by hand.
async fn place(pool: &PgPool, outbox: &Outbox, side: Side, event: &OrderPlaced) {
    let body = serde_json::to_string(event).unwrap();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(INSERT_ORDER)
        .bind(&event.order_id)
        .bind(&event.customer_id)
        .bind(event.total_cents)
        .bind(&body)
        .execute(&mut *tx)
        .await
        .unwrap();
    match side {
        Side::Edp => {
            outbox.add(&mut tx, event).await.unwrap();
        }
        Side::Plain => {
            // The event as JSON in the envelope column: what a hand-written outbox
            // stores, without edp's envelope attributes.
            let data = serde_json::to_vec(event).unwrap();
            sqlx::query(INSERT_OUTBOX)
                .bind(uuid::Uuid::now_v7())
                .bind(OrderPlaced::TOPIC)
                .bind(OrderPlaced::NAME)
                .bind(Some(event.order_id.as_str()))
                .bind(data)
                .bind(micros(SystemTime::now()))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
    }
    tx.commit().await.unwrap();
}

/// Runs `clients` tasks placing orders for `secs`; transactions per second.
async fn run(pool: &PgPool, side: Side, clients: u64, secs: f64, tag: &str) -> f64 {
    let outbox = Outbox::new("order");
    let tag: Arc<str> = Arc::from(tag);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..clients {
        let (pool, outbox, tag) = (pool.clone(), outbox.clone(), tag.clone());
        tasks.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let event = order(format!("o-{tag}-{client}-{n}"), n);
                place(&pool, &outbox, side, &event).await;
                n += 1;
            }
            n
        });
    }
    let mut total = 0;
    while let Some(n) = tasks.join_next().await {
        total += n.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let clients = arg("--clients", 8);
    let secs = arg("--secs", 5) as f64;
    let rounds = arg("--rounds", 6);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let postgres = Postgres::shared().expect("a PostgreSQL");
    let db = rt.block_on(postgres.database()).unwrap();
    let pool = rt.block_on(async {
        edp_sql::migrate(db.pool()).await.unwrap();
        sqlx::query(
            "CREATE TABLE orders (id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, \
             total_cents BIGINT NOT NULL, body TEXT NOT NULL)",
        )
        .execute(db.pool())
        .await
        .unwrap();
        let size = serde_json::to_vec(&order("o-edp-0-0".into(), 0))
            .unwrap()
            .len();
        println!(
            "{clients} clients, {secs} s per side and round, {rounds} rounds, event of \
             {size} bytes of JSON; PostgreSQL testkit cluster (fsync=off) unless \
             DATABASE_URL"
        );
        let pool = PgPoolOptions::new()
            .max_connections(clients as u32)
            .min_connections(clients as u32)
            .connect_with(db.options())
            .await
            .unwrap();
        // Warm-up: every connection open, every statement prepared, on both sides.
        run(&pool, Side::Edp, clients, 1.0, "warm-edp").await;
        run(&pool, Side::Plain, clients, 1.0, "warm-plain").await;
        pool
    });
    let (mut plains, mut edps, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let plain_first = round % 2 == 1;
        let (plain, edp) = rt.block_on(async {
            let (e, p) = (format!("e{round}"), format!("p{round}"));
            if plain_first {
                let plain = run(&pool, Side::Plain, clients, secs, &p).await;
                (plain, run(&pool, Side::Edp, clients, secs, &e).await)
            } else {
                let edp = run(&pool, Side::Edp, clients, secs, &e).await;
                (run(&pool, Side::Plain, clients, secs, &p).await, edp)
            }
        });
        println!(
            "round {round} ({} first): plain {plain:>7.0} tx/s  edp {edp:>7.0} tx/s  \
             edp/plain {:.2}x",
            if plain_first { "plain" } else { "edp" },
            edp / plain
        );
        plains.push(plain);
        edps.push(edp);
        ratios.push(edp / plain);
    }
    rt.block_on(pool.close());
    drop(db);
    let (plain, edp) = (median(plains), median(edps));
    println!(
        "median: plain {plain:>7.0} tx/s  edp {edp:>7.0} tx/s  edp/plain {:.2}x (median of \
         round ratios {:.2}x)",
        edp / plain,
        median(ratios)
    );
}
