//! The command line, parsed by hand: `ecommerce [run [--addr ADDR] | demo [--orders N] [--timeout SECS] | help]`, each with `--kafka BROKERS`, `--codec`, `--postgres URL` or `--data DIR`.

use std::net::SocketAddr;
use std::time::Duration;

use crate::demo::DemoOptions;
use crate::storage::Storage;

/// The usage text.
pub const USAGE: &str = "\
usage: ecommerce [COMMAND]

commands:
  run  [--addr ADDR]                 start every service and serve HTTP (the default)
                                     ADDR defaults to 127.0.0.1:8080
  demo [--orders N] [--timeout SECS] place N orders (default 100) over HTTP on a free
                                     port, wait for each to settle (default 30 s in all),
                                     check them against the payment rule
  help                               print this

run and demo keep each service's data in its own database: SQLite files in a temporary
directory by default, in DIR with --data DIR (EDP_DATA_DIR), or PostgreSQL databases
ecommerce_order, ecommerce_payment and ecommerce_product (created when missing) on the server at
--postgres URL (EDP_DATABASE=postgres with DATABASE_URL).

run and demo take --kafka BROKERS (host:port,...) to put the services on Kafka instead
of the in-memory bus; so does the environment: EDP_TRANSPORT=kafka with KAFKA_BROKERS
(default localhost:9092). They take --codec avro (EDP_CODEC=avro) to send events as
Avro in the Confluent wire format, with --registry URL (SCHEMA_REGISTRY_URL) naming a
Confluent-compatible schema registry, or an embedded one when none is named.

EDP_GATEWAY_ADDR (for example 127.0.0.1:8000) puts run behind the API gateway too: the
services register in a discovery registry (embedded, or EDP_REGISTRY_URL) and the
gateway serves /api/v1/orders and /api/v1/notifications, with JWT checks when
EDP_JWT_SECRET is set.

EDP_SERVICES (for example order, or payment,product,notification) runs only the services
named, so that each can run in a process of its own on Kafka and PostgreSQL.

RUST_LOG sets the log filter (default: info for run, warn for demo); logs go to stderr,
as JSON lines with EDP_LOG_FORMAT=json. GET /metrics serves Prometheus metrics. With
OTEL_EXPORTER_OTLP_ENDPOINT (for example http://localhost:4318) spans are exported over
OTLP; OTEL_TRACES_SAMPLER_ARG is the share of new traces sampled (default 0.01).";

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

impl CodecChoice {
    /// From the environment: `EDP_CODEC=avro` (with `SCHEMA_REGISTRY_URL`, else an
    /// embedded registry) or `json` (the default, also when unset).
    pub fn from_env() -> Result<Self, UsageError> {
        match std::env::var("EDP_CODEC").as_deref() {
            Err(_) | Ok("" | "json") => Ok(Self::Json),
            Ok("avro") => Ok(Self::Avro(std::env::var("SCHEMA_REGISTRY_URL").ok())),
            Ok(other) => Err(UsageError(format!(
                "EDP_CODEC is `{other}`; expected `json` or `avro`"
            ))),
        }
    }

    fn parse(value: &str, registry: Option<String>) -> Result<Self, UsageError> {
        match value {
            "json" if registry.is_none() => Ok(Self::Json),
            "json" => Err(UsageError("`--registry` goes with `--codec avro`".into())),
            "avro" => Ok(Self::Avro(registry)),
            other => Err(UsageError(format!(
                "`--codec` takes `json` or `avro`, got `{other}`"
            ))),
        }
    }
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

impl TransportChoice {
    /// From the environment: `EDP_TRANSPORT=kafka` (with `KAFKA_BROKERS`, default
    /// `localhost:9092`) or `memory` (the default, also when unset).
    pub fn from_env() -> Result<Self, UsageError> {
        match std::env::var("EDP_TRANSPORT").as_deref() {
            Err(_) | Ok("" | "memory") => Ok(Self::Memory),
            Ok("kafka") => Ok(Self::Kafka(
                std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "localhost:9092".to_owned()),
            )),
            Ok(other) => Err(UsageError(format!(
                "EDP_TRANSPORT is `{other}`; expected `memory` or `kafka`"
            ))),
        }
    }
}

/// The address `run` serves on by default.
pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// Serve until ctrl-c.
    Run {
        /// Where.
        addr: SocketAddr,
        /// On which transport; `None` means from the environment.
        transport: Option<TransportChoice>,
        /// With which codec; `None` means from the environment.
        codec: Option<CodecChoice>,
        /// Where the data goes; `None` means from the environment.
        storage: Option<Storage>,
    },
    /// Run the demo, on a transport and with a codec (`None`: from the environment).
    Demo(DemoOptions, Option<TransportChoice>, Option<CodecChoice>),
    /// Print the usage.
    Help,
}

