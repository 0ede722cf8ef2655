//! Sagas on the in-memory store and transport, on tokio's paused clock: completion,
//! compensation in reverse, deadlines (also across a restart), fork/join, duplicates
//! and strays, parking.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use edp_core::error::BoxError;
use edp_core::event_sourcing::EventSet;
use edp_core::saga::{
    Commands, Compensation, Definition, MemorySagaStore, Pivot, ReplyEffect, ResendPolicy, Saga,
    SagaEngine, SagaStatus, Step, StepState, Verdict,
};
use edp_core::testkit::TestBus;
use edp_core::transport::memory::MemoryTransport;
use edp_core::{Context, Envelope, Event, Service};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

// Commands the saga sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "stock.reserve", topic = "stock-commands", key = order)]
struct ReserveStock {
    order: String,
    qty: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "stock.release", topic = "stock-commands", key = order)]
struct ReleaseStock {
    order: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "payment.authorize", topic = "payment-commands", key = order)]
struct AuthorizePayment {
    order: String,
    cents: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "payment.void", topic = "payment-commands", key = order)]
struct VoidPayment {
    order: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "order.confirm", topic = "order-commands", key = order)]
struct ConfirmOrder {
    order: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "order.cancel", topic = "order-commands", key = order)]
struct CancelOrder {
    order: String,
}

// Replies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "stock.reserved", topic = "stock-replies", key = order)]
struct StockReserved {
    order: String,
    ok: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "payment.authorized", topic = "payment-replies", key = order)]
struct PaymentAuthorized {
    order: String,
    ok: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "order.confirmed", topic = "order-replies", key = order)]
struct OrderConfirmed {
    order: String,
}

#[derive(Debug, Clone, PartialEq, EventSet)]
enum Reply {
    Stock(StockReserved),
    Payment(PaymentAuthorized),
    Confirmed(OrderConfirmed),
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct PlaceOrder {
    order: String,
    qty: u32,
    cents: u64,
    reserved: bool,
}

impl Saga for PlaceOrder {
    const NAME: &'static str = "place-order";
    type Reply = Reply;
    fn definition() -> Definition<Self> {
        Definition::new()
            .then(Reserve)
            .then(Authorize)
            .then(Confirm)
    }

