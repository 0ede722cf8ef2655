//! At-least-once delivery: a redelivered event changes nothing twice and sends no
//! second notification.

use std::time::Duration;

use ecommerce::client::HttpClient;
use ecommerce_contracts::{CancelOrder, ConfirmOrder, OrderConfirmed, PaymentSucceeded};
use ecommerce_notification::{NotificationKind, Notifier, Outbox};
use ecommerce_order::{Order, OrderBook, OrderCommand, OrderStatus, OrderStore};
use edp_core::handler::Message;
use edp_core::transport::Transport;
use edp_core::transport::memory::{MemoryConfig, MemoryTransport};
use edp_core::{Context, Envelope, Event, Publisher};
use edp_sql::outbox::Relay;
use tokio_util::sync::CancellationToken;

use edp_core::testkit::TestBus;

use crate::{ANY_PORT, PATIENCE, order_of, place, wait_until};

/// A context for handling `envelope` directly, publishing as `service` on `transport`.
fn context(envelope: &Envelope, service: &str, transport: &MemoryTransport) -> Context {
    Context::new(
        Message::new(envelope.clone(), "test"),
        Publisher::new(service.to_owned(), transport.clone()),
        CancellationToken::new(),
    )
}

fn envelope_of<E: Event>(event: &E, transport: &MemoryTransport) -> Envelope {
    Publisher::new("test", transport.clone())
        .envelope(event, None)
        .expect("encodes")
}

/// End to end: the same `payment.succeeded` and `order.confirmed` envelopes published
/// again, twice, through the running system.
///
/// With one partition per topic every group handles events in publish order, so once
/// a later order is notified, the duplicates have been handled: no sleep decides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_payment_is_notified_once() {
    let transport = MemoryTransport::with_config(MemoryConfig::default().partitions(1));
    let mut payments = TestBus::on(transport.clone()).record(["payments"]).await;
    let mut orders = TestBus::on(transport.clone()).record(["orders"]).await;
    let system = ecommerce::start_on(transport.clone(), ANY_PORT)
        .await
        .expect("system starts");
    let mut client = HttpClient::connect(system.local_addr())
        .await
        .expect("connects");

    let first = place(&mut client, &order_of(1_000)).await;
    let outbox = system.outbox().clone();
    wait_until("the first order is notified", || outbox.len() == 1).await;
    let paid = payments
        .until(PATIENCE, |e| e.event_type == PaymentSucceeded::NAME)
        .await
        .expect("the awaited event came")
        .pop()
        .expect("payment.succeeded");
    let confirmed = orders
        .until(PATIENCE, |e| e.event_type == OrderConfirmed::NAME)
        .await
        .expect("the awaited event came")
        .pop()
        .expect("order.confirmed");
    let payment_id = crate::wait_for_order(
        &system,
        &first.id,
        "the read model shows it confirmed",
        |o| o.status == OrderStatus::Confirmed,
    )
    .await
    .payment_id;
    assert!(payment_id.is_some());

    transport
        .publish("payments", vec![(*paid).clone(), (*paid).clone()])
        .await
        .expect("republish payment.succeeded");
    transport
        .publish("orders", vec![(*confirmed).clone(), (*confirmed).clone()])
        .await
        .expect("republish order.confirmed");

    // The barrier: an order placed after the duplicates.
    let second = place(&mut client, &order_of(2_000)).await;
    let second_id = second.id.clone();
    wait_until("the second order is notified", || {
        outbox.for_order(&second_id).len() == 1
    })
    .await;

    assert_eq!(outbox.for_order(&first.id).len(), 1, "{:?}", outbox.list());
    assert_eq!(outbox.len(), 2);
    crate::wait_for_order(
        &system,
        &second_id,
        "the read model shows the second confirmed",
        |o| o.status == OrderStatus::Confirmed,
    )
    .await;
    let first_now = system
        .order(&first.id)
        .await
        .expect("reads")
        .expect("order");
    assert_eq!(first_now.status, OrderStatus::Confirmed);
    assert_eq!(
        first_now.payment_id, payment_id,
        "the payment id did not change"
    );

    // The order service published no second `order.confirmed` for the first order:
    // every one seen up to the second order's is the original or our two copies.
    let seen = orders
        .until(PATIENCE, |e| {
            e.event_type == OrderConfirmed::NAME && e.subject.as_deref() == Some(&second.id)
        })
        .await
        .expect("the awaited event came");
    let first_confirmations: Vec<_> = seen
        .iter()
        .filter(|e| e.event_type == OrderConfirmed::NAME && e.subject.as_deref() == Some(&first.id))
        .collect();
    assert_eq!(first_confirmations.len(), 2, "only our two copies");
    assert!(first_confirmations.iter().all(|e| e.id == confirmed.id));
    system.shutdown().await.expect("clean shutdown");
}