/// The command line is wrong.
///
/// Handling: print it with [`USAGE`] and exit with status 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Parses the arguments after the program name.
///
/// ```
/// use ecommerce::{Command, parse_args};
///
/// let demo = parse_args(["demo", "--orders", "10"]).unwrap();
/// assert!(matches!(demo, Command::Demo(o, None, None) if o.orders == 10));
/// assert!(matches!(parse_args(Vec::<String>::new()), Ok(Command::Run { .. })));
/// let kafka = parse_args(["run", "--kafka", "localhost:9092"]).unwrap();
/// assert!(matches!(kafka, Command::Run { transport: Some(ecommerce::TransportChoice::Kafka(_)), .. }));
/// assert!(parse_args(["demo", "--orders", "ten"]).is_err());
/// ```
pub fn parse_args<I, S>(args: I) -> Result<Command, UsageError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut args = args.into_iter().map(Into::into);
    let command = match args.next() {
        None => {
            return Ok(Command::Run {
                addr: DEFAULT_ADDR,
                transport: None,
                codec: None,
                storage: None,
            });
        }
        Some(c) => c,
    };
    let mut flags = Flags::new(args);
    match command.as_str() {
        "run" => {
            let mut addr = DEFAULT_ADDR;
            let (mut transport, mut codec, mut registry, mut storage) = (None, None, None, None);
            while let Some((name, value)) = flags.next()? {
                match name.as_str() {
                    "--addr" => addr = parse(&name, &value, "an address like 127.0.0.1:8080")?,
                    "--postgres" => storage = Some(Storage::Postgres(value)),
                    "--data" => storage = Some(Storage::Sqlite(Some(value.into()))),
                    "--kafka" => transport = Some(TransportChoice::Kafka(value)),
                    "--codec" => codec = Some(value),
                    "--registry" => registry = Some(value),
                    _ => return Err(unknown_flag("run", &name)),
                }
            }
            let codec = codec_of(codec, registry)?;
            Ok(Command::Run {
                addr,
                transport,
                codec,
                storage,
            })
        }
        "demo" => {
            let mut options = DemoOptions::default();
            let (mut transport, mut codec, mut registry) = (None, None, None);
            while let Some((name, value)) = flags.next()? {
                match name.as_str() {
                    "--kafka" => transport = Some(TransportChoice::Kafka(value)),
                    "--codec" => codec = Some(value),
                    "--registry" => registry = Some(value),
                    "--orders" => options.orders = parse(&name, &value, "a whole number")?,
                    "--postgres" => options.storage = Some(Storage::Postgres(value)),
                    "--data" => options.storage = Some(Storage::Sqlite(Some(value.into()))),
                    "--timeout" => {
                        let secs: u64 = parse(&name, &value, "a whole number of seconds")?;
                        options.timeout = Duration::from_secs(secs);
                    }
                    _ => return Err(unknown_flag("demo", &name)),
                }
            }
            Ok(Command::Demo(
                options,
                transport,
                codec_of(codec, registry)?,
            ))
        }
        "help" | "--help" | "-h" => Ok(Command::Help),
        other => Err(UsageError(format!(
            "unknown command `{other}`; expected `run`, `demo` or `help`"
        ))),
    }
}

fn codec_of(
    codec: Option<String>,
    registry: Option<String>,
) -> Result<Option<CodecChoice>, UsageError> {
    match (codec, registry) {
        (None, None) => Ok(None),
        (None, Some(url)) => Ok(Some(CodecChoice::Avro(Some(url)))),
        (Some(c), registry) => CodecChoice::parse(&c, registry).map(Some),
    }
}

/// `--name value` and `--name=value` pairs.
struct Flags<I> {
    args: I,
}

impl<I: Iterator<Item = String>> Flags<I> {
    fn new(args: I) -> Self {
        Self { args }
    }

    fn next(&mut self) -> Result<Option<(String, String)>, UsageError> {
        let Some(arg) = self.args.next() else {
            return Ok(None);
        };
        if !arg.starts_with("--") {
            return Err(UsageError(format!("unexpected argument `{arg}`")));
        }
        if let Some((name, value)) = arg.split_once('=') {
            return Ok(Some((name.to_owned(), value.to_owned())));
        }
        match self.args.next() {
            Some(value) => Ok(Some((arg, value))),
            None => Err(UsageError(format!("`{arg}` needs a value"))),
        }
    }
}

fn parse<T: std::str::FromStr>(name: &str, value: &str, what: &str) -> Result<T, UsageError> {
    value
        .parse()
        .map_err(|_| UsageError(format!("`{name}` takes {what}, got `{value}`")))
}

fn unknown_flag(command: &str, name: &str) -> UsageError {
    UsageError(format!("`{command}` has no option `{name}`"))
}
