//! The testkit's fault injection: duplicates and lost acks reach the handler, and an
//! idempotent handler applies each event once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edp_core::error::BoxError;
use edp_core::testkit::{Faults, Faulty};
use edp_core::transport::memory::MemoryTransport;
use edp_core::{Context, Publisher, Service};

use crate::Ping;

#[derive(Default)]
struct Ledger {
    /// Every call, duplicates included.
    calls: u32,
    /// Effects, applied once per event id.
    applied: HashMap<u32, u32>,
    seen: HashSet<uuid::Uuid>,
}

async fn apply(ledger: Arc<Mutex<Ledger>>, ctx: Context, ping: Ping) -> Result<(), BoxError> {
    let mut l = ledger.lock().map_err(|_| "poisoned")?;
    l.calls += 1;
    if l.seen.insert(ctx.id()) {
        *l.applied.entry(ping.n).or_default() += 1;
    }
    Ok(())
}

// ANCHOR: faults
#[tokio::test(start_paused = true)]
async fn an_idempotent_handler_applies_each_event_once_under_duplicates_and_lost_acks() {
    let transport = Faulty::new(
        MemoryTransport::new(),
        Faults::default()
            .duplicate(0.2)
            .lose_ack(0.2)
            .delay(Duration::ZERO, Duration::from_millis(3))
            .seed(42),
    );
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let _running = Service::builder("ledger", transport.clone())
        .handler_with(ledger.clone(), apply)
        .build()
        .start()
        .await
        .unwrap();
    let events: Vec<Ping> = (0..200)
        .map(|n| Ping {
            key: format!("k{}", n % 7),
            n,
        })
        .collect();
    Publisher::new("t", transport.clone())
        .publish_all(&events)
        .await
        .unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while ledger.lock().unwrap().applied.len() < 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every event was handled"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Let redeliveries of lost acks finish.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let stats = transport.stats();
    assert!(stats.duplicated > 10, "{stats:?}");
    assert!(stats.acks_lost > 10, "{stats:?}");
    let l = ledger.lock().unwrap();
    assert!(
        l.calls as u64 >= 200 + stats.duplicated,
        "duplicates reached the handler: {} calls",
        l.calls
    );
    assert!(
        l.applied.values().all(|n| *n == 1),
        "each event applied once"
    );
    assert_eq!(l.applied.len(), 200);
}
// ANCHOR_END: faults
