//! The caller of a user endpoint, from its bearer token.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use shared::authz::Principal;

use shared::authz::api_token_principal;
use time::{Duration, OffsetDateTime};

use super::error::ApiError;
use super::sensor::token_hash;
use crate::auth::Authenticator;
use crate::keys;
use crate::records::{self, ApiTokenRecord};
use crate::store::{Condition, StoreError, Table};

/// What every API token's secret starts with, so that it is told from a JWT (and from
/// a sensor token, `vst_`) without a lookup, and secret scanners can spot a leaked one.
pub const API_TOKEN_PREFIX: &str = "vat_";

/// How stale an API token's `last_used_at` may get: refreshing it on every request
/// would make each read a write.
const LAST_USED_RESOLUTION: Duration = Duration::minutes(1);

/// An authenticated user, or an API token's service principal. Extracting it answers
/// `401` for a missing, malformed, expired or wrongly signed token, an unknown, revoked
/// or expired API token — and for a sensor's token, which is neither.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl<S> FromRequestParts<S> for Caller
where
    Arc<Authenticator>: FromRef<S>,
    Arc<dyn Table>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let token = bearer_token(parts)?;
        if token.starts_with(API_TOKEN_PREFIX) {
            let table = Arc::<dyn Table>::from_ref(state);
            return api_token_caller(table.as_ref(), token, OffsetDateTime::now_utc())
                .await
                .map(Caller);
        }
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

/// The service principal of API token `secret`, found by the secret's hash. Records
/// when it was used, at most once a [`LAST_USED_RESOLUTION`]; losing that write (to a
/// concurrent request, or the table) never fails the request.
async fn api_token_caller(
    table: &dyn Table,
    secret: &str,
    now: OffsetDateTime,
) -> Result<Principal, ApiError> {
    let key = keys::api_token(&token_hash(secret));
    let item = table.get(&key).await?.ok_or(ApiError::Unauthenticated(
        "the API token is unknown or revoked",
    ))?;
    let mut record: ApiTokenRecord = records::decode(&item)?;
    if record.token.is_expired(now) {
        return Err(ApiError::Unauthenticated("the API token has expired"));
    }
    let principal = Principal {
        email: api_token_principal(&record.token.id),
        groups: Default::default(),
    };
    let stale = record
        .token
        .last_used_at
        .is_none_or(|used| now - used >= LAST_USED_RESOLUTION);
    if stale {
        record.token.last_used_at = Some(now.replace_nanosecond(0).unwrap_or(now));
        let touched = records::item(key, &record)?;
        match table.put(touched, Condition::VersionIs(item.version)).await {
            Ok(_) | Err(StoreError::ConditionFailed { .. }) => {}
            Err(e) => tracing::warn!(error = %e, "could not record an API token's use"),
        }
    }
    Ok(principal)
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
