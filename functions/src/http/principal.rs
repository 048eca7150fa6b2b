//! The caller of a user endpoint, from its bearer token.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use shared::authz::Principal;

use super::error::ApiError;
use crate::auth::Authenticator;

/// An authenticated user. Extracting it answers `401` for a missing, malformed,
/// expired or wrongly signed token — and for a sensor's token, which is no JWT.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl<S> FromRequestParts<S> for Caller
where
    Arc<Authenticator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let token = bearer_token(parts)?;
        let authenticator = Arc::<Authenticator>::from_ref(state);
        match authenticator.verify(token).await {
            Ok(principal) => Ok(Caller(principal)),
            Err(refused) => {
                tracing::info!(%refused, "unauthenticated request");
                Err(ApiError::Unauthenticated(
                    "the bearer token is invalid or expired",
                ))
            }
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    bearer_token_in(&parts.headers)
}

/// The token of an `Authorization: Bearer <token>` header, from the headers alone.
pub fn bearer_token_in(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthenticated(
            "an Authorization: Bearer <token> header is required",
        ))?;
    value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or(ApiError::Unauthenticated(
            "the Authorization header must be 'Bearer <token>'",
        ))
}
