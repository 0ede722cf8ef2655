//! The wiring: one bus, four services (three with a database each), one HTTP listener.

use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use axum::http::{Method, Uri};
use ecommerce_notification::Outbox;
use ecommerce_order::problem::Problem;
use ecommerce_order::{Order, OrderBook, OrderDb, OrderStore};
use ecommerce_payment::{PaymentDb, PaymentOutcome, Payments};
use ecommerce_product::{Product, ProductDb, Products};
use edp_core::health::Health;
use edp_sql::inbox::Inbox;
use edp_sql::outbox::{Relay, RelayHandle};
use sqlx::Pool;

use crate::storage::{self, Storage, StorageError};
use edp_core::handler::RunningService;
use edp_core::transport::Transport;
use edp_core::transport::memory::MemoryTransport;
use edp_core::{Codec, JsonCodec, Service, ServiceError};
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
    /// A service's database could not be opened.
    #[error("cannot open the databases ({0})")]
    Storage(String, #[source] StorageError),
    /// The API gateway or its registry could not start.
    #[error("cannot start the API gateway: {0}")]
    Gateway(String),
    /// `EDP_SERVICES` names a service there is none of.
    #[error(
        "EDP_SERVICES: unknown service `{0}`; use order, payment, product and notification, comma-separated"
    )]
    Services(String),
}

/// Which services this process runs: all of them (the default), or those named in
/// `EDP_SERVICES` (for example `order` in one process and
/// `payment,product,notification` in another, on Kafka and PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// The order service, its projection and its sagas' deadlines.
    pub order: bool,
    /// The payment service.
    pub payment: bool,
    /// The product service.
    pub product: bool,
    /// The notification service.
    pub notification: bool,
}

impl Roles {
    /// Every service.
    pub const ALL: Self = Self {
        order: true,
        payment: true,
        product: true,
        notification: true,
    };

    /// From `EDP_SERVICES` (comma-separated names); every service when unset or empty.
    ///
    /// # Errors
    ///
    /// [`LaunchError::Services`] for a name that is not a service.
    pub fn from_env() -> Result<Self, LaunchError> {
        match std::env::var("EDP_SERVICES") {
            Ok(list) if !list.trim().is_empty() => Self::parse(&list),
            _ => Ok(Self::ALL),
        }
    }

    /// From a comma-separated list of names.
    ///
    /// # Errors
    ///
    /// [`LaunchError::Services`] for a name that is not a service.
    pub fn parse(list: &str) -> Result<Self, LaunchError> {
        let mut roles = Self {
            order: false,
            payment: false,
            product: false,
            notification: false,
        };
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "order" => roles.order = true,
                "payment" => roles.payment = true,
                "product" => roles.product = true,
                "notification" => roles.notification = true,
                other => return Err(LaunchError::Services(other.to_owned())),
            }
        }
        Ok(roles)
    }
}

// ANCHOR: kafka
/// An Avro codec for the ecommerce services, on the schema registry at `url`
/// (Confluent-compatible), registering the events' schemas as they are first
/// published. The registry checks each new version against the earlier ones.
///
/// Every event is written as Avro, the placement saga's commands included (the saga
/// engine encodes them with the order service's codec). Consumers read JSON too, by
/// the envelope's content type, so JSON events still in flight from an earlier
/// version are read as well.
pub fn avro(url: &str) -> Result<edp_avro::PerTopic, LaunchError> {
    let client = edp_avro::SchemaRegistryClient::new(url).map_err(LaunchError::Registry)?;
    Ok(edp_avro::PerTopic::new(edp_avro::AvroCodec::new(client)))
}

