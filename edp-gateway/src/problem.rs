//! `application/problem+json` answers (RFC 9457), with edp's one problem type.

use axum::body::Body;
use axum::response::IntoResponse;
use http::{Response, StatusCode};

/// An answer of `status` with a problem document: `title` is the status's reason,
/// `detail` says what exactly is wrong.
pub(crate) fn problem(status: StatusCode, detail: &str) -> Response<Body> {
    edp_core::problem::Problem::from_status(status, detail).into_response()
}
