//! The rbac function. Roles, role assignments, custom roles, groups, device groups, the audit log.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::cloud::run(functions::rbac::router()).await
}
