//! The relay running: it wakes on commits, keeps order, and hands over between
//! instances.

use std::time::{Duration, Instant};

use edp_core::transport::memory::MemoryTransport;
use edp_sql::outbox::{self, Outbox, Relay};

use crate::common::{Audited, Deposited, both, deposit};

async fn wait_for(transport: &MemoryTransport, topic: &str, n: usize) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = transport.retained(topic).len();
        if got >= n {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{got} of {n} events on `{topic}` after 20 s"));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits up to 5 s for `done` (a relay counts a batch once it is settled, just after
/// publishing it).
async fn settled(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

both!(
    a_running_relay_publishes_commits_in_order_across_topics,
    |pool| async move {
        let transport = MemoryTransport::new();
        let relay = Relay::new(pool.clone(), transport.clone())
            .poll_interval(Duration::from_millis(50))
            .batch_size(7)
            .start();
        let outbox = Outbox::new("bank");
        for i in 0..50_i64 {
            let mut tx = pool.begin().await?;
            outbox.add(&mut tx, &deposit("a-1", i)).await?;
            if i % 10 == 0 {
                outbox
                    .add(
                        &mut tx,
                        &Audited {
                            account: "a-1".into(),
                        },
                    )
                    .await?;
            }
            tx.commit().await?;
        }
        wait_for(&transport, "deposits", 50).await?;
        wait_for(&transport, "audits", 5).await?;
        relay.shutdown().await;
        let cents: Vec<i64> = transport
            .retained("deposits")
            .iter()
            .map(|e| serde_json::from_slice::<Deposited>(&e.data).map(|d| d.cents))
            .collect::<Result<_, _>>()?;
        assert_eq!(cents, (0..50).collect::<Vec<_>>(), "commit order per key");
        assert_eq!(outbox::backlog(&pool).await?.unpublished, 0);
        Ok(())
    }
);

both!(
    one_relay_publishes_and_a_standby_takes_over_when_it_stops,
    |pool| async move {
        let transport = MemoryTransport::new();
        // A lease far longer than the test: on SQLite the standby can only take over
        // because the first relay gives its lease up when it stops.
        let fast = |r: Relay<Db, MemoryTransport>| {
            r.poll_interval(Duration::from_millis(20))
                .lease(Duration::from_secs(600))
        };
        let first = fast(Relay::new(pool.clone(), transport.clone())).start();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let second = fast(Relay::new(pool.clone(), transport.clone())).start();
        let outbox = Outbox::new("bank");
        let write = |from: i64| {
            let pool = pool.clone();
            let outbox = outbox.clone();
            async move {
                for i in from..from + 20 {
                    let mut tx = pool.begin().await?;
                    outbox.add(&mut tx, &deposit("a-1", i)).await?;
                    tx.commit().await?;
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            }
        };
        write(0).await?;
        wait_for(&transport, "deposits", 20).await?;
        settled(|| first.published() + second.published() == 20).await;
        assert_eq!(
            (first.published(), second.published()),
            (20, 0),
            "one relay publishes"
        );

        first.shutdown().await;
        write(20).await?;
        wait_for(&transport, "deposits", 40).await?;
        settled(|| second.published() == 20).await;
        assert_eq!(second.published(), 20, "the standby took over");
        second.shutdown().await;
        let cents: Vec<i64> = transport
            .retained("deposits")
            .iter()
            .map(|e| serde_json::from_slice::<Deposited>(&e.data).map(|d| d.cents))
            .collect::<Result<_, _>>()?;
        assert_eq!(cents, (0..40).collect::<Vec<_>>());
        Ok(())
    }
);
