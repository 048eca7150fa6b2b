//! Sensor ingest: heartbeats, alerts and devices, with the sensor's token.

use axum::Router;
use utoipa_axum::router::OpenApiRouter;

use crate::http::AppState;

/// The ingest routes, with their document.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(heartbeat::routes())
        .merge(alerts_and_devices::routes())
}

/// The ingest function's routes.
pub fn router() -> Router<AppState> {
    routes().into()
}

// ----- Heartbeat (sensors area) -----

/// `POST /ingest/heartbeat`: the sensor's state lives with the sensor
/// (`sensors::record_heartbeat`); this is only its door.
mod heartbeat {
    use std::sync::Arc;

    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::Response;
    use shared::api::{Heartbeat, HeartbeatResponse};
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;

    use crate::http::AppState;
    use crate::http::error::ApiResult;
    use crate::http::json::{Body, json};
    use crate::http::principal::bearer_token_in;
    use crate::http::sensor::{SensorCaller, token_hash};
    use crate::openapi::{Invalid, TooLarge, Unauthenticated};
    use crate::sensors;
    use crate::store::Table;

    pub fn routes() -> OpenApiRouter<AppState> {
        OpenApiRouter::new().routes(routes!(heartbeat))
    }

    /// A sensor's heartbeat: its version, TI version and health.
    ///
    /// Takes the sensor's token (a user token is `401`). Answers what the sensor must
    /// do next (e.g. install a pushed TI package).
    #[utoipa::path(
        post,
        path = "/api/ingest/heartbeat",
        tag = "ingest",
        security(("sensor_token" = [])),
        request_body = Heartbeat,
        responses(
            (status = 200, description = "What the sensor must do", body = HeartbeatResponse),
            (status = 400, response = Invalid),
            (status = 401, response = Unauthenticated),
            (status = 413, response = TooLarge),
        )
    )]
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
/// Both are bulk writing (`store::bulk`): people's writes go before them.
mod alerts_and_devices {
    use std::sync::Arc;

    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::Response;
    use shared::api::{Accepted, IngestAlerts, IngestDevices};
    use time::OffsetDateTime;
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;

    use crate::http::AppState;
    use crate::http::error::ApiResult;
    use crate::http::json::{Body, json};
    use crate::http::sensor::SensorCaller;
    use crate::openapi::{Invalid, TooLarge, Unauthenticated};
    use crate::store::{self, Table};
    use crate::{alerts, devices};

    pub fn routes() -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .routes(routes!(ingest_alerts))
            .routes(routes!(ingest_devices))
    }

    /// A batch of detections from a sensor.
    ///
    /// Takes the sensor's token. Answers `202 {"accepted": n}` once the batch is
    /// durably written; a detection identical to a learned alert raises nothing.
    #[utoipa::path(
        post,
        path = "/api/ingest/alerts",
        tag = "ingest",
        security(("sensor_token" = [])),
        request_body = IngestAlerts,
        responses(
            (status = 202, description = "Durably accepted", body = Accepted),
            (status = 400, response = Invalid),
            (status = 401, response = Unauthenticated),
            (status = 413, response = TooLarge),
        )
    )]
    async fn ingest_alerts(
        State(table): State<Arc<dyn Table>>,
        SensorCaller(sensor): SensorCaller,
        body: Body,
    ) -> ApiResult<Response> {
        let request: IngestAlerts = body.parse()?;
        let now = OffsetDateTime::now_utc();
        let work = alerts::ingest(&table, &sensor, request.alerts, now);
        let accepted = store::bulk(table.as_ref(), work).await?;
        Ok(json(StatusCode::ACCEPTED, &Accepted { accepted }))
    }

    /// A batch of observed devices from a sensor.
    ///
    /// Takes the sensor's token. Answers `202 {"accepted": n}` once the batch is
    /// durably merged into the inventory.
    #[utoipa::path(
        post,
        path = "/api/ingest/devices",
        tag = "ingest",
        security(("sensor_token" = [])),
        request_body = IngestDevices,
        responses(
            (status = 202, description = "Durably accepted", body = Accepted),
            (status = 400, response = Invalid),
            (status = 401, response = Unauthenticated),
            (status = 413, response = TooLarge),
        )
    )]
    async fn ingest_devices(
        State(table): State<Arc<dyn Table>>,
        SensorCaller(sensor): SensorCaller,
        body: Body,
    ) -> ApiResult<Response> {
        let request: IngestDevices = body.parse()?;
        let now = OffsetDateTime::now_utc();
        let work = devices::ingest(&table, &sensor, request.devices, now);
        let accepted = store::bulk(table.as_ref(), work).await?;
        Ok(json(StatusCode::ACCEPTED, &Accepted { accepted }))
    }
}
