//! The App's lifecycle in real processes on Kafka and PostgreSQL: SIGTERM under load
//! (no accepted request fails, no event is lost, exit 0), and a service started alone
//! touches only its own database.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ecommerce::client::HttpClient;
use ecommerce_contracts::OrderLine;
use ecommerce_order::PlaceOrder;
use edp_kafka::testkit::Broker;

use crate::distributed::{self, free_addr, pool};
use edp_sql::testkit::Postgres;
use tokio::process::Child;

const CLIENTS: usize = 4;

const TEST: &str = "shutdown";

fn log_path(services: &str) -> std::path::PathBuf {
    distributed::log_path(TEST, services)
}

fn logs(services: &str) -> String {
    distributed::logs(TEST, services)
}

fn spawn(services: &str, addr: SocketAddr, brokers: &str, database: &str) -> Child {
    distributed::spawn(TEST, services, addr, brokers, database, "info")
}

async fn ready(addr: SocketAddr, services: &str, within: Duration) {
    distributed::ready(addr, within, || logs(services)).await;
}

fn sigterm(child: &Child) {
    let pid = child.id().expect("running");
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -TERM {pid}");
}

fn order(n: usize) -> PlaceOrder {
    PlaceOrder {
        customer_id: format!("c-{}", n % 20),
        items: vec![OrderLine {
            product_id: format!("sku-{}", n % 5),
            quantity: 1,
            // Every third order above the payment limit: declined and compensated.
            unit_price_cents: if n % 3 == 0 { 60_000 } else { 1_500 },
        }],
    }
}

/// What the clients saw.
#[derive(Debug, Default)]
struct Seen {
    /// Orders answered 201, by id.
    accepted: Vec<String>,
    /// Answers other than 201: a request the server took and failed.
    failed: Vec<String>,
    /// Requests with no answer (refused or reset connections after the listener
    /// closed).
    unanswered: usize,
}