/// The Avro codec on the registry at `url`, or, without one, on a registry started
/// in this process (returned too: it serves until dropped).
pub async fn avro_or_embedded(
    url: Option<&str>,
) -> Result<
    (
        edp_avro::PerTopic,
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
/// `KAFKA_SESSION_TIMEOUT_MS` sets how soon the group notices a member that died
/// (default 10 s).
pub fn kafka(brokers: &str) -> Result<edp_kafka::KafkaTransport, LaunchError> {
    let mut config = edp_kafka::KafkaConfig::new(brokers).client_id("ecommerce");
    if let Some(ms) = std::env::var("KAFKA_SESSION_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        let timeout = std::time::Duration::from_millis(ms);
        config = config.session(timeout, timeout / 10);
    }
    Ok(edp_kafka::KafkaTransport::connect(config)?)
}
// ANCHOR_END: kafka

/// The running system: the order, payment, product and notification services on one
/// bus, the order, payment and product services each with its own database and
/// outbox relay, and their APIs on one HTTP listener.
///
/// Stop it with [`shutdown`](Self::shutdown) or [`run_until`](Self::run_until).
#[derive(Debug)]
pub struct System<T: Transport = MemoryTransport> {
    addr: SocketAddr,
    transport: T,
    stores: Stores,
    outbox: Outbox,
    services: Vec<RunningService>,
    background: Option<Background>,
    scratch: Option<PathBuf>,
    stop: CancellationToken,
    server: Option<JoinHandle<io::Result<()>>>,
}

/// The order, payment and product data, on one kind of database.
#[derive(Debug, Clone)]
enum Stores {
    Sqlite(
        OrderStore<sqlx::Sqlite>,
        Payments<sqlx::Sqlite>,
        Products<sqlx::Sqlite>,
    ),
    Postgres(
        OrderStore<sqlx::Postgres>,
        Payments<sqlx::Postgres>,
        Products<sqlx::Postgres>,
    ),
}

/// Runs `$body` with `$orders`, `$payments` and `$products` bound to the stores,
/// whichever the database: the code is written once and compiled for each.
macro_rules! with_stores {
    ($stores:expr, |$orders:ident, $payments:ident, $products:ident| $body:expr) => {
        match $stores {
            Stores::Sqlite($orders, $payments, $products) => $body,
            Stores::Postgres($orders, $payments, $products) => $body,
        }
    };
}

/// Starts the system on a new in-memory bus and SQLite files in a temporary
/// directory, serving HTTP on `addr` (port 0 picks a free port; see
/// [`System::local_addr`]).
pub async fn start(addr: SocketAddr) -> Result<System, LaunchError> {
    start_on(MemoryTransport::new(), addr).await
}

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
/// registry, for example), serving HTTP on `addr`, on SQLite in a temporary
/// directory.
pub async fn start_with<T: Transport, C: Codec>(
    transport: T,
    codec: C,
    addr: SocketAddr,
) -> Result<System<T>, LaunchError> {
    start_full(transport, codec, Storage::default(), addr).await
}

/// Starts the system on `transport` with `codec`, keeping the data in `storage`
/// (SQLite files or PostgreSQL databases, one per service), serving HTTP on `addr`.
pub async fn start_full<T: Transport, C: Codec>(
    transport: T,
    codec: C,
    storage: Storage,
    addr: SocketAddr,
) -> Result<System<T>, LaunchError> {
    let roles = Roles::from_env()?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| LaunchError::Bind { addr, source })?;
    let addr = listener.local_addr().unwrap_or(addr);
    let failed = |e| LaunchError::Storage(storage.to_string(), e);
    let (stores, scratch) = match &storage {
        Storage::Sqlite(dir) => {
            let scratch = dir.is_none().then(|| {
                std::env::temp_dir().join(format!("ecommerce-{}", uuid::Uuid::now_v7().simple()))
            });
            let dir = dir.clone().or_else(|| scratch.clone()).unwrap_or_default();
            let orders = open_orders(storage::sqlite(&dir, "order").await.map_err(failed)?);
            let payments = open_payments(storage::sqlite(&dir, "payment").await.map_err(failed)?);
            let products = open_products(storage::sqlite(&dir, "product").await.map_err(failed)?);
            (
                Stores::Sqlite(
                    orders.await.map_err(failed)?,
                    payments.await.map_err(failed)?,
                    products.await.map_err(failed)?,
                ),
                scratch,
            )
        }
        Storage::Postgres(url) => {
            let orders = open_orders(storage::postgres(url, "order").await.map_err(failed)?);
            let payments = open_payments(storage::postgres(url, "payment").await.map_err(failed)?);
            let products = open_products(storage::postgres(url, "product").await.map_err(failed)?);
            (
                Stores::Postgres(
                    orders.await.map_err(failed)?,
                    payments.await.map_err(failed)?,
                    products.await.map_err(failed)?,
                ),
                None,
            )
        }
    };
    let outbox = Outbox::new();
    let consumers = Consumers::default();
    let (services, background, app) = with_stores!(stores.clone(), |orders, payments, products| {
        wire(
            &transport,
            &codec,
            roles,
            orders,
            payments,
            products,
            outbox.clone(),
            consumers.clone(),
        )
    });

    let mut running = Vec::new();
    for service in services {
        match service.start().await {
            Ok(started) => running.push(started),
            Err(e) => {
                stop_all(running, background, &transport).await;
                return Err(e.into());
            }
        }
    }

    // Ready once every consumer holds its partitions.
    let _ = consumers.set(running.iter().map(RunningService::assignment).collect());

    let stop = CancellationToken::new();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(stop.clone().cancelled_owned())
        .into_future();
    tracing::info!(%addr, %storage, "listening");
    Ok(System {
        addr,
        transport,
        stores,
        outbox,
        services: running,
        background: Some(background),
        scratch,
        stop,
        server: Some(tokio::spawn(server)),
    })
}