    fn on_finished(&self, status: SagaStatus, out: &mut Commands) -> Result<(), BoxError> {
        if status == SagaStatus::Compensated {
            out.send(&CancelOrder {
                order: self.order.clone(),
            })?;
        }
        Ok(())
    }
}

/// The same saga with stock and payment at once (fork/join).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct PlaceOrderAtOnce(PlaceOrder);

struct Reserve;
impl Step<PlaceOrder> for Reserve {
    const NAME: &'static str = "reserve_stock";
    const DEADLINE: Duration = Duration::from_secs(30);
    type Compensation = Release;
    fn action(&self, s: &PlaceOrder, out: &mut Commands) -> Result<(), BoxError> {
        out.send(&ReserveStock {
            order: s.order.clone(),
            qty: s.qty,
        })
    }
    fn on_reply(&self, s: &mut PlaceOrder, reply: &Reply) -> Verdict {
        match reply {
            Reply::Stock(r) if r.ok => {
                s.reserved = true;
                Verdict::Done
            }
            Reply::Stock(_) => Verdict::Failed("out of stock".into()),
            _ => Verdict::NotMine,
        }
    }
}

#[derive(Default)]
struct Release;
impl Compensation<PlaceOrder> for Release {
    fn compensate(&self, s: &PlaceOrder, out: &mut Commands) -> Result<(), BoxError> {
        out.send(&ReleaseStock {
            order: s.order.clone(),
        })
    }
}

struct Authorize;
impl Step<PlaceOrder> for Authorize {
    const NAME: &'static str = "authorize_payment";
    const DEADLINE: Duration = Duration::from_secs(30);
    type Compensation = Void;
    fn action(&self, s: &PlaceOrder, out: &mut Commands) -> Result<(), BoxError> {
        out.send(&AuthorizePayment {
            order: s.order.clone(),
            cents: s.cents,
        })
    }
    fn on_reply(&self, _: &mut PlaceOrder, reply: &Reply) -> Verdict {
        match reply {
            Reply::Payment(p) if p.ok => Verdict::Done,
            Reply::Payment(_) => Verdict::Failed("payment declined".into()),
            _ => Verdict::NotMine,
        }
    }
}

#[derive(Default)]
struct Void;
impl Compensation<PlaceOrder> for Void {
    fn compensate(&self, s: &PlaceOrder, out: &mut Commands) -> Result<(), BoxError> {
        out.send(&VoidPayment {
            order: s.order.clone(),
        })
    }
}

struct Confirm;
impl Step<PlaceOrder> for Confirm {
    const NAME: &'static str = "confirm_order";
    const DEADLINE: Duration = Duration::from_secs(10);
    type Compensation = Pivot;
    fn action(&self, s: &PlaceOrder, out: &mut Commands) -> Result<(), BoxError> {
        out.send(&ConfirmOrder {
            order: s.order.clone(),
        })
    }
    fn on_reply(&self, _: &mut PlaceOrder, reply: &Reply) -> Verdict {
        match reply {
            Reply::Confirmed(_) => Verdict::Done,
            _ => Verdict::NotMine,
        }
    }
}

/// How the fake participants behave.
#[derive(Clone, Default)]
struct Participants {
    out_of_stock: Arc<AtomicBool>,
    decline: Arc<AtomicBool>,
    payment_silent: Arc<AtomicBool>,
}

async fn stock(p: Participants, ctx: Context, cmd: ReserveStock) -> Result<(), BoxError> {
    let ok = !p.out_of_stock.load(Ordering::SeqCst);
    ctx.publish(&StockReserved {
        order: cmd.order,
        ok,
    })
    .await?;
    Ok(())
}

async fn payment(p: Participants, ctx: Context, cmd: AuthorizePayment) -> Result<(), BoxError> {
    if p.payment_silent.load(Ordering::SeqCst) {
        return Ok(());
    }
    let ok = !p.decline.load(Ordering::SeqCst);
    ctx.publish(&PaymentAuthorized {
        order: cmd.order,
        ok,
    })
    .await?;
    Ok(())
}

async fn confirm(ctx: Context, cmd: ConfirmOrder) -> Result<(), BoxError> {
    ctx.publish(&OrderConfirmed { order: cmd.order }).await?;
    Ok(())
}

type Engine = SagaEngine<PlaceOrder, MemorySagaStore<MemoryTransport>>;

struct World {
    bus: TestBus,
    engine: Engine,
    participants: Participants,
    _services: Vec<edp_core::handler::RunningService>,
}

async fn world(store: Option<MemorySagaStore<MemoryTransport>>, bus: Option<TestBus>) -> World {
    let bus = bus.unwrap_or_default();
    let store = store.unwrap_or_else(|| MemorySagaStore::new(bus.transport()));
    let engine = Engine::with_retry(
        store,
        ResendPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(8),
            attempts: 3,
        },
    );
    let participants = Participants::default();
    let mut services = Vec::new();
    services.push(
        bus.start(
            engine
                .register(Service::builder("orchestrator", bus.transport()))
                .build(),
        )
        .await,
    );
    services.push(
        bus.start(
            Service::builder("participants", bus.transport())
                .handler_with(participants.clone(), stock)
                .handler_with(participants.clone(), payment)
                .handler(confirm)
                .build(),
        )
        .await,
    );
    World {
        bus,
        engine,
        participants,
        _services: services,
    }
}

fn order(n: u32) -> PlaceOrder {
    PlaceOrder {
        order: format!("o-{n}"),
        qty: 2,
        cents: 1000,
        reserved: false,
    }
}

