//! Tower layers that trace and measure HTTP (feature `http`): [`ServerLayer`] for a
//! server (axum, hyper), [`ClientLayer`] for a client.
//!
//! The server layer continues the trace of an incoming `traceparent` (or starts one,
//! sampled at the configured ratio) with a `server` span, so that events published
//! while the request is handled belong to its trace; with the `prometheus` feature it
//! records `http_server_request_duration_seconds` and `http_server_active_requests`.
//! The client layer sends the current trace context on outgoing requests.
//!
//! ```
//! use edp_core::telemetry::http::ServerLayer;
//!
//! // With axum, label requests by their route template, not their path:
//! // ServerLayer::new().route(|head| head.extensions.get::<axum::extract::MatchedPath>()
//! //     .map(|p| p.as_str().to_owned()))
//! let layer = ServerLayer::new().route(|head| Some(head.uri.path().to_owned()));
//! # let _ = layer;
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

type RouteFn = Arc<dyn Fn(&http::request::Parts) -> Option<String> + Send + Sync>;

/// Traces and measures each request of the service it wraps; see the module docs.
#[derive(Clone, Default)]
pub struct ServerLayer {
    route: Option<RouteFn>,
}

impl std::fmt::Debug for ServerLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerLayer").finish_non_exhaustive()
    }
}

impl ServerLayer {
    /// A layer that labels requests with no route (see [`route`](Self::route)).
    pub fn new() -> Self {
        Self::default()
    }

    /// How to find a request's route template (`/v1/orders/{id}`) from its head, for
    /// the span name and the `route` label. Return `None` for requests no route matched. Use
    /// the template, never the raw path: each distinct label value is a time series.
    pub fn route<F>(mut self, route: F) -> Self
    where
        F: Fn(&http::request::Parts) -> Option<String> + Send + Sync + 'static,
    {
        self.route = Some(Arc::new(route));
        self
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = Server<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Server {
            inner,
            route: self.route.clone(),
        }
    }
}

/// The service [`ServerLayer`] makes.
#[derive(Clone)]
pub struct Server<S> {
    inner: S,
    route: Option<RouteFn>,
}

impl<S> std::fmt::Debug for Server<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, RB> Service<Request<B>> for Server<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    B: Send + 'static,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<RB>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (parts, body) = req.into_parts();
        let route = self.route.as_ref().and_then(|f| f(&parts));
        let method = parts.method.clone();
        let scope = ServerRequest::start(&parts, route.as_deref());
        let fut = self.inner.call(Request::from_parts(parts, body));
        Box::pin(async move {
            let result = scope.run(fut).await;
            let status = result.as_ref().map(|r| r.status().as_u16()).unwrap_or(500);
            scope.finish(&method, route.as_deref(), status);
            result
        })
    }
}

/// What [`ServerLayer`] does for one request, for a server that routes and answers
/// by itself (the edp gateway does): start it from the request's head, run the
/// handling inside it, finish it with the answer's status.
///
/// ```
/// use edp_core::telemetry::http::ServerRequest;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (parts, ()) = http::Request::get("/v1/orders/42").body(()).unwrap().into_parts();
/// let request = ServerRequest::start(&parts, Some("/v1/orders/{id}"));
/// let status = request.run(async { 200 }).await;
/// request.finish(&parts.method, Some("/v1/orders/{id}"), status);
/// # }
/// ```
pub struct ServerRequest {
    span: MaybeSpan,
    meter: ServerMeter,
}

impl std::fmt::Debug for ServerRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerRequest")
            .field("traced", &self.span.is_some())
            .finish_non_exhaustive()
    }
}

impl ServerRequest {
    /// Starts measuring the request (and, while spans are exported, its `server`
    /// span, continuing the caller's `traceparent`). `route` is the route template.
    pub fn start(parts: &http::request::Parts, route: Option<&str>) -> Self {
        Self {
            span: server_span(parts, route),
            meter: ServerMeter::start(&parts.method),
        }
    }

    /// Runs `handling` inside the request's span, when it has one.
    pub fn run<F: Future>(&self, handling: F) -> InSpan<F> {
        InSpan {
            fut: handling,
            span: self.span.clone(),
        }
    }

    /// Records the request's duration and status, and ends its span.
    pub fn finish(self, method: &http::Method, route: Option<&str>, status: u16) {
        #[cfg(feature = "otel")]
        if let Some(cx) = &self.span {
            super::otel::server_status(cx, status);
        }
        self.meter.finish(method, route, status);
    }
}

#[cfg(feature = "otel")]
type MaybeSpan = Option<opentelemetry::Context>;
#[cfg(not(feature = "otel"))]
type MaybeSpan = Option<()>;

fn server_span(parts: &http::request::Parts, route: Option<&str>) -> MaybeSpan {
    #[cfg(feature = "otel")]
    if super::tracing_active() {
        return super::otel::server_span(parts, route);
    }
    let _ = (parts, route);
    None
}

struct ServerMeter {
    #[cfg(feature = "prometheus")]
    started: Option<(std::time::Instant, prometheus::IntGauge)>,
}

/// Label lookups cached per thread: `with_label_values` hashes every label and
/// takes a lock on each call, and a server calls it twice per request.
#[cfg(feature = "prometheus")]
mod label_cache {
    use std::cell::RefCell;

    use prometheus::{Histogram, IntGauge};

    /// Distinct (method, route, status) kept per thread; more are looked up
    /// uncached.
    const MAX: usize = 256;

    /// (status, method, route) and its histogram.
    type Duration = (u16, http::Method, Box<str>, Histogram);

