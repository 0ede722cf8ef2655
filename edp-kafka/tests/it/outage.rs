//! The brokers down at start and in the middle of a run: clear errors, retries, no
//! panic, and the service carries on when the brokers are back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use edp_core::error::BoxError;
use edp_core::{Context, Event, Publisher, Service};
use edp_kafka::testkit::{Broker, free_port};
use edp_kafka::{KafkaConfig, KafkaTransport};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "test.beat", topic = "beats", key = key)]
struct Beat {
    key: String,
    n: u32,
}

const WAIT: Duration = Duration::from_secs(60);

async fn publish_to(
    publisher: &Publisher,
    topic: &str,
    beat: &Beat,
) -> Result<(), edp_core::transport::PublishError> {
    let env = publisher.envelope(beat, None)?;
    publisher.send(topic, vec![env]).await
}

fn config(brokers: &str) -> KafkaConfig {
    crate::init_tracing();
    KafkaConfig::new(brokers)
        .client_id("edp-outage-test")
        .session(Duration::from_secs(2), Duration::from_millis(200))
        .max_poll_interval(Duration::from_secs(10))
        .request_timeout(Duration::from_secs(3))
        .commit_interval(Duration::from_millis(200))
}

fn service(
    transport: KafkaTransport,
    topic: &str,
    tx: mpsc::UnboundedSender<Beat>,
) -> Service<KafkaTransport> {
    Service::builder(
        format!("outage-{}", uuid::Uuid::now_v7().simple()),
        transport,
    )
    .topic(topic.to_owned())
    .handler_with(
        tx,
        |tx: mpsc::UnboundedSender<Beat>, _ctx: Context, b: Beat| async move {
            let _ = tx.send(b);
            Ok::<(), BoxError>(())
        },
    )
    .build()
}

/// Nothing listens: starting fails after the startup timeout, naming the brokers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_broker_at_start_is_a_clear_error_after_retries() {
    let brokers = format!("127.0.0.1:{}", free_port().unwrap());
    let transport =
        KafkaTransport::connect(config(&brokers).startup_timeout(Duration::from_secs(4))).unwrap();
    let started = std::time::Instant::now();
    let (tx, _rx) = mpsc::unbounded_channel();
    let err = service(transport.clone(), "beats-nowhere", tx)
        .start()
        .await
        .expect_err("no broker");
    let text = edp_core::error::chain_to_string(&err);
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "gave up without retrying: {text}"
    );
    assert!(text.contains("cannot subscribe"), "{text}");
    assert!(
        text.contains(&brokers) || text.contains("create topics"),
        "{text}"
    );
    let health = transport.health().await.expect_err("no broker");
    assert!(health.to_string().contains(&brokers), "{health}");
}

/// The service starts before its broker: it waits, and works once the broker is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_started_before_its_broker_waits_for_it() {
    let port = free_port().unwrap();
    let brokers = format!("127.0.0.1:{port}");
    let transport = KafkaTransport::connect(config(&brokers)).unwrap();
    let topic = format!("beats-{}", uuid::Uuid::now_v7().simple());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let starting = tokio::spawn(service(transport.clone(), &topic, tx).start());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!starting.is_finished(), "started without a broker");
    let _broker = Broker::private_on(port).unwrap();
    let running = tokio::time::timeout(WAIT, starting)
        .await
        .expect("started once the broker was up")
        .unwrap()
        .unwrap();
    transport.health().await.unwrap();
    let beat = Beat {
        key: "a".into(),
        n: 1,
    };
    publish_to(&Publisher::new("test", transport.clone()), &topic, &beat)
        .await
        .unwrap();
    let got = tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, beat);
    running.shutdown().await.unwrap();
}

/// A TCP proxy that can cut every connection and refuse new ones, then let them
/// through again: the network between the clients and a broker that keeps its state.
struct Proxy {
    up: Arc<AtomicBool>,
    cut: Arc<tokio::sync::Notify>,
}

impl Proxy {
    async fn start(listen: u16, target: String) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", listen)).await.unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(tokio::sync::Notify::new());
        let (up2, cut2) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused
                }
                let (target, cut) = (target.clone(), cut2.clone());
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        () = cut.notified() => {}
                    }
                });
            }
        });
        Proxy { up, cut }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// The broker becomes unreachable mid-run: publishing fails with a clear error (no
/// panic); when it is reachable again, publishing works and the running service
/// handles the new events, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_carries_on_when_its_broker_comes_back() {
    let port = free_port().unwrap();
    let broker = Broker::private_advertising(port).unwrap();
    let proxy = Proxy::start(port, broker.listener().to_owned()).await;
    let transport =
        KafkaTransport::connect(config(broker.brokers()).delivery_timeout(Duration::from_secs(3)))
            .unwrap();
    let topic = format!("beats-{}", uuid::Uuid::now_v7().simple());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let running = service(transport.clone(), &topic, tx)
        .start()
        .await
        .unwrap();
    let publisher = Publisher::new("test", transport.clone());
    let first = Beat {
        key: "a".into(),
        n: 1,
    };
    publish_to(&publisher, &topic, &first).await.unwrap();
    assert_eq!(
        tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap(),
        first
    );

    proxy.cut();
    let err = publish_to(
        &publisher,
        &topic,
        &Beat {
            key: "a".into(),
            n: 2,
        },
    )
    .await
    .expect_err("the broker is unreachable");
    let text = edp_core::error::chain_to_string(&err);
    assert!(
        text.contains(&format!("cannot publish to `{topic}`")),
        "{text}"
    );
    assert!(text.contains("timed out"), "{text}");

    proxy.restore();
    let again = Beat {
        key: "a".into(),
        n: 3,
    };
    let deadline = std::time::Instant::now() + WAIT;
    while let Err(e) = publish_to(&publisher, &topic, &again).await {
        assert!(
            std::time::Instant::now() < deadline,
            "publishing never recovered: {}",
            edp_core::error::chain_to_string(&e)
        );
    }
    let got = tokio::time::timeout(WAIT, async {
        loop {
            let b = rx.recv().await.unwrap();
            if b.n == 3 {
                return b;
            }
        }
    })
    .await
    .expect("the running service consumed again");
    assert_eq!(got, again);
    running.shutdown().await.unwrap();
}