/// Waits (on the paused clock, which moves when everything idles) for a final status.
async fn settled(engine: &Engine, id: Uuid) -> SagaStatus {
    for _ in 0..10_000 {
        let view = engine.get(id).await.unwrap().unwrap();
        if view.status.is_final() {
            return view.status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("saga {id} did not settle");
}

#[tokio::test(start_paused = true)]
async fn completes_when_every_step_succeeds() {
    let w = world(None, None).await;
    let id = Uuid::now_v7();
    w.engine.start(id, order(1), None).await.unwrap();
    assert_eq!(settled(&w.engine, id).await, SagaStatus::Completed);
    let view = w.engine.get(id).await.unwrap().unwrap();
    assert!(view.data.reserved, "the step recorded what it learned");
    assert_eq!(
        view.steps.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
        [StepState::Done; 3]
    );
    let history: Vec<&str> = view.history.iter().map(|h| h.what.as_str()).collect();
    assert_eq!(
        history,
        [
            "started",
            "step reserve_stock sent",
            "step reserve_stock done",
            "step authorize_payment sent",
            "step authorize_payment done",
            "step confirm_order sent",
            "step confirm_order done",
            "completed"
        ]
    );
    assert_eq!(view.deadline_ms, None);
}

#[tokio::test(start_paused = true)]
async fn a_declined_payment_releases_the_stock_and_voids_nothing() {
    let w = world(None, None).await;
    let mut commands = w
        .bus
        .record(["stock-commands", "payment-commands", "order-commands"])
        .await;
    w.participants.decline.store(true, Ordering::SeqCst);
    let id = Uuid::now_v7();
    w.engine.start(id, order(2), None).await.unwrap();
    assert_eq!(settled(&w.engine, id).await, SagaStatus::Compensated);
    let seen: Vec<String> = commands
        .quiet_for(Duration::from_secs(1))
        .await
        .iter()
        .map(|e| e.event_type.to_string())
        .collect();
    // The release and the cancel leave in one transaction, on two topics.
    let (asked, undone) = seen.split_at(2);
    let mut undone = undone.to_vec();
    undone.sort();
    assert_eq!(asked, ["stock.reserve", "payment.authorize"]);
    assert_eq!(undone, ["order.cancel", "stock.release"]);
    let view = w.engine.get(id).await.unwrap().unwrap();
    assert_eq!(view.reason.as_deref(), Some("payment declined"));
    assert_eq!(
        view.history.last().map(|h| h.what.as_str()),
        Some("compensated")
    );
}

#[tokio::test(start_paused = true)]
async fn a_stock_out_compensates_nothing() {
    let w = world(None, None).await;
    let mut commands = w.bus.record(["stock-commands", "payment-commands"]).await;
    w.participants.out_of_stock.store(true, Ordering::SeqCst);
    let id = Uuid::now_v7();
    w.engine.start(id, order(3), None).await.unwrap();
    assert_eq!(settled(&w.engine, id).await, SagaStatus::Compensated);
    let seen: Vec<String> = commands
        .quiet_for(Duration::from_secs(1))
        .await
        .iter()
        .map(|e| e.event_type.to_string())
        .collect();
    assert_eq!(seen, ["stock.reserve"]);
}

#[tokio::test(start_paused = true)]
async fn a_payment_that_never_answers_is_voided_and_the_stock_released_at_the_deadline() {
    let w = world(None, None).await;
    let mut commands = w.bus.record(["stock-commands", "payment-commands"]).await;
    w.participants.payment_silent.store(true, Ordering::SeqCst);
    let deadlines = w.engine.run_deadlines();
    let id = Uuid::now_v7();
    let start = tokio::time::Instant::now();
    w.engine.start(id, order(4), None).await.unwrap();
    assert_eq!(settled(&w.engine, id).await, SagaStatus::Compensated);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
        "{waited:?}"
    );
    let mut seen: Vec<String> = commands
        .quiet_for(Duration::from_secs(1))
        .await
        .iter()
        .map(|e| e.event_type.to_string())
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            "payment.authorize",
            "payment.void",
            "stock.release",
            "stock.reserve"
        ]
    );
    // Reverse order: the payment (outcome unknown) is voided, then the stock released.
    let view = w.engine.get(id).await.unwrap().unwrap();
    let undo: Vec<&str> = view
        .history
        .iter()
        .map(|h| h.what.as_str())
        .filter(|w| w.ends_with("compensated") && w.starts_with("step"))
        .collect();
    assert_eq!(
        undo,
        [
            "step authorize_payment compensated",
            "step reserve_stock compensated"
        ]
    );
    deadlines.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_deadline_fires_after_a_restart_during_the_wait() {
    let bus = TestBus::new();
    let store = MemorySagaStore::new(bus.transport());
    let first = world(Some(store.clone()), Some(bus.clone())).await;
    first
        .participants
        .payment_silent
        .store(true, Ordering::SeqCst);
    let id = Uuid::now_v7();
    first.engine.start(id, order(5), None).await.unwrap();
    // The engine goes down with no deadline task running, 10 s into the 30 s wait.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let view = first.engine.get(id).await.unwrap().unwrap();
    assert_eq!(view.status, SagaStatus::Running);
    assert!(matches!(view.steps[1].1, StepState::Waiting { .. }));
    drop(first);

    // A new engine on the same store: the persisted deadline fires.
    let second = world(Some(store), Some(bus.clone())).await;
    let deadlines = second.engine.run_deadlines();
    assert_eq!(settled(&second.engine, id).await, SagaStatus::Compensated);
    let view = second.engine.get(id).await.unwrap().unwrap();
    assert!(
        view.history
            .iter()
            .any(|h| h.what == "step authorize_payment timed out")
    );
    deadlines.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn duplicates_strays_and_late_replies_are_acknowledged() {
    let transport = MemoryTransport::new();
    let engine = Engine::new(MemorySagaStore::new(transport));
    let id = Uuid::now_v7();
    engine.start(id, order(6), None).await.unwrap();
    // Starting the same id again changes nothing.
    assert_eq!(
        engine.start(id, order(6), None).await.unwrap(),
        SagaStatus::Running
    );

    let reply = |event: &StockReserved, correlation: &str| {
        Envelope::builder(StockReserved::NAME, serde_json::to_vec(event).unwrap())
            .header(
                edp_core::event::headers::CORRELATION_ID,
                correlation.to_owned(),
            )
            .build()
    };
    let ok = StockReserved {
        order: "o-6".into(),
        ok: true,
    };
    let env = reply(&ok, &id.to_string());
    assert_eq!(
        engine
            .on_reply(&env, Reply::Stock(ok.clone()))
            .await
            .unwrap(),
        ReplyEffect::Applied
    );
    assert_eq!(
        engine
            .on_reply(&env, Reply::Stock(ok.clone()))
            .await
            .unwrap(),
        ReplyEffect::Duplicate
    );
    // A second, different stock reply: no step waits for it any more.
    let again = reply(&ok, &id.to_string());
    assert_eq!(
        engine
            .on_reply(&again, Reply::Stock(ok.clone()))
            .await
            .unwrap(),
        ReplyEffect::Unexpected
    );
    let stray = reply(&ok, &Uuid::now_v7().to_string());
    assert_eq!(
        engine
            .on_reply(&stray, Reply::Stock(ok.clone()))
            .await
            .unwrap(),
        ReplyEffect::UnknownInstance
    );
    let garbage = reply(&ok, "not-a-saga-id");
    assert_eq!(
        engine
            .on_reply(&garbage, Reply::Stock(ok.clone()))
            .await
            .unwrap(),
        ReplyEffect::UnknownInstance
    );

    let declined = PaymentAuthorized {
        order: "o-6".into(),
        ok: false,
    };
    let env = Envelope::builder(
        PaymentAuthorized::NAME,
        serde_json::to_vec(&declined).unwrap(),
    )
    .header(edp_core::event::headers::CORRELATION_ID, id.to_string())
    .build();
    engine
        .on_reply(&env, Reply::Payment(declined.clone()))
        .await
        .unwrap();
    assert_eq!(
        engine.get(id).await.unwrap().unwrap().status,
        SagaStatus::Compensated
    );
    let late = reply(&ok, &id.to_string());
    assert_eq!(
        engine.on_reply(&late, Reply::Stock(ok)).await.unwrap(),
        ReplyEffect::Finished
    );
}

// Fork/join: stock and payment at once.
impl Saga for PlaceOrderAtOnce {
    const NAME: &'static str = "place-order-at-once";
    type Reply = Reply;
    fn definition() -> Definition<Self> {
        Definition::new()
            .then_all((Wrap(Reserve), Wrap(Authorize)))
            .then(Wrap(Confirm))
    }
}

/// Runs a step of `PlaceOrder` inside `PlaceOrderAtOnce`.
struct Wrap<T>(T);

#[derive(Default)]
struct WrapComp<C>(C);
impl<C: Compensation<PlaceOrder>> Compensation<PlaceOrderAtOnce> for WrapComp<C> {
    const KIND: edp_core::saga::StepKind = C::KIND;
    fn compensate(&self, s: &PlaceOrderAtOnce, out: &mut Commands) -> Result<(), BoxError> {
        self.0.compensate(&s.0, out)
    }
}

impl<T: Step<PlaceOrder>> Step<PlaceOrderAtOnce> for Wrap<T> {
    const NAME: &'static str = T::NAME;
    const DEADLINE: Duration = T::DEADLINE;
    type Compensation = WrapComp<T::Compensation>;
    fn action(&self, s: &PlaceOrderAtOnce, out: &mut Commands) -> Result<(), BoxError> {
        self.0.action(&s.0, out)
    }
    fn on_reply(&self, s: &mut PlaceOrderAtOnce, reply: &Reply) -> Verdict {
        self.0.on_reply(&mut s.0, reply)
    }
}

#[tokio::test(start_paused = true)]
async fn fork_join_sends_both_at_once_and_waits_for_both() {
    let transport = MemoryTransport::new();
    let bus = TestBus::on(transport.clone());
    let mut commands = bus
        .record(["stock-commands", "payment-commands", "order-commands"])
        .await;
    let engine = SagaEngine::<PlaceOrderAtOnce, _>::new(MemorySagaStore::new(transport));
    assert_eq!(
        engine.definition().stages(),
        [
            vec!["reserve_stock", "authorize_payment"],
            vec!["confirm_order"]
        ]
    );
    let id = Uuid::now_v7();
    engine
        .start(id, PlaceOrderAtOnce(order(7)), None)
        .await
        .unwrap();
    let sent: Vec<String> = commands
        .quiet_for(Duration::from_secs(1))
        .await
        .iter()
        .map(|e| e.event_type.to_string())
        .collect();
    assert_eq!(sent, ["stock.reserve", "payment.authorize"], "both at once");

    let envelope = |name: &'static str| {
        Envelope::builder(name, b"{}".to_vec())
            .header(edp_core::event::headers::CORRELATION_ID, id.to_string())
            .build()
    };
    let paid = PaymentAuthorized {
        order: "o-7".into(),
        ok: true,
    };
    engine
        .on_reply(&envelope("payment.authorized"), Reply::Payment(paid))
        .await
        .unwrap();
    assert!(
        commands.quiet_for(Duration::from_secs(1)).await.is_empty(),
        "joined: waits for the stock"
    );
    let stock = StockReserved {
        order: "o-7".into(),
        ok: true,
    };
    engine
        .on_reply(&envelope("stock.reserved"), Reply::Stock(stock))
        .await
        .unwrap();
    let sent: Vec<String> = commands
        .quiet_for(Duration::from_secs(1))
        .await
        .iter()
        .map(|e| e.event_type.to_string())
        .collect();
    assert_eq!(sent, ["order.confirm"]);
}

