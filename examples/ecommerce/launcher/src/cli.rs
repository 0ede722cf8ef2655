//! The command line of the `ecommerce` binary, on clap: `ecommerce [run | demo | help]`,
//! each option falling back to the environment variable its `--help` names.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::demo::DemoOptions;
use crate::storage::Storage;

/// The variables read outside the options, shown at the end of `--help`.
const ENVIRONMENT: &str = "\
Environment, besides each option's variable:
  EDP_GATEWAY_ADDR             run: also serve the API gateway here (e.g. 127.0.0.1:8000),
                               at /api/v1/orders and /api/v1/notifications
  EDP_REGISTRY_URL             the discovery registry behind the gateway (default: embedded)
  EDP_JWT_SECRET               the gateway checks JWTs signed with this HS256 secret
  EDP_SERVICES                 run only these services (e.g. order, or payment,product,notification)
  RUST_LOG                     the log filter (default: info for run, warn for demo); logs go to stderr
  EDP_LOG_FORMAT               json: log JSON lines
  OTEL_EXPORTER_OTLP_ENDPOINT  export spans over OTLP (e.g. http://localhost:4318)
  OTEL_TRACES_SAMPLER_ARG      the share of new traces sampled (default 0.01)";

/// The `ecommerce` command line.
///
/// ```
/// use clap::Parser;
/// use ecommerce::{Cli, Command};
///
/// let cli = Cli::try_parse_from(["ecommerce", "demo", "--orders", "10"]).unwrap();
/// assert!(matches!(cli.command, Some(Command::Demo(demo)) if demo.orders == 10));
/// ```
#[derive(Debug, Clone, Parser)]
#[command(
    name = "ecommerce",
    version,
    about = "The ecommerce reference system: order, product, payment and notification services in one process",
    long_about = None,
    after_help = ENVIRONMENT
)]
pub struct Cli {
    /// What to do; none is `run`.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[non_exhaustive]
pub enum Command {
    /// Start every service and serve HTTP until ctrl-c (the default)
    #[command(after_help = ENVIRONMENT)]
    Run(RunArgs),
    /// Place orders over HTTP, wait until each settles, check each against the payment rule
    #[command(after_help = ENVIRONMENT)]
    Demo(DemoArgs),
}

/// The address `run` serves on by default.
pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

/// `ecommerce run`: serve until ctrl-c.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct RunArgs {
    /// Serve HTTP on this address
    #[arg(long, value_name = "ADDR", default_value_t = DEFAULT_ADDR)]
    pub addr: SocketAddr,
    /// The transport, codec and storage.
    #[command(flatten)]
    pub choices: Choices,
}

/// `ecommerce demo`: place orders and check each outcome.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct DemoArgs {
    /// How many orders to place
    #[arg(long, value_name = "N", default_value_t = DemoOptions::default().orders)]
    pub orders: usize,
    /// Seconds every order has, in all, to settle and be notified
    #[arg(
        long,
        value_name = "SECS",
        value_parser = seconds,
        default_value = "30"
    )]
    pub timeout: Duration,
    /// The transport, codec and storage.
    #[command(flatten)]
    pub choices: Choices,
}

impl DemoArgs {
    /// The demo's options: orders, timeout and storage.
    pub fn options(&self) -> DemoOptions {
        DemoOptions::default()
            .orders(self.orders)
            .timeout(self.timeout)
            .storage(self.choices.storage.clone())
    }
}

fn seconds(value: &str) -> Result<Duration, String> {
    value
        .parse()
        .map(Duration::from_secs)
        .map_err(|_| "expected a whole number of seconds".to_owned())
}

/// How events are encoded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CodecChoice {
    /// JSON (the default).
    #[default]
    Json,
    /// Avro with a schema registry at this URL, or an embedded one.
    Avro(Option<String>),
}

/// Which transport the services share.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TransportChoice {
    /// The in-memory bus: one process, no servers (the default).
    #[default]
    Memory,
    /// Kafka at these brokers (`host:port`, comma-separated).
    Kafka(String),
}

