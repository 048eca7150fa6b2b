//! Alerts: the list, one alert, and triage (status, learn, PCAP).

use shared::api::{
    AlertCounts, AlertSummary, BulkAlertStatus, BulkAlertStatusResult, Page, UpdateAlert,
};
use shared::model::{Alert, AlertId, AlertStatus, SubscriptionId};

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
    etag: Option<&str>,
) -> Result<Alert, ApiError> {
    let request = UpdateAlert {
        status: Some(status),
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
