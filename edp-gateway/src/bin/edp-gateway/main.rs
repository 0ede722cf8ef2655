//! `edp-gateway`: the API gateway, the discovery registry and the config server, as
//! subcommands of one binary.
//!
//! ```text
//! edp-gateway gateway --config gateway.toml
//! edp-gateway registry --addr 127.0.0.1:8761
//! edp-gateway config-server --dir config/ --addr 127.0.0.1:8888
//! ```
//!
//! `edp-gateway --help` lists the subcommands, `edp-gateway help registry` (or
//! `registry --help`) the options of one. Usage errors, and a server that cannot
//! start, exit with status 2.
//!
//! Each runs on an [`App`]: it serves `GET /health/live`, `GET /health/ready` and
//! `GET /metrics` (the registry and the config server on their `--addr`, the gateway
//! on its management address, apart from the proxy), and on SIGTERM or ctrl-c stops
//! taking connections, finishes the requests in flight and exits 0; a second signal
//! stops it at once.
// A command-line tool: its usage goes to stdout and its errors to stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;
use edp_core::app::{App, Phase, TaskFn, TaskPolicy};
use edp_core::error::chain_to_string;
use edp_gateway::file_config::{self, GatewayFile};
use tokio_util::sync::CancellationToken;

mod cli;

use cli::{Cli, Command};

/// The allocator (feature `mimalloc`, on by default): see the crate's features.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // Usage errors exit 2 with clap's message; --help and --version exit 0.
    let command = Cli::parse().command;
    let telemetry =
        match edp_core::telemetry::Telemetry::from_env("edp-gateway").and_then(|t| t.init()) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
    let code = match run(command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    };
    telemetry.shutdown().await;
    code
}

async fn run(command: Command) -> Result<(), String> {
    let name = command.name();
    // The App, its address, and the proxy's address if it runs one.
    let (app, addr, proxy) = match command {
        Command::Gateway {
            config,
            management_addr,
        } => {
            let path = config.display();
            let text = std::fs::read_to_string(&config).map_err(|e| format!("{path}: {e}"))?;
            let file = GatewayFile::parse(&text).map_err(|e| format!("{path}: {e}"))?;
            let management = management_addr
                .or(file.management)
                .unwrap_or(file_config::DEFAULT_MANAGEMENT);
            if management == file.listen {
                return Err(format!(
                    "the management address {management} is the proxy's `listen`; give another with --management-addr"
                ));
            }
            let gateway = file.gateway().await?;
            (
                proxy_app(file.listen, gateway),
                management,
                Some(file.listen),
            )
        }
        Command::Registry { addr } => (
            App::new("registry").routes(edp_gateway::registry::Registry::new().router()),
            addr,
            None,
        ),
        Command::ConfigServer { dir, addr } => (
            App::new("config-server")
                .routes(edp_gateway::config_server::ConfigServer::new(dir).router()),
            addr,
            None,
        ),
    };
    // Installed before the App starts, so that a signal is never missed.
    let mut signals = edp_core::shutdown::Signals::new();
    let running = app.start(addr).await.map_err(|e| chain_to_string(&e))?;
    let at = running.local_addr();
    match proxy {
        Some(listen) => {
            println!("edp-gateway gateway listening on http://{listen}");
            println!("edp-gateway gateway management (/health/*, /metrics) on http://{at}");
        }
        None => println!("edp-gateway {name} listening on http://{at}"),
    }
    running
        .run_with(&mut signals)
        .await
        .map_err(|e| chain_to_string(&e))
}

/// The gateway's App: the proxy, on its own per-core listeners at `listen`, is a task
/// the App stops first on shutdown ([`Phase::Intake`]) and whose failure ends the
/// process ([`TaskPolicy::EndApp`]); readiness says whether it listens.
fn proxy_app(listen: SocketAddr, gateway: edp_gateway::Gateway) -> App {
    // A worker per core, each with its own listener and upstream connections.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let listening = Arc::new(AtomicBool::new(false));
    let proxy = TaskFn::new("proxy", {
        let listening = listening.clone();
        move |stop: CancellationToken| {
            let gateway = gateway.clone();
            let listening = listening.clone();
            async move {
                let serving =
                    edp_gateway::serve_per_core(listen, gateway, workers, stop.cancelled_owned());
                let mut serving = std::pin::pin!(serving);
                // Its first poll binds the port for every worker (before its first
                // await), or fails.
                let served = match futures_util::future::poll_immediate(&mut serving).await {
                    Some(ended) => ended,
                    None => {
                        listening.store(true, Ordering::Relaxed);
                        let served = serving.await;
                        listening.store(false, Ordering::Relaxed);
                        served
                    }
                };
                served.map_err(|e| format!("cannot serve on {listen}: {e}"))
            }
        }
    })
    .phase(Phase::Intake);
    App::new("gateway")
        .task_with(proxy, TaskPolicy::EndApp)
        .check("proxy", move || {
            std::future::ready(if listening.load(Ordering::Relaxed) {
                Ok(())
            } else {
                Err(format!("the proxy does not listen on {listen}"))
            })
        })
}