/// The saga's `ConfirmOrder` handled twice: the event-sourced order records one
/// `order.confirmed` (one outbox row, carrying the command's correlation forward); a
/// late `CancelOrder` is refused as permanent and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_confirm_command_confirms_once() {
    let transport = MemoryTransport::new();
    let mut published = TestBus::on(transport.clone()).record(["orders"]).await;
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1) // one connection: `:memory:` is a database per connection
        .connect("sqlite::memory:")
        .await
        .expect("sqlite");
    let orders = OrderStore::open(pool.clone()).await.expect("schema");
    let book = OrderBook::new(orders, edp_core::JsonCodec);
    let id = uuid::Uuid::now_v7().to_string();
    let order = Order {
        id: id.clone(),
        customer_id: "c-1".into(),
        items: Vec::new(),
        total_cents: 1_000,
        status: OrderStatus::Pending,
        payment_id: None,
        cancellation_reason: None,
    };
    book.repository
        .execute(&id, OrderCommand::Place(order))
        .await
        .expect("placed");

    let confirm = ConfirmOrder {
        order_id: id.clone(),
        payment_id: "p-1".into(),
    };
    let envelope = envelope_of(&confirm, &transport);
    for _ in 0..2 {
        ecommerce_order::on_confirm_order(
            book.clone(),
            context(&envelope, "order", &transport),
            confirm.clone(),
        )
        .await
        .expect("handled");
    }
    // A late, contradicting command for the confirmed order is refused.
    let cancel = CancelOrder {
        order_id: id.clone(),
        reason: "late".into(),
    };
    let late = envelope_of(&cancel, &transport);
    let refused =
        ecommerce_order::on_cancel_order(book.clone(), context(&late, "order", &transport), cancel)
            .await
            .expect_err("refused");
    assert!(
        edp_core::error::Permanent::is_permanent(&*refused),
        "{refused}"
    );

    let loaded = book.repository.load(&id).await.expect("loads");
    assert_eq!(loaded.version, 2, "placed and confirmed, once");
    let state = loaded.state.0.expect("the order");
    assert_eq!(state.status, OrderStatus::Confirmed);
    assert_eq!(state.payment_id.as_deref(), Some("p-1"));

    // Two events wait in the outbox (placed, confirmed); the relay publishes them.
    let sent = Relay::new(pool.clone(), transport.clone())
        .drain()
        .await
        .expect("drains");
    assert_eq!(sent, 2);
    let events = published.collect(2, Duration::from_secs(2)).await;
    let confirmed = events
        .iter()
        .find(|e| e.event_type == OrderConfirmed::NAME)
        .expect("order.confirmed");
    assert_eq!(
        confirmed.causation_id(),
        Some(envelope.id.to_string().as_str())
    );
    assert_eq!(confirmed.correlation_id(), envelope.correlation_id());
    assert!(
        published.next(Duration::from_millis(200)).await.is_err(),
        "nothing more was published"
    );
}

