//! Sites and zones: `/subscriptions/{sub}/sites` and `.../sites/{site}/zones`.
//!
//! Both need `view_sites_and_sensors` / `modify_sites_and_sensors` at subscription
//! scope: a caller holding only site-scope assignments gets `403`.
//!
//! The rules this area keeps (each enforced by a store condition, never by a read
//! followed by a blind write):
//! - A site's display name is unique in its subscription, ignoring case
//!   (`shared::model::name_key`): a `keys::site_name` item created with `MustNotExist`
//!   in the transaction that creates or renames the site (`409` when taken).
//! - "Enterprise network" is reserved for the site every Enterprise IoT sensor lands
//!   in. It has a fixed id (`ENTERPRISE_NETWORK_SITE_ID`), is created only by
//!   [`ensure_enterprise_network_site`] (race-free: `MustNotExist` on the fixed key),
//!   and cannot be renamed. People cannot create or rename a site to that name (`409`).
//! - A zone's name is unique in its site, ignoring case; a site has at most
//!   `MAX_ZONES_PER_SITE` zones. Zone creations at one site are serialized through the
//!   site's `keys::site_usage` item (rewritten with `VersionIs`), so two concurrent
//!   creations of one name cannot both succeed.
//! - Deleting a site is `409` while sensors are counted at it (see
//!   [`sensor_count_writes`]) or while it holds a device (devices have a `DELETE`; one
//!   item of the site's device partition is read). Its zones, which hold nothing but
//!   names (the contract has no zone `DELETE`), and the site-scope role assignments at
//!   it are deleted with it in the same transaction. A zone or sensor added at the same
//!   moment changes the usage item, an assignment made at the same moment changes the
//!   subscription's policy item: either fails one of the two transactions, no orphans.
//!   Its alerts stay, as history (`docs/data-model.md`, "Sites and zones").
//!
//! NOTE (until the sensors area is merged): the sensor count is only as good as the
//! sensors area's use of [`sensor_count_writes`] in its onboarding, move and deletion
//! transactions. Until it does, deleting a site checks nothing about sensors.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use shared::api::{AuditActor, CreateSite, CreateZone, Page, PageRequest, Site, UpdateSite, Zone};
use shared::authz::{Permission, Principal, RoleAssignment, Target};
use shared::model::{
    DisplayName, ENTERPRISE_NETWORK_SITE_ID, ENTERPRISE_NETWORK_SITE_NAME, MAX_ZONES_PER_SITE,
    SiteId, SiteOwners, SubscriptionId, Tags, ZoneId, is_reserved_site_name, name_key,
};
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{self, Authorized};
use crate::audit;
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{Body, json};
use crate::http::params::{IfMatch, Params, json_with_etag};
use crate::http::principal::Caller;
use crate::ids;
use crate::keys;
use crate::openapi::{
    CreateErrors, DeleteErrors, IfMatchHeader, InSubscription, ListErrors, ReadErrors, UpdateErrors,
};
use crate::rbac;
use crate::records::{self, SiteNameRecord, SiteUsageRecord, SubscriptionRecord};
use crate::store::{
    Condition, MAX_TRANSACTION_OPS, Query, SortKeyRange, StoreError, Table, TableRead, Write,
};

/// How often a read-modify-write is retried after losing a race (without `If-Match`).
const ATTEMPTS: usize = 5;
/// Deleting a site also rewrites the subscription's policy, which every role change
/// rewrites too: it backs off and tries as often as a policy change does.
const DELETE_ATTEMPTS: u32 = 32;
/// The place of the policy's write in a site deletion's transaction.
const POLICY_WRITE: usize = 3;

/// The sites routes, with their document.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sites, create_site))
        .routes(routes!(get_site, update_site, delete_site))
        .routes(routes!(list_zones, create_zone))
}

/// The sites function's routes.
pub fn router() -> Router<AppState> {
    routes().into()
}

