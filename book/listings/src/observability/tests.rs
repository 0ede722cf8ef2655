use edp_core::error::BoxError;
use edp_core::transport::memory::MemoryTransport;
use edp_core::{Context, Publisher, Service};

use crate::quickstart::OrderPlaced;

// ANCHOR: metrics_test
#[tokio::test]
async fn handled_events_show_in_the_metrics() {
    let transport = MemoryTransport::new();
    let mut service = Service::builder("billing", transport.clone())
        .handler(|_ctx: Context, _order: OrderPlaced| async { Ok::<(), BoxError>(()) })
        .build();
    let mut outcomes = service.observe();
    let running = service.start().await.unwrap();
    let order = OrderPlaced {
        order_id: "o-1".into(),
        total_cents: 1200,
    };
    Publisher::new("shop", transport)
        .publish(&order)
        .await
        .unwrap();
    outcomes.recv().await.unwrap();
    running.shutdown().await.unwrap();

    let (content_type, body) = super::metrics_response();
    assert!(content_type.starts_with("text/plain; version=0.0.4"));
    assert!(body.contains(
        r#"edp_handler_duration_seconds_count{event_type="order.placed",group="billing",outcome="handled"} 1"#
    ));
}
// ANCHOR_END: metrics_test

#[tokio::test]
async fn readiness_is_up_while_the_consumer_holds_its_partitions() {
    let running = Service::builder("audit", MemoryTransport::new())
        .topic("orders")
        .build()
        .start()
        .await
        .unwrap();
    let health = super::readiness(std::slice::from_ref(&running), || Ok(()));
    assert_eq!(health.ready().await.status, edp_core::health::Condition::Up);
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn traced_services_answer_as_before() {
    use tower::{Service as _, ServiceExt as _};
    let mut svc = super::traced(tower::service_fn(|_req: http::Request<()>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new("ok"))
    }));
    let mut req = http::Request::new(());
    req.extensions_mut().insert(super::Route("/v1/orders"));
    let res = svc.ready().await.unwrap().call(req).await.unwrap();
    assert_eq!(*res.body(), "ok");
    assert!(edp_core::telemetry::metrics::render().contains(r#"route="/v1/orders""#));
}
