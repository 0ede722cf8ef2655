//! Serving a gateway: the accept loop, one task per client connection, and the
//! per-core workers.
//!
//! Each client connection is served by hyper directly (HTTP/1.1 with keep-alive)
//! with its own [`Links`] to the upstreams, so a request takes no lock of a shared
//! pool and spawns no task. [`Gateway::router`] serves the same proxy inside an axum
//! app instead, through a pooled client.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::body::GatewayBody;
use crate::links::Links;
use crate::proxy::{Gateway, handle};

/// Serves `gateway` on `listener` until the process stops.
///
/// ```no_run
/// use edp_gateway::{Gateway, Route, Upstream};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let gateway = Gateway::builder()
///     .route(Route::new("/api/v1/orders", Upstream::new("order", ["http://127.0.0.1:8081"])?))
///     .build();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// edp_gateway::serve(listener, gateway).await?;
/// # Ok(()) }
/// ```
pub async fn serve(listener: TcpListener, gateway: Gateway) -> std::io::Result<()> {
    serve_until(listener, gateway, std::future::pending()).await
}

/// Serves `gateway` on `listener` until `shutdown` completes, then finishes the
/// requests in flight.
pub async fn serve_until(
    listener: TcpListener,
    gateway: Gateway,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Connections hold a receiver each; `closed` tells when the last one is done.
    let (stop_tx, stop_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors and the like: wait, as axum does.
                tracing::error!(error = %e, "cannot accept connections; trying again in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let conn = Connection::new(gateway.clone(), peer);
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let io = TokioIo::new(stream);
            let builder = hyper::server::conn::http1::Builder::new();
            let watch = Watch {
                started: conn.0.clone(),
                idle: conn.0.gateway.client_idle_timeout(),
            };
            let served = match &gateway_cors(&conn) {
                Some(cors) => {
                    let svc = hyper_util::service::TowerToHyperService::new(tower::Layer::layer(
                        cors, conn,
                    ));
                    drive(builder.serve_connection(io, svc), &mut stop, watch).await
                }
                None => drive(builder.serve_connection(io, conn), &mut stop, watch).await,
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, "client connection ended");
            }
            drop(stop);
        });
    }
    drop(listener);
    drop(stop_rx);
    stop_tx.send_replace(());
    stop_tx.closed().await;
    Ok(())
}

fn gateway_cors(conn: &Connection) -> Option<tower_http::cors::CorsLayer> {
    conn.0.gateway.cors().cloned()
}

/// What closes an idle client connection: the connection's count of requests
/// started, and how long it may stay the same.
struct Watch {
    started: Arc<ConnectionState>,
    idle: Duration,
}

/// Runs one connection until it ends; until shutdown (then it finishes the request
/// in flight and closes); or until it starts no request for the idle timeout with
/// none in flight: an idle keep-alive connection is closed, and a client still
/// sending a request head (slowloris) is cut off a second later.
///
/// The idle check is one timer per connection, set again only when it fires: a
/// timer per request (hyper's header read timeout, which allocates one) measured 9%
/// of the throughput.
async fn drive<S>(
    conn: hyper::server::conn::http1::Connection<TokioIo<tokio::net::TcpStream>, S>,
    stop: &mut watch::Receiver<()>,
    watch: Watch,
) -> hyper::Result<()>
where
    S: hyper::service::HttpService<Incoming>,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut conn = std::pin::pin!(conn);
    let mut seen = watch.started.requests();
    let mut idle = std::pin::pin!(tokio::time::sleep(watch.idle));
    loop {
        tokio::select! {
            served = conn.as_mut() => return served,
            _ = stop.changed() => break,
            () = idle.as_mut() => {
                let now = watch.started.requests();
                if now == seen && watch.started.in_flight() == 0 {
                    tracing::debug!(client = %watch.started.peer, "closing an idle client connection");
                    conn.as_mut().graceful_shutdown();
                    // Idle: closed at once. A head still coming: cut off.
                    let grace = watch.idle.min(Duration::from_secs(1));
                    return match tokio::time::timeout(grace, conn.as_mut()).await {
                        Ok(served) => served,
                        Err(_) => Ok(()),
                    };
                }
                seen = now;
                idle.as_mut().reset(tokio::time::Instant::now() + watch.idle);
            }
        }
    }
    conn.as_mut().graceful_shutdown();
    conn.await
}

/// Errors of one connection that the listener shrugs off.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// One client connection: the gateway, the client's address, its upstream
/// connections.
#[derive(Clone)]
struct Connection(Arc<ConnectionState>);

struct ConnectionState {
    gateway: Gateway,
    peer: SocketAddr,
    links: Links,
    /// Requests started on it.
    started: AtomicU64,
    /// Answers whose body is written (or dropped).
    done: AtomicU64,
}

impl ConnectionState {
    fn requests(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    fn in_flight(&self) -> u64 {
        self.requests()
            .saturating_sub(self.done.load(Ordering::Relaxed))
    }
}

impl Connection {
    fn new(gateway: Gateway, peer: SocketAddr) -> Self {
        let links = Links::new(gateway.upstream_idle_timeout());
        Self(Arc::new(ConnectionState {
            gateway,
            peer,
            links,
            started: AtomicU64::new(0),
            done: AtomicU64::new(0),
        }))
    }

    async fn answer(self, req: Request<Incoming>) -> Response<Tracked> {
        let state = &*self.0;
        state.started.fetch_add(1, Ordering::Relaxed);
        let (parts, body) = req.into_parts();
        let route = state.gateway.route_label(parts.uri.path());
        let method = parts.method.clone();
        let scope = edp_core::telemetry::http::ServerRequest::start(&parts, route);
        let res = scope
            .run(handle(
                &state.gateway,
                Some(state.peer),
                Request::from_parts(parts, body),
                &state.links,
            ))
            .await;
        scope.finish(&method, route, res.status().as_u16());
        let done = self.0.clone();
        res.map(|body| Tracked {
            body,
            done: Some(done),
        })
    }
}

/// An answer's body that counts itself done on its connection when dropped (hyper
/// drops it once written, or when the client goes away).
#[derive(Default)]
struct Tracked {
    body: GatewayBody,
    done: Option<Arc<ConnectionState>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(conn) = self.done.take() {
            conn.done.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl hyper::body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = edp_core::error::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<Tracked>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for Connection {
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let me = self.clone();
        Box::pin(async move { Ok(me.answer(req).await) })
    }
}

impl tower::Service<Request<Incoming>> for Connection {
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        hyper::service::Service::call(&*self, req)
    }
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
    shutdown: impl Future<Output = ()> + Send + 'static,
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
                        serve_until(listener, gateway, stop.cancelled_owned()).await
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
