//! The reverse proxy: match a route, check the request, forward it to an instance of
//! the route's upstream behind that upstream's circuit breaker, stream the answer
//! back.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use edp_core::error::{BoxError, find};
use edp_core::middleware::circuit_breaker::error::CircuitOpen;
use edp_core::middleware::circuit_breaker::{
    CircuitBreakerConfig, CircuitBreakerLayer, CircuitState,
};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder, ServiceExt};

use crate::auth::JwtAuth;
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

type Upstreamer = BoxCloneSyncService<Request<Body>, Response<Body>, BoxError>;

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
    /// Per upstream name: its instances, each behind its circuit breaker.
    upstreams: HashMap<String, Pool>,
    max_body: u64,
    auth: Option<JwtAuth>,
    cors: Option<tower_http::cors::CorsLayer>,
    /// How long an idle upstream connection is kept (each thread has its pool).
    idle: Duration,
    breaker: CircuitBreakerConfig,
}

/// The instances of one upstream: fixed, or refreshed from the registry.
struct Pool {
    instances: std::sync::RwLock<Arc<Vec<Arc<Instance>>>>,
    discovery: Option<Discovery>,
}

struct Discovery {
    registry: crate::registry::RegistryClient,
    /// When the instances were last fetched.
    fetched: std::sync::Mutex<Option<std::time::Instant>>,
    fetching: std::sync::atomic::AtomicBool,
}

/// How often discovered instances are fetched again.
const REFRESH: Duration = Duration::from_secs(1);

/// One upstream instance: the client behind the instance's breaker.
struct Instance {
    base: http::Uri,
    service: Upstreamer,
    /// Whether its breaker is open (the instance is ejected for now).
    ejected: Arc<dyn Fn() -> bool + Send + Sync>,
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
            auth: None,
            cors: None,
        }
    }

    /// The gateway as an axum router: every path goes through the proxy, traced
    /// (the caller's `traceparent` continues) and measured by route prefix.
    pub fn router(self) -> axum::Router {
        let prefixes: Arc<Vec<String>> =
            Arc::new(self.inner.routes.iter().map(|r| r.prefix.clone()).collect());
        let cors = self.inner.cors.clone();
        let router = axum::Router::new().fallback(proxy).with_state(self);
        let router = match cors {
            Some(cors) => router.layer(cors),
            None => router,
        };
        router.layer(
            edp_core::telemetry::http::ServerLayer::new().route(move |head| {
                let path = head.uri.path();
                prefixes
                    .iter()
                    .find(|p| path.starts_with(p.as_str()))
                    .map(|p| format!("{p}/**"))
            }),
        )
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
        let stale = d
            .fetched
            .lock()
            .map_or(true, |f| f.is_none_or(|t| t.elapsed() >= REFRESH));
        if !stale {
            return current;
        }
        if current.is_empty() {
            self.refresh(upstream).await;
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
        if let Ok(mut f) = d.fetched.lock() {
            *f = Some(std::time::Instant::now());
        }
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
                None => fresh.push(Arc::new(instance(
                    self.inner.idle,
                    &self.inner.breaker,
                    upstream,
                    &base,
                ))),
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
                .map(|base| Arc::new(instance(self.idle, &self.breaker, &upstream.name, base)))
                .collect();
            let discovery = upstream.registry.clone().map(|registry| Discovery {
                registry,
                fetched: std::sync::Mutex::new(None),
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
        Gateway {
            inner: Arc::new(Inner {
                routes: self.routes,
                upstreams,
                max_body: self.max_body,
                auth: self.auth,
                cors: self.cors,
                idle: self.idle,
                breaker: self.breaker,
            }),
        }
    }
}

thread_local! {
    /// This thread's upstream client: its pooled connections run on the runtime of
    /// the thread that opened them, so a request on a per-core runtime
    /// ([`serve_per_core`]) never wakes another thread.
    static CLIENT: std::cell::RefCell<Option<(Duration, Client<HttpConnector, Body>)>> =
        const { std::cell::RefCell::new(None) };
}

fn local_client(idle: Duration) -> Client<HttpConnector, Body> {
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

fn instance(
    idle: Duration,
    breaker: &CircuitBreakerConfig,
    upstream: &str,
    base: &http::Uri,
) -> Instance {
    let send = tower::service_fn(move |req: Request<Body>| {
        let client = local_client(idle);
        async move {
            let deadline = req.extensions().get::<Deadline>().map(|d| d.0);
            let call = client.request(req);
            let res = match deadline {
                Some(d) => tokio::time::timeout(d, call)
                    .await
                    .map_err(|_| BoxError::from(UpstreamTimeout(d)))?,
                None => call.await,
            }?;
            Ok::<_, BoxError>(res.map(Body::new))
        }
    });
    let name = format!("{upstream}@{}", base.authority().map_or("", |a| a.as_str()));
    let breaker = CircuitBreakerLayer::new(breaker.clone().name(name)).classify(
        |r: Result<&Response<Body>, &BoxError>| match r {
            Ok(res) => res.status().is_server_error(),
            Err(_) => true,
        },
    );
    let state = breaker.clone();
    Instance {
        base: base.clone(),
        service: BoxCloneSyncService::new(
            ServiceBuilder::new()
                .layer(breaker)
                .layer(edp_core::telemetry::http::ClientLayer::new())
                .service(send),
        ),
        ejected: Arc::new(move || state.state() == CircuitState::Open),
    }
}

/// How long the upstream may take, carried to the client in the request.
#[derive(Debug, Clone, Copy)]
struct Deadline(Duration);

/// The upstream did not answer in time.
#[derive(Debug, thiserror::Error)]
#[error("the upstream did not answer within {0:?}")]
struct UpstreamTimeout(Duration);

/// Serves `gateway` on `listener` until `shutdown` completes, then finishes the
/// requests in flight.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    gateway: Gateway,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        gateway
            .router()
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Serves `gateway` on `addr` with one single-threaded runtime per worker thread,
/// each with its own listening socket (`SO_REUSEPORT`: the kernel spreads the
/// connections) and its own upstream connections, as nginx runs a worker per core: a
/// request is served start to finish on one thread. Stops when `shutdown` completes.
#[cfg(unix)]
pub async fn serve_per_core(
    addr: SocketAddr,
    gateway: Gateway,
    workers: usize,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if addr.port() == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "serve_per_core needs a fixed port: each worker binds it",
        ));
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let mut threads = Vec::new();
    for i in 0..workers.max(1) {
        let gateway = gateway.clone();
        let stop = stop.clone();
        let socket = reuse_port_socket(addr)?;
        threads.push(
            std::thread::Builder::new()
                .name(format!("edp-gateway-{i}"))
                .spawn(move || -> std::io::Result<()> {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    rt.block_on(async move {
                        let listener = socket.listen(1024)?;
                        axum::serve(
                            listener,
                            gateway
                                .router()
                                .into_make_service_with_connect_info::<SocketAddr>(),
                        )
                        .with_graceful_shutdown(stop.cancelled_owned())
                        .await
                    })
                })?,
        );
    }
    shutdown.await;
    stop.cancel();
    tokio::task::spawn_blocking(move || {
        for t in threads {
            match t.join() {
                Ok(r) => r?,
                Err(_) => return Err(std::io::Error::other("a gateway worker panicked")),
            }
        }
        Ok(())
    })
    .await
    .map_err(std::io::Error::other)?
}

#[cfg(unix)]
fn reuse_port_socket(addr: SocketAddr) -> std::io::Result<tokio::net::TcpSocket> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.set_nodelay(true)?;
    // Bound here, on the caller's thread, so that a port in use fails at once.
    socket.bind(addr)?;
    Ok(socket)
}

