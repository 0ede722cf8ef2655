//! The storage contract, on SQLite and PostgreSQL: a committed record is found, a
//! rolled-back one is not, a duplicate id is refused, published rows are cleared.

use std::time::Duration;

use edp_core::transport::memory::MemoryTransport;
use edp_sql::inbox::Inbox;
use edp_sql::outbox::{self, Outbox, OutboxError, Relay, Retention};

use crate::common::{Deposited, both};

both!(
    a_committed_event_is_stored_and_published_whole,
    |pool| async move {
        let outbox = Outbox::new("bank");
        let mut tx = pool.begin().await?;
        sqlx::query("INSERT INTO ledger (account, cents) VALUES ($1, $2)")
            .bind("a-1")
            .bind(500_i64)
            .execute(&mut *tx)
            .await?;
        let parent = edp_core::Envelope::builder("request", Vec::new())
            .header(
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )
            .header("correlationid", "req-7")
            .build();
        let id = outbox
            .add_caused_by(
                &mut tx,
                &Deposited {
                    account: "a-1".into(),
                    cents: 500,
                },
                &parent,
            )
            .await?;
        assert_eq!(
            outbox::backlog(&pool).await?.unpublished,
            0,
            "uncommitted rows are not visible"
        );
        tx.commit().await?;

        let backlog = outbox::backlog(&pool).await?;
        assert_eq!(backlog.unpublished, 1);
        assert!(backlog.oldest_age.is_some());

        let transport = MemoryTransport::new();
        let published = Relay::new(pool.clone(), transport.clone()).drain().await?;
        assert_eq!(published, 1);
        let sent = transport.retained("deposits");
        assert_eq!(sent.len(), 1);
        let env = &sent[0];
        assert_eq!(env.id, id);
        assert_eq!(env.event_type, "account.deposited");
        assert_eq!(env.source, "bank");
        assert_eq!(env.subject.as_deref(), Some("a-1"));
        assert_eq!(env.correlation_id(), "req-7");
        assert_eq!(env.causation_id(), Some(parent.id.to_string().as_str()));
        assert_eq!(
            env.headers.get("traceparent"),
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            "the trace context of the write travels with the event"
        );
        let back: Deposited = serde_json::from_slice(&env.data)?;
        assert_eq!(
            back,
            Deposited {
                account: "a-1".into(),
                cents: 500
            }
        );

        let after = outbox::backlog(&pool).await?;
        assert_eq!(
            (after.unpublished, after.oldest_age),
            (0, None),
            "published rows are cleared"
        );
        let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM edp_outbox")
            .fetch_one(&pool)
            .await?;
        assert_eq!(rows, 0, "deleted by default");
        Ok(())
    }
);

both!(
    a_rolled_back_transaction_stores_nothing,
    |pool| async move {
        let outbox = Outbox::new("bank");
        let mut tx = pool.begin().await?;
        sqlx::query("INSERT INTO ledger (account, cents) VALUES ($1, $2)")
            .bind("a-1")
            .bind(1_i64)
            .execute(&mut *tx)
            .await?;
        outbox
            .add(
                &mut tx,
                &Deposited {
                    account: "a-1".into(),
                    cents: 1,
                },
            )
            .await?;
        tx.rollback().await?;

        let mut dropped = pool.begin().await?;
        outbox
            .add(
                &mut dropped,
                &Deposited {
                    account: "a-2".into(),
                    cents: 2,
                },
            )
            .await?;
        drop(dropped); // dropped uncommitted: rolled back

        assert_eq!(outbox::backlog(&pool).await?.unpublished, 0);
        let (ledger,): (i64,) = sqlx::query_as("SELECT count(*) FROM ledger")
            .fetch_one(&pool)
            .await?;
        assert_eq!(ledger, 0);
        let transport = MemoryTransport::new();
        assert_eq!(
            Relay::new(pool.clone(), transport.clone()).drain().await?,
            0
        );
        assert!(transport.retained("deposits").is_empty());
        Ok(())
    }
);

both!(a_duplicate_event_id_is_refused, |pool| async move {
    let env = edp_core::Envelope::builder("account.deposited", &b"{}"[..]).build();
    let mut tx = pool.begin().await?;
    outbox::add_envelope(&mut tx, "deposits", &env).await?;
    tx.commit().await?;

    let mut again = pool.begin().await?;
    let err = outbox::add_envelope(&mut again, "deposits", &env).await;
    assert!(
        matches!(err, Err(OutboxError::Duplicate(id)) if id == env.id),
        "{err:?}"
    );
    drop(again);
    assert_eq!(outbox::backlog(&pool).await?.unpublished, 1);
    Ok(())
});

both!(
    kept_rows_are_marked_then_purged_after_the_retention,
    |pool| async move {
        let outbox = Outbox::new("bank");
        let mut tx = pool.begin().await?;
        for i in 0..3 {
            outbox
                .add(
                    &mut tx,
                    &Deposited {
                        account: format!("a-{i}"),
                        cents: i,
                    },
                )
                .await?;
        }
        tx.commit().await?;
        let transport = MemoryTransport::new();
        let relay = Relay::new(pool.clone(), transport.clone())
            .retention(Retention::Keep(Duration::from_millis(300)))
            .poll_interval(Duration::from_millis(50));
        assert_eq!(relay.drain().await?, 3);
        let (kept,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM edp_outbox WHERE published_us IS NOT NULL")
                .fetch_one(&pool)
                .await?;
        assert_eq!(kept, 3, "marked, not deleted");
        assert_eq!(outbox::backlog(&pool).await?.unpublished, 0);
        assert_eq!(
            relay.drain().await?,
            0,
            "a published row is not published again"
        );

        let running = relay.start();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (left,): (i64,) = sqlx::query_as("SELECT count(*) FROM edp_outbox")
                .fetch_one(&pool)
                .await?;
            if left == 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{left} rows kept past the retention"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        running.shutdown().await;
        assert_eq!(transport.retained("deposits").len(), 3);
        Ok(())
    }
);

both!(the_inbox_finds_committed_records_only, |pool| async move {
    let inbox = Inbox::new(pool.clone());
    let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());

    let mut tx = pool.begin().await?;
    assert!(Inbox::claim(&mut tx, "billing", a).await?, "first claim");
    tx.commit().await?;
    assert!(
        inbox.contains("billing", a).await?,
        "an existing record is found"
    );
    assert!(!inbox.contains("shipping", a).await?, "per consumer group");

    let mut tx = pool.begin().await?;
    assert!(
        !Inbox::claim(&mut tx, "billing", a).await?,
        "a duplicate is refused"
    );
    assert!(Inbox::claim(&mut tx, "billing", b).await?);
    tx.rollback().await?;
    assert!(
        !inbox.contains("billing", b).await?,
        "nothing is stored on rollback"
    );

    assert_eq!(inbox.purge(Duration::from_secs(3600)).await?, 0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(inbox.purge(Duration::from_millis(1)).await?, 1);
    assert!(!inbox.contains("billing", a).await?);
    Ok(())
});

both!(the_inbox_purges_old_records_on_its_own, |pool| async move {
    let inbox = Inbox::new(pool.clone());
    let id = uuid::Uuid::now_v7();
    let mut tx = pool.begin().await?;
    assert!(Inbox::claim(&mut tx, "billing", id).await?);
    tx.commit().await?;
    let purging = inbox.purge_every(Duration::from_millis(50), Duration::from_millis(20));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while inbox.contains("billing", id).await? {
        assert!(
            std::time::Instant::now() < deadline,
            "not purged within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    purging.abort();
    Ok(())
});
