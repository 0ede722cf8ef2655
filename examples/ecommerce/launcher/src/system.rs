//! The wiring: one bus, the services this process runs (each an App of its own,
//! merged into one), a database for each that has one, one HTTP listener.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use axum::http::{Method, Uri};
use ecommerce_notification::Outbox;
use ecommerce_order::problem::Problem;
use ecommerce_order::{Order, OrderDb, OrderStore};
use ecommerce_payment::{PaymentDb, PaymentOutcome, Payments};
use ecommerce_product::{Product, ProductDb, Products};
use edp_core::app::{App, AppError, RunningApp};
use edp_core::transport::Transport;
use edp_core::transport::memory::MemoryTransport;
use edp_core::{Codec, JsonCodec};
use sqlx::Pool;
use tokio::net::TcpListener;

use crate::apps;
use crate::storage::{self, Storage, StorageError};

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
    /// A service's App could not start, or did not stop cleanly.
    #[error(transparent)]
    App(#[from] AppError),
    /// The schema registry client could not be made (a bad URL).
    #[error("cannot use the schema registry")]
    Registry(#[source] edp_avro::RegistryClientError),
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

/// The running system: the services this process runs (all four by default; see
/// [`Roles`]) on one bus, each stateful one with its own database and outbox relay,
/// their APIs on one HTTP listener, all run as one [`App`].
///
/// Stop it with [`shutdown`](Self::shutdown) or [`run_until`](Self::run_until).
#[derive(Debug)]
pub struct System<T: Transport = MemoryTransport> {
    addr: SocketAddr,
    transport: T,
    stores: Stores,
    outbox: Outbox,
    app: Option<RunningApp>,
    scratch: Option<PathBuf>,
}

/// The databases of the services this process runs, on one kind of database.
#[derive(Debug, Clone)]
enum Stores {
    Sqlite(Parts<sqlx::Sqlite>),
    Postgres(Parts<sqlx::Postgres>),
}

/// The order, payment and product data, for those of them this process runs.
#[derive(Debug)]
struct Parts<DB: OrderDb + PaymentDb + ProductDb> {
    orders: Option<OrderStore<DB>>,
    payments: Option<Payments<DB>>,
    products: Option<Products<DB>>,
}

impl<DB: OrderDb + PaymentDb + ProductDb> Clone for Parts<DB> {
    fn clone(&self) -> Self {
        Self {
            orders: self.orders.clone(),
            payments: self.payments.clone(),
            products: self.products.clone(),
        }
    }
}

impl<DB: OrderDb + PaymentDb + ProductDb> Parts<DB> {
    /// Opens the database of each service in `roles`, and no other.
    async fn open<F, Fut>(roles: Roles, pool: F) -> Result<Self, StorageError>
    where
        F: Fn(&'static str) -> Fut,
        Fut: Future<Output = Result<Pool<DB>, StorageError>>,
        DB::Connection: sqlx::migrate::Migrate,
    {
        Ok(Self {
            orders: match roles.order {
                true => Some(open_orders(pool("order").await?).await?),
                false => None,
            },
            payments: match roles.payment {
                true => Some(open_payments(pool("payment").await?).await?),
                false => None,
            },
            products: match roles.product {
                true => Some(open_products(pool("product").await?).await?),
                false => None,
            },
        })
    }

    fn orders(&self) -> Result<&OrderStore<DB>, sqlx::Error> {
        self.orders.as_ref().ok_or_else(|| elsewhere("order"))
    }

    fn payments(&self) -> Result<&Payments<DB>, sqlx::Error> {
        self.payments.as_ref().ok_or_else(|| elsewhere("payment"))
    }

    fn products(&self) -> Result<&Products<DB>, sqlx::Error> {
        self.products.as_ref().ok_or_else(|| elsewhere("product"))
    }

    async fn close(&self) {
        if let Some(s) = &self.orders {
            s.pool().close().await;
        }
        if let Some(s) = &self.payments {
            s.pool().close().await;
        }
        if let Some(s) = &self.products {
            s.pool().close().await;
        }
    }
}

/// The error of asking for the data of a service this process does not run.
fn elsewhere(service: &str) -> sqlx::Error {
    sqlx::Error::Configuration(
        format!("the {service} service does not run in this process (EDP_SERVICES)").into(),
    )
}

/// Runs `$body` with `$parts` bound to the stores, whichever the database: the code
/// is written once and compiled for each.
macro_rules! with_parts {
    ($stores:expr, |$parts:ident| $body:expr) => {
        match $stores {
            Stores::Sqlite($parts) => $body,
            Stores::Postgres($parts) => $body,
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

/// Starts the services named by `EDP_SERVICES` (all by default) on `transport` with
/// `codec`, keeping their data in `storage` (SQLite files or PostgreSQL databases,
/// one per service, opened only for the services that run here), serving HTTP on
/// `addr`.
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
            let parts = Parts::open(roles, |service| storage::sqlite(&dir, service));
            (Stores::Sqlite(parts.await.map_err(failed)?), scratch)
        }
        Storage::Postgres(url) => {
            let parts = Parts::open(roles, |service| storage::postgres(url, service));
            (Stores::Postgres(parts.await.map_err(failed)?), None)
        }
    };
    let outbox = Outbox::new();
    let app = with_parts!(&stores, |parts| wire(
        &transport, &codec, roles, parts, &outbox
    ))
    .transport(transport.clone())
    .finish_routes(|router| {
        router
            .method_not_allowed_fallback(method_not_allowed)
            .fallback(not_found)
    });
    let app = app.start_on(listener).await?;
    tracing::info!(%addr, %storage, "listening");
    Ok(System {
        addr,
        transport,
        stores,
        outbox,
        app: Some(app),
        scratch,
    })
}

// ANCHOR: wiring
/// The Apps of the services in `roles`, merged into one, and `GET /v1/outbox` over
/// their databases.
fn wire<T: Transport, C: Codec, DB: OrderDb + PaymentDb + ProductDb>(
    transport: &T,
    codec: &C,
    roles: Roles,
    parts: &Parts<DB>,
    notifications: &Outbox,
) -> App {
    let mut app = App::new("ecommerce");
    let mut pools = Vec::new();
    if let Some(orders) = &parts.orders {
        pools.push(("order", orders.pool().clone()));
        app = app.merge(apps::order(transport, codec, orders.clone()));
    }
    if let Some(payments) = &parts.payments {
        pools.push(("payment", payments.pool().clone()));
        app = app.merge(apps::payment(transport, codec, payments.clone()));
    }
    if let Some(products) = &parts.products {
        pools.push(("product", products.pool().clone()));
        app = app.merge(apps::product(transport, codec, products.clone()));
    }
    if roles.notification {
        app = app.merge(apps::notification(transport, codec, notifications.clone()));
    }
    app.routes(backlog_router(pools))
}
// ANCHOR_END: wiring

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
        with_parts!(&self.stores, |parts| parts.orders()?.get(id).await)
    }

    /// How many orders the order service's read model has.
    pub async fn order_count(&self) -> Result<usize, sqlx::Error> {
        with_parts!(&self.stores, |parts| parts.orders()?.count().await)
    }

    /// The payment service's decision for the order `order_id`.
    pub async fn payment(&self, order_id: &str) -> Result<Option<PaymentOutcome>, sqlx::Error> {
        with_parts!(&self.stores, |parts| parts.payments()?.get(order_id).await)
    }

    /// Whether the payment of `order_id` was voided.
    pub async fn payment_voided(&self, order_id: &str) -> Result<bool, sqlx::Error> {
        with_parts!(&self.stores, |parts| parts
            .payments()?
            .voided(order_id)
            .await)
    }

    /// The catalog with its stock, from the product service's database.
    pub async fn products(&self) -> Result<Vec<Product>, sqlx::Error> {
        with_parts!(&self.stores, |parts| parts.products()?.list().await)
    }

    /// The outbox backlog of the databases of the services this process runs
    /// (unpublished events).
    pub async fn outbox_backlog(&self) -> Result<u64, sqlx::Error> {
        with_parts!(&self.stores, |parts| {
            let mut unpublished = 0;
            if let Some(s) = &parts.orders {
                unpublished += edp_sql::outbox::backlog(s.pool()).await?.unpublished;
            }
            if let Some(s) = &parts.payments {
                unpublished += edp_sql::outbox::backlog(s.pool()).await?.unpublished;
            }
            if let Some(s) = &parts.products {
                unpublished += edp_sql::outbox::backlog(s.pool()).await?.unpublished;
            }
            Ok(unpublished)
        })
    }

    /// The notifications sent.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Every readiness check, as `GET /health/ready` runs them.
    pub fn health(&self) -> Option<&edp_core::health::Health> {
        self.app.as_ref().map(RunningApp::health)
    }

    /// Serves until `shutdown` completes, then shuts down in order (see
    /// [`edp_core::app`]). With [`edp_core::shutdown::signal`] it stops on ctrl-c or
    /// SIGTERM.
    pub async fn run_until(
        mut self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), LaunchError> {
        let ran = match self.app.take() {
            Some(app) => app.run_until(shutdown).await.map_err(LaunchError::from),
            None => Ok(()),
        };
        self.release().await;
        ran
    }

    /// Serves until the first ctrl-c or SIGTERM of `signals`, shuts down in order, and
    /// stops at once on a second one.
    pub async fn run_with(
        mut self,
        signals: &mut edp_core::shutdown::Signals,
    ) -> Result<(), LaunchError> {
        let ran = match self.app.take() {
            Some(app) => app.run_with(signals).await.map_err(LaunchError::from),
            None => Ok(()),
        };
        self.release().await;
        ran
    }

    /// Stops taking requests and finishes those in flight, stops the services (each
    /// finishes its in-flight events), stops the relays and other tasks, then closes
    /// the bus.
    pub async fn shutdown(mut self) -> Result<(), LaunchError> {
        let stopped = match self.app.take() {
            Some(app) => app.shutdown().await.map_err(LaunchError::from),
            None => Ok(()),
        };
        self.release().await;
        tracing::info!("stopped");
        stopped
    }

    /// Closes the databases and removes the scratch directory.
    async fn release(&mut self) {
        with_parts!(&self.stores, |parts| parts.close().await);
        if let Some(dir) = self.scratch.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
