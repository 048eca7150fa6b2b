//! Sensors: onboarding, activation files, reactivation, TI pushes, remote software
//! updates, downloads, the CSV export, the health widgets — and the sensor state that
//! heartbeats update ([`record_heartbeat`], called by `ingest`).
//!
//! Storage (`keys.rs`, "Sensors"): every sensor of a subscription in one partition
//! `SENSORS#<sub>` sorted by id (ULIDs: onboarding order), with GSI1
//! `SENSORS#<sub>#SITE#<site>` / `<type>#<id>` and GSI2 `SENSORS#<sub>#TYPE#<type>` /
//! `<id>`, so `?site_id=`, `?site_id=&type=` and `?type=` are each one query. A sensor's
//! site and type never change, so neither do its index keys.
//!
//! Health is derived when read (it ages: a silent sensor becomes disconnected with no
//! write), so `?health=` cannot be an index. It filters what the list reads: a request
//! reads up to [`MAX_STORE_PAGES_PER_LIST`] store pages, each asking for the items still
//! missing, and stops at `limit` matches; `next_cursor` is the store's cursor after the
//! last item read. A page may therefore hold fewer than `limit` items (even none) and
//! still have a `next_cursor`: keep paging until it is `null`. Paging stays exact.
//!
//! The sensor item holds the current token of its activation file (downloads return it
//! unchanged); its lookup item `keys::sensor_token(sha256(token))` is created with the
//! sensor and deleted in the transaction that reactivates or deletes it, so the old
//! token stops working at once. Neither the sensor's endpoints nor the audit log show it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body as ResponseBody, Bytes};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use sha2::{Digest, Sha256};
use shared::api::{
    ActivationCommand, ActivationFile, AuditActor, ConsoleRecoveryCode, CreateSensor,
    DiagnosticsArchive, DiagnosticsSizeError, Heartbeat, HeartbeatResponse, OnboardedSensor, Page,
    PageRequest, PushTiUpdate, RecoverConsolePassword, RequestSoftwareUpdate,
    SENSOR_EXPORT_COLUMNS, Sensor, SensorEndpoint, SensorExportNames, SensorFilter,
    SensorHealthSummary, SensorSoftwareRelease, Site, TiPackage, TiUpdatePushed, UpdateSensor,
    Zone, check_diagnostics_size,
};
use shared::authz::Permission;
use shared::authz::Target;
use shared::model::{
    Email, HeartbeatReport, LATEST_TI_PACKAGE_PUBLISHED_ON, SOFTWARE_RELEASES, SensorId,
    SensorSettings, SensorState, SettingsDelivery, SiteId, SitePlacement, SoftwareRelease,
    SoftwareUpdate, SoftwareUpdateError, SubscriptionId, ThreatIntelligence, TiVersion, ZoneId,
    diagnostics_upload_allowed, latest_ti_package, legacy_update_allowed,
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
use crate::http::sensor::{SensorTokenRecord, new_token, token_hash};
use crate::ids;
use crate::keys;
use crate::openapi::{
    Binary, CreateErrors, DeleteErrors, IfMatchHeader, InSubscription, ListErrors, ReadErrors,
    UpdateErrors, Upload,
};
use crate::records::{self, SensorRecord, Versioned};
use crate::sites::{self, SensorCountChange};
use crate::store::{
    Condition, Index, Item, Query as TableQuery, SortKeyRange, StoreError, Table, TableRead, Write,
};

/// Store pages one list request reads at most while filtering by health.
pub const MAX_STORE_PAGES_PER_LIST: usize = 10;
/// Read-modify-write attempts before a change racing with heartbeats gives up (`409`).
const MAX_ATTEMPTS: usize = 8;
/// Onboardings at one site are serialized through the site's sensor count
/// (`sites::sensor_count_writes`): a burst of them retries more, with a random pause.
const MAX_ONBOARD_ATTEMPTS: u32 = 30;
/// Sensors per TI-push transaction: each takes its write and its audit entry.
const TI_PUSH_CHUNK: usize = crate::store::MAX_TRANSACTION_OPS / 2;
/// Items per store page of the CSV export and the health summary.
const EXPORT_PAGE: u32 = 200;

/// The sensors routes, with their document.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sensors, onboard_sensor))
        .routes(routes!(export_csv))
        .routes(routes!(health_summary))
        .routes(routes!(push_ti_update))
        .routes(routes!(endpoint_details))
        .routes(routes!(sensor_software))
        .routes(routes!(snmp_mib))
        .routes(routes!(get_sensor, update_sensor, delete_sensor))
        .routes(routes!(download_activation_file))
        .routes(routes!(activation_command))
        .routes(routes!(reactivate))
        .routes(routes!(prepare_legacy_update))
        .routes(routes!(request_software_update))
        .routes(routes!(define_settings))
        .routes(routes!(upload_diagnostics, download_diagnostics))
        .routes(routes!(latest_ti_package_download))
        .routes(routes!(recover_console_password))
}

/// The sensors function's routes.
pub fn router() -> Router<AppState> {
    routes().into()
}

// ----- Records, views and items -----

/// The sensor as the API shows it at `now`: health and TI status derived.
fn view(record: &SensorRecord, now: OffsetDateTime, latest_ti: &TiVersion) -> Sensor {
    let health = record.state.health(now);
    let ti = record.state.ti.as_ref();
    Sensor {
        id: record.id.clone(),
        name: record.name.clone(),
        sensor_type: record.sensor_type,
        site_id: record.site_id.clone(),
        zone_id: record.zone_id.clone(),
        version: record.state.version.clone(),
        health: health.health,
        health_findings: health.findings,
        last_connected: record.state.last_heartbeat,
        ti_version: ti.and_then(|ti| ti.installed.clone()),
        ti_mode: ti.map(|ti| ti.mode),
        ti_update_status: ti.map(|ti| ti.status(Some(latest_ti))),
        software_update: record.state.software_update.clone(),
        activation_issued_at: record.reactivated_at.unwrap_or(record.created_at),
        settings: record.state.settings.clone(),
        legacy_update_prepared_at: record.legacy_update_prepared_at,
        diagnostics: record.diagnostics.clone(),
    }
}

fn sensor_item(record: &SensorRecord) -> ApiResult<Item> {
    let subscription = &record.subscription_id;
    let mut item = records::item(keys::sensor(subscription, &record.id), record)?;
    item.gsi1 = Some(keys::sensor_by_site(
        subscription,
        &record.site_id,
        record.sensor_type,
        &record.id,
    ));
    item.gsi2 = Some(keys::sensor_by_type(
        subscription,
        record.sensor_type,
        &record.id,
    ));
    Ok(item)
}

fn token_key(token: &str) -> crate::store::Key {
    keys::sensor_token(&token_hash(token))
}

/// The lookup item of the record's current token.
fn token_item(record: &SensorRecord) -> ApiResult<Item> {
    let lookup = SensorTokenRecord {
        subscription_id: record.subscription_id.clone(),
        sensor_id: record.id.clone(),
        sensor_type: record.sensor_type,
        site_id: record.site_id.clone(),
        zone_id: record.zone_id.clone(),
    };
    records::item(token_key(&record.token), &lookup)
}

fn activation_file(record: &SensorRecord, api_url: &ApiUrl) -> ActivationFile {
    ActivationFile {
        sensor_id: record.id.clone(),
        subscription_id: record.subscription_id.clone(),
        api_url: api_url.0.clone(),
        token: record.token.clone(),
    }
}

fn user(email: &Email) -> AuditActor {
    AuditActor::User {
        email: email.clone(),
    }
}

fn internal(error: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(error.to_string())
}

/// A stored sensor and the version it was read at.
type Loaded = Versioned<SensorRecord>;

fn no_such_sensor() -> ApiError {
    ApiError::NotFound("no such sensor".into())
}

