//! A one-request-per-connection HTTP/1.1 client on hyper, for the server tests.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

pub(crate) const CONFLUENT: &str = "application/vnd.schemaregistry.v1+json";

#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) content_type: Option<String>,
    pub(crate) text: String,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {}", self.status, self.text))
    }

    /// Asserts a Confluent error and returns its message.
    #[track_caller]
    pub(crate) fn error(&self, status: u16, code: u64) -> String {
        let json = self.json();
        assert_eq!(
            (self.status.as_u16(), json["error_code"].as_u64()),
            (status, Some(code)),
            "{}",
            self.text
        );
        assert_eq!(self.content_type.as_deref(), Some(CONFLUENT));
        json["message"].as_str().unwrap().to_owned()
    }
}

pub(crate) async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> Answer {
    let stream = TcpStream::connect(addr)
        .await
        .expect("connect to the registry");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP handshake");
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    if let Some(ty) = content_type {
        request = request.header("content-type", ty);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let response = sender
        .send_request(request)
        .await
        .expect("send the request");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        content_type,
        text: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

pub(crate) async fn get(addr: SocketAddr, path: &str) -> Answer {
    send(addr, Method::GET, path, None, "").await
}

/// POSTs `body` as Confluent's content type.
pub(crate) async fn post(addr: SocketAddr, path: &str, body: &Value) -> Answer {
    send(addr, Method::POST, path, Some(CONFLUENT), &body.to_string()).await
}

pub(crate) async fn put(addr: SocketAddr, path: &str, body: &Value) -> Answer {
    send(addr, Method::PUT, path, Some(CONFLUENT), &body.to_string()).await
}

pub(crate) async fn delete(addr: SocketAddr, path: &str) -> Answer {
    send(addr, Method::DELETE, path, None, "").await
}
