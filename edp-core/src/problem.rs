//! RFC 9457 problem details: the one body of every HTTP error response, shared by the
//! services, the App and the gateway.
//!
//! Each error has one HTTP status and a JSON body served as `application/problem+json`:
//!
//! ```json
//! {
//!   "type": "https://example.invalid/edp/problems/invalid-request",
//!   "title": "Invalid request",
//!   "status": 422,
//!   "detail": "items[1].quantity must be at least 1",
//!   "errors": [{ "pointer": "#/items/1/quantity", "detail": "must be at least 1" }]
//! }
//! ```
//!
//! `detail` says what is wrong with this request, precisely enough to fix it; internal
//! errors are logged, never returned. The `type` URIs of the constructors below name
//! edp's kinds of problem; use [`Problem::new`] with URIs of your own for yours.

use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// The media type of problem details.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// A problem details object (RFC 9457).
///
/// ```
/// use edp_core::problem::Problem;
///
/// let problem = Problem::not_found("order `o-1` does not exist");
/// assert_eq!(problem.status, 404);
/// assert_eq!(problem.type_uri, Problem::NOT_FOUND);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// A URI naming the kind of problem; one of the constants of this type, or
    /// `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// A short summary of the kind of problem, the same for every occurrence.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// The resource the problem is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// One entry per invalid field (for `invalid-request`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One invalid field of a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// A JSON pointer (RFC 6901) to the field, as a URI fragment: `#/items/1/quantity`.
    pub pointer: String,
    /// What is wrong with it: `must be at least 1`.
    pub detail: String,
}

impl Problem {
    /// 400: the body is not JSON, or not declared as JSON.
    pub const MALFORMED_REQUEST: &'static str =
        "https://example.invalid/edp/problems/malformed-request";
    /// 422: the body is JSON but breaks the API's rules.
    pub const INVALID_REQUEST: &'static str =
        "https://example.invalid/edp/problems/invalid-request";
    /// 404: the resource does not exist.
    pub const NOT_FOUND: &'static str = "https://example.invalid/edp/problems/not-found";
    /// 503: a dependency (the event bus) refused the work; retry later.
    pub const UNAVAILABLE: &'static str = "https://example.invalid/edp/problems/unavailable";

    /// A problem of kind `type_uri`.
    pub fn new(
        status: StatusCode,
        type_uri: impl Into<String>,
        title: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            type_uri: type_uri.into(),
            title: title.into(),
            status: status.as_u16(),
            detail: detail.into(),
            instance: None,
            errors: Vec::new(),
        }
    }

    /// A problem that only its status names (`about:blank`, titled with the reason
    /// phrase).
    pub fn from_status(status: StatusCode, detail: impl Into<String>) -> Self {
        let title = status.canonical_reason().unwrap_or("Error");
        Self::new(status, "about:blank", title, detail)
    }

    /// 400 Malformed request.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            Self::MALFORMED_REQUEST,
            "Malformed request",
            detail,
        )
    }

    /// 422 Invalid request, with one [`FieldError`] per broken rule.
    pub fn invalid(detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        Self {
            errors,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                Self::INVALID_REQUEST,
                "Invalid request",
                detail,
            )
        }
    }

    /// 404 Not found.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, Self::NOT_FOUND, "Not found", detail)
    }

    /// 503 Service unavailable.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Self::UNAVAILABLE,
            "Service unavailable",
            detail,
        )
    }

    /// Names the resource the problem is about.
    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// The status as a [`StatusCode`] (500 if the number is not a valid status).
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.title, self.detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        match serde_json::to_vec(&self) {
            Ok(body) => (
                status,
                [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
                body,
            )
                .into_response(),
            Err(e) => {
                tracing::error!(error = %e, "cannot serialize problem details");
                status.into_response()
            }
        }
    }
}

/// Maps the JSON extractor's rejections: syntax errors and a missing or wrong
/// content type are 400, JSON that does not fit the request type is 422, and the
/// rest keep axum's status (413 for a body over the size limit).
impl From<JsonRejection> for Problem {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonSyntaxError(e) => Self::malformed(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => {
                Self::malformed("expected a request with `Content-Type: application/json`")
            }
            JsonRejection::JsonDataError(e) => Self::invalid(e.body_text(), Vec::new()),
            other => Self::from_status(other.status(), other.body_text()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_members_are_left_out() -> Result<(), serde_json::Error> {
        let json = serde_json::to_value(Problem::not_found("order `x` does not exist"))?;
        assert_eq!(
            json,
            serde_json::json!({
                "type": Problem::NOT_FOUND,
                "title": "Not found",
                "status": 404,
                "detail": "order `x` does not exist",
            })
        );
        Ok(())
    }

    #[test]
    fn responds_with_its_status_and_media_type() {
        let response = Problem::malformed("bad").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE),
            Some(&HeaderValue::from_static(CONTENT_TYPE))
        );
    }
}
