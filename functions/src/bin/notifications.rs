//! The notifications function: webhook endpoints, notification rules, the delivery log.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::cloud::run(functions::notifications::router()).await
}
