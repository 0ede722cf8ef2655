//! The reverse proxy: match a route, check the request, forward it to an instance of
//! the route's upstream behind that upstream's circuit breaker, stream the answer
//! back.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use bytes::Bytes;
use edp_core::error::{BoxError, find};
use edp_core::middleware::circuit_breaker::error::CircuitOpen;
use edp_core::middleware::circuit_breaker::{
    CircuitBreakerConfig, CircuitBreakerLayer, CircuitState,
};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::Service;

use crate::auth::JwtAuth;
use crate::body::{GatewayBody, Outgoing};
use crate::links::{Links, Target};
use crate::problem::problem;
use crate::route::Route;

/// The request id header: kept when the client sends a sane one, made otherwise, and
/// echoed on the answer.
pub const REQUEST_ID: &str = "x-request-id";

/// Headers that carry the verified caller to upstreams: the token's `sub` and its
/// scopes (space-separated). Removed from every incoming request.
pub const IDENTITY_HEADERS: [&str; 2] = ["x-auth-subject", "x-auth-scopes"];

/// The longest request id kept from a client.
const MAX_REQUEST_ID: usize = 128;

/// The gateway: routes, the upstream client, and the limits. Build one with
/// [`Gateway::builder`], serve [`Gateway::router`].
///
/// ```no_run
/// use edp_gateway::{Gateway, Route, Upstream};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let gateway = Gateway::builder()
///     .route(Route::new("/api/v1/orders", Upstream::new("order", ["http://127.0.0.1:8081"])?)
///         .rewrite("/v1/orders"))
///     .build();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// edp_gateway::serve(listener, gateway).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    /// Longest prefix first.
    routes: Vec<Route>,
    /// The metrics label of each route (`/api/v1/orders/**`), in the same order.
    labels: Vec<String>,
    /// Per upstream name: its instances, each behind its circuit breaker.
    upstreams: HashMap<String, Pool>,
    max_body: u64,
    auth: Option<JwtAuth>,
    cors: Option<tower_http::cors::CorsLayer>,
    /// How long an idle upstream connection is kept (each thread has its pool).
    idle: Duration,
    /// How long a client connection may start no request.
    client_idle: Duration,
    breaker: CircuitBreakerConfig,
}

/// The instances of one upstream: fixed, or refreshed from the registry.
struct Pool {
    instances: std::sync::RwLock<Arc<Vec<Arc<Instance>>>>,
    discovery: Option<Discovery>,
}

struct Discovery {
    registry: crate::registry::RegistryClient,
    /// When the instances were last fetched, in ms since [`EPOCH`] (0: never).
    fetched: AtomicU64,
    fetching: std::sync::atomic::AtomicBool,
}

/// How often discovered instances are fetched again.
const REFRESH: Duration = Duration::from_secs(1);

/// Where discovery's fetch times count from.
static EPOCH: std::sync::LazyLock<std::time::Instant> =
    std::sync::LazyLock::new(std::time::Instant::now);

