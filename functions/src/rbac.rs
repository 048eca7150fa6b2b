//! Roles, role assignments, custom roles, groups, device groups, the audit log.

use axum::Router;

use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
