//! Errors as Confluent's clients expect them: `{"error_code": 40401, "message": "..."}`.
//!
//! Not the problem+json of our other APIs (STYLE.md, section 4): Confluent's clients read
//! `error_code` and would not understand anything else.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::registry::RegistryError;

/// The content type of every answer.
pub(super) const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// An answer with a JSON body and Confluent's content type.
pub(super) fn reply<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut response = (status, bytes).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a response");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Why a request failed.
#[derive(Debug)]
pub(super) enum ApiError {
    Registry(RegistryError),
    /// 400: the body is not JSON.
    Malformed(String),
    /// 422: JSON, but not what the endpoint takes.
    Unprocessable(String),
    /// 415.
    UnsupportedMediaType(String),
    /// 404: no such endpoint.
    NoRoute(String),
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        Self::Registry(e)
    }
}

#[derive(Serialize)]
struct Body {
    error_code: u32,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error_code, message) = match self {
            Self::Registry(e) => (
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
                e.error_code(),
                e.to_string(),
            ),
            Self::Malformed(m) => (StatusCode::BAD_REQUEST, 400, m),
            Self::Unprocessable(m) => (StatusCode::UNPROCESSABLE_ENTITY, 422, m),
            Self::UnsupportedMediaType(m) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, 415, m),
            Self::NoRoute(m) => (StatusCode::NOT_FOUND, 404, m),
        };
        tracing::debug!(%status, error_code, %message, "request refused");
        reply(
            status,
            &Body {
                error_code,
                message,
            },
        )
    }
}
