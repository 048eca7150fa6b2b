//! Query strings and `If-Match`, read without refusing: a handler checks them after
//! authorization, so the order of the contract's checks holds.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{ApiError, ApiResult};
use super::json::json;

/// A query string parsed into `T`, or the `400` to answer once authorized.
#[derive(Debug)]
pub struct Params<T>(Result<T, ApiError>);

impl<T> Params<T> {
    pub fn get(self) -> ApiResult<T> {
        self.0
    }
}

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Params(
            Query::<T>::try_from_uri(&parts.uri)
                .map(|Query(value)| value)
                .map_err(|rejection| ApiError::Invalid(rejection.body_text())),
        ))
    }
}

/// The version a client last read, from `If-Match`; absent means "whatever it is now".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMatch {
    Any,
    Version(u64),
    /// Present but not an ETag we issue: it can never match (`412`).
    Unmatchable,
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::IF_MATCH) else {
            return Ok(IfMatch::Any);
        };
        let value = value.to_str().unwrap_or_default().trim();
        if value == "*" {
            return Ok(IfMatch::Any);
        }
        Ok(value
            .strip_prefix("\"v")
            .and_then(|rest| rest.strip_suffix('"'))
            .and_then(|digits| digits.parse().ok())
            .map_or(IfMatch::Unmatchable, IfMatch::Version))
    }
}

impl IfMatch {
    /// `412` unless the stored `version` is the one the client read.
    pub fn check(self, version: u64) -> ApiResult<()> {
        match self {
            IfMatch::Any => Ok(()),
            IfMatch::Version(expected) if expected == version => Ok(()),
            IfMatch::Version(_) | IfMatch::Unmatchable => Err(ApiError::PreconditionFailed),
        }
    }
}

/// The strong ETag of a stored version.
pub fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"v{version}\"")).expect("digits are a valid header")
}

/// A single resource with its ETag.
pub fn json_with_etag<T: Serialize>(status: StatusCode, value: &T, version: u64) -> Response {
    let mut response = json(status, value);
    response.headers_mut().insert(header::ETAG, etag(version));
    response.into_response()
}
