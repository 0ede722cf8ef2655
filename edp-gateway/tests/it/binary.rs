//! The `edp-gateway` binary: registry, config server and gateway as processes, the
//! gateway configured by its file alone; each serves `/health/*` and `/metrics` that
//! `promtool` accepts, and exits 0 on SIGTERM.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use edp_gateway::registry::RegistryClient;

use crate::{TestUpstream, get_path, json};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn start(args: &[&str]) -> Killed {
    Killed(
        Command::new(env!("CARGO_BIN_EXE_edp-gateway"))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("the binary starts"),
    )
}

async fn wait_listening(addr: std::net::SocketAddr) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on {addr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_registry_config_server_and_a_gateway_from_its_file() {
    let registry_addr = free_addr();
    let _registry = start(&["registry", "--addr", &registry_addr.to_string()]);
    let config_addr = free_addr();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/config");
    let _config = start(&[
        "config-server",
        "--dir",
        dir,
        "--addr",
        &config_addr.to_string(),
    ]);
    wait_listening(registry_addr).await;
    wait_listening(config_addr).await;
    assert_eq!(
        json(&get_path(config_addr, "/payment/prod").await)["config"]["database"]["pool"],
        16
    );

    let up = TestUpstream::start().await;
    let registry = RegistryClient::new(&format!("http://{registry_addr}")).unwrap();
    let registration = registry.register("order", "o-1", &up.url()).await.unwrap();
    let gateway_addr = free_addr();
    let file = std::env::temp_dir().join(format!(
        "edp-gateway-{}.toml",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::write(
        &file,
        format!(
            "listen = \"{gateway_addr}\"\nmanagement = \"127.0.0.1:0\"\n\n[[routes]]\nprefix = \"/api/v1/orders\"\nrewrite = \"/echo/v1/orders\"\nupstream = \"order\"\nregistry = \"http://{registry_addr}\"\npublic = true\nrate_limit = {{ requests = 5, per_secs = 60 }}\n"
        ),
    )
    .unwrap();
    let _gateway = start(&["gateway", "--config", &file.display().to_string()]);
    wait_listening(gateway_addr).await;
    let res = get_path(gateway_addr, "/api/v1/orders/7").await;
    assert_eq!(res.status(), 200, "{}", String::from_utf8_lossy(res.body()));
    assert_eq!(json(&res)["path"], "/echo/v1/orders/7");
    for _ in 0..4 {
        let _ = get_path(gateway_addr, "/api/v1/orders/7").await;
    }
    assert_eq!(
        get_path(gateway_addr, "/api/v1/orders/7").await.status(),
        429
    );
    registration.shutdown().await;
    std::fs::remove_file(&file).unwrap();

    // A bad file is refused with the reason.
    let bad = Command::new(env!("CARGO_BIN_EXE_edp-gateway"))
        .args(["gateway", "--config", "/nonexistent/gateway.toml"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("/nonexistent/gateway.toml"));
}

/// A server started from the binary, its address read from what it prints.
struct Served {
    child: Killed,
    addr: SocketAddr,
    // Kept open: a process that prints to a closed pipe fails.
    _stdout: BufReader<ChildStdout>,
}

/// Starts the binary with `args` and reads its stdout up to the line that starts with
/// `prefix` and ends with the address it serves on.
fn serve(args: &[&str], prefix: &str) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edp-gateway"))
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("EDP_MANAGEMENT_ADDR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut child = Killed(child);
    let mut printed = String::new();
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            panic!(
                "{args:?} ended before printing `{prefix}`:\n{printed}{}",
                stderr(&mut child)
            );
        }
        if let Some(url) = line.trim().strip_prefix(prefix) {
            let addr = url.trim_start_matches("http://").parse().unwrap();
            return Served {
                child,
                addr,
                _stdout: stdout,
            };
        }
        printed.push_str(&line);
    }
}

/// What the process wrote to stderr (it must have ended, or this waits).
fn stderr(child: &mut Killed) -> String {
    let mut text = String::new();
    if let Some(mut e) = child.0.stderr.take() {
        let _ = e.read_to_string(&mut text);
    }
    text
}

/// Waits until `GET /health/ready` answers 200; its report.
async fn wait_ready(addr: SocketAddr) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = String::from("nothing listens");
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            let res = get_path(addr, "/health/ready").await;
            if res.status() == 200 {
                return json(&res);
            }
            last = format!("{}: {}", res.status(), String::from_utf8_lossy(res.body()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{addr}/health/ready is not 200 after 10 s; last: {last}");
}

/// The management endpoints of `served` answer (ready, live, metrics that promtool
/// accepts); then SIGTERM stops it with status 0.
async fn check_management_then_sigterm(mut served: Served) {
    let addr = served.addr;
    wait_ready(addr).await;
    let live = get_path(addr, "/health/live").await;
    assert_eq!(
        live.status(),
        200,
        "{}",
        String::from_utf8_lossy(live.body())
    );
    let metrics = get_path(addr, "/metrics").await;
    assert_eq!(metrics.status(), 200);
    assert_eq!(
        metrics.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = String::from_utf8(metrics.body().to_vec()).unwrap();
    // The requests above are measured, by route template.
    assert!(
        text.contains("route=\"/health/ready\""),
        "no /health/ready series in:\n{text}"
    );
    if let Err(complaints) = edp_core::testkit::promtool::check_metrics(&text) {
        panic!("promtool rejects {addr}/metrics: {complaints}\n{text}");
    }
    sigterm_exits_0(&mut served.child);
}

/// Sends SIGTERM and asserts the process exits 0 within 15 s.
fn sigterm_exits_0(child: &mut Killed) {
    let sent = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = child.0.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "still running 15 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "exit {exit:?}; stderr:\n{}", stderr(child));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_serves_health_and_metrics_and_stops_on_sigterm() {
    let served = serve(
        &["registry", "--addr", "127.0.0.1:0"],
        "edp-gateway registry listening on ",
    );
    let services = get_path(served.addr, "/v1/services").await;
    assert_eq!(services.status(), 200);
    check_management_then_sigterm(served).await;
}

/// `/health/live` and `/health/ready` are static routes, which axum matches before the
/// config server's `/{service}/{profile}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_server_serves_health_and_metrics_beside_its_documents() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/config");
    let served = serve(
        &["config-server", "--dir", dir, "--addr", "127.0.0.1:0"],
        "edp-gateway config-server listening on ",
    );
    assert_eq!(
        json(&get_path(served.addr, "/payment/prod").await)["config"]["database"]["pool"],
        16
    );
    let report = json(&get_path(served.addr, "/health/live").await);
    assert_eq!(report["status"], "UP", "{report}");
    check_management_then_sigterm(served).await;
}

/// The gateway serves `/health/*` and `/metrics` on its management address, which the
/// command line sets over the file's; its readiness includes the proxy; SIGTERM stops
/// the proxy and the management port and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_serves_health_and_metrics_on_its_management_address() {
    let up = TestUpstream::start().await;
    let listen = free_addr();
    // The file's management address is taken: the command line's must win.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let file = std::env::temp_dir().join(format!(
        "edp-gateway-{}.toml",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::write(
        &file,
        format!(
            "listen = \"{listen}\"\nmanagement = \"{}\"\n\n[[routes]]\nprefix = \"/api\"\nrewrite = \"/echo\"\nupstream = \"echo\"\nurls = [\"{}\"]\npublic = true\n",
            taken.local_addr().unwrap(),
            up.url()
        ),
    )
    .unwrap();
    let served = serve(
        &[
            "gateway",
            "--config",
            &file.display().to_string(),
            "--management-addr",
            "127.0.0.1:0",
        ],
        "edp-gateway gateway management (/health/*, /metrics) on ",
    );
    std::fs::remove_file(&file).unwrap();
    let report = wait_ready(served.addr).await;
    let checks = report["checks"].as_array().unwrap();
    for name in ["proxy", "task:proxy"] {
        assert!(
            checks
                .iter()
                .any(|c| c["name"] == name && c["status"] == "UP"),
            "no {name} UP in {report}"
        );
    }
    // The proxy answers on its own port; the management paths are not its own.
    let res = get_path(listen, "/api/x").await;
    assert_eq!(res.status(), 200, "{}", String::from_utf8_lossy(res.body()));
    assert_eq!(json(&res)["path"], "/echo/x");
    assert_eq!(up.hits(), 1);
    check_management_then_sigterm(served).await;
    assert!(
        tokio::net::TcpStream::connect(listen).await.is_err(),
        "the proxy still listens after the process ended"
    );
}

/// A proxy that cannot listen ends the process with status 2 and the reason (its task
/// ends the App); so does a management address equal to `listen`.
#[test]
fn a_proxy_that_cannot_listen_ends_the_process() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap();
    let file = std::env::temp_dir().join(format!(
        "edp-gateway-{}.toml",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::write(
        &file,
        format!(
            "listen = \"{listen}\"\n\n[[routes]]\nprefix = \"/api\"\nupstream = \"echo\"\nurls = [\"http://127.0.0.1:9\"]\n"
        ),
    )
    .unwrap();
    let run = |management: &str| {
        Command::new(env!("CARGO_BIN_EXE_edp-gateway"))
            .args(["gateway", "--config", &file.display().to_string()])
            .args(["--management-addr", management])
            .env("RUST_LOG", "off")
            .output()
            .unwrap()
    };
    let out = run("127.0.0.1:0");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("task `proxy` failed"), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot serve on {listen}")),
        "{stderr}"
    );
    let out = run(&listen.to_string());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the management address {listen} is the proxy's `listen`"
        )),
        "{stderr}"
    );
    std::fs::remove_file(&file).unwrap();
}
