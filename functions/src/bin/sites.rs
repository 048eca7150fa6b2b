//! The sites function. Sites and zones: `/subscriptions/{sub}/sites` and `.../sites/{site}/zones`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::cloud::run(functions::sites::router()).await
}
