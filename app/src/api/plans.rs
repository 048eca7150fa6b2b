//! Plans and pricing.

use shared::api::{CreatePlan, Page, Plan, UpdatePlan};
use shared::model::{CommittedDevicesEstimate, PlanId, PlanKind, SubscriptionId};

use super::{Api, ApiError};

pub async fn list(api: Api, sub: &SubscriptionId) -> Result<Page<Plan>, ApiError> {
    api.get(&format!("/subscriptions/{sub}/plans?limit=500"))
        .await
}

pub async fn create(
    api: Api,
    sub: &SubscriptionId,
    request: &CreatePlan,
) -> Result<Plan, ApiError> {
    api.post(&format!("/subscriptions/{sub}/plans"), request)
        .await
}

pub async fn update(
    api: Api,
    sub: &SubscriptionId,
    plan: &PlanId,
    request: &UpdatePlan,
    if_match: Option<&str>,
) -> Result<Plan, ApiError> {
    api.patch(
        &format!("/subscriptions/{sub}/plans/{plan}"),
        request,
        if_match,
    )
    .await
}

pub async fn cancel(api: Api, sub: &SubscriptionId, plan: &PlanId) -> Result<(), ApiError> {
    api.delete(&format!("/subscriptions/{sub}/plans/{plan}"), None)
        .await
}

pub async fn estimate(
    api: Api,
    sub: &SubscriptionId,
    kind: PlanKind,
) -> Result<CommittedDevicesEstimate, ApiError> {
    api.get(&format!(
        "/subscriptions/{sub}/plans/committed-devices?kind={}",
        kind.as_str()
    ))
    .await
}
