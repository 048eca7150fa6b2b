//! Devices: the inventory — list, read, edit, delete, CSV export; and what sensor
//! ingest does with observed devices ([`ingest`], called by `ingest.rs`).
//!
//! Devices are site-scoped: `view_devices` at a device's site to see it (else `404`),
//! `manage_devices` there to edit or delete it (else `403`).
//! Key design: `docs/data-model.md`, "Alerts and devices".

pub mod retention;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use shared::api::{
    AuditActor, DEVICE_EXPORT_COLUMNS, DeviceCounts, DeviceFilter, MergeDevices, Page, PageRequest,
    UpdateDevice, device_export_row,
};
use shared::authz::{Permission, SiteFilter, Target};
use shared::model::{Device, DeviceId, ObservedDevice, SensorLocation, SiteId, SubscriptionId};
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
use crate::http::sensor::SensorTokenRecord;
use crate::ids;
use crate::keys;
use crate::merged::{self, Order, Source};
use crate::openapi::{
    DeleteErrors, IfMatchHeader, InSubscription, ListErrors, NotFound, Unauthenticated,
    UpdateErrors,
};
use crate::records::{self, DeviceIdentityRecord, Versioned};
use crate::store::{
    Condition, Index, Item, Key, MAX_TRANSACTION_OPS, Query, SortKeyRange, StoreError, Table,
    TableRead, Write,
};

/// The devices routes, with their document.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_devices))
        .routes(routes!(export_devices))
        .routes(routes!(count_devices))
        .routes(routes!(merge_devices))
        .routes(routes!(get_device, update_device, delete_device))
}

/// The devices function's routes.
pub fn router() -> Router<AppState> {
    routes().into()
}

/// How often a write that lost a race is re-read and retried before giving up.
const MAX_ATTEMPTS: usize = 8;
/// Page size of the export's internal reads.
const EXPORT_PAGE: u32 = 500;

// ----- Stored devices -----

/// A device as stored: in its site's partition (`keys::device`), and in the
/// subscription's device index (GSI1) to be found by id.
pub fn device_item(subscription: &SubscriptionId, device: &Device) -> ApiResult<Item> {
    let mut item = records::item(
        keys::device(subscription, &device.site_id, &device.id),
        device,
    )?;
    item.gsi1 = Some(keys::device_in_subscription(subscription, &device.id));
    Ok(item)
}

/// A stored device and the version it was read at.
type Stored = Versioned<Device>;

fn no_such_device() -> ApiError {
    ApiError::NotFound("no such device".into())
}

/// The device `raw_id` if it exists and the caller may view it at its site; `404`
/// alike otherwise. Found by id in the subscription's index, then read from the table
/// (strongly consistent: the version is the one a conditional write checks).
async fn visible_device(
    table: &dyn TableRead,
    authorized: &Authorized,
    raw_id: &str,
) -> ApiResult<Stored> {
    let id = DeviceId::parse(raw_id).map_err(|_| no_such_device())?;
    let subscription = &authorized.subscription.id;
    let found = table
        .query(&Query {
            index: Some(Index::Gsi1),
            range: SortKeyRange::Between(id.as_str().to_owned(), id.as_str().to_owned()),
            limit: 1,
            ..Query::partition(keys::devices_of_subscription(subscription))
        })
        .await?;
    let indexed = found.items.into_iter().next().ok_or_else(no_such_device)?;
    let item = table.get(&indexed.key).await?.ok_or_else(no_such_device)?;
    let device: Device = records::decode(&item)?;
    let viewable = authorized
        .access
        .decide(Permission::ViewDevices, Target::Site(&device.site_id))
        .is_allowed();
    if !viewable || device.id != id {
        return Err(no_such_device());
    }
    Ok(Stored {
        record: device,
        version: item.version,
    })
}

// ----- List and export -----