// ANCHOR: sigterm_under_load
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_fails_no_accepted_request_loses_no_event_and_exits_0() {
    let broker = Broker::shared().expect("a Kafka broker");
    let pg = Postgres::private().expect("a PostgreSQL cluster");
    let (brokers, url) = (broker.brokers().to_owned(), pg.url().to_owned());
    let (others_addr, order_addr) = (free_addr(), free_addr());
    let others = spawn("payment,product,notification", others_addr, &brokers, &url);
    let order_service = spawn("order", order_addr, &brokers, &url);
    ready(
        others_addr,
        "payment,product,notification",
        Duration::from_secs(60),
    )
    .await;
    ready(order_addr, "order", Duration::from_secs(60)).await;

    // Clients place orders, each on a new connection, until the service is gone.
    let next = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
    let done = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (next, seen, done) = (next.clone(), seen.clone(), done.clone());
        clients.push(tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                let n = next.fetch_add(1, Ordering::SeqCst);
                let answer = match HttpClient::connect(order_addr).await {
                    Ok(mut client) => client.post_json("/v1/orders", &order(n)).await.ok(),
                    Err(_) => None,
                };
                if answer.is_none() {
                    // Refused: the listener is closed (or not yet open again).
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                let mut seen = seen.lock().expect("lock");
                match answer {
                    Some(r) if r.status == 201 => {
                        let placed: ecommerce_order::Order = r.json().expect("an order");
                        seen.accepted.push(placed.id);
                    }
                    Some(r) => seen.failed.push(format!("{} {}", r.status, r.text())),
                    None => seen.unanswered += 1,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = seen.lock().expect("lock").accepted.len();
    assert!(before > 10, "the load runs: {before} orders in 1.5 s");

    // SIGTERM while orders flow: the relay and the projector are running.
    let mut order_service = order_service;
    sigterm(&order_service);
    let exit = tokio::time::timeout(Duration::from_secs(60), order_service.wait())
        .await
        .expect("the order service exits within a minute")
        .expect("its status");
    done.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.expect("a client");
    }
    assert!(exit.success(), "exit status {exit:?}\n{}", logs("order"));
    let log = std::fs::read_to_string(log_path("order")).unwrap_or_default();
    for step in [
        "shutdown 1/5",
        "shutdown 3/5",
        "shutdown 4/5",
        "shutdown 5/5",
    ] {
        assert!(
            log.contains(step),
            "the log shows `{step}`:\n{}",
            logs("order")
        );
    }
    let seen = std::mem::take(&mut *seen.lock().expect("lock"));
    assert!(
        seen.failed.is_empty(),
        "requests taken and failed: {:?}",
        seen.failed
    );

    // Started again, the order service finishes what was left (its outbox rows, the
    // sagas in flight): every accepted order ends, and no order was placed that its
    // client did not hear of.
    let order_service = spawn("order", order_addr, &brokers, &url);
    ready(order_addr, "order", Duration::from_secs(60)).await;
    let orders_db = pool(&url, "ecommerce_order").await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let (placed, ended) = loop {
        let placed: Vec<String> = sqlx::query_scalar(
            "SELECT stream_id FROM edp_events WHERE event_type = 'order.placed'",
        )
        .fetch_all(&orders_db)
        .await
        .expect("placed orders");
        let ended: Vec<String> = sqlx::query_scalar(
            "SELECT stream_id FROM edp_events WHERE event_type IN ('order.confirmed', 'order.cancelled')",
        )
        .fetch_all(&orders_db)
        .await
        .expect("ended orders");
        let unpublished: i64 =
            sqlx::query_scalar("SELECT count(*) FROM edp_outbox WHERE published_us IS NULL")
                .fetch_one(&orders_db)
                .await
                .unwrap_or(0);
        if ended.len() >= placed.len() && unpublished == 0 {
            break (placed, ended);
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} orders ended, {unpublished} outbox rows\n{}",
            ended.len(),
            placed.len(),
            logs("order")
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let mut placed_sorted = placed.clone();
    placed_sorted.sort();
    let mut accepted_sorted = seen.accepted.clone();
    accepted_sorted.sort();
    assert_eq!(
        placed_sorted, accepted_sorted,
        "every placed order was answered 201, and every 201 placed an order"
    );
    for id in &seen.accepted {
        assert!(
            ended.contains(id),
            "order {id} did not end: an event was lost"
        );
    }

    // Both processes stop cleanly on SIGTERM too.
    for (mut child, services) in [
        (order_service, "order"),
        (others, "payment,product,notification"),
    ] {
        sigterm(&child);
        let exit = tokio::time::timeout(Duration::from_secs(60), child.wait())
            .await
            .expect("exits within a minute")
            .expect("its status");
        assert!(exit.success(), "{services}: {exit:?}\n{}", logs(services));
    }
    for services in ["order", "payment,product,notification"] {
        let _ = std::fs::remove_file(log_path(services));
    }
    eprintln!(
        "{} orders accepted ({before} before SIGTERM), {} unanswered after the listener closed, all ended",
        seen.accepted.len(),
        seen.unanswered
    );
}
// ANCHOR_END: sigterm_under_load

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_started_alone_opens_only_its_own_database_and_serves_only_its_routes() {
    let broker = Broker::shared().expect("a Kafka broker");
    let pg = Postgres::private().expect("a PostgreSQL cluster");
    let (brokers, url) = (broker.brokers().to_owned(), pg.url().to_owned());
    let addr = free_addr();
    let mut payment = spawn("payment", addr, &brokers, &url);
    ready(addr, "payment", Duration::from_secs(60)).await;

    // The databases of the others were never created, so never connected to; and
    // nobody but this test's session is connected to any other database.
    let server = pool(&url, "postgres").await;
    let databases: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'ecommerce_%' ORDER BY datname",
    )
    .fetch_all(&server)
    .await
    .expect("databases");
    assert_eq!(databases, ["ecommerce_payment"]);
    let connected: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT datname FROM pg_stat_activity WHERE datname LIKE 'ecommerce_%'",
    )
    .fetch_all(&server)
    .await
    .expect("sessions");
    assert_eq!(connected, ["ecommerce_payment"]);

    let mut client = HttpClient::connect(addr).await.expect("connects");
    let orders = client.get("/v1/orders").await.expect("GET /v1/orders");
    assert_eq!(orders.status, 404, "the order routes are not served here");
    let ready_report = client.get("/health/ready").await.expect("ready");
    let report: edp_core::health::Report = ready_report.json().expect("a report");
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    assert!(names.contains(&"payment-database"), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n.contains("order") || n.contains("product")),
        "{names:?}"
    );
    for path in ["/health/live", "/metrics"] {
        assert_eq!(client.get(path).await.expect(path).status, 200, "{path}");
    }

    sigterm(&payment);
    let exit = payment.wait().await.expect("its status");
    assert!(exit.success(), "{exit:?}\n{}", logs("payment"));
    let _ = std::fs::remove_file(log_path("payment"));
}