/// Serves `gateway` on `listener` until the process stops.
pub async fn serve(listener: tokio::net::TcpListener, gateway: Gateway) -> std::io::Result<()> {
    axum::serve(
        listener,
        gateway
            .router()
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

async fn proxy(State(gateway): State<Gateway>, req: Request<Body>) -> Response<Body> {
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let request_id = request_id(req.headers());
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut res = forward(&gateway, client, req, &request_id).await;
    tracing::info!(
        target: "edp_gateway::access",
        %method,
        path,
        status = res.status().as_u16(),
        took_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        client = client.map(|c| c.ip().to_string()).unwrap_or_default(),
        request_id,
        "request"
    );
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    res
}

async fn forward(
    gateway: &Gateway,
    client: Option<SocketAddr>,
    req: Request<Body>,
    request_id: &str,
) -> Response<Body> {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let Some((route, target)) = gateway.route_for(&path_and_query) else {
        return problem(
            StatusCode::NOT_FOUND,
            &format!("no route for {}", req.uri().path()),
        );
    };
    let mut req = req;
    // Identity headers come from the gateway only, never from the client.
    for name in IDENTITY_HEADERS {
        req.headers_mut().remove(name);
    }
    let mut subject = None;
    if let (Some(auth), false) = (&gateway.inner.auth, route.public) {
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match auth.verify(header, &route.scopes).await {
            Ok(claims) => {
                subject = Some(claims.subject.clone());
                if let Ok(v) = HeaderValue::from_str(&claims.subject) {
                    req.headers_mut().insert(IDENTITY_HEADERS[0], v);
                }
                if let Ok(v) = HeaderValue::from_str(&claims.scopes.join(" ")) {
                    req.headers_mut().insert(IDENTITY_HEADERS[1], v);
                }
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
                return res;
            }
        }
    }
    let mut limit_headers = None;
    if let Some(limiter) = &route.rate_limit {
        let key = match (
            &subject,
            req.headers().get("x-api-key").and_then(|v| v.to_str().ok()),
        ) {
            (Some(sub), _) => format!("sub:{sub}"),
            (None, Some(key)) => format!("key:{key}"),
            (None, None) => format!(
                "ip:{}",
                client.map_or_else(String::new, |a| a.ip().to_string())
            ),
        };
        let verdict = limiter.check(&key);
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
            return res;
        }
        limit_headers = Some(verdict);
    }
    let mut res = send_upstream(gateway, route, client, req, request_id, target).await;
    if let Some(verdict) = &limit_headers {
        rate_limit_headers(res.headers_mut(), verdict);
    }
    res
}

fn rate_limit_headers(headers: &mut HeaderMap, v: &crate::limit::Verdict) {
    headers.insert("ratelimit-limit", HeaderValue::from(v.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(v.remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(v.reset));
}

/// Sends the checked request to an instance of the route's upstream.
async fn send_upstream(
    gateway: &Gateway,
    route: &Route,
    client: Option<SocketAddr>,
    req: Request<Body>,
    request_id: &str,
    target: String,
) -> Response<Body> {
    let max = gateway.inner.max_body;
    if let Some(len) = content_length(req.headers()) {
        match len {
            Ok(len) if len > max => {
                return problem(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("the body is {len} bytes; this gateway forwards at most {max}"),
                );
            }
            Ok(_) => {}
            Err(()) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "the Content-Length header is not a number",
                );
            }
        }
    }
    let (mut parts, body) = req.into_parts();
    let original_host = parts.headers.get(header::HOST).cloned();
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(header::HOST);
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
    if instances.is_empty() {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("no instance of {} is registered", upstream.name),
        );
    }
    let start = upstream.next_start(instances.len());
    let order = (0..instances.len()).map(|k| &*instances[(start + k) % instances.len()]);
    // Ejected instances last: they answer fast (the breaker) if nothing else is left.
    let (mut order, ejected): (Vec<&Instance>, Vec<&Instance>) =
        order.partition(|i| !(i.ejected)());
    order.extend(ejected);
    let mut body = Some(Body::new(http_body_util::Limited::new(
        body,
        usize::try_from(max).unwrap_or(usize::MAX),
    )));
    let mut last = None;
    for instance in order {
        let uri = match crate::upstream::uri_on(&instance.base, &target) {
            Ok(uri) => uri,
            Err(e) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    &format!("cannot forward this path: {e}"),
                );
            }
        };
        let mut req = Request::new(body.take().unwrap_or_else(Body::empty));
        *req.method_mut() = parts.method.clone();
        *req.uri_mut() = uri;
        *req.version_mut() = http::Version::HTTP_11;
        *req.headers_mut() = if replayable {
            parts.headers.clone()
        } else {
            std::mem::take(&mut parts.headers)
        };
        req.extensions_mut().insert(Deadline(route.timeout));
        match instance.service.clone().oneshot(req).await {
            Ok(mut res) => {
                strip_hop_by_hop(res.headers_mut());
                route.rewrite_location(res.headers_mut());
                return res;
            }
            Err(e) => {
                let timed_out = find::<UpstreamTimeout>(&*e).is_some();
                last = Some(e);
                if !replayable || timed_out {
                    break; // a timeout may have had its effect: never sent twice
                }
            }
        }
    }
    match last {
        Some(e) => upstream_error(&upstream.name, &e),
        None => problem(StatusCode::BAD_GATEWAY, "no instance to send to"),
    }
}

