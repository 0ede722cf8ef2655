//! The reference system as separate processes on Kafka and PostgreSQL: what the
//! crash and shutdown tests share.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::str::FromStr;
use std::time::{Duration, Instant};

use ecommerce::client::HttpClient;
use sqlx::postgres::{PgConnectOptions, PgPool};
use tokio::process::{Child, Command};

/// A free loopback port.
pub(crate) fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}

/// Where the processes of `services` started by test `test` log (appended to across
/// restarts), for a failure to show.
pub(crate) fn log_path(test: &str, services: &str) -> PathBuf {
    std::env::temp_dir().join(format!("edp-{test}-{}-{services}.log", std::process::id()))
}

/// The last 30 lines of that log.
pub(crate) fn logs(test: &str, services: &str) -> String {
    let text = std::fs::read_to_string(log_path(test, services)).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(30).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// The `ecommerce` binary running `services` (`EDP_SERVICES`) on Kafka and
/// PostgreSQL, logging at `rust_log` to [`log_path`].
pub(crate) fn spawn(
    test: &str,
    services: &str,
    addr: SocketAddr,
    brokers: &str,
    database: &str,
    rust_log: &str,
) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(test, services))
        .map_or_else(|_| Stdio::null(), Stdio::from);
    Command::new(env!("CARGO_BIN_EXE_ecommerce"))
        .args(["run", "--addr", &addr.to_string()])
        .env("EDP_SERVICES", services)
        .env("EDP_TRANSPORT", "kafka")
        .env("KAFKA_BROKERS", brokers)
        .env("KAFKA_SESSION_TIMEOUT_MS", "2000")
        .env("EDP_DATABASE", "postgres")
        .env("DATABASE_URL", database)
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("the ecommerce binary starts")
}

/// Waits until `addr` answers `/health/ready` with 200; fails with `context()` (the
/// processes' logs) after `within`.
pub(crate) async fn ready(addr: SocketAddr, within: Duration, context: impl Fn() -> String) {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(mut client) = HttpClient::connect(addr).await {
            if let Ok(r) = client.get("/health/ready").await {
                if r.status == 200 {
                    return;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "{addr} not ready within {within:?}\n{}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A pool on `database` of the server at `url`.
pub(crate) async fn pool(url: &str, database: &str) -> PgPool {
    let options = PgConnectOptions::from_str(url)
        .expect("a URL")
        .database(database);
    PgPool::connect_with(options).await.expect("connects")
}