// A compensation that keeps failing is parked with its reason.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Fragile(PlaceOrder);

#[derive(Default)]
struct BrokenRelease;
impl Compensation<Fragile> for BrokenRelease {
    fn compensate(&self, _: &Fragile, _: &mut Commands) -> Result<(), BoxError> {
        Err("the stock service refuses releases".into())
    }
}

struct FragileReserve;
impl Step<Fragile> for FragileReserve {
    const NAME: &'static str = "reserve_stock";
    const DEADLINE: Duration = Duration::from_secs(5);
    type Compensation = BrokenRelease;
    fn action(&self, s: &Fragile, out: &mut Commands) -> Result<(), BoxError> {
        Reserve.action(&s.0, out)
    }
    fn on_reply(&self, _: &mut Fragile, _: &Reply) -> Verdict {
        Verdict::NotMine // never answered: times out
    }
}

impl Saga for Fragile {
    const NAME: &'static str = "fragile";
    type Reply = Reply;
    fn definition() -> Definition<Self> {
        Definition::new().then(FragileReserve)
    }
}

#[tokio::test(start_paused = true)]
async fn a_compensation_that_keeps_failing_is_parked_with_its_reason() {
    let engine = SagaEngine::<Fragile, _>::with_retry(
        MemorySagaStore::new(MemoryTransport::new()),
        ResendPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(4),
            attempts: 4,
        },
    );
    let deadlines = engine.run_deadlines();
    let id = Uuid::now_v7();
    engine.start(id, Fragile(order(8)), None).await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let view = engine.get(id).await.unwrap().unwrap();
    assert_eq!(view.status, SagaStatus::Parked);
    assert_eq!(
        view.reason.as_deref(),
        Some("compensation of reserve_stock failed 4 times: the stock service refuses releases")
    );
    assert_eq!(engine.list(SagaStatus::Parked, 10).await.unwrap(), [id]);
    let failures = view
        .history
        .iter()
        .filter(|h| h.what.starts_with("compensation of reserve_stock failed"))
        .count();
    assert_eq!(failures, 4);
    deadlines.shutdown().await;
}

