//! The system on PostgreSQL: one database per service, by configuration alone; and
//! PostgreSQL stopped under load.

use std::time::{Duration, Instant};

use ecommerce::client::HttpClient;
use ecommerce::{DemoOptions, Storage};
use ecommerce_order::OrderStatus;
use edp_core::JsonCodec;
use edp_core::transport::memory::MemoryTransport;
use edp_sql::testkit::Postgres;

use crate::{ANY_PORT, order_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_on_postgresql_ends_as_on_sqlite() {
    let pg = Postgres::shared().expect("a PostgreSQL for the tests");
    let options = DemoOptions::default()
        .orders(100)
        .storage(Storage::Postgres(pg.url().to_owned()));
    let report = ecommerce::demo_with(MemoryTransport::new(), JsonCodec, options)
        .await
        .expect("the demo runs");
    assert!(report.is_ok(), "{}", report.summary());
    assert_eq!(report.orders.len(), 100);
    let sqlite = ecommerce::demo(DemoOptions::default().orders(100))
        .await
        .expect("the demo runs");
    let confirmed = |r: &ecommerce::DemoReport| {
        r.orders
            .iter()
            .filter(|o| o.status == OrderStatus::Confirmed)
            .count()
    };
    assert_eq!(
        confirmed(&report),
        confirmed(&sqlite),
        "the same final states"
    );
}

/// What one request of the load got.
#[derive(Debug)]
enum Answer {
    Placed(String),
    Unavailable,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_stopped_for_5_s_under_load_loses_nothing() {
    let mut pg = Postgres::private().expect("a private PostgreSQL cluster");
    let storage = Storage::Postgres(pg.url().to_owned());
    let system = ecommerce::start_full(MemoryTransport::new(), JsonCodec, storage, ANY_PORT)
        .await
        .expect("system starts");
    let addr = system.local_addr();

    // Load: one client placing orders back to back until told to stop.
    let stop = tokio_util::sync::CancellationToken::new();
    let load = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut answers = Vec::new();
            let mut i = 0_u64;
            while !stop.is_cancelled() {
                i += 1;
                // A new connection per request: one broken by the outage is not reused.
                let Ok(mut client) = HttpClient::connect(addr).await else {
                    continue;
                };
                let response = client
                    .post_json("/v1/orders", &order_of(1_000 + (i % 2) * 60_000))
                    .await
                    .expect("the API answers");
                match response.status.as_u16() {
                    201 => {
                        let order: ecommerce_order::Order = response.json().expect("an order");
                        answers.push((Instant::now(), Answer::Placed(order.id)));
                    }
                    503 => {
                        assert_eq!(
                            response.content_type(),
                            Some("application/problem+json"),
                            "{}",
                            response.text()
                        );
                        answers.push((Instant::now(), Answer::Unavailable));
                    }
                    other => panic!("unexpected {other}: {}", response.text()),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            answers
        }
    });

    tokio::time::sleep(Duration::from_secs(1)).await;
    pg.stop_immediate();
    let down = Instant::now();
    // Not ready while PostgreSQL is down, with the reason; alive all the same.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut probe = HttpClient::connect(addr).await.expect("connects");
    let ready = probe.get("/health/ready").await.expect("GET /health/ready");
    assert_eq!(ready.status, 503, "{}", ready.text());
    let report: edp_core::health::Report = ready.json().expect("a report");
    let down_checks: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| c.status == edp_core::health::Condition::Down)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        down_checks,
        ["order-database", "payment-database", "product-database"]
    );
    let live = probe.get("/health/live").await.expect("GET /health/live");
    assert_eq!(live.status, 200);
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(down.elapsed())).await;
    let notified_before = system.outbox().len();
    pg.restart().expect("PostgreSQL starts again");
    let back = Instant::now();
    // The pipeline resumes: a notification needs the order relay, the payment
    // relay and both inbox consumers working again.
    while system.outbox().len() == notified_before {
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "nothing resumed within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let resumed = back.elapsed();
    let ready = probe.get("/health/ready").await.expect("GET /health/ready");
    assert_eq!(ready.status, 200, "ready again: {}", ready.text());
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.cancel();
    let answers = load.await.expect("the load ran");

    let during = answers
        .iter()
        .filter(|(at, a)| *at > down && *at < back && matches!(a, Answer::Unavailable))
        .count();
    assert!(
        during > 0,
        "503 problem+json during the outage: {answers:?}"
    );
    let placed: Vec<&String> = answers
        .iter()
        .filter_map(|(_, a)| match a {
            Answer::Placed(id) => Some(id),
            Answer::Unavailable => None,
        })
        .collect();
    assert!(
        answers
            .iter()
            .any(|(at, a)| *at > back && matches!(a, Answer::Placed(_))),
        "orders are taken again after the outage"
    );

    // Every order the API accepted is settled and notified: nothing was lost.
    let deadline = back + Duration::from_secs(10) + Duration::from_secs(20);
    for id in &placed {
        loop {
            let order = system.order(id).await.ok().flatten();
            if order.is_some_and(|o| o.status.is_final()) {
                break;
            }
            if Instant::now() > deadline {
                let dead: Vec<String> = ["orders.dlq", "payments.dlq"]
                    .iter()
                    .flat_map(|t| system.transport().retained(t))
                    .map(|e| format!("{} {:?}", e.event_type, e.headers.get("dlqerror")))
                    .collect();
                let saga = probe
                    .get(&format!("/v1/orders/{id}/saga"))
                    .await
                    .map(|r| r.text());
                panic!(
                    "order {id} not settled: {:?}; payment {:?}; backlog {:?}; dead letters {dead:?}; saga {saga:?}",
                    system.order(id).await,
                    system.payment(id).await,
                    system.outbox_backlog().await
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while system.outbox().len() < placed.len() {
        assert!(
            Instant::now() < deadline,
            "{} notifications for {} orders",
            system.outbox().len(),
            placed.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        system.order_count().await.expect("reads"),
        placed.len(),
        "no order stored without its 201"
    );
    assert_eq!(system.outbox_backlog().await.expect("reads"), 0);
    eprintln!(
        "outage of 5 s: {} orders placed, {during} answered 503 during the outage; \
         events flowed again {:.1} s after PostgreSQL was back; all settled and notified",
        placed.len(),
        resumed.as_secs_f64()
    );
    system.shutdown().await.expect("clean shutdown");
}
