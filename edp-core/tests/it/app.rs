//! The App: its routes, readiness, task supervision and the shutdown order.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edp_core::app::{App, AppError, Phase, TaskFn, TaskPolicy};
use edp_core::error::BoxError;
use edp_core::handler::Status;
use edp_core::health::Condition as Health;
use edp_core::transport::memory::MemoryTransport;
use edp_core::{Context, Publisher, Service};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Ping;

/// What happened, in order, with the time since the test began.
#[derive(Clone, Default)]
struct Journal(Arc<Mutex<Vec<&'static str>>>);

impl Journal {
    fn note(&self, what: &'static str) {
        self.0.lock().unwrap().push(what);
    }
    fn entries(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().clone()
    }
    fn position(&self, what: &str) -> usize {
        let entries = self.entries();
        entries
            .iter()
            .position(|e| *e == what)
            .unwrap_or_else(|| panic!("`{what}` never happened; the journal: {entries:?}"))
    }
}

/// One HTTP/1.1 request on a new connection; the status code and the body.
async fn get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    conn.write_all(
        format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut raw = String::new();
    conn.read_to_string(&mut raw).await?;
    let status = raw
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {raw:?}")))?;
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    Ok((status, body))
}

#[tokio::test]
async fn the_app_serves_its_routes_health_and_metrics() {
    let transport = MemoryTransport::new();
    let app = App::new("pinger")
        .service(
            Service::builder("pinger", transport.clone())
                .topic("pings")
                .build(),
        )
        .task(TaskFn::new(
            "idle",
            |stop: tokio_util::sync::CancellationToken| async move {
                stop.cancelled().await;
                Ok::<_, BoxError>(())
            },
        ))
        .check("database", || async { Ok::<_, BoxError>(()) })
        .routes(axum::Router::new().route("/v1/hello", axum::routing::get(|| async { "hello" })))
        .transport(transport)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let addr = app.local_addr();

    assert_eq!(get(addr, "/v1/hello").await.unwrap(), (200, "hello".into()));
    assert_eq!(get(addr, "/health/live").await.unwrap().0, 200);
    let (status, body) = get(addr, "/health/ready").await.unwrap();
    assert_eq!(status, 200, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "shutdown",
            "consumers",
            "task:idle",
            "database",
            "transport"
        ]
    );
    let (status, metrics) = get(addr, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"http_server_request_duration_seconds_count{method="GET",route="/v1/hello",status="200"} 1"#),
        "the telemetry layer measured the earlier requests: {metrics}"
    );
    app.shutdown().await.unwrap();
    assert!(
        get(addr, "/health/live").await.is_err(),
        "the listener is closed after shutdown"
    );
}

// ANCHOR: shutdown_order
#[tokio::test]
async fn shutdown_finishes_requests_then_handlers_then_tasks_then_closes_the_transport() {
    let journal = Journal::default();
    let transport = MemoryTransport::new();

    // A request that takes 300 ms, a handler that takes 300 ms, a relay-like task that
    // publishes once more when stopped, and a registration stopped first.
    let slow_route = {
        let journal = journal.clone();
        axum::routing::get(move || {
            let journal = journal.clone();
            async move {
                journal.note("request started");
                tokio::time::sleep(Duration::from_millis(300)).await;
                journal.note("request finished");
                "done"
            }
        })
    };
    let handler = {
        let journal = journal.clone();
        move |_ctx: Context, _ping: Ping| {
            let journal = journal.clone();
            async move {
                journal.note("handler started");
                tokio::time::sleep(Duration::from_millis(300)).await;
                journal.note("handler finished");
                Ok::<_, BoxError>(())
            }
        }
    };
    let mut service = Service::builder("pinger", transport.clone())
        .handler(handler)
        .build();
    let mut outcomes = service.observe();
    let relay = {
        let journal = journal.clone();
        let publisher = Publisher::new("relay", transport.clone());
        TaskFn::new("relay", move |stop: tokio_util::sync::CancellationToken| {
            let journal = journal.clone();
            let publisher = publisher.clone();
            async move {
                stop.cancelled().await;
                journal.note("relay stopping");
                // Its batch in flight still reaches the transport.
                let last = publisher
                    .publish(&Ping {
                        key: "late".into(),
                        n: 0,
                    })
                    .await;
                journal.note(if last.is_ok() {
                    "relay published"
                } else {
                    "relay could not publish"
                });
                Ok::<_, BoxError>(())
            }
        })
    };
    let registration = {
        let journal = journal.clone();
        TaskFn::new(
            "registration",
            move |stop: tokio_util::sync::CancellationToken| {
                let journal = journal.clone();
                async move {
                    stop.cancelled().await;
                    journal.note("deregistered");
                    Ok::<_, BoxError>(())
                }
            },
        )
        .phase(Phase::Intake)
    };
    let app = App::new("pinger")
        .service(service)
        .task(relay)
        .task(registration)
        .routes(axum::Router::new().route("/slow", slow_route))
        .transport(transport.clone())
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let addr = app.local_addr();
    let health = app.health().clone();
    assert_eq!(health.ready().await.status, Health::Up);

    let request = tokio::spawn(get(addr, "/slow"));
    let id = Publisher::new("test", transport.clone())
        .publish(&Ping {
            key: "a".into(),
            n: 1,
        })
        .await
        .unwrap();
    while !(journal.entries().contains(&"request started")
        && journal.entries().contains(&"handler started"))
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let stopping = tokio::spawn(app.shutdown());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        health.ready().await.status,
        Health::Down,
        "unready from the first step"
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "new connections are refused from the first step"
    );
    stopping.await.unwrap().unwrap();

    assert_eq!(
        request.await.unwrap().unwrap(),
        (200, "done".into()),
        "the request in flight finished"
    );
    let outcome = outcomes.recv().await.unwrap();
    assert_eq!(
        (outcome.id, outcome.status),
        (id, Status::Handled),
        "the handler in flight finished and acked"
    );
    assert!(journal.position("deregistered") < journal.position("request finished"));
    assert!(journal.position("request finished") < journal.position("relay stopping"));
    assert!(journal.position("handler finished") < journal.position("relay stopping"));
    assert!(
        journal.entries().contains(&"relay published"),
        "the transport closed after the tasks: {:?}",
        journal.entries()
    );
    assert!(
        Publisher::new("test", transport)
            .publish(&Ping {
                key: "b".into(),
                n: 2
            })
            .await
            .is_err(),
        "the transport is closed at the end"
    );
}
// ANCHOR_END: shutdown_order

