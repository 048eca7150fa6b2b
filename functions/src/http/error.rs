//! The one place where failures become the contract's error responses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use shared::api::{ErrorBody, ErrorCode, MAX_JSON_BODY_BYTES};

use crate::store::StoreError;

/// A failure of a request, already classified by the contract's codes.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the resource has changed since it was read (If-Match is stale)")]
    PreconditionFailed,
    #[error("the request body is over the limit of {MAX_JSON_BODY_BYTES} bytes (1 MiB)")]
    TooLarge,
    /// Logged in full; the caller only learns that something failed on our side.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Invalid(_) => ErrorCode::Invalid,
            ApiError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::PreconditionFailed => ErrorCode::PreconditionFailed,
            ApiError::TooLarge => ErrorCode::TooLarge,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// A 400 naming the field at fault.
    pub fn invalid_field(field: &str, problem: impl std::fmt::Display) -> Self {
        ApiError::Invalid(format!("{field}: {problem}"))
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::InvalidCursor => ApiError::invalid_field(
                "cursor",
                "is not a cursor this list issued; pass back next_cursor as is",
            ),
            StoreError::ConditionFailed { .. } => {
                ApiError::Conflict("the resource was changed by another request".into())
            }
            StoreError::Invalid(detail) => ApiError::Internal(format!("store refused: {detail}")),
            StoreError::Unavailable(detail) => ApiError::Internal(format!("store: {detail}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "request failed");
        }
        error_response(self.code(), &self.to_string())
    }
}

pub fn error_response(code: ErrorCode, message: &str) -> Response {
    let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&ErrorBody::new(code, message)).unwrap_or_default();
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // The rest of an oversized body is never read, so the connection cannot carry a
    // next request: tell the client, rather than have its next request cut off.
    if code == ErrorCode::TooLarge {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

pub type ApiResult<T> = Result<T, ApiError>;