/// The transport, codec and storage of `run` and `demo`, from their options and the
/// environment.
///
/// Each comes as a kind and a value: the transport (`--transport`, `EDP_TRANSPORT`;
/// brokers `--kafka`, `KAFKA_BROKERS`), the codec (`--codec`, `EDP_CODEC`; registry
/// `--registry`, `SCHEMA_REGISTRY_URL`) and the storage (`--database`, `EDP_DATABASE`;
/// `--postgres`, `DATABASE_URL`; `--data`, `EDP_DATA_DIR`). A value given on the
/// command line picks its kind too (`--kafka BROKERS` is Kafka); a value in the
/// environment counts only once its kind is picked, so that a `DATABASE_URL` or
/// `KAFKA_BROKERS` set for other tools does not move the system off its defaults.
///
/// ```
/// use ecommerce::{Command, Storage, parse_args};
///
/// let Ok(Command::Run(run)) = parse_args(["ecommerce", "run", "--postgres", "postgres://h/db"])
/// else { panic!("a run command") };
/// assert_eq!(run.choices.storage, Storage::Postgres("postgres://h/db".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Choices {
    /// The transport.
    pub transport: TransportChoice,
    /// The codec.
    pub codec: CodecChoice,
    /// Where the services keep their data.
    pub storage: Storage,
}

/// The options behind [`Choices`], as typed.
#[derive(Debug, Args)]
#[command(next_help_heading = "Transport, codec and storage")]
struct ChoiceArgs {
    /// The event bus
    #[arg(long, value_enum, env = "EDP_TRANSPORT", default_value_t = TransportKind::Memory)]
    transport: TransportKind,
    /// Kafka brokers, host:port,...
    ///
    /// Given on the command line, it picks `--transport kafka` too.
    #[arg(
        long,
        value_name = "BROKERS",
        env = "KAFKA_BROKERS",
        default_value = "localhost:9092"
    )]
    kafka: String,
    /// How events are encoded
    #[arg(long, value_enum, env = "EDP_CODEC", default_value_t = CodecKind::Json)]
    codec: CodecKind,
    /// The schema registry for avro (default: an embedded one)
    ///
    /// Given on the command line, it picks `--codec avro` too.
    #[arg(long, value_name = "URL", env = "SCHEMA_REGISTRY_URL")]
    registry: Option<String>,
    /// Where each service keeps its data
    #[arg(long, value_enum, env = "EDP_DATABASE", default_value_t = DatabaseKind::Sqlite)]
    database: DatabaseKind,
    /// The PostgreSQL server, postgres://user@host:port/db
    ///
    /// Given on the command line, it picks `--database postgres` too.
    #[arg(long, value_name = "URL", env = "DATABASE_URL", hide_env_values = true)]
    postgres: Option<String>,
    /// The directory of the SQLite files (default: a temporary one, deleted at exit)
    ///
    /// Given on the command line, it picks `--database sqlite` too.
    #[arg(long, value_name = "DIR", env = "EDP_DATA_DIR")]
    data: Option<OsString>,
}

/// The `--transport` kinds; an empty `EDP_TRANSPORT` is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TransportKind {
    /// The in-memory bus: one process, no servers
    #[value(alias = "")]
    Memory,
    /// Kafka, at the brokers of --kafka
    Kafka,
}

/// The `--codec` kinds; an empty `EDP_CODEC` is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CodecKind {
    /// JSON
    #[value(alias = "")]
    Json,
    /// Avro in the Confluent wire format, schemas in the registry of --registry
    Avro,
}

/// The `--database` kinds; an empty `EDP_DATABASE` is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DatabaseKind {
    /// A SQLite file per service, in the directory of --data
    #[value(alias = "")]
    Sqlite,
    /// A database per service (ecommerce_order, ...) on the server of --postgres, created when missing
    Postgres,
}