/// The partitions holding the devices a caller may view: the subscription's index
/// when they view every site and name none, else one partition per permitted site.
fn device_sources(
    subscription: &SubscriptionId,
    sites: &SiteFilter<'_>,
    site: Option<&SiteId>,
) -> Vec<Source> {
    let of_site = |site: &SiteId| Source {
        index: None,
        pk: keys::device_partition(subscription, site),
    };
    match (site, sites) {
        (Some(site), _) => vec![of_site(site)],
        (None, SiteFilter::All) => vec![Source {
            index: Some(Index::Gsi1),
            pk: keys::devices_of_subscription(subscription),
        }],
        (None, SiteFilter::Only(sites)) => sites.iter().map(|site| of_site(site)).collect(),
        (None, SiteFilter::None) => Vec::new(),
    }
}

/// `403` unless the caller views devices somewhere (and at the site asked for).
fn viewable_sources(authorized: &Authorized, site: Option<&SiteId>) -> ApiResult<Vec<Source>> {
    let sites = authorized.access.sites_with(Permission::ViewDevices);
    if let Some(site) = site {
        authorized.require(Permission::ViewDevices, Target::Site(site))?;
    }
    Ok(device_sources(&authorized.subscription.id, &sites, site))
}

fn require_view_somewhere(authorized: &Authorized) -> ApiResult<()> {
    authorized.sites_with_some(Permission::ViewDevices)?;
    Ok(())
}

/// Whether a stored device passes `filter`'s checks beyond its site. Checked on the
/// items read: a page may come back shorter than `limit` (its cursor moves past all
/// it examined), so a page's cost never grows with what the filters exclude.
fn keeps(filter: &DeviceFilter, now: OffsetDateTime) -> impl Fn(&Item) -> ApiResult<bool> + '_ {
    move |item| {
        if filter.is_site_only() {
            return Ok(true);
        }
        Ok(filter.keeps(&records::decode::<Device>(item)?, now))
    }
}

/// Lists the device inventory, filtered by site, zone, type, vendor, authorization,
/// inactivity and text in the name or addresses.
///
/// Only devices at sites where the caller holds `view_devices` (`403` if none, or for
/// a `site_id` where the caller lacks it).
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/devices",
    tag = "devices",
    params(InSubscription, DeviceFilter, PageRequest),
    responses(
        (status = 200, description = "A page of devices", body = Page<Device>),
        ListErrors,
    )
)]
async fn list_devices(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    filter: Params<DeviceFilter>,
    page: Params<PageRequest>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    require_view_somewhere(&authorized)?;
    let filter = filter.get()?;
    let page = page.get()?;
    let limit = page
        .limit()
        .map_err(|e| ApiError::invalid_field("limit", e))?;
    let sources = viewable_sources(&authorized, filter.site_id.as_ref())?;
    let found = merged::merged_page(
        &table,
        sources,
        Order::Ascending,
        page.cursor.as_deref(),
        limit,
        keeps(&filter, OffsetDateTime::now_utc()),
    )
    .await?;
    let items = found
        .items
        .iter()
        .map(records::decode::<Device>)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(json(
        StatusCode::OK,
        &Page {
            items,
            next_cursor: found.next_cursor,
        },
    ))
}

/// Calls `each` with every device of `sources` that `filter` keeps, in list order.
async fn each_matching(
    table: &Arc<dyn Table>,
    sources: Vec<Source>,
    filter: &DeviceFilter,
    mut each: impl FnMut(Device) -> ApiResult<()>,
) -> ApiResult<()> {
    let now = OffsetDateTime::now_utc();
    let mut cursor: Option<String> = None;
    loop {
        let page = merged::merged_page(
            table,
            sources.clone(),
            Order::Ascending,
            cursor.as_deref(),
            EXPORT_PAGE,
            keeps(filter, now),
        )
        .await?;
        for item in &page.items {
            each(records::decode(item)?)?;
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            return Ok(());
        }
    }
}

/// Counts the devices the filters match, in total and per site, zone, type, vendor
/// and authorization: what the inventory shows above and in its groups.
///
/// Authorized as the list (`view_devices`; only the caller's sites are read and
/// counted). Reads the devices of those sites, as the export does: its cost grows with
/// the devices the caller may see, never with other sites'.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/devices/counts",
    tag = "devices",
    params(InSubscription, DeviceFilter),
    responses(
        (status = 200, description = "How many devices the filters match, per group", body = DeviceCounts),
        ListErrors,
    )
)]
async fn count_devices(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    filter: Params<DeviceFilter>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    require_view_somewhere(&authorized)?;
    let filter = filter.get()?;
    let sources = viewable_sources(&authorized, filter.site_id.as_ref())?;
    let mut matched = Vec::new();
    each_matching(&table, sources, &filter, |device| {
        matched.push(device);
        Ok(())
    })
    .await?;
    Ok(json(StatusCode::OK, &DeviceCounts::tally(&matched)))
}

