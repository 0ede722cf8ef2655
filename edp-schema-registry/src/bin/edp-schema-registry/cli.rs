//! The command line: `edp-schema-registry serve | check`, on clap.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand};
use edp_schema_registry::Compatibility;

/// Exit status and environment, shown at the end of `--help`.
const AFTER_HELP: &str = "\
Exit status: 0 ok, 1 incompatible or unreadable schemas (or a server that failed), 2 usage.

Environment:
  RUST_LOG  the log filter (default: info); logs go to stderr";

/// The schema registry for development, and the schema-evolution check for CI.
#[derive(Debug, Parser)]
#[command(
    name = "edp-schema-registry",
    version,
    about = "A Confluent-compatible schema registry for development, and the schema-evolution check for CI",
    long_about = None,
    arg_required_else_help = true,
    after_help = AFTER_HELP
)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve a Confluent-compatible schema registry, in memory, until ctrl-c or SIGTERM
    Serve {
        /// Serve on this address (with /health/live, /health/ready and /metrics)
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
        addr: SocketAddr,
    },
    /// Check that every version of every event is compatible with the versions before it
    Check {
        /// The schemas: <namespace>/<event>.v<N>.avsc files
        #[arg(value_name = "SCHEMAS_DIR")]
        dir: PathBuf,
        /// The level to check (default: the directory's `compatibility` file, else BACKWARD_TRANSITIVE)
        #[arg(
            long,
            value_name = "LEVEL",
            ignore_case = true,
            value_parser = PossibleValuesParser::new(Compatibility::ALL.map(Compatibility::as_str))
                .try_map(|level| level.parse::<Compatibility>())
        )]
        level: Option<Compatibility>,
    },
}
