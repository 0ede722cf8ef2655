//! Just enough HTTP/1.1 for the registry's REST API, on hyper (already in the tree):
//! one connection per request, since requests are rare (results are cached).

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::error::RegistryClientError;

/// Where the registry is: `http://host:port/prefix`.
#[derive(Debug, Clone)]
pub(super) struct Endpoint {
    /// As given, for messages.
    pub(super) url: String,
    authority: String,
    prefix: String,
    timeout: Duration,
}

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

impl Endpoint {
    pub(super) fn parse(url: &str, timeout: Duration) -> Result<Self, RegistryClientError> {
        let invalid = |reason: &str| RegistryClientError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            invalid("only http:// is supported; reach an https registry through a local TLS proxy")
        })?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(invalid("expected http://host:port, without credentials"));
        }
        let authority = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.contains(']'))
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            authority,
            prefix: prefix.to_owned(),
            timeout,
        })
    }

    /// Sends one request; returns the status and body.
    pub(super) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), RegistryClientError> {
        let unreachable =
            |source: Box<dyn std::error::Error + Send + Sync>| RegistryClientError::Unreachable {
                url: self.url.clone(),
                source,
            };
        let exchange = async {
            let stream = TcpStream::connect(&self.authority).await?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            let conn = tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "schema registry connection ended");
                }
            });
            let mut req = Request::builder()
                .method(method)
                .uri(format!("{}{path}", self.prefix))
                .header(header::HOST, &self.authority)
                .header(header::ACCEPT, CONTENT_TYPE);
            if body.is_some() {
                req = req.header(header::CONTENT_TYPE, CONTENT_TYPE);
            }
            let req = req.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
            let res = sender.send_request(req).await?;
            let status = res.status();
            // A registry answer is a schema or an id: bound it, so that a broken
            // server cannot fill memory.
            let bytes = http_body_util::Limited::new(res.into_body(), MAX_ANSWER)
                .collect()
                .await?
                .to_bytes();
            conn.abort();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((status, bytes))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result.map_err(unreachable),
            Err(_) => Err(unreachable(
                format!("no answer within {:?}", self.timeout).into(),
            )),
        }
    }
}

/// The largest registry answer read (8 MiB: far above any real schema).
const MAX_ANSWER: usize = 8 << 20;

/// Percent-encodes a path segment (subject names may hold any character).
pub(super) fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_authority_and_prefix() {
        let t = Duration::from_secs(1);
        let e = Endpoint::parse("http://127.0.0.1:8081/", t).unwrap();
        assert_eq!(
            (e.authority.as_str(), e.prefix.as_str()),
            ("127.0.0.1:8081", "")
        );
        let e = Endpoint::parse("http://registry/api/v1", t).unwrap();
        assert_eq!(
            (e.authority.as_str(), e.prefix.as_str()),
            ("registry:80", "/api/v1")
        );
        assert!(Endpoint::parse("https://registry", t).is_err());
        assert!(Endpoint::parse("http://user:pw@registry", t).is_err());
    }

    #[test]
    fn subjects_are_percent_encoded() {
        assert_eq!(segment("orders-value"), "orders-value");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
}
