//! A started [`App`]: serving, and its shutdown in order.

use std::borrow::Cow;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::builder::Close;
use super::supervisor::{self, Supervised};
use super::task::Phase;
use super::{App, AppError};
use crate::error::BoxError;
use crate::handler::{Assignment, NotAssigned, RunningService};
use crate::health::Health;

/// A started [`App`]; stop it with [`shutdown`](Self::shutdown), or serve until a
/// future completes with [`run_until`](Self::run_until).
pub struct RunningApp {
    name: Cow<'static, str>,
    addr: SocketAddr,
    health: Health,
    server: Option<JoinHandle<std::io::Result<()>>>,
    stop_http: CancellationToken,
    services: Vec<RunningService>,
    tasks: Vec<Supervised>,
    stop_intake: CancellationToken,
    stop_background: CancellationToken,
    transports: Vec<Close>,
    grace: Duration,
    stopping: Arc<AtomicBool>,
    fatal: mpsc::UnboundedReceiver<(Cow<'static, str>, BoxError)>,
}

impl std::fmt::Debug for RunningApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningApp")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .field("services", &self.services.len())
            .field(
                "tasks",
                &self.tasks.iter().map(|t| &t.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

pub(super) async fn start(
    app: App,
    listener: tokio::net::TcpListener,
) -> Result<RunningApp, AppError> {
    let addr = listener.local_addr().map_err(|source| AppError::Bind {
        addr: "the given listener".into(),
        source,
    })?;
    let stopping = Arc::new(AtomicBool::new(false));
    let assignments: Arc<OnceLock<Vec<Assignment>>> = Arc::default();
    let health = {
        let stopping = stopping.clone();
        let assignments = assignments.clone();
        Health::new()
            .timeout(app.health.timeout_value())
            .check("shutdown", move || {
                std::future::ready(if stopping.load(Ordering::Relaxed) {
                    Err("the app is shutting down")
                } else {
                    Ok(())
                })
            })
            .check("consumers", move || {
                std::future::ready(match assignments.get() {
                    None => Err("the services are starting".to_owned()),
                    Some(all) => all.iter().find(|a| !a.is_assigned()).map_or(Ok(()), |a| {
                        Err(NotAssigned(a.group().to_owned()).to_string())
                    }),
                })
            })
            .merge(app.health)
    };
    let (fatal_tx, fatal) = mpsc::unbounded_channel();
    let stop_intake = CancellationToken::new();
    let stop_background = CancellationToken::new();
    let mut running = RunningApp {
        name: app.name,
        addr,
        health: health.clone(),
        server: None,
        stop_http: CancellationToken::new(),
        services: Vec::new(),
        tasks: Vec::new(),
        stop_intake,
        stop_background,
        transports: app.transports,
        grace: app.grace,
        stopping,
        fatal,
    };
    // Background tasks first (a relay publishes what the handlers write), then the
    // services, then what announces the App to others.
    let (intake, background): (Vec<_>, Vec<_>) = app
        .tasks
        .into_iter()
        .partition(|(t, ..)| t.phase() == Phase::Intake);
    let spawn = |tasks: Vec<_>, stop: CancellationToken| -> Vec<Supervised> {
        tasks
            .into_iter()
            .map(|(task, policy, state)| {
                supervisor::spawn(task, policy, stop.clone(), state, fatal_tx.clone())
            })
            .collect()
    };
    let started = spawn(background, running.stop_background.clone());
    running.tasks.extend(started);
    for (name, start) in app.services {
        match start().await {
            Ok(service) => running.services.push(service),
            Err(e) => {
                tracing::error!(app = %running.name, service = %name, error = %crate::error::chain_to_string(&e), "a service could not start; stopping the app");
                let _ = running.stop().await;
                return Err(e.into());
            }
        }
    }
    let _ = assignments.set(
        running
            .services
            .iter()
            .map(RunningService::assignment)
            .collect(),
    );
    let started = spawn(intake, running.stop_intake.clone());
    running.tasks.extend(started);
    let mut router = app.router.merge(super::http::management(health));
    for finish in app.finish {
        router = finish(router);
    }
    let router = super::http::instrument(router);
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(running.stop_http.clone().cancelled_owned())
        .into_future();
    running.server = Some(tokio::spawn(server));
    tracing::info!(app = %running.name, %addr, "listening");
    Ok(running)
}

impl RunningApp {
    /// The address HTTP is served on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every readiness check, as `/health/ready` runs them.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Serves until `signal` completes (or a task whose policy ends the App fails, or
    /// the server fails), then shuts down in order.
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) -> Result<(), AppError> {
        let early = self.wait_for(signal).await;
        let stopped = self.stop().await;
        early.and(stopped)
    }

    /// Serves until the first signal of `signals`, shuts down in order, and stops at
    /// once ([`AppError::Interrupted`]) on a second one.
    pub async fn run_with(
        mut self,
        signals: &mut crate::shutdown::Signals,
    ) -> Result<(), AppError> {
        let early = self.wait_for(signals.recv()).await;
        tokio::select! {
            stopped = self.stop() => early.and(stopped),
            () = signals.recv() => {
                tracing::warn!("second signal: stopping at once");
                Err(AppError::Interrupted)
            }
        }
    }

    /// Shuts down in order; see the [module documentation](super).
    pub async fn shutdown(mut self) -> Result<(), AppError> {
        self.stop().await
    }

    /// Waits for `signal`, a fatal task failure, or the server's end.
    async fn wait_for(&mut self, signal: impl Future<Output = ()>) -> Result<(), AppError> {
        let server = async {
            match self.server.as_mut() {
                Some(server) => server.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = signal => Ok(()),
            Some((task, source)) = self.fatal.recv() => Err(AppError::Task { task, source }),
            served = server => {
                self.server = None;
                match served {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(source)) => Err(AppError::Serve { addr: self.addr, source }),
                    Err(e) => Err(AppError::Serve { addr: self.addr, source: std::io::Error::other(e) }),
                }
            }
        }
    }

    /// The shutdown steps; each is bounded by the grace period and the next runs
    /// either way.
    async fn stop(&mut self) -> Result<(), AppError> {
        let name = self.name.clone();
        let grace = self.grace;
        let mut result = Ok(());
        // 1. Out of rotation: unready, no new connections, deregistered.
        self.stopping.store(true, Ordering::Relaxed);
        tracing::info!(app = %name, "shutdown 1/5: closing the listener and deregistering");
        self.stop_http.cancel();
        self.stop_intake.cancel();
        let (intake, background): (Vec<_>, Vec<_>) = std::mem::take(&mut self.tasks)
            .into_iter()
            .partition(|t| t.phase == Phase::Intake);
        join_tasks(&name, intake, grace).await;
        // 2. Requests in flight finish.
        tracing::info!(app = %name, "shutdown 2/5: finishing HTTP requests in flight");
        if let Some(mut server) = self.server.take() {
            match tokio::time::timeout(grace, &mut server).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(source))) => {
                    result = Err(AppError::Serve {
                        addr: self.addr,
                        source,
                    })
                }
                Ok(Err(e)) => {
                    result = Err(AppError::Serve {
                        addr: self.addr,
                        source: std::io::Error::other(e),
                    })
                }
                Err(_) => {
                    tracing::warn!(app = %name, grace_ms = grace.as_millis() as u64, "HTTP requests still in flight after the grace period; dropping them");
                    server.abort();
                }
            }
        }
        // 3. Handlers drain and ack.
        tracing::info!(app = %name, "shutdown 3/5: draining event handlers");
        let services = std::mem::take(&mut self.services);
        let drains = services.into_iter().map(|service| {
            let stop = service.stop_token();
            async move {
                match tokio::time::timeout(grace, service.shutdown()).await {
                    Ok(drained) => drained,
                    Err(_) => {
                        stop.cancel();
                        tracing::warn!("a service did not drain within the grace period; its events in flight are redelivered");
                        Ok(())
                    }
                }
            }
        });
        for drained in futures_util::future::join_all(drains).await {
            if let Err(e) = drained {
                tracing::warn!(app = %name, error = %crate::error::chain_to_string(&e), "a service did not stop cleanly");
                if result.is_ok() {
                    result = Err(e.into());
                }
            }
        }
        // 4. Background tasks finish their batch.
        tracing::info!(app = %name, "shutdown 4/5: stopping background tasks");
        self.stop_background.cancel();
        join_tasks(&name, background, grace).await;
        // 5. The transports close.
        tracing::info!(app = %name, "shutdown 5/5: closing transports");
        for close in std::mem::take(&mut self.transports) {
            match tokio::time::timeout(grace, close()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(app = %name, error = %crate::error::chain_to_string(&e), "a transport did not close cleanly");
                    if result.is_ok() {
                        result = Err(e.into());
                    }
                }
                Err(_) => {
                    tracing::warn!(app = %name, "a transport did not close within the grace period")
                }
            }
        }
        // A task that ended the App reports why.
        if let Ok((task, source)) = self.fatal.try_recv() {
            result = Err(AppError::Task { task, source });
        }
        tracing::info!(app = %name, "stopped");
        result
    }
}

async fn join_tasks(app: &str, tasks: Vec<Supervised>, grace: Duration) {
    let joins = tasks.into_iter().map(|mut task| async move {
        match tokio::time::timeout(grace, &mut task.handle).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(app, task = %task.name, error = %e, "task panicked while stopping"),
            Err(_) => {
                tracing::warn!(app, task = %task.name, "task did not stop within the grace period; aborted");
                task.handle.abort();
            }
        }
    });
    futures_util::future::join_all(joins).await;
}

impl Drop for RunningApp {
    /// A running App dropped without [`shutdown`](Self::shutdown) stops serving and
    /// stops its parts in the background, without waiting.
    fn drop(&mut self) {
        self.stop_http.cancel();
        self.stop_intake.cancel();
        for service in &self.services {
            service.stop_token().cancel();
        }
        self.stop_background.cancel();
    }
}
