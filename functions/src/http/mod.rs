//! The HTTP layer: state, extractors, error mapping and the router of every area.

pub mod error;
pub mod json;
pub mod params;
pub mod principal;
pub mod sensor;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, Request};
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use shared::api::{ErrorCode, MAX_JSON_BODY_BYTES};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::auth::Authenticator;
use crate::store::Table;
use error::error_response;

/// What every handler may use. Built once per process, before serving.
#[derive(Clone)]
pub struct AppState {
    pub table: Arc<dyn Table>,
    pub auth: Arc<Authenticator>,
    /// Which addresses webhook endpoints may name.
    pub webhooks: shared::model::WebhookTargets,
}

impl FromRef<AppState> for shared::model::WebhookTargets {
    fn from_ref(state: &AppState) -> Self {
        state.webhooks
    }
}

impl FromRef<AppState> for Arc<Authenticator> {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

impl FromRef<AppState> for Arc<dyn Table> {
    fn from_ref(state: &AppState) -> Self {
        state.table.clone()
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps an area's routes with what every function shares: the body limit, request
/// ids, tracing, the contract's error format for whatever axum answers itself, and the
/// browser security headers.
pub fn with_common_layers(routes: Router) -> Router {
    routes
        .layer(middleware::from_fn(security_headers))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_JSON_BODY_BYTES))
        .layer(middleware::from_fn(refuse_large_bodies))
        .layer(middleware::from_fn(contract_errors))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let request_id = request
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, NewRequestId))
}

/// What no response should do in a browser, set unless the handler chose otherwise
/// (the console sets its own cache policy and, on its pages, its own CSP): sniff a
/// content type, leak the URL as a referrer, be framed, run anything (an API answer is
/// data, never a document), or stay in a cache (API answers carry tenants' data).
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        if !headers.contains_key(&name) {
            headers.insert(name, axum::http::HeaderValue::from_static(value));
        }
    }
    response
}

/// Each request gets a ULID as its `x-request-id` (unless the caller sent one), which
/// tracing attaches to every log line of the request.
#[derive(Debug, Clone, Copy)]
struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        axum::http::HeaderValue::from_str(&crate::ids::new())
            .ok()
            .map(RequestId::new)
    }
}

/// The answer for a path no route serves.
pub async fn no_such_endpoint() -> Response {
    error_response(ErrorCode::NotFound, "no such endpoint")
}

/// A declared body over the limit is refused before authentication, unread.
async fn refuse_large_bodies(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_JSON_BODY_BYTES as u64) {
        return error::ApiError::TooLarge.into_response();
    }
    next.run(request).await
}

/// axum's own refusals (405, a route's bad path) have no contract body; give them one.
async fn contract_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let has_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !status.is_client_error() && !status.is_server_error() || has_json {
        return response;
    }
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (ErrorCode::Invalid, "method not allowed on this path"),
        StatusCode::PAYLOAD_TOO_LARGE => (
            ErrorCode::TooLarge,
            "the request body is over the limit of 1 MiB",
        ),
        StatusCode::NOT_FOUND => (ErrorCode::NotFound, "no such endpoint"),
        StatusCode::UNAUTHORIZED => (ErrorCode::Unauthenticated, "authentication required"),
        s if s.is_client_error() => (ErrorCode::Invalid, "the request is invalid"),
        _ => (ErrorCode::Internal, "internal error"),
    };
    let mut rewritten = error_response(code, message);
    *rewritten.status_mut() = status;
    rewritten
}
