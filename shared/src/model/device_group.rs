//! Device groups: named sets of sites that roles can be assigned over, like Defender
//! for Endpoint's device groups (tier-1 teams see their region's devices only).
//!
//! A device group grants exactly what a site assignment at each of its sites would:
//! site and device-group scopes resolve to the same [`crate::authz::Reach`].

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::model::{DeviceGroupId, DisplayName, SiteId, TagFilter, TagsOfSite};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceGroup {
    pub id: DeviceGroupId,
    pub name: DisplayName,
    pub sites: SiteSelector,
}

/// How a device group picks its sites: `{"sites": [...]}` or `{"tags": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteSelector {
    /// These sites, whatever their tags.
    Sites(BTreeSet<SiteId>),
    /// Every site whose tags match, now and as sites are tagged later.
    Tags(TagFilter),
}

impl SiteSelector {
    /// The selected sites among `sites` (the subscription's sites and their tags). An
    /// explicit list is taken as is, even for sites not in `sites`: it can only name
    /// sites of its own subscription.
    pub fn resolve(&self, sites: &[TagsOfSite<'_>]) -> BTreeSet<SiteId> {
        match self {
            SiteSelector::Sites(listed) => listed.clone(),
            SiteSelector::Tags(filter) => sites
                .iter()
                .filter(|site| filter.matches(site.tags))
                .map(|site| site.site.clone())
                .collect(),
        }
    }
}
