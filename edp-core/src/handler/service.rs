use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tower_layer::{Identity, Layer, Stack};
use tower_service::Service as TowerService;

use super::router::{Route, RouteImpl};
use super::runtime::Outcome;
use super::{Handler, Message, Router, TypedHandler, UnknownEvents, WithState};
use crate::codec::{Codec, JsonCodec};
use crate::error::BoxError;
use crate::middleware::dead_letter::DeadLetterPolicy;
use crate::transport::Transport;
use crate::{Event, Publisher};

/// An event-driven service: handlers registered by event type, consuming as one
/// consumer group from the topics of their events. Build it with [`Service::builder`].
///
/// ```no_run
/// use edp_core::{Context, Service, error::BoxError, transport::memory::MemoryTransport};
/// # use edp_core::Event;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Event)]
/// # #[event(name = "order.placed", topic = "orders", key = order_id)]
/// # struct OrderPlaced { order_id: String }
/// async fn on_order_placed(_ctx: Context, event: OrderPlaced) -> Result<(), BoxError> {
///     println!("order {}", event.order_id);
///     Ok(())
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), edp_core::ServiceError> {
/// Service::builder("payment", MemoryTransport::new())
///     .handler(on_order_placed)
///     .build()
///     .run() // until ctrl-c or SIGTERM, then drains in-flight handlers
///     .await
/// # }
/// ```
pub struct Service<T: Transport, C: Codec = JsonCodec> {
    pub(super) name: Arc<str>,
    pub(super) group: Arc<str>,
    pub(super) transport: T,
    pub(super) publisher: Publisher<C>,
    pub(super) router: Router,
    pub(super) topics: Vec<String>,
    pub(super) concurrency: usize,
    pub(super) batch: usize,
    pub(super) dead_letters: Option<DeadLetterPolicy>,
    pub(super) grace: Duration,
    pub(super) cancel: CancellationToken,
    pub(super) observer: Option<broadcast::Sender<Outcome>>,
    pub(super) metrics: bool,
}

impl<T: Transport, C: Codec> std::fmt::Debug for Service<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.name)
            .field("group", &self.group)
            .field("topics", &self.topics)
            .field("router", &self.router)
            .finish()
    }
}

impl<T: Transport> Service<T> {
    /// Starts a service named `name` (its consumer group and its events' `source`) on
    /// `transport`, with the JSON codec.
    pub fn builder(name: impl Into<String>, transport: T) -> ServiceBuilder<T> {
        let name: Arc<str> = Arc::from(name.into());
        ServiceBuilder {
            publisher: Publisher::new(name.clone(), transport.clone()),
            name,
            group: None,
            transport,
            layer: Identity::new(),
            routes: Vec::new(),
            extra_topics: Vec::new(),
            concurrency: 16,
            batch: 64,
            dead_letters: Some(DeadLetterPolicy::default()),
            unknown: UnknownEvents::Skip,
            grace: Duration::from_secs(20),
            cancel: CancellationToken::new(),
            observer: None,
            metrics: true,
            trailing_layers: 0,
        }
    }
}

impl<T: Transport, C: Codec> Service<T, C> {
    /// The service's name: its events' `source`, and its consumer group unless
    /// [`group`](ServiceBuilder::group) set another.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The publisher of this service: events carry its name as `source`.
    pub fn publisher(&self) -> &Publisher<C> {
        &self.publisher
    }

    /// The topics it consumes.
    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// Reports the outcome of every delivery; for tests and tooling.
    pub fn observe(&mut self) -> broadcast::Receiver<Outcome> {
        observer(&mut self.observer)
    }
}

fn observer(slot: &mut Option<broadcast::Sender<Outcome>>) -> broadcast::Receiver<Outcome> {
    match slot {
        Some(tx) => tx.subscribe(),
        None => {
            let (tx, rx) = broadcast::channel(4096);
            *slot = Some(tx);
            rx
        }
    }
}

/// Builds a [`Service`]: name, transport, middleware layers, handlers.
///
/// Layers wrap the handlers registered after them; add layers first.
pub struct ServiceBuilder<T: Transport, C: Codec = JsonCodec, L = Identity> {
    name: Arc<str>,
    group: Option<String>,
    transport: T,
    publisher: Publisher<C>,
    layer: L,
    routes: Vec<(Cow<'static, str>, &'static str, Route)>,
    extra_topics: Vec<String>,
    concurrency: usize,
    batch: usize,
    dead_letters: Option<DeadLetterPolicy>,
    unknown: UnknownEvents,
    grace: Duration,
    cancel: CancellationToken,
    observer: Option<broadcast::Sender<Outcome>>,
    metrics: bool,
    /// Layers added since the last handler: they wrap nothing yet.
    trailing_layers: usize,
}

