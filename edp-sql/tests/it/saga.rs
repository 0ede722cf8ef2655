//! Sagas stored in SQLite and PostgreSQL: each transition commits with its commands
//! (outbox rows) and its reply's inbox record; deadlines survive a restart.

use std::time::Duration;

use edp_core::error::BoxError;
use edp_core::event_sourcing::EventSet;
use edp_core::saga::{
    Commands, Compensation, Definition, ReplyEffect, Saga, SagaEngine, SagaStatus, Step, Verdict,
};
use edp_core::{Envelope, Event};
use edp_sql::saga::SqlSagaStore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::{TestResult, both};

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "hold.place", topic = "holds", key = account)]
pub(crate) struct PlaceHold {
    account: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "hold.release", topic = "holds", key = account)]
pub(crate) struct ReleaseHold {
    account: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "transfer.execute", topic = "transfers", key = account)]
pub(crate) struct Execute {
    account: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "hold.placed", topic = "hold-replies", key = account)]
pub(crate) struct HoldPlaced {
    account: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "transfer.executed", topic = "transfer-replies", key = account)]
pub(crate) struct Executed {
    account: String,
}

#[derive(Debug, Clone, EventSet)]
pub(crate) enum TransferReply {
    Placed(HoldPlaced),
    Executed(Executed),
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Transfer {
    account: String,
}

impl Saga for Transfer {
    const NAME: &'static str = "transfer";
    type Reply = TransferReply;
    fn definition() -> Definition<Self> {
        Definition::new().then(Hold).then(Run)
    }
}

pub(crate) struct Hold;
impl Step<Transfer> for Hold {
    const NAME: &'static str = "hold";
    const DEADLINE: Duration = Duration::from_secs(30);
    type Compensation = Release;
    fn action(&self, t: &Transfer, out: &mut Commands) -> Result<(), BoxError> {
        out.send(&PlaceHold {
            account: t.account.clone(),
        })
    }
    fn on_reply(&self, _: &mut Transfer, reply: &TransferReply) -> Verdict {
        match reply {
            TransferReply::Placed(_) => Verdict::Done,
            _ => Verdict::NotMine,
        }
    }
}

#[derive(Default)]
pub(crate) struct Release;
impl Compensation<Transfer> for Release {
    fn compensate(&self, t: &Transfer, out: &mut Commands) -> Result<(), BoxError> {
        out.send(&ReleaseHold {
            account: t.account.clone(),
        })
    }
}

pub(crate) struct Run;
impl Step<Transfer> for Run {
    const NAME: &'static str = "execute";
    // Short, so that the restart test waits for it in real time.
    const DEADLINE: Duration = Duration::from_millis(800);
    type Compensation = Undo;
    fn action(&self, t: &Transfer, out: &mut Commands) -> Result<(), BoxError> {
        out.send(&Execute {
            account: t.account.clone(),
        })
    }
    fn on_reply(&self, _: &mut Transfer, reply: &TransferReply) -> Verdict {
        match reply {
            TransferReply::Executed(_) => Verdict::Done,
            _ => Verdict::NotMine,
        }
    }
}

/// Undoes `execute`: nothing to send in this test.
#[derive(Default)]
pub(crate) struct Undo;
impl Compensation<Transfer> for Undo {
    fn compensate(&self, _: &Transfer, _: &mut Commands) -> Result<(), BoxError> {
        Ok(())
    }
}

fn reply<E: Event>(event: &E, saga: Uuid) -> Envelope {
    Envelope::builder(E::NAME, serde_json::to_vec(event).unwrap_or_default())
        .header(edp_core::event::headers::CORRELATION_ID, saga.to_string())
        .build()
}

both!(
    transitions_commit_with_their_commands_and_replies_apply_once,
    |pool| async move {
        let engine = SagaEngine::<Transfer, _>::new(SqlSagaStore::new(pool.clone()));
        let id = Uuid::now_v7();
        engine
            .start(
                id,
                Transfer {
                    account: "a-1".into(),
                },
                None,
            )
            .await?;
        let outbox: Vec<(String, String)> =
            sqlx::query_as("SELECT topic, event_type FROM edp_outbox ORDER BY id")
                .fetch_all(&pool)
                .await?;
        assert_eq!(outbox, [("holds".to_owned(), "hold.place".to_owned())]);

        let placed = HoldPlaced {
            account: "a-1".into(),
        };
        let env = reply(&placed, id);
        assert_eq!(
            engine
                .on_reply(&env, TransferReply::Placed(placed.clone()))
                .await?,
            ReplyEffect::Applied
        );
        assert_eq!(
            engine.on_reply(&env, TransferReply::Placed(placed)).await?,
            ReplyEffect::Duplicate
        );
        let done = Executed {
            account: "a-1".into(),
        };
        engine
            .on_reply(&reply(&done, id), TransferReply::Executed(done))
            .await?;

        let view = engine.get(id).await?.expect("the instance");
        assert_eq!(view.status, SagaStatus::Completed);
        assert_eq!(view.deadline_ms, None);
        assert_eq!(view.history.len(), 6, "{:?}", view.history);
        let outbox: Vec<String> =
            sqlx::query_scalar("SELECT event_type FROM edp_outbox ORDER BY id")
                .fetch_all(&pool)
                .await?;
        assert_eq!(outbox, ["hold.place", "transfer.execute"]);
        // Every command carries the saga id as its correlation id.
        let envelopes: Vec<Vec<u8>> = sqlx::query_scalar("SELECT envelope FROM edp_outbox")
            .fetch_all(&pool)
            .await?;
        for raw in envelopes {
            assert!(String::from_utf8_lossy(&raw).contains(&id.to_string()));
        }
        Ok(())
    }
);

both!(
    a_deadline_set_before_a_restart_fires_after_it,
    |pool| async move {
        let id = Uuid::now_v7();
        {
            let engine = SagaEngine::<Transfer, _>::new(SqlSagaStore::new(pool.clone()));
            engine
                .start(
                    id,
                    Transfer {
                        account: "a-2".into(),
                    },
                    None,
                )
                .await?;
            let placed = HoldPlaced {
                account: "a-2".into(),
            };
            engine
                .on_reply(&reply(&placed, id), TransferReply::Placed(placed))
                .await?;
            // The engine stops here, waiting for `execute` (deadline 800 ms).
        }
        let engine = SagaEngine::<Transfer, _>::new(SqlSagaStore::new(pool.clone()));
        let deadlines = engine.run_deadlines();
        let mut status = SagaStatus::Running;
        for _ in 0..100 {
            status = engine.get(id).await?.expect("the instance").status;
            if status.is_final() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        deadlines.shutdown().await;
        // `execute` timed out: undone (nothing to send), and the hold before it released.
        assert_eq!(status, SagaStatus::Compensated);
        let outbox: Vec<String> =
            sqlx::query_scalar("SELECT event_type FROM edp_outbox ORDER BY id")
                .fetch_all(&pool)
                .await?;
        assert_eq!(outbox, ["hold.place", "transfer.execute", "hold.release"]);
        Ok(())
    }
);

/// `made` has the fields of `expected` (ids and times aside).
fn assert_same(made: &Envelope, expected: &Envelope) {
    use edp_core::event::headers::{TRACEPARENT, TRACESTATE};
    assert_eq!(made.source, expected.source, "source");
    assert_eq!(made.event_type, expected.event_type, "type");
    assert_eq!(
        made.datacontenttype, expected.datacontenttype,
        "content type"
    );
    assert_eq!(made.dataversion, expected.dataversion, "version");
    assert_eq!(made.subject, expected.subject, "key");
    assert_eq!(
        made.correlation_id(),
        expected.correlation_id(),
        "correlation"
    );
    assert_eq!(made.causation_id(), expected.causation_id(), "causation");
    for h in [TRACEPARENT, TRACESTATE] {
        assert_eq!(made.headers.get(h), expected.headers.get(h), "{h}");
    }
    assert_eq!(made.data, expected.data, "payload");
}

both!(
    outbox_rows_and_saga_commands_carry_what_the_encoder_makes,
    |pool| async move {
        use edp_core::event::headers::{CORRELATION_ID, TRACEPARENT};
        use edp_core::event::{Cause, Encoder};
        use edp_core::transport::memory::MemoryTransport;
        use edp_sql::outbox::{Outbox, Relay};

        let encoder = Encoder::new("bank", edp_core::JsonCodec);
        let parent = Envelope::builder("test.cause", &b"{}"[..])
            .source("upstream")
            .header(CORRELATION_ID, "req-1")
            .header(
                TRACEPARENT,
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )
            .build();
        let mut tx = pool.begin().await?;
        Outbox::with_encoder(encoder.clone())
            .add_caused_by(&mut tx, &deposit("a-1", 5), &parent)
            .await?;
        tx.commit().await?;
        let engine = SagaEngine::<Transfer, _>::new(SqlSagaStore::new(pool.clone()))
            .encoder(encoder.clone());
        let id = Uuid::now_v7();
        let transfer = Transfer {
            account: "a-1".into(),
        };
        engine.start(id, transfer, Some(&parent)).await?;

        let transport = MemoryTransport::new();
        let relay = Relay::new(pool.clone(), transport.clone())
            .poll_interval(Duration::from_millis(20))
            .start();
        for _ in 0..500 {
            if !transport.retained("deposits").is_empty() && !transport.retained("holds").is_empty()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        relay.shutdown().await;

        let deposited = &transport.retained("deposits")[0];
        assert_same(
            deposited,
            &encoder.encode(&deposit("a-1", 5), Cause::event(&parent))?,
        );
        assert_eq!(
            (&*deposited.source, &*deposited.correlation_id()),
            ("bank", "req-1")
        );
        let saga = id.to_string();
        let hold = &transport.retained("holds")[0];
        let expected = PlaceHold {
            account: "a-1".into(),
        };
        assert_same(
            hold,
            &encoder.encode(&expected, Cause::event(&parent).correlation(&saga))?,
        );
        assert_eq!(
            hold.causation_id(),
            deposited.causation_id(),
            "both caused by the parent"
        );
        assert_eq!(
            hold.headers.get(TRACEPARENT),
            deposited.headers.get(TRACEPARENT)
        );
        Ok(())
    }
);
