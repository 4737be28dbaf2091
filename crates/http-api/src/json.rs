//! A JSON body extractor whose rejections are RFC 9457 problems like every other error.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// `axum::Json`, with rejections as [`ApiError`].
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => {
                let status = rejection.status();
                let code = match status {
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
                    StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
                    _ => "invalid_body",
                };
                Err(ApiError::new(status, code, rejection.body_text()))
            }
        }
    }
}
