//! The ingest function. Sensor ingest: heartbeats, alerts and devices, with the sensor's token.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::cloud::run(functions::ingest::router()).await
}
