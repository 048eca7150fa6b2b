//! Plans: `/subscriptions/{sub}/plans` and the committed-device estimate.
//!
//! Reading needs `view_plans`; adding, changing and cancelling need what
//! `PlanKind::permissions_to_manage` says (`modify_plans`, and for Enterprise IoT also
//! `onboard_enterprise_iot_plan`), at subscription scope. A `POST` is authorized on its
//! `kind` before the rest of the body is validated.
//!
//! One live plan per kind: a `keys::live_plan` item names the plan holding the kind's
//! slot. Creating a plan claims it (`MustNotExist`); cancelling releases it (deleted
//! with `VersionIs`); a trial that has expired keeps it until the next plan of its kind
//! takes it over (`VersionIs` on the slot, and the old plan is rewritten with
//! `superseded_by` so that a concurrent `PATCH` of it fails): an expired trial never
//! blocks a new plan.
//!
//! Cancelling (`DELETE`) keeps the plan, listed with `status: "cancelled"` and
//! `cancelled_at`; only a live plan can be changed or cancelled (`409` otherwise).
//!
//! Every plan body carries `detected_devices` (the devices of the live inventory its
//! kind covers, counted by the seed's rules) and `over_committed`. The inventory is
//! read with one query per page of sites and per page of each site's devices.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::api::{
    AuditActor, CommittedDevicesEstimate, CommittedDevicesFilter, CreatePlan, Device, Page,
    PageRequest, Plan, RequestedPlanKind, Site, UpdatePlan,
};
use shared::authz::{Permission, Principal, Target};
use shared::model::{
    DeviceActivity, Email, PlanId, PlanKind, PlanStatus, PlanTerms, PlanTermsError, SubscriptionId,
    estimate_committed_devices, is_over_committed,
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
use crate::records::{self, LivePlanRecord, PlanRecord};
use crate::store::{Condition, Query, SortKeyRange, StoreError, Table, TableRead, Write};

/// How often a read-modify-write is retried after losing a race (without `If-Match`).
const ATTEMPTS: usize = 5;
/// Page size of the inventory reads behind the estimate.
const INVENTORY_PAGE: u32 = 500;

/// The plans routes, with their document.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_plans_handler, create_plan_handler))
        .routes(routes!(committed_devices))
        .routes(routes!(get_plan, update_plan, cancel_plan))
}

/// The plans function's routes.
pub fn router() -> Router<AppState> {
    routes().into()
}

// ----- Handlers -----

/// Lists the subscription's plans, cancelled and expired ones included.
///
/// Needs `view_plans` at subscription scope.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/plans",
    tag = "plans",
    operation_id = "list_plans",
    params(InSubscription, PageRequest),
    responses(
        (status = 200, description = "A page of plans", body = Page<Plan>),
        ListErrors,
    )
)]
async fn list_plans_handler(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    page: Params<PageRequest>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    authorized.require(Permission::ViewPlans, Target::Subscription)?;
    let page = page.get()?;
    let limit = page
        .limit()
        .map_err(|e| ApiError::invalid_field("limit", e))?;
    let plans = list_plans(
        table.as_ref(),
        &authorized.subscription.id,
        limit,
        page.cursor,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(json(StatusCode::OK, &plans))
}

/// Adds a plan.
///
/// Needs `modify_plans` at subscription scope, and for an `enterprise_iot` plan also
/// `onboard_enterprise_iot_plan` (authorized on `kind` before the rest of the body is
/// validated). `committed_devices` is a positive multiple of 100; a trial is 1000
/// devices for 30 days. One live plan per kind per subscription (`409`).
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/plans",
    tag = "plans",
    operation_id = "create_plan",
    params(InSubscription),
    request_body = CreatePlan,
    responses(
        (status = 201, description = "The new plan", body = Plan,
            headers(("ETag" = String, description = "The plan's version, for If-Match"))),
        CreateErrors,
    )
)]
async fn create_plan_handler(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    authorized.require(Permission::ModifyPlans, Target::Subscription)?;
    // What else is needed depends on the kind: read only that, authorize, then validate.
    let RequestedPlanKind { kind } = body.parse()?;
    require_to_manage(&authorized, kind)?;
    let request: CreatePlan = body.parse()?;
    let now = OffsetDateTime::now_utc();
    let subscription = &authorized.subscription.id;
    let (record, version) = create_plan(
        table.as_ref(),
        subscription,
        &principal.email,
        &request,
        now,
    )
    .await?;
    let inventory = inventory(table.as_ref(), subscription).await?;
    Ok(json_with_etag(
        StatusCode::CREATED,
        &plan_view(&record, &inventory, now),
        version,
    ))
}