#[test]
fn the_definition_draws_itself_in_mermaid() {
    let mermaid = PlaceOrderAtOnce::definition().mermaid();
    assert!(mermaid.starts_with("flowchart LR"), "{mermaid}");
    for line in [
        "start --> reserve_stock",
        "start --> authorize_payment",
        "reserve_stock --> confirm_order",
        "authorize_payment --> confirm_order",
        "confirm_order --> done",
        "reserve_stock -. \"on failure\" .-> undo_reserve_stock",
    ] {
        assert!(mermaid.contains(line), "missing `{line}` in\n{mermaid}");
    }
    assert!(
        !mermaid.contains("undo_confirm_order"),
        "a pivot is not undone"
    );
}

// A pivot that does not answer in time is asked again, never compensated.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct WithPivot(PlaceOrder);

struct ChargeCard;
impl Step<WithPivot> for ChargeCard {
    const NAME: &'static str = "charge_card";
    const DEADLINE: Duration = Duration::from_secs(5);
    type Compensation = Pivot;
    fn action(&self, s: &WithPivot, out: &mut Commands) -> Result<(), BoxError> {
        Authorize.action(&s.0, out)
    }
    fn on_reply(&self, s: &mut WithPivot, reply: &Reply) -> Verdict {
        Authorize.on_reply(&mut s.0, reply)
    }
}

