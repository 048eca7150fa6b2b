//! Sites and zones: `/subscriptions/{sub}/sites` and `.../sites/{site}/zones`.

use axum::Router;

use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
