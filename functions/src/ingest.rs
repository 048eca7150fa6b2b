//! Sensor ingest: heartbeats, alerts and devices, with the sensor's token.

use axum::Router;

use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