impl<T: Transport, C: Codec, L> std::fmt::Debug for ServiceBuilder<T, C, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceBuilder")
            .field("name", &self.name)
            .field(
                "routes",
                &self.routes.iter().map(|r| &r.0).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl<T: Transport, C: Codec, L> ServiceBuilder<T, C, L> {
    /// Uses another codec for decoding handlers' events and encoding published ones.
    /// Call it before registering handlers.
    pub fn codec<C2: Codec>(self, codec: C2) -> ServiceBuilder<T, C2, L> {
        ServiceBuilder {
            publisher: Publisher::with_codec(self.name.clone(), self.transport.clone(), codec),
            name: self.name,
            group: self.group,
            transport: self.transport,
            layer: self.layer,
            routes: self.routes,
            extra_topics: self.extra_topics,
            concurrency: self.concurrency,
            batch: self.batch,
            dead_letters: self.dead_letters,
            unknown: self.unknown,
            grace: self.grace,
            cancel: self.cancel,
            observer: self.observer,
            metrics: self.metrics,
            trailing_layers: self.trailing_layers,
        }
    }

    /// Adds a middleware layer around the handlers registered after it. The first layer
    /// added is the outermost.
    pub fn layer<L2>(self, layer: L2) -> ServiceBuilder<T, C, Stack<L2, L>> {
        ServiceBuilder {
            layer: Stack::new(layer, self.layer),
            name: self.name,
            group: self.group,
            transport: self.transport,
            publisher: self.publisher,
            routes: self.routes,
            extra_topics: self.extra_topics,
            concurrency: self.concurrency,
            batch: self.batch,
            dead_letters: self.dead_letters,
            unknown: self.unknown,
            grace: self.grace,
            cancel: self.cancel,
            observer: self.observer,
            metrics: self.metrics,
            trailing_layers: self.trailing_layers + 1,
        }
    }

    /// Registers `handler` for its event type, named by its function path.
    pub fn handler<H, E>(self, handler: H) -> Self
    where
        H: Handler<E, C>,
        E: Event,
        L: Layer<TypedHandler<H, E, C>>,
        L::Service:
            TowerService<Message, Response = (), Error = BoxError> + Clone + Send + Sync + 'static,
        <L::Service as TowerService<Message>>::Future: Send + 'static,
    {
        let name = short_type_name(std::any::type_name::<H>());
        self.handler_named(name, handler)
    }

    /// Registers a handler that takes shared state first: `async fn(S, Context, E)`.
    /// Each call gets a clone of `state` (make it cheap to clone, such as an `Arc` or a
    /// pool handle). Named by the function's path, like [`handler`](Self::handler).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use edp_core::{Context, Service, error::BoxError, transport::memory::MemoryTransport};
    /// # use edp_core::Event;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Event)]
    /// # #[event(name = "order.placed", topic = "orders", key = order_id)]
    /// # struct OrderPlaced { order_id: String }
    ///
    /// type Seen = Arc<Mutex<Vec<String>>>;
    ///
    /// async fn remember(seen: Seen, _ctx: Context, e: OrderPlaced) -> Result<(), BoxError> {
    ///     seen.lock().map_err(|_| "poisoned")?.push(e.order_id);
    ///     Ok(())
    /// }
    ///
    /// let seen = Seen::default();
    /// let service = Service::builder("audit", MemoryTransport::new())
    ///     .handler_with(seen.clone(), remember)
    ///     .build();
    /// ```
    pub fn handler_with<S, H, E>(self, state: S, handler: H) -> Self
    where
        WithState<S, H>: Handler<E, C>,
        E: Event,
        L: Layer<TypedHandler<WithState<S, H>, E, C>>,
        L::Service:
            TowerService<Message, Response = (), Error = BoxError> + Clone + Send + Sync + 'static,
        <L::Service as TowerService<Message>>::Future: Send + 'static,
    {
        let name = short_type_name(std::any::type_name::<H>());
        self.handler_named(name, WithState { state, handler })
    }

    /// Registers `handler` under `name` (used in logs and dead-letter headers).
    pub fn handler_named<H, E>(mut self, name: impl Into<Arc<str>>, handler: H) -> Self
    where
        H: Handler<E, C>,
        E: Event,
        L: Layer<TypedHandler<H, E, C>>,
        L::Service:
            TowerService<Message, Response = (), Error = BoxError> + Clone + Send + Sync + 'static,
        <L::Service as TowerService<Message>>::Future: Send + 'static,
    {
        let typed = TypedHandler::new(handler, name, self.publisher.clone(), self.cancel.clone());
        let route = RouteImpl::boxed(self.layer.layer(typed));
        if self.routes.iter().any(|(t, _, _)| t == E::NAME) {
            tracing::warn!(
                event_type = E::NAME,
                "a second handler for this event type replaces the first"
            );
        }
        self.routes.retain(|(t, _, _)| t != E::NAME);
        self.trailing_layers = 0;
        self.routes.push((Cow::Borrowed(E::NAME), E::TOPIC, route));
        self
    }

    /// Consumes as consumer group `group` (default: the service name).
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Also consumes `topic` (handlers' topics are consumed anyway).
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.extra_topics.push(topic.into());
        self
    }

    /// How many events are handled at once (default 16). Events of one key (one
    /// partition) are always handled one after another.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The most events of one partition a worker takes at once (default 64). Larger
    /// batches cost less per event; a batch's partition waits for the whole batch.
    pub fn batch(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }

    /// Where events that failed their last attempt go (default `<topic>.dlq`).
    pub fn dead_letters(mut self, policy: DeadLetterPolicy) -> Self {
        self.dead_letters = Some(policy);
        self
    }

    /// Turns dead letters off: a failed event is nacked and redelivered until it
    /// succeeds, which blocks its partition meanwhile.
    pub fn without_dead_letters(mut self) -> Self {
        self.dead_letters = None;
        self
    }

    /// What to do with event types that have no handler (default: skip).
    pub fn unknown_events(mut self, policy: UnknownEvents) -> Self {
        self.unknown = policy;
        self
    }

    /// How long shutdown waits for in-flight handlers before it cancels them
    /// (default 20 s; with the tenth more that cancelled handlers get, this stays
    /// below the 30 s Kubernetes waits between SIGTERM and SIGKILL). A handler that
    /// fails after cancellation is not dead-lettered: its event is redelivered.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Reports the outcome of every delivery; for tests and tooling.
    pub fn observe(&mut self) -> broadcast::Receiver<Outcome> {
        observer(&mut self.observer)
    }

    /// Whether the service records handler metrics (with the `prometheus` feature;
    /// default on): duration by event type and outcome, in-flight events, dead letters.
    /// See [`telemetry::metrics`](crate::telemetry::metrics).
    pub fn metrics(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// The publisher the service will use.
    pub fn publisher(&self) -> &Publisher<C> {
        &self.publisher
    }

    /// Finishes the service.
    pub fn build(self) -> Service<T, C> {
        if self.trailing_layers > 0 {
            tracing::warn!(
                service = %self.name,
                layers = self.trailing_layers,
                "layers added after the last handler wrap no handler; add layers before the handlers they should wrap"
            );
        }
        let mut topics: Vec<String> = Vec::new();
        for t in self
            .routes
            .iter()
            .map(|(_, t, _)| t.to_string())
            .chain(self.extra_topics)
        {
            if !topics.contains(&t) {
                topics.push(t);
            }
        }
        let routes = self.routes.into_iter().map(|(n, _, r)| (n, r)).collect();
        let group: Arc<str> = match self.group {
            Some(g) => Arc::from(g),
            None => self.name.clone(),
        };
        Service {
            name: self.name,
            group,
            transport: self.transport,
            publisher: self.publisher,
            router: Router::new(routes, self.unknown),
            topics,
            concurrency: self.concurrency,
            batch: self.batch,
            dead_letters: self.dead_letters,
            grace: self.grace,
            cancel: self.cancel,
            observer: self.observer,
            metrics: self.metrics,
        }
    }
}

/// `payment::handlers::on_order_placed` -> `handlers::on_order_placed`; closures keep
/// their full path.
fn short_type_name(full: &str) -> String {
    if full.contains('{') || full.contains('<') {
        return full.to_owned();
    }
    let parts: Vec<&str> = full.split("::").collect();
    if parts.len() <= 2 {
        return full.to_owned();
    }
    parts[parts.len() - 2..].join("::")
}
