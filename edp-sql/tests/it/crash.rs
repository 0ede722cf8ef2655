//! kill -9: the relay killed 20 times while draining 100,000 events, and an inbox
//! consumer killed 20 times, both as real processes (`edp-sql-drill`) on PostgreSQL
//! and a real Kafka-protocol broker. Nothing is lost, and no effect is applied twice.

use std::collections::HashSet;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use edp_core::Envelope;
use edp_core::transport::{SubscribeOptions, Subscriber, Transport};
use edp_kafka::KafkaTransport;
use edp_kafka::testkit::Broker;
use edp_sql::outbox;
use sqlx::PgPool;

use crate::common::TestResult;

const KILLS: usize = 20;

fn drill(args: &[&str]) -> std::io::Result<Child> {
    Command::new(env!("CARGO_BIN_EXE_edp-sql-drill"))
        .args(args)
        .env("RUST_LOG", "warn")
        .spawn()
}

fn kill_9(child: &mut Child) -> std::io::Result<()> {
    child.kill()?; // SIGKILL
    child.wait().map(|_| ())
}

/// A few tens of milliseconds, differently each time.
fn jitter(seed: &mut u64) -> Duration {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    Duration::from_millis(*seed % 60)
}

async fn count(pool: &PgPool, sql: &'static str) -> Result<i64, sqlx::Error> {
    sqlx::query_as(sql)
        .fetch_one(pool)
        .await
        .map(|(n,): (i64,)| n)
}

