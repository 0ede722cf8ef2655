//! The schema registry for development, and the schema-evolution check for CI.
//!
//! Serve a Confluent-compatible registry (in memory: it forgets everything on exit):
//!
//! ```text
//! cargo run -p edp-schema-registry -- serve --addr 127.0.0.1:8081
//! ```
//!
//! which prints `schema registry listening on http://127.0.0.1:8081` and serves until
//! ctrl-c. Check that every committed version of every event is compatible with the
//! versions before it:
//!
//! ```text
//! cargo run -p edp-schema-registry -- check schemas --level BACKWARD_TRANSITIVE
//! ```
//!
//! which prints one line per event (`ecommerce/order.placed: v1 compatible
//! (BACKWARD_TRANSITIVE)`) and exits 0, or names each breaking file and field on stderr
//! and exits 1. Usage errors exit 2.

// This binary talks to people: printing to stdout is its job.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use edp_schema_registry::evolution::{self, EvolutionError};
use edp_schema_registry::{Compatibility, EmbeddedRegistry};
use tracing_subscriber::EnvFilter;

const USAGE: &str = "\
usage: edp-schema-registry COMMAND

commands:
  serve [--addr ADDR]                  serve a Confluent-compatible schema registry in
                                       memory until ctrl-c; ADDR defaults to 127.0.0.1:8081
  check SCHEMAS_DIR [--level LEVEL]    check that every version of every event under
                                       SCHEMAS_DIR (<namespace>/<event>.v<N>.avsc) is
                                       compatible with the versions before it; LEVEL
                                       defaults to the directory's `compatibility` file,
                                       else BACKWARD_TRANSITIVE
  help                                 print this

LEVEL is one of BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL,
FULL_TRANSITIVE, NONE. Exit status: 0 ok, 1 incompatible or unreadable schemas, 2 usage.
RUST_LOG sets the log filter (default: info); logs go to stderr.";

#[derive(Debug)]
enum Command {
    Serve {
        addr: SocketAddr,
    },
    Check {
        dir: PathBuf,
        level: Option<Compatibility>,
    },
    Help,
}

/// Parses the arguments after the program name; the error is for a person to read.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        return Err("no command given".into());
    };
    let mut positional = Vec::new();
    let mut flags = Vec::new();
    while let Some(arg) = args.next() {
        if let Some(flag) = arg.strip_prefix("--") {
            let (name, value) = match flag.split_once('=') {
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None => {
                    let value = args
                        .next()
                        .ok_or_else(|| format!("`--{flag}` needs a value"))?;
                    (flag.to_owned(), value)
                }
            };
            flags.push((name, value));
        } else {
            positional.push(arg);
        }
    }
    let unknown_flag = |name: &str| format!("`{command}` has no option `--{name}`");
    match command.as_str() {
        "serve" => {
            if let Some(extra) = positional.first() {
                return Err(format!("unexpected argument `{extra}`"));
            }
            let mut addr = SocketAddr::from(([127, 0, 0, 1], 8081));
            for (name, value) in flags {
                match name.as_str() {
                    "addr" => {
                        addr = value.parse().map_err(|_| {
                            format!("`--addr` takes an address like 127.0.0.1:8081, got `{value}`")
                        })?;
                    }
                    _ => return Err(unknown_flag(&name)),
                }
            }
            Ok(Command::Serve { addr })
        }
        "check" => {
            let dir = match positional.as_slice() {
                [dir] => PathBuf::from(dir),
                [] => return Err("`check` needs the schemas directory".into()),
                [_, extra, ..] => return Err(format!("unexpected argument `{extra}`")),
            };
            let mut level = None;
            for (name, value) in flags {
                match name.as_str() {
                    "level" => level = Some(value.parse().map_err(|e| format!("{e}"))?),
                    _ => return Err(unknown_flag(&name)),
                }
            }
            Ok(Command::Check { dir, level })
        }
        "help" | "--help" | "-h" => Ok(Command::Help),
        other => Err(format!(
            "unknown command `{other}`; expected `serve`, `check` or `help`"
        )),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match parse_args(std::env::args().skip(1)) {
        Ok(Command::Serve { addr }) => serve(addr).await,
        Ok(Command::Check { dir, level }) => check(&dir, level),
        Ok(Command::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

async fn serve(addr: SocketAddr) -> ExitCode {
    let registry = match EmbeddedRegistry::start(addr).await {
        Ok(registry) => registry,
        Err(e) => {
            eprintln!("error: {}", report(&e));
            return ExitCode::FAILURE;
        }
    };
    println!("schema registry listening on {}", registry.url());
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("error: cannot wait for ctrl-c: {e}");
    }
    match registry.shutdown().await {
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