async fn open_orders<DB: OrderDb>(pool: Pool<DB>) -> Result<OrderStore<DB>, StorageError>
where
    DB::Connection: sqlx::migrate::Migrate,
{
    let mut attempts = 0;
    loop {
        match OrderStore::open(pool.clone()).await {
            Err(e) if racing(&e) && attempts < 5 => attempts += 1,
            opened => {
                return opened.map_err(|source| StorageError::Open {
                    service: "order",
                    source,
                });
            }
        }
    }
}

/// Whether `e` is a race with another process creating the same tables
/// (`CREATE TABLE IF NOT EXISTS` is not safe against a concurrent one in PostgreSQL):
/// trying again finds them created. Which error the loser gets depends on when it
/// looked: a unique violation on the catalog (`23505`), or the table (`42P07`) or its
/// row type (`42710`) already there.
fn racing(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d)
        if matches!(d.code().as_deref(), Some("23505" | "42P07" | "42710")))
}

async fn open_products<DB: ProductDb>(pool: Pool<DB>) -> Result<Products<DB>, StorageError>
where
    DB::Connection: sqlx::migrate::Migrate,
{
    let mut attempts = 0;
    loop {
        match Products::open(pool.clone(), &ecommerce_product::default_catalog()).await {
            Err(e) if racing(&e) && attempts < 5 => attempts += 1,
            opened => {
                return opened.map_err(|source| StorageError::Open {
                    service: "product",
                    source,
                });
            }
        }
    }
}

async fn open_payments<DB: PaymentDb>(pool: Pool<DB>) -> Result<Payments<DB>, StorageError>
where
    DB::Connection: sqlx::migrate::Migrate,
{
    let mut attempts = 0;
    loop {
        match Payments::open(pool.clone()).await {
            Err(e) if racing(&e) && attempts < 5 => attempts += 1,
            opened => {
                return opened.map_err(|source| StorageError::Open {
                    service: "payment",
                    source,
                });
            }
        }
    }
}

// ANCHOR: wiring
/// The services, their outbox relays and the HTTP API, on one kind of database.
#[allow(clippy::too_many_arguments)] // the pieces of the wiring, named
fn wire<T: Transport, C: Codec, DB: OrderDb + PaymentDb + ProductDb>(
    transport: &T,
    codec: &C,
    roles: Roles,
    orders: OrderStore<DB>,
    payments: Payments<DB>,
    products: Products<DB>,
    notifications: Outbox,
    consumers: Consumers,
) -> (Vec<Service<T, C>>, Background, axum::Router) {
    // The order service's write side: event-sourced orders and the placement saga,
    // with the projection that keeps the orders read model and the saga deadlines.
    let book = OrderBook::new(orders.clone(), codec.clone());
    let mut stoppers: Vec<Stopper> = Vec::new();
    if roles.order {
        let projector = book.projector().start();
        let deadlines = book.placements.run_deadlines();
        stoppers.push(Box::new(move || {
            Box::pin(async move { drop(projector.shutdown().await) })
        }));
        stoppers.push(Box::new(move || Box::pin(deadlines.shutdown())));
    }
    // Each service's outbox is published by a relay of its own, and its inbox keeps
    // a week of records (longer than any redelivery takes).
    let week = std::time::Duration::from_secs(7 * 24 * 3600);
    let hour = std::time::Duration::from_secs(3600);
    let mut background = Background {
        relays: Vec::new(),
        purges: Vec::new(),
        stoppers,
    };
    if roles.order {
        background.relays.push(
            Relay::new(orders.pool().clone(), transport.clone())
                .name("order")
                .start(),
        );
        background
            .purges
            .push(Inbox::new(orders.pool().clone()).purge_every(week, hour));
    }
    if roles.payment {
        background.relays.push(
            Relay::new(payments.pool().clone(), transport.clone())
                .name("payment")
                .start(),
        );
        background
            .purges
            .push(Inbox::new(payments.pool().clone()).purge_every(week, hour));
    }
    if roles.product {
        background.relays.push(
            Relay::new(products.pool().clone(), transport.clone())
                .name("product")
                .start(),
        );
        background
            .purges
            .push(Inbox::new(products.pool().clone()).purge_every(week, hour));
    }
    let orders_api = ecommerce_order::router(book.clone())
        .merge(ecommerce_product::router(products.clone()))
        .merge(backlog_router(vec![
            ("order", orders.pool().clone()),
            ("payment", payments.pool().clone()),
            ("product", products.pool().clone()),
        ]));
    let health = Health::new()
        .check("order-database", pinger(orders.pool().clone()))
        .check("payment-database", pinger(payments.pool().clone()))
        .check("product-database", pinger(products.pool().clone()))
        .check("consumers", move || {
            std::future::ready(match consumers.get() {
                None => Err("the services are starting".to_owned()),
                Some(all) => all.iter().find(|a| !a.is_assigned()).map_or(Ok(()), |a| {
                    Err(edp_core::handler::NotAssigned(a.group().to_owned()).to_string())
                }),
            })
        })
        .check("transport", {
            let transport = transport.clone();
            move || {
                let transport = transport.clone();
                async move { transport.health().await }
            }
        });
    let app = app(
        orders_api.merge(health_router(health)),
        notifications.clone(),
    );
    let mut services = Vec::new();
    if roles.order {
        services.push(ecommerce_order::service_with(
            transport.clone(),
            codec.clone(),
            book,
        ));
    }
    if roles.payment {
        services.push(ecommerce_payment::service_with(
            transport.clone(),
            codec.clone(),
            payments,
        ));
    }
    if roles.product {
        services.push(ecommerce_product::service_with(
            transport.clone(),
            codec.clone(),
            products,
        ));
    }
    if roles.notification {
        services.push(ecommerce_notification::service_with(
            transport.clone(),
            codec.clone(),
            notifications,
        ));
    }
    (services, background, app)
}