/// The sensor `raw_id` of the subscription; a malformed id is no such sensor (`404`).
async fn load_sensor(
    table: &dyn TableRead,
    subscription: &SubscriptionId,
    raw_id: &str,
) -> ApiResult<Loaded> {
    let id = SensorId::parse(raw_id).map_err(|_| no_such_sensor())?;
    read_sensor(table, subscription, &id)
        .await?
        .ok_or_else(no_such_sensor)
}

async fn read_sensor(
    table: &dyn TableRead,
    subscription: &SubscriptionId,
    id: &SensorId,
) -> ApiResult<Option<Loaded>> {
    records::read(table, &keys::sensor(subscription, id)).await
}

/// A sensor of the caller's subscription, `404` before `403` as the contract orders.
async fn authorized_sensor(
    table: &dyn TableRead,
    principal: &shared::authz::Principal,
    sub: &str,
    id: &str,
    permission: Permission,
) -> ApiResult<(Authorized, Loaded)> {
    let authorized = access::authorize(table, principal, sub).await?;
    let loaded = load_sensor(table, &authorized.subscription.id, id).await?;
    authorized.require(permission, Target::Subscription)?;
    Ok((authorized, loaded))
}

/// What a user's change does to the stored sensor.
enum Edit {
    /// Nothing to write (e.g. a `PATCH` setting what is already there).
    Unchanged,
    /// Put the edited record, with these writes in the same transaction.
    Save(Vec<Write>),
}

/// Applies `edit` to the sensor and writes it with its audit entry in one transaction,
/// conditional on the version read. A lost race with a heartbeat re-reads and retries;
/// with `If-Match` it is `412`. Returns the record as written and its new version.
async fn change_sensor(
    table: &dyn Table,
    actor: &Email,
    first: Loaded,
    if_match: IfMatch,
    action: &str,
    mut edit: impl FnMut(&mut SensorRecord) -> ApiResult<Edit>,
) -> ApiResult<(SensorRecord, u64)> {
    let latest = latest_ti_package();
    let mut current = first;
    for _ in 0..MAX_ATTEMPTS {
        if_match.check(current.version)?;
        let now = OffsetDateTime::now_utc();
        let mut after = current.record.clone();
        let mut writes = match edit(&mut after)? {
            Edit::Unchanged => return Ok((current.record, current.version)),
            Edit::Save(extra) => {
                let mut writes = vec![Write::Put {
                    item: sensor_item(&after)?,
                    condition: Condition::VersionIs(current.version),
                }];
                writes.extend(extra);
                writes
            }
        };
        writes.push(
            audit::Change {
                actor: user(actor),
                action,
                subscription: &after.subscription_id,
                site: Some(&after.site_id),
                target: after.id.as_str(),
            }
            .write(
                now,
                audit::snapshot(&view(&current.record, now, &latest)),
                audit::snapshot(&view(&after, now, &latest)),
            )?,
        );
        match table.transact(writes).await {
            Ok(versions) => return Ok((after, versions[0])),
            Err(StoreError::ConditionFailed { index: 0 }) => {
                if if_match != IfMatch::Any {
                    return Err(ApiError::PreconditionFailed);
                }
                current = read_sensor(table, &after.subscription_id, &after.id)
                    .await?
                    .ok_or_else(no_such_sensor)?;
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict(
        "the sensor kept changing while this request was applied; try again".into(),
    ))
}

// ----- The activation file's API address -----

/// The API's base URL as sensors reach it (`…/api`): `VIGIL_API_URL` when set (a
/// deployment behind a proxy), else the request's own scheme and host.
#[derive(Debug, Clone)]
pub struct ApiUrl(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ApiUrl {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        if let Ok(url) = std::env::var("VIGIL_API_URL")
            && !url.trim().is_empty()
        {
            return Ok(ApiUrl(url.trim().trim_end_matches('/').to_owned()));
        }
        let header_text = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(',').next().unwrap_or_default().trim().to_owned())
        };
        let scheme = match header_text("x-forwarded-proto").as_deref() {
            Some("https") => "https",
            _ => "http",
        };
        // Only a plain host[:port] is echoed back; anything else is not ours to repeat.
        let plain = |host: &String| {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        };
        let host = header_text("x-forwarded-host")
            .filter(plain)
            .or_else(|| header_text(header::HOST.as_str()).filter(plain))
            .unwrap_or_else(|| "localhost".to_owned());
        Ok(ApiUrl(format!("{scheme}://{host}/api")))
    }
}

// ----- Onboarding and the sensor resource -----

/// Onboards a sensor and answers its activation file.
///
/// Needs `onboard_sensors` at subscription scope. Needs no live plan.
/// `site_id` is required for OT types; Enterprise IoT sensors take none and land in the
/// site named "Enterprise network". A `site_id` or `zone_id` not in the subscription is
/// `400`.
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/sensors",
    tag = "sensors",
    params(InSubscription),
    request_body = CreateSensor,
    responses(
        (status = 201, description = "The sensor and its activation file", body = OnboardedSensor,
            headers(("ETag" = String, description = "The sensor's version, for If-Match"))),
        CreateErrors,
    )
)]
async fn onboard_sensor(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    api_url: ApiUrl,
    body: Body,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    authorized.require(Permission::OnboardSensors, Target::Subscription)?;
    let request: CreateSensor = body.parse()?;
    let subscription = authorized.subscription.id.clone();
    let actor = user(&principal.email);
    let no_such_site = || ApiError::invalid_field("site_id", "no such site in this subscription");
    let now = OffsetDateTime::now_utc();
    let id = SensorId::parse(ids::new()).map_err(internal)?;
    let token = new_token()?;
    for attempt in 0..MAX_ONBOARD_ATTEMPTS {
        if attempt > 0 {
            crate::contention::back_off(attempt).await;
        }
        let site_id = match &request.placement {
            SitePlacement::Site(site) => {
                if table.get(&keys::site(&subscription, site)).await?.is_none() {
                    return Err(no_such_site());
                }
                site.clone()
            }
            SitePlacement::EnterpriseNetwork => {
                sites::ensure_enterprise_network_site(table.as_ref(), &subscription, actor.clone())
                    .await?
                    .id
            }
        };
        let record = SensorRecord {
            id: id.clone(),
            subscription_id: subscription.clone(),
            name: request.name.clone(),
            sensor_type: request.sensor_type,
            site_id,
            zone_id: request.zone_id.clone(),
            created_at: now,
            created_by: principal.email.clone(),
            token: token.clone(),
            reactivated_at: None,
            legacy_update_prepared_at: None,
            diagnostics: None,
            state: SensorState::new(request.sensor_type),
        };
        let site_id = &record.site_id;
        if let Some(zone) = &request.zone_id {
            check_zone(table.as_ref(), &subscription, site_id, zone).await?;
        }
        // The site's sensor count (it refuses deleting a site with sensors), with a
        // check that the site still exists.
        let mut writes = sites::sensor_count_writes(
            table.as_ref(),
            &subscription,
            site_id,
            SensorCountChange::Added,
        )
        .await
        .map_err(|error| match error {
            ApiError::NotFound(_) => no_such_site(),
            other => other,
        })?;
        if let Some(zone) = &record.zone_id {
            writes.push(Write::Check {
                key: keys::zone(&subscription, site_id, zone),
                condition: Condition::MustExist,
            });
        }
        // The offline sweep visits subscriptions with sensors.
        writes.push(Write::Put {
            item: records::item(keys::sensing_subscription(&subscription), &())?,
            condition: Condition::Always,
        });
        let sensor = view(&record, now, &latest_ti_package());
        let sensor_at = writes.len();
        writes.extend([
            Write::Put {
                item: sensor_item(&record)?,
                condition: Condition::MustNotExist,
            },
            Write::Put {
                item: token_item(&record)?,
                condition: Condition::MustNotExist,
            },
            audit::Change {
                actor: actor.clone(),
                action: "sensor.onboard",
                subscription: &subscription,
                site: Some(site_id),
                target: record.id.as_str(),
            }
            .write(now, None, audit::snapshot(&sensor))?,
        ]);
        match table.transact(writes).await {
            Ok(versions) => {
                let onboarded = OnboardedSensor {
                    sensor,
                    activation_file: activation_file(&record, &api_url),
                };
                return Ok(json_with_etag(
                    StatusCode::CREATED,
                    &onboarded,
                    versions[sensor_at],
                ));
            }
            // The site's count moved, or its site or zone went: look again.
            Err(StoreError::ConditionFailed { index }) if index < sensor_at => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict(
        "the sensor's site kept changing while onboarding; try again".into(),
    ))
}

/// `400` unless `zone` is a zone of `site`.
async fn check_zone(
    table: &dyn TableRead,
    subscription: &SubscriptionId,
    site: &SiteId,
    zone: &ZoneId,
) -> ApiResult<()> {
    match table.get(&keys::zone(subscription, site, zone)).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::invalid_field(
            "zone_id",
            format!("no such zone at site {site}"),
        )),
    }
}

