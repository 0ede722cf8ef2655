//! edp-gateway against real upstream servers on loopback: one binary, a module per
//! area.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod binary;
mod cli;
mod config;
mod connections;
mod jwt;
mod limit;
mod proxy;
mod registry;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::routing::{any, get};
use edp_gateway::Gateway;
use http::{Request, Response};
use http_body_util::BodyExt;

/// An upstream on a loopback port: `/echo/**` answers with what it received (method,
/// path and query, headers, body length) as JSON; `/slow` answers after 2 s; `/fail`
/// answers 500; `POST /v1/orders` answers 201 with `Location: /v1/orders/42`. It counts the requests it got.
pub(crate) struct TestUpstream {
    pub(crate) addr: SocketAddr,
    pub(crate) hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl TestUpstream {
    pub(crate) async fn start() -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let app = axum::Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    "late"
                }),
            )
            .route(
                "/fail",
                any(|| async { (http::StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
            )
            .route(
                "/v1/orders",
                axum::routing::post(|| async {
                    (
                        http::StatusCode::CREATED,
                        [("location", "/v1/orders/42")],
                        "{}",
                    )
                }),
            )
            .fallback(any(|req: Request<Body>| async move {
                let (parts, body) = req.into_parts();
                let len = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes().len())
                    .unwrap_or(0);
                let headers: serde_json::Map<String, serde_json::Value> = parts
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").into()))
                    .collect();
                axum::Json(serde_json::json!({
                    "method": parts.method.as_str(),
                    "path": parts.uri.path_and_query().map(|p| p.as_str()),
                    "headers": headers,
                    "body_len": len,
                }))
            }))
            .layer(axum::middleware::from_fn(
                move |req: Request<Body>, next: axum::middleware::Next| {
                    h.fetch_add(1, Ordering::SeqCst);
                    async move { next.run(req).await }
                },
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, hits, task }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Stops it: its port refuses connections from now on.
    pub(crate) fn kill(&self) {
        self.task.abort();
    }
}

/// Serves `gateway` on a loopback port; returns its address.
pub(crate) async fn serve(gateway: Gateway) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(edp_gateway::serve(listener, gateway));
    addr
}

/// A raw HTTP/1.1 exchange over a new connection: the answer's status, headers and
/// body.
pub(crate) async fn send(addr: SocketAddr, req: Request<Body>) -> Response<bytes::Bytes> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let res = sender.send_request(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Response::from_parts(parts, body)
}

/// `GET path` through the gateway at `addr`.
pub(crate) async fn get_path(addr: SocketAddr, path: &str) -> Response<bytes::Bytes> {
    send(
        addr,
        Request::get(path)
            .header("host", "gateway.test")
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

/// The body as JSON.
pub(crate) fn json(res: &Response<bytes::Bytes>) -> serde_json::Value {
    serde_json::from_slice(res.body())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(res.body())))
}
