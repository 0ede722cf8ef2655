//! A JSON body extractor whose rejections are problem details.

use axum::extract::{FromRequest, Request};
use axum::http::header;

use crate::problem::Problem;

/// Like [`axum::Json`], but a rejection is a [`Problem`] (400 or 422) whose detail
/// names what is wrong, including the content type that was sent.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Json<T>(pub(crate) T);

impl<T, S> FromRequest<S> for Json<T>
where
    axum::Json<T>: FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let sent = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(axum::extract::rejection::JsonRejection::MissingJsonContentType(_)) => {
                Err(Problem::malformed(match sent {
                    Some(ct) => format!(
                        "expected `Content-Type: application/json`, got `{ct}`; send the body as JSON"
                    ),
                    None => "expected `Content-Type: application/json`, but the request has no content type; send the body as JSON".to_owned(),
                }))
            }
            Err(rejection) => Err(Problem::from(rejection)),
        }
    }
}