/// Reads one plan.
///
/// Needs `view_plans` at subscription scope.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/plans/{plan}",
    tag = "plans",
    params(InSubscription, ("plan" = inline(shared::model::PlanId), Path, description = "The plan's id")),
    responses(
        (status = 200, description = "The plan", body = Plan,
            headers(("ETag" = String, description = "The plan's version, for If-Match"))),
        ReadErrors,
    )
)]
async fn get_plan(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, plan)): Path<(String, String)>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let (record, version) = read_plan(table.as_ref(), &authorized, &plan).await?;
    authorized.require(Permission::ViewPlans, Target::Subscription)?;
    let inventory = inventory(table.as_ref(), &authorized.subscription.id).await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &plan_view(&record, &inventory, OffsetDateTime::now_utc()),
        version,
    ))
}

/// Changes a live plan's commitment or committed devices.
///
/// Needs `modify_plans` at subscription scope (and `onboard_enterprise_iot_plan` for an
/// `enterprise_iot` plan). Only a live plan can change (`409`).
#[utoipa::path(
    patch,
    path = "/api/subscriptions/{sub}/plans/{plan}",
    tag = "plans",
    params(InSubscription, ("plan" = inline(shared::model::PlanId), Path, description = "The plan's id"), IfMatchHeader),
    request_body = UpdatePlan,
    responses(
        (status = 200, description = "The changed plan", body = Plan,
            headers(("ETag" = String, description = "The plan's new version"))),
        UpdateErrors,
    )
)]
async fn update_plan(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, raw_plan)): Path<(String, String)>,
    if_match: IfMatch,
    body: Body,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let (mut current, mut version) = read_plan(table.as_ref(), &authorized, &raw_plan).await?;
    require_to_manage(&authorized, current.kind)?;
    let request: UpdatePlan = body.parse()?;
    let subscription = &authorized.subscription.id;
    for _ in 0..ATTEMPTS {
        let now = OffsetDateTime::now_utc();
        let changed = current
            .terms()
            .change(request.commitment, request.committed_devices);
        if let Err(error @ (PlanTermsError::TrialDevices | PlanTermsError::MissingDevices)) =
            changed
        {
            return Err(ApiError::Invalid(error.to_string()));
        }
        if_match.check(version)?;
        require_live(&current, now)?;
        let terms = changed.map_err(|error| ApiError::Conflict(error.to_string()))?;
        let updated = PlanRecord {
            commitment: terms.commitment,
            committed_devices: terms.committed_devices,
            expires_at: terms.expires_at,
            ..current.clone()
        };
        if updated.terms() == current.terms() {
            let inventory = inventory(table.as_ref(), subscription).await?;
            return Ok(json_with_etag(
                StatusCode::OK,
                &plan_view(&current, &inventory, now),
                version,
            ));
        }
        let writes = vec![
            Write::Put {
                item: records::item(keys::plan(subscription, &current.id), &updated)?,
                condition: Condition::VersionIs(version),
            },
            audit::Change {
                actor: actor(&principal),
                action: "plan.update",
                subscription,
                site: None,
                target: current.id.as_str(),
            }
            .write(now, audit::snapshot(&current), audit::snapshot(&updated))?,
        ];
        match table.transact(writes).await {
            Ok(versions) => {
                let inventory = inventory(table.as_ref(), subscription).await?;
                return Ok(json_with_etag(
                    StatusCode::OK,
                    &plan_view(&updated, &inventory, now),
                    versions[0],
                ));
            }
            Err(StoreError::ConditionFailed { .. }) => {
                if if_match != IfMatch::Any {
                    return Err(ApiError::PreconditionFailed);
                }
                (current, version) = read_plan(table.as_ref(), &authorized, &raw_plan).await?;
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(busy())
}

/// Cancels a live plan; it stays listed with `status: "cancelled"`.
///
/// Needs `modify_plans` at subscription scope (and `onboard_enterprise_iot_plan` for an
/// `enterprise_iot` plan). Only a live plan can be cancelled (`409`).
#[utoipa::path(
    delete,
    path = "/api/subscriptions/{sub}/plans/{plan}",
    tag = "plans",
    params(InSubscription, ("plan" = inline(shared::model::PlanId), Path, description = "The plan's id"), IfMatchHeader),
    responses(
        (status = 204, description = "Cancelled"),
        DeleteErrors,
    )
)]
async fn cancel_plan(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, raw_plan)): Path<(String, String)>,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let (mut current, mut version) = read_plan(table.as_ref(), &authorized, &raw_plan).await?;
    require_to_manage(&authorized, current.kind)?;
    let subscription = &authorized.subscription.id;
    for _ in 0..ATTEMPTS {
        let now = OffsetDateTime::now_utc();
        if_match.check(version)?;
        require_live(&current, now)?;
        let cancelled = PlanRecord {
            cancelled_at: Some(now),
            ..current.clone()
        };
        let mut writes = vec![Write::Put {
            item: records::item(keys::plan(subscription, &current.id), &cancelled)?,
            condition: Condition::VersionIs(version),
        }];
        let slot_key = keys::live_plan(subscription, current.kind);
        if let Some(slot) = table.get(&slot_key).await? {
            let holder: LivePlanRecord = records::decode(&slot)?;
            if holder.plan_id == current.id {
                writes.push(Write::Delete {
                    key: slot_key,
                    condition: Condition::VersionIs(slot.version),
                });
            }
        }
        writes.push(
            audit::Change {
                actor: actor(&principal),
                action: "plan.cancel",
                subscription,
                site: None,
                target: current.id.as_str(),
            }
            .write(now, audit::snapshot(&current), audit::snapshot(&cancelled))?,
        );
        match table.transact(writes).await {
            Ok(_) => return Ok(StatusCode::NO_CONTENT.into_response()),
            Err(StoreError::ConditionFailed { index }) => {
                if index == 0 && if_match != IfMatch::Any {
                    return Err(ApiError::PreconditionFailed);
                }
                (current, version) = read_plan(table.as_ref(), &authorized, &raw_plan).await?;
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(busy())
}

/// Estimates the committed devices from the device inventory.
///
/// Excludes public-internet addresses, multicast, broadcast, devices inactive for over
/// 30 days and endpoint-managed ones, then rounds up to a multiple of 100. With `kind`,
/// only the devices that kind of plan covers. Needs `view_plans` at subscription scope.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/plans/committed-devices",
    tag = "plans",
    params(InSubscription, CommittedDevicesFilter),
    responses(
        (status = 200, description = "The estimate", body = CommittedDevicesEstimate),
        ListErrors,
    )
)]
async fn committed_devices(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    filter: Params<CommittedDevicesFilter>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    authorized.require(Permission::ViewPlans, Target::Subscription)?;
    let filter = filter.get()?;
    let estimate = inventory_estimate(
        table.as_ref(),
        &authorized.subscription.id,
        filter.kind,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(json(StatusCode::OK, &estimate))
}

// ----- Use cases (public for tests that control the clock) -----

/// Creates a plan at `now` if no live plan of its kind exists (`409` otherwise),
/// taking over the slot of an expired trial. Returns the plan and its version.
pub async fn create_plan(
    table: &dyn Table,
    subscription: &SubscriptionId,
    creator: &Email,
    request: &CreatePlan,
    now: OffsetDateTime,
) -> ApiResult<(PlanRecord, u64)> {
    let terms = PlanTerms::new(request.commitment, request.committed_devices, now)
        .map_err(|error| ApiError::Invalid(error.to_string()))?;
    let record = PlanRecord {
        id: PlanId::parse(ids::new()).map_err(|e| ApiError::Internal(e.to_string()))?,
        kind: request.kind,
        commitment: terms.commitment,
        committed_devices: terms.committed_devices,
        created_at: now,
        created_by: creator.clone(),
        expires_at: terms.expires_at,
        cancelled_at: None,
        superseded_by: None,
    };
    let slot_key = keys::live_plan(subscription, record.kind);
    let slot = records::item(
        slot_key.clone(),
        &LivePlanRecord {
            plan_id: record.id.clone(),
        },
    )?;
    for _ in 0..ATTEMPTS {
        let mut writes = vec![Write::Put {
            item: records::item(keys::plan(subscription, &record.id), &record)?,
            condition: Condition::MustNotExist,
        }];
        match table.get(&slot_key).await? {
            None => writes.push(Write::Put {
                item: slot.clone(),
                condition: Condition::MustNotExist,
            }),
            Some(held_slot) => {
                let holder: LivePlanRecord = records::decode(&held_slot)?;
                if let Some(held) = table
                    .get(&keys::plan(subscription, &holder.plan_id))
                    .await?
                {
                    let held_plan: PlanRecord = records::decode(&held)?;
                    if status_of(&held_plan, now) == PlanStatus::Live {
                        return Err(ApiError::Conflict(format!(
                            "plan {} is this subscription's live {} plan: change or cancel it instead",
                            held_plan.id,
                            record.kind.as_str()
                        )));
                    }
                    // An expired trial: mark it taken over, which also fails any
                    // concurrent change of it.
                    let superseded = PlanRecord {
                        superseded_by: Some(record.id.clone()),
                        ..held_plan
                    };
                    writes.push(Write::Put {
                        item: records::item(held.key.clone(), &superseded)?,
                        condition: Condition::VersionIs(held.version),
                    });
                }
                writes.push(Write::Put {
                    item: slot.clone(),
                    condition: Condition::VersionIs(held_slot.version),
                });
            }
        }
        writes.push(
            audit::Change {
                actor: AuditActor::User {
                    email: creator.clone(),
                },
                action: "plan.create",
                subscription,
                site: None,
                target: record.id.as_str(),
            }
            .write(now, None, audit::snapshot(&record))?,
        );
        match table.transact(writes).await {
            Ok(versions) => return Ok((record, versions[0])),
            // Another plan of the kind was created, cancelled or changed meanwhile.
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(busy())
}

/// One page of a subscription's plans (oldest first), as of `now`.
pub async fn list_plans(
    table: &dyn TableRead,
    subscription: &SubscriptionId,
    limit: u32,
    cursor: Option<String>,
    now: OffsetDateTime,
) -> ApiResult<Page<Plan>> {
    let found = table
        .query(&Query {
            range: SortKeyRange::BeginsWith(keys::PLAN_PREFIX.to_owned()),
            limit,
            cursor,
            ..Query::partition(keys::subscription_partition(subscription))
        })
        .await?;
    let records = found
        .items
        .iter()
        .map(records::decode::<PlanRecord>)
        .collect::<ApiResult<Vec<_>>>()?;
    let inventory = if records.is_empty() {
        Vec::new()
    } else {
        inventory(table, subscription).await?
    };
    Ok(Page {
        items: records
            .iter()
            .map(|record| plan_view(record, &inventory, now))
            .collect(),
        next_cursor: found.next_cursor,
    })
}

/// The committed-device estimate of the live inventory as of `now`: of the devices
/// `kind` covers, or of all of them.
pub async fn inventory_estimate(
    table: &dyn TableRead,
    subscription: &SubscriptionId,
    kind: Option<PlanKind>,
    now: OffsetDateTime,
) -> ApiResult<CommittedDevicesEstimate> {
    let inventory = inventory(table, subscription).await?;
    Ok(estimate(&inventory, kind, now))
}

/// Every device of the subscription, with the kind of plan covering it: the sites'
/// partition is queried, then each site's device partition. No scans.
pub async fn inventory(
    table: &dyn TableRead,
    subscription: &SubscriptionId,
) -> ApiResult<Vec<(PlanKind, DeviceActivity)>> {
    let sites: Vec<Site> =
        records::read_all(table, keys::sites_query(subscription, INVENTORY_PAGE)).await?;
    let mut devices = Vec::new();
    for site in sites {
        let kind = PlanKind::covering_site(&site.id);
        let query = Query {
            limit: INVENTORY_PAGE,
            ..Query::partition(keys::device_partition(subscription, &site.id))
        };
        let at_site: Vec<Device> = records::read_all(table, query).await?;
        devices.extend(at_site.iter().map(|device| (kind, device.activity())));
    }
    Ok(devices)
}

fn estimate(
    inventory: &[(PlanKind, DeviceActivity)],
    kind: Option<PlanKind>,
    now: OffsetDateTime,
) -> CommittedDevicesEstimate {
    estimate_committed_devices(
        inventory
            .iter()
            .filter(|(covered_by, _)| kind.is_none_or(|kind| kind == *covered_by))
            .map(|(_, device)| *device),
        now,
    )
}

/// A stored plan as the API shows it at `now`.
pub fn plan_view(
    record: &PlanRecord,
    inventory: &[(PlanKind, DeviceActivity)],
    now: OffsetDateTime,
) -> Plan {
    let status = status_of(record, now);
    let detected_devices = estimate(inventory, Some(record.kind), now).counted_devices;
    Plan {
        id: record.id.clone(),
        kind: record.kind,
        commitment: record.commitment,
        committed_devices: record.committed_devices,
        status,
        created_at: record.created_at,
        expires_at: record.expires_at,
        cancelled_at: record.cancelled_at,
        detected_devices,
        over_committed: is_over_committed(status, record.committed_devices, detected_devices),
    }
}

// ----- Helpers -----

fn status_of(record: &PlanRecord, now: OffsetDateTime) -> PlanStatus {
    record.terms().status(record.cancelled_at, now)
}

/// `409` unless the plan is live.
fn require_live(record: &PlanRecord, now: OffsetDateTime) -> ApiResult<()> {
    match status_of(record, now) {
        PlanStatus::Live => Ok(()),
        PlanStatus::Cancelled => Err(ApiError::Conflict(format!(
            "plan {} is cancelled: only a live plan can change",
            record.id
        ))),
        PlanStatus::Expired => Err(ApiError::Conflict(format!(
            "plan {} is an expired trial: only a live plan can change",
            record.id
        ))),
    }
}

/// `403` unless the caller may add, change or cancel plans of `kind`.
fn require_to_manage(authorized: &Authorized, kind: PlanKind) -> ApiResult<()> {
    kind.permissions_to_manage()
        .iter()
        .try_for_each(|permission| authorized.require(permission, Target::Subscription))
}

fn actor(principal: &Principal) -> AuditActor {
    AuditActor::User {
        email: principal.email.clone(),
    }
}

fn busy() -> ApiError {
    ApiError::Conflict("the plan was changed repeatedly by other requests; try again".into())
}

/// A plan of the authorized subscription; a malformed id is no such plan (`404`).
async fn read_plan(
    table: &dyn TableRead,
    authorized: &Authorized,
    raw_plan: &str,
) -> ApiResult<(PlanRecord, u64)> {
    let not_found = || ApiError::NotFound("no such plan".into());
    let id = PlanId::parse(raw_plan).map_err(|_| not_found())?;
    let plan = records::read(table, &keys::plan(&authorized.subscription.id, &id))
        .await?
        .ok_or_else(not_found)?;
    Ok((plan.record, plan.version))
}
