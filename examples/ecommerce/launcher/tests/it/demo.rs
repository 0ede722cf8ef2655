//! The demo, run as a function: every outcome follows the payment rule.

use ecommerce::{DemoOptions, demo, demo_order};
use ecommerce_notification::NotificationKind;
use ecommerce_order::OrderStatus;

/// The rule, restated here on purpose rather than calling `decide`.
fn by_the_rule(total_cents: u64) -> OrderStatus {
    if total_cents > 50_000 {
        OrderStatus::Cancelled
    } else {
        OrderStatus::Confirmed
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_of_100_orders_follows_the_payment_rule() {
    let report = demo(DemoOptions::default().orders(100))
        .await
        .expect("demo runs");
    assert_eq!(report.orders.len(), 100);
    for (i, order) in report.orders.iter().enumerate() {
        assert_eq!(Ok(order.total_cents), demo_order(i).validate(), "order {i}");
        let expected = by_the_rule(order.total_cents);
        assert_eq!(order.status, expected, "order {i}: {order:?}");
        assert_eq!(order.expected, expected, "order {i}: {order:?}");
        let kind = match expected {
            OrderStatus::Confirmed => NotificationKind::OrderConfirmed,
            _ => NotificationKind::OrderCancelled,
        };
        assert_eq!(order.notifications, [kind], "order {i}: one notification");
    }
    let confirmed = report.count(OrderStatus::Confirmed);
    let cancelled = report.count(OrderStatus::Cancelled);
    assert_eq!(confirmed + cancelled, 100);
    assert_eq!(
        confirmed,
        (0..100)
            .filter(|&i| demo_order(i).validate().is_ok_and(|t| t <= 50_000))
            .count()
    );
    assert!(confirmed > 0 && cancelled > 0, "{confirmed} / {cancelled}");
    assert_eq!(report.notifications, 100);
    assert!(report.mismatches().is_empty());
    assert!(report.is_ok());
    assert!(report.summary().starts_with("100 orders in "));
    assert!(
        report
            .summary()
            .ends_with("100 notifications; all as the payment rule says"),
        "{}",
        report.summary()
    );
}

#[test]
fn demo_orders_straddle_the_limit_and_hit_it_exactly() {
    let totals: Vec<u64> = (0..100)
        .map(|i| demo_order(i).validate().expect("demo orders are valid"))
        .collect();
    assert!(totals.iter().filter(|&&t| t > 50_000).count() >= 20);
    assert!(totals.iter().filter(|&&t| t < 50_000).count() >= 20);
    assert!(totals.contains(&50_000));
    assert!(totals.contains(&50_001));
    assert_eq!(
        totals,
        (0..100)
            .map(|i| demo_order(i).validate().expect("valid"))
            .collect::<Vec<_>>(),
        "deterministic"
    );
}

/// The whole system on a bus that delivers some events twice and loses some acks (so
/// those come again after their effects): every order still ends as the rule says,
/// with exactly one notification. The services' handlers are idempotent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_holds_under_duplicates_and_lost_acks() {
    use edp_core::testkit::{Faults, Faulty};
    use edp_core::transport::memory::MemoryTransport;

    let transport = Faulty::new(
        MemoryTransport::new(),
        Faults::default().duplicate(0.25).lose_ack(0.25).seed(3),
    );
    let addr = "127.0.0.1:0".parse().expect("an address");
    let system = ecommerce::start_on(transport.clone(), addr)
        .await
        .expect("starts");
    let report = ecommerce::drive(system.local_addr(), DemoOptions::default().orders(50))
        .await
        .expect("the demo runs");
    assert!(
        report.is_ok(),
        "{}\n{:?}",
        report.summary(),
        report.mismatches()
    );
    let stats = transport.stats();
    assert!(
        stats.duplicated > 5 && stats.acks_lost > 5,
        "faults were injected: {stats:?}"
    );
    system.shutdown().await.expect("clean shutdown");
}
