//! Sagas stored in SQLite and PostgreSQL: each transition commits with its commands
//! (outbox rows) and its reply's inbox record; deadlines survive a restart.

use std::time::Duration;

use edp_core::error::BoxError;
use edp_core::event_sourcing::EventSet;
use edp_core::saga::{
    Commands, Compensation, Definition, Delivery, Outcome, Saga, SagaEngine, Status, Step,
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
    fn on_reply(&self, _: &mut Transfer, reply: &TransferReply) -> Outcome {
        match reply {
            TransferReply::Placed(_) => Outcome::Done,
            _ => Outcome::NotMine,
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
    fn on_reply(&self, _: &mut Transfer, reply: &TransferReply) -> Outcome {
        match reply {
            TransferReply::Executed(_) => Outcome::Done,
            _ => Outcome::NotMine,
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
            Delivery::Applied
        );
        assert_eq!(
            engine.on_reply(&env, TransferReply::Placed(placed)).await?,
            Delivery::Duplicate
        );
        let done = Executed {
            account: "a-1".into(),
        };
        engine
            .on_reply(&reply(&done, id), TransferReply::Executed(done))
            .await?;

        let view = engine.get(id).await?.expect("the instance");
        assert_eq!(view.status, Status::Completed);
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
        let mut status = Status::Running;
        for _ in 0..100 {
            status = engine.get(id).await?.expect("the instance").status;
            if status.is_final() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        deadlines.shutdown().await;
        // `execute` timed out: undone (nothing to send), and the hold before it released.
        assert_eq!(status, Status::Compensated);
        let outbox: Vec<String> =
            sqlx::query_scalar("SELECT event_type FROM edp_outbox ORDER BY id")
                .fetch_all(&pool)
                .await?;
        assert_eq!(outbox, ["hold.place", "transfer.execute", "hold.release"]);
        Ok(())
    }
);
