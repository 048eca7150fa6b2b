//! Device groups: named sets of sites that roles can be assigned over, like Defender
//! for Endpoint's device groups (tier-1 teams see their region's devices only).
//!
//! A device group grants exactly what a site assignment at each of its sites would:
//! site and device-group scopes resolve to the same [`crate::authz::Reach`].

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::model::{DeviceGroupId, DisplayName, SiteId, TagFilter, TagsOfSite};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceGroup {
    pub id: DeviceGroupId,
    pub name: DisplayName,
    pub sites: SiteSelector,
}

/// How a device group picks its sites: `{"sites": [...]}` or `{"tags": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteSelector {
    /// These sites, whatever their tags (1 to [`MAX_LISTED_SITES`]; a repeat counts
    /// once).
    Sites(BTreeSet<SiteId>),
    /// Every site whose tags match, now and as sites are tagged later.
    Tags(TagFilter),
}

// One of the two shapes, each an object of its one field: the list's length is
// stated, and a repeated site is allowed (it counts once).
named_schema!(SiteSelector, {
    use utoipa::openapi::schema::{
        AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Type,
    };
    let only = |field: &str, schema: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>| {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(field, schema)
            .required(field)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
    };
    let sites = ArrayBuilder::new()
        .items(<SiteId as utoipa::PartialSchema>::schema())
        .min_items(Some(1))
        .max_items(Some(MAX_LISTED_SITES));
    OneOfBuilder::new()
        .item(only("sites", sites.into()))
        .item(only("tags", <TagFilter as utoipa::PartialSchema>::schema()))
        .into()
});

/// Most sites a device group may list by id (a device group wanting more selects its
/// sites by tags). Each listed site is checked in the creating transaction.
pub const MAX_LISTED_SITES: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SiteSelectorError {
    #[error("must list at least one site")]
    NoSites,
    #[error("must list at most {MAX_LISTED_SITES} sites; select more by tags")]
    TooManySites,
}

impl SiteSelector {
    /// Whether a device group may be created with this selector: a list names 1 to
    /// [`MAX_LISTED_SITES`] sites (a tag filter is never empty by construction).
    pub fn check(&self) -> Result<(), SiteSelectorError> {
        match self {
            SiteSelector::Sites(sites) if sites.is_empty() => Err(SiteSelectorError::NoSites),
            SiteSelector::Sites(sites) if sites.len() > MAX_LISTED_SITES => {
                Err(SiteSelectorError::TooManySites)
            }
            SiteSelector::Sites(_) | SiteSelector::Tags(_) => Ok(()),
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_selector_names_one_to_fifty_sites() {
        let sites = |n: usize| {
            SiteSelector::Sites(
                (0..n)
                    .map(|i| SiteId::parse(format!("s{i}")).unwrap())
                    .collect(),
            )
        };
        assert_eq!(sites(0).check(), Err(SiteSelectorError::NoSites));
        assert_eq!(sites(1).check(), Ok(()));
        assert_eq!(sites(MAX_LISTED_SITES).check(), Ok(()));
        assert_eq!(
            sites(MAX_LISTED_SITES + 1).check(),
            Err(SiteSelectorError::TooManySites)
        );
    }
}