impl Saga for WithPivot {
    const NAME: &'static str = "with-pivot";
    type Reply = Reply;
    fn definition() -> Definition<Self> {
        Definition::new().then(ChargeCard)
    }
}

#[test]
fn a_pivot_that_times_out_is_asked_again_then_parked_never_compensated() {
    let retry = ResendPolicy {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(4),
        attempts: 3,
    };
    let mut saga = edp_core::testkit::saga::given_with(WithPivot(order(9)), retry);
    saga.then_sends(["payment.authorize"]);
    saga.when_time_passes(Duration::from_secs(6))
        .then_sends(["payment.authorize"])
        .then_status(SagaStatus::Running);
    saga.when_time_passes(Duration::from_secs(60))
        .then_sends(["payment.authorize"])
        .then_status(SagaStatus::Parked);
    assert!(
        saga.history().iter().all(|h| !h.contains("compensat")),
        "{:?}",
        saga.history()
    );
}

#[tokio::test(start_paused = true)]
async fn an_instance_that_no_longer_fits_is_parked_and_the_others_deadlines_still_fire() {
    let store = MemorySagaStore::new(MemoryTransport::new());
    let engine = Engine::new(store.clone());
    // An instance stored by an older release: data of another shape, two steps.
    let broken = Uuid::now_v7();
    let mut progress = edp_core::saga::Progress {
        status: SagaStatus::Running,
        stage: 0,
        steps: vec![
            StepState::Waiting {
                deadline_ms: 0,
                attempts: 1
            };
            2
        ],
        reason: None,
    };
    progress.stage = 0;
    let stored = edp_core::saga::StoredSaga {
        id: broken,
        saga: PlaceOrder::NAME.to_owned(),
        data: br#"{"order":1}"#.to_vec(),
        progress,
        deadline_ms: Some(0),
        version: 0,
    };
    use edp_core::saga::SagaStore;
    store
        .save(&stored, None, &[], Vec::new(), None)
        .await
        .unwrap();
    // And a current one whose stock service never answers.
    let id = Uuid::now_v7();
    engine.start(id, order(10), None).await.unwrap();

    tokio::time::sleep(Duration::from_secs(31)).await;
    engine.fire_due().await.unwrap();
    let parked = engine.list(SagaStatus::Parked, 10).await.unwrap();
    assert_eq!(parked, [broken]);
    assert_eq!(
        engine.get(id).await.unwrap().unwrap().status,
        SagaStatus::Compensated
    );
    assert_eq!(
        store.next_deadline(PlaceOrder::NAME).await.unwrap(),
        None,
        "no deadline left behind"
    );
}

