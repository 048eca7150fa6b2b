//! Sensor ingest: heartbeats, alerts and devices, with the sensor's token.

use axum::Router;

use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(heartbeat::routes())
        .merge(alerts_and_devices::routes())
}

// ----- Heartbeat (sensors area) -----

/// `POST /ingest/heartbeat`: the sensor's state lives with the sensor
/// (`sensors::record_heartbeat`); this is only its door.
mod heartbeat {
    use std::sync::Arc;

    use axum::Router;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::Response;
    use axum::routing::post;

    use crate::http::AppState;
    use crate::http::error::ApiResult;
    use crate::http::json::{Body, json};
    use crate::http::principal::bearer_token_in;
    use crate::http::sensor::{SensorCaller, token_hash};
    use crate::sensors;
    use crate::store::Table;

    pub fn routes() -> Router<AppState> {
        Router::new().route("/api/ingest/heartbeat", post(heartbeat))
    }

    async fn heartbeat(
        State(table): State<Arc<dyn Table>>,
        SensorCaller(sensor): SensorCaller,
        headers: HeaderMap,
        body: Body,
    ) -> ApiResult<Response> {
        let hash = token_hash(bearer_token_in(&headers)?);
        let answer = sensors::record_heartbeat(table.as_ref(), &sensor, &hash, &body).await?;
        Ok(json(StatusCode::OK, &answer))
    }
}

// ----- Alerts and devices (alerts area) -----

/// `POST /ingest/alerts` and `POST /ingest/devices`: what a batch does lives with the
/// alerts and the devices (`alerts::ingest`, `devices::ingest`); these are their doors.
mod alerts_and_devices {
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

    pub fn routes() -> Router<AppState> {
        Router::new()
            .route("/api/ingest/alerts", post(ingest_alerts))
            .route("/api/ingest/devices", post(ingest_devices))
    }

    /// `202 {"accepted": n}` once the batch is durably written.
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

    /// `202 {"accepted": n}` once the batch is durably merged into the inventory.
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
}
