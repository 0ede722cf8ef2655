//! Service discovery: a registry of service instances (register, heartbeat, expiry
//! by TTL, deregister) with an HTTP API, and the client services use to register
//! themselves.
//!
//! The HTTP API, served by [`Registry::router`]:
//!
//! | request | does |
//! |---|---|
//! | `PUT /v1/services/{service}/instances/{id}` with `{"url": "http://host:port", "ttl_secs": 30}` | registers, or renews (a heartbeat) |
//! | `DELETE /v1/services/{service}/instances/{id}` | deregisters |
//! | `GET /v1/services/{service}` | the live instances: `{"service": .., "instances": [{"id", "url"}]}` |
//! | `GET /v1/services` | every service with live instances |
//!
//! An instance that misses its heartbeats for its TTL is gone.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::routing::{get, put};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::problem::problem;

/// The default time an instance stays registered without a heartbeat.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);

/// service -> instance id -> (url, expiry).
type Services = HashMap<String, BTreeMap<String, (String, Instant)>>;

/// A live instance of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// Unique within its service (for example host:port, or a UUID).
    pub id: String,
    /// Its base URL, `http://host:port`.
    pub url: String,
}

/// The instances of one service, as `GET /v1/services/{service}` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInstances {
    /// The service.
    pub service: String,
    /// Its live instances, by id.
    pub instances: Vec<Instance>,
}

#[derive(Debug, Deserialize)]
struct RegisterBody {
    url: String,
    #[serde(default)]
    ttl_secs: Option<u64>,
}

/// The registry: in memory, one per deployment (run it as a binary or inside the
/// gateway).
///
/// ```
/// use edp_gateway::registry::Registry;
/// use std::time::Duration;
///
/// let registry = Registry::new();
/// registry.register("order", "order-1", "http://127.0.0.1:8081", Duration::from_secs(30)).unwrap();
/// assert_eq!(registry.instances("order").len(), 1);
/// registry.deregister("order", "order-1");
/// assert!(registry.instances("order").is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Registry {
    services: Arc<Mutex<Services>>,
}

/// A registration the registry refuses.
#[derive(Debug, thiserror::Error)]
#[error("cannot register `{service}/{id}`: {reason}")]
pub struct BadRegistration {
    service: String,
    id: String,
    reason: String,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `id` of `service` at `url`, or renews it, for `ttl`.
    pub fn register(
        &self,
        service: &str,
        id: &str,
        url: &str,
        ttl: Duration,
    ) -> Result<(), BadRegistration> {
        let bad = |reason: &str| BadRegistration {
            service: service.to_owned(),
            id: id.to_owned(),
            reason: reason.to_owned(),
        };
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 128
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        };
        if !name_ok(service) || !name_ok(id) {
            return Err(bad(
                "names are 1 to 128 letters, digits, '-', '_', '.' or ':'",
            ));
        }
        let uri: http::Uri = url.parse().map_err(|_| bad("the url does not parse"))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(bad("the url must be http://host:port"));
        }
        if ttl.is_zero() || ttl > Duration::from_secs(3600) {
            return Err(bad("the TTL must be 1 s to 1 h"));
        }
        let mut services = self.lock();
        services
            .entry(service.to_owned())
            .or_default()
            .insert(id.to_owned(), (url.to_owned(), Instant::now() + ttl));
        Ok(())
    }

    /// Removes `id` of `service`; true when it was registered.
    pub fn deregister(&self, service: &str, id: &str) -> bool {
        let mut services = self.lock();
        let removed = services
            .get_mut(service)
            .is_some_and(|s| s.remove(id).is_some());
        if services.get(service).is_some_and(BTreeMap::is_empty) {
            services.remove(service);
        }
        removed
    }

    /// The live instances of `service`, by id.
    pub fn instances(&self, service: &str) -> Vec<Instance> {
        let now = Instant::now();
        let mut services = self.lock();
        let Some(s) = services.get_mut(service) else {
            return Vec::new();
        };
        s.retain(|_, (_, expires)| *expires > now);
        s.iter()
            .map(|(id, (url, _))| Instance {
                id: id.clone(),
                url: url.clone(),
            })
            .collect()
    }

    /// The services with live instances.
    pub fn services(&self) -> Vec<String> {
        let now = Instant::now();
        let mut services = self.lock();
        services.retain(|_, s| {
            s.retain(|_, (_, expires)| *expires > now);
            !s.is_empty()
        });
        let mut names: Vec<String> = services.keys().cloned().collect();
        names.sort();
        names
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Services> {
        self.services.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The HTTP API (see the module documentation).
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/v1/services", get(list))
            .route("/v1/services/{service}", get(show))
            .route(
                "/v1/services/{service}/instances/{id}",
                put(register).delete(deregister),
            )
            .with_state(self.clone())
    }
}

async fn list(State(r): State<Registry>) -> axum::Json<Vec<String>> {
    axum::Json(r.services())
}

async fn show(
    State(r): State<Registry>,
    Path(service): Path<String>,
) -> axum::Json<ServiceInstances> {
    let instances = r.instances(&service);
    axum::Json(ServiceInstances { service, instances })
}

