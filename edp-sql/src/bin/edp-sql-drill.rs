//! Crash drills for edp-sql (feature `drill`), run by its kill -9 tests.
//!
//! ```text
//! edp-sql-drill relay <database-url> <brokers> [batch]
//! edp-sql-drill consume <database-url> <brokers> <topic> <group>
//! ```
//!
//! - `relay` publishes the PostgreSQL outbox to Kafka until it is stopped.
//! - `consume` consumes `drill.tick` events from `topic` as consumer group `group`,
//!   behind the inbox, and inserts each event's `seq` into the table `ledger`
//!   (which has no unique constraint, so a duplicate effect would show).
//!
//! Kill either with `kill -9` at any moment and start it again: the tests
//! `crash::*` check that nothing is lost and no effect is applied twice.

use std::time::Duration;

use edp_core::error::BoxError;
use edp_core::{Context, Event, Service};
use edp_kafka::{KafkaConfig, KafkaTransport};
use edp_sql::inbox::{Inbox, InboxTx};
use edp_sql::outbox::Relay;
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgPoolOptions;

/// One drill event.
#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "drill.tick", topic = "drill", key = key)]
struct Tick {
    key: String,
    seq: i64,
}

// ANCHOR: consume
async fn on_tick(
    _ctx: Context,
    mut tx: InboxTx<sqlx::Postgres>,
    tick: Tick,
) -> Result<(), BoxError> {
    sqlx::query("INSERT INTO ledger (seq) VALUES ($1)")
        .bind(tick.seq)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?; // the ledger row and the inbox record, or neither
    Ok(())
}
// ANCHOR_END: consume

fn kafka(brokers: &str) -> KafkaConfig {
    KafkaConfig::new(brokers)
        .client_id("edp-sql-drill")
        .session(Duration::from_secs(2), Duration::from_millis(200))
        .max_poll_interval(Duration::from_secs(10))
        .commit_interval(Duration::from_millis(200))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: edp-sql-drill relay <database-url> <brokers> [batch] | consume <database-url> <brokers> <topic> <group>";
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["relay", url, brokers, rest @ ..] => {
            let batch = match rest {
                [b] => b.parse()?,
                _ => 1000,
            };
            let pool = PgPoolOptions::new().max_connections(4).connect(url).await?;
            let transport = KafkaTransport::connect(kafka(brokers))?;
            let relay = Relay::new(pool, transport)
                .batch_size(batch)
                .poll_interval(Duration::from_millis(50))
                .start();
            edp_core::shutdown::signal().await;
            relay.shutdown().await;
            Ok(())
        }
        ["consume", url, brokers, topic, group] => {
            let pool = PgPoolOptions::new()
                .max_connections(20)
                .connect(url)
                .await?;
            let transport = KafkaTransport::connect(kafka(brokers))?;
            Service::builder(*group, transport)
                .topic(*topic)
                .concurrency(16)
                .handler(Inbox::new(pool).handler(on_tick))
                .build()
                .run()
                .await?;
            Ok(())
        }
        _ => Err(usage.into()),
    }
}
