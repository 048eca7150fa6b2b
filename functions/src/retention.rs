//! Retention: what Vigil removes once it is older than its documented period
//! (`docs/data-model.md`, "Retention"): alerts not detected for `ALERT_RETENTION` (90
//! days, [`alerts::retention`]), devices inactive for `DEVICE_RETENTION` (90 days,
//! [`devices::retention`]) and audit entries older than `AUDIT_RETENTION` (365 days,
//! [`audit::expire`]), in every subscription with sensors. Swept every
//! [`SWEEP_EVERY`] by `vigil serve`, hourly by the scheduled worker in the cloud.

use std::sync::Arc;

use time::OffsetDateTime;

use crate::http::error::ApiResult;
use crate::store::Table;
use crate::{alerts, audit, devices, keys, records};

pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Runs until aborted.
pub async fn run(table: Arc<dyn Table>) {
    loop {
        if let Err(e) = sweep(table.as_ref(), OffsetDateTime::now_utc()).await {
            tracing::warn!(error = %e, "retention");
        }
        tokio::time::sleep(SWEEP_EVERY).await;
    }
}

/// Removes what is past its retention in every subscription with sensors, as of `now`.
/// A subscription that fails is logged and the others still swept.
pub async fn sweep(table: &dyn Table, now: OffsetDateTime) -> ApiResult<()> {
    let marked =
        records::marked_subscriptions(table, keys::sensing_subscriptions_query(500)).await?;
    for subscription in marked {
        match alerts::retention::sweep_subscription(table, &subscription, now).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(%subscription, removed, "alerts expired"),
            Err(e) => {
                tracing::warn!(%subscription, error = %e, "alert retention of a subscription")
            }
        }
        if let Err(e) = devices::retention::sweep_subscription(table, &subscription, now).await {
            tracing::warn!(%subscription, error = %e, "device retention of a subscription");
        }
        match audit::expire(table, &subscription, now).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(%subscription, removed, "audit entries expired"),
            Err(e) => {
                tracing::warn!(%subscription, error = %e, "audit retention of a subscription")
            }
        }
    }
    Ok(())
}