// ----- Handlers -----

/// Lists the subscription's sites.
///
/// Needs `view_sites_and_sensors` at subscription scope (site-scoped callers get `403`).
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/sites",
    tag = "sites",
    params(InSubscription, PageRequest),
    responses(
        (status = 200, description = "A page of sites", body = Page<Site>),
        ListErrors,
    )
)]
async fn list_sites(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    page: Params<PageRequest>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    authorized.require(Permission::ViewSitesAndSensors, Target::Subscription)?;
    let page = page.get()?;
    let limit = page
        .limit()
        .map_err(|e| ApiError::invalid_field("limit", e))?;
    let found = table
        .query(&Query {
            cursor: page.cursor,
            ..keys::sites_query(&authorized.subscription.id, limit)
        })
        .await?;
    Ok(json(StatusCode::OK, &records::page::<Site>(found)?))
}

/// Adds a site.
///
/// Needs `modify_sites_and_sensors` at subscription scope (site-scoped callers get `403`).
/// A display name is unique in the subscription, ignoring case, and "Enterprise
/// network" is reserved (`409`).
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/sites",
    tag = "sites",
    params(InSubscription),
    request_body = CreateSite,
    responses(
        (status = 201, description = "The new site", body = Site,
            headers(("ETag" = String, description = "The site's version, for If-Match"))),
        CreateErrors,
    )
)]
async fn create_site(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    authorized.require(Permission::ModifySitesAndSensors, Target::Subscription)?;
    let request: CreateSite = body.parse()?;
    if is_reserved_site_name(&request.display_name) {
        return Err(reserved_name());
    }
    let site = Site {
        id: SiteId::parse(ids::new()).map_err(|e| ApiError::Internal(e.to_string()))?,
        display_name: request.display_name,
        tags: request.tags,
        owners: request.owners,
    };
    let subscription = &authorized.subscription.id;
    let version = insert_site(table.as_ref(), subscription, &site, actor(&principal))
        .await?
        .ok_or_else(|| duplicate_site_name(&site.display_name))?;
    Ok(json_with_etag(StatusCode::CREATED, &site, version))
}

/// Reads one site.
///
/// Needs `view_sites_and_sensors` at subscription scope (site-scoped callers get `403`).
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/sites/{site}",
    tag = "sites",
    params(InSubscription, ("site" = inline(shared::model::SiteId), Path, description = "The site's id")),
    responses(
        (status = 200, description = "The site", body = Site,
            headers(("ETag" = String, description = "The site's version, for If-Match"))),
        ReadErrors,
    )
)]
async fn get_site(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, site)): Path<(String, String)>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let (site, version) = read_site(table.as_ref(), &authorized, &site).await?;
    authorized.require(Permission::ViewSitesAndSensors, Target::Subscription)?;
    Ok(json_with_etag(StatusCode::OK, &site, version))
}