/// Exports the devices the caller may view as CSV, filtered as the list is.
///
/// Needs `view_devices` at some site; only devices at such sites are exported. A header
/// row (id, name, type, vendor, ip, mac, site, zone, sensor, authorized, first seen
/// (UTC), last activity (UTC)), then one row per device.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/devices/export.csv",
    tag = "devices",
    params(InSubscription, DeviceFilter),
    responses(
        (status = 200, description = "The CSV file", content_type = "text/csv", body = String),
        ListErrors,
    )
)]
async fn export_devices(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    filter: Params<DeviceFilter>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    require_view_somewhere(&authorized)?;
    let filter = filter.get()?;
    let sources = viewable_sources(&authorized, filter.site_id.as_ref())?;
    let mut csv = csv::Writer::from_writer(Vec::new());
    let csv_failed = |e: csv::Error| ApiError::Internal(format!("writing CSV: {e}"));
    csv.write_record(DEVICE_EXPORT_COLUMNS)
        .map_err(csv_failed)?;
    each_matching(&table, sources, &filter, |device| {
        csv.write_record(device_export_row(&device))
            .map_err(csv_failed)
    })
    .await?;
    let body = csv
        .into_inner()
        .map_err(|e| ApiError::Internal(format!("writing CSV: {e}")))?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"devices.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

// ----- One device -----

/// Reads one device.
///
/// Needs `view_devices` at the device's site (else `404`).
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/devices/{id}",
    tag = "devices",
    params(InSubscription, ("id" = inline(shared::model::DeviceId), Path, description = "The device's id")),
    responses(
        (status = 200, description = "The device", body = Device,
            headers(("ETag" = String, description = "The device's version, for If-Match"))),
        (status = 401, response = Unauthenticated),
        (status = 404, response = NotFound),
    )
)]
async fn get_device(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let stored = visible_device(table.as_ref(), &authorized, &id).await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &stored.record,
        stored.version,
    ))
}

/// What a `PATCH` changes: the given fields replace the stored ones.
pub fn apply_update(device: &mut Device, update: &UpdateDevice) {
    if let Some(name) = &update.name {
        device.name = Some(name.clone());
    }
    if let Some(device_type) = &update.device_type {
        device.device_type = Some(device_type.clone());
    }
    if let Some(vendor) = &update.vendor {
        device.vendor = Some(vendor.clone());
    }
    if let Some(authorized) = update.authorized {
        device.authorized = authorized;
    }
}

fn user(principal: &shared::authz::Principal) -> AuditActor {
    AuditActor::User {
        email: principal.email.clone(),
    }
}

