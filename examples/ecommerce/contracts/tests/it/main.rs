//! ecommerce-contracts integration tests: the Avro contract and its evolution.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod evolution;
mod schemas;

/// `schemas/ecommerce` of this checkout. The runner's `CARGO_MANIFEST_DIR`, not the
/// compile-time one: a test binary built from another checkout sharing the target
/// directory must read this checkout.
pub fn schema_dir() -> std::path::PathBuf {
    let root = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    std::path::Path::new(&root).join("../../../schemas/ecommerce")
}