/// Reads one sensor.
///
/// Needs `view_sites_and_sensors` at subscription scope.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/sensors/{id}",
    tag = "sensors",
    params(InSubscription, ("id" = inline(shared::model::SensorId), Path, description = "The sensor's id")),
    responses(
        (status = 200, description = "The sensor", body = Sensor,
            headers(("ETag" = String, description = "The sensor's version, for If-Match"))),
        ReadErrors,
    )
)]
async fn get_sensor(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (_, loaded) = authorized_sensor(
        table.as_ref(),
        &principal,
        &sub,
        &id,
        Permission::ViewSitesAndSensors,
    )
    .await?;
    let sensor = view(
        &loaded.record,
        OffsetDateTime::now_utc(),
        &latest_ti_package(),
    );
    Ok(json_with_etag(StatusCode::OK, &sensor, loaded.version))
}

/// Changes a sensor's name, zone or TI mode.
///
/// Needs `modify_sites_and_sensors` at subscription scope.
/// A zone not of the sensor's site is `400`; a TI mode the sensor cannot take is `409`.
#[utoipa::path(
    patch,
    path = "/api/subscriptions/{sub}/sensors/{id}",
    tag = "sensors",
    params(InSubscription, ("id" = inline(shared::model::SensorId), Path, description = "The sensor's id"), IfMatchHeader),
    request_body = UpdateSensor,
    responses(
        (status = 200, description = "The changed sensor", body = Sensor,
            headers(("ETag" = String, description = "The sensor's version, for If-Match"))),
        UpdateErrors,
    )
)]
async fn update_sensor(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
    if_match: IfMatch,
    body: Body,
) -> ApiResult<Response> {
    let (_, loaded) = authorized_sensor(
        table.as_ref(),
        &principal,
        &sub,
        &id,
        Permission::ModifySitesAndSensors,
    )
    .await?;
    let request: UpdateSensor = body.parse()?;
    let subscription = loaded.record.subscription_id.clone();
    if let Some(zone) = &request.zone_id {
        check_zone(table.as_ref(), &subscription, &loaded.record.site_id, zone).await?;
    }
    let (record, version) = change_sensor(
        table.as_ref(),
        &principal.email,
        loaded,
        if_match,
        "sensor.update",
        |record| {
            let before = record.clone();
            if let Some(name) = &request.name {
                record.name = name.clone();
            }
            if let Some(mode) = request.ti_mode {
                match &mut record.state.ti {
                    Some(ti) => ti
                        .set_mode(record.sensor_type, mode)
                        .map_err(|e| ApiError::Conflict(e.to_string()))?,
                    None => {
                        ThreatIntelligence::require_support(record.sensor_type)
                            .map_err(|e| ApiError::Conflict(e.to_string()))?;
                    }
                }
            }
            let mut extra = Vec::new();
            if let Some(zone) = &request.zone_id
                && record.zone_id.as_ref() != Some(zone)
            {
                record.zone_id = Some(zone.clone());
                extra.push(Write::Check {
                    key: keys::zone(&record.subscription_id, &record.site_id, zone),
                    condition: Condition::MustExist,
                });
                // Ingest copies the zone from the token's lookup item: keep it in step.
                extra.push(Write::Put {
                    item: token_item(record)?,
                    condition: Condition::MustExist,
                });
            }
            Ok(if *record == before {
                Edit::Unchanged
            } else {
                Edit::Save(extra)
            })
        },
    )
    .await?;
    let sensor = view(&record, OffsetDateTime::now_utc(), &latest_ti_package());
    Ok(json_with_etag(StatusCode::OK, &sensor, version))
}

/// Deletes a sensor; its token stops working at once.
///
/// Needs `modify_sites_and_sensors` at subscription scope.
#[utoipa::path(
    delete,
    path = "/api/subscriptions/{sub}/sensors/{id}",
    tag = "sensors",
    params(InSubscription, ("id" = inline(shared::model::SensorId), Path, description = "The sensor's id"), IfMatchHeader),
    responses(
        (status = 204, description = "Deleted"),
        DeleteErrors,
    )
)]
async fn delete_sensor(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let (_, loaded) = authorized_sensor(
        table.as_ref(),
        &principal,
        &sub,
        &id,
        Permission::ModifySitesAndSensors,
    )
    .await?;
    let mut current = loaded;
    let latest = latest_ti_package();
    for _ in 0..MAX_ATTEMPTS {
        if_match.check(current.version)?;
        let record = &current.record;
        let subscription = &record.subscription_id;
        let now = OffsetDateTime::now_utc();
        let mut writes = vec![
            Write::Delete {
                key: keys::sensor(subscription, &record.id),
                condition: Condition::VersionIs(current.version),
            },
            Write::Delete {
                key: token_key(&record.token),
                condition: Condition::Always,
            },
        ];
        writes.extend(diagnostics_deletes(record, 0));
        writes.extend(
            sites::sensor_count_writes(
                table.as_ref(),
                subscription,
                &record.site_id,
                SensorCountChange::Removed,
            )
            .await?,
        );
        writes.push(
            audit::Change {
                actor: user(&principal.email),
                action: "sensor.delete",
                subscription,
                site: Some(&record.site_id),
                target: record.id.as_str(),
            }
            .write(now, audit::snapshot(&view(record, now, &latest)), None)?,
        );
        match table.transact(writes).await {
            Ok(_) => return Ok(StatusCode::NO_CONTENT.into_response()),
            Err(StoreError::ConditionFailed { index: 0 }) => {
                if if_match != IfMatch::Any {
                    return Err(ApiError::PreconditionFailed);
                }
                current = read_sensor(table.as_ref(), subscription, &record.id)
                    .await?
                    .ok_or_else(no_such_sensor)?;
            }
            // The site's sensor count moved meanwhile: count again.
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict(
        "the sensor kept changing while this request was applied; try again".into(),
    ))
}

/// Downloads a sensor's activation file, with its current token.
///
/// Needs `download_activation_files` at subscription scope. Downloading never rotates the
/// token.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/sensors/{id}/activation-file",
    tag = "sensors",
    params(InSubscription, ("id" = inline(shared::model::SensorId), Path, description = "The sensor's id")),
    responses(
        (status = 200, description = "The activation file", body = ActivationFile,
            headers(("ETag" = String, description = "The sensor's version, for If-Match"))),
        ReadErrors,
    )
)]
async fn download_activation_file(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
    api_url: ApiUrl,
) -> ApiResult<Response> {
    let (_, loaded) = authorized_sensor(
        table.as_ref(),
        &principal,
        &sub,
        &id,
        Permission::DownloadActivationFiles,
    )
    .await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &activation_file(&loaded.record, &api_url),
        loaded.version,
    ))
}

