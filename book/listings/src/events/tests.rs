use std::time::Duration;

use edp_core::event::headers;
use edp_core::testkit::TestBus;
use edp_core::{Codec, Envelope, Event, JsonCodec, Publisher, Service};

use super::*;

const WAIT: Duration = Duration::from_secs(5);

// ANCHOR: constants
#[test]
fn attributes_become_constants_and_the_key() {
    assert_eq!(OrderShipped::NAME, "order.shipped");
    assert_eq!(OrderShipped::VERSION, 1);
    assert_eq!(OrderShipped::TOPIC, "shipping");
    let shipped = OrderShipped {
        order_id: 42,
        tracking_code: "TR-1".into(),
    };
    assert_eq!(shipped.key().as_deref(), Some("42"));

    assert_eq!(AuditLogged::TOPIC, "audit.logged");
    assert_eq!(AuditLogged::VERSION, 1);
    assert_eq!(AuditLogged { line: "x".into() }.key(), None);
}
// ANCHOR_END: constants

#[test]
fn a_hand_written_event_is_an_event() {
    let refund = RefundIssued {
        order_id: Some("o-1".into()),
        amount_cents: 500,
    };
    assert_eq!(RefundIssued::NAME, "refund.issued");
    assert_eq!(refund.key().as_deref(), Some("o-1"));
    let goodwill = RefundIssued {
        order_id: None,
        amount_cents: 500,
    };
    assert_eq!(goodwill.key(), None);
}

// ANCHOR: decode_v1
#[test]
fn a_version_1_payload_decodes_as_version_2() {
    let v1 = Envelope::builder(
        CustomerRegistered::NAME,
        &br#"{"customer_id":"c-1","email":"ada@example.com"}"#[..],
    )
    .dataversion(1)
    .build();
    let customer: CustomerRegistered = JsonCodec.decode(&v1).unwrap();
    assert!(!customer.marketing_opt_in);
}
// ANCHOR_END: decode_v1

#[test]
fn the_envelope_carries_cloudevents_attributes() {
    let env = envelope_by_hand();
    assert_eq!(env.event_type, "order.shipped");
    assert_eq!(&*env.source, "warehouse");
    assert_eq!(env.key(), Some("42"));
    assert_eq!(env.datacontenttype, "application/json");
    assert_eq!(env.correlation_id(), "req-7f3a");
    assert_eq!(env.id.get_version_num(), 7);
    let shipped: OrderShipped = JsonCodec.decode(&env).unwrap();
    assert_eq!(shipped.tracking_code, "TR-1");
}

#[tokio::test]
async fn a_publisher_fills_in_the_envelope() {
    let bus = TestBus::new();
    let mut shipping = bus.record(["shipping"]).await;
    let publisher = Publisher::new("warehouse", bus.transport());
    let shipped = OrderShipped {
        order_id: 42,
        tracking_code: "TR-1".into(),
    };
    let id = publisher.publish(&shipped).await.unwrap();
    let (_, env) = shipping.expect::<OrderShipped>(WAIT).await.unwrap();
    assert_eq!(env.id, id);
    assert_eq!(&*env.source, "warehouse");
    assert_eq!(env.subject.as_deref(), Some("42"));
    assert_eq!(env.dataversion, OrderShipped::VERSION);
    assert_eq!(env.datacontenttype, "application/json");
    assert_eq!(
        env.correlation_id(),
        id.to_string(),
        "a root event is its own correlation"
    );
    assert_eq!(env.causation_id(), None);
}

// ANCHOR: correlation_test
#[tokio::test]
async fn correlation_flows_from_the_request_through_every_handler() {
    let bus = TestBus::new();
    let mut audit = bus.record(["audit.logged"]).await;
    let auditor = Service::builder("auditor", bus.transport())
        .handler(audit_shipment)
        .build();
    let _running = bus.start(auditor).await;

    let warehouse = Publisher::new("warehouse", bus.transport());
    let shipped = OrderShipped {
        order_id: 42,
        tracking_code: "TR-1".into(),
    };
    let shipped_id = publish_for_request(&warehouse, &shipped, "req-7f3a")
        .await
        .unwrap();

    let (line, env) = audit.expect::<AuditLogged>(WAIT).await.unwrap();
    assert_eq!(line.line, "order 42 shipped: TR-1");
    assert_eq!(env.correlation_id(), "req-7f3a"); // the request's, carried forward
    assert_eq!(env.causation_id(), Some(shipped_id.to_string().as_str())); // its parent
    assert_eq!(&*env.source, "auditor");
}
// ANCHOR_END: correlation_test

#[tokio::test]
async fn the_welcome_handler_reads_both_versions() {
    let bus = TestBus::new();
    let mut b = Service::builder("welcome", bus.transport()).handler(welcome);
    let mut outcomes = b.observe();
    let _running = bus.start(b.build()).await;
    let v1 = Envelope::builder(
        CustomerRegistered::NAME,
        &br#"{"customer_id":"c-1","email":"ada@example.com"}"#[..],
    )
    .subject("c-1")
    .dataversion(1)
    .header(headers::CORRELATION_ID, "req-1")
    .build();
    let v1_id = v1.id;
    bus.publish_raw(CustomerRegistered::TOPIC, v1).await;
    let v2_id = bus
        .publish(&CustomerRegistered {
            customer_id: "c-2".into(),
            email: "grace@example.com".into(),
            marketing_opt_in: true,
        })
        .await;
    let mut handled = Vec::new();
    while handled.len() < 2 {
        let o = tokio::time::timeout(WAIT, outcomes.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(o.status, edp_core::handler::Status::Handled);
        handled.push(o.id);
    }
    let mut published = vec![v1_id, v2_id];
    published.sort();
    handled.sort();
    assert_eq!(handled, published);
}
