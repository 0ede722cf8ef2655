//! The ecommerce example in one process: the order, product, payment and
//! notification services on the in-memory event bus, their REST APIs on one HTTP
//! listener, graceful shutdown on ctrl-c. No external servers.
//!
//! Serve it, then follow the printed curl commands:
//!
//! ```text
//! cargo run -p ecommerce                             # or: -- run --addr 127.0.0.1:3000
//! ```
//!
//! Each service keeps its data in a database of its own: SQLite files in a temporary
//! directory by default (`--data DIR` keeps them), or PostgreSQL by configuration:
//!
//! ```text
//! cargo run -p ecommerce -- demo --postgres postgres://postgres@localhost:5432/postgres
//! EDP_DATABASE=postgres DATABASE_URL=postgres://... cargo run -p ecommerce
//! ```
//!
//! On Kafka instead of the in-memory bus, by configuration alone:
//!
//! ```text
//! cargo run -p ecommerce -- run --kafka localhost:9092
//! EDP_TRANSPORT=kafka KAFKA_BROKERS=localhost:9092 cargo run -p ecommerce -- demo
//! ```
//!
//! and with Avro in the Confluent wire format, on a schema registry (`--registry URL`,
//! or an embedded one):
//!
//! ```text
//! cargo run -p ecommerce -- demo --kafka localhost:9092 --codec avro
//! ```
//!
//! `cargo run -p ecommerce -- --help` lists the commands, and `run --help` or
//! `demo --help` every option with the environment variable it falls back to.
//!
//! Or run the demo: it places 100 orders over HTTP, waits until each is settled, and
//! checks each outcome against the payment rule (declined above 500.00) and each
//! notification:
//!
//! ```text
//! cargo run -p ecommerce -- demo --orders 100
//! ```
//!
//! which prints one line per order and a summary, and exits 0 when all match:
//!
//! ```text
//! 01a21185-a96f-7060-b762-d47760566b14  total     10.00  CONFIRMED  ok
//! 01a21185-a970-73d7-99cc-60d4c9a3139b  total    178.38  CONFIRMED  ok
//! 01a21185-a970-73d7-99cc-60d6e7870bd7  total    505.14  CANCELLED  ok
//! ...
//! 01a21185-a999-7171-bf7b-f22b1ab18500  total    500.00  CONFIRMED  ok
//! 100 orders in 0.07 s: 61 confirmed, 39 cancelled (declined above 500.00), 0 pending; 100 notifications; all as the payment rule says
//! ```

// This binary talks to people: printing to stdout is its job.
#![allow(clippy::print_stdout)]

use std::error::Error;
use std::process::ExitCode;

use std::net::SocketAddr;

use ecommerce::{
    CodecChoice, Command, DemoError, DemoOptions, DemoReport, LaunchError, Storage, System,
    TransportChoice,
};
use ecommerce_contracts::format_cents;
use edp_core::transport::Transport;