/// Changes a device's name, type, vendor or authorization.
///
/// Needs `manage_devices` at the device's site (else `403`); a device at a site where
/// the caller lacks `view_devices` is `404`.
#[utoipa::path(
    patch,
    path = "/api/subscriptions/{sub}/devices/{id}",
    tag = "devices",
    params(InSubscription, ("id" = inline(shared::model::DeviceId), Path, description = "The device's id"), IfMatchHeader),
    request_body = UpdateDevice,
    responses(
        (status = 200, description = "The changed device", body = Device,
            headers(("ETag" = String, description = "The device's version, for If-Match"))),
        UpdateErrors,
    )
)]
async fn update_device(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
    if_match: IfMatch,
    body: Body,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let mut current = visible_device(table.as_ref(), &authorized, &id).await?;
    authorized.require(
        Permission::ManageDevices,
        Target::Site(&current.record.site_id),
    )?;
    let update: UpdateDevice = body.parse()?;
    let subscription = &authorized.subscription.id;
    for _ in 0..MAX_ATTEMPTS {
        if_match.check(current.version)?;
        let mut device = current.record.clone();
        apply_update(&mut device, &update);
        if device == current.record {
            return Ok(json_with_etag(StatusCode::OK, &device, current.version));
        }
        let writes = vec![
            Write::Put {
                item: device_item(subscription, &device)?,
                condition: Condition::VersionIs(current.version),
            },
            audit::Change {
                actor: user(&principal),
                action: "device.update",
                subscription,
                site: Some(&device.site_id),
                target: device.id.as_str(),
            }
            .write(
                OffsetDateTime::now_utc(),
                audit::snapshot(&current.record),
                audit::snapshot(&device),
            )?,
        ];
        match table.transact(writes).await {
            Ok(versions) => return Ok(json_with_etag(StatusCode::OK, &device, versions[0])),
            // Another request changed or deleted the device after `If-Match` held.
            Err(StoreError::ConditionFailed { .. }) if if_match != IfMatch::Any => {
                return Err(ApiError::PreconditionFailed);
            }
            Err(StoreError::ConditionFailed { .. }) => {
                current = visible_device(table.as_ref(), &authorized, &id).await?;
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict(
        "the device kept changing while it was updated; try again".into(),
    ))
}

/// Deletes a device; a later observation of the same addresses makes a new one.
///
/// Needs `manage_devices` at the device's site (else `403`); a device at a site where
/// the caller lacks `view_devices` is `404`.
#[utoipa::path(
    delete,
    path = "/api/subscriptions/{sub}/devices/{id}",
    tag = "devices",
    params(InSubscription, ("id" = inline(shared::model::DeviceId), Path, description = "The device's id"), IfMatchHeader),
    responses(
        (status = 204, description = "Deleted"),
        DeleteErrors,
    )
)]
async fn delete_device(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let mut current = visible_device(table.as_ref(), &authorized, &id).await?;
    authorized.require(
        Permission::ManageDevices,
        Target::Site(&current.record.site_id),
    )?;
    let subscription = &authorized.subscription.id;
    for _ in 0..MAX_ATTEMPTS {
        if_match.check(current.version)?;
        let device = &current.record;
        let writes = vec![
            Write::Delete {
                key: keys::device(subscription, &device.site_id, &device.id),
                condition: Condition::VersionIs(current.version),
            },
            Write::Delete {
                key: keys::device_identity(subscription, &device.site_id, &device.identity().key()),
                condition: Condition::Always,
            },
            audit::Change {
                actor: user(&principal),
                action: "device.delete",
                subscription,
                site: Some(&device.site_id),
                target: device.id.as_str(),
            }
            .write(OffsetDateTime::now_utc(), audit::snapshot(device), None)?,
        ];
        match table.transact(writes).await {
            Ok(_) => return Ok(StatusCode::NO_CONTENT.into_response()),
            // Another request changed or deleted the device after `If-Match` held: the
            // version it names is stale (not a `404`: the device existed when checked).
            Err(StoreError::ConditionFailed { .. }) if if_match != IfMatch::Any => {
                return Err(ApiError::PreconditionFailed);
            }
            Err(StoreError::ConditionFailed { .. }) => {
                current = visible_device(table.as_ref(), &authorized, &id).await?;
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict(
        "the device kept changing while it was deleted; try again".into(),
    ))
}

/// Merges 2 to 10 devices at one site into one of them, the survivor: it keeps the
/// fields the request gives (its own otherwise), the earliest first seen and the latest
/// activity; the others are removed, and their identities now name the survivor, so a
/// later observation of their addresses updates it. One audit entry (`device.merge`)
/// holds every device before and the survivor after.
///
/// Needs `manage_devices` at the devices' site; a device the caller cannot view is
/// `404`; devices at different sites, or a survivor not among them, are `400`.
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/devices/merge",
    tag = "devices",
    params(InSubscription),
    request_body = MergeDevices,
    responses(
        (status = 200, description = "The survivor", body = Device,
            headers(("ETag" = String, description = "The survivor's version, for If-Match"))),
        UpdateErrors,
    )
)]
async fn merge_devices(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    require_view_somewhere(&authorized)?;
    let merge: MergeDevices = body.parse()?;
    if !merge.device_ids.contains(&merge.survivor_id) {
        return Err(ApiError::invalid_field(
            "survivor_id",
            "must be one of device_ids",
        ));
    }
    let subscription = &authorized.subscription.id;
    for _ in 0..MAX_ATTEMPTS {
        let mut stored = Vec::with_capacity(merge.device_ids.len());
        for id in &merge.device_ids {
            stored.push(visible_device(table.as_ref(), &authorized, id.as_str()).await?);
        }
        let site = stored[0].record.site_id.clone();
        if stored.iter().any(|s| s.record.site_id != site) {
            return Err(ApiError::invalid_field(
                "device_ids",
                "the devices are at different sites; only devices at one site merge",
            ));
        }
        authorized.require(Permission::ManageDevices, Target::Site(&site))?;
        let (survivor, absorbed): (Vec<&Stored>, Vec<&Stored>) = stored
            .iter()
            .partition(|s| s.record.id == merge.survivor_id);
        let survivor = survivor[0];
        let mut merged = survivor.record.clone();
        apply_update(&mut merged, &merge.kept_fields());
        for other in &absorbed {
            merged.first_seen = merged.first_seen.min(other.record.first_seen);
            merged.last_activity = merged.last_activity.max(other.record.last_activity);
        }
        let mut writes = vec![Write::Put {
            item: device_item(subscription, &merged)?,
            condition: Condition::VersionIs(survivor.version),
        }];
        for other in &absorbed {
            let device = &other.record;
            writes.push(Write::Delete {
                key: keys::device(subscription, &site, &device.id),
                condition: Condition::VersionIs(other.version),
            });
            writes.push(Write::Put {
                item: records::item(
                    keys::device_identity(subscription, &site, &device.identity().key()),
                    &DeviceIdentityRecord {
                        device_id: merged.id.clone(),
                    },
                )?,
                condition: Condition::Always,
            });
        }
        let before: Vec<&Device> = stored.iter().map(|s| &s.record).collect();
        writes.push(
            audit::Change {
                actor: user(&principal),
                action: "device.merge",
                subscription,
                site: Some(&site),
                target: merged.id.as_str(),
            }
            .write(
                OffsetDateTime::now_utc(),
                audit::snapshot(&before),
                audit::snapshot(&merged),
            )?,
        );
        match table.transact(writes).await {
            Ok(versions) => return Ok(json_with_etag(StatusCode::OK, &merged, versions[0])),
            // A device changed meanwhile (an observation, an edit): read them again.
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict(
        "the devices kept changing while they were merged; try again".into(),
    ))
}

// ----- Ingest -----

/// The observations of one batch with one merge identity, in the order sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservationGroup {
    pub identity: String,
    pub observations: Vec<ObservedDevice>,
}

