//! [`App`]: the parts of a service, put together before it starts.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::Service;
use crate::codec::Codec;
use crate::error::BoxError;
use crate::handler::{RunningService, ServiceError};
use crate::health::{Check, Health};
use crate::transport::{CloseError, Transport};

use super::task::DynTask;
use super::{AppError, RunningApp, Task, TaskPolicy, supervisor};

pub(super) type Start =
    Box<dyn FnOnce() -> BoxFuture<'static, Result<RunningService, ServiceError>> + Send>;
pub(super) type Close = Box<dyn FnOnce() -> BoxFuture<'static, Result<(), CloseError>> + Send>;

/// One service's handlers, tasks and routes; see the [module documentation](super).
pub struct App {
    pub(super) name: Cow<'static, str>,
    pub(super) services: Vec<(String, Start)>,
    pub(super) tasks: Vec<(Box<dyn DynTask>, TaskPolicy, supervisor::TaskState)>,
    pub(super) router: axum::Router,
    pub(super) health: Health,
    pub(super) transports: Vec<Close>,
    pub(super) grace: Duration,
    pub(super) finish: Vec<Finish>,
}

pub(super) type Finish = Box<dyn FnOnce(axum::Router) -> axum::Router + Send>;

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("name", &self.name)
            .field(
                "services",
                &self.services.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field(
                "tasks",
                &self
                    .tasks
                    .iter()
                    .map(|(t, ..)| t.name())
                    .collect::<Vec<_>>(),
            )
            .field("health", &self.health)
            .field("grace", &self.grace)
            .finish()
    }
}

impl App {
    /// An App named `name` (in logs), with no parts yet.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        Self {
            name: name.into(),
            services: Vec::new(),
            tasks: Vec::new(),
            router: axum::Router::new(),
            health: Health::new(),
            transports: Vec::new(),
            grace: Duration::from_secs(10),
            finish: Vec::new(),
        }
    }

    /// Adds an event-driven service: subscribed before requests are taken, drained
    /// (handlers in flight finished and acked) in step 3 of shutdown. Its consumer's
    /// partition assignment is part of readiness.
    pub fn service<T: Transport, C: Codec>(mut self, service: Service<T, C>) -> Self {
        let name = service.name().to_owned();
        self.services
            .push((name, Box::new(move || Box::pin(service.start()))));
        self
    }

    /// Adds a background task, restarted with backoff when it fails
    /// ([`TaskPolicy::default`]).
    pub fn task(self, task: impl Task) -> Self {
        self.task_with(task, TaskPolicy::default())
    }

    /// Adds a background task with its failure policy.
    pub fn task_with(mut self, task: impl Task, policy: TaskPolicy) -> Self {
        let state = supervisor::TaskState::default();
        let name = task.name();
        let mut health = std::mem::take(&mut self.health);
        health = health.check(format!("task:{name}"), {
            let state = state.clone();
            move || std::future::ready(state.check())
        });
        if let Some(check) = task.readiness() {
            health = health.with(name.to_string(), check);
        }
        self.health = health;
        self.tasks.push((Box::new(task), policy, state));
        self
    }

    /// Adds HTTP routes (merged with the others; paths must not overlap).
    pub fn routes(mut self, router: axum::Router) -> Self {
        self.router = self.router.merge(router);
        self
    }

    /// A last change to the whole router, its management routes included, made when
    /// the App starts: fallbacks for unknown paths and methods, or a layer around
    /// every route. Changes apply in the order they were added.
    ///
    /// ```
    /// # use edp_core::app::App;
    /// let app = App::new("shop").finish_routes(|router| {
    ///     router.fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "no such route") })
    /// });
    /// ```
    pub fn finish_routes(
        mut self,
        finish: impl FnOnce(axum::Router) -> axum::Router + Send + 'static,
    ) -> Self {
        self.finish.push(Box::new(finish));
        self
    }

    /// Adds a readiness check: an async function that returns `Ok` while `name` works
    /// (a database ping, say).
    pub fn check<F, Fut, E>(mut self, name: impl Into<Arc<str>>, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.health = std::mem::take(&mut self.health).with(name, Check::new(check));
        self
    }

    /// How long each readiness check may take before it counts as down (default 2 s).
    pub fn check_timeout(mut self, timeout: Duration) -> Self {
        self.health = std::mem::take(&mut self.health).timeout(timeout);
        self
    }

    /// A transport to close last, after everything that uses it has stopped; its
    /// [`health`](Transport::health) is part of readiness. Add each transport once,
    /// even when several services share it.
    pub fn transport<T: Transport>(mut self, transport: T) -> Self {
        let probe = transport.clone();
        self.health = std::mem::take(&mut self.health).check("transport", move || {
            let probe = probe.clone();
            async move { probe.health().await }
        });
        self.transports.push(Box::new(move || {
            Box::pin(async move { transport.close().await })
        }));
        self
    }

    /// How long each step of shutdown may take before the App goes on to the next
    /// (default 10 s). A service's own [`shutdown_grace`](crate::ServiceBuilder::shutdown_grace)
    /// bounds its drain as well.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Everything of `other` added to this App: its services, tasks, routes, checks and
    /// transports. One process can run several services' Apps as one (one listener,
    /// one shutdown) while each can still run alone.
    pub fn merge(mut self, other: App) -> Self {
        self.services.extend(other.services);
        self.tasks.extend(other.tasks);
        self.router = self.router.merge(other.router);
        self.health = std::mem::take(&mut self.health).merge(other.health);
        self.transports.extend(other.transports);
        self.finish.extend(other.finish);
        self.grace = self.grace.max(other.grace);
        self
    }

    /// The readiness checks added so far (the App adds "shutdown" and "consumers"
    /// when it starts).
    pub fn health(&self) -> &Health {
        &self.health
    }
    /// Binds `addr`, starts every part and serves until ctrl-c or SIGTERM, then shuts
    /// down in order; a second signal ends it at once ([`AppError::Interrupted`]).
    pub async fn run(
        self,
        addr: impl tokio::net::ToSocketAddrs + std::fmt::Display,
    ) -> Result<(), AppError> {
        let mut signals = crate::shutdown::Signals::new();
        let running = self.start(addr).await?;
        running.run_with(&mut signals).await
    }

    /// Binds `addr` (port 0 picks a free port; see [`RunningApp::local_addr`]) and
    /// starts every part; see the [module documentation](super) for the order.
    pub async fn start(
        self,
        addr: impl tokio::net::ToSocketAddrs + std::fmt::Display,
    ) -> Result<RunningApp, AppError> {
        let shown = addr.to_string();
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| AppError::Bind {
                addr: shown,
                source,
            })?;
        self.start_on(listener).await
    }

    /// Starts every part, serving HTTP on `listener`.
    pub async fn start_on(self, listener: tokio::net::TcpListener) -> Result<RunningApp, AppError> {
        super::running::start(self, listener).await
    }
}