fn tick(seq: i64) -> Envelope {
    let key = format!("k{}", seq % 1000);
    let data = format!(r#"{{"key":"{key}","seq":{seq}}}"#);
    Envelope::builder("drill.tick", data.into_bytes())
        .source("crash-test")
        .subject(key)
        .build()
}

fn kafka() -> Result<(&'static Broker, KafkaTransport), Box<dyn std::error::Error + Send + Sync>> {
    let broker = Broker::shared()?;
    let transport = KafkaTransport::connect(broker.config())?;
    Ok((broker, transport))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_killed_20_times_while_draining_100_000_events_loses_none() -> TestResult {
    const EVENTS: i64 = 100_000;
    let (broker, transport) = kafka()?;
    let db = crate::common::postgres().await?;
    let pool = db.pool().clone();
    let topic = format!("relay-drill-{}", uuid::Uuid::now_v7().simple());
    let mut ids = HashSet::new();
    for chunk in 0..EVENTS / 5000 {
        let mut tx = pool.begin().await?;
        for seq in chunk * 5000..(chunk + 1) * 5000 {
            let env = tick(seq);
            ids.insert(env.id);
            outbox::add_envelope(&mut tx, &topic, &env).await?;
        }
        tx.commit().await?;
    }
    assert_eq!(outbox::backlog(&pool).await?.unpublished, EVENTS as u64);

    // Start the relay, let it publish a little, kill -9; twenty times.
    let url = db.url();
    let mut seed = 0x2545_F491_4F6C_DD1D_u64;
    let mut killed_mid_drain = 0;
    for _ in 0..KILLS {
        let before = outbox::backlog(&pool).await?.unpublished;
        let mut child = drill(&["relay", &url, broker.brokers(), "500"])?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while outbox::backlog(&pool).await?.unpublished + 1500 > before && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(jitter(&mut seed)).await;
        kill_9(&mut child)?;
        if outbox::backlog(&pool).await?.unpublished > 0 {
            killed_mid_drain += 1;
        }
    }
    assert_eq!(killed_mid_drain, KILLS, "every kill fell inside the drain");

    // The last one drains the rest.
    let mut child = drill(&["relay", &url, broker.brokers()])?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while outbox::backlog(&pool).await?.unpublished > 0 {
        assert!(
            Instant::now() < deadline,
            "the outbox did not drain in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = Command::new("kill").arg(child.id().to_string()).status(); // SIGTERM
    let status = child.wait()?;
    assert!(status.success(), "the relay did not stop cleanly: {status}");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM edp_outbox").await?,
        0,
        "0 rows left"
    );

    // Downstream: every event is on the topic; duplicates are reported.
    let group = format!("check-{}", uuid::Uuid::now_v7().simple());
    let sub = transport
        .subscribe(SubscribeOptions::new(group, [topic.as_str()]))
        .await?;
    let (mut seen, mut received) = (HashSet::new(), 0_u64);
    let deadline = Instant::now() + Duration::from_secs(180);
    while seen.len() < ids.len() {
        assert!(
            Instant::now() < deadline,
            "{} of {} events downstream",
            seen.len(),
            ids.len()
        );
        let Ok(Some(batch)) =
            tokio::time::timeout(Duration::from_secs(5), sub.recv_batch(1000)).await
        else {
            continue;
        };
        let batch = batch?;
        received += batch.len() as u64;
        for d in &batch {
            assert!(
                ids.contains(&d.envelope.id),
                "an event that was never written"
            );
            seen.insert(d.envelope.id);
        }
        if let Some(last) = batch.last() {
            sub.ack(last).await?;
        }
    }
    sub.close().await?;
    eprintln!(
        "relay killed {KILLS} times mid-drain: {} of {EVENTS} events downstream, 0 lost, \
         {} duplicates (published, not yet marked when killed)",
        seen.len(),
        received - seen.len() as u64
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbox_consumer_killed_20_times_applies_each_event_once() -> TestResult {
    const EVENTS: i64 = 10_000;
    let (broker, transport) = kafka()?;
    let db = crate::common::postgres().await?;
    let pool = db.pool().clone();
    sqlx::query("DROP TABLE ledger").execute(&pool).await?;
    sqlx::query("CREATE TABLE ledger (seq BIGINT NOT NULL)")
        .execute(&pool)
        .await?; // no unique constraint
    let topic = format!("inbox-drill-{}", uuid::Uuid::now_v7().simple());
    let group = format!("inbox-drill-{}", uuid::Uuid::now_v7().simple());
    for chunk in 0..EVENTS / 1000 {
        let batch = (chunk * 1000..(chunk + 1) * 1000).map(tick).collect();
        transport.publish(&topic, batch).await?;
    }

    let url = db.url();
    let args = [
        "consume",
        url.as_str(),
        broker.brokers(),
        topic.as_str(),
        group.as_str(),
    ];
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let mut killed_mid_run = 0;
    for _ in 0..KILLS {
        let before = count(&pool, "SELECT count(*) FROM ledger").await?;
        let mut child = drill(&args)?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while count(&pool, "SELECT count(*) FROM ledger").await? < before + 200
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(jitter(&mut seed)).await;
        kill_9(&mut child)?;
        if count(&pool, "SELECT count(*) FROM ledger").await? < EVENTS {
            killed_mid_run += 1;
        }
    }
    assert_eq!(killed_mid_run, KILLS, "every kill fell inside the run");

    let mut child = drill(&args)?;
    let deadline = Instant::now() + Duration::from_secs(180);
    while count(&pool, "SELECT count(DISTINCT seq) FROM ledger").await? < EVENTS {
        assert!(
            Instant::now() < deadline,
            "not every event applied in 180 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A moment for redeliveries of the last batch, which must change nothing.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = Command::new("kill").arg(child.id().to_string()).status(); // SIGTERM
    let status = child.wait()?;
    assert!(
        status.success(),
        "the consumer did not stop cleanly: {status}"
    );

    let rows = count(&pool, "SELECT count(*) FROM ledger").await?;
    let distinct = count(&pool, "SELECT count(DISTINCT seq) FROM ledger").await?;
    let out_of_range = count(
        &pool,
        "SELECT count(*) FROM ledger WHERE seq < 0 OR seq >= 10000",
    )
    .await?;
    eprintln!(
        "inbox consumer killed {KILLS} times: {rows} ledger rows, {distinct} distinct of {EVENTS}"
    );
    assert_eq!(distinct, EVENTS, "0 lost");
    assert_eq!(rows, EVENTS, "0 duplicate effects");
    assert_eq!(out_of_range, 0);
    Ok(())
}