/// The notification handlers called twice: one message, to the customer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notification_handler_sends_once_per_order() {
    let transport = MemoryTransport::new();
    let outbox = Outbox::new();
    let notifier = Notifier::new(outbox.clone());
    let placed = ecommerce_contracts::OrderPlaced {
        order_id: "o-1".into(),
        customer_id: "c-1".into(),
        items: Vec::new(),
        total_cents: 1_234,
        coupon: None,
    };
    let env = envelope_of(&placed, &transport);
    ecommerce_notification::on_order_placed(
        notifier.clone(),
        context(&env, "notification", &transport),
        placed,
    )
    .await
    .expect("handled");
    let confirmed = OrderConfirmed {
        order_id: "o-1".into(),
        payment_id: Some("p-1".into()),
    };
    let env = envelope_of(&confirmed, &transport);
    for _ in 0..2 {
        ecommerce_notification::on_order_confirmed(
            notifier.clone(),
            context(&env, "notification", &transport),
            confirmed.clone(),
        )
        .await
        .expect("handled");
    }
    let sent = outbox.list();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].recipient, "c-1");
    assert_eq!(sent[0].kind, NotificationKind::OrderConfirmed);
    assert!(sent[0].body.contains("12.34"), "{}", sent[0].body);
}

/// A sender that holds every send until the test lets it go.
#[derive(Clone)]
struct Gate {
    outbox: Outbox,
    entered: std::sync::Arc<tokio::sync::Notify>,
    open: std::sync::Arc<tokio::sync::Semaphore>,
}

impl ecommerce_notification::Sender for Gate {
    async fn send(
        &self,
        notification: &ecommerce_notification::Notification,
    ) -> Result<(), ecommerce_notification::SendError> {
        self.entered.notify_one();
        let _permit = self.open.acquire().await;
        self.outbox.send(notification).await
    }
}

/// Two copies of one event handled at the same time (a consumer that lost its
/// partition still working while the new owner starts): one sends, the other is told
/// to retry, and its retry finds the order notified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_handled_at_once_send_one_notification() {
    let transport = MemoryTransport::new();
    let gate = Gate {
        outbox: Outbox::new(),
        entered: Default::default(),
        open: std::sync::Arc::new(tokio::sync::Semaphore::new(0)),
    };
    let notifier = Notifier::new(gate.clone());
    let cancelled = ecommerce_contracts::OrderCancelled {
        order_id: "o-2".into(),
        reason: "declined".into(),
    };
    let env = envelope_of(&cancelled, &transport);
    let first = tokio::spawn(ecommerce_notification::on_order_cancelled(
        notifier.clone(),
        context(&env, "notification", &transport),
        cancelled.clone(),
    ));
    gate.entered.notified().await;
    let second = ecommerce_notification::on_order_cancelled(
        notifier.clone(),
        context(&env, "notification", &transport),
        cancelled.clone(),
    )
    .await
    .expect_err("the copy is told to retry");
    assert!(
        second.is::<ecommerce_notification::SendInProgress>(),
        "{second}"
    );
    gate.open.add_permits(10);
    first.await.expect("joins").expect("the first sends");
    ecommerce_notification::on_order_cancelled(
        notifier,
        context(&env, "notification", &transport),
        cancelled,
    )
    .await
    .expect("the retry finds the order notified");
    assert_eq!(gate.outbox.list().len(), 1, "{:?}", gate.outbox.list());
}

/// A payment reply for an order nobody placed (no saga waits for it) is logged and
/// acknowledged: not dead-lettered, not retried, and the system goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_for_no_saga_is_acknowledged() {
    // One partition: the stray is handled before the real order's replies.
    let transport = MemoryTransport::with_config(MemoryConfig::default().partitions(1));
    let mut dead = TestBus::on(transport.clone())
        .record(["payments.dlq"])
        .await;
    let system = ecommerce::start_on(transport.clone(), ANY_PORT)
        .await
        .expect("system starts");
    let stray = PaymentSucceeded {
        order_id: "nobody-placed-this".into(),
        payment_id: "p-x".into(),
        amount_cents: 1,
    };
    Publisher::new("test", transport.clone())
        .publish(&stray)
        .await
        .expect("published");
    let mut client = HttpClient::connect(system.local_addr())
        .await
        .expect("client");
    let order = place(&mut client, &order_of(1_000)).await;
    crate::wait_for_order(&system, &order.id, "the order is confirmed", |o| {
        o.status == OrderStatus::Confirmed
    })
    .await;
    assert!(
        dead.next(Duration::from_millis(200)).await.is_err(),
        "no dead letter"
    );
    assert_eq!(crate::order_count(&system).await, 1);
    system.shutdown().await.expect("clean shutdown");
}