/// Groups a batch by merge identity ([`shared::model::DeviceIdentity::key`]), in order
/// of first appearance.
pub fn group_observations(
    location: &SensorLocation,
    observed: Vec<ObservedDevice>,
) -> Vec<ObservationGroup> {
    let mut groups: Vec<ObservationGroup> = Vec::new();
    let mut by_identity: HashMap<String, usize> = HashMap::new();
    for observation in observed {
        let identity = Device::identity_of(&observation, location).key();
        match by_identity.get(&identity) {
            Some(&n) => groups[n].observations.push(observation),
            None => {
                by_identity.insert(identity.clone(), groups.len());
                groups.push(ObservationGroup {
                    identity,
                    observations: vec![observation],
                });
            }
        }
    }
    groups
}

/// The device a group of observations makes: `existing` merged with every
/// observation, or a new device from the first merged with the rest.
pub fn merge_group(
    existing: Option<&Device>,
    new_id: DeviceId,
    location: &SensorLocation,
    observations: &[ObservedDevice],
    now: OffsetDateTime,
) -> Option<Device> {
    let (mut device, rest) = match existing {
        Some(device) => (device.clone(), observations),
        None => {
            let (first, rest) = observations.split_first()?;
            (
                Device::first_observed(new_id, location.clone(), first, now),
                rest,
            )
        }
    };
    for observation in rest {
        device.merge(&location.sensor_id, observation, now);
    }
    Some(device)
}