#[tokio::main]
async fn main() -> ExitCode {
    // Usage errors exit 2 with clap's message; --help and --version exit 0.
    let command = ecommerce::parse_args(std::env::args_os()).unwrap_or_else(|e| e.exit());
    // The demo's report is its output: by default it logs only warnings, so that four
    // log lines per order do not bury it. RUST_LOG overrides.
    let default_filter = match command {
        Command::Demo(..) => "warn",
        _ => "info",
    };
    // Logs (EDP_LOG_FORMAT=json for JSON lines) and, with OTEL_EXPORTER_OTLP_ENDPOINT,
    // traces exported over OTLP.
    let telemetry = edp_core::telemetry::Telemetry::from_env("ecommerce").and_then(|t| {
        let t = t.version(env!("CARGO_PKG_VERSION"));
        match std::env::var("RUST_LOG") {
            Ok(_) => t.init(),
            Err(_) => t.filter(default_filter).init(),
        }
    });
    let telemetry = match telemetry {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let code = dispatch(command).await;
    telemetry.shutdown().await;
    code
}

async fn dispatch(command: Command) -> ExitCode {
    match command {
        Command::Run(run_args) => {
            let choices = run_args.choices;
            run(
                run_args.addr,
                choices.transport,
                choices.codec,
                choices.storage,
            )
            .await
        }
        Command::Demo(demo_args) => {
            let options = demo_args.options();
            let choices = demo_args.choices;
            demo(options, choices.transport, choices.codec).await
        }
        other => {
            eprintln!("error: `{other:?}` is not a command this binary runs");
            ExitCode::from(2)
        }
    }
}

/// Starts the system as chosen and serves until ctrl-c or SIGTERM.
async fn run(
    addr: SocketAddr,
    transport: TransportChoice,
    codec: CodecChoice,
    storage: Storage,
) -> ExitCode {
    match transport {
        TransportChoice::Kafka(brokers) => match ecommerce::kafka(&brokers) {
            Ok(kafka) => {
                let on = format!("Kafka at {brokers}, {storage}");
                serve_with(kafka, codec, storage, addr, &on).await
            }
            Err(e) => fail(&e),
        },
        _ => {
            let on = format!("the in-memory bus, {storage}");
            let memory = edp_core::transport::memory::MemoryTransport::new();
            serve_with(memory, codec, storage, addr, &on).await
        }
    }
}

async fn serve_with<T: Transport>(
    transport: T,
    codec: CodecChoice,
    storage: Storage,
    addr: SocketAddr,
    on: &str,
) -> ExitCode {
    match codec {
        CodecChoice::Avro(url) => {
            let (avro, _registry) = match ecommerce::avro_or_embedded(url.as_deref()).await {
                Ok(found) => found,
                Err(e) => return fail(&e),
            };
            serve(
                ecommerce::start_full(transport, avro, storage, addr).await,
                &format!("{on}, Avro"),
            )
            .await
        }
        _ => {
            let started = ecommerce::start_full(transport, edp_core::JsonCodec, storage, addr);
            serve(started.await, on).await
        }
    }
}

/// Runs the demo as chosen.
async fn demo(options: DemoOptions, transport: TransportChoice, codec: CodecChoice) -> ExitCode {
    match transport {
        TransportChoice::Kafka(brokers) => match ecommerce::kafka(&brokers) {
            Ok(kafka) => demo_with(kafka, codec, options).await,
            Err(e) => fail(&e),
        },
        _ => {
            demo_with(
                edp_core::transport::memory::MemoryTransport::new(),
                codec,
                options,
            )
            .await
        }
    }
}

async fn demo_with<T: Transport>(
    transport: T,
    codec: CodecChoice,
    options: DemoOptions,
) -> ExitCode {
    match codec {
        CodecChoice::Avro(url) => {
            let (avro, _registry) = match ecommerce::avro_or_embedded(url.as_deref()).await {
                Ok(found) => found,
                Err(e) => return fail(&e),
            };
            report(ecommerce::demo_with(transport, avro, options).await)
        }
        _ => report(ecommerce::demo_on(transport, options).await),
    }
}

async fn serve<T: Transport>(started: Result<System<T>, LaunchError>, on: &str) -> ExitCode {
    let system = match started {
        Ok(system) => system,
        Err(e) => return fail(&e),
    };
    // Listen for signals before saying we are up, so that none is lost: the first
    // shuts down in order, a second stops at once.
    let mut signals = edp_core::shutdown::Signals::new();
    let url = system.base_url();
    println!("ecommerce is running on {url}: order, product, payment and notification on {on}");
    println!();
    println!("place an order (a total above 500.00 is declined):");
    println!(
        r#"  curl -i {url}/v1/orders -H 'content-type: application/json' -d '{{"customer_id":"c-1","items":[{{"product_id":"sku-1","quantity":2,"unit_price_cents":1500}}]}}'"#
    );
    println!("then look at it, all orders, and the notifications:");
    println!("  curl -s {url}/v1/orders/<id from the Location header>");
    println!("  curl -s {url}/v1/orders");
    println!("  curl -s {url}/v1/notifications");
    println!("  curl -s {url}/v1/outbox          # events written, not yet published");
    println!("  curl -s {url}/health/ready       # 200, or 503 naming what is down");
    println!("  curl -s {url}/metrics            # Prometheus metrics");
    // Behind the API gateway too, by configuration: EDP_GATEWAY_ADDR=127.0.0.1:8000.
    let front = match std::env::var("EDP_GATEWAY_ADDR") {
        Err(_) => None,
        Ok(addr) => {
            let addr = match addr.parse() {
                Ok(addr) => addr,
                Err(e) => {
                    eprintln!("error: EDP_GATEWAY_ADDR is `{addr}`: {e}");
                    return ExitCode::from(2);
                }
            };
            match ecommerce::front(system.local_addr(), addr).await {
                Ok(front) => {
                    let gw = format!("http://{}", front.local_addr());
                    println!(
                        "the API gateway serves {gw}/api/v1/orders and {gw}/api/v1/notifications"
                    );
                    Some(front)
                }
                Err(e) => return fail(&e),
            }
        }
    };
    println!();
    println!("press ctrl-c to stop (twice to stop at once)");
    let code = match system.run_with(&mut signals).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    };
    if let Some(front) = front {
        front.shutdown().await;
    }
    code
}

fn report(result: Result<DemoReport, DemoError>) -> ExitCode {
    let report = match result {
        Ok(report) => report,
        Err(e) => return fail(&e),
    };
    for order in &report.orders {
        println!(
            "{}  total {:>9}  {:<9}  {}",
            order.id,
            format_cents(order.total_cents),
            order.status,
            if order.is_ok() { "ok" } else { "MISMATCH" }
        );
    }
    for mismatch in report.mismatches() {
        println!("mismatch: {mismatch}");
    }
    println!("{}", report.summary());
    if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn fail(err: &dyn Error) -> ExitCode {
    eprintln!("error: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        eprintln!("  caused by: {cause}");
        source = cause.source();
    }
    ExitCode::FAILURE
}