async fn register(
    State(r): State<Registry>,
    Path((service, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let reg: RegisterBody = match serde_json::from_slice(&body) {
        Ok(reg) => reg,
        Err(e) => {
            return problem(
                StatusCode::BAD_REQUEST,
                &format!(
                    "the body must be {{\"url\": \"http://host:port\", \"ttl_secs\": 30}}: {e}"
                ),
            );
        }
    };
    let ttl = reg.ttl_secs.map_or(DEFAULT_TTL, Duration::from_secs);
    match r.register(&service, &id, &reg.url, ttl) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => problem(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

async fn deregister(
    State(r): State<Registry>,
    Path((service, id)): Path<(String, String)>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if r.deregister(&service, &id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        problem(
            StatusCode::NOT_FOUND,
            &format!("no instance `{id}` of `{service}` is registered"),
        )
    }
}

/// A service's side: registers an instance, heartbeats every third of its TTL, and
/// deregisters on [`shutdown`](RegistrationHandle::shutdown).
///
/// ```no_run
/// # async fn f() -> Result<(), edp_gateway::registry::DiscoveryError> {
/// use edp_gateway::registry::RegistryClient;
///
/// let client = RegistryClient::new("http://registry:8761")?;
/// let registration = client.register("order", "order-1", "http://10.0.0.5:8081").await?;
/// // ... serve ...
/// registration.shutdown().await; // deregisters
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RegistryClient {
    base: http::Uri,
    ttl: Duration,
}

/// The registry cannot be reached or refused a call.
#[derive(Debug, thiserror::Error)]
#[error("service registry: {0}")]
pub struct DiscoveryError(String);

impl RegistryClient {
    /// A client of the registry at `url` (`http://host:port`), registering with the
    /// default TTL.
    pub fn new(url: &str) -> Result<Self, DiscoveryError> {
        let base: http::Uri = url
            .parse()
            .map_err(|e| DiscoveryError(format!("`{url}` is not a URL: {e}")))?;
        Ok(Self {
            base,
            ttl: DEFAULT_TTL,
        })
    }

    /// The TTL registrations ask for.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Registers `id` of `service` at `url`, then keeps it registered in the
    /// background until [`RegistrationHandle::shutdown`].
    pub async fn register(
        &self,
        service: &str,
        id: &str,
        url: &str,
    ) -> Result<RegistrationHandle, DiscoveryError> {
        let path = format!("/v1/services/{service}/instances/{id}");
        let body =
            serde_json::json!({"url": url, "ttl_secs": self.ttl.as_secs().max(1)}).to_string();
        self.call(http::Method::PUT, &path, Some(body.clone()))
            .await?;
        let me = self.clone();
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let heartbeat_path = path.clone();
        let task = tokio::spawn(async move {
            let every = (me.ttl / 3).max(Duration::from_millis(100));
            loop {
                tokio::select! {
                    () = stopped.cancelled() => break,
                    () = tokio::time::sleep(every) => {}
                }
                if let Err(e) = me
                    .call(http::Method::PUT, &heartbeat_path, Some(body.clone()))
                    .await
                {
                    tracing::warn!(error = %e, "registry heartbeat failed; retrying");
                }
            }
        });
        Ok(RegistrationHandle {
            client: self.clone(),
            path,
            stop,
            task,
        })
    }

    /// The registration of `id` of `service` at `url` as an [`App`](edp_core::app)
    /// task of [`Phase::Intake`](edp_core::app::Phase::Intake): it registers, sends
    /// heartbeats, and deregisters first thing at shutdown, so that the gateway stops
    /// routing to the instance before it finishes its requests in flight. A registry
    /// that cannot be reached fails the task, which the App restarts with backoff
    /// (readiness is down meanwhile).
    pub fn registration(&self, service: &str, id: &str, url: &str) -> Registration {
        Registration {
            client: self.clone(),
            service: service.to_owned(),
            path: format!("/v1/services/{service}/instances/{id}"),
            body: serde_json::json!({"url": url, "ttl_secs": self.ttl.as_secs().max(1)})
                .to_string(),
        }
    }

    /// The live instances of `service`.
    pub async fn instances(&self, service: &str) -> Result<Vec<Instance>, DiscoveryError> {
        let body = self
            .call(http::Method::GET, &format!("/v1/services/{service}"), None)
            .await?;
        let found: ServiceInstances =
            serde_json::from_slice(&body).map_err(|e| DiscoveryError(e.to_string()))?;
        Ok(found.instances)
    }

    async fn call(
        &self,
        method: http::Method,
        path: &str,
        body: Option<String>,
    ) -> Result<bytes::Bytes, DiscoveryError> {
        crate::http_client::call(&self.base, method, path, body)
            .await
            .map_err(DiscoveryError)
    }
}

/// A service instance's registration as an App task; see
/// [`RegistryClient::registration`].
#[derive(Debug)]
pub struct Registration {
    client: RegistryClient,
    service: String,
    path: String,
    body: String,
}

impl edp_core::app::Task for Registration {
    fn name(&self) -> std::borrow::Cow<'static, str> {
        format!("registration:{}", self.service).into()
    }

    fn phase(&self) -> edp_core::app::Phase {
        edp_core::app::Phase::Intake
    }

    async fn run(&mut self, stop: CancellationToken) -> Result<(), edp_core::error::BoxError> {
        let put = || {
            self.client
                .call(http::Method::PUT, &self.path, Some(self.body.clone()))
        };
        put().await?;
        let every = (self.client.ttl / 3).max(Duration::from_millis(100));
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
            if let Err(e) = put().await {
                tracing::warn!(error = %e, "registry heartbeat failed; retrying");
            }
        }
        if let Err(e) = self
            .client
            .call(http::Method::DELETE, &self.path, None)
            .await
        {
            tracing::warn!(error = %e, "cannot deregister; the registration expires with its TTL");
        }
        Ok(())
    }
}

/// A live registration; see [`RegistryClient::register`].
#[derive(Debug)]
pub struct RegistrationHandle {
    client: RegistryClient,
    path: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl RegistrationHandle {
    /// Stops the heartbeats and deregisters.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.task.await;
        if let Err(e) = self
            .client
            .call(http::Method::DELETE, &self.path, None)
            .await
        {
            tracing::warn!(error = %e, "cannot deregister; the registration expires with its TTL");
        }
    }
}
