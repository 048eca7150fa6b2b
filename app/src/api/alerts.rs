//! Alerts (the overview's summary; the alerts page comes with its own calls).

use shared::api::AlertSummary;
use shared::model::SubscriptionId;

use super::{Api, ApiError};

pub async fn summary(api: Api, sub: &SubscriptionId) -> Result<AlertSummary, ApiError> {
    api.get(&format!("/subscriptions/{sub}/alerts/summary"))
        .await
}