/// Changes a site: each given field replaces the old one whole.
///
/// Needs `modify_sites_and_sensors` at subscription scope (site-scoped callers get `403`).
/// A taken or reserved display name is `409`.
#[utoipa::path(
    patch,
    path = "/api/subscriptions/{sub}/sites/{site}",
    tag = "sites",
    params(InSubscription, ("site" = inline(shared::model::SiteId), Path, description = "The site's id"), IfMatchHeader),
    request_body = UpdateSite,
    responses(
        (status = 200, description = "The changed site", body = Site,
            headers(("ETag" = String, description = "The site's version, for If-Match"))),
        UpdateErrors,
    )
)]
async fn update_site(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, raw_site)): Path<(String, String)>,
    if_match: IfMatch,
    body: Body,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let (mut current, mut version) = read_site(table.as_ref(), &authorized, &raw_site).await?;
    authorized.require(Permission::ModifySitesAndSensors, Target::Subscription)?;
    let request: UpdateSite = body.parse()?;
    let subscription = &authorized.subscription.id;
    for _ in 0..ATTEMPTS {
        if_match.check(version)?;
        let updated = updated_site(&current, &request)?;
        if updated == current {
            return Ok(json_with_etag(StatusCode::OK, &current, version));
        }
        let old_name = name_key(&current.display_name);
        let new_name = name_key(&updated.display_name);
        let mut writes = vec![Write::Put {
            item: records::item(keys::site(subscription, &current.id), &updated)?,
            condition: Condition::VersionIs(version),
        }];
        let renamed = old_name != new_name;
        if renamed {
            writes.push(Write::Delete {
                key: keys::site_name(subscription, &old_name),
                condition: Condition::Always,
            });
            writes.push(name_guard(subscription, &updated)?);
        }
        writes.push(
            audit::Change {
                actor: actor(&principal),
                action: "site.update",
                subscription,
                site: Some(&current.id),
                target: current.id.as_str(),
            }
            .write(
                OffsetDateTime::now_utc(),
                audit::snapshot(&current),
                audit::snapshot(&updated),
            )?,
        );
        match table.transact(writes).await {
            Ok(versions) => return Ok(json_with_etag(StatusCode::OK, &updated, versions[0])),
            Err(StoreError::ConditionFailed { index: 0 }) => {
                if if_match != IfMatch::Any {
                    return Err(ApiError::PreconditionFailed);
                }
                (current, version) = read_site(table.as_ref(), &authorized, &raw_site).await?;
            }
            Err(StoreError::ConditionFailed { index: 2 }) if renamed => {
                return Err(duplicate_site_name(&updated.display_name));
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(busy())
}

/// Deletes a site with its zones and its site-scope role assignments.
///
/// Needs `modify_sites_and_sensors` at subscription scope (site-scoped callers get `403`).
/// `409` while sensors or devices are at the site. Its alerts stay, as history.
#[utoipa::path(
    delete,
    path = "/api/subscriptions/{sub}/sites/{site}",
    tag = "sites",
    params(InSubscription, ("site" = inline(shared::model::SiteId), Path, description = "The site's id"), IfMatchHeader),
    responses(
        (status = 204, description = "Deleted"),
        DeleteErrors,
    )
)]
// In one transaction: the site, its name, its usage, its zones and the subscription's
// policy rewritten `VersionIs` the version read (with the memberships of principals left
// without an assignment), with one audit entry whose `before` lists the assignments
// removed (see `docs/data-model.md`).
async fn delete_site(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, raw_site)): Path<(String, String)>,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let table = table.as_ref();
    let mut authorized = access::authorize(table, &principal, &sub).await?;
    let (mut site, mut version) = read_site(table, &authorized, &raw_site).await?;
    authorized.require(Permission::ModifySitesAndSensors, Target::Subscription)?;
    for attempt in 0..DELETE_ATTEMPTS {
        if_match.check(version)?;
        let subscription = &authorized.subscription.id;
        let (usage, usage_version) = read_usage(table, subscription, &site.id).await?;
        if usage.sensors > 0 {
            return Err(ApiError::Conflict(format!(
                "site {} still has {} sensor(s): delete or move them first",
                site.id, usage.sensors
            )));
        }
        if holds_devices(table, subscription, &site.id).await? {
            return Err(ApiError::Conflict(format!(
                "site {} still holds devices: delete them first",
                site.id
            )));
        }
        let zones = all_zones(table, subscription, &site.id).await?;
        let (policy, removed) = without_site_assignments(&authorized.subscription, &site.id);
        // Even with nothing to remove, the policy must not change meanwhile: an
        // assignment made at this site now would outlive it.
        let (policy_write, head_write) = if removed.is_empty() {
            let check = Write::Check {
                key: keys::subscription(subscription),
                condition: Condition::VersionIs(authorized.version),
            };
            (check, None)
        } else {
            let [put, head] = access::policy_writes(&policy, Some(authorized.version))?;
            (put, Some(head))
        };
        let mut writes = vec![
            Write::Delete {
                key: keys::site(subscription, &site.id),
                condition: Condition::VersionIs(version),
            },
            Write::Delete {
                key: keys::site_name(subscription, &name_key(&site.display_name)),
                condition: Condition::Always,
            },
            match usage_version {
                Some(usage_version) => Write::Delete {
                    key: keys::site_usage(subscription, &site.id),
                    condition: Condition::VersionIs(usage_version),
                },
                None => Write::Check {
                    key: keys::site_usage(subscription, &site.id),
                    condition: Condition::MustNotExist,
                },
            },
            policy_write,
        ];
        writes.extend(head_write);
        debug_assert_eq!(
            writes[POLICY_WRITE].key(),
            &keys::subscription(subscription)
        );
        writes.extend(rbac::membership_writes(&authorized.subscription, &policy)?);
        writes.extend(zones.iter().map(|zone| Write::Delete {
            key: keys::zone(subscription, &site.id, &zone.id),
            condition: Condition::MustExist,
        }));
        writes.push(
            audit::Change {
                actor: actor(&principal),
                action: "site.delete",
                subscription,
                site: Some(&site.id),
                target: site.id.as_str(),
            }
            .write(
                OffsetDateTime::now_utc(),
                audit::snapshot(&DeletedSite {
                    site: &site,
                    role_assignments: &removed,
                }),
                None,
            )?,
        );
        if writes.len() > MAX_TRANSACTION_OPS {
            return Err(ApiError::Conflict(format!(
                "site {} has too many zones and site-scoped members to delete in one step; \
                 remove some of its role assignments first",
                site.id
            )));
        }
        match table.transact(writes).await {
            Ok(_) => return Ok(StatusCode::NO_CONTENT.into_response()),
            Err(StoreError::ConditionFailed { index: 0 }) if if_match != IfMatch::Any => {
                return Err(ApiError::PreconditionFailed);
            }
            Err(StoreError::ConditionFailed { index }) => {
                // The site, its usage, its zones or the policy changed meanwhile: read
                // again (after a policy change, what the caller may do too) and retry.
                crate::contention::back_off(attempt).await;
                if index == POLICY_WRITE {
                    authorized = access::authorize(table, &principal, &sub).await?;
                    authorized.require(Permission::ModifySitesAndSensors, Target::Subscription)?;
                }
                (site, version) = read_site(table, &authorized, &raw_site).await?;
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(busy())
}

/// Lists a site's zones.
///
/// Needs `view_sites_and_sensors` at subscription scope (site-scoped callers get `403`).
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/sites/{site}/zones",
    tag = "sites",
    params(InSubscription, ("site" = inline(shared::model::SiteId), Path, description = "The site's id"), PageRequest),
    responses(
        (status = 200, description = "A page of zones", body = Page<Zone>),
        ListErrors,
    )
)]
async fn list_zones(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, site)): Path<(String, String)>,
    page: Params<PageRequest>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let (site, _) = read_site(table.as_ref(), &authorized, &site).await?;
    authorized.require(Permission::ViewSitesAndSensors, Target::Subscription)?;
    let page = page.get()?;
    let limit = page
        .limit()
        .map_err(|e| ApiError::invalid_field("limit", e))?;
    let found = table
        .query(&zones_query(
            &authorized.subscription.id,
            &site.id,
            limit,
            page.cursor,
        ))
        .await?;
    Ok(json(StatusCode::OK, &records::page::<Zone>(found)?))
}

