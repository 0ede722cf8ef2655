//! The command line: `edp-gateway gateway | registry | config-server`, on clap.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The variables the binary reads, shown at the end of `--help`.
const ENVIRONMENT: &str = "\
Environment:
  RUST_LOG                     the log filter (default: info); logs go to stderr
  EDP_MANAGEMENT_ADDR          gateway: where /health/* and /metrics are served
  EDP_LOG_FORMAT               json: log JSON lines
  OTEL_EXPORTER_OTLP_ENDPOINT  export spans over OTLP (e.g. http://localhost:4318)";

/// The API gateway, the discovery registry and the config server, as subcommands of
/// one binary.
#[derive(Debug, Parser)]
#[command(
    name = "edp-gateway",
    version,
    about = "The API gateway of edp services, its discovery registry and its config server",
    long_about = None,
    arg_required_else_help = true,
    after_help = ENVIRONMENT
)]
pub(crate) struct Cli {
    /// Which server to run.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Which server to run.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// The API gateway, configured by its file, on a worker per core; /health/* and
    /// /metrics on its management address
    Gateway {
        /// The gateway's TOML file: listen address, routes, upstreams, auth (see the book)
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Serve /health/live, /health/ready and /metrics on this address, apart from
        /// the proxy's [default: the file's `management`, else 127.0.0.1:9901]
        #[arg(long, value_name = "ADDR", env = "EDP_MANAGEMENT_ADDR")]
        management_addr: Option<SocketAddr>,
    },
    /// The discovery registry: services register their instances, the gateway finds them
    Registry {
        /// Serve on this address (with /health/* and /metrics)
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8761")]
        addr: SocketAddr,
    },
    /// The config server: layered TOML per service and profile, from a directory
    ConfigServer {
        /// The directory of application.toml, {service}.toml, {service}-{profile}.toml, ...
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Serve on this address (with /health/* and /metrics)
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8888")]
        addr: SocketAddr,
    },
}

impl Command {
    /// The subcommand's name, as typed.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Gateway { .. } => "gateway",
            Self::Registry { .. } => "registry",
            Self::ConfigServer { .. } => "config-server",
        }
    }
}