/// The command that activates an Enterprise IoT sensor (its activation file's fields,
/// quoted for the shell), to paste on the machine that becomes the sensor.
///
/// Needs `download_activation_files` at subscription scope, as the activation file; an
/// OT sensor (activated by its file) is `409`.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/sensors/{id}/activation-command",
    tag = "sensors",
    params(InSubscription, ("id" = inline(shared::model::SensorId), Path, description = "The sensor's id")),
    responses(
        (status = 200, description = "The activation command", body = ActivationCommand),
        (status = 409, response = crate::openapi::Conflict),
        ReadErrors,
    )
)]
async fn activation_command(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
    api_url: ApiUrl,
) -> ApiResult<Response> {
    let (_, loaded) = authorized_sensor(
        table.as_ref(),
        &principal,
        &sub,
        &id,
        Permission::DownloadActivationFiles,
    )
    .await?;
    if loaded.record.sensor_type != shared::model::SensorType::EnterpriseIot {
        return Err(ApiError::Conflict(
            "only Enterprise IoT sensors are activated by a command; an OT sensor takes its activation file".into(),
        ));
    }
    let command = activation_file(&loaded.record, &api_url).activation_command();
    Ok(json(StatusCode::OK, &ActivationCommand { command }))
}

/// Issues a new token for a sensor; the old one is refused at once.
///
/// Needs `modify_sites_and_sensors` at subscription scope. Answers the new activation file.
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/sensors/{id}/reactivate",
    tag = "sensors",
    params(InSubscription, ("id" = inline(shared::model::SensorId), Path, description = "The sensor's id"), IfMatchHeader),
    responses(
        (status = 200, description = "The new activation file", body = ActivationFile,
            headers(("ETag" = String, description = "The sensor's version, for If-Match"))),
        DeleteErrors,
    )
)]
async fn reactivate(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
    if_match: IfMatch,
    api_url: ApiUrl,
) -> ApiResult<Response> {
    let why = NewActivation::Reactivate;
    reissue_activation(
        table.as_ref(),
        &principal,
        (&sub, &id),
        if_match,
        &api_url,
        why,
    )
    .await
}

/// Why a sensor gets a new activation file.
#[derive(Clone, Copy)]
enum NewActivation {
    Reactivate,
    /// A legacy OT sensor about to be updated to 22.x: refused for any other.
    PrepareLegacyUpdate,
}

/// Issues a new activation file (the old one stops working when it commits) and
/// answers with it.
async fn reissue_activation(
    table: &dyn Table,
    principal: &shared::authz::Principal,
    (sub, id): (&str, &str),
    if_match: IfMatch,
    api_url: &ApiUrl,
    why: NewActivation,
) -> ApiResult<Response> {
    let (_, loaded) =
        authorized_sensor(table, principal, sub, id, Permission::ModifySitesAndSensors).await?;
    let token = new_token()?;
    let action = match why {
        NewActivation::Reactivate => "sensor.reactivate",
        NewActivation::PrepareLegacyUpdate => "sensor.prepare_update",
    };
    let (record, version) = change_sensor(
        table,
        &principal.email,
        loaded,
        if_match,
        action,
        |record| {
            if let NewActivation::PrepareLegacyUpdate = why {
                legacy_update_allowed(record.sensor_type, record.state.version.as_ref())
                    .map_err(|error| ApiError::Conflict(error.to_string()))?;
            }
            let edit = new_activation(record, &token)?;
            record.legacy_update_prepared_at = match why {
                NewActivation::Reactivate => None,
                NewActivation::PrepareLegacyUpdate => record.reactivated_at,
            };
            Ok(edit)
        },
    )
    .await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &activation_file(&record, api_url),
        version,
    ))
}

/// Gives the record `token` as its activation file's, and the writes that swap the
/// lookup items: the old token stops working when they commit.
fn new_activation(record: &mut SensorRecord, token: &str) -> ApiResult<Edit> {
    let old = std::mem::replace(&mut record.token, token.to_owned());
    record.reactivated_at = Some(OffsetDateTime::now_utc());
    Ok(Edit::Save(vec![
        Write::Delete {
            key: token_key(&old),
            condition: Condition::Always,
        },
        Write::Put {
            item: token_item(record)?,
            condition: Condition::MustNotExist,
        },
    ]))
}

/// Prepares an OT sensor on a legacy version (older than 22.1) for the update to 22.x:
/// a new activation file, to upload to the sensor once it runs 22.x; the current one
/// stops working at once.
///
/// Needs `modify_sites_and_sensors` at subscription scope. An Enterprise IoT sensor, a
/// sensor that has not reported its version, or one already on 22.1 or later is `409`.
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/sensors/{id}/prepare-update",
    tag = "sensors",
    params(InSubscription, ("id" = inline(shared::model::SensorId), Path, description = "The sensor's id"), IfMatchHeader),
    responses(
        (status = 200, description = "The new activation file", body = ActivationFile,
            headers(("ETag" = String, description = "The sensor's version, for If-Match"))),
        DeleteErrors,
    )
)]
async fn prepare_legacy_update(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
    if_match: IfMatch,
    api_url: ApiUrl,
) -> ApiResult<Response> {
    let why = NewActivation::PrepareLegacyUpdate;
    reissue_activation(
        table.as_ref(),
        &principal,
        (&sub, &id),
        if_match,
        &api_url,
        why,
    )
    .await
}

/// Queues a remote software update, delivered in the sensor's next heartbeat.
///
/// Needs `modify_sites_and_sensors` at subscription scope.
/// An unpublished version is `400`; an Enterprise IoT sensor, or a version not newer
/// than the installed one, `409`.
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/sensors/{id}/software-update",
    tag = "sensors",
    params(InSubscription, ("id" = inline(shared::model::SensorId), Path, description = "The sensor's id"), IfMatchHeader),
    request_body = RequestSoftwareUpdate,
    responses(
        (status = 200, description = "The sensor", body = Sensor,
            headers(("ETag" = String, description = "The sensor's version, for If-Match"))),
        UpdateErrors,
    )
)]
async fn request_software_update(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
    if_match: IfMatch,
    body: Body,
) -> ApiResult<Response> {
    let (_, loaded) = authorized_sensor(
        table.as_ref(),
        &principal,
        &sub,
        &id,
        Permission::ModifySitesAndSensors,
    )
    .await?;
    let request: RequestSoftwareUpdate = body.parse()?;
    if SoftwareRelease::find(&request.version).is_none() {
        return Err(ApiError::invalid_field(
            "version",
            SoftwareUpdateError::NotPublished,
        ));
    }
    let (record, version) = change_sensor(
        table.as_ref(),
        &principal.email,
        loaded,
        if_match,
        "sensor.software_update",
        |record| {
            record.state.software_update = SoftwareUpdate::request(
                record.sensor_type,
                record.state.version.as_ref(),
                &request.version,
            )
            .map_err(|error| match error {
                SoftwareUpdateError::NotPublished => ApiError::invalid_field("version", error),
                SoftwareUpdateError::NotOtSensor | SoftwareUpdateError::NotNewer => {
                    ApiError::Conflict(error.to_string())
                }
            })?;
            Ok(Edit::Save(Vec::new()))
        },
    )
    .await?;
    let sensor = view(&record, OffsetDateTime::now_utc(), &latest_ti_package());
    Ok(json_with_etag(StatusCode::OK, &sensor, version))
}

/// Defines a cloud-connected OT sensor's settings (bandwidth cap, subnets, VLAN names):
/// a new revision, sent in the sensor's heartbeats until it reports it applied or
/// failed (the sensor's `settings`).
///
/// Needs `modify_sites_and_sensors` at subscription scope. A locally managed or
/// Enterprise IoT sensor is `409`.
#[utoipa::path(
    put,
    path = "/api/subscriptions/{sub}/sensors/{id}/settings",
    tag = "sensors",
    params(InSubscription, ("id" = inline(shared::model::SensorId), Path, description = "The sensor's id"), IfMatchHeader),
    request_body = SensorSettings,
    responses(
        (status = 200, description = "The sensor, its settings pending", body = Sensor,
            headers(("ETag" = String, description = "The sensor's version, for If-Match"))),
        UpdateErrors,
    )
)]
async fn define_settings(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
    if_match: IfMatch,
    body: Body,
) -> ApiResult<Response> {
    let (_, loaded) = authorized_sensor(
        table.as_ref(),
        &principal,
        &sub,
        &id,
        Permission::ModifySitesAndSensors,
    )
    .await?;
    let settings: SensorSettings = body.parse()?;
    let (record, version) = change_sensor(
        table.as_ref(),
        &principal.email,
        loaded,
        if_match,
        "sensor.settings",
        |record| {
            record.state.settings = Some(
                SettingsDelivery::request(
                    record.sensor_type,
                    record.state.settings.as_ref(),
                    settings.clone(),
                )
                .map_err(|error| ApiError::Conflict(error.to_string()))?,
            );
            Ok(Edit::Save(Vec::new()))
        },
    )
    .await?;
    let sensor = view(&record, OffsetDateTime::now_utc(), &latest_ti_package());
    Ok(json_with_etag(StatusCode::OK, &sensor, version))
}

