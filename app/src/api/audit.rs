//! The audit log.

use shared::api::{AuditEntry, Page};
use shared::model::SubscriptionId;

use super::{Api, ApiError};
use crate::logic::query::QueryPairs;

fn path(sub: &SubscriptionId, filters: &QueryPairs) -> String {
    format!("/subscriptions/{sub}/audit-log{}", filters.to_search())
}

/// The first screen of the log, or (with `cursor`) the next page; `filters` is
/// [`crate::logic::query::AuditQuery::api_query`].
pub async fn page(
    api: Api,
    sub: &SubscriptionId,
    filters: &QueryPairs,
    limit: u32,
    cursor: Option<&str>,
) -> Result<Page<AuditEntry>, ApiError> {
    api.rows(&path(sub, filters), limit, cursor).await
}

/// Every entry matching the filters, for the CSV export.
pub async fn all(
    api: Api,
    sub: &SubscriptionId,
    filters: &QueryPairs,
) -> Result<Vec<AuditEntry>, ApiError> {
    api.get_all(&path(sub, filters)).await
}
