//! A crash drill for edp-kafka (feature `testkit`): consumes `drill.tick` events as a
//! service and appends the `seq` of each handled event to a file, one per line,
//! before the handler returns (so before the ack). Kill it with `kill -9` at any
//! moment, start it again, and the union of the files must hold every `seq`.
//!
//! ```text
//! edp-kafka-drill <brokers> <topic> <group> <out-file>
//! ```
//!
//! The `edp-kafka` test `crash::kill_9_during_100_000_events_loses_none` runs it.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edp_core::error::BoxError;
use edp_core::{Context, Event, Service};
use edp_kafka::{KafkaConfig, KafkaTransport};
use serde::{Deserialize, Serialize};

/// One drill event.
#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "drill.tick", topic = "drill", key = key)]
struct Tick {
    key: String,
    seq: u64,
}

async fn on_tick(
    out: Arc<Mutex<std::fs::File>>,
    _ctx: Context,
    tick: Tick,
) -> Result<(), BoxError> {
    let line = format!("{}\n", tick.seq);
    // One write per event, unbuffered: a kill -9 loses nothing that was written.
    let mut file = out.lock().map_err(|_| "output lock poisoned")?;
    file.write_all(line.as_bytes())?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [brokers, topic, group, out] = args.as_slice() else {
        return Err("usage: edp-kafka-drill <brokers> <topic> <group> <out-file>".into());
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)?;
    // ANCHOR: service
    let config = KafkaConfig::new(brokers.clone())
        .client_id("edp-kafka-drill")
        .session(Duration::from_secs(2), Duration::from_millis(200))
        .max_poll_interval(Duration::from_secs(10))
        .commit_interval(Duration::from_millis(200));
    let transport = KafkaTransport::connect(config)?;
    Service::builder(group.clone(), transport)
        .topic(topic.clone())
        .concurrency(32)
        .handler_with(Arc::new(Mutex::new(file)), on_tick)
        .build()
        .run()
        .await?;
    // ANCHOR_END: service
    Ok(())
}
