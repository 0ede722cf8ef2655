//! The system behind the API gateway: the services register their HTTP listener in
//! a discovery registry (embedded, or the one at `EDP_REGISTRY_URL`), and the gateway
//! routes `/api/v1/orders/**` and `/api/v1/notifications/**` to the instances it
//! finds there, rate-limited per client, and with JWT validation when
//! `EDP_JWT_SECRET` is set (HS256, issuer and audience `ecommerce`; development).
//!
//! ```no_run
//! # async fn f() -> Result<(), ecommerce::LaunchError> {
//! let system = ecommerce::start("127.0.0.1:8080".parse().unwrap()).await?;
//! let front = ecommerce::front(system.local_addr(), "127.0.0.1:8000".parse().unwrap()).await?;
//! // clients call http://127.0.0.1:8000/api/v1/orders
//! front.shutdown().await;
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use edp_gateway::auth::JwtAuth;
use edp_gateway::registry::{RegistrationHandle, Registry, RegistryClient};
use edp_gateway::{Gateway, RateLimit, Route, Upstream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::LaunchError;

/// The gateway in front of a running system; stop it with [`shutdown`](Front::shutdown).
#[derive(Debug)]
pub struct Front {
    addr: SocketAddr,
    registrations: Vec<RegistrationHandle>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Front {
    /// Where the gateway listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Deregisters the services and stops the gateway (and the embedded registry).
    pub async fn shutdown(self) {
        for r in self.registrations {
            r.shutdown().await;
        }
        self.stop.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Starts the registry (unless `EDP_REGISTRY_URL` names one), registers the services
/// served at `system`, and serves the gateway on `addr`.
pub async fn front(system: SocketAddr, addr: SocketAddr) -> Result<Front, LaunchError> {
    let failed = |e: &dyn std::fmt::Display| LaunchError::Gateway(e.to_string());
    let stop = CancellationToken::new();
    let mut tasks = Vec::new();
    let registry_url = match std::env::var("EDP_REGISTRY_URL") {
        Ok(url) => url,
        Err(_) => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| failed(&e))?;
            let at = listener.local_addr().map_err(|e| failed(&e))?;
            let app = Registry::new().router();
            let stopped = stop.clone();
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(stopped.cancelled_owned())
                    .await;
            }));
            format!("http://{at}")
        }
    };
    let registry = RegistryClient::new(&registry_url)
        .map_err(|e| failed(&e))?
        .ttl(Duration::from_secs(10));
    let url = format!("http://{system}");
    let id = format!("ecommerce-{}", system.port());
    let mut registrations = Vec::new();
    for service in [ecommerce_order::NAME, ecommerce_notification::NAME] {
        registrations.push(
            registry
                .register(service, &id, &url)
                .await
                .map_err(|e| failed(&e))?,
        );
    }
    let limit = RateLimit::new(100, Duration::from_secs(10))
        .ok_or_else(|| failed(&"the rate limit is zero"))?;
    let mut gateway = Gateway::builder()
        .route(
            Route::new(
                "/api/v1/orders",
                Upstream::discovered(ecommerce_order::NAME, registry.clone()),
            )
            .rewrite("/v1/orders")
            .rate_limit(limit),
        )
        .route(
            Route::new(
                "/api/v1/notifications",
                Upstream::discovered(ecommerce_notification::NAME, registry.clone()),
            )
            .rewrite("/v1/notifications")
            .rate_limit(limit),
        );
    if let Ok(secret) = std::env::var("EDP_JWT_SECRET") {
        gateway = gateway.auth(JwtAuth::hs256(secret.as_bytes(), "ecommerce", "ecommerce"));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| LaunchError::Bind { addr, source })?;
    let addr = listener.local_addr().map_err(|e| failed(&e))?;
    let gateway = gateway.build();
    let stopped = stop.clone();
    tasks.push(tokio::spawn(async move {
        if let Err(e) = edp_gateway::serve_until(listener, gateway, stopped.cancelled_owned()).await
        {
            tracing::error!(error = %e, "the gateway stopped");
        }
    }));
    tracing::info!(%addr, registry = %registry_url, "gateway listening");
    Ok(Front {
        addr,
        registrations,
        stop,
        tasks,
    })
}