// ----- Diagnostics -----

/// A diagnostics archive is kept in chunks that fit any table item.
const DIAGNOSTICS_CHUNK_BYTES: usize = 256 * 1024;

fn diagnostics_chunk_count(archive: &DiagnosticsArchive) -> usize {
    usize::try_from(archive.size_bytes)
        .unwrap_or(usize::MAX)
        .div_ceil(DIAGNOSTICS_CHUNK_BYTES)
}

/// Deletes of the record's stored diagnostics chunks from chunk `from` on.
fn diagnostics_deletes(record: &SensorRecord, from: usize) -> Vec<Write> {
    let stored = record
        .diagnostics
        .as_ref()
        .map_or(0, diagnostics_chunk_count);
    (from..stored)
        .map(|n| Write::Delete {
            key: keys::sensor_diagnostics(&record.subscription_id, &record.id, n),
            condition: Condition::Always,
        })
        .collect()
}

/// Uploads a locally managed sensor's diagnostics archive for support (the file its
/// console's "Download diagnostics" gives), replacing the one sent before. It is kept
/// with the sensor, whose `diagnostics` then describe it, and audited.
///
/// Needs `modify_sites_and_sensors` at subscription scope. An empty body is `400`, one
/// over 1 MiB `413`; a cloud-connected or Enterprise IoT sensor `409`.
#[utoipa::path(
    put,
    path = "/api/subscriptions/{sub}/sensors/{id}/diagnostics",
    tag = "sensors",
    params(InSubscription, ("id" = inline(shared::model::SensorId), Path, description = "The sensor's id"), IfMatchHeader),
    request_body(content = Upload, content_type = "application/octet-stream",
        description = "The archive as the sensor's console saved it, 1 byte to 1 MiB"),
    responses(
        (status = 200, description = "The sensor, with its diagnostics described", body = Sensor,
            headers(("ETag" = String, description = "The sensor's version, for If-Match"))),
        UpdateErrors,
    )
)]
async fn upload_diagnostics(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
    if_match: IfMatch,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Response> {
    let (_, loaded) = authorized_sensor(
        table.as_ref(),
        &principal,
        &sub,
        &id,
        Permission::ModifySitesAndSensors,
    )
    .await?;
    let archive = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge
        } else {
            ApiError::Invalid(format!("the archive could not be read: {rejection}"))
        }
    })?;
    check_diagnostics_size(archive.len() as u64).map_err(|error| match error {
        DiagnosticsSizeError::Empty => ApiError::Invalid(error.to_string()),
        DiagnosticsSizeError::TooLarge(_) => ApiError::TooLarge,
    })?;
    let described = DiagnosticsArchive {
        size_bytes: archive.len() as u64,
        sha256: sha256_hex(&archive),
        uploaded_at: OffsetDateTime::now_utc(),
        uploaded_by: principal.email.clone(),
    };
    let (record, version) = change_sensor(
        table.as_ref(),
        &principal.email,
        loaded,
        if_match,
        "sensor.diagnostics",
        |record| {
            diagnostics_upload_allowed(record.sensor_type)
                .map_err(|error| ApiError::Conflict(error.to_string()))?;
            let chunks: Vec<&[u8]> = archive.chunks(DIAGNOSTICS_CHUNK_BYTES).collect();
            let mut writes = diagnostics_deletes(record, chunks.len());
            for (n, chunk) in chunks.into_iter().enumerate() {
                writes.push(Write::Put {
                    item: Item::new(
                        keys::sensor_diagnostics(&record.subscription_id, &record.id, n),
                        chunk.to_vec(),
                    ),
                    condition: Condition::Always,
                });
            }
            record.diagnostics = Some(described.clone());
            Ok(Edit::Save(writes))
        },
    )
    .await?;
    let sensor = view(&record, OffsetDateTime::now_utc(), &latest_ti_package());
    Ok(json_with_etag(StatusCode::OK, &sensor, version))
}

/// Downloads the diagnostics archive uploaded for a sensor, as it was sent.
///
/// Needs `modify_sites_and_sensors` at subscription scope (the archive holds the
/// sensor's logs). A sensor without one is `404`.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/sensors/{id}/diagnostics",
    tag = "sensors",
    params(InSubscription, ("id" = inline(shared::model::SensorId), Path, description = "The sensor's id")),
    responses(
        (status = 200, description = "The archive", content_type = "application/octet-stream", body = Binary),
        ReadErrors,
    )
)]
async fn download_diagnostics(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (_, loaded) = authorized_sensor(
        table.as_ref(),
        &principal,
        &sub,
        &id,
        Permission::ModifySitesAndSensors,
    )
    .await?;
    let record = loaded.record;
    let archive = record
        .diagnostics
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("no diagnostics were sent for this sensor".into()))?;
    let mut bytes = Vec::with_capacity(usize::try_from(archive.size_bytes).unwrap_or(0));
    for n in 0..diagnostics_chunk_count(archive) {
        let key = keys::sensor_diagnostics(&record.subscription_id, &record.id, n);
        let chunk = table
            .get(&key)
            .await?
            .ok_or_else(|| internal(format!("diagnostics chunk {n} is missing")))?;
        bytes.extend_from_slice(&chunk.body);
    }
    // A replacement committing between the reads above mixes two archives: say so
    // rather than send it.
    if sha256_hex(&bytes) != archive.sha256 {
        return Err(ApiError::Conflict(
            "the diagnostics were replaced while they were read; download again".into(),
        ));
    }
    let filename = format!("attachment; filename=\"{}-diagnostics.tar.gz\"", record.id);
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        bytes,
    )
        .into_response())
}

// ----- Lists -----

/// The one query that serves a filter (health aside).
fn sensor_query(subscription: &SubscriptionId, filter: &SensorFilter) -> TableQuery {
    match (&filter.site_id, filter.sensor_type) {
        (Some(site), sensor_type) => TableQuery {
            index: Some(Index::Gsi1),
            range: sensor_type.map_or(SortKeyRange::All, |t| {
                SortKeyRange::BeginsWith(keys::sensor_type_prefix(t))
            }),
            ..TableQuery::partition(keys::sensors_at_site_partition(subscription, site))
        },
        (None, Some(sensor_type)) => TableQuery {
            index: Some(Index::Gsi2),
            ..TableQuery::partition(keys::sensors_of_type_partition(subscription, sensor_type))
        },
        (None, None) => TableQuery::partition(keys::sensor_partition(subscription)),
    }
}

