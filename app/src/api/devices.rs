//! The device inventory: the list, one device, edits, deletes, the CSV export.

use shared::api::{MergeDevices, Page, UpdateDevice};
use shared::model::{Device, DeviceId, SubscriptionId};

use super::{Api, ApiError, Versioned};
use crate::logic::query::QueryPairs;

fn list_path(sub: &SubscriptionId, filters: &QueryPairs) -> String {
    format!("/subscriptions/{sub}/devices{}", filters.to_search())
}

/// The first screen of the list, or (with `cursor`) the next page; `filters` is
/// [`crate::logic::query::DeviceQuery::api_query`].
pub async fn page(
    api: Api,
    sub: &SubscriptionId,
    filters: &QueryPairs,
    limit: u32,
    cursor: Option<&str>,
) -> Result<Page<Device>, ApiError> {
    api.rows(&list_path(sub, filters), limit, cursor).await
}

/// Every device matching the filters, for bulk edits over "all that match".
pub async fn all(
    api: Api,
    sub: &SubscriptionId,
    filters: &QueryPairs,
) -> Result<Vec<Device>, ApiError> {
    api.get_all(&list_path(sub, filters)).await
}

pub async fn get(
    api: Api,
    sub: &SubscriptionId,
    id: &DeviceId,
) -> Result<Versioned<Device>, ApiError> {
    api.get_versioned(&format!("/subscriptions/{sub}/devices/{id}"))
        .await
}

/// Edits a device, unless it changed since `etag` was read (`412`).
pub async fn update(
    api: Api,
    sub: &SubscriptionId,
    id: &DeviceId,
    request: &UpdateDevice,
    etag: Option<&str>,
) -> Result<Device, ApiError> {
    api.patch(&format!("/subscriptions/{sub}/devices/{id}"), request, etag)
        .await
}

pub async fn delete(
    api: Api,
    sub: &SubscriptionId,
    id: &DeviceId,
    etag: Option<&str>,
) -> Result<(), ApiError> {
    api.delete(&format!("/subscriptions/{sub}/devices/{id}"), etag)
        .await
}

/// How many devices match the filters, in total and per group.
pub async fn counts(
    api: Api,
    sub: &SubscriptionId,
    filters: &QueryPairs,
) -> Result<shared::api::DeviceCounts, ApiError> {
    api.get(&format!(
        "/subscriptions/{sub}/devices/counts{}",
        filters.to_search()
    ))
    .await
}

pub async fn export_csv(
    api: Api,
    sub: &SubscriptionId,
    filters: &QueryPairs,
) -> Result<(), ApiError> {
    api.download(
        &format!(
            "/subscriptions/{sub}/devices/export.csv{}",
            filters.to_search()
        ),
        "devices.csv",
    )
    .await
}

/// Merges devices into one of them; answers the survivor.
pub async fn merge(
    api: Api,
    sub: &SubscriptionId,
    request: &MergeDevices,
) -> Result<Device, ApiError> {
    api.post(&format!("/subscriptions/{sub}/devices/merge"), request)
        .await
}
