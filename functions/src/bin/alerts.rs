//! The alerts function. Alerts: list, read, status changes, learn, PCAP.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::cloud::run(functions::alerts::router()).await
}