impl Choices {
    fn from_matches(args: ChoiceArgs, matches: &ArgMatches) -> Result<Self, clap::Error> {
        let typed = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
        let conflict =
            |message: &str| clap::Error::raw(clap::error::ErrorKind::ArgumentConflict, message);
        let transport = match (args.transport, typed("kafka")) {
            (TransportKind::Memory, true) if typed("transport") => {
                return Err(conflict("`--kafka` goes with `--transport kafka`"));
            }
            (_, true) | (TransportKind::Kafka, false) => TransportChoice::Kafka(args.kafka),
            (TransportKind::Memory, false) => TransportChoice::Memory,
        };
        let codec = match (args.codec, typed("registry")) {
            (CodecKind::Json, true) if typed("codec") => {
                return Err(conflict("`--registry` goes with `--codec avro`"));
            }
            (_, true) | (CodecKind::Avro, false) => CodecChoice::Avro(args.registry),
            (CodecKind::Json, false) => CodecChoice::Json,
        };
        let data = args.data.filter(|d| !d.is_empty()).map(PathBuf::from);
        let database = args.database;
        let storage = if typed("postgres") && typed("data") {
            return Err(conflict("`--postgres` and `--data` exclude each other"));
        } else if typed("data") {
            if typed("database") && database == DatabaseKind::Postgres {
                return Err(conflict("`--data` goes with `--database sqlite`"));
            }
            Storage::Sqlite(data)
        } else if typed("postgres") || database == DatabaseKind::Postgres {
            if typed("database") && database == DatabaseKind::Sqlite {
                return Err(conflict("`--postgres` goes with `--database postgres`"));
            }
            match args.postgres.filter(|url| !url.is_empty()) {
                Some(url) => Storage::Postgres(url),
                None => {
                    return Err(clap::Error::raw(
                        clap::error::ErrorKind::MissingRequiredArgument,
                        "`--database postgres` (EDP_DATABASE=postgres) needs `--postgres URL` or DATABASE_URL (postgres://user@host:port/db)",
                    ));
                }
            }
        } else {
            Storage::Sqlite(data)
        };
        Ok(Self {
            transport,
            codec,
            storage,
        })
    }
}

impl FromArgMatches for Choices {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Self::from_matches(ChoiceArgs::from_arg_matches(matches)?, matches)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for Choices {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        ChoiceArgs::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        ChoiceArgs::augment_args_for_update(cmd)
    }
}

/// Parses the command line (the program's name first) and the environment; no
/// command is `run` with its defaults.
///
/// # Errors
///
/// A usage error, `--help` or `--version`: [`clap::Error::exit`] prints it and exits
/// with status 2 (0 for help and version).
///
/// ```
/// use ecommerce::{Command, TransportChoice, parse_args};
///
/// let demo = parse_args(["ecommerce", "demo", "--orders", "10"]).unwrap();
/// assert!(matches!(demo, Command::Demo(d) if d.orders == 10));
/// assert!(matches!(parse_args(["ecommerce"]), Ok(Command::Run(_))));
/// let kafka = parse_args(["ecommerce", "run", "--kafka", "localhost:9092"]).unwrap();
/// assert!(matches!(kafka, Command::Run(r) if r.choices.transport == TransportChoice::Kafka("localhost:9092".into())));
/// assert!(parse_args(["ecommerce", "demo", "--orders", "ten"]).is_err());
/// ```
pub fn parse_args<I, T>(args: I) -> Result<Command, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match Cli::try_parse_from(args)?.command {
        Some(command) => Ok(command),
        None => run_by_default(),
    }
}

/// `ecommerce` alone: `ecommerce run`.
fn run_by_default() -> Result<Command, clap::Error> {
    let mut cmd = Cli::command();
    let matches = cmd.try_get_matches_from_mut(["ecommerce", "run"])?;
    match matches.subcommand() {
        Some(("run", run)) => RunArgs::from_arg_matches(run)
            .map(Command::Run)
            .map_err(|e| e.format(&mut cmd)),
        _ => Err(cmd.error(clap::error::ErrorKind::MissingSubcommand, "no command")),
    }
}
