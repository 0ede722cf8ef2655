//! One small HTTP/1.1 call at a time, for the gateway's own control traffic (JWKS,
//! registry, config server): a fresh connection, 5 s timeouts, the body as bytes.

use std::time::Duration;

use http_body_util::BodyExt;

const TIMEOUT: Duration = Duration::from_secs(5);

/// `method path` on the server at `base`; the body of a 2xx answer, else why not.
pub(crate) async fn call(
    base: &http::Uri,
    method: http::Method,
    path: &str,
    json_body: Option<String>,
) -> Result<bytes::Bytes, String> {
    let host = base.host().ok_or_else(|| format!("`{base}` has no host"))?;
    let port = base.port_u16().unwrap_or(80);
    let stream = tokio::time::timeout(TIMEOUT, tokio::net::TcpStream::connect((host, port)))
        .await
        .map_err(|_| format!("{base} did not answer within 5 s"))?
        .map_err(|e| format!("cannot reach {base}: {e}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, host);
    if json_body.is_some() {
        req = req.header(http::header::CONTENT_TYPE, "application/json");
    }
    let req = req
        .body(http_body_util::Full::new(bytes::Bytes::from(
            json_body.unwrap_or_default(),
        )))
        .map_err(|e| e.to_string())?;
    let res = tokio::time::timeout(TIMEOUT, sender.send_request(req))
        .await
        .map_err(|_| format!("{base} did not answer within 5 s"))?
        .map_err(|e| e.to_string())?;
    let status = res.status();
    let body = tokio::time::timeout(TIMEOUT, res.into_body().collect())
        .await
        .map_err(|_| format!("{base} did not finish its answer within 5 s"))?
        .map_err(|e| e.to_string())?
        .to_bytes();
    if !status.is_success() {
        return Err(format!(
            "{base}{path} answered {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    Ok(body)
}
