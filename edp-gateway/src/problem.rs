//! `application/problem+json` answers (RFC 9457).

use axum::body::Body;
use http::{HeaderValue, Response, StatusCode, header};

/// An answer of `status` with a problem document: `title` is the status's reason,
/// `detail` says what exactly is wrong.
pub(crate) fn problem(status: StatusCode, detail: &str) -> Response<Body> {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut res = Response::new(Body::from(body.to_string()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    res
}