/// Lists the subscription's sensors, filtered by site, type and health.
///
/// Needs `view_sites_and_sensors` at subscription scope.
/// Health is derived when read, so with `health` a page may hold fewer than `limit`
/// items (even none) and still have a `next_cursor`: page until it is `null`.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/sensors",
    tag = "sensors",
    params(InSubscription, SensorFilter, PageRequest),
    responses(
        (status = 200, description = "A page of sensors", body = Page<Sensor>),
        ListErrors,
    )
)]
async fn list_sensors(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    filter: Params<SensorFilter>,
    page: Params<PageRequest>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    authorized.require(Permission::ViewSitesAndSensors, Target::Subscription)?;
    let filter = filter.get()?;
    let page = page.get()?;
    let limit = page
        .limit()
        .map_err(|e| ApiError::invalid_field("limit", e))?;
    let mut query = sensor_query(&authorized.subscription.id, &filter);
    let now = OffsetDateTime::now_utc();
    let latest = latest_ti_package();
    let mut items = Vec::new();
    let mut cursor = page.cursor;
    for _ in 0..MAX_STORE_PAGES_PER_LIST {
        query.limit = limit - items.len() as u32;
        query.cursor = cursor;
        let found = table.query(&query).await?;
        for item in &found.items {
            let sensor = view(&records::decode(item)?, now, &latest);
            if filter.health.is_none_or(|health| health == sensor.health) {
                items.push(sensor);
            }
        }
        cursor = found.next_cursor;
        if cursor.is_none() || items.len() as u32 >= limit {
            break;
        }
    }
    Ok(json(
        StatusCode::OK,
        &Page {
            items,
            next_cursor: cursor,
        },
    ))
}

/// Counts the sensors in each health, derived now.
///
/// Needs `view_sites_and_sensors` at subscription scope. Takes the list's `site_id` and
/// `type` filters; `health` is ignored.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/sensors/health-summary",
    tag = "sensors",
    params(InSubscription, SensorFilter),
    responses(
        (status = 200, description = "Sensors per health", body = SensorHealthSummary),
        ListErrors,
    )
)]
async fn health_summary(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    filter: Params<SensorFilter>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    authorized.require(Permission::ViewSitesAndSensors, Target::Subscription)?;
    let filter = filter.get()?;
    let mut query = TableQuery {
        limit: EXPORT_PAGE,
        ..sensor_query(&authorized.subscription.id, &filter)
    };
    let now = OffsetDateTime::now_utc();
    let mut summary = SensorHealthSummary::default();
    loop {
        let found = table.query(&query).await?;
        for item in &found.items {
            let record: SensorRecord = records::decode(item)?;
            summary.count(record.state.health(now).health);
        }
        match found.next_cursor {
            Some(next) => query.cursor = Some(next),
            None => return Ok(json(StatusCode::OK, &summary)),
        }
    }
}

// ----- CSV export -----

/// Writes the export one store page at a time, looking site and zone names up once each.
struct Export {
    table: Arc<dyn Table>,
    query: TableQuery,
    subscription_name: String,
    sites: HashMap<SiteId, String>,
    zones: HashMap<(SiteId, ZoneId), String>,
    now: OffsetDateTime,
    latest: TiVersion,
    header_written: bool,
    done: bool,
}

impl Export {
    /// The next chunk of CSV: the header with the first page, then one page a call.
    async fn next_chunk(&mut self) -> ApiResult<Bytes> {
        let mut writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        let csv_error = |e: csv::Error| ApiError::Internal(format!("writing CSV: {e}"));
        if !self.header_written {
            writer
                .write_record(SENSOR_EXPORT_COLUMNS)
                .map_err(csv_error)?;
            self.header_written = true;
        }
        let found = self.table.query(&self.query).await?;
        for item in &found.items {
            let record: SensorRecord = records::decode(item)?;
            let site = self.site_name(&record).await?;
            let zone = self.zone_name(&record).await?;
            let sensor = view(&record, self.now, &self.latest);
            let row = sensor.export_row(SensorExportNames {
                site: &site,
                zone: zone.as_deref(),
                subscription: &self.subscription_name,
            });
            writer.write_record(&row).map_err(csv_error)?;
        }
        self.query.cursor = found.next_cursor;
        self.done = self.query.cursor.is_none();
        let bytes = writer
            .into_inner()
            .map_err(|e| ApiError::Internal(format!("writing CSV: {e}")))?;
        Ok(Bytes::from(bytes))
    }

    async fn site_name(&mut self, record: &SensorRecord) -> ApiResult<String> {
        if let Some(name) = self.sites.get(&record.site_id) {
            return Ok(name.clone());
        }
        let key = keys::site(&record.subscription_id, &record.site_id);
        let name = match self.table.get(&key).await? {
            Some(item) => records::decode::<Site>(&item)?.display_name.to_string(),
            None => record.site_id.to_string(),
        };
        self.sites.insert(record.site_id.clone(), name.clone());
        Ok(name)
    }

    async fn zone_name(&mut self, record: &SensorRecord) -> ApiResult<Option<String>> {
        let Some(zone) = &record.zone_id else {
            return Ok(None);
        };
        let cache_key = (record.site_id.clone(), zone.clone());
        if let Some(name) = self.zones.get(&cache_key) {
            return Ok(Some(name.clone()));
        }
        let key = keys::zone(&record.subscription_id, &record.site_id, zone);
        let name = match self.table.get(&key).await? {
            Some(item) => records::decode::<Zone>(&item)?.name.to_string(),
            None => zone.to_string(),
        };
        self.zones.insert(cache_key, name.clone());
        Ok(Some(name))
    }
}

/// Exports every sensor of the subscription as CSV.
///
/// Needs `view_sites_and_sensors` at subscription scope.
/// A header row, then one row per sensor in the grid's columns: name, type, site, zone,
/// subscription, software version, health, last connected (UTC), TI version, TI mode,
/// TI update status.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/sensors/export.csv",
    tag = "sensors",
    params(InSubscription),
    responses(
        (status = 200, description = "The CSV file", content_type = "text/csv", body = String),
        ReadErrors,
    )
)]
async fn export_csv(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    authorized.require(Permission::ViewSitesAndSensors, Target::Subscription)?;
    let subscription = &authorized.subscription.id;
    let mut export = Export {
        query: TableQuery {
            limit: EXPORT_PAGE,
            ..TableQuery::partition(keys::sensor_partition(subscription))
        },
        table,
        subscription_name: authorized.subscription.name.to_string(),
        sites: HashMap::new(),
        zones: HashMap::new(),
        now: OffsetDateTime::now_utc(),
        latest: latest_ti_package(),
        header_written: false,
        done: false,
    };
    let first = export.next_chunk().await?;
    let rest = futures_util::stream::unfold(export, |mut export| async move {
        if export.done {
            return None;
        }
        match export.next_chunk().await {
            Ok(chunk) => Some((Ok(chunk), export)),
            Err(error) => {
                tracing::error!(%error, "sensor export failed mid-stream");
                export.done = true;
                Some((Err(std::io::Error::other("the export failed")), export))
            }
        }
    });
    let stream =
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(first) }).chain(rest);
    Ok(attachment(
        ResponseBody::from_stream(stream).into_response(),
        "text/csv; charset=utf-8",
        "attachment; filename=\"sensors.csv\"",
    ))
}

/// `response` as a file to save: its type, and its name in `Content-Disposition`.
fn attachment(
    mut response: Response,
    content_type: &'static str,
    disposition: &'static str,
) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static(disposition),
    );
    response
}

// ----- TI pushes -----

/// Pushes the latest TI package to sensors, delivered in their next heartbeats.
///
/// Needs `push_ti_updates` at subscription scope.
/// Every sensor is checked first (an unknown id is `400`, an Enterprise IoT sensor
/// `409`), so a refused request changes nothing.
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/sensors/ti-update",
    tag = "sensors",
    params(InSubscription),
    request_body = PushTiUpdate,
    responses(
        (status = 200, description = "The sensors now updating", body = TiUpdatePushed),
        CreateErrors,
    )
)]
async fn push_ti_update(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    authorized.require(Permission::PushTiUpdates, Target::Subscription)?;
    let request: PushTiUpdate = body.parse()?;
    let subscription = &authorized.subscription.id;
    let mut sensors = Vec::with_capacity(request.sensor_ids.len());
    for id in &request.sensor_ids {
        let loaded = read_sensor(table.as_ref(), subscription, id)
            .await?
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "sensor_ids",
                    format!("no sensor {id} in this subscription"),
                )
            })?;
        ThreatIntelligence::require_support(loaded.record.sensor_type)
            .map_err(|e| ApiError::Conflict(format!("sensor {id}: {e}")))?;
        sensors.push(loaded);
    }
    let latest = latest_ti_package();
    for chunk in sensors.chunks(TI_PUSH_CHUNK) {
        push_chunk(table.as_ref(), &principal.email, chunk.to_vec(), &latest).await?;
    }
    Ok(json(
        StatusCode::OK,
        &TiUpdatePushed {
            ti_version: latest,
            sensor_ids: request.sensor_ids.into_iter().collect(),
        },
    ))
}

