//! The placement saga survives its orchestrator being killed: 1,000 orders on Kafka
//! and PostgreSQL, with declined payments and stock-outs, while the order service's
//! process is killed by PID (SIGKILL) 20 times and started again.
//!
//! Then: every saga ended COMPLETED or COMPENSATED; every order CONFIRMED or
//! CANCELLED; stock is conserved (initial = available + what confirmed orders hold);
//! no payment stays authorized for a cancelled order (each is voided).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ecommerce::client::HttpClient;
use ecommerce_contracts::OrderLine;
use ecommerce_order::PlaceOrder;
use edp_kafka::testkit::Broker;

use crate::distributed::{self, free_addr, pool};
use edp_sql::testkit::Postgres;
use tokio::process::Child;

const ORDERS: usize = 1_000;
const KILLS: usize = 20;
const CLIENTS: usize = 4;

const TEST: &str = "saga-crash";
const SERVICES: [&str; 2] = ["order", "payment,product,notification"];

fn spawn(services: &str, addr: SocketAddr, brokers: &str, database: &str) -> Child {
    distributed::spawn(TEST, services, addr, brokers, database, "warn")
}

/// The tails of both processes' logs.
fn logs() -> String {
    SERVICES
        .iter()
        .map(|services| format!("--- {services}:\n{}\n", distributed::logs(TEST, services)))
        .collect()
}

async fn ready(addr: SocketAddr, within: Duration) {
    distributed::ready(addr, within, logs).await;
}

