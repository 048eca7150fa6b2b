//! Alerts: the list, one alert, and triage (status, learn, PCAP).

use shared::api::{
    AddComment, AlertCounts, AlertEvent, AlertSummary, AssignAlert, BulkAlertStatus,
    BulkAlertStatusResult, BulkAssignAlerts, CloseReasonList, CreatedRule, Page, RulePreview,
    UpdateAlert,
};
use shared::authz::PrincipalRef;
use shared::model::{
    Alert, AlertId, AlertStatus, CloseReasonId, CommentText, NewSuppressionRule, RuleId,
    SubscriptionId, SuppressionRule,
};

use super::{Api, ApiError, Versioned};
use crate::logic::query::QueryPairs;

pub async fn summary(api: Api, sub: &SubscriptionId) -> Result<AlertSummary, ApiError> {
    api.get(&format!("/subscriptions/{sub}/alerts/summary"))
        .await
}

/// The first screen of the list, or (with `cursor`) the next page; `filters` is
/// [`crate::logic::query::AlertQuery::api_query`].
pub async fn page(
    api: Api,
    sub: &SubscriptionId,
    filters: &QueryPairs,
    limit: u32,
    cursor: Option<&str>,
) -> Result<Page<Alert>, ApiError> {
    api.rows(
        &format!("/subscriptions/{sub}/alerts{}", filters.to_search()),
        limit,
        cursor,
    )
    .await
}

/// How many alerts match the filters, in total and per group.
pub async fn counts(
    api: Api,
    sub: &SubscriptionId,
    filters: &QueryPairs,
) -> Result<AlertCounts, ApiError> {
    api.get(&format!(
        "/subscriptions/{sub}/alerts/counts{}",
        filters.to_search()
    ))
    .await
}

/// Every alert matching the filters, for bulk work over "all that match".
pub async fn all(
    api: Api,
    sub: &SubscriptionId,
    filters: &QueryPairs,
) -> Result<Vec<Alert>, ApiError> {
    api.get_all(&format!(
        "/subscriptions/{sub}/alerts{}",
        filters.to_search()
    ))
    .await
}

pub async fn get(
    api: Api,
    sub: &SubscriptionId,
    id: &AlertId,
) -> Result<Versioned<Alert>, ApiError> {
    api.get_versioned(&format!("/subscriptions/{sub}/alerts/{id}"))
        .await
}

/// Changes one alert's status, unless it changed since `etag` was read (`412`).
pub async fn set_status(
    api: Api,
    sub: &SubscriptionId,
    id: &AlertId,
    status: AlertStatus,
    reason: Option<CloseReasonId>,
    etag: Option<&str>,
) -> Result<Alert, ApiError> {
    let request = UpdateAlert {
        status: Some(status),
        reason,
    };
    api.patch(&format!("/subscriptions/{sub}/alerts/{id}"), &request, etag)
        .await
}

/// Changes the status of up to [`shared::api::MAX_BULK_ALERTS`] alerts, each on its own.
pub async fn set_statuses(
    api: Api,
    sub: &SubscriptionId,
    request: &BulkAlertStatus,
) -> Result<BulkAlertStatusResult, ApiError> {
    api.post(&format!("/subscriptions/{sub}/alerts/status"), request)
        .await
}

pub async fn learn(api: Api, sub: &SubscriptionId, id: &AlertId) -> Result<Alert, ApiError> {
    api.post(&format!("/subscriptions/{sub}/alerts/{id}/learn"), &())
        .await
}

pub async fn download_pcap(api: Api, sub: &SubscriptionId, id: &AlertId) -> Result<(), ApiError> {
    api.download(
        &format!("/subscriptions/{sub}/alerts/{id}/pcap"),
        &format!("alert-{id}.pcap"),
    )
    .await
}

/// Assigns one alert (`None`: to nobody).
pub async fn assign(
    api: Api,
    sub: &SubscriptionId,
    id: &AlertId,
    assignee: Option<PrincipalRef>,
) -> Result<Alert, ApiError> {
    api.post(
        &format!("/subscriptions/{sub}/alerts/{id}/assign"),
        &AssignAlert { assignee },
    )
    .await
}

/// Assigns up to [`shared::api::MAX_BULK_ALERTS`] alerts, each on its own.
pub async fn assign_many(
    api: Api,
    sub: &SubscriptionId,
    request: &BulkAssignAlerts,
) -> Result<BulkAlertStatusResult, ApiError> {
    api.post(&format!("/subscriptions/{sub}/alerts/assign"), request)
        .await
}

pub async fn comment(
    api: Api,
    sub: &SubscriptionId,
    id: &AlertId,
    text: CommentText,
) -> Result<AlertEvent, ApiError> {
    api.post(
        &format!("/subscriptions/{sub}/alerts/{id}/comments"),
        &AddComment { text },
    )
    .await
}

/// The whole timeline, oldest first.
pub async fn timeline(
    api: Api,
    sub: &SubscriptionId,
    id: &AlertId,
) -> Result<Vec<AlertEvent>, ApiError> {
    api.get_all(&format!("/subscriptions/{sub}/alerts/{id}/timeline"))
        .await
}

pub async fn close_reasons(api: Api, sub: &SubscriptionId) -> Result<CloseReasonList, ApiError> {
    api.get(&format!("/subscriptions/{sub}/alerts/close-reasons"))
        .await
}

/// The close reasons with their version, for editing them.
pub async fn close_reasons_versioned(
    api: Api,
    sub: &SubscriptionId,
) -> Result<Versioned<CloseReasonList>, ApiError> {
    api.get_versioned(&format!("/subscriptions/{sub}/alerts/close-reasons"))
        .await
}

/// Replaces the close reasons, unless they changed since `etag` was read (`412`).
pub async fn put_close_reasons(
    api: Api,
    sub: &SubscriptionId,
    list: &CloseReasonList,
    etag: Option<&str>,
) -> Result<CloseReasonList, ApiError> {
    api.put(
        &format!("/subscriptions/{sub}/alerts/close-reasons"),
        list,
        etag,
    )
    .await
}

pub async fn rules(api: Api, sub: &SubscriptionId) -> Result<Vec<SuppressionRule>, ApiError> {
    api.get_all(&format!("/subscriptions/{sub}/suppression-rules"))
        .await
}

pub async fn preview_rule(
    api: Api,
    sub: &SubscriptionId,
    rule: &NewSuppressionRule,
) -> Result<RulePreview, ApiError> {
    api.post(
        &format!("/subscriptions/{sub}/suppression-rules/preview"),
        rule,
    )
    .await
}

pub async fn create_rule(
    api: Api,
    sub: &SubscriptionId,
    rule: &NewSuppressionRule,
) -> Result<CreatedRule, ApiError> {
    api.post(&format!("/subscriptions/{sub}/suppression-rules"), rule)
        .await
}

pub async fn delete_rule(api: Api, sub: &SubscriptionId, id: &RuleId) -> Result<(), ApiError> {
    api.delete(
        &format!("/subscriptions/{sub}/suppression-rules/{id}"),
        None,
    )
    .await
}