async fn push_chunk(
    table: &dyn Table,
    actor: &Email,
    mut sensors: Vec<Loaded>,
    latest: &TiVersion,
) -> ApiResult<()> {
    for _ in 0..MAX_ATTEMPTS {
        let now = OffsetDateTime::now_utc();
        let mut writes = Vec::with_capacity(sensors.len() * 2);
        for loaded in &sensors {
            let mut after = loaded.record.clone();
            let ti = after.state.ti.as_mut().ok_or_else(|| {
                ApiError::Conflict(format!("sensor {} takes no TI packages", after.id))
            })?;
            ti.push(latest);
            writes.push(Write::Put {
                item: sensor_item(&after)?,
                condition: Condition::VersionIs(loaded.version),
            });
            writes.push(
                audit::Change {
                    actor: user(actor),
                    action: "sensor.ti_push",
                    subscription: &after.subscription_id,
                    site: Some(&after.site_id),
                    target: after.id.as_str(),
                }
                .write(
                    now,
                    audit::snapshot(&view(&loaded.record, now, latest)),
                    audit::snapshot(&view(&after, now, latest)),
                )?,
            );
        }
        match table.transact(writes).await {
            Ok(_) => return Ok(()),
            // A heartbeat won a race: re-read this chunk and push again.
            Err(StoreError::ConditionFailed { index }) if index % 2 == 0 => {
                let mut fresh = Vec::with_capacity(sensors.len());
                for loaded in &sensors {
                    let record = &loaded.record;
                    fresh.push(
                        read_sensor(table, &record.subscription_id, &record.id)
                            .await?
                            .ok_or_else(|| {
                                ApiError::Conflict(format!(
                                    "sensor {} was deleted meanwhile",
                                    record.id
                                ))
                            })?,
                    );
                }
                sensors = fresh;
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict(
        "the sensors kept changing while the push was applied; try again".into(),
    ))
}

// ----- Downloads -----

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// One page of a short list computed in code: the cursor is the position after the
/// page's last item (the lists are public and fixed, so a forged cursor reveals nothing).
fn fixed_page<T>(items: Vec<T>, page: PageRequest) -> ApiResult<Page<T>> {
    let limit = page
        .limit()
        .map_err(|e| ApiError::invalid_field("limit", e))? as usize;
    let start = match page.cursor {
        None => 0,
        Some(cursor) => cursor
            .strip_prefix("p")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "cursor",
                    "is not a cursor this list issued; pass back next_cursor as is",
                )
            })?,
    };
    let end = (start + limit).min(items.len());
    let next_cursor = (end < items.len()).then(|| format!("p{end}"));
    Ok(Page {
        items: items.into_iter().skip(start).take(end - start).collect(),
        next_cursor,
    })
}

/// Lists the endpoints OT sensors must be allowed to reach.
///
/// Needs `download_endpoint_details` at subscription scope.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/sensors/endpoint-details",
    tag = "sensors",
    params(InSubscription, PageRequest),
    responses(
        (status = 200, description = "A page of endpoints", body = Page<SensorEndpoint>),
        ListErrors,
    )
)]
async fn endpoint_details(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    api_url: ApiUrl,
    page: Params<PageRequest>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    authorized.require(Permission::DownloadEndpointDetails, Target::Subscription)?;
    let page = page.get()?;
    let api = &api_url.0;
    let (protocol, rest) = api.split_once("://").unwrap_or(("https", api));
    let authority = rest.split('/').next().unwrap_or_default();
    let port = authority
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or(if protocol == "http" { 80 } else { 443 });
    let subscription = &authorized.subscription.id;
    let endpoint = |url: String, purpose: &str| SensorEndpoint {
        url,
        protocol: protocol.to_owned(),
        port,
        purpose: purpose.to_owned(),
    };
    let items = vec![
        endpoint(
            format!("{api}/ingest/heartbeat"),
            "Heartbeats: health, versions and pending actions",
        ),
        endpoint(format!("{api}/ingest/alerts"), "Alerts the sensor raises"),
        endpoint(format!("{api}/ingest/devices"), "The device inventory"),
        endpoint(
            format!("{api}/subscriptions/{subscription}/sensors/software"),
            "Sensor software updates",
        ),
        endpoint(
            format!("{api}/subscriptions/{subscription}/ti-packages/latest"),
            "Threat intelligence packages",
        ),
    ];
    Ok(json(StatusCode::OK, &fixed_page(items, page)?))
}

/// The SNMP MIB of Vigil's OT sensors, for the network management system watching
/// the sensor appliances (seed 002, "Download SNMP MIB file").
pub const SENSOR_MIB: &str = include_str!("../assets/VIGIL-SENSOR-MIB.txt");

/// Downloads the sensors' SNMP MIB file (`VIGIL-SENSOR-MIB`).
///
/// Needs `download_sensor_software` at subscription scope, as the sensor software.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/sensors/snmp-mib",
    tag = "sensors",
    params(InSubscription),
    responses(
        (status = 200, description = "The MIB module", content_type = "text/plain", body = String),
        ReadErrors,
    )
)]
async fn snmp_mib(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    authorized.require(Permission::DownloadSensorSoftware, Target::Subscription)?;
    Ok(attachment(
        SENSOR_MIB.into_response(),
        "text/plain; charset=utf-8",
        "attachment; filename=\"VIGIL-SENSOR-MIB.txt\"",
    ))
}

/// Lists the published sensor software, newest first.
///
/// Needs `download_sensor_software` at subscription scope.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/sensors/software",
    tag = "sensors",
    params(InSubscription, PageRequest),
    responses(
        (status = 200, description = "A page of releases", body = Page<SensorSoftwareRelease>),
        ListErrors,
    )
)]
async fn sensor_software(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    page: Params<PageRequest>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    authorized.require(Permission::DownloadSensorSoftware, Target::Subscription)?;
    let page = page.get()?;
    let latest = SoftwareRelease::latest();
    let items = SOFTWARE_RELEASES
        .iter()
        .rev()
        .map(|release| SensorSoftwareRelease {
            version: release.version(),
            released_on: release.released_on.to_owned(),
            latest: release == latest,
            file_name: format!("vigil-sensor-{}.iso", release.version),
            sha256: sha256_hex(format!("vigil sensor software {}", release.version).as_bytes()),
        })
        .collect();
    Ok(json(StatusCode::OK, &fixed_page(items, page)?))
}

