//! Sensor ingest: heartbeats, alerts and devices, with the sensor's token.

use axum::Router;

use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new().merge(heartbeat::routes())
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
