//! JSON bodies. Handlers take the raw body and parse it only after authorization,
//! so a caller without the permission learns `403`, never whether its body was valid.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A request body read in full (at most 1 MiB), not yet parsed.
#[derive(Debug)]
pub struct Body(Bytes);

impl Body {
    /// A body from bytes read elsewhere (the fuzz targets parse bodies as handlers do).
    pub fn from_bytes(bytes: Bytes) -> Self {
        Body(bytes)
    }
}

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(ApiError::Invalid(
                "the body must be JSON (Content-Type: application/json)".into(),
            ));
        }
        match Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(Body(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::TooLarge)
            }
            Err(rejection) => Err(ApiError::Invalid(format!(
                "the body could not be read: {}",
                rejection.body_text()
            ))),
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE) {
        // Clients like curl without -H still send JSON; the parse below is the real check.
        None => true,
        Some(value) => value
            .to_str()
            .map(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/json")
            })
            .unwrap_or(false),
    }
}

impl Body {
    /// Parses the body, naming the offending field in the error.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        // Every body of the contract is an object; serde would also read a struct from
        // an array of its fields (`["name", "type"]`), which no client means.
        let first = self.0.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|b| *b == b'[') {
            return Err(ApiError::Invalid(
                "the body must be a JSON object, not an array".into(),
            ));
        }
        let deserializer = &mut serde_json::Deserializer::from_slice(&self.0);
        serde_path_to_error::deserialize(deserializer).map_err(|error| {
            let path = error.path().to_string();
            let inner = error.into_inner();
            // serde_json reports some shape errors (an enum object with two keys) as
            // syntax errors; only a body that is no JSON at all is "not valid JSON".
            let not_json = (inner.is_syntax() || inner.is_eof())
                && serde_json::from_slice::<serde::de::IgnoredAny>(&self.0).is_err();
            if not_json {
                ApiError::Invalid(format!("the body is not valid JSON: {inner}"))
            } else if path == "." {
                ApiError::Invalid(format!("the body is invalid: {}", strip_position(&inner)))
            } else {
                ApiError::invalid_field(&path, strip_position(&inner))
            }
        })
    }
}

/// serde_json appends " at line L column C"; the field path says more.
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// A JSON response with a chosen status.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(error) => {
            ApiError::Internal(format!("serializing a response: {error}")).into_response()
        }
    }
}
