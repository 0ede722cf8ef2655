//! The gateway's upstream connections: one per client connection, reused, and
//! replaced when the upstream closes it.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::ConnectInfo;
use edp_gateway::{Gateway, Route, Upstream};
use http::Request;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An upstream that answers each request with the port its caller connected from.
async fn port_echo() -> SocketAddr {
    let app =
        axum::Router::new().fallback(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
            peer.port().to_string()
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    addr
}

/// One keep-alive client connection to `addr`.
async fn client(
    addr: SocketAddr,
) -> hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}

async fn call(
    sender: &mut hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>,
    method: http::Method,
    body: &'static str,
) -> (http::StatusCode, String) {
    sender.ready().await.unwrap();
    let req = Request::builder()
        .method(method)
        .uri("/x")
        .header("host", "gateway.test")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(
            body.as_bytes(),
        )))
        .unwrap();
    let res = sender.send_request(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn a_client_connection_keeps_one_upstream_connection_and_leaves_it_to_the_next() {
    let upstream = port_echo().await;
    let gateway = Gateway::builder()
        .route(Route::new(
            "/",
            Upstream::new("echo", [format!("http://{upstream}")]).unwrap(),
        ))
        .build();
    let addr = crate::serve(gateway).await;

    let mut first = client(addr).await;
    let mut ports = BTreeSet::new();
    for _ in 0..20 {
        let (status, port) = call(&mut first, http::Method::GET, "").await;
        assert_eq!(status, 200);
        ports.insert(port);
    }
    assert_eq!(
        ports.len(),
        1,
        "20 requests on one client connection used {ports:?}"
    );

    // The client goes away; its upstream connection waits for the next client.
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut second = client(addr).await;
    for _ in 0..5 {
        let (status, port) = call(&mut second, http::Method::GET, "").await;
        assert_eq!(status, 200);
        ports.insert(port);
    }
    assert_eq!(
        ports.len(),
        1,
        "the next client connection opened another: {ports:?}"
    );

    // Two clients at once need two upstream connections.
    let (a, b) = tokio::join!(
        async {
            let mut c = client(addr).await;
            call(&mut c, http::Method::GET, "").await
        },
        async {
            let mut c = client(addr).await;
            call(&mut c, http::Method::GET, "").await
        }
    );
    assert_eq!((a.0, b.0), (http::StatusCode::OK, http::StatusCode::OK));
}

/// An upstream that answers one request per connection and then closes it, without
/// saying so (no `Connection: close`): what an upstream's idle timeout looks like.
async fn one_shot_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // The head, then as many body bytes as Content-Length says.
                let body_start = loop {
                    let n = stream.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..body_start]).to_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap_or(0));
                while buf.len() < body_start + len {
                    let n = stream.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
                // Closed here, silently.
            });
        }
    });
    (addr, connections)
}

#[tokio::test]
async fn upstream_connections_the_upstream_closed_are_replaced_without_failing_requests() {
    let (upstream, connections) = one_shot_upstream().await;
    let gateway = Gateway::builder()
        .route(Route::new(
            "/",
            Upstream::new("one-shot", [format!("http://{upstream}")]).unwrap(),
        ))
        .build();
    let addr = crate::serve(gateway).await;
    let mut c = client(addr).await;
    for i in 0..30 {
        let method = if i % 3 == 0 {
            http::Method::POST
        } else {
            http::Method::GET
        };
        let body = if method == http::Method::POST {
            "{\"n\":1}"
        } else {
            ""
        };
        let (status, text) = call(&mut c, method.clone(), body).await;
        assert_eq!(
            (status, text.as_str()),
            (http::StatusCode::OK, "ok"),
            "request {i} ({method})"
        );
    }
    assert_eq!(connections.load(Ordering::SeqCst), 30);
}

/// Reads from `stream` until the peer closes it or `limit` passes; whether it closed.
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn idle_and_slow_clients_are_cut_off_and_a_request_in_flight_is_finished() {
    let upstream = crate::TestUpstream::start().await;
    let gateway = Gateway::builder()
        .route(Route::new(
            "/",
            Upstream::new("echo", [upstream.url()]).unwrap(),
        ))
        .client_idle_timeout(Duration::from_millis(300))
        .build();
    let addr = crate::serve(gateway).await;

    // Slowloris: a head that never ends, a byte every 100 ms.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /echo HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let trickle = async {
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if slow.write_all(b"x").await.is_err() {
                return true;
            }
        }
        false
    };
    assert!(
        trickle.await,
        "a head trickled for 3 s was not cut off (idle timeout 300 ms)"
    );

    // An idle keep-alive connection, after one request.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /echo HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(closed_within(&mut idle, Duration::from_secs(3)).await);

    // A request that takes longer than the idle timeout is answered in full.
    let res = crate::get_path(addr, "/slow").await;
    assert_eq!(res.status(), 200);
    assert_eq!(&res.body()[..], b"late");
}
