//! The schema registry for development, and the schema-evolution check for CI.
//!
//! Serve a Confluent-compatible registry (in memory: it forgets everything on exit):
//!
//! ```text
//! cargo run -p edp-schema-registry -- serve --addr 127.0.0.1:8081
//! ```
//!
//! which prints `schema registry listening on http://127.0.0.1:8081` and serves until
//! ctrl-c or SIGTERM (then finishes the requests in flight and exits 0). It runs on an
//! `edp_core::app::App`, so it also serves `GET /health/live`, `GET /health/ready` and
//! `GET /metrics` (Prometheus). Check that every committed version of every event is compatible with the
//! versions before it:
//!
//! ```text
//! cargo run -p edp-schema-registry -- check schemas --level BACKWARD_TRANSITIVE
//! ```
//!
//! which prints one line per event (`ecommerce/order.placed: v1 compatible
//! (BACKWARD_TRANSITIVE)`) and exits 0, or names each breaking file and field on stderr
//! and exits 1. Usage errors exit 2. `--help` lists the commands, `help check` the
//! options of one.

// This binary talks to people: printing to stdout is its job.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use edp_core::app::App;
use edp_schema_registry::evolution::{self, EvolutionError};
use edp_schema_registry::{Compatibility, Registry, server};
use tracing_subscriber::EnvFilter;

mod cli;

use cli::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    // Usage errors exit 2 with clap's message; --help and --version exit 0.
    let command = Cli::parse().command;
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match command {
        Command::Serve { addr } => serve(addr).await,
        Command::Check { dir, level } => check(&dir, level),
    }
}

async fn serve(addr: SocketAddr) -> ExitCode {
    // Installed before the App starts, so that a signal is never missed.
    let mut signals = edp_core::shutdown::Signals::new();
    let app = App::new("edp-schema-registry").routes(server::router(Registry::new()));
    let running = match app.start(addr).await {
        Ok(running) => running,
        Err(e) => {
            eprintln!("error: {}", report(&e));
            return ExitCode::FAILURE;
        }
    };
    println!(
        "schema registry listening on http://{}",
        running.local_addr()
    );
    match running.run_with(&mut signals).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", report(&e));
            ExitCode::FAILURE
        }
    }
}

fn check(dir: &std::path::Path, level: Option<Compatibility>) -> ExitCode {
    match evolution::check_dir(dir, level) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e @ EvolutionError::Incompatible(_)) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {}", report(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes, on one line.
fn report(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