/// Downloads the newest TI package, for locally managed sensors.
///
/// Needs `download_ti_packages` at subscription scope. The same bytes at every
/// download.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/ti-packages/latest",
    tag = "sensors",
    params(InSubscription),
    responses(
        (status = 200, description = "The package", body = TiPackage,
            headers(("ETag" = String, description = "The package's content hash"))),
        ReadErrors,
    )
)]
async fn latest_ti_package_download(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
) -> ApiResult<Response> {
    use base64::Engine as _;
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    authorized.require(Permission::DownloadTiPackages, Target::Subscription)?;
    let version = latest_ti_package();
    let subscription = &authorized.subscription.id;
    let signature = sha256_hex(format!("vigil ti {version} for {subscription}").as_bytes());
    let content = serde_json::to_vec(&serde_json::json!({
        "format": "vigil-ti-package/1",
        "ti_version": version,
        "published_on": LATEST_TI_PACKAGE_PUBLISHED_ON,
        "subscription_id": subscription,
        "indicators": [
            {"kind": "malware_hash", "value": sha256_hex(format!("{version}/malware").as_bytes())},
            {"kind": "ioc_domain", "value": format!("ioc-{}.invalid", &signature[..12])},
        ],
        "signature": signature,
    }))
    .map_err(internal)?;
    let package = TiPackage {
        file_name: format!("vigil-ti-{version}.json"),
        sha256: sha256_hex(&content),
        content_base64: base64::engine::general_purpose::STANDARD.encode(&content),
        ti_version: version,
        published_on: LATEST_TI_PACKAGE_PUBLISHED_ON.to_owned(),
    };
    let mut response = json(StatusCode::OK, &package);
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", &package.sha256[..32])) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

/// Answers a one-time recovery code for an on-premises console's lost password.
///
/// Needs `recover_console_passwords` at subscription scope. With `sensor_id`, for that OT
/// sensor's console. The code is shown only in this answer.
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/console-password-recovery",
    tag = "sensors",
    params(InSubscription),
    request_body = RecoverConsolePassword,
    responses(
        (status = 200, description = "The recovery code", body = ConsoleRecoveryCode),
        CreateErrors,
    )
)]
async fn recover_console_password(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    authorized.require(Permission::RecoverConsolePasswords, Target::Subscription)?;
    let request: RecoverConsolePassword = body.parse()?;
    let subscription = &authorized.subscription.id;
    let mut site = None;
    let mut writes = Vec::new();
    if let Some(id) = &request.sensor_id {
        let loaded = read_sensor(table.as_ref(), subscription, id)
            .await?
            .ok_or_else(|| ApiError::invalid_field("sensor_id", "no such sensor"))?;
        if !loaded.record.sensor_type.is_ot() {
            return Err(ApiError::Conflict(
                "console passwords are recovered for OT sensors only".into(),
            ));
        }
        site = Some(loaded.record.site_id.clone());
        writes.push(Write::Check {
            key: keys::sensor(subscription, id),
            condition: Condition::MustExist,
        });
    }
    let code = recovery_code()?;
    let target = request
        .sensor_id
        .as_ref()
        .map_or("management-console", SensorId::as_str);
    writes.push(
        audit::Change {
            actor: user(&principal.email),
            action: "console.password_recovery",
            subscription,
            site: site.as_ref(),
            target,
        }
        .write(
            OffsetDateTime::now_utc(),
            None,
            Some(serde_json::json!({
                "secret_identifier": request.secret_identifier.as_str(),
                "sensor_id": request.sensor_id,
            })),
        )?,
    );
    table.transact(writes).await.map_err(|error| match error {
        StoreError::ConditionFailed { .. } => {
            ApiError::Conflict("the sensor was deleted meanwhile".into())
        }
        other => other.into(),
    })?;
    Ok(json(
        StatusCode::OK,
        &ConsoleRecoveryCode {
            recovery_code: code,
            sensor_id: request.sensor_id,
        },
    ))
}

/// 80 random bits as four groups of four characters (Crockford base32).
fn recovery_code() -> ApiResult<String> {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(format!("randomness: {e}")))?;
    let chars: Vec<char> = bytes
        .iter()
        .map(|byte| ALPHABET[usize::from(byte % 32)] as char)
        .collect();
    Ok(chars
        .chunks(4)
        .map(|group| group.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
}

// ----- Heartbeats (called by `ingest`) -----

/// Applies a heartbeat of the sensor that `caller` (its token's lookup item, found by
/// `token_hash`) stands for, and returns its pending actions. The write is conditional
/// on the sensor's version (a lost race with a user's change re-reads and retries, so
/// neither undoes the other) and re-checks the token's lookup item, so a heartbeat with
/// a token revoked meanwhile changes nothing (`401`).
pub async fn record_heartbeat(
    table: &dyn Table,
    caller: &SensorTokenRecord,
    token_hash: &str,
    body: &Body,
) -> ApiResult<HeartbeatResponse> {
    let revoked = || ApiError::Unauthenticated("the sensor token is unknown or revoked");
    let key = keys::sensor(&caller.subscription_id, &caller.sensor_id);
    let mut item = table.get(&key).await?.ok_or_else(revoked)?;
    let heartbeat: Heartbeat = body.parse()?;
    let latest = latest_ti_package();
    for _ in 0..MAX_ATTEMPTS {
        let mut record: SensorRecord = records::decode(&item)?;
        let pending = record.state.on_heartbeat(
            HeartbeatReport {
                at: OffsetDateTime::now_utc(),
                version: &heartbeat.version,
                ti_version: heartbeat.ti_version.as_ref(),
                health: heartbeat.health,
                issues: &heartbeat.issues,
                settings: heartbeat.settings.as_ref(),
            },
            Some(&latest),
        );
        let writes = vec![
            Write::Put {
                item: sensor_item(&record)?,
                condition: Condition::VersionIs(item.version),
            },
            Write::Check {
                key: keys::sensor_token(token_hash),
                condition: Condition::MustExist,
            },
        ];
        match table.transact(writes).await {
            Ok(_) => return Ok(HeartbeatResponse { pending }),
            Err(StoreError::ConditionFailed { index: 0 }) => {
                item = table.get(&key).await?.ok_or_else(revoked)?;
            }
            Err(StoreError::ConditionFailed { .. }) => return Err(revoked()),
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict(
        "the sensor kept changing while the heartbeat was applied; send it again".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_lists_page_with_their_own_cursor() {
        let items: Vec<u32> = (0..5).collect();
        let first = fixed_page(
            items.clone(),
            PageRequest {
                limit: Some(2),
                cursor: None,
            },
        )
        .unwrap();
        assert_eq!(first.items, [0, 1]);
        let last = fixed_page(
            items.clone(),
            PageRequest {
                limit: Some(3),
                cursor: first.next_cursor,
            },
        )
        .unwrap();
        assert_eq!(last.items, [2, 3, 4]);
        assert_eq!(last.next_cursor, None);
        assert!(
            fixed_page(
                items,
                PageRequest {
                    limit: None,
                    cursor: Some("p99".into()),
                },
            )
            .is_err()
        );
    }

    #[test]
    fn diagnostics_chunks_beyond_the_new_archive_are_deleted() {
        let described = |size_bytes| DiagnosticsArchive {
            size_bytes,
            sha256: String::new(),
            uploaded_at: OffsetDateTime::UNIX_EPOCH,
            uploaded_by: Email::parse("owner@example.com").unwrap(),
        };
        assert_eq!(diagnostics_chunk_count(&described(1)), 1);
        assert_eq!(
            diagnostics_chunk_count(&described(DIAGNOSTICS_CHUNK_BYTES as u64)),
            1
        );
        assert_eq!(diagnostics_chunk_count(&described(600_000)), 3);
        let subscription = SubscriptionId::parse("sub-1").unwrap();
        let id = SensorId::parse("sensor-1").unwrap();
        let record = SensorRecord {
            id: id.clone(),
            subscription_id: subscription.clone(),
            name: shared::model::DisplayName::parse("Line 1").unwrap(),
            sensor_type: shared::model::SensorType::OtLocallyManaged,
            site_id: SiteId::parse("plant").unwrap(),
            zone_id: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            created_by: Email::parse("owner@example.com").unwrap(),
            token: String::new(),
            reactivated_at: None,
            legacy_update_prepared_at: None,
            diagnostics: Some(described(600_000)),
            state: SensorState::new(shared::model::SensorType::OtLocallyManaged),
        };
        let deleted = |from| -> Vec<String> {
            diagnostics_deletes(&record, from)
                .into_iter()
                .map(|write| match write {
                    Write::Delete { key, .. } => key.sk,
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        // A sensor's deletion takes every chunk; a one-chunk replacement the other two.
        assert_eq!(deleted(0), ["CHUNK#0", "CHUNK#1", "CHUNK#2"]);
        assert_eq!(deleted(1), ["CHUNK#1", "CHUNK#2"]);
        assert!(deleted(3).is_empty());
    }

    #[test]
    fn recovery_codes_are_four_groups_of_four() {
        let code = recovery_code().unwrap();
        assert_eq!(code.len(), 19, "{code}");
        assert_eq!(code.split('-').count(), 4);
        assert_ne!(code, recovery_code().unwrap());
    }
}
