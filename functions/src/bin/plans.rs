//! The plans function. Plans: `/subscriptions/{sub}/plans` and the committed-device estimate.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::cloud::run(functions::plans::router()).await
}