/// The answer for an upstream call that failed.
fn upstream_error(upstream: &str, e: &BoxError) -> Response<Body> {
    use edp_core::telemetry::metrics::count_upstream_error;
    if let Some(open) = find::<CircuitOpen>(&**e) {
        count_upstream_error(upstream, "circuit_open");
        let mut res = problem(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("{upstream} is failing; the gateway stopped calling it for now"),
        );
        let secs = open.retry_after.as_secs().max(1);
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return res;
    }
    if let Some(t) = find::<UpstreamTimeout>(&**e) {
        count_upstream_error(upstream, "timeout");
        return problem(
            StatusCode::GATEWAY_TIMEOUT,
            &format!("{upstream} did not answer within {:?}", t.0),
        );
    }
    if find::<http_body_util::LengthLimitError>(&**e).is_some() {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is larger than this gateway forwards",
        );
    }
    count_upstream_error(upstream, "unreachable");
    tracing::warn!(upstream, error = %edp_core::error::chain_to_string(&**e), "upstream call failed");
    problem(
        StatusCode::BAD_GATEWAY,
        &format!("{upstream} cannot be reached"),
    )
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
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= MAX_REQUEST_ID && v.bytes().all(|b| b.is_ascii_graphic())
        })
        .map_or_else(|| edp_core::event::new_id().to_string(), str::to_owned)
}

/// Headers that belong to one connection, not to the message (RFC 9110 7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
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
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::TRANSFER_ENCODING);
}

fn forwarded_headers(
    headers: &mut HeaderMap,
    client: Option<SocketAddr>,
    host: Option<HeaderValue>,
    request_id: &str,
) {
    if let Some(addr) = client {
        let ip = addr.ip().to_string();
        let value = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(prior) => format!("{prior}, {ip}"),
            None => ip,
        };
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert("x-forwarded-for", v);
        }
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Some(host) = host {
        headers.insert("x-forwarded-host", host);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID, v);
    }
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
            let id = request_id(req.headers());
            let mut res = forward(&me, None, req, &id).await;
            if let Ok(v) = HeaderValue::from_str(&id) {
                res.headers_mut().insert(REQUEST_ID, v);
            }
            Ok(res)
        })
    }
}
