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
