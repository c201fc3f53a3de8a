//! CAMARA's error body `{status, code, message}` (Commonalities) and the codes this crate
//! answers with. Every error of both routers, axum's own rejections included, is one of
//! these.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// CAMARA's error body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorInfo {
    /// The HTTP status code, repeated.
    pub status: u16,
    /// A CAMARA error code, e.g. `INVALID_ARGUMENT`.
    pub code: String,
    /// What is wrong; names the offending field where there is one.
    pub message: String,
}

/// An API error: a status, a CAMARA code and a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `INVALID_ARGUMENT`: malformed JSON, a missing or invalid field.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
    }

    /// 400 `OUT_OF_RANGE`: a value outside its allowed range.
    pub fn out_of_range(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "OUT_OF_RANGE", message)
    }

    /// 401 `UNAUTHENTICATED`.
    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message)
    }

    /// 403 `PERMISSION_DENIED`.
    pub fn denied(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "PERMISSION_DENIED", message)
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// 413 `PAYLOAD_TOO_LARGE` (Commonalities defines no code for 413; this one is
    /// landfall's, in CAMARA's style).
    pub fn too_large() -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            "the request body is larger than this endpoint accepts",
        )
    }

    /// 500 `INTERNAL` (the cause is logged, never sent).
    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error",
        )
    }

    pub fn body(&self) -> ErrorInfo {
        ErrorInfo {
            status: self.status.as_u16(),
            code: self.code.to_string(),
            message: self.message.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(self.body())).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        match e {
            crate::store::StoreError::NotFound(what) => ApiError::not_found(what),
            crate::store::StoreError::Invalid(what) => ApiError::invalid(what),
            crate::store::StoreError::Quota(what) => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "QUOTA_EXCEEDED", what)
            }
            other => {
                tracing::error!(error = %other, "partner store");
                ApiError::internal()
            }
        }
    }
}
