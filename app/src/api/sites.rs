//! Sites and zones.

use shared::api::{CreateSite, CreateZone, Site, UpdateSite, Zone};
use shared::model::{SiteId, SubscriptionId};

use super::{Api, ApiError, Versioned};

pub async fn list_all(api: Api, sub: &SubscriptionId) -> Result<Vec<Site>, ApiError> {
    api.get_all(&format!("/subscriptions/{sub}/sites")).await
}

pub async fn get(
    api: Api,
    sub: &SubscriptionId,
    site: &SiteId,
) -> Result<Versioned<Site>, ApiError> {
    api.get_versioned(&format!("/subscriptions/{sub}/sites/{site}"))
        .await
}

pub async fn create(
    api: Api,
    sub: &SubscriptionId,
    request: &CreateSite,
) -> Result<Site, ApiError> {
    api.post(&format!("/subscriptions/{sub}/sites"), request)
        .await
}

pub async fn update(
    api: Api,
    sub: &SubscriptionId,
    site: &SiteId,
    request: &UpdateSite,
    if_match: Option<&str>,
) -> Result<Site, ApiError> {
    api.patch(
        &format!("/subscriptions/{sub}/sites/{site}"),
        request,
        if_match,
    )
    .await
}

pub async fn zones(api: Api, sub: &SubscriptionId, site: &SiteId) -> Result<Vec<Zone>, ApiError> {
    api.get_all(&format!("/subscriptions/{sub}/sites/{site}/zones"))
        .await
}

pub async fn create_zone(
    api: Api,
    sub: &SubscriptionId,
    site: &SiteId,
    request: &CreateZone,
) -> Result<Zone, ApiError> {
    api.post(&format!("/subscriptions/{sub}/sites/{site}/zones"), request)
        .await
}
