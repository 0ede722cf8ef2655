//! A Confluent-compatible schema registry and Avro schema-evolution checks.
//!
//! - [`schema`]: [`AvroSchema`], parsed, with its canonical form.
//! - [`compat`]: [`Compatibility`] levels and Avro's resolution rules, failing with the
//!   path of the field that breaks ([`Incompatibility`]).

pub mod compat;
pub mod schema;

pub use compat::{Compatibility, Incompatibility};
pub use schema::{AvroSchema, SchemaError};
pub mod registry;
pub use registry::{Registry, RegistryError};
pub mod server;
pub use server::EmbeddedRegistry;
pub mod evolution;
