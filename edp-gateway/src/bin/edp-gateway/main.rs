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
// A command-line tool: its usage goes to stdout and its errors to stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use clap::Parser;

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
    let (listen, app) = match command {
        Command::Gateway { config } => {
            let path = config.display();
            let text = std::fs::read_to_string(&config).map_err(|e| format!("{path}: {e}"))?;
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
        Command::Registry { addr } => (addr, edp_gateway::registry::Registry::new().router()),
        Command::ConfigServer { dir, addr } => (
            addr,
            edp_gateway::config_server::ConfigServer::new(dir).router(),
        ),
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    println!("edp-gateway {name} listening on http://{listen}");
    axum::serve(listener, app)
        .with_graceful_shutdown(edp_core::shutdown::signal())
        .await
        .map_err(|e| e.to_string())
}
