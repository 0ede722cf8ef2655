//! The `edp-gateway` binary: registry, config server and gateway as processes, the
//! gateway configured by its file alone.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

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
            "listen = \"{gateway_addr}\"\n\n[[routes]]\nprefix = \"/api/v1/orders\"\nrewrite = \"/echo/v1/orders\"\nupstream = \"order\"\nregistry = \"http://{registry_addr}\"\npublic = true\nrate_limit = {{ requests = 5, per_secs = 60 }}\n"
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