/// Adds a zone to a site.
///
/// Needs `modify_sites_and_sensors` at subscription scope (site-scoped callers get `403`).
/// A zone name is unique in its site, ignoring case, and a site has a bounded number
/// of zones (`409`).
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/sites/{site}/zones",
    tag = "sites",
    params(InSubscription, ("site" = inline(shared::model::SiteId), Path, description = "The site's id")),
    request_body = CreateZone,
    responses(
        (status = 201, description = "The new zone", body = Zone,
            headers(("ETag" = String, description = "The zone's version, for If-Match"))),
        CreateErrors,
    )
)]
async fn create_zone(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, site)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let (site, _) = read_site(table.as_ref(), &authorized, &site).await?;
    authorized.require(Permission::ModifySitesAndSensors, Target::Subscription)?;
    let request: CreateZone = body.parse()?;
    let subscription = &authorized.subscription.id;
    let zone = Zone {
        id: ZoneId::parse(ids::new()).map_err(|e| ApiError::Internal(e.to_string()))?,
        site_id: site.id.clone(),
        name: request.name,
    };
    for _ in 0..ATTEMPTS {
        // The usage item is read before the zones: a zone added after this read
        // changes it, failing the transaction below.
        let (usage, usage_version) = read_usage(table.as_ref(), subscription, &site.id).await?;
        let zones = all_zones(table.as_ref(), subscription, &site.id).await?;
        if zones
            .iter()
            .any(|other| name_key(&other.name) == name_key(&zone.name))
        {
            return Err(ApiError::Conflict(format!(
                "site {} already has a zone named '{}'",
                site.id, zone.name
            )));
        }
        if zones.len() >= MAX_ZONES_PER_SITE {
            return Err(ApiError::Conflict(format!(
                "site {} already has the most zones a site may have ({MAX_ZONES_PER_SITE})",
                site.id
            )));
        }
        let usage = SiteUsageRecord {
            zones: u32::try_from(zones.len() + 1).unwrap_or(u32::MAX),
            ..usage
        };
        let writes = vec![
            Write::Check {
                key: keys::site(subscription, &site.id),
                condition: Condition::MustExist,
            },
            usage_write(subscription, &site.id, &usage, usage_version)?,
            Write::Put {
                item: records::item(keys::zone(subscription, &site.id, &zone.id), &zone)?,
                condition: Condition::MustNotExist,
            },
            audit::Change {
                actor: actor(&principal),
                action: "zone.create",
                subscription,
                site: Some(&site.id),
                target: zone.id.as_str(),
            }
            .write(OffsetDateTime::now_utc(), None, audit::snapshot(&zone))?,
        ];
        match table.transact(writes).await {
            Ok(versions) => return Ok(json_with_etag(StatusCode::CREATED, &zone, versions[2])),
            Err(StoreError::ConditionFailed { index: 0 }) => return Err(no_such_site()),
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(busy())
}

// ----- For other areas -----

/// The site every Enterprise IoT sensor lands in, created on first use: returns it if
/// it exists, else creates it (with its audit entry, by `actor`). Race-free: the site
/// has a fixed id written with `MustNotExist`, so of concurrent first onboardings one
/// creates it and the others read it.
pub async fn ensure_enterprise_network_site(
    table: &dyn Table,
    subscription: &SubscriptionId,
    actor: AuditActor,
) -> ApiResult<Site> {
    let id =
        SiteId::parse(ENTERPRISE_NETWORK_SITE_ID).map_err(|e| ApiError::Internal(e.to_string()))?;
    for _ in 0..ATTEMPTS {
        if let Some(item) = table.get(&keys::site(subscription, &id)).await? {
            return records::decode(&item);
        }
        let site = Site {
            id: id.clone(),
            display_name: DisplayName::parse(ENTERPRISE_NETWORK_SITE_NAME)
                .map_err(|e| ApiError::Internal(e.to_string()))?,
            tags: Tags::default(),
            owners: SiteOwners::default(),
        };
        if insert_site(table, subscription, &site, actor.clone())
            .await?
            .is_some()
        {
            return Ok(site);
        }
        // Created by a concurrent request: read it on the next round.
    }
    Err(busy())
}

/// A change of the number of sensors at a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SensorCountChange {
    /// A sensor was onboarded at, or moved to, the site.
    Added,
    /// A sensor was deleted at, or moved away from, the site.
    Removed,
}

