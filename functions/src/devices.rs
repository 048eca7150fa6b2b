//! Devices: the inventory, list, read, edit, delete, export.

use axum::Router;

use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
