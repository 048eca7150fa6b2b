//! Alerts: list, read, status changes, learn, PCAP.

use axum::Router;

use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
