//! Sensor ingest: heartbeats, alerts and devices, with the sensor's token.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use shared::api::{Accepted, IngestAlerts, IngestDevices};
use time::OffsetDateTime;

use crate::http::AppState;
use crate::http::error::ApiResult;
use crate::http::json::{Body, json};
use crate::http::sensor::SensorCaller;
use crate::store::Table;
use crate::{alerts, devices};

pub fn router() -> Router<AppState> {
    Router::new()
        // Alerts and devices (area-alerts).
        .route("/api/ingest/alerts", post(ingest_alerts))
        .route("/api/ingest/devices", post(ingest_devices))
}

// ----- Alerts and devices (area-alerts) -----

/// `POST /ingest/alerts` → `202 {"accepted": n}` once the batch is durably written.
async fn ingest_alerts(
    State(table): State<Arc<dyn Table>>,
    SensorCaller(sensor): SensorCaller,
    body: Body,
) -> ApiResult<Response> {
    let request: IngestAlerts = body.parse()?;
    let accepted =
        alerts::ingest(&table, &sensor, request.alerts, OffsetDateTime::now_utc()).await?;
    Ok(json(StatusCode::ACCEPTED, &Accepted { accepted }))
}

/// `POST /ingest/devices` → `202 {"accepted": n}` once the batch is durably merged.
async fn ingest_devices(
    State(table): State<Arc<dyn Table>>,
    SensorCaller(sensor): SensorCaller,
    body: Body,
) -> ApiResult<Response> {
    let request: IngestDevices = body.parse()?;
    let accepted =
        devices::ingest(&table, &sensor, request.devices, OffsetDateTime::now_utc()).await?;
    Ok(json(StatusCode::ACCEPTED, &Accepted { accepted }))
}
