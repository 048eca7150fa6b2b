//! Start-up of a deployed function: configuration from the environment, the table
//! client and the token verifier built once, before `lambda_http::run`.

use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use axum::Router;
use shared::model::WebhookTargets;

use crate::auth::Authenticator;
use crate::http::{AppState, no_such_endpoint, with_common_layers};
use crate::store::dynamodb::DynamoTable;

/// Why a function could not start. It fails its init, so nothing is served half-configured.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("{0}")]
    Invalid(String),
}

fn required(name: &'static str) -> Result<String, StartError> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.is_empty())
        .ok_or(StartError::Missing(name))
}

/// A 32-byte secret given as 64 hex digits.
fn secret(name: &'static str) -> Result<[u8; 32], StartError> {
    let hex = required(name)?;
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .filter(|bytes| bytes.len() == 32 && hex.len() == 64);
    bytes
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| StartError::Invalid(format!("{name} must be 64 hex digits (32 bytes)")))
}

/// The user-token verifier: the OpenID provider at `JWT_ISSUER` in the cloud, found by
/// its discovery document, with `JWT_AUDIENCE` the console's client id there; an HS256
/// secret (`JWT_HS256_SECRET`) under `cargo lambda watch`.
async fn authenticator() -> Result<Authenticator, StartError> {
    let issuer = required("JWT_ISSUER")?;
    let audience = required("JWT_AUDIENCE")?;
    if std::env::var_os("JWT_HS256_SECRET").is_some() {
        let secret = secret("JWT_HS256_SECRET")?;
        return Ok(Authenticator::hs256(&secret, &issuer, &audience));
    }
    Authenticator::oidc(&issuer, &audience)
        .await
        .map_err(|e| StartError::Invalid(e.to_string()))
}

/// Everything a function needs, from its environment: `TABLE_NAME`, `CURSOR_SECRET`,
/// the JWT settings above, and the standard AWS settings for the client.
pub async fn state() -> Result<AppState, StartError> {
    Ok(AppState {
        table: table().await?,
        auth: Arc::new(authenticator().await?),
        webhooks: webhook_targets(),
    })
}

/// How long one DynamoDB call may take, its retries included: well inside the functions'
/// 10 s timeout (`infra/template.yaml`, Globals), so a slow or unreachable table makes
/// the function answer `503` itself rather than the gateway time out on it.
pub const TABLE_OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
/// One attempt of a call; the SDK's standard retries use the rest of the operation's time.
const TABLE_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
const TABLE_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The table at `TABLE_NAME`, its cursors signed with `CURSOR_SECRET`, its connection
/// opened at init (a failure there is only logged: the first request tries again).
async fn table() -> Result<Arc<dyn crate::store::Table>, StartError> {
    let table_name = required("TABLE_NAME")?;
    let cursor_key = secret("CURSOR_SECRET")?;
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(TABLE_CONNECT_TIMEOUT)
        .operation_attempt_timeout(TABLE_ATTEMPT_TIMEOUT)
        .operation_timeout(TABLE_OPERATION_TIMEOUT)
        .build();
    let loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts);
    let table = DynamoTable::from_loader(loader, &table_name, cursor_key).await;
    table.warm_up().await;
    Ok(Arc::new(table))
}

/// JSON lines, one per event, each with the span of its invocation (the runtime's, which
/// carries the `requestId`); no time, which Lambda adds.
fn init_logs() {
    let filter = log_filter(
        std::env::var("RUST_LOG").ok(),
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok(),
    );
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .without_time()
        .init();
}

/// Which events are logged: `RUST_LOG` when set (a full filter, for debugging one
/// module), else the function's log level from its logging configuration, which Lambda
/// passes as `AWS_LAMBDA_LOG_LEVEL` (TRACE ... FATAL), else `info`.
fn log_filter(rust_log: Option<String>, lambda_level: Option<String>) -> String {
    if let Some(filter) = rust_log.filter(|filter| !filter.is_empty()) {
        return filter;
    }
    match lambda_level
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        Some("TRACE") => "trace",
        Some("DEBUG") => "debug",
        Some("WARN") => "warn",
        // tracing has no level above error.
        Some("ERROR" | "FATAL") => "error",
        _ => "info",
    }
    .to_owned()
}

/// Runs the scheduled worker: each invocation sweeps for sensors that went quiet
/// (`alerts::offline::sweep`), hourly removes what is past its retention
/// (`retention::sweep`), then visits every subscription with notification
/// settings (`notifications::worker::cycle`).
pub async fn run_notification_worker() -> Result<(), lambda_http::Error> {
    use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
    init_logs();
    let table = table().await?;
    let targets = webhook_targets();
    lambda_runtime::run(service_fn(move |_: LambdaEvent<serde_json::Value>| {
        let table = table.clone();
        async move {
            let now = time::OffsetDateTime::now_utc();
            crate::alerts::offline::sweep(table.as_ref(), now).await?;
            // Retention reads every device: once an hour is plenty.
            if now.minute() == 0 {
                crate::retention::sweep(table.as_ref(), now).await?;
            }
            crate::notifications::worker::cycle(table.as_ref(), targets).await?;
            Ok::<_, lambda_http::Error>(())
        }
    }))
    .await
}

/// `ALLOW_PRIVATE_WEBHOOKS=true` lets webhook endpoints name private addresses.
pub fn webhook_targets() -> WebhookTargets {
    match std::env::var("ALLOW_PRIVATE_WEBHOOKS").as_deref() {
        Ok("true" | "1") => WebhookTargets::AnyAddress,
        _ => WebhookTargets::PublicOnly,
    }
}

/// Runs one area's routes as a Lambda function behind the HTTP API.
pub async fn run(routes: Router<AppState>) -> Result<(), lambda_http::Error> {
    init_logs();
    let state = state().await?;
    let app = with_common_layers(routes.fallback(no_such_endpoint).with_state(state));
    lambda_http::run(app).await
}

#[cfg(test)]
mod tests {
    use super::log_filter;

    #[test]
    fn the_log_level_is_lambdas_unless_rust_log_says_otherwise() {
        let level = |rust_log: Option<&str>, lambda: Option<&str>| {
            log_filter(rust_log.map(String::from), lambda.map(String::from))
        };
        assert_eq!(level(None, None), "info");
        assert_eq!(level(None, Some("DEBUG")), "debug");
        assert_eq!(level(None, Some("WARN")), "warn");
        assert_eq!(level(None, Some("FATAL")), "error");
        assert_eq!(level(None, Some("unknown")), "info");
        assert_eq!(level(Some(""), Some("TRACE")), "trace");
        assert_eq!(
            level(Some("functions=debug"), Some("ERROR")),
            "functions=debug"
        );
    }
}
