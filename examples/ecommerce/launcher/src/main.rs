//! The ecommerce example in one process: the order, payment and notification services
//! on the in-memory event bus, their REST APIs on one HTTP listener, graceful shutdown
//! on ctrl-c. No external servers.
//!
//! Serve it, then follow the printed curl commands:
//!
//! ```text
//! cargo run -p ecommerce                             # or: -- run --addr 127.0.0.1:3000
//! ```
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
use std::net::SocketAddr;
use std::process::ExitCode;

use ecommerce::{Command, DemoOptions, USAGE};
use ecommerce_contracts::format_cents;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let command = ecommerce::parse_args(std::env::args().skip(1));
    // The demo's report is its output: by default it logs only warnings, so that four
    // log lines per order do not bury it. RUST_LOG overrides.
    let default_filter = match command {
        Ok(Command::Demo(_)) => "warn",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    match command {
        Ok(Command::Run { addr }) => run(addr).await,
        Ok(Command::Demo(options)) => demo(options).await,
        Ok(_) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

async fn run(addr: SocketAddr) -> ExitCode {
    let system = match ecommerce::start(addr).await {
        Ok(system) => system,
        Err(e) => return fail(&e),
    };
    // Listen for signals before saying we are up, so that none is lost.
    let stop = edp_core::shutdown::signal();
    let url = system.base_url();
    println!("ecommerce is running on {url}: order, payment and notification on the in-memory bus");
    println!();
    println!("place an order (a total above 500.00 is declined):");
    println!(
        r#"  curl -i {url}/v1/orders -H 'content-type: application/json' -d '{{"customer_id":"c-1","items":[{{"product_id":"sku-1","quantity":2,"unit_price_cents":1500}}]}}'"#
    );
    println!("then look at it, all orders, and the notifications:");
    println!("  curl -s {url}/v1/orders/<id from the Location header>");
    println!("  curl -s {url}/v1/orders");
    println!("  curl -s {url}/v1/notifications");
    println!();
    println!("press ctrl-c to stop");
    match system.run_until(stop).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

async fn demo(options: DemoOptions) -> ExitCode {
    let report = match ecommerce::demo(options).await {
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
