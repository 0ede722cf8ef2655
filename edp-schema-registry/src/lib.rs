//! A Confluent-compatible schema registry, in-process or as a binary, and Avro schema
//! evolution checked at build time.
//!
//! ```
//! use edp_schema_registry::{Compatibility, EmbeddedRegistry, evolution};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A registry on a free port, for Confluent clients (producers, consumers, the
//! // Kafka transport's serializers) in tests and embedded mode.
//! let server = EmbeddedRegistry::start("127.0.0.1:0").await?;
//! let url = server.url(); // http://127.0.0.1:PORT
//!
//! // The same registry in-process.
//! let registry = server.registry();
//! let v1 = r#"{"type":"record","name":"OrderPlaced","fields":[{"name":"order_id","type":"string"}]}"#;
//! assert_eq!(registry.register("orders-value", v1)?.id, 1);
//!
//! // A new version must be compatible at the subject's level, BACKWARD by default:
//! // a field added without a default cannot be filled in when reading old data.
//! let v2 = r#"{"type":"record","name":"OrderPlaced","fields":[{"name":"order_id","type":"string"},
//!     {"name":"coupon","type":"string"}]}"#;
//! let refused = registry.register("orders-value", v2).unwrap_err();
//! assert_eq!(refused.error_code(), 409);
//! assert!(refused.to_string().contains("`OrderPlaced.coupon`: field `coupon` has no default"));
//!
//! server.shutdown().await?;
//! # let _ = (url, Compatibility::Full, evolution::DEFAULT_LEVEL);
//! # Ok(()) }
//! ```
//!
//! # Concepts
//!
//! - [`schema`]: [`AvroSchema`], an Avro schema parsed by the specification's rules,
//!   with its Parsing Canonical Form.
//! - [`compat`]: the seven [`Compatibility`] levels, [`compat::can_read`] (Avro's
//!   schema-resolution rules: defaults, aliases, unions, promotions, string and bytes,
//!   enum defaults) and [`compat::check`] against a history. A failure is an
//!   [`Incompatibility`] naming the field's path (`OrderPlaced.items[].sku`), what is
//!   wrong and which version.
//! - [`registry`]: [`Registry`], subjects, versions, global ids and levels in memory;
//!   cheap to clone, safe to share.
//! - [`server`]: the Confluent REST API over a registry: [`EmbeddedRegistry`] to run
//!   it in-process, [`server::router`] to mount it in your own axum app.
//! - [`evolution`]: the build-time check over `schemas/<namespace>/<event>.v<N>.avsc`:
//!   [`evolution::check_dir`] and [`evolution::check_candidate`].
//!
//! The `edp-schema-registry` binary serves the registry (`serve --addr
//! 127.0.0.1:8081`) on an `edp_core::app::App`, with `/health/live`, `/health/ready`
//! and `/metrics` beside the API, and runs the evolution check (`check schemas --level
//! BACKWARD_TRANSITIVE`).
//!
//! # Left out
//!
//! Soft deletes (`DELETE /subjects/{subject}` deletes for good; ids stay resolvable),
//! schema references, schema types other than AVRO, persistence (the registry lives in
//! memory), modes (READONLY, IMPORT), contexts and authentication.

pub mod compat;
pub mod evolution;
pub mod registry;
pub mod schema;
pub mod server;

pub use compat::{Compatibility, Incompatibility};
pub use registry::{Registry, RegistryError};
pub use schema::{AvroSchema, SchemaError};
pub use server::EmbeddedRegistry;