/// For the sensors area: the writes that keep a site's sensor count, to put in the
/// SAME transaction as the sensor's creation, move or deletion. With
/// [`SensorCountChange::Added`] they also require the site to exist (`404` now if it
/// does not). If that transaction fails on one of these writes (the site was deleted,
/// or another zone or sensor changed the count meanwhile), read again and retry.
/// Deleting a site is refused (`409`) while its count is above zero.
pub async fn sensor_count_writes(
    table: &dyn TableRead,
    subscription: &SubscriptionId,
    site: &SiteId,
    change: SensorCountChange,
) -> ApiResult<Vec<Write>> {
    let (usage, usage_version) = read_usage(table, subscription, site).await?;
    let mut writes = Vec::with_capacity(2);
    let sensors = match change {
        SensorCountChange::Added => {
            if table.get(&keys::site(subscription, site)).await?.is_none() {
                return Err(no_such_site());
            }
            writes.push(Write::Check {
                key: keys::site(subscription, site),
                condition: Condition::MustExist,
            });
            usage.sensors.saturating_add(1)
        }
        SensorCountChange::Removed => usage.sensors.saturating_sub(1),
    };
    let usage = SiteUsageRecord { sensors, ..usage };
    writes.push(usage_write(subscription, site, &usage, usage_version)?);
    Ok(writes)
}

