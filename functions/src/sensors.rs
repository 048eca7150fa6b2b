//! Sensors: onboarding, activation files, reactivation, TI pushes, export.

use axum::Router;

use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
