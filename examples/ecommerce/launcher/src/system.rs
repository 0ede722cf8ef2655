//! The wiring: one in-memory bus, three services, one HTTP listener.

use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;

use axum::http::{Method, Uri};
use ecommerce_notification::Outbox;
use ecommerce_order::OrderStore;
use ecommerce_order::problem::Problem;
use ecommerce_payment::Payments;
use edp_core::handler::RunningService;
use edp_core::transport::Transport;
use edp_core::transport::memory::MemoryTransport;
use edp_core::{Codec, JsonCodec, Publisher, ServiceError};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The system could not start, or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// The HTTP listener could not bind.
    #[error("cannot listen on {addr}; is the port in use? pick another with --addr")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A service could not subscribe, or did not stop cleanly.
    #[error("a service failed")]
    Service(#[from] ServiceError),
    /// The HTTP server failed while serving.
    #[error("the HTTP server failed")]
    Serve(#[source] io::Error),
    /// The in-memory bus did not close cleanly.
    #[error("the in-memory bus did not close cleanly")]
    Close(#[source] edp_core::transport::CloseError),
    /// The schema registry client could not be made (a bad URL).
    #[error("cannot use the schema registry")]
    Registry(#[source] edp_avro::RegistryError),
    /// The embedded schema registry could not start.
    #[error("cannot start the embedded schema registry")]
    EmbeddedRegistry(#[source] edp_schema_registry::server::ServeError),
    /// The Kafka client could not be made (a bad broker list or property).
    #[error("cannot use Kafka")]
    Kafka(#[from] edp_kafka::KafkaTransportError),
}

// ANCHOR: kafka
/// An Avro codec for the ecommerce services, on the schema registry at `url`
/// (Confluent-compatible), registering the events' schemas as they are first
/// published. The registry checks each new version against the earlier ones.
pub fn avro(url: &str) -> Result<edp_avro::AvroCodec, LaunchError> {
    let client = edp_avro::SchemaRegistryClient::new(url).map_err(LaunchError::Registry)?;
    Ok(edp_avro::AvroCodec::new(client))
}

/// The Avro codec on the registry at `url`, or, without one, on a registry started
/// in this process (returned too: it serves until dropped).
pub async fn avro_or_embedded(
    url: Option<&str>,
) -> Result<
    (
        edp_avro::AvroCodec,
        Option<edp_schema_registry::EmbeddedRegistry>,
    ),
    LaunchError,
> {
    match url {
        Some(url) => Ok((avro(url)?, None)),
        None => {
            let registry = edp_schema_registry::EmbeddedRegistry::start("127.0.0.1:0")
                .await
                .map_err(LaunchError::EmbeddedRegistry)?;
            tracing::info!(url = %registry.url(), "embedded schema registry started");
            Ok((avro(&registry.url())?, Some(registry)))
        }
    }
}

/// A Kafka transport for the ecommerce services at `brokers` (`host:port`,
/// comma-separated). Topics `orders` and `payments` are created when missing.
pub fn kafka(brokers: &str) -> Result<edp_kafka::KafkaTransport, LaunchError> {
    let config = edp_kafka::KafkaConfig::new(brokers).client_id("ecommerce");
    Ok(edp_kafka::KafkaTransport::connect(config)?)
}
// ANCHOR_END: kafka

/// The running system: the order, payment and notification services on one
/// in-memory bus, and their APIs on one HTTP listener.
///
/// Stop it with [`shutdown`](Self::shutdown) or [`run_until`](Self::run_until).
#[derive(Debug)]
pub struct System<T: Transport = MemoryTransport> {
    addr: SocketAddr,
    transport: T,
    orders: OrderStore,
    payments: Payments,
    outbox: Outbox,
    services: Vec<RunningService>,
    stop: CancellationToken,
    server: Option<JoinHandle<io::Result<()>>>,
}

/// Starts the system on a new in-memory bus, serving HTTP on `addr` (port 0 picks a
/// free port; see [`System::local_addr`]).
pub async fn start(addr: SocketAddr) -> Result<System, LaunchError> {
    start_on(MemoryTransport::new(), addr).await
}

// ANCHOR: wiring
/// Starts the system on `transport` (any transport: the in-memory bus, or a
/// fault-injecting wrapper around it in tests), serving HTTP on `addr`.
///
/// The port is bound first (a port in use fails fast), then every service is
/// subscribed, and only then does the server take requests: no event of an order
/// placed over HTTP can be missed.
pub async fn start_on<T: Transport>(
    transport: T,
    addr: SocketAddr,
) -> Result<System<T>, LaunchError> {
    start_with(transport, JsonCodec, addr).await
}

/// Starts the system on `transport` with `codec` for every event (Avro with a schema
/// registry, for example), serving HTTP on `addr`.
pub async fn start_with<T: Transport, C: Codec>(
    transport: T,
    codec: C,
    addr: SocketAddr,
) -> Result<System<T>, LaunchError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| LaunchError::Bind { addr, source })?;
    let addr = listener.local_addr().unwrap_or(addr);
    let orders = OrderStore::new();
    let payments = Payments::new();
    let outbox = Outbox::new();

    let order = ecommerce_order::service_with(transport.clone(), codec.clone(), orders.clone());
    let app = app(orders.clone(), order.publisher().clone(), outbox.clone());
    let mut services = Vec::new();
    for service in [
        order,
        ecommerce_payment::service_with(transport.clone(), codec.clone(), payments.clone()),
        ecommerce_notification::service_with(transport.clone(), codec.clone(), outbox.clone()),
    ] {
        match service.start().await {
            Ok(running) => services.push(running),
            Err(e) => {
                stop_all(services, &transport).await;
                return Err(e.into());
            }
        }
    }

    let stop = CancellationToken::new();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(stop.clone().cancelled_owned())
        .into_future();
    tracing::info!(%addr, "listening");
    Ok(System {
        addr,
        transport,
        orders,
        payments,
        outbox,
        services,
        stop,
        server: Some(tokio::spawn(server)),
    })
}
// ANCHOR_END: wiring

/// The HTTP API of the whole system: the order and notification routes on one
/// router. Unknown paths are 404 and unsupported methods 405, as problem details.
pub fn app<C: Codec>(orders: OrderStore, publisher: Publisher<C>, outbox: Outbox) -> axum::Router {
    ecommerce_order::router(orders, publisher)
        .merge(ecommerce_notification::router(outbox))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
}

async fn not_found(method: Method, uri: Uri) -> Problem {
    Problem::not_found(format!("no route for {method} {}", uri.path())).with_instance(uri.path())
}

async fn method_not_allowed(method: Method, uri: Uri) -> Problem {
    Problem::from_status(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not support {method}", uri.path()),
    )
    .with_instance(uri.path())
}

async fn stop_all<T: Transport>(services: Vec<RunningService>, transport: &T) {
    for service in services {
        if let Err(e) = service.shutdown().await {
            tracing::warn!(error = %e, "service did not stop cleanly");
        }
    }
    if let Err(e) = transport.close().await {
        tracing::warn!(error = %e, "in-memory bus did not close cleanly");
    }
}

impl<T: Transport> System<T> {
    /// The address HTTP is served on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<local_addr>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The transport the services share.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The order service's orders.
    pub fn orders(&self) -> &OrderStore {
        &self.orders
    }

    /// The payment service's decisions.
    pub fn payments(&self) -> &Payments {
        &self.payments
    }

    /// The notifications sent.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Serves until `shutdown` completes (or the server fails), then shuts down.
    /// With [`edp_core::shutdown::signal`] it stops on ctrl-c or SIGTERM.
    pub async fn run_until(
        mut self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), LaunchError> {
        let Some(mut server) = self.server.take() else {
            return self.shutdown().await;
        };
        let early = tokio::select! {
            () = shutdown => None,
            finished = &mut server => Some(finished),
        };
        match early {
            None => {
                self.server = Some(server);
                self.shutdown().await
            }
            Some(finished) => {
                let served = flatten(finished);
                let stopped = self.shutdown().await;
                served.and(stopped)
            }
        }
    }

    /// Stops taking requests and finishes those in flight, stops the services (each
    /// finishes its in-flight events), then closes the bus.
    pub async fn shutdown(mut self) -> Result<(), LaunchError> {
        self.stop.cancel();
        let served = match self.server.take() {
            Some(server) => flatten(server.await),
            None => Ok(()),
        };
        let mut stopped = Ok(());
        for service in self.services.drain(..) {
            if let Err(e) = service.shutdown().await {
                tracing::warn!(error = %e, "service did not stop cleanly");
                stopped = Err(LaunchError::Service(e));
            }
        }
        let closed = self.transport.close().await.map_err(LaunchError::Close);
        tracing::info!("stopped");
        served.and(stopped).and(closed)
    }
}

/// A system dropped without [`System::shutdown`] stops serving and stops its services
/// in the background.
impl<T: Transport> Drop for System<T> {
    fn drop(&mut self) {
        self.stop.cancel();
        for service in &self.services {
            service.stop_token().cancel();
        }
    }
}

fn flatten(joined: Result<io::Result<()>, tokio::task::JoinError>) -> Result<(), LaunchError> {
    match joined {
        Ok(served) => served.map_err(LaunchError::Serve),
        Err(e) => Err(LaunchError::Serve(io::Error::other(e))),
    }
}
