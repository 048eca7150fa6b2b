//! The notification worker, run on a schedule: routes the outbox, streams the audit
//! log and sends what is due to webhook endpoints.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::cloud::run_notification_worker().await
}
