//! The subscription a page works in, as the signed-in user sees it: their
//! assignments folded into the same `shared::authz::Access` the server decides with,
//! and the subscription's sites. The shell provides it to every page under `/s/{sub}`.

use leptos::prelude::*;
use shared::api::{MyAssignment, MySubscription, Site};
use shared::authz::{Access, PermissionSet};
use shared::model::{SiteId, SubscriptionId};

use crate::logic::denial::{At, denial};

#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub id: SubscriptionId,
    pub name: String,
    pub assignments: Vec<MyAssignment>,
    pub access: Access,
    /// Empty when the user may not view sites (site-scoped users).
    pub sites: Vec<Site>,
}

impl Tenant {
    pub fn new(mine: &MySubscription, sites: Vec<Site>) -> Self {
        Tenant {
            id: mine.id.clone(),
            name: mine.name.to_string(),
            assignments: mine.assignments.clone(),
            access: access_of(mine),
            sites,
        }
    }

    pub fn site_name(&self, id: &SiteId) -> String {
        self.sites
            .iter()
            .find(|site| &site.id == id)
            .map(|site| site.display_name.to_string())
            .unwrap_or_else(|| format!("site {id}"))
    }

    /// Why the user may not do what `needs` allows at `at`; `None` if they may.
    pub fn denial(&self, needs: PermissionSet, at: &At) -> Option<String> {
        denial(&self.access, &self.assignments, needs, at, &|id| {
            self.site_name(id)
        })
    }
}

/// The access the server computes for this user in this subscription.
pub fn access_of(mine: &MySubscription) -> Access {
    Access::from_grants(mine.assignments.iter().map(MyAssignment::grant))
}

/// What the shell provides: the tenant, and a way to reload its sites after a change.
#[derive(Debug, Clone, Copy)]
pub struct TenantContext {
    pub tenant: RwSignal<Option<Tenant>>,
    pub sites_version: RwSignal<u32>,
}

impl TenantContext {
    pub fn reload_sites(&self) {
        self.sites_version.update(|v| *v += 1);
    }
}

/// The current tenant. Pages render only once the shell has loaded one, and it is
/// replaced, never removed, when the user switches subscription.
pub fn use_tenant() -> Signal<Tenant> {
    let context = expect_context::<TenantContext>();
    Signal::derive(move || {
        context
            .tenant
            .get()
            .expect("pages render only under a loaded tenant")
    })
}

pub fn use_tenant_context() -> TenantContext {
    expect_context::<TenantContext>()
}
