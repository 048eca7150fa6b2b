//! Sites: the unit that OT sensors, zones, devices and alerts belong to, and the
//! finest scope a role can be assigned at.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::model::{DisplayName, Email};

/// The site every Enterprise IoT sensor lands in, created on first use.
pub const ENTERPRISE_NETWORK_SITE_NAME: &str = "Enterprise network";

/// The fixed id of the "Enterprise network" site: creating it with "must not exist"
/// makes its creation race-free, so a subscription never has two.
pub const ENTERPRISE_NETWORK_SITE_ID: &str = "enterprise-network";

/// Most owners a site can list; owners are people to notify, not a mailing list.
pub const MAX_SITE_OWNERS: usize = 20;

/// Most zones a site can have: few in practice; the bound keeps deleting a site (with
/// its zones) one transaction.
pub const MAX_ZONES_PER_SITE: usize = 64;

/// What makes two names "the same" where names must be unique (site names in a
/// subscription, zone names in a site): equal ignoring case. `Plant 1` and `plant 1`
/// would be indistinguishable to the people reading alerts.
pub fn name_key(name: &DisplayName) -> String {
    name.as_str().to_lowercase()
}

/// Whether `name` is the Enterprise network site's name (in any case), which only that
/// site may carry: people cannot create or rename a site to it.
pub fn is_reserved_site_name(name: &DisplayName) -> bool {
    name_key(name) == ENTERPRISE_NETWORK_SITE_NAME.to_lowercase()
}

/// The people answerable for a site's devices: at most [`MAX_SITE_OWNERS`] distinct
/// emails (a repeated email counts once).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Email>", into = "Vec<Email>")]
pub struct SiteOwners(BTreeSet<Email>);

named_schema!(SiteOwners, {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(<Email as utoipa::PartialSchema>::schema())
        .max_items(Some(MAX_SITE_OWNERS))
        .description(Some("Emails; a repeated one counts once."))
        .into()
});

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must list at most {MAX_SITE_OWNERS} owners")]
pub struct TooManyOwners;

impl SiteOwners {
    pub fn new(owners: impl IntoIterator<Item = Email>) -> Result<Self, TooManyOwners> {
        let owners: BTreeSet<Email> = owners.into_iter().collect();
        if owners.len() > MAX_SITE_OWNERS {
            return Err(TooManyOwners);
        }
        Ok(SiteOwners(owners))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Email> {
        self.0.iter()
    }
}

impl TryFrom<Vec<Email>> for SiteOwners {
    type Error = TooManyOwners;
    fn try_from(owners: Vec<Email>) -> Result<Self, TooManyOwners> {
        SiteOwners::new(owners)
    }
}

impl From<SiteOwners> for Vec<Email> {
    fn from(owners: SiteOwners) -> Self {
        owners.0.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_same_ignoring_case_and_surrounding_spaces() {
        let name = |raw| DisplayName::parse(raw).unwrap();
        assert_eq!(
            name_key(&name("  Plant North ")),
            name_key(&name("plant NORTH"))
        );
        assert_ne!(
            name_key(&name("Plant North")),
            name_key(&name("Plant  North"))
        );
        assert!(is_reserved_site_name(&name("ENTERPRISE network")));
        assert!(!is_reserved_site_name(&name("Enterprise network 2")));
    }

    #[test]
    fn owners_are_deduplicated_and_bounded() {
        let owners: SiteOwners =
            serde_json::from_str(r#"["Ana@example.com", "ana@example.com", "bo@example.com"]"#)
                .unwrap();
        assert_eq!(owners.iter().count(), 2);
        let too_many: Vec<String> = (0..=MAX_SITE_OWNERS)
            .map(|n| format!("owner{n}@example.com"))
            .collect();
        let json = serde_json::to_string(&too_many).unwrap();
        assert!(serde_json::from_str::<SiteOwners>(&json).is_err());
    }
}