// ----- Helpers -----

/// A deleted site as the audit log keeps it: the site, and the site-scope role
/// assignments deleted with it.
#[derive(Serialize)]
struct DeletedSite<'a> {
    #[serde(flatten)]
    site: &'a Site,
    role_assignments: &'a [RoleAssignment],
}

/// The subscription's policy without the assignments at `site`, and those assignments.
fn without_site_assignments(
    subscription: &SubscriptionRecord,
    site: &SiteId,
) -> (SubscriptionRecord, Vec<RoleAssignment>) {
    let (removed, kept) = subscription
        .assignments
        .iter()
        .cloned()
        .partition(|assignment| assignment.scope.site_id() == Some(site));
    let policy = SubscriptionRecord {
        assignments: kept,
        ..subscription.clone()
    };
    (policy, removed)
}

/// Whether any device is at `site`: one item of its device partition, no more.
async fn holds_devices(
    table: &dyn TableRead,
    subscription: &SubscriptionId,
    site: &SiteId,
) -> ApiResult<bool> {
    let found = table
        .query(&Query {
            limit: 1,
            ..Query::partition(keys::device_partition(subscription, site))
        })
        .await?;
    Ok(!found.items.is_empty())
}

fn actor(principal: &Principal) -> AuditActor {
    AuditActor::User {
        email: principal.email.clone(),
    }
}

fn no_such_site() -> ApiError {
    ApiError::NotFound("no such site".into())
}

fn reserved_name() -> ApiError {
    ApiError::Conflict(format!(
        "display_name '{ENTERPRISE_NETWORK_SITE_NAME}' is reserved for the site Enterprise IoT sensors land in"
    ))
}

fn duplicate_site_name(name: &DisplayName) -> ApiError {
    ApiError::Conflict(format!(
        "a site named '{name}' already exists in this subscription"
    ))
}

fn busy() -> ApiError {
    ApiError::Conflict("the site was changed repeatedly by other requests; try again".into())
}

/// A site of the authorized subscription; a malformed id is no such site (`404`).
async fn read_site(
    table: &dyn TableRead,
    authorized: &Authorized,
    raw_site: &str,
) -> ApiResult<(Site, u64)> {
    let id = SiteId::parse(raw_site).map_err(|_| no_such_site())?;
    let site = records::read(table, &keys::site(&authorized.subscription.id, &id))
        .await?
        .ok_or_else(no_such_site)?;
    Ok((site.record, site.version))
}

