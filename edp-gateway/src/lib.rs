//! An API gateway for edp services, as a library and a binary: routes by path prefix
//! (and so by API version) with path rewriting, a streaming reverse proxy with pooled
//! keep-alive upstream connections, forwarding headers (`X-Forwarded-*`, a request
//! id, W3C trace context), body-size limits, timeouts, and a circuit breaker per
//! upstream that answers 503 fast while the upstream fails. Errors are
//! `application/problem+json`.
//!
//! ```
//! use edp_gateway::{Gateway, Route, Upstream};
//!
//! # fn main() -> Result<(), edp_gateway::BadUpstream> {
//! let gateway = Gateway::builder()
//!     .route(Route::new("/api/v1/orders", Upstream::new("order", ["http://127.0.0.1:8081"])?)
//!         .rewrite("/v1/orders"))
//!     .route(Route::new("/api/v1/payments", Upstream::new("payment", ["http://127.0.0.1:8082"])?)
//!         .rewrite("/v1/payments"))
//!     .max_body(1024 * 1024)
//!     .build();
//! let app: axum::Router = gateway.router();
//! # let _ = app; Ok(()) }
//! ```

pub mod auth;
mod body;
pub mod config_server;
pub mod file_config;
mod http_client;
mod limit;
mod links;
mod problem;
mod proxy;
pub mod registry;
mod route;
mod server;
mod upstream;

pub use limit::RateLimit;
pub use proxy::{Gateway, GatewayBuilder, IDENTITY_HEADERS, REQUEST_ID};
pub use route::Route;
#[cfg(unix)]
pub use server::serve_per_core;
pub use server::{serve, serve_until};
pub use tower_http::cors::CorsLayer;
pub use upstream::{BadUpstream, Upstream};
