//! The identity function: `GET /me`, `GET|POST /subscriptions`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::cloud::run(functions::identity::router(false)).await
}
