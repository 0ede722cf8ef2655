//! A small HTTP/1.1 client on hyper's connection API, for the demo and the tests.
//!
//! One keep-alive connection, one request at a time; it reconnects when the server
//! closed the connection.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{self, HeaderMap};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;

/// A request could not be made, or its answer not read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No TCP connection to the server.
    #[error("cannot connect to {addr}; is the server running?")]
    Connect {
        /// The server.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// HTTP failed on an open connection.
    #[error("HTTP request to {addr} failed")]
    Http {
        /// The server.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: hyper::Error,
    },
    /// The request could not be built (a bad path).
    #[error("invalid request for `{path}`")]
    Request {
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: hyper::http::Error,
    },
    /// A request body could not be encoded as JSON.
    #[error("cannot encode the request body as JSON")]
    Encode(#[source] serde_json::Error),
    /// A body was not the JSON expected.
    #[error("unexpected JSON from the server (status {status}): {body}")]
    Json {
        /// The response status.
        status: StatusCode,
        /// The body, lossily as text.
        body: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// An HTTP/1.1 client of one server.
///
/// ```no_run
/// # async fn f(addr: std::net::SocketAddr) -> Result<(), ecommerce::client::ClientError> {
/// use ecommerce::client::HttpClient;
///
/// let mut client = HttpClient::connect(addr).await?;
/// let response = client.get("/v1/orders").await?;
/// assert_eq!(response.status, 200);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct HttpClient {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
}

/// An answer, read whole.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Response {
    /// The `Content-Type`, if it is text.
    pub fn content_type(&self) -> Option<&str> {
        self.header(header::CONTENT_TYPE.as_str())
    }

    /// A header's value, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        serde_json::from_slice(&self.body).map_err(|source| ClientError::Json {
            status: self.status,
            body: self.text(),
            source,
        })
    }
}

impl HttpClient {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> Result<Self, ClientError> {
        let sender = handshake(addr).await?;
        Ok(Self { addr, sender })
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> Result<Response, ClientError> {
        self.send(Method::GET, path, None, Bytes::new()).await
    }

    /// `POST path` with `body` as JSON.
    pub async fn post_json<T: Serialize>(
        &mut self,
        path: &str,
        body: &T,
    ) -> Result<Response, ClientError> {
        let body = serde_json::to_vec(body).map_err(ClientError::Encode)?;
        self.send(Method::POST, path, Some("application/json"), body.into())
            .await
    }

    /// `POST path` with `body` as JSON and extra `headers`.
    pub async fn post_json_with<T: Serialize>(
        &mut self,
        path: &str,
        body: &T,
        headers: &[(&str, &str)],
    ) -> Result<Response, ClientError> {
        let body = serde_json::to_vec(body).map_err(ClientError::Encode)?;
        self.send_with(
            Method::POST,
            path,
            Some("application/json"),
            headers,
            body.into(),
        )
        .await
    }

    /// Sends any request: `content_type` (if any) and `body` exactly as given.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<Response, ClientError> {
        self.send_with(method, path, content_type, &[], body).await
    }

    /// Sends any request with extra `headers`.
    pub async fn send_with(
        &mut self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Response, ClientError> {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.addr.to_string());
        if let Some(ct) = content_type {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder
            .body(Full::new(body))
            .map_err(|source| ClientError::Request {
                path: path.to_owned(),
                source,
            })?;
        if self.sender.ready().await.is_err() {
            // The server closed the keep-alive connection: open another.
            self.sender = handshake(self.addr).await?;
        }
        let addr = self.addr;
        let http = |source| ClientError::Http { addr, source };
        let response = self.sender.send_request(request).await.map_err(http)?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(http)?.to_bytes();
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

async fn handshake(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, ClientError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|source| ClientError::Connect { addr, source })?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|source| ClientError::Http { addr, source })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "client connection closed");
        }
    });
    Ok(sender)
}