/// Order `n`: mostly plentiful products, some of the 5 `sku-rare`; a third above the
/// payment limit (declined).
fn order(n: usize) -> PlaceOrder {
    let seed = (n as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(17);
    let product = if seed % 10 == 0 {
        "sku-rare".to_owned()
    } else {
        format!("sku-{}", seed % 5)
    };
    let declined = seed % 3 == 0;
    let unit = if declined {
        60_000
    } else {
        1_000 + seed % 4_000
    };
    PlaceOrder {
        customer_id: format!("c-{}", n % 50),
        items: vec![OrderLine {
            product_id: product,
            quantity: 1 + (seed % 2) as u32,
            unit_price_cents: unit,
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_orders_survive_twenty_kills_of_the_orchestrator() {
    let broker = Broker::shared().expect("a Kafka broker");
    let pg = Postgres::private().expect("a PostgreSQL cluster");
    let (brokers, url) = (broker.brokers().to_owned(), pg.url().to_owned());
    let (others_addr, order_addr) = (free_addr(), free_addr());
    let _others = spawn("payment,product,notification", others_addr, &brokers, &url);
    let mut orchestrator = spawn("order", order_addr, &brokers, &url);
    ready(others_addr, Duration::from_secs(60)).await;
    ready(order_addr, Duration::from_secs(60)).await;

    // Clients place orders through the order service, retrying while it is down.
    let next = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (next, accepted) = (next.clone(), accepted.clone());
        clients.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= ORDERS {
                    return;
                }
                // Wait for the order service (it may be down), then place it once: a
                // request cut by a kill may or may not have placed its order, so it is
                // not counted, and the checks below cover every order stored.
                let mut client = loop {
                    match HttpClient::connect(order_addr).await {
                        Ok(client) => break client,
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                };
                if let Ok(r) = client.post_json("/v1/orders", &order(n)).await {
                    if r.status == 201 {
                        let placed: ecommerce_order::Order = r.json().expect("an order");
                        accepted.lock().expect("lock").push(placed.id);
                    }
                }
            }
        }));
    }
    // Kill the orchestrator by PID 20 times while the orders flow.
    let started = Instant::now();
    for kill in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(700 + (kill as u64 * 137) % 600)).await;
        let pid = orchestrator.id().expect("running");
        let killed = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
        assert!(killed.expect("kill runs").success(), "kill -9 {pid}");
        let _ = orchestrator.wait().await;
        orchestrator = spawn("order", order_addr, &brokers, &url);
        ready(order_addr, Duration::from_secs(60)).await;
    }
    for c in clients {
        c.await.expect("a client");
    }
    let accepted = accepted.lock().expect("lock").clone();
    assert!(
        accepted.len() >= ORDERS * 9 / 10,
        "only {} orders accepted",
        accepted.len()
    );

    // Every saga ends (deadlines are 30 s; nothing should need them).
    let orders_db = pool(&url, "ecommerce_order").await;
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (open, total): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status NOT IN ('COMPLETED', 'COMPENSATED')), count(*) FROM edp_sagas",
        )
        .fetch_one(&orders_db)
        .await
        .expect("counts sagas");
        let placed: i64 =
            sqlx::query_scalar("SELECT count(*) FROM edp_events WHERE event_type = 'order.placed'")
                .fetch_one(&orders_db)
                .await
                .expect("counts orders");
        if open == 0 && total == placed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} sagas open, {total} sagas for {placed} orders"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let statuses: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM edp_sagas GROUP BY status ORDER BY status")
            .fetch_all(&orders_db)
            .await
            .expect("statuses");
    let parked: i64 = statuses
        .iter()
        .filter(|(s, _)| s == "PARKED")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(parked, 0, "{statuses:?}");

    // Every order ended, as its saga did.
    let ends: Vec<(String, String)> = sqlx::query_as(
        "SELECT stream_id, event_type FROM edp_events WHERE event_type IN ('order.confirmed', 'order.cancelled')",
    )
    .fetch_all(&orders_db)
    .await
    .expect("order ends");
    let confirmed: HashSet<String> = ends
        .iter()
        .filter(|(_, t)| t == "order.confirmed")
        .map(|(id, _)| id.clone())
        .collect();
    let cancelled: HashSet<String> = ends
        .iter()
        .filter(|(_, t)| t == "order.cancelled")
        .map(|(id, _)| id.clone())
        .collect();
    assert!(confirmed.is_disjoint(&cancelled));
    for id in &accepted {
        assert!(
            confirmed.contains(id) || cancelled.contains(id),
            "order {id} did not end"
        );
    }
    assert!(
        !confirmed.is_empty() && !cancelled.is_empty(),
        "both outcomes happen"
    );

    // Stock is conserved: initial = available + what the confirmed orders hold.
    let products_db = pool(&url, "ecommerce_product").await;
    let stock: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT id, initial_stock, available FROM products")
            .fetch_all(&products_db)
            .await
            .expect("stock");
    let reservations: Vec<(String, String, String)> =
        sqlx::query_as("SELECT order_id, items, status FROM reservations")
            .fetch_all(&products_db)
            .await
            .expect("reservations");
    let mut held: HashMap<String, i64> = HashMap::new();
    for (order_id, items, status) in &reservations {
        if status == "RESERVED" {
            assert!(
                confirmed.contains(order_id),
                "order {order_id} holds stock but is not confirmed"
            );
            let lines: Vec<OrderLine> = serde_json::from_str(items).expect("lines");
            for l in lines {
                *held.entry(l.product_id).or_default() += i64::from(l.quantity);
            }
        }
    }
    for (id, initial, available) in &stock {
        assert_eq!(
            *initial,
            available + held.get(id).copied().unwrap_or(0),
            "stock of {id}"
        );
    }
    let rare_out = stock
        .iter()
        .any(|(id, _, available)| id == "sku-rare" && *available < 2);
    assert!(rare_out, "the rare product ran out: {stock:?}");

    // No payment stays authorized for a cancelled order.
    let payments_db = pool(&url, "ecommerce_payment").await;
    let payments: Vec<(String, Option<String>, i64)> =
        sqlx::query_as("SELECT order_id, payment_id, voided FROM payments")
            .fetch_all(&payments_db)
            .await
            .expect("payments");
    for (order_id, payment_id, voided) in &payments {
        if cancelled.contains(order_id) && payment_id.is_some() {
            assert_eq!(
                *voided, 1,
                "order {order_id} was cancelled with an authorized payment"
            );
        }
    }
    for services in SERVICES {
        let _ = std::fs::remove_file(distributed::log_path(TEST, services));
    }
    eprintln!(
        "{} orders accepted, {} confirmed, {} cancelled, {KILLS} kills, {statuses:?}, {:.1} s",
        accepted.len(),
        confirmed.len(),
        cancelled.len(),
        started.elapsed().as_secs_f64()
    );
}