fn millis_since_epoch() -> u64 {
    u64::try_from(EPOCH.elapsed().as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// One upstream instance: where it is, and its breaker.
pub(crate) struct Instance {
    base: http::Uri,
    /// The base URL's path without its trailing slash, put before each path.
    prefix: String,
    authority: http::uri::Authority,
    /// The `Host` header sent to it.
    host: HeaderValue,
    target: Target,
    breaker: CircuitBreakerLayer,
}

impl Instance {
    /// Whether its breaker is open (the instance is ejected for now).
    fn ejected(&self) -> bool {
        self.breaker.state() == CircuitState::Open
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("routes", &self.inner.routes.len())
            .field("max_body", &self.inner.max_body)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Gateway`].
#[derive(Debug)]
#[must_use]
pub struct GatewayBuilder {
    routes: Vec<Route>,
    max_body: u64,
    breaker: CircuitBreakerConfig,
    idle: Duration,
    client_idle: Duration,
    auth: Option<JwtAuth>,
    cors: Option<tower_http::cors::CorsLayer>,
}

impl Gateway {
    /// A gateway with no routes, a 10 MiB body limit, and per-upstream breakers that
    /// open after 5 consecutive failures for 10 s.
    pub fn builder() -> GatewayBuilder {
        GatewayBuilder {
            routes: Vec::new(),
            max_body: 10 * 1024 * 1024,
            breaker: CircuitBreakerConfig::default()
                .tolerate_consecutive_failures(5)
                .open_for(Duration::from_secs(10)),
            idle: Duration::from_secs(90),
            client_idle: Duration::from_secs(60),
            auth: None,
            cors: None,
        }
    }

    /// The gateway as an axum router: every path goes through the proxy, traced
    /// (the caller's `traceparent` continues) and measured by route prefix.
    pub fn router(self) -> axum::Router {
        let cors = self.inner.cors.clone();
        let me = self.clone();
        let router = axum::Router::new().fallback(proxy).with_state(self);
        let router = match cors {
            Some(cors) => router.layer(cors),
            None => router,
        };
        router.layer(
            edp_core::telemetry::http::ServerLayer::new()
                .route(move |head| me.route_label(head.uri.path()).map(str::to_owned)),
        )
    }

    /// How long idle upstream connections are kept.
    pub(crate) fn upstream_idle_timeout(&self) -> Duration {
        self.inner.idle
    }

    /// How long a client connection may start no request.
    pub(crate) fn client_idle_timeout(&self) -> Duration {
        self.inner.client_idle
    }

    /// The CORS answers, when set.
    pub(crate) fn cors(&self) -> Option<&tower_http::cors::CorsLayer> {
        self.inner.cors.as_ref()
    }

    /// The metrics label of the route `path` takes (`/api/v1/orders/**`).
    pub(crate) fn route_label(&self, path: &str) -> Option<&str> {
        self.inner
            .routes
            .iter()
            .position(|r| path.starts_with(r.prefix.as_str()))
            .and_then(|i| self.inner.labels.get(i))
            .map(String::as_str)
    }

    /// The instances of `upstream` now; for a discovered upstream, fetched when
    /// there are none yet, and refreshed in the background when a second old.
    async fn instances(&self, upstream: &str) -> Arc<Vec<Arc<Instance>>> {
        let Some(pool) = self.inner.upstreams.get(upstream) else {
            return Arc::new(Vec::new());
        };
        let current = pool
            .instances
            .read()
            .map_or_else(|p| p.into_inner().clone(), |g| g.clone());
        let Some(d) = &pool.discovery else {
            return current;
        };
        let fetched = d.fetched.load(Ordering::Acquire);
        let refresh = u64::try_from(REFRESH.as_millis()).unwrap_or(u64::MAX);
        let stale = fetched == 0 || millis_since_epoch().saturating_sub(fetched) >= refresh;
        if !stale {
            return current;
        }
        if current.is_empty() {
            // Boxed: a registry call is the rare path, and would make every
            // request's future as large as its own.
            Box::pin(self.refresh(upstream)).await;
            return pool
                .instances
                .read()
                .map_or_else(|p| p.into_inner().clone(), |g| g.clone());
        }
        if !d.fetching.swap(true, std::sync::atomic::Ordering::AcqRel) {
            let me = self.clone();
            let name = upstream.to_owned();
            tokio::spawn(async move { me.refresh(&name).await });
        }
        current
    }

    /// Fetches `upstream`'s instances from the registry, keeping the breakers of
    /// the instances it already knew.
    async fn refresh(&self, upstream: &str) {
        let Some(pool) = self.inner.upstreams.get(upstream) else {
            return;
        };
        let Some(d) = &pool.discovery else {
            return;
        };
        let found = d.registry.instances(upstream).await;
        d.fetched.store(millis_since_epoch(), Ordering::Release);
        d.fetching
            .store(false, std::sync::atomic::Ordering::Release);
        let found = match found {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(upstream, error = %e, "cannot fetch instances; keeping the last known");
                return;
            }
        };
        let old = pool
            .instances
            .read()
            .map_or_else(|p| p.into_inner().clone(), |g| g.clone());
        let mut fresh = Vec::with_capacity(found.len());
        for i in found {
            let Ok(base) = i.url.parse::<http::Uri>() else {
                tracing::warn!(upstream, url = %i.url, "a registered URL does not parse; skipped");
                continue;
            };
            match old.iter().find(|o| o.base == base) {
                Some(known) => fresh.push(known.clone()),
                None => match instance(&self.inner.breaker, upstream, &base) {
                    Some(i) => fresh.push(Arc::new(i)),
                    None => {
                        tracing::warn!(upstream, url = %i.url, "a registered URL has no host; skipped");
                    }
                },
            }
        }
        if let Ok(mut w) = pool.instances.write() {
            *w = Arc::new(fresh);
        }
    }

    fn route_for(&self, path_and_query: &str) -> Option<(&Route, String)> {
        self.inner
            .routes
            .iter()
            .find_map(|r| r.target(path_and_query).map(|t| (r, t)))
    }
}

impl GatewayBuilder {
    /// Adds a route. The longest matching prefix wins.
    pub fn route(mut self, route: Route) -> Self {
        self.routes.push(route);
        self
    }

    /// The largest request body forwarded; larger ones get 413.
    pub fn max_body(mut self, bytes: u64) -> Self {
        self.max_body = bytes;
        self
    }

    /// The circuit breaker each upstream gets (its name is the upstream's). Errors,
    /// timeouts and 5xx answers count as failures.
    pub fn breaker(mut self, config: CircuitBreakerConfig) -> Self {
        self.breaker = config;
        self
    }

    /// Requires a valid bearer token on every route not marked
    /// [`public`](Route::public), with the route's [`scopes`](Route::scopes).
    pub fn auth(mut self, auth: JwtAuth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Answers CORS preflights and sets the CORS headers of answers, as `cors` says
    /// (`tower_http::cors::CorsLayer`, re-exported as `edp_gateway::CorsLayer`).
    ///
    /// ```
    /// use edp_gateway::{CorsLayer, Gateway};
    /// use http::{HeaderValue, Method};
    ///
    /// let gateway = Gateway::builder()
    ///     .cors(CorsLayer::new()
    ///         .allow_origin(HeaderValue::from_static("https://shop.example"))
    ///         .allow_methods([Method::GET, Method::POST]))
    ///     .build();
    /// # let _ = gateway;
    /// ```
    pub fn cors(mut self, cors: tower_http::cors::CorsLayer) -> Self {
        self.cors = Some(cors);
        self
    }

    /// How long an idle upstream connection is kept in the pool.
    pub fn pool_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// How long a client connection may go without starting a request before the
    /// gateway closes it (60 s by default): an idle keep-alive connection, or a
    /// client sending a request head too slowly (slowloris). A request in flight is
    /// finished first. Applies to [`serve`](crate::serve) and its siblings.
    pub fn client_idle_timeout(mut self, idle: Duration) -> Self {
        self.client_idle = idle;
        self
    }

    /// Finishes the gateway. Discovered upstreams are fetched from their registry on
    /// first use and every second after.
    pub fn build(mut self) -> Gateway {
        self.routes
            .sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        let mut upstreams = HashMap::new();
        for route in &self.routes {
            let upstream = &route.upstream;
            if upstreams.contains_key(&upstream.name) {
                continue;
            }
            let instances = upstream
                .instances
                .iter()
                .filter_map(|base| instance(&self.breaker, &upstream.name, base).map(Arc::new))
                .collect();
            let discovery = upstream.registry.clone().map(|registry| Discovery {
                registry,
                fetched: AtomicU64::new(0),
                fetching: std::sync::atomic::AtomicBool::new(false),
            });
            upstreams.insert(
                upstream.name.clone(),
                Pool {
                    instances: std::sync::RwLock::new(Arc::new(instances)),
                    discovery,
                },
            );
        }
        let labels = self
            .routes
            .iter()
            .map(|r| format!("{}/**", r.prefix.trim_end_matches('/')))
            .collect();
        Gateway {
            inner: Arc::new(Inner {
                routes: self.routes,
                labels,
                upstreams,
                max_body: self.max_body,
                auth: self.auth,
                cors: self.cors,
                idle: self.idle,
                client_idle: self.client_idle,
                breaker: self.breaker,
            }),
        }
    }
}

thread_local! {
    /// This thread's pooled upstream client, for requests that come without a client
    /// connection of their own ([`Gateway::router`] in an app, the `Service` impl).
    static CLIENT: std::cell::RefCell<Option<(Duration, PooledClient)>> =
        const { std::cell::RefCell::new(None) };
}

type PooledClient = Client<HttpConnector, Outgoing<Body>>;

fn local_client(idle: Duration) -> PooledClient {
    CLIENT.with(|c| {
        let mut c = c.borrow_mut();
        match &*c {
            Some((i, client)) if *i == idle => client.clone(),
            _ => {
                let mut connector = HttpConnector::new();
                connector.set_nodelay(true);
                let client = Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(idle)
                    .build(connector);
                *c = Some((idle, client.clone()));
                client
            }
        }
    })
}

/// Numbers instances for their connections.
static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);

/// One upstream instance: where it is, and its breaker.
fn instance(breaker: &CircuitBreakerConfig, upstream: &str, base: &http::Uri) -> Option<Instance> {
    let authority = base.authority()?.clone();
    let host = HeaderValue::from_str(authority.as_str()).ok()?;
    let addr = format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(80)
    );
    let name = format!("{upstream}@{authority}");
    Some(Instance {
        base: base.clone(),
        prefix: base.path().trim_end_matches('/').to_owned(),
        authority,
        host,
        target: Target {
            id: NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed),
            addr,
        },
        breaker: CircuitBreakerLayer::new(breaker.clone().name(name)),
    })
}

/// How an upstream call is sent.
pub(crate) trait Transport<B>: Sync {
    /// Sends `req` (origin-form URI, `Host` set) to `instance`.
    fn send(
        &self,
        instance: &Instance,
        req: Request<Outgoing<B>>,
    ) -> impl Future<Output = Result<Response<Incoming>, BoxError>> + Send;
}

impl Transport<Incoming> for Links {
    fn send(
        &self,
        instance: &Instance,
        req: Request<Outgoing<Incoming>>,
    ) -> impl Future<Output = Result<Response<Incoming>, BoxError>> + Send {
        Links::send(self, &instance.target, req)
    }
}

/// Through this thread's pooled client.
pub(crate) struct Pooled(pub(crate) Duration);

impl Transport<Body> for Pooled {
    async fn send(
        &self,
        instance: &Instance,
        req: Request<Outgoing<Body>>,
    ) -> Result<Response<Incoming>, BoxError> {
        let (mut parts, body) = req.into_parts();
        let mut uri = std::mem::take(&mut parts.uri).into_parts();
        uri.scheme = Some(http::uri::Scheme::HTTP);
        uri.authority = Some(instance.authority.clone());
        parts.uri = http::Uri::from_parts(uri)?;
        Ok(local_client(self.0)
            .request(Request::from_parts(parts, body))
            .await?)
    }
}

/// Why an upstream call gave no answer.
enum Failure {
    Open(CircuitOpen),
    Timeout(Duration),
    Send(BoxError),
}

async fn proxy(State(gateway): State<Gateway>, req: Request<Body>) -> Response<Body> {
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let pooled = Pooled(gateway.inner.idle);
    handle(&gateway, client, req, &pooled).await.map(Body::new)
}

/// One request, start to end: the request id, the checks, the upstream call, the
/// access log line.
pub(crate) async fn handle<B, T>(
    gateway: &Gateway,
    client: Option<SocketAddr>,
    req: Request<B>,
    transport: &T,
) -> Response<GatewayBody>
where
    B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
    T: Transport<B>,
{
    let request_id = request_id(req.headers());
    let logged =
        tracing::enabled!(target: "edp_gateway::access", tracing::Level::INFO).then(|| {
            (
                std::time::Instant::now(),
                req.method().clone(),
                req.uri().path().to_owned(),
            )
        });
    let mut res = forward(gateway, client, req, &request_id, transport).await;
    if let Some((started, method, path)) = logged {
        tracing::info!(
            target: "edp_gateway::access",
            %method,
            path,
            status = res.status().as_u16(),
            took_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            client = client.map(|c| c.ip().to_string()).unwrap_or_default(),
            request_id = request_id.to_str().unwrap_or_default(),
            "request"
        );
    }
    res.headers_mut().insert(REQUEST_ID_HEADER, request_id);
    res
}

fn own(res: Response<Body>) -> Response<GatewayBody> {
    res.map(GatewayBody::Own)
}

async fn forward<B, T>(
    gateway: &Gateway,
    client: Option<SocketAddr>,
    req: Request<B>,
    request_id: &HeaderValue,
    transport: &T,
) -> Response<GatewayBody>
where
    B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
    T: Transport<B>,
{
    let found = gateway.route_for(req.uri().path_and_query().map_or("/", |p| p.as_str()));
    let Some((route, target)) = found else {
        return own(problem(
            StatusCode::NOT_FOUND,
            &format!("no route for {}", req.uri().path()),
        ));
    };
    let mut req = req;
    // Identity headers come from the gateway only, never from the client.
    for name in &IDENTITY {
        req.headers_mut().remove(name);
    }
    let mut subject = None;
    if let (Some(auth), false) = (&gateway.inner.auth, route.public) {
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match auth.verified(header, &route.scopes).await {
            Ok(verified) => {
                if let Some(v) = &verified.subject {
                    req.headers_mut().insert(IDENTITY[0].clone(), v.clone());
                }
                if let Some(v) = &verified.scopes {
                    req.headers_mut().insert(IDENTITY[1].clone(), v.clone());
                }
                subject = Some(verified);
            }
            Err(e) => {
                edp_core::telemetry::metrics::count_rejected(e.status().as_u16());
                let mut res = problem(e.status(), &e.to_string());
                if e.status() == StatusCode::UNAUTHORIZED {
                    res.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Bearer error=\"invalid_token\""),
                    );
                }
                return own(res);
            }
        }
    }
    let mut limit_headers = None;
    if let Some(limiter) = &route.rate_limit {
        let verdict = match (
            subject,
            req.headers().get("x-api-key").and_then(|v| v.to_str().ok()),
        ) {
            (Some(verified), _) => limiter.check(&verified.rate_key),
            (None, Some(key)) => limiter.check(&format!("key:{key}")),
            (None, None) => limiter.check(&format!(
                "ip:{}",
                client.map_or_else(String::new, |a| a.ip().to_string())
            )),
        };
        if !verdict.allowed {
            edp_core::telemetry::metrics::count_rate_limited(&route.prefix);
            let mut res = problem(
                StatusCode::TOO_MANY_REQUESTS,
                &format!(
                    "too many requests on {}; try again in {} s",
                    route.prefix, verdict.reset
                ),
            );
            rate_limit_headers(res.headers_mut(), &verdict);
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(verdict.reset));
            return own(res);
        }
        limit_headers = Some(verdict);
    }
    let mut res = send_upstream(gateway, route, client, req, request_id, target, transport).await;
    if let Some(verdict) = &limit_headers {
        rate_limit_headers(res.headers_mut(), verdict);
    }
    res
}

fn rate_limit_headers(headers: &mut HeaderMap, v: &crate::limit::Verdict) {
    headers.insert(RATELIMIT_LIMIT, HeaderValue::from(v.limit));
    headers.insert(RATELIMIT_REMAINING, HeaderValue::from(v.remaining));
    headers.insert(RATELIMIT_RESET, HeaderValue::from(v.reset));
}

/// Sends the checked request to an instance of the route's upstream.
async fn send_upstream<B, T>(
    gateway: &Gateway,
    route: &Route,
    client: Option<SocketAddr>,
    req: Request<B>,
    request_id: &HeaderValue,
    target: String,
    transport: &T,
) -> Response<GatewayBody>
where
    B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
    T: Transport<B>,
{
    let max = gateway.inner.max_body;
    if let Some(len) = content_length(req.headers()) {
        match len {
            Ok(len) if len > max => {
                return own(problem(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("the body is {len} bytes; this gateway forwards at most {max}"),
                ));
            }
            Ok(_) => {}
            Err(()) => {
                return own(problem(
                    StatusCode::BAD_REQUEST,
                    "the Content-Length header is not a number",
                ));
            }
        }
    }
    let (mut parts, body) = req.into_parts();
    let original_host = parts.headers.remove(header::HOST);
    strip_hop_by_hop(&mut parts.headers);
    forwarded_headers(&mut parts.headers, client, original_host, request_id);
    // A request without a body whose method is idempotent can go to another
    // instance when one fails; others go to one instance only.
    let replayable = matches!(
        parts.method,
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS | http::Method::DELETE
    ) && !parts.headers.contains_key(header::TRANSFER_ENCODING)
        && content_length(&parts.headers).is_none_or(|l| l == Ok(0));
    let upstream = &route.upstream;
    let instances = gateway.instances(&upstream.name).await;
    let n = instances.len();
    if n == 0 {
        return own(problem(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("no instance of {} is registered", upstream.name),
        ));
    }
    // Round robin; ejected instances last: they answer fast (their breaker) when
    // nothing else is left.
    let start = upstream.next_start(n);
    let ring = || (0..n).map(|k| &*instances[(start + k) % n]);
    let order = ring()
        .filter(|i| !i.ejected())
        .chain(ring().filter(|i| i.ejected()))
        .take(n);
    let mut body = Some(Outgoing::limited(body, max));
    let mut last = None;
    for (attempt, instance) in order.enumerate() {
        let permit = match instance.breaker.try_call() {
            Ok(permit) => permit,
            Err(open) => {
                // Nothing was sent: the request can go to the next instance.
                last = Some(Failure::Open(open));
                continue;
            }
        };
        let path = if instance.prefix.is_empty() {
            http::uri::PathAndQuery::from_maybe_shared(Bytes::from(target.clone()))
        } else {
            http::uri::PathAndQuery::from_maybe_shared(Bytes::from(format!(
                "{}{target}",
                instance.prefix
            )))
        };
        let path = match path {
            Ok(path) => path,
            Err(e) => {
                return own(problem(
                    StatusCode::BAD_REQUEST,
                    &format!("cannot forward this path: {e}"),
                ));
            }
        };
        let mut up = Request::new(body.take().unwrap_or_else(Outgoing::empty));
        *up.method_mut() = parts.method.clone();
        *up.uri_mut() = http::Uri::from(path);
        *up.headers_mut() = if replayable && attempt + 1 < n {
            parts.headers.clone()
        } else {
            std::mem::take(&mut parts.headers)
        };
        up.headers_mut().insert(header::HOST, instance.host.clone());
        let call = edp_core::telemetry::http::ClientCall::start(&mut up);
        let sent = call
            .run(tokio::time::timeout(
                route.timeout,
                transport.send(instance, up),
            ))
            .await;
        match sent {
            Ok(Ok(mut res)) => {
                permit.finish(res.status().is_server_error());
                strip_hop_by_hop(res.headers_mut());
                route.rewrite_location(res.headers_mut());
                return res.map(GatewayBody::Upstream);
            }
            Ok(Err(e)) => {
                permit.failed();
                last = Some(Failure::Send(e));
                if !replayable {
                    break;
                }
            }
            Err(_elapsed) => {
                permit.failed();
                // A timeout may have had its effect: never sent twice.
                last = Some(Failure::Timeout(route.timeout));
                break;
            }
        }
    }
    own(match last {
        Some(e) => upstream_error(&upstream.name, &e),
        None => problem(StatusCode::BAD_GATEWAY, "no instance to send to"),
    })
}

/// The answer for an upstream call that failed.
fn upstream_error(upstream: &str, failure: &Failure) -> Response<Body> {
    use edp_core::telemetry::metrics::count_upstream_error;
    match failure {
        Failure::Open(open) => {
            count_upstream_error(upstream, "circuit_open");
            let mut res = problem(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("{upstream} is failing; the gateway stopped calling it for now"),
            );
            let secs = open.retry_after.as_secs().max(1);
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            res
        }
        Failure::Timeout(t) => {
            count_upstream_error(upstream, "timeout");
            problem(
                StatusCode::GATEWAY_TIMEOUT,
                &format!("{upstream} did not answer within {t:?}"),
            )
        }
        Failure::Send(e) if find::<http_body_util::LengthLimitError>(&**e).is_some() => problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is larger than this gateway forwards",
        ),
        Failure::Send(e) => {
            count_upstream_error(upstream, "unreachable");
            tracing::warn!(upstream, error = %edp_core::error::chain_to_string(&**e), "upstream call failed");
            problem(
                StatusCode::BAD_GATEWAY,
                &format!("{upstream} cannot be reached"),
            )
        }
    }
}

/// `Content-Length` as a number: `None` when absent, `Err` when not one number.
fn content_length(headers: &HeaderMap) -> Option<Result<u64, ()>> {
    let mut values = headers.get_all(header::CONTENT_LENGTH).iter();
    let first = values.next()?;
    let parsed = first
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let consistent = values.all(|v| Some(v) == Some(first));
    Some(parsed.filter(|_| consistent).ok_or(()))
}

/// The client's request id when it is sane (visible ASCII, at most 128 bytes), else a
/// new UUIDv7.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    if let Some(v) = headers.get(REQUEST_ID_HEADER).filter(|v| {
        let b = v.as_bytes();
        !b.is_empty() && b.len() <= MAX_REQUEST_ID && b.iter().all(u8::is_ascii_graphic)
    }) {
        return v.clone();
    }
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let id = edp_core::event::new_id();
    // invariant: a hyphenated UUID is visible ASCII.
    HeaderValue::from_bytes(id.hyphenated().encode_lower(&mut buf).as_bytes())
        .unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// `x-request-id`.
const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static(REQUEST_ID);
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
const IDENTITY: [HeaderName; 2] = [
    HeaderName::from_static(IDENTITY_HEADERS[0]),
    HeaderName::from_static(IDENTITY_HEADERS[1]),
];

/// Headers that belong to one connection, not to the message (RFC 9110 7.6.1).
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
    header::TRANSFER_ENCODING,
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none: look before removing.
    if !headers.keys().any(|k| HOP_BY_HOP.contains(k)) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

fn forwarded_headers(
    headers: &mut HeaderMap,
    client: Option<SocketAddr>,
    host: Option<HeaderValue>,
    request_id: &HeaderValue,
) {
    // The four below, in one growth of the map at most.
    headers.reserve(4);
    if let Some(addr) = client {
        let value = match headers.get(X_FORWARDED_FOR) {
            Some(prior) => HeaderValue::from_str(&format!(
                "{}, {}",
                prior.to_str().unwrap_or_default(),
                addr.ip()
            ))
            .ok(),
            None => ip_value(addr.ip()),
        };
        if let Some(v) = value {
            headers.insert(X_FORWARDED_FOR, v);
        }
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    if let Some(host) = host {
        headers.insert(X_FORWARDED_HOST, host);
    }
    headers.insert(REQUEST_ID_HEADER, request_id.clone());
}

/// An IP address as a header value, formatted without a `String`.
fn ip_value(ip: std::net::IpAddr) -> Option<HeaderValue> {
    use std::io::Write;
    let mut buf = [0u8; 64];
    let n = {
        let mut w = std::io::Cursor::new(&mut buf[..]);
        write!(w, "{ip}").ok()?;
        usize::try_from(w.position()).ok()?
    };
    HeaderValue::from_bytes(buf.get(..n)?).ok()
}

impl Service<Request<Body>> for Gateway {
    type Response = Response<Body>;
    type Error = std::convert::Infallible;
    type Future = futures_util::future::BoxFuture<'static, Result<Response<Body>, Self::Error>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    /// Handles one request without a client address (no `X-Forwarded-For`).
    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let me = self.clone();
        Box::pin(async move {
            let pooled = Pooled(me.inner.idle);
            Ok(handle(&me, None, req, &pooled).await.map(Body::new))
        })
    }
}
