//! Late commits: rows whose transactions commit after rows with higher ids are
//! published, not skipped.
//!
//! PostgreSQL only: SQLite has one writer at a time, and a transaction takes its ids
//! and commits while it holds the write lock, so its commits are never late.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use edp_core::transport::memory::{MemoryConfig, MemoryTransport};
use edp_sql::outbox::{self, Outbox, Relay};

use crate::common::{Deposited, TestResult};

const WRITERS: i64 = 16;
const TXS_PER_WRITER: i64 = 125;
const ROWS_PER_TX: i64 = 10; // 16 x 125 x 10 = 20,000 rows

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_rows_from_sixteen_writers_with_late_commits_all_arrive() -> TestResult {
    let db = crate::common::postgres().await?;
    let pool = db.pool().clone();
    // Room for every event, so that all of them can be counted afterwards.
    let transport = MemoryTransport::with_config(MemoryConfig::default().capacity(4096));
    let relay = Relay::new(pool.clone(), transport.clone())
        .poll_interval(Duration::from_millis(20))
        .batch_size(500)
        .start();
    let outbox = Outbox::new("bank");
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let pool = pool.clone();
        let outbox = outbox.clone();
        writers.push(tokio::spawn(async move {
            let mut seed = 0x9E37_79B9_7F4A_7C15_u64 ^ (w as u64 + 1);
            for t in 0..TXS_PER_WRITER {
                let mut tx = pool.begin().await?;
                for r in 0..ROWS_PER_TX {
                    let n = (w * TXS_PER_WRITER + t) * ROWS_PER_TX + r;
                    outbox
                        .add(
                            &mut tx,
                            &Deposited {
                                account: format!("w-{w}"),
                                cents: n,
                            },
                        )
                        .await?;
                }
                // Hold the transaction open 0-200 ms: its ids are taken, its commit is late.
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let hold = seed % 201;
                tokio::time::sleep(Duration::from_millis(hold)).await;
                tx.commit().await?;
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        }));
    }
    for w in writers {
        w.await??;
    }
    let total = (WRITERS * TXS_PER_WRITER * ROWS_PER_TX) as usize;
    let deadline = Instant::now() + Duration::from_secs(60);
    while outbox::backlog(&pool).await?.unpublished > 0 {
        assert!(Instant::now() < deadline, "backlog not drained in 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    relay.shutdown().await;

    let published = transport.retained("deposits");
    let seen: HashSet<i64> = published
        .iter()
        .map(|e| serde_json::from_slice::<Deposited>(&e.data).map(|d| d.cents))
        .collect::<Result<_, _>>()?;
    assert_eq!(seen.len(), total, "every row published, none skipped");
    assert_eq!(
        published.len(),
        total,
        "and each once while the relay ran without failures"
    );
    Ok(())
}