/// A saga store whose next few reads of the next deadline fail: a database blip.
#[derive(Clone)]
struct Blip<S> {
    inner: S,
    failures_left: Arc<std::sync::atomic::AtomicUsize>,
}

impl<S: edp_core::saga::SagaStore> edp_core::saga::SagaStore for Blip<S> {
    fn load(
        &self,
        saga: &'static str,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<edp_core::saga::StoredSaga>, BoxError>> + Send {
        self.inner.load(saga, id)
    }

    fn save(
        &self,
        instance: &edp_core::saga::StoredSaga,
        expected: Option<u64>,
        history: &[edp_core::saga::HistoryEntry],
        commands: Vec<(&'static str, Envelope)>,
        dedup: Option<(&'static str, Uuid)>,
    ) -> impl Future<Output = Result<edp_core::saga::Saved, BoxError>> + Send {
        self.inner
            .save(instance, expected, history, commands, dedup)
    }

    fn seen(
        &self,
        group: &'static str,
        id: Uuid,
    ) -> impl Future<Output = Result<bool, BoxError>> + Send {
        self.inner.seen(group, id)
    }

    fn due(
        &self,
        saga: &'static str,
        now_ms: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Uuid>, BoxError>> + Send {
        self.inner.due(saga, now_ms, limit)
    }

    async fn next_deadline(&self, saga: &'static str) -> Result<Option<i64>, BoxError> {
        let failing = self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err("the database is down".into());
        }
        self.inner.next_deadline(saga).await
    }

    fn history(
        &self,
        saga: &'static str,
        id: Uuid,
    ) -> impl Future<Output = Result<Vec<edp_core::saga::HistoryEntry>, BoxError>> + Send {
        self.inner.history(saga, id)
    }

    fn list(
        &self,
        saga: &'static str,
        status: SagaStatus,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Uuid>, BoxError>> + Send {
        self.inner.list(saga, status, limit)
    }
}

/// The deadline task asks the store for the next deadline after each round; when
/// that read fails it asks again soon, so a deadline is not late by the task's
/// one-minute horizon (this test's step has a 30 s deadline, and nobody answers).
#[tokio::test(start_paused = true)]
async fn a_deadline_fires_on_time_after_the_store_failed_to_say_when_it_is() {
    let bus = TestBus::default();
    let store = Blip {
        inner: MemorySagaStore::new(bus.transport()),
        failures_left: Arc::new(std::sync::atomic::AtomicUsize::new(3)),
    };
    let engine = SagaEngine::<PlaceOrder, _>::new(store.clone());
    let deadlines = engine.run_deadlines();
    let id = Uuid::now_v7();
    let start = tokio::time::Instant::now();
    engine.start(id, order(9), None).await.unwrap();
    let status = loop {
        let view = engine.get(id).await.unwrap().unwrap();
        if view.status.is_final() {
            break view.status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the reserve step's deadline never fired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let waited = start.elapsed();
    assert_eq!(status, SagaStatus::Compensated);
    assert!(
        waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
        "the 30 s deadline fired after {waited:?}"
    );
    assert_eq!(
        store.failures_left.load(Ordering::SeqCst),
        0,
        "the store failed"
    );
    deadlines.shutdown().await;
}