/// Creates a site and claims its name, with the audit entry, in one transaction.
/// `None`: the id or the name is taken.
async fn insert_site(
    table: &dyn Table,
    subscription: &SubscriptionId,
    site: &Site,
    actor: AuditActor,
) -> ApiResult<Option<u64>> {
    let writes = vec![
        Write::Put {
            item: records::item(keys::site(subscription, &site.id), site)?,
            condition: Condition::MustNotExist,
        },
        name_guard(subscription, site)?,
        audit::Change {
            actor,
            action: "site.create",
            subscription,
            site: Some(&site.id),
            target: site.id.as_str(),
        }
        .write(OffsetDateTime::now_utc(), None, audit::snapshot(site))?,
    ];
    match table.transact(writes).await {
        Ok(versions) => Ok(Some(versions[0])),
        Err(StoreError::ConditionFailed { .. }) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// The write claiming `site`'s display name in the subscription.
fn name_guard(subscription: &SubscriptionId, site: &Site) -> ApiResult<Write> {
    Ok(Write::Put {
        item: records::item(
            keys::site_name(subscription, &name_key(&site.display_name)),
            &SiteNameRecord {
                site_id: site.id.clone(),
            },
        )?,
        condition: Condition::MustNotExist,
    })
}

/// The site after a `PATCH`: each given field replaces the old one whole.
fn updated_site(current: &Site, request: &UpdateSite) -> ApiResult<Site> {
    let mut site = current.clone();
    if let Some(name) = &request.display_name {
        let is_enterprise_network = current.id.as_str() == ENTERPRISE_NETWORK_SITE_ID;
        if is_enterprise_network && *name != current.display_name {
            return Err(ApiError::Conflict(format!(
                "the '{ENTERPRISE_NETWORK_SITE_NAME}' site cannot be renamed"
            )));
        }
        if !is_enterprise_network && is_reserved_site_name(name) {
            return Err(reserved_name());
        }
        site.display_name = name.clone();
    }
    if let Some(tags) = &request.tags {
        site.tags = tags.clone();
    }
    if let Some(owners) = &request.owners {
        site.owners = owners.clone();
    }
    Ok(site)
}

/// A site's usage and its stored version (`None`: never written, all zero).
async fn read_usage(
    table: &dyn TableRead,
    subscription: &SubscriptionId,
    site: &SiteId,
) -> ApiResult<(SiteUsageRecord, Option<u64>)> {
    match table.get(&keys::site_usage(subscription, site)).await? {
        Some(item) => Ok((records::decode(&item)?, Some(item.version))),
        None => Ok((SiteUsageRecord::default(), None)),
    }
}

/// Rewrites a site's usage, conditional on the version it was read at.
fn usage_write(
    subscription: &SubscriptionId,
    site: &SiteId,
    usage: &SiteUsageRecord,
    read_version: Option<u64>,
) -> ApiResult<Write> {
    Ok(Write::Put {
        item: records::item(keys::site_usage(subscription, site), usage)?,
        condition: read_version.map_or(Condition::MustNotExist, Condition::VersionIs),
    })
}

fn zones_query(
    subscription: &SubscriptionId,
    site: &SiteId,
    limit: u32,
    cursor: Option<String>,
) -> Query {
    Query {
        range: SortKeyRange::BeginsWith(keys::zone_prefix(site)),
        limit,
        cursor,
        ..Query::partition(keys::subscription_partition(subscription))
    }
}

/// Every zone of a site (at most `MAX_ZONES_PER_SITE`, so one page in practice).
async fn all_zones(
    table: &dyn TableRead,
    subscription: &SubscriptionId,
    site: &SiteId,
) -> ApiResult<Vec<Zone>> {
    records::read_all(table, zones_query(subscription, site, 500, None)).await
}