/// The services' consumers, once they are started: ready when each holds its
/// partitions.
type Consumers = std::sync::Arc<std::sync::OnceLock<Vec<edp_core::handler::Assignment>>>;

/// A readiness check that pings the database behind `pool`.
fn pinger<DB: edp_sql::Database>(
    pool: Pool<DB>,
) -> impl Fn() -> futures_util::future::BoxFuture<'static, Result<(), sqlx::Error>> + Send + Sync + 'static
{
    move || {
        let pool = pool.clone();
        Box::pin(async move { edp_sql::ping(&pool).await })
    }
}

/// `GET /health/live` (200 while the process serves) and `GET /health/ready` (200
/// when the databases and the transport answer, else 503), each with the
/// [`Report`](edp_core::health::Report) as JSON.
fn health_router(health: Health) -> axum::Router {
    use axum::http::StatusCode;
    use axum::routing::get;
    let live = health.clone();
    axum::Router::new()
        .route(
            "/health/live",
            get(move || {
                let report = live.live();
                async move { axum::Json(report) }
            }),
        )
        .route(
            "/health/ready",
            get(move || {
                let health = health.clone();
                async move {
                    let report = health.ready().await;
                    let status = match report.status {
                        edp_core::health::Status::Up => StatusCode::OK,
                        _ => StatusCode::SERVICE_UNAVAILABLE,
                    };
                    (status, axum::Json(report))
                }
            }),
        )
}

/// One service's outbox backlog, as `GET /v1/outbox` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutboxBacklog {
    /// The service.
    pub service: String,
    /// Events written and not yet published.
    pub unpublished: u64,
    /// How long the oldest of them has waited, in milliseconds.
    pub oldest_age_ms: Option<u64>,
}

/// `GET /v1/outbox`: the outbox backlog of each service database, for operators (the
/// Prometheus metrics of it come with the telemetry work).
fn backlog_router<DB: edp_sql::Database>(pools: Vec<(&'static str, Pool<DB>)>) -> axum::Router {
    use axum::routing::get;
    let pools = std::sync::Arc::new(pools);
    axum::Router::new().route(
        "/v1/outbox",
        get(move || {
            let pools = pools.clone();
            async move {
                let mut backlogs = Vec::new();
                for (service, pool) in pools.iter() {
                    let backlog = edp_sql::outbox::backlog(pool).await.map_err(|e| {
                        tracing::error!(error = %e, service, "cannot read the outbox backlog");
                        Problem::unavailable(format!(
                            "the {service} database is unavailable; try again"
                        ))
                    })?;
                    backlogs.push(OutboxBacklog {
                        service: (*service).to_owned(),
                        unpublished: backlog.unpublished,
                        oldest_age_ms: backlog
                            .oldest_age
                            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                    });
                }
                Ok::<_, Problem>(axum::Json(backlogs))
            }
        }),
    )
}

/// Stops a background task: the projector, the saga deadlines.
type Stopper = Box<dyn FnOnce() -> futures_util::future::BoxFuture<'static, ()> + Send + Sync>;

/// The tasks beside the services: outbox relays, inbox purges, the orders projector
/// and the placement sagas' deadlines.
struct Background {
    relays: Vec<RelayHandle>,
    purges: Vec<JoinHandle<()>>,
    stoppers: Vec<Stopper>,
}

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Background")
            .field("relays", &self.relays.len())
            .field("purges", &self.purges.len())
            .field("stoppers", &self.stoppers.len())
            .finish()
    }
}

