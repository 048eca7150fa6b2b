//! The devices function. Devices: the inventory, list, read, edit, delete, export.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::cloud::run(functions::devices::router()).await
}