    thread_local! {
        static ACTIVE: RefCell<Vec<(http::Method, IntGauge)>> = const { RefCell::new(Vec::new()) };
        static DURATION: RefCell<Vec<Duration>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn active(
        m: &crate::telemetry::metrics::registry::Metrics,
        method: &http::Method,
    ) -> IntGauge {
        ACTIVE.with(|c| {
            let mut c = c.borrow_mut();
            if let Some((_, g)) = c.iter().find(|(k, _)| k == method) {
                return g.clone();
            }
            let g = m.http_active.with_label_values(&[method.as_str()]);
            if c.len() < MAX {
                c.push((method.clone(), g.clone()));
            }
            g
        })
    }

    pub(super) fn duration(
        m: &crate::telemetry::metrics::registry::Metrics,
        method: &http::Method,
        route: &str,
        status: u16,
    ) -> Histogram {
        DURATION.with(|c| {
            let mut c = c.borrow_mut();
            if let Some((.., h)) = c
                .iter()
                .find(|(s, me, r, _)| *s == status && me == method && &**r == route)
            {
                return h.clone();
            }
            let h =
                m.http_duration
                    .with_label_values(&[method.as_str(), route, &status.to_string()]);
            if c.len() < MAX {
                c.push((status, method.clone(), route.into(), h.clone()));
            }
            h
        })
    }
}

impl ServerMeter {
    fn start(method: &http::Method) -> Self {
        let _ = method;
        Self {
            #[cfg(feature = "prometheus")]
            started: super::metrics::registry::get().map(|m| {
                let active = label_cache::active(m, method);
                active.inc();
                (std::time::Instant::now(), active)
            }),
        }
    }

    fn finish(self, method: &http::Method, route: Option<&str>, status: u16) {
        #[cfg(feature = "prometheus")]
        if let (Some((started, active)), Some(m)) = (self.started, super::metrics::registry::get())
        {
            active.dec();
            label_cache::duration(m, method, route.unwrap_or(""), status)
                .observe(started.elapsed().as_secs_f64());
        }
        let _ = (method, route, status);
    }
}

/// Sends the current trace context (`traceparent`, `tracestate`) on each request of
/// the client it wraps, from a `client` span when the trace is sampled.
///
/// ```
/// use edp_core::telemetry::http::ClientLayer;
/// use tower::ServiceBuilder;
///
/// let client = ServiceBuilder::new()
///     .layer(ClientLayer::new())
///     .service_fn(|req: http::Request<String>| async move {
///         Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
///     });
/// # let _ = client;
/// ```
#[derive(Debug, Clone, Default)]
pub struct ClientLayer {
    _priv: (),
}

impl ClientLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = Client<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Client { inner }
    }
}

/// The service [`ClientLayer`] makes.
#[derive(Debug, Clone)]
pub struct Client<S> {
    inner: S,
}

impl<S, B, RB> Service<Request<B>> for Client<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<RB>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let mut req = req;
        let call = ClientCall::start(&mut req);
        let fut = self.inner.call(req);
        match call.span {
            #[cfg(feature = "otel")]
            Some(cx) => {
                use opentelemetry::context::FutureExt;
                Box::pin(fut.with_context(cx))
            }
            _ => Box::pin(fut),
        }
    }
}

/// What [`ClientLayer`] does for one request, for a client call made by hand: puts
/// the current trace context on the request, and runs the call in a `client` span
/// when the trace is sampled.
///
/// ```
/// use edp_core::telemetry::http::ClientCall;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mut req = http::Request::get("http://127.0.0.1:8081/v1/orders").body(()).unwrap();
/// let call = ClientCall::start(&mut req);
/// let status = call.run(async { 200 }).await; // send `req` here
/// # let _ = status;
/// # }
/// ```
pub struct ClientCall {
    span: MaybeSpan,
}

impl std::fmt::Debug for ClientCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCall")
            .field("traced", &self.span.is_some())
            .finish()
    }
}

impl ClientCall {
    /// Sets `traceparent` (and `tracestate`) on `req` from the current trace, while
    /// spans are exported; does nothing otherwise.
    pub fn start<B>(req: &mut Request<B>) -> Self {
        #[cfg(feature = "otel")]
        if super::tracing_active() {
            let (span, send) =
                super::otel::client_span(req.method().as_str(), &req.uri().to_string());
            inject(req, send);
            return Self { span };
        }
        let _ = req;
        Self { span: None }
    }

    /// Runs the call inside its `client` span, when it has one.
    pub fn run<F: Future>(&self, call: F) -> InSpan<F> {
        InSpan {
            fut: call,
            span: self.span.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// A future polled inside a span, when there is one: what
    /// [`ServerRequest::run`] and [`ClientCall::run`] return. A concrete type, not an
    /// `async fn`, so that it adds nothing to the size of the future it wraps.
    pub struct InSpan<F> {
        #[pin]
        fut: F,
        span: MaybeSpan,
    }
}

impl<F> std::fmt::Debug for InSpan<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InSpan")
            .field("traced", &self.span.is_some())
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for InSpan<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        #[cfg(feature = "otel")]
        if let Some(span) = this.span.as_ref() {
            let _current = span.clone().attach();
            return this.fut.poll(cx);
        }
        this.fut.poll(cx)
    }
}

#[cfg(feature = "otel")]
fn inject<B>(req: &mut Request<B>, cx: Option<(super::TraceParent, Option<String>)>) {
    let Some((tp, state)) = cx else { return };
    if let Ok(v) = http::HeaderValue::from_str(&tp.to_string()) {
        req.headers_mut().insert("traceparent", v);
    }
    if let Some(v) = state.and_then(|s| http::HeaderValue::from_str(&s).ok()) {
        req.headers_mut().insert("tracestate", v);
    }
}