/// Ingests a batch of one sensor's observed devices (`POST /ingest/devices`), merging
/// each into the inventory by (site, zone, ip, mac); returns how many were accepted
/// once everything is durably written.
///
/// Identities and devices are read at once; a new device is created with its identity
/// item (`MustNotExist`), a known one updated conditionally on the version read, up to
/// 100 writes per transaction; what loses a race is re-read and merged again.
pub async fn ingest(
    table: &Arc<dyn Table>,
    sensor: &SensorTokenRecord,
    observed: Vec<ObservedDevice>,
    now: OffsetDateTime,
) -> ApiResult<usize> {
    let accepted = observed.len();
    let subscription = &sensor.subscription_id;
    let location = SensorLocation {
        sensor_id: sensor.sensor_id.clone(),
        site_id: sensor.site_id.clone(),
        zone_id: sensor.zone_id.clone(),
    };
    let groups = group_observations(&location, observed);
    let identity_key = |group: &ObservationGroup| {
        keys::device_identity(subscription, &location.site_id, &group.identity)
    };
    let mut pending: Vec<usize> = (0..groups.len()).collect();
    for _ in 0..MAX_ATTEMPTS {
        if pending.is_empty() {
            return Ok(accepted);
        }
        let identity_keys: Vec<Key> = pending.iter().map(|&g| identity_key(&groups[g])).collect();
        let identities = table.get_many(&identity_keys).await?;
        let mut known: BTreeMap<usize, (DeviceId, u64)> = BTreeMap::new();
        for (&g, found) in pending.iter().zip(identities) {
            if let Some(item) = found {
                let record: DeviceIdentityRecord = records::decode(&item)?;
                known.insert(g, (record.device_id, item.version));
            }
        }
        let device_keys: Vec<Key> = known
            .values()
            .map(|(id, _)| keys::device(subscription, &location.site_id, id))
            .collect();
        let devices = table.get_many(&device_keys).await?;
        let mut existing: HashMap<usize, Stored> = HashMap::new();
        for (&g, found) in known.keys().zip(devices) {
            if let Some(item) = found {
                existing.insert(
                    g,
                    Stored {
                        record: records::decode(&item)?,
                        version: item.version,
                    },
                );
            }
        }

        // Each identity's writes, kept together in one transaction.
        let mut planned: Vec<(usize, Vec<Write>)> = Vec::new();
        for &g in &pending {
            let group = &groups[g];
            let stored = existing.get(&g);
            let new_id =
                DeviceId::parse(ids::new()).map_err(|e| ApiError::Internal(e.to_string()))?;
            let Some(device) = merge_group(
                stored.map(|s| &s.record),
                new_id,
                &location,
                &group.observations,
                now,
            ) else {
                continue;
            };
            let writes = match (stored, known.get(&g)) {
                (Some(stored), _) if stored.record == device => continue,
                (Some(stored), _) => vec![Write::Put {
                    item: device_item(subscription, &device)?,
                    condition: Condition::VersionIs(stored.version),
                }],
                // The identity names a device that is gone: repoint it.
                (None, Some((_, identity_version))) => vec![
                    Write::Put {
                        item: records::item(
                            identity_key(group),
                            &DeviceIdentityRecord {
                                device_id: device.id.clone(),
                            },
                        )?,
                        condition: Condition::VersionIs(*identity_version),
                    },
                    Write::Put {
                        item: device_item(subscription, &device)?,
                        condition: Condition::MustNotExist,
                    },
                ],
                (None, None) => vec![
                    Write::Put {
                        item: records::item(
                            identity_key(group),
                            &DeviceIdentityRecord {
                                device_id: device.id.clone(),
                            },
                        )?,
                        condition: Condition::MustNotExist,
                    },
                    Write::Put {
                        item: device_item(subscription, &device)?,
                        condition: Condition::MustNotExist,
                    },
                ],
            };
            planned.push((g, writes));
        }

        let mut retry = Vec::new();
        let mut batch: Vec<(usize, Vec<Write>)> = Vec::new();
        let mut ops = 0;
        let mut planned = planned.into_iter().peekable();
        while let Some((g, writes)) = planned.next() {
            ops += writes.len();
            batch.push((g, writes));
            let full = planned
                .peek()
                .is_none_or(|(_, next)| ops + next.len() > MAX_TRANSACTION_OPS);
            if !full {
                continue;
            }
            let members: Vec<usize> = batch.iter().map(|(g, _)| *g).collect();
            let writes = std::mem::take(&mut batch)
                .into_iter()
                .flat_map(|(_, writes)| writes)
                .collect();
            ops = 0;
            match table.transact(writes).await {
                Ok(_) => {}
                Err(StoreError::ConditionFailed { .. }) => retry.extend(members),
                Err(other) => return Err(other.into()),
            }
        }
        pending = retry;
    }
    if pending.is_empty() {
        Ok(accepted)
    } else {
        Err(ApiError::Internal(format!(
            "ingest of {} devices still contended after {MAX_ATTEMPTS} attempts",
            pending.len()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::model::{SensorId, ZoneId};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2024-03-01 12:00 UTC);

    fn location(zone: Option<&str>) -> SensorLocation {
        SensorLocation {
            sensor_id: SensorId::parse("s1").unwrap(),
            site_id: SiteId::parse("plant-1").unwrap(),
            zone_id: zone.map(|z| ZoneId::parse(z).unwrap()),
        }
    }

    fn observed(json: serde_json::Value) -> ObservedDevice {
        serde_json::from_value(json).unwrap()
    }

    async fn table() -> (Arc<dyn Table>, tempfile::TempDir) {
        let directory = tempfile::tempdir().unwrap();
        let table =
            crate::store::embedded::EmbeddedTable::open(directory.path().join("t.redb"), [5; 32])
                .unwrap();
        (Arc::new(table), directory)
    }

    fn token(sensor: &str, zone: Option<&str>) -> SensorTokenRecord {
        SensorTokenRecord {
            subscription_id: SubscriptionId::parse("sub-1").unwrap(),
            sensor_id: SensorId::parse(sensor).unwrap(),
            sensor_type: shared::model::SensorType::OtCloudConnected,
            site_id: SiteId::parse("plant-1").unwrap(),
            zone_id: zone.map(|z| ZoneId::parse(z).unwrap()),
        }
    }

    async fn inventory(table: &Arc<dyn Table>) -> Vec<Device> {
        let subscription = SubscriptionId::parse("sub-1").unwrap();
        let page = table
            .query(&Query {
                limit: 500,
                ..Query::partition(keys::device_partition(
                    &subscription,
                    &SiteId::parse("plant-1").unwrap(),
                ))
            })
            .await
            .unwrap();
        page.items
            .iter()
            .map(|item| records::decode(item).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn concurrent_sensors_reporting_one_device_make_one_record() {
        let (table, _dir) = table().await;
        // GIVEN two sensors of one zone, each reporting the same device four times at once
        let mut running = tokio::task::JoinSet::new();
        for n in 0..8 {
            let table = Arc::clone(&table);
            running.spawn(async move {
                let sensor = token(if n % 2 == 0 { "s1" } else { "s2" }, Some("z1"));
                let seen = vec![
                    observed(
                        serde_json::json!({"ip": "10.0.0.7", "mac": "00:1b:44:11:3a:b7",
                        "last_activity": format!("2024-03-01T11:0{n}:00Z")}),
                    ),
                    observed(serde_json::json!({"ip": format!("10.0.1.{n}"),
                        "mac": "00:1b:44:11:3a:b8", "last_activity": "2024-03-01T11:00:00Z"})),
                ];
                ingest(&table, &sensor, seen, NOW).await.unwrap()
            });
        }
        while let Some(done) = running.join_next().await {
            assert_eq!(done.unwrap(), 2);
        }
        // THEN the shared device is one record, with the latest activity of all
        let devices = inventory(&table).await;
        assert_eq!(devices.len(), 9, "{devices:?}");
        let shared: Vec<&Device> = devices
            .iter()
            .filter(|d| d.ip.to_string() == "10.0.0.7")
            .collect();
        assert_eq!(shared.len(), 1);
        assert_eq!(shared[0].last_activity, datetime!(2024-03-01 11:07 UTC));
        // AND the same addresses in another zone are another device
        ingest(
            &table,
            &token("s3", Some("z2")),
            vec![observed(
                serde_json::json!({"ip": "10.0.0.7", "mac": "00:1b:44:11:3a:b7",
                "last_activity": "2024-03-01T11:00:00Z"}),
            )],
            NOW,
        )
        .await
        .unwrap();
        assert_eq!(inventory(&table).await.len(), 10);
    }

    #[test]
    fn observations_of_the_same_addresses_merge_into_one_group() {
        // GIVEN a batch seeing one device twice (MAC written two ways) and another
        let batch = vec![
            observed(
                serde_json::json!({"ip": "10.0.0.7", "mac": "00:1b:44:11:3a:b7",
                "name": "plc-7", "last_activity": "2024-03-01T11:00:00Z"}),
            ),
            observed(
                serde_json::json!({"ip": "10.0.0.8", "mac": "00:1b:44:11:3a:b8",
                "last_activity": "2024-03-01T11:00:00Z"}),
            ),
            observed(
                serde_json::json!({"ip": "10.0.0.7", "mac": "00-1B-44-11-3A-B7",
                "vendor": "Siemens", "last_activity": "2024-03-01T11:30:00Z"}),
            ),
        ];
        // WHEN grouped and merged into new devices
        let groups = group_observations(&location(Some("z1")), batch);
        assert_eq!(groups.len(), 2);
        let device = merge_group(
            None,
            DeviceId::parse("d1").unwrap(),
            &location(Some("z1")),
            &groups[0].observations,
            NOW,
        )
        .unwrap();
        // THEN the first device has both observations' attributes
        assert_eq!(device.name.as_ref().map(|n| n.as_str()), Some("plc-7"));
        assert_eq!(device.vendor.as_ref().map(|n| n.as_str()), Some("Siemens"));
        assert_eq!(device.last_activity, datetime!(2024-03-01 11:30 UTC));
        assert_eq!(device.first_seen, datetime!(2024-03-01 11:00 UTC));
    }

    #[test]
    fn the_same_addresses_in_another_zone_are_another_device() {
        let seen = || {
            vec![observed(serde_json::json!({"ip": "10.0.0.7",
                "mac": "00:1b:44:11:3a:b7", "last_activity": "2024-03-01T11:00:00Z"}))]
        };
        let zone_a = group_observations(&location(Some("a")), seen());
        let zone_b = group_observations(&location(Some("b")), seen());
        let no_zone = group_observations(&location(None), seen());
        assert_ne!(zone_a[0].identity, zone_b[0].identity);
        assert_ne!(zone_a[0].identity, no_zone[0].identity);
    }

    #[test]
    fn an_observation_merges_into_the_existing_device_keeping_what_people_set() {
        let first = vec![observed(serde_json::json!({"ip": "10.0.0.7",
            "mac": "00:1b:44:11:3a:b7", "name": "plc-7", "last_activity": "2024-03-01T11:00:00Z"}))];
        let mut existing = merge_group(
            None,
            DeviceId::parse("d1").unwrap(),
            &location(None),
            &first,
            NOW,
        )
        .unwrap();
        apply_update(
            &mut existing,
            &serde_json::from_value(serde_json::json!({"authorized": true, "name": "Line PLC"}))
                .unwrap(),
        );
        let again = vec![observed(serde_json::json!({"ip": "10.0.0.7",
            "mac": "00:1b:44:11:3a:b7", "type": "PLC", "last_activity": "2024-03-01T11:45:00Z"}))];
        let merged = merge_group(
            Some(&existing),
            DeviceId::parse("unused").unwrap(),
            &location(None),
            &again,
            NOW,
        )
        .unwrap();
        assert_eq!(merged.id.as_str(), "d1");
        assert!(merged.authorized);
        assert_eq!(merged.name.as_ref().map(|n| n.as_str()), Some("Line PLC"));
        assert_eq!(merged.device_type.as_ref().map(|n| n.as_str()), Some("PLC"));
        assert_eq!(merged.last_activity, datetime!(2024-03-01 11:45 UTC));
    }
}
