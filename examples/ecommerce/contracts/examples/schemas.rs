//! Checks the Avro schemas the contract events derive against `schemas/ecommerce`, or
//! writes the files of new versions.
//!
//! Run: `cargo run -p ecommerce-contracts --example schemas -- check` (or `write`, or
//! `print`). `check` prints one line per event and exits 1 naming the file and the
//! field that break, for example:
//!
//! ```text
//! order.placed v2: matches order.placed.v2.avsc, reads v1, v2 (BACKWARD_TRANSITIVE)
//! ```
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;

use ecommerce_contracts::avro_schemas;
use edp_schema_registry::{AvroSchema, evolution};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_else(|| "check".to_owned());
    let dir = args.next().map(PathBuf::from).unwrap_or_else(|| {
        // `cargo run` sets it for this checkout, even when the build is shared.
        let root = std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
        PathBuf::from(root).join("../../../schemas/ecommerce")
    });
    let mut failed = false;
    for derived in avro_schemas() {
        let file = format!("{}.v{}.avsc", derived.event, derived.version);
        let path = dir.join(&file);
        match command.as_str() {
            "print" => println!("{file}: {}", derived.schema),
            "write" if !path.exists() => match std::fs::write(&path, &derived.schema) {
                Ok(()) => println!("wrote {}", path.display()),
                Err(e) => {
                    eprintln!("{}: {e}", path.display());
                    failed = true;
                }
            },
            "write" => println!("{file} exists; committed versions are never rewritten"),
            "check" => {
                let same = std::fs::read_to_string(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|text| AvroSchema::parse(&text).map_err(|e| e.to_string()))
                    .and_then(|committed| {
                        let ours = AvroSchema::parse(&derived.schema).map_err(|e| e.to_string())?;
                        if ours.identity() == committed.identity() {
                            Ok(())
                        } else {
                            Err("differs from the Rust type; a changed event is a new version (bump `version` and run `write`)".to_owned())
                        }
                    });
                let compatible =
                    evolution::check_candidate(&dir, derived.event, &derived.schema, None);
                match (same, compatible) {
                    (Ok(()), Ok(report)) => {
                        let versions: Vec<String> =
                            report.versions.iter().map(|v| format!("v{v}")).collect();
                        println!(
                            "{} v{}: matches {file}, reads {} ({})",
                            derived.event,
                            derived.version,
                            versions.join(", "),
                            report.level
                        );
                    }
                    (same, compatible) => {
                        if let Err(e) = same {
                            eprintln!("{}: {e}", path.display());
                        }
                        if let Err(e) = compatible {
                            eprintln!("{} v{}: {e}", derived.event, derived.version);
                        }
                        failed = true;
                    }
                }
            }
            other => {
                eprintln!("unknown command `{other}`; expected check, write or print");
                return ExitCode::from(2);
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
