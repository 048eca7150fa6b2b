//! Plans: `/subscriptions/{sub}/plans` and the committed-device estimate.

use axum::Router;

use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
