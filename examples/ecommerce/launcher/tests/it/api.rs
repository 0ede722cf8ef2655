//! The HTTP API: status codes, headers and problem details.

use bytes::Bytes;
use ecommerce::client::{HttpClient, Response};
use ecommerce_contracts::OrderLine;
use ecommerce_order::problem::{CONTENT_TYPE, Problem};
use ecommerce_order::{OrderList, OrderStatus, PlaceOrder};
use hyper::Method;

use crate::{order_of, place, start};

async fn post_raw(client: &mut HttpClient, content_type: Option<&str>, body: &str) -> Response {
    client
        .send(
            Method::POST,
            "/v1/orders",
            content_type,
            Bytes::copy_from_slice(body.as_bytes()),
        )
        .await
        .expect("POST /v1/orders")
}

/// Asserts `response` is problem details with `status`, and returns them.
fn problem(response: &Response, status: u16) -> Problem {
    assert_eq!(response.status, status, "body: {}", response.text());
    assert_eq!(response.content_type(), Some(CONTENT_TYPE));
    let problem: Problem = response.json().expect("problem details");
    assert_eq!(problem.status, status);
    assert!(!problem.title.is_empty());
    problem
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placing_an_order_answers_201_with_location_and_settles_it() {
    let (system, mut client) = start().await;
    let response = client
        .post_json("/v1/orders", &order_of(3_000))
        .await
        .expect("POST");
    assert_eq!(response.status, 201, "body: {}", response.text());
    assert_eq!(response.content_type(), Some("application/json"));
    let order: ecommerce_order::Order = response.json().expect("order");
    assert_eq!(order.status, OrderStatus::Pending);
    assert_eq!(order.total_cents, 3_000);
    assert_eq!(order.customer_id, "customer-test");
    let location = format!("/v1/orders/{}", order.id);
    assert_eq!(response.header("location"), Some(location.as_str()));

    crate::wait_for_order(&system, &order.id, "the order is confirmed", |o| {
        o.status == OrderStatus::Confirmed
    })
    .await;
    let fetched = client.get(&location).await.expect("GET");
    assert_eq!(fetched.status, 200);
    let fetched: ecommerce_order::Order = fetched.json().expect("order");
    assert_eq!(fetched.status, OrderStatus::Confirmed);
    assert!(fetched.payment_id.is_some());

    // Its placement saga, as an operator sees it.
    let saga = client
        .get(&format!("{location}/saga"))
        .await
        .expect("GET saga");
    assert_eq!(saga.status, 200, "{}", saga.text());
    let saga: ecommerce_order::SagaReport = saga.json().expect("a saga report");
    assert_eq!(saga.status, "COMPLETED");
    assert_eq!(saga.deadline_ms, None);
    let steps: Vec<&str> = saga.steps.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        steps,
        ["reserve_stock", "authorize_payment", "confirm_order"]
    );
    assert_eq!(saga.history.first().map(String::as_str), Some("started"));
    assert_eq!(saga.history.last().map(String::as_str), Some("completed"));
    let none = client.get("/v1/orders/not-a-saga/saga").await.expect("GET");
    assert_eq!(none.status, 404);

    let list: OrderList = client
        .get("/v1/orders")
        .await
        .expect("GET")
        .json()
        .expect("list");
    assert_eq!(list.orders, [fetched]);

    // The events of a settled order have left both outboxes (the last one, the order's
    // `order.confirmed`, may still be on its way for a moment).
    let deadline = tokio::time::Instant::now() + crate::PATIENCE;
    loop {
        let backlog: Vec<ecommerce::OutboxBacklog> = client
            .get("/v1/outbox")
            .await
            .expect("GET /v1/outbox")
            .json()
            .expect("backlogs");
        let services: Vec<&str> = backlog.iter().map(|b| b.service.as_str()).collect();
        assert_eq!(services, ["order", "payment", "product"]);
        if backlog
            .iter()
            .all(|b| b.unpublished == 0 && b.oldest_age_ms.is_none())
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{backlog:?}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    system.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_400_problem_details() {
    let (system, mut client) = start().await;
    let response = post_raw(
        &mut client,
        Some("application/json"),
        r#"{"customer_id": "c-1", "items": ["#,
    )
    .await;
    let problem = problem(&response, 400);
    assert_eq!(problem.type_uri, Problem::MALFORMED_REQUEST);
    assert!(
        problem.detail.contains("parse the request body as JSON") && problem.detail.contains("EOF"),
        "detail: {}",
        problem.detail
    );
    assert_eq!(crate::order_count(&system).await, 0);
    system.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_wrong_content_type_is_400_naming_it() {
    let (system, mut client) = start().await;
    let body = serde_json::to_string(&order_of(100)).expect("json");

    let missing = problem(&post_raw(&mut client, None, &body).await, 400);
    assert_eq!(missing.type_uri, Problem::MALFORMED_REQUEST);
    assert!(
        missing.detail.contains("`Content-Type: application/json`")
            && missing.detail.contains("no content type"),
        "detail: {}",
        missing.detail
    );

    let wrong = problem(&post_raw(&mut client, Some("text/plain"), &body).await, 400);
    assert!(
        wrong.detail.contains("got `text/plain`"),
        "detail: {}",
        wrong.detail
    );
    assert_eq!(crate::order_count(&system).await, 0);
    system.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_order_is_422_naming_the_field() {
    let (system, mut client) = start().await;
    let line = |quantity, unit_price_cents| OrderLine {
        product_id: "sku".into(),
        quantity,
        unit_price_cents,
    };
    let cases = [
        (
            PlaceOrder {
                customer_id: "c".into(),
                items: vec![line(1, 100), line(0, 100)],
            },
            "items[1].quantity must be at least 1",
            "#/items/1/quantity",
        ),
        (
            PlaceOrder {
                customer_id: "".into(),
                items: vec![line(1, 100)],
            },
            "customer_id must not be empty",
            "#/customer_id",
        ),
        (
            PlaceOrder {
                customer_id: "c".into(),
                items: Vec::new(),
            },
            "items must contain at least one line",
            "#/items",
        ),
        (
            PlaceOrder {
                customer_id: "c".into(),
                items: vec![line(1, 0)],
            },
            "items[0].unit_price_cents must be at least 1",
            "#/items/0/unit_price_cents",
        ),
        (
            PlaceOrder {
                customer_id: "c".into(),
                items: vec![line(1, 100); 101],
            },
            "items must contain at most 100 lines (got 101)",
            "#/items",
        ),
    ];
    for (request, detail, pointer) in cases {
        let response = client
            .post_json("/v1/orders", &request)
            .await
            .expect("POST");
        let problem = problem(&response, 422);
        assert_eq!(problem.type_uri, Problem::INVALID_REQUEST);
        assert_eq!(problem.detail, detail);
        assert_eq!(problem.errors.len(), 1);
        assert_eq!(problem.errors[0].pointer, pointer);
    }

    // JSON of the wrong shape is 422 too, naming the field.
    let wrong_type = post_raw(
        &mut client,
        Some("application/json"),
        r#"{"customer_id":"c","items":[{"product_id":"p","quantity":"two","unit_price_cents":1}]}"#,
    )
    .await;
    let problem = problem(&wrong_type, 422);
    assert!(
        problem.detail.contains("items[0].quantity"),
        "detail: {}",
        problem.detail
    );

    assert_eq!(
        crate::order_count(&system).await,
        0,
        "no invalid order is stored"
    );
    system.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_order_is_404_problem_details() {
    let (system, mut client) = start().await;
    place(&mut client, &order_of(100)).await;
    let response = client.get("/v1/orders/no-such-order").await.expect("GET");
    let problem = problem(&response, 404);
    assert_eq!(problem.type_uri, Problem::NOT_FOUND);
    assert_eq!(problem.detail, "order `no-such-order` does not exist");
    assert_eq!(
        problem.instance.as_deref(),
        Some("/v1/orders/no-such-order")
    );
    system.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_are_problem_details() {
    let (system, mut client) = start().await;
    let unknown = problem(&client.get("/v2/orders").await.expect("GET"), 404);
    assert_eq!(unknown.detail, "no route for GET /v2/orders");
    let method = client
        .send(Method::DELETE, "/v1/orders", None, Bytes::new())
        .await
        .expect("DELETE");
    let problem = problem(&method, 405);
    assert_eq!(problem.detail, "/v1/orders does not support DELETE");
    assert_eq!(method.header("allow"), Some("GET,HEAD,POST"));
    system.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_post_with_the_same_idempotency_key_places_one_order() {
    let (system, mut client) = start().await;
    let key = [("idempotency-key", "checkout-7f3a")];
    let first = client
        .post_json_with("/v1/orders", &order_of(2_000), &key)
        .await
        .expect("POST");
    assert_eq!(first.status, 201, "{}", first.text());
    let first: ecommerce_order::Order = first.json().expect("order");
    let again = client
        .post_json_with("/v1/orders", &order_of(2_000), &key)
        .await
        .expect("POST again");
    assert_eq!(again.status, 201, "{}", again.text());
    let again: ecommerce_order::Order = again.json().expect("order");
    assert_eq!(again.id, first.id, "the retry answers with the first order");

    let other = client
        .post_json_with("/v1/orders", &order_of(9_000), &key)
        .await
        .expect("POST other");
    let p = problem(&other, 422);
    assert!(p.detail.contains("different request"), "{}", p.detail);

    let bad = client
        .post_json_with(
            "/v1/orders",
            &order_of(2_000),
            &[("idempotency-key", "with space")],
        )
        .await
        .expect("POST bad key");
    let p = problem(&bad, 400);
    assert!(p.detail.contains("Idempotency-Key"), "{}", p.detail);

    // The list is the read model, a projection of the order events: once it shows the
    // order settled, it has seen every order placed before.
    crate::wait_for_order(&system, &first.id, "the order settles", |o| {
        o.status.is_final()
    })
    .await;
    let list: OrderList = client
        .get("/v1/orders")
        .await
        .expect("GET")
        .json()
        .expect("list");
    assert_eq!(list.orders.len(), 1, "one order for one key");
    system.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_live_and_ready_answer_with_a_json_report() {
    let (system, mut client) = start().await;
    let live = client.get("/health/live").await.expect("GET /health/live");
    assert_eq!(live.status, 200);
    let ready = client
        .get("/health/ready")
        .await
        .expect("GET /health/ready");
    assert_eq!(ready.status, 200, "{}", ready.text());
    assert_eq!(ready.content_type(), Some("application/json"));
    let report: edp_core::health::Report = ready.json().expect("a report");
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "shutdown",
            "consumers",
            "task:projection:orders-view",
            "task:saga-deadlines:place-order",
            "task:outbox-relay:order",
            "task:inbox-purge:order",
            "order-database",
            "task:outbox-relay:payment",
            "task:inbox-purge:payment",
            "payment-database",
            "task:outbox-relay:product",
            "task:inbox-purge:product",
            "product-database",
            "transport"
        ]
    );
    assert!(
        report
            .checks
            .iter()
            .all(|c| c.status == edp_core::health::Condition::Up)
    );
    system.shutdown().await.expect("clean shutdown");
}
