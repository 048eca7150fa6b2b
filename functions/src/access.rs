//! Authorization of a request in one subscription: load the subscription's policy
//! (one read), fold the caller's assignments into an [`Access`], then decide with
//! `shared::authz` — the same code the SPA runs.

use serde::Deserialize;
use shared::authz::{Access, Permission, Principal, SiteFilter, SubscriptionDirectory, Target};
use shared::model::{SiteId, SiteSelector, SubscriptionId, Tags, TagsOfSite};

use crate::http::error::{ApiError, ApiResult};
use crate::keys;
use crate::records::{self, SubscriptionRecord};
use crate::store::TableRead;

/// A subscription the caller holds an assignment in, with what they may do there.
#[derive(Debug)]
pub struct Authorized {
    pub subscription: SubscriptionRecord,
    /// The stored version, for conditional writes of the policy.
    pub version: u64,
    pub access: Access,
}

/// Loads subscription `raw_id` for `caller`. A subscription that does not exist, or
/// in which the caller holds no assignment, is `404` alike: existence never leaks.
pub async fn authorize(
    table: &dyn TableRead,
    caller: &Principal,
    raw_id: &str,
) -> ApiResult<Authorized> {
    let not_found = || ApiError::NotFound("no such subscription".into());
    let id = SubscriptionId::parse(raw_id).map_err(|_| not_found())?;
    let item = table
        .get(&keys::subscription(&id))
        .await?
        .ok_or_else(not_found)?;
    let subscription: SubscriptionRecord = records::decode(&item)?;
    let access = access_of(table, caller, &subscription).await?;
    if !access.holds_assignment() {
        return Err(not_found());
    }
    Ok(Authorized {
        subscription,
        version: item.version,
        access,
    })
}

/// The caller's access in a subscription.
pub async fn access_of(
    table: &dyn TableRead,
    caller: &Principal,
    subscription: &SubscriptionRecord,
) -> ApiResult<Access> {
    let site_tags = site_tags_for(table, caller, subscription).await?;
    let sites = tags_of(&site_tags);
    let directory = directory(subscription, &sites);
    Ok(Access::for_principal(
        caller,
        &subscription.assignments,
        &directory,
    ))
}

/// What resolves the subscription's assignments into grants.
pub fn directory<'a>(
    subscription: &'a SubscriptionRecord,
    sites: &'a [TagsOfSite<'a>],
) -> SubscriptionDirectory<'a> {
    SubscriptionDirectory {
        custom_roles: &subscription.custom_roles,
        device_groups: &subscription.device_groups,
        sites,
    }
}

/// The sites' tags that the caller's assignments need: none, unless one of them is
/// over a tag-filtered device group (then every site's, read once).
pub async fn site_tags_for(
    table: &dyn TableRead,
    caller: &Principal,
    subscription: &SubscriptionRecord,
) -> ApiResult<Vec<SiteTags>> {
    let needs_tags = subscription.assignments.iter().any(|assignment| {
        caller.is_named_by(&assignment.principal)
            && assignment.scope.device_group_id().is_some_and(|group| {
                subscription
                    .device_groups
                    .iter()
                    .any(|g| g.id == *group && matches!(g.sites, SiteSelector::Tags(_)))
            })
    });
    if needs_tags {
        tags_of_sites(table, &subscription.id).await
    } else {
        Ok(Vec::new())
    }
}

pub fn tags_of(sites: &[SiteTags]) -> Vec<TagsOfSite<'_>> {
    sites
        .iter()
        .map(|site| TagsOfSite {
            site: &site.id,
            tags: &site.tags,
        })
        .collect()
}

/// The part of a stored site that device groups filter on.
#[derive(Debug, Deserialize)]
pub struct SiteTags {
    id: SiteId,
    #[serde(default)]
    tags: Tags,
}

async fn tags_of_sites(
    table: &dyn TableRead,
    subscription: &SubscriptionId,
) -> ApiResult<Vec<SiteTags>> {
    records::read_all(table, keys::sites_query(subscription, 500)).await
}

impl Authorized {
    /// The sites where the caller holds `permission`; `403` when there is none.
    pub fn sites_with_some(&self, permission: Permission) -> ApiResult<SiteFilter<'_>> {
        match self.access.sites_with(permission) {
            SiteFilter::None => Err(ApiError::Forbidden(format!(
                "this needs the {} permission at some site",
                permission.as_str()
            ))),
            sites => Ok(sites),
        }
    }

    /// `403` unless the caller holds `permission` at `target`.
    pub fn require(&self, permission: Permission, target: Target<'_>) -> ApiResult<()> {
        if self.access.decide(permission, target).is_allowed() {
            return Ok(());
        }
        let place = match target {
            Target::Subscription => "in this subscription".to_owned(),
            Target::Site(site) => format!("at site {site}"),
        };
        Err(ApiError::Forbidden(format!(
            "this needs the {} permission {place}",
            permission.as_str()
        )))
    }
}