#[tokio::test]
async fn a_failing_task_is_restarted_and_readiness_reports_it_meanwhile() {
    let runs = Arc::new(Mutex::new(0u32));
    let flaky = {
        let runs = runs.clone();
        TaskFn::new("flaky", move |stop: tokio_util::sync::CancellationToken| {
            let runs = runs.clone();
            async move {
                let n = {
                    let mut runs = runs.lock().unwrap();
                    *runs += 1;
                    *runs
                };
                if n <= 2 {
                    return Err::<(), BoxError>(format!("run {n} failed").into());
                }
                stop.cancelled().await;
                Ok(())
            }
        })
    };
    let app = App::new("flaky")
        .task_with(
            flaky,
            TaskPolicy::Restart {
                first: Duration::from_millis(200),
                max: Duration::from_millis(400),
            },
        )
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let health = app.health().clone();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let report = health.ready().await;
    assert_eq!(report.status, Health::Down);
    let check = report
        .checks
        .iter()
        .find(|c| c.name == "task:flaky")
        .unwrap();
    assert!(
        check.error.as_deref().unwrap().contains("run 1 failed"),
        "{check:?}"
    );

    let started = Instant::now();
    while health.ready().await.status == Health::Down {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the task never came back: {:?}",
            health.ready().await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(*runs.lock().unwrap(), 3, "restarted twice, then it ran");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_task_whose_policy_ends_the_app_ends_it_with_its_error() {
    let stopped = Journal::default();
    let other = {
        let stopped = stopped.clone();
        TaskFn::new("other", move |stop: tokio_util::sync::CancellationToken| {
            let stopped = stopped.clone();
            async move {
                stop.cancelled().await;
                stopped.note("other stopped");
                Ok::<_, BoxError>(())
            }
        })
    };
    let app = App::new("fatal")
        .task(other)
        .task_with(
            TaskFn::new("migration", |_stop| async {
                Err::<(), BoxError>("the schema is newer than this build".into())
            }),
            TaskPolicy::EndApp,
        )
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let ended = tokio::time::timeout(
        Duration::from_secs(5),
        app.run_until(std::future::pending()),
    )
    .await
    .expect("the app ended by itself");
    match ended {
        Err(AppError::Task { task, source }) => {
            assert_eq!(task, "migration");
            assert_eq!(source.to_string(), "the schema is newer than this build");
        }
        other => panic!("expected the task's error, got {other:?}"),
    }
    assert_eq!(
        stopped.entries(),
        ["other stopped"],
        "the other parts were stopped in order"
    );
}

#[tokio::test]
async fn a_port_in_use_fails_at_start_and_names_the_address() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let err = App::new("clash").start(addr.to_string()).await.unwrap_err();
    assert!(matches!(err, AppError::Bind { .. }));
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[tokio::test]
async fn a_second_signal_ends_the_shutdown_at_once() {
    let slow = axum::routing::get(|| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        "late"
    });
    let app = App::new("slow")
        .routes(axum::Router::new().route("/slow", slow))
        .shutdown_grace(Duration::from_secs(20))
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let addr = app.local_addr();
    let request = tokio::spawn(get(addr, "/slow"));
    tokio::time::sleep(Duration::from_millis(100)).await;

    let (trigger, mut signals) = edp_core::shutdown::Signals::manual();
    let running = tokio::spawn(async move { app.run_with(&mut signals).await });
    trigger.send();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !running.is_finished(),
        "the first signal waits for the request in flight"
    );
    let second = Instant::now();
    trigger.send();
    let ended = tokio::time::timeout(Duration::from_secs(2), running)
        .await
        .expect("the second signal ends it at once")
        .unwrap();
    assert!(matches!(ended, Err(AppError::Interrupted)), "{ended:?}");
    assert!(second.elapsed() < Duration::from_secs(2));
    request.abort();
}