impl Background {
    /// Stops the purges, the projector and the deadlines, and the relays after their
    /// batch in flight.
    async fn stop(self) {
        for purge in self.purges {
            purge.abort();
        }
        for stop in self.stoppers {
            stop().await;
        }
        for relay in self.relays {
            relay.shutdown().await;
        }
    }
}
// ANCHOR_END: wiring

/// The HTTP API of the whole system: the order routes and the notification routes
/// on one router, and `GET /metrics` for Prometheus. Unknown paths are 404 and
/// unsupported methods 405, as problem details. Every request is traced (it
/// continues an incoming `traceparent`) and measured by its route template.
pub fn app(orders: axum::Router, outbox: Outbox) -> axum::Router {
    orders
        .merge(ecommerce_notification::router(outbox))
        .route("/metrics", axum::routing::get(metrics))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(edp_core::telemetry::http::ServerLayer::new().route(|head| {
            head.extensions
                .get::<axum::extract::MatchedPath>()
                .map(|p| p.as_str().to_owned())
        }))
}

/// `GET /metrics`: every metric, in the Prometheus text format.
async fn metrics() -> impl axum::response::IntoResponse {
    use edp_core::telemetry::metrics;
    (
        [(axum::http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics::render(),
    )
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

async fn stop_all<T: Transport>(
    services: Vec<RunningService>,
    background: Background,
    transport: &T,
) {
    for service in services {
        if let Err(e) = service.shutdown().await {
            tracing::warn!(error = %e, "service did not stop cleanly");
        }
    }
    background.stop().await;
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

    /// The order `id`, read from the order service's read model (the `orders-view`
    /// projection, a few milliseconds behind the order's events).
    pub async fn order(&self, id: &str) -> Result<Option<Order>, sqlx::Error> {
        with_stores!(&self.stores, |orders, _payments, _products| orders
            .get(id)
            .await)
    }

    /// How many orders the order service's read model has.
    pub async fn order_count(&self) -> Result<usize, sqlx::Error> {
        with_stores!(&self.stores, |orders, _payments, _products| orders
            .count()
            .await)
    }

    /// The payment service's decision for the order `order_id`.
    pub async fn payment(&self, order_id: &str) -> Result<Option<PaymentOutcome>, sqlx::Error> {
        with_stores!(&self.stores, |_orders, payments, _products| payments
            .get(order_id)
            .await)
    }

    /// Whether the payment of `order_id` was voided.
    pub async fn payment_voided(&self, order_id: &str) -> Result<bool, sqlx::Error> {
        with_stores!(&self.stores, |_orders, payments, _products| payments
            .voided(order_id)
            .await)
    }

    /// The catalog with its stock, from the product service's database.
    pub async fn products(&self) -> Result<Vec<Product>, sqlx::Error> {
        with_stores!(&self.stores, |_orders, _payments, products| products
            .list()
            .await)
    }

    /// The outbox backlog of the order, payment and product databases (unpublished
    /// events).
    pub async fn outbox_backlog(&self) -> Result<u64, sqlx::Error> {
        with_stores!(&self.stores, |orders, payments, products| {
            let order = edp_sql::outbox::backlog(orders.pool()).await?;
            let payment = edp_sql::outbox::backlog(payments.pool()).await?;
            let product = edp_sql::outbox::backlog(products.pool()).await?;
            Ok(order.unpublished + payment.unpublished + product.unpublished)
        })
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
        if let Some(background) = self.background.take() {
            background.stop().await;
        }
        let closed = self.transport.close().await.map_err(LaunchError::Close);
        with_stores!(&self.stores, |orders, payments, products| {
            orders.pool().close().await;
            payments.pool().close().await;
            products.pool().close().await;
        });
        if let Some(dir) = self.scratch.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
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
