//! The sensors function. Sensors: onboarding, activation files, reactivation, TI pushes, export.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::cloud::run(functions::sensors::router()).await
}
