//! `edp-gateway`: the API gateway, the discovery registry and the config server, as
//! subcommands of one binary.
//!
//! ```text
//! edp-gateway gateway --config gateway.toml
//! edp-gateway registry --addr 127.0.0.1:8761
//! edp-gateway config-server --dir config/ --addr 127.0.0.1:8888
//! ```
// A command-line tool: its usage goes to stdout and its errors to stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::SocketAddr;
use std::process::ExitCode;

/// The allocator (feature `mimalloc`, on by default): see the crate's features.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "\
usage: edp-gateway COMMAND

commands:
  gateway --config FILE                 the API gateway (see the book for the file)
  registry [--addr ADDR]                the service registry (default 127.0.0.1:8761)
  config-server --dir DIR [--addr ADDR] the config server (default 127.0.0.1:8888)

RUST_LOG sets the log filter; EDP_LOG_FORMAT=json logs JSON lines.";

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let telemetry =
        match edp_core::telemetry::Telemetry::from_env("edp-gateway").and_then(|t| t.init()) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
    let code = match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    };
    telemetry.shutdown().await;
    code
}

async fn run(args: &[String]) -> Result<(), String> {
    let addr = |default: &str| -> Result<SocketAddr, String> {
        arg(args, "--addr")
            .unwrap_or_else(|| default.to_owned())
            .parse()
            .map_err(|e| format!("--addr: {e}"))
    };
    let (listen, app) = match args.first().map(String::as_str) {
        Some("gateway") => {
            let path = arg(args, "--config").ok_or("gateway needs --config FILE")?;
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
            let file = edp_gateway::file_config::GatewayFile::parse(&text)
                .map_err(|e| format!("{path}: {e}"))?;
            let gateway = file.gateway().await?;
            // A worker per core, each with its own listener and upstream connections.
            let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
            println!("edp-gateway gateway listening on http://{}", file.listen);
            return edp_gateway::serve_per_core(
                file.listen,
                gateway,
                workers,
                edp_core::shutdown::signal(),
            )
            .await
            .map_err(|e| format!("cannot serve on {}: {e}", file.listen));
        }
        Some("registry") => (
            addr("127.0.0.1:8761")?,
            edp_gateway::registry::Registry::new().router(),
        ),
        Some("config-server") => {
            let dir = arg(args, "--dir").ok_or("config-server needs --dir DIR")?;
            (
                addr("127.0.0.1:8888")?,
                edp_gateway::config_server::ConfigServer::new(dir).router(),
            )
        }
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            return Ok(());
        }
        _ => return Err("no command".into()),
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    println!("edp-gateway {} listening on http://{listen}", args[0]);
    axum::serve(listener, app)
        .with_graceful_shutdown(edp_core::shutdown::signal())
        .await
        .map_err(|e| e.to_string())
}
