//! The identity function: `GET /me`, `GET|POST /subscriptions`, and the OpenAPI
//! document of every deployed function at `GET /openapi.json`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::cloud::run(functions::identity::router(false)).await
}
