//! The Confluent Schema Registry REST API over a [`Registry`]: in-process
//! ([`EmbeddedRegistry`]), mounted in your own axum app ([`router`]), or as the
//! `edp-schema-registry serve` binary, which mounts [`router`] on an
//! `edp_core::app::App` and so serves `/health/live`, `/health/ready` and `/metrics`
//! too.
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /subjects` | `["orders-value"]` |
//! | `POST /subjects/{subject}/versions` `{"schema": "..."}` | `{"id": 1}`; 409 if incompatible |
//! | `POST /subjects/{subject}` `{"schema": "..."}` | `{"subject", "id", "version", "schema"}` |
//! | `DELETE /subjects/{subject}` | the deleted versions, `[1, 2]` |
//! | `GET /subjects/{subject}/versions` | `[1, 2]` |
//! | `GET /subjects/{subject}/versions/{version\|latest}` | `{"subject", "id", "version", "schema"}` |
//! | `GET /subjects/{subject}/versions/{version\|latest}/schema` | the schema itself |
//! | `GET /schemas/ids/{id}` | `{"schema": "..."}` |
//! | `GET /schemas/ids/{id}/versions` | `[{"subject", "version"}]` |
//! | `GET /schemas/ids/{id}/subjects` | `["orders-value"]` |
//! | `GET /schemas/types` | `["AVRO"]` |
//! | `GET`/`PUT /config` | `{"compatibilityLevel": "BACKWARD"}` / `{"compatibility": "FULL"}` |
//! | `GET`/`PUT`/`DELETE /config/{subject}` | the same for one subject; `GET` takes `?defaultToGlobal=true` |
//! | `POST /compatibility/subjects/{subject}/versions/{version\|latest}` | `{"is_compatible": true}`, plus `messages` with `?verbose=true` |
//! | `POST /compatibility/subjects/{subject}/versions` | the same, against the versions the level checks |
//!
//! Errors are `{"error_code": 40401, "message": "..."}`: 40401 subject not found, 40402
//! version not found, 40403 schema not found, 40408 no subject-level compatibility,
//! 42201 invalid schema, 42202 invalid version, 42203 invalid compatibility level, 409
//! incompatible schema (the message names the field), 400 a body that is not JSON, 415
//! an unsupported content type. Answers are `application/vnd.schemaregistry.v1+json`.

mod error;
mod handlers;

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use axum::Router;
use axum::routing::{get, post};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::registry::Registry;

/// The API's routes over `registry`, to serve or to nest in a larger app.
///
/// ```
/// use edp_schema_registry::{Registry, server};
///
/// let app = axum::Router::new().nest("/registry", server::router(Registry::new()));
/// # let _: axum::Router = app;
/// ```
pub fn router(registry: Registry) -> Router {
    use handlers::*;
    Router::new()
        .route("/", get(root))
        .route("/subjects", get(subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
        .route("/subjects/{subject}/versions", get(versions).post(register))
        .route(
            "/subjects/{subject}/versions/{version}",
            get(subject_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(subject_version_schema),
        )
        .route("/schemas/types", get(schema_types))
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/versions", get(schema_versions))
        .route("/schemas/ids/{id}/subjects", get(schema_subjects))
        .route("/config", get(get_config).put(put_config))
        .route(
            "/config/{subject}",
            get(get_subject_config)
                .put(put_subject_config)
                .delete(delete_subject_config),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(compatibility_with_version),
        )
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(compatibility_with_all),
        )
        .fallback(no_route)
        .with_state(registry)
}

/// Serves the API over `registry` on `listener` until `shutdown` completes, then
/// finishes the requests in flight.
///
/// # Errors
///
/// [`ServeError::Serve`] if accepting connections fails.
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    axum::serve(listener, router(registry))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Serve)
}

/// The registry could not be served.
///
/// Handling: for `Bind`, choose another address or stop what holds the port; the others
/// are I/O failures of the host, worth logging and restarting on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}; is the port taken, or the address not this host's?")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Serving failed.
    #[error("the schema registry server failed")]
    Serve(#[source] io::Error),
    /// The server task ended abnormally (it panicked or was cancelled).
    #[error("the schema registry server task ended abnormally")]
    Task(#[source] tokio::task::JoinError),
}

/// A registry served in-process, for tests and embedded mode: started on an address
/// (port 0 picks a free one), stopped with [`EmbeddedRegistry::shutdown`] or when
/// dropped.
///
/// ```no_run
/// use edp_schema_registry::EmbeddedRegistry;
///
/// # async fn f() -> Result<(), edp_schema_registry::server::ServeError> {
/// let registry = EmbeddedRegistry::start("127.0.0.1:0").await?;
/// let url = registry.url(); // http://127.0.0.1:PORT, for any Confluent client
/// registry.registry().register("orders-value", r#""string""#).ok(); // or in-process
/// registry.shutdown().await?;
/// # let _ = url; Ok(()) }
/// ```
#[derive(Debug)]
pub struct EmbeddedRegistry {
    addr: SocketAddr,
    registry: Registry,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl EmbeddedRegistry {
    /// Starts an empty registry on `addr`, listening when this returns.
    ///
    /// # Errors
    ///
    /// [`ServeError::Bind`] if `addr` cannot be bound.
    pub async fn start(addr: impl ToSocketAddrs + std::fmt::Display) -> Result<Self, ServeError> {
        Self::start_with(addr, Registry::new()).await
    }

    /// Starts serving `registry` (shared with the caller: it is cheap to clone).
    ///
    /// # Errors
    ///
    /// [`ServeError::Bind`] if `addr` cannot be bound.
    pub async fn start_with(
        addr: impl ToSocketAddrs + std::fmt::Display,
        registry: Registry,
    ) -> Result<Self, ServeError> {
        let bind_error = |source| ServeError::Bind {
            addr: addr.to_string(),
            source,
        };
        let listener = TcpListener::bind(&addr).await.map_err(bind_error)?;
        let local = listener.local_addr().map_err(bind_error)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, registry.clone(), async move {
            // A dropped handle stops the server too.
            let _ = stopped.await;
        }));
        tracing::info!(addr = %local, "schema registry listening");
        Ok(Self {
            addr: local,
            registry,
            stop: Some(stop),
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL for clients: `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The registry it serves, to use in-process.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Stops accepting connections, finishes the requests in flight, and returns.
    ///
    /// # Errors
    ///
    /// What the server failed with, if it did.
    pub async fn shutdown(mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.map_err(ServeError::Task)?
    }
}
