//! Alerts: list, read, status changes (one or in bulk), learn, PCAP; and what sensor
//! ingest does with a batch of detections ([`ingest`], called by `ingest.rs`).
//!
//! Alerts are site-scoped: `view_alerts` at an alert's site to see it (else `404`),
//! `modify_alerts` there to change it, learn it or download its capture (else `403`).
//! Key design: `docs/data-model.md`, "Alerts and devices".

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU8;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use shared::api::{
    AlertChange, AlertCounts, AlertFields, AlertFilter, AlertSummary, AuditActor, BulkAlertStatus,
    BulkAlertStatusResult, Page, PageRequest, UpdateAlert,
};
use shared::authz::{Permission, Principal, SiteFilter, Target};
use shared::model::{
    Alert, AlertId, AlertStatus, CloseReason, DetectedAlert, DetectionOutcome, PacketCapture,
    RuleId, SensorId, SensorLocation, StatusChange, SubscriptionId, on_detection,
};
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{self, Authorized};
use crate::alert_counts::{self, CountChange, Counted};
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
use crate::notifications::outbox::Outbox;
use crate::openapi::{
    Binary, DeleteErrors, Forbidden, IfMatchHeader, InSubscription, Invalid, ListErrors, NotFound,
    ReadErrors, TooLarge, Unauthenticated, UpdateErrors,
};
use crate::records::{self, FingerprintEntry, Versioned};
use crate::store::{Condition, Index, Item, Key, Table, TableRead, TransactionLimits, Write};

mod fingerprints;
pub mod offline;
pub mod retention;
mod suppression;
mod trail;

/// The alerts routes, with their document.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_alerts))
        .routes(routes!(alert_summary))
        .routes(routes!(alert_counts))
        .routes(routes!(change_statuses))
        .routes(routes!(trail::assign_many))
        .routes(routes!(trail::get_close_reasons, trail::put_close_reasons))
        .routes(routes!(get_alert, update_alert))
        .routes(routes!(learn))
        .routes(routes!(trail::assign))
        .routes(routes!(trail::comment))
        .routes(routes!(trail::timeline))
        .routes(routes!(pcap))
        .routes(routes!(suppression::list_rules, suppression::create_rule))
        .routes(routes!(suppression::preview_rule))
        .routes(routes!(suppression::get_rule, suppression::delete_rule))
}

/// The alerts function's routes.
pub fn router() -> Router<AppState> {
    routes().into()
}

/// How often a write that lost a race is re-read and retried before giving up.
const MAX_ATTEMPTS: u32 = 32;
/// The content type of `GET …/alerts/{id}/pcap`.
pub const PCAP_CONTENT_TYPE: &str = "application/vnd.tcpdump.pcap";

// ----- Stored alerts -----

/// An alert as stored: its own partition, plus its place in the status lists (GSI1,
/// the whole subscription; GSI2, its site), in the shard of its status partitions its id
/// falls in, of the `shards` the table spreads them over ([`TableRead::index_shards`]).
/// A status change therefore moves its entries between a sharded `new` partition and an
/// unsharded other in the same Put.
pub fn alert_item(
    subscription: &SubscriptionId,
    alert: &Alert,
    shards: NonZeroU8,
) -> ApiResult<Item> {
    let mut item = records::item(keys::alert(subscription, &alert.id), alert)?;
    item.gsi1 = Some(keys::alert_by_status(
        subscription,
        alert.status,
        &alert.id,
        shards,
    ));
    item.gsi2 = Some(keys::alert_by_site_status(
        subscription,
        &alert.site_id,
        alert.status,
        &alert.id,
        shards,
    ));
    Ok(item)
}

fn pcap_item(subscription: &SubscriptionId, alert: &AlertId, capture: &PacketCapture) -> Item {
    Item::new(
        keys::alert_pcap(subscription, alert),
        capture.as_bytes().to_vec(),
    )
}

/// A stored alert and the version it was read at.
type Stored = Versioned<Alert>;

fn no_such_alert() -> ApiError {
    ApiError::NotFound("no such alert".into())
}

/// The alert `raw_id` if it exists and the caller may view it at its site; `404`
/// alike otherwise, so existence never leaks.
async fn visible_alert(
    table: &dyn TableRead,
    authorized: &Authorized,
    raw_id: &str,
) -> ApiResult<Stored> {
    let id = AlertId::parse(raw_id).map_err(|_| no_such_alert())?;
    let item = table
        .get(&keys::alert(&authorized.subscription.id, &id))
        .await?
        .ok_or_else(no_such_alert)?;
    let alert: Alert = records::decode(&item)?;
    let viewable = authorized
        .access
        .decide(Permission::ViewAlerts, Target::Site(&alert.site_id))
        .is_allowed();
    if !viewable {
        return Err(no_such_alert());
    }
    Ok(Stored {
        record: alert,
        version: item.version,
    })
}

fn require_modify(authorized: &Authorized, alert: &Alert) -> ApiResult<()> {
    authorized.require(Permission::ModifyAlerts, Target::Site(&alert.site_id))
}

// ----- List -----

/// The partitions holding the alerts a list request asks for, among those the caller
/// may view: per status, the subscription-wide status partitions (GSI1) when the caller
/// views every site and names none, else those of each permitted site (GSI2). A status
/// spread over shards (`new`) contributes every shard.
fn alert_sources(
    subscription: &SubscriptionId,
    sites: &SiteFilter<'_>,
    filter: &AlertFilter,
    shards: NonZeroU8,
) -> Vec<Source> {
    let statuses: &[AlertStatus] = match &filter.status {
        Some(statuses) => statuses.values(),
        None => &AlertStatus::ALL,
    };
    let of = |index, partitions: Vec<String>| {
        partitions.into_iter().map(move |pk| Source {
            index: Some(index),
            pk,
        })
    };
    let per_site = |site| {
        statuses
            .iter()
            .flat_map(|&status| {
                of(
                    Index::Gsi2,
                    keys::alerts_by_site_status(subscription, site, status, shards),
                )
            })
            .collect::<Vec<_>>()
    };
    match (&filter.site_id, sites) {
        (Some(site), _) => per_site(site),
        (None, SiteFilter::All) => statuses
            .iter()
            .flat_map(|&status| {
                of(
                    Index::Gsi1,
                    keys::alerts_by_status(subscription, status, shards),
                )
            })
            .collect(),
        (None, SiteFilter::Only(sites)) => sites.iter().flat_map(|site| per_site(site)).collect(),
        (None, SiteFilter::None) => Vec::new(),
    }
}

/// Lists alerts, newest first, filtered by site, sensor, status, severity, engine and
/// text in the title or addresses.
///
/// Only alerts at sites where the caller holds `view_alerts` (`403` if none, or for a
/// `site_id` where the caller lacks it).
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/alerts",
    tag = "alerts",
    params(InSubscription, AlertFilter, PageRequest),
    responses(
        (status = 200, description = "A page of alerts", body = Page<Alert>),
        ListErrors,
    )
)]
async fn list_alerts(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    filter: Params<AlertFilter>,
    page: Params<PageRequest>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let sites = authorized.sites_with_some(Permission::ViewAlerts)?;
    let filter = filter.get()?;
    let page = page.get()?;
    let limit = page
        .limit()
        .map_err(|e| ApiError::invalid_field("limit", e))?;
    if let Some(site) = &filter.site_id {
        authorized.require(Permission::ViewAlerts, Target::Site(site))?;
    }
    if filter.is_empty_window() {
        let nothing: Page<Alert> = Page {
            items: Vec::new(),
            next_cursor: None,
        };
        return Ok(json(StatusCode::OK, &nothing));
    }
    let sources = alert_sources(
        &authorized.subscription.id,
        &sites,
        &filter,
        table.index_shards(),
    );
    // Site and status are the index partitions read; the other filters are checked on
    // each entry read, and a page's cursor moves past every entry examined, so a page
    // costs at most `limit` entries per partition whatever the filters exclude.
    let found = merged::merged_page(
        &table,
        sources,
        Order::Descending,
        page.cursor.as_deref(),
        limit,
        |item| {
            if filter.is_indexed_only() {
                return Ok(true);
            }
            let fields: AlertFields<'_> = records::decode_borrowed(item)?;
            Ok(filter.keeps(&fields, &principal))
        },
    )
    .await?;
    // Alerts are stored in their API shape: passed through, not decoded and re-encoded.
    Ok(json(
        StatusCode::OK,
        &Page {
            items: records::raw(&found.items)?,
            next_cursor: found.next_cursor,
        },
    ))
}

/// Counts the alerts at the sites the caller may view, for the Overview: the open ones
/// (status `new` or `active`) per severity, and those first detected on each of the
/// last 30 UTC days per severity.
///
/// Authorized as the list: only sites where the caller holds `view_alerts` are counted
/// (`403` if there is none). Read from counters kept on write (one query per site).
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/alerts/summary",
    tag = "alerts",
    params(InSubscription),
    responses(
        (status = 200, description = "Alert counts at the sites the caller may view", body = AlertSummary),
        ReadErrors,
    )
)]
async fn alert_summary(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let sites = authorized.sites_with_some(Permission::ViewAlerts)?;
    let today = OffsetDateTime::now_utc().date();
    let summary = alert_counts::summary(&table, &authorized.subscription.id, &sites, today).await?;
    Ok(json(StatusCode::OK, &summary))
}

/// Counts the alerts the filters match, in total and per status, severity, engine,
/// site, sensor and title: what the alerts page shows above and in its groups.
///
/// Authorized as the list: only sites where the caller holds `view_alerts` are counted
/// (`403` if there is none, or for a `site_id` where the caller lacks it). Read from
/// counters kept on write: one query per site, whatever the number of alerts. The text
/// search and the time window are not counted; when given, they are named in
/// `uncounted` and the counts are of the alerts matching the other filters.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/alerts/counts",
    tag = "alerts",
    params(InSubscription, AlertFilter),
    responses(
        (status = 200, description = "How many alerts the filters match, per group", body = AlertCounts),
        ListErrors,
    )
)]
async fn alert_counts(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    filter: Params<AlertFilter>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let sites = authorized.sites_with_some(Permission::ViewAlerts)?;
    let filter = filter.get()?;
    if let Some(site) = &filter.site_id {
        authorized.require(Permission::ViewAlerts, Target::Site(site))?;
    }
    // An empty window matches nothing: that much is exact.
    let counts = if filter.is_empty_window() {
        AlertCounts::default()
    } else {
        alert_counts::counts(&table, &authorized.subscription.id, &sites, &filter).await?
    };
    Ok(json(StatusCode::OK, &counts))
}

// ----- One alert -----

/// Reads one alert.
///
/// Needs `view_alerts` at the alert's site (else `404`).
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/alerts/{id}",
    tag = "alerts",
    params(InSubscription, ("id" = inline(shared::model::AlertId), Path, description = "The alert's id")),
    responses(
        (status = 200, description = "The alert", body = Alert,
            headers(("ETag" = String, description = "The alert's version, for If-Match"))),
        (status = 401, response = Unauthenticated),
        (status = 404, response = NotFound),
    )
)]
async fn get_alert(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let stored = visible_alert(table.as_ref(), &authorized, &id).await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &stored.record,
        stored.version,
    ))
}

/// Changes an alert's status.
///
/// Needs `modify_alerts` at the alert's site (else `403`); an alert at a site where
/// the caller lacks `view_alerts` is `404`.
/// An illegal transition (e.g. back to `new`) is `409`.
#[utoipa::path(
    patch,
    path = "/api/subscriptions/{sub}/alerts/{id}",
    tag = "alerts",
    params(InSubscription, ("id" = inline(shared::model::AlertId), Path, description = "The alert's id"), IfMatchHeader),
    request_body = UpdateAlert,
    responses(
        (status = 200, description = "The changed alert", body = Alert,
            headers(("ETag" = String, description = "The alert's version, for If-Match"))),
        UpdateErrors,
    )
)]
async fn update_alert(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
    if_match: IfMatch,
    body: Body,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let stored = visible_alert(table.as_ref(), &authorized, &id).await?;
    require_modify(&authorized, &stored.record)?;
    let request: UpdateAlert = body.parse()?;
    let Some(status) = request.status else {
        if request.reason.is_some() {
            return Err(ApiError::invalid_field(
                "reason",
                "only closing an alert takes a reason",
            ));
        }
        if_match.check(stored.version)?;
        return Ok(json_with_etag(
            StatusCode::OK,
            &stored.record,
            stored.version,
        ));
    };
    let reason = trail::close_reason(
        table.as_ref(),
        &authorized.subscription.id,
        status,
        request.reason.as_ref(),
    )
    .await?;
    let changed = set_status(
        table.as_ref(),
        &authorized,
        &principal,
        stored,
        status,
        reason.as_ref(),
        if_match,
    )
    .await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &changed.record,
        changed.version,
    ))
}

/// Moves a visible alert to `status` by the rules of [`AlertStatus::transition`], with
/// its timeline and audit entries (see [`trail::rewrite`]); a close with a reason that
/// learns then learns a learnable alert.
async fn set_status(
    table: &dyn Table,
    authorized: &Authorized,
    principal: &Principal,
    current: Stored,
    status: AlertStatus,
    reason: Option<&CloseReason>,
    if_match: IfMatch,
) -> ApiResult<Stored> {
    let reason_id = reason.map(|r| r.id.clone());
    let changed = trail::rewrite(
        table,
        authorized,
        principal,
        current,
        if_match,
        "alert.update",
        |alert| {
            let from = alert.status;
            let change = alert
                .change_status(status, reason_id.clone())
                .map_err(|illegal| ApiError::Conflict(illegal.to_string()))?;
            Ok(match change {
                StatusChange::Unchanged => Vec::new(),
                _ => vec![AlertChange::Status {
                    from,
                    to: status,
                    reason: reason_id.clone(),
                }],
            })
        },
    )
    .await?
    .alert;
    match reason {
        Some(reason) if reason.learns && changed.record.learnable => {
            learn_alert(table, authorized, principal, changed, IfMatch::Any).await
        }
        _ => Ok(changed),
    }
}

/// Changes the status of several alerts, each on its own.
///
/// Needs `modify_alerts` at some site. Each alert's result is what a `PATCH` of it
/// alone would have answered (`200`, `403`, `404`, `409`).
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/alerts/status",
    tag = "alerts",
    params(InSubscription),
    request_body = BulkAlertStatus,
    responses(
        (status = 200, description = "One result per distinct alert, in the order asked", body = BulkAlertStatusResult),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = TooLarge),
    )
)]
async fn change_statuses(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    authorized.sites_with_some(Permission::ModifyAlerts)?;
    let request: BulkAlertStatus = body.parse()?;
    let reason = trail::close_reason(
        table.as_ref(),
        &authorized.subscription.id,
        request.status,
        request.reason.as_ref(),
    )
    .await?;
    let mut items = Vec::with_capacity(request.alert_ids.len());
    for id in request.alert_ids {
        let outcome = async {
            let stored = visible_alert(table.as_ref(), &authorized, id.as_str()).await?;
            require_modify(&authorized, &stored.record)?;
            set_status(
                table.as_ref(),
                &authorized,
                &principal,
                stored,
                request.status,
                reason.as_ref(),
                IfMatch::Any,
            )
            .await
        }
        .await;
        items.push(trail::bulk_item(id, outcome)?);
    }
    Ok(json(StatusCode::OK, &BulkAlertStatusResult { items }))
}

/// Learns an alert: closes it, and identical alerts from that sensor are not raised
/// again.
///
/// Needs `modify_alerts` at the alert's site (else `403`); an alert at a site where
/// the caller lacks `view_alerts` is `404`.
/// Identical means the same sensor, engine, title, source_ip, destination_ip and
/// protocol. An alert that is not learnable is `409`.
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/alerts/{id}/learn",
    tag = "alerts",
    params(InSubscription, ("id" = inline(shared::model::AlertId), Path, description = "The alert's id"), IfMatchHeader),
    responses(
        (status = 200, description = "The learned (closed) alert", body = Alert,
            headers(("ETag" = String, description = "The alert's version, for If-Match"))),
        DeleteErrors,
    )
)]
async fn learn(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let current = visible_alert(table.as_ref(), &authorized, &id).await?;
    require_modify(&authorized, &current.record)?;
    let learned = learn_alert(table.as_ref(), &authorized, &principal, current, if_match).await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &learned.record,
        learned.version,
    ))
}

/// Learns a visible alert: closes it (when open) and marks its fingerprint learned, with
/// its timeline and audit entries, in one transaction; re-reads and retries when a
/// concurrent write wins, unless the caller pinned the version with `If-Match`.
/// Learning a learned, closed alert again changes nothing.
async fn learn_alert(
    table: &dyn Table,
    authorized: &Authorized,
    principal: &Principal,
    mut current: Stored,
    if_match: IfMatch,
) -> ApiResult<Stored> {
    let subscription = &authorized.subscription.id;
    for attempt in 0..MAX_ATTEMPTS {
        if_match.check(current.version)?;
        let mut alert = current.record.clone();
        let fingerprint = alert
            .learn()
            .map_err(|refused| ApiError::Conflict(refused.to_string()))?;
        let digest = fingerprints::digest(&fingerprint);
        fingerprints::migrate_buckets(table, subscription, &alert.sensor_id).await?;
        let stored = fingerprints::read(table, subscription, &alert.sensor_id, &[&digest])
            .await?
            .pop()
            .flatten();
        let now = OffsetDateTime::now_utc();
        let stored_version = stored.as_ref().map(|stored| stored.version);
        let mut entry = stored.map(|stored| stored.record).unwrap_or_default();
        let already_learned = entry.learned_at.is_some();
        if entry.latest.is_none() {
            entry.latest = Some(alert.id.clone());
        }
        entry.learned_at.get_or_insert(now);
        let status_changed = alert.status != current.record.status;
        if already_learned && !status_changed {
            return Ok(current);
        }
        // The alert is always rewritten: its new version orders the timeline entries.
        let mut writes = vec![Write::Put {
            item: alert_item(subscription, &alert, table.index_shards())?,
            condition: Condition::VersionIs(current.version),
        }];
        if !already_learned {
            writes.push(fingerprints::write(
                subscription,
                &alert.sensor_id,
                &digest,
                &entry,
                stored_version,
            )?);
        }
        let mut changes = Vec::new();
        if status_changed {
            changes.push(AlertChange::Status {
                from: current.record.status,
                to: alert.status,
                reason: alert.close_reason.clone(),
            });
        }
        changes.push(AlertChange::Learned);
        writes.extend(
            trail::event_writes(
                subscription,
                &alert,
                current.version,
                now,
                principal,
                changes,
            )?
            .0,
        );
        writes.push(
            audit::Change {
                actor: AuditActor::User {
                    email: principal.email.clone(),
                },
                action: "alert.learn",
                subscription,
                site: Some(&alert.site_id),
                target: alert.id.as_str(),
            }
            .write(
                now,
                audit::snapshot(&current.record),
                audit::snapshot(&alert),
            )?,
        );
        let counted = CountChange::rewritten(&current.record, &alert);
        match alert_counts::transact_counted(table, writes, subscription, &alert.site_id, &counted)
            .await?
        {
            Counted::Committed(versions) => {
                return Ok(Stored {
                    record: alert,
                    version: versions[0],
                });
            }
            Counted::ConditionFailed { .. } => {
                crate::contention::back_off(attempt + 1).await;
                current = visible_alert(table, authorized, current.record.id.as_str()).await?;
            }
        }
    }
    Err(ApiError::Conflict(
        "the alert kept changing while it was learned; try again".into(),
    ))
}

/// Downloads the packet capture the sensor sent with an alert.
///
/// Needs `modify_alerts` at the alert's site (else `403`); an alert at a site where
/// the caller lacks `view_alerts` is `404`.
/// An alert without a capture is `404`.
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/alerts/{id}/pcap",
    tag = "alerts",
    params(InSubscription, ("id" = inline(shared::model::AlertId), Path, description = "The alert's id")),
    responses(
        (status = 200, description = "The capture", content_type = "application/vnd.tcpdump.pcap", body = Binary),
        ReadErrors,
    )
)]
async fn pcap(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let stored = visible_alert(table.as_ref(), &authorized, &id).await?;
    require_modify(&authorized, &stored.record)?;
    let capture = table
        .get(&keys::alert_pcap(
            &authorized.subscription.id,
            &stored.record.id,
        ))
        .await?
        .ok_or_else(|| ApiError::NotFound("this alert has no packet capture".into()))?;
    let filename = format!("attachment; filename=\"{}.pcap\"", stored.record.id);
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, PCAP_CONTENT_TYPE.to_owned()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        capture.body,
    )
        .into_response())
}

// ----- Ingest -----

/// The detections of one batch with one fingerprint: the first is raised (or
/// refreshes), the others are the same traffic again and change nothing more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectionGroup {
    pub digest: String,
    /// The first detection, with the first capture any of them carried.
    pub detection: DetectedAlert,
}

/// Groups a batch by fingerprint, in order of first appearance.
pub fn group_detections(sensor: &SensorId, detections: Vec<DetectedAlert>) -> Vec<DetectionGroup> {
    let mut groups: Vec<DetectionGroup> = Vec::new();
    let mut by_digest: HashMap<String, usize> = HashMap::new();
    for detection in detections {
        let digest = fingerprints::digest(&detection.fingerprint(sensor));
        match by_digest.get(&digest) {
            Some(&n) => {
                let first = &mut groups[n].detection;
                if first.pcap_base64.is_none() {
                    first.pcap_base64 = detection.pcap_base64;
                }
            }
            None => {
                by_digest.insert(digest.clone(), groups.len());
                groups.push(DetectionGroup { digest, detection });
            }
        }
    }
    groups
}

/// What is stored of a fingerprint's latest alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Latest {
    /// No alert was ever raised for it.
    None,
    /// Named but not stored: claimed by an ingest of the layout before fingerprints and
    /// alerts were written together, which failed before writing it.
    Missing(AlertId),
    Found {
        status: AlertStatus,
    },
}

/// What ingest does with one fingerprint's detections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Suppress,
    Refresh,
    Raise,
    /// Write the claimed alert under its claimed id, unless it appears meanwhile.
    Recover,
}

/// Decides by `shared`'s rule ([`on_detection`]); a claimed but missing alert is
/// written under its claimed id, so no fingerprint ever gets two alerts.
pub fn plan(entry: Option<&FingerprintEntry>, latest: &Latest) -> Plan {
    let learned = entry.is_some_and(|entry| entry.learned_at.is_some());
    let status = match latest {
        Latest::Missing(_) if !learned => return Plan::Recover,
        Latest::Missing(_) | Latest::None => None,
        Latest::Found { status } => Some(*status),
    };
    match on_detection(learned, status) {
        DetectionOutcome::Suppressed => Plan::Suppress,
        DetectionOutcome::Refresh => Plan::Refresh,
        DetectionOutcome::Raise => Plan::Raise,
    }
}

/// The writes of one fingerprint's decision, committed together or not at all.
struct Decided {
    group: usize,
    writes: Vec<Write>,
    /// The alert these writes raise, to count in the same transaction.
    raised: Option<Alert>,
}

/// What the counters' writes may add to an ingest transaction (`alert_counts`: the
/// open, day and group shards and the site's mark, each one item).
const COUNTER_OPS: usize = 4;
const COUNTER_BYTES: usize = COUNTER_OPS * crate::store::MAX_ITEM_BYTES;

/// Packs decisions into as few transactions as the store takes, each with room for
/// its counters; a decision's writes never straddle two.
fn pack(decided: Vec<Decided>, limits: TransactionLimits) -> Vec<Vec<Decided>> {
    let ops = limits.ops.saturating_sub(COUNTER_OPS);
    let bytes = limits.bytes.saturating_sub(COUNTER_BYTES);
    let mut packed: Vec<Vec<Decided>> = Vec::new();
    let (mut used_ops, mut used_bytes) = (0, 0);
    for decision in decided {
        let (next_ops, next_bytes) = (
            decision.writes.len(),
            crate::store::transaction_size(&decision.writes),
        );
        let fits = used_ops + next_ops <= ops && used_bytes + next_bytes <= bytes;
        match packed.last_mut() {
            Some(last) if fits => last.push(decision),
            _ => {
                packed.push(vec![decision]);
                (used_ops, used_bytes) = (0, 0);
            }
        }
        used_ops += next_ops;
        used_bytes += next_bytes;
    }
    packed
}

/// Ingests a batch of one sensor's detections (`POST /ingest/alerts`); returns how many
/// were accepted once everything is durably written.
///
/// Per fingerprint, by `shared`'s rule: learned → dropped; its latest alert open →
/// `last_detected` refreshed; else a new alert. What it costs grows with the batch,
/// never with the sensor's history: one read of the batch's fingerprint items, one of
/// the latest alerts they name, then the new alerts written with their fingerprint
/// items (conditional on the versions read, so two ingests racing on a fingerprint
/// cannot both raise it), their captures and counters, and the refreshes, in as few
/// transactions as the store takes — one per ~300 new alerts on the embedded store.
pub async fn ingest(
    table: &Arc<dyn Table>,
    sensor: &SensorTokenRecord,
    detections: Vec<DetectedAlert>,
    now: OffsetDateTime,
) -> ApiResult<usize> {
    let accepted = detections.len();
    // Detections an active rule matches are counted on it, not raised.
    let suppressor = suppression::Suppressor::for_sensor(table.as_ref(), sensor, now).await?;
    let mut hits: BTreeMap<RuleId, u64> = BTreeMap::new();
    let detections: Vec<DetectedAlert> = detections
        .into_iter()
        .filter(
            |detection| match suppressor.rule_for(detection, &sensor.sensor_id) {
                Some(rule) => {
                    *hits.entry(rule.clone()).or_default() += 1;
                    false
                }
                None => true,
            },
        )
        .collect();
    let subscription = &sensor.subscription_id;
    let sensor_id = &sensor.sensor_id;
    // A new alert's event is written with it, when some rule wants new alerts.
    let outbox = Outbox::for_subscription(table.as_ref(), subscription).await?;
    fingerprints::migrate_buckets(table.as_ref(), subscription, sensor_id).await?;
    let shards = table.index_shards();
    let location = SensorLocation {
        sensor_id: sensor_id.clone(),
        site_id: sensor.site_id.clone(),
        zone_id: sensor.zone_id.clone(),
    };
    let groups = group_detections(sensor_id, detections);
    let mut ids = ids::TimeOrderedIds::new(now);
    let mut pending: Vec<usize> = (0..groups.len()).collect();
    for attempt in 0..MAX_ATTEMPTS {
        if pending.is_empty() {
            break;
        }
        if attempt > 0 {
            crate::contention::back_off(attempt).await;
        }
        // Read the fingerprints, then the latest alerts they name: two reads.
        let digests: Vec<&str> = pending.iter().map(|&g| groups[g].digest.as_str()).collect();
        let entries = fingerprints::read(table.as_ref(), subscription, sensor_id, &digests).await?;
        let alert_keys: Vec<Key> = entries
            .iter()
            .flatten()
            .filter(|entry| entry.record.learned_at.is_none())
            .filter_map(|entry| entry.record.latest.as_ref())
            .map(|id| keys::alert(subscription, id))
            .collect();
        let latest_alerts: HashMap<AlertId, Stored> =
            records::read_many::<Alert>(table.as_ref(), &alert_keys)
                .await?
                .into_iter()
                .flatten()
                .map(|stored| (stored.record.id.clone(), stored))
                .collect();

        // Decide each fingerprint.
        let mut decided = Vec::with_capacity(pending.len());
        for (&g, entry) in pending.iter().zip(entries) {
            let group = &groups[g];
            let latest_id = entry.as_ref().and_then(|entry| entry.record.latest.clone());
            let latest = match &latest_id {
                None => Latest::None,
                Some(id) => match latest_alerts.get(id) {
                    Some(stored) => Latest::Found {
                        status: stored.record.status,
                    },
                    None => Latest::Missing(id.clone()),
                },
            };
            // A new alert and its capture (`capture`: the capture's condition).
            let new_alert = |alert: &Alert, capture| -> ApiResult<Vec<Write>> {
                let mut writes = vec![Write::Put {
                    item: alert_item(subscription, alert, shards)?,
                    condition: Condition::MustNotExist,
                }];
                writes.extend(group.detection.pcap_base64.as_ref().map(|pcap| Write::Put {
                    item: pcap_item(subscription, &alert.id, pcap),
                    condition: capture,
                }));
                Ok(writes)
            };
            let decision = match (plan(entry.as_ref().map(|e| &e.record), &latest), latest) {
                (Plan::Suppress, _) => continue,
                (Plan::Refresh, _) => {
                    let Some(stored) = latest_id.and_then(|id| latest_alerts.get(&id)) else {
                        continue;
                    };
                    // Conditional on the version read: a concurrent status change is
                    // never undone.
                    let mut alert = stored.record.clone();
                    alert.detected_again(now);
                    Decided {
                        group: g,
                        writes: vec![Write::Put {
                            item: alert_item(subscription, &alert, shards)?,
                            condition: Condition::VersionIs(stored.version),
                        }],
                        raised: None,
                    }
                }
                (Plan::Recover, Latest::Missing(id)) => {
                    let alert = Alert::raised(id, location.clone(), &group.detection, now);
                    Decided {
                        group: g,
                        writes: new_alert(&alert, Condition::Always)?,
                        raised: None,
                    }
                }
                (Plan::Raise | Plan::Recover, _) => {
                    let id = AlertId::parse(ids.next_id())
                        .map_err(|e| ApiError::Internal(e.to_string()))?;
                    let mut record = entry
                        .as_ref()
                        .map(|entry| entry.record.clone())
                        .unwrap_or_default();
                    record.latest = Some(id.clone());
                    let alert = Alert::raised(id, location.clone(), &group.detection, now);
                    let mut writes = vec![fingerprints::write(
                        subscription,
                        sensor_id,
                        &group.digest,
                        &record,
                        entry.as_ref().map(|entry| entry.version),
                    )?];
                    writes.extend(new_alert(&alert, Condition::MustNotExist)?);
                    writes.extend(outbox.alert_created(&alert, now)?);
                    Decided {
                        group: g,
                        writes,
                        raised: Some(alert),
                    }
                }
            };
            decided.push(decision);
        }

        // Commit. A new alert is counted in the transaction that writes it: the one place
        // where raising it is decided, exactly once. A transaction that loses a race is
        // re-read and decided again.
        let mut retry = Vec::new();
        for transaction in pack(decided, table.transaction_limits()) {
            let counted = CountChange::raised(transaction.iter().filter_map(|d| d.raised.as_ref()));
            let groups_in: Vec<usize> = transaction.iter().map(|d| d.group).collect();
            let writes: Vec<Write> = transaction.into_iter().flat_map(|d| d.writes).collect();
            match alert_counts::transact_counted(
                table.as_ref(),
                writes,
                subscription,
                &sensor.site_id,
                &counted,
            )
            .await?
            {
                Counted::Committed(_) => {}
                Counted::ConditionFailed { .. } => retry.extend(groups_in),
            }
        }
        pending = retry;
    }
    if !pending.is_empty() {
        return Err(ApiError::Internal(format!(
            "ingest of {} fingerprints still contended after {MAX_ATTEMPTS} attempts",
            pending.len()
        )));
    }
    suppression::record_hits(table.as_ref(), subscription, sensor_id, &hits, now).await?;
    Ok(accepted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Query;
    use crate::store::embedded::EmbeddedTable;
    use shared::api::AnyOf;
    use shared::model::{SensorType, Severity, SiteId};
    use time::Duration;

    async fn table() -> (Arc<dyn Table>, tempfile::TempDir) {
        let directory = tempfile::tempdir().unwrap();
        let table = EmbeddedTable::open(directory.path().join("t.redb"), [5; 32]).unwrap();
        (Arc::new(table), directory)
    }

    fn token(sensor_id: &str) -> SensorTokenRecord {
        SensorTokenRecord {
            subscription_id: SubscriptionId::parse("sub-1").unwrap(),
            sensor_id: SensorId::parse(sensor_id).unwrap(),
            sensor_type: SensorType::OtCloudConnected,
            site_id: SiteId::parse("plant-1").unwrap(),
            zone_id: None,
        }
    }

    /// Every alert of the subscription, newest first.
    async fn all_alerts(table: &Arc<dyn Table>) -> Vec<(Alert, u64)> {
        listed(table, &AlertFilter::default(), 500).await
    }

    /// The alerts a subscription-wide list with `filter` shows, newest first, through
    /// every page of `limit`.
    async fn listed(table: &Arc<dyn Table>, filter: &AlertFilter, limit: u32) -> Vec<(Alert, u64)> {
        let subscription = SubscriptionId::parse("sub-1").unwrap();
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let sources = alert_sources(
                &subscription,
                &SiteFilter::All,
                filter,
                table.index_shards(),
            );
            let page = merged::merged_page(
                table,
                sources,
                Order::Descending,
                cursor.as_deref(),
                limit,
                |_| Ok(true),
            )
            .await
            .unwrap();
            all.extend(
                page.items
                    .iter()
                    .map(|item| (records::decode(item).unwrap(), item.version)),
            );
            cursor = page.next_cursor;
            if cursor.is_none() {
                return all;
            }
        }
    }

    const NOW: OffsetDateTime = time::macros::datetime!(2024-03-01 12:00 UTC);

    /// A table that spreads hot index partitions over `shards`, as DynamoDB's does, kept
    /// in an embedded table.
    struct Sharded {
        inner: Arc<dyn Table>,
        shards: NonZeroU8,
    }

    #[async_trait::async_trait]
    impl TableRead for Sharded {
        async fn get(&self, key: &Key) -> crate::store::StoreResult<Option<Item>> {
            self.inner.get(key).await
        }

        async fn query(&self, query: &Query) -> crate::store::StoreResult<crate::store::QueryPage> {
            self.inner.query(query).await
        }

        fn index_shards(&self) -> NonZeroU8 {
            self.shards
        }
    }

    #[async_trait::async_trait]
    impl crate::store::TableWrite for Sharded {
        async fn transact(&self, writes: Vec<Write>) -> crate::store::StoreResult<Vec<u64>> {
            self.inner.transact(writes).await
        }

        async fn batch_put(&self, items: Vec<Item>) -> crate::store::StoreResult<()> {
            self.inner.batch_put(items).await
        }
    }

    fn sharded(inner: &Arc<dyn Table>, shards: u8) -> Arc<dyn Table> {
        Arc::new(Sharded {
            inner: Arc::clone(inner),
            shards: NonZeroU8::new(shards).unwrap(),
        })
    }

    /// How many index entries each partition of `partitions` holds.
    async fn entries(table: &Arc<dyn Table>, index: Index, partitions: Vec<String>) -> Vec<usize> {
        let mut counts = Vec::new();
        for pk in partitions {
            let page = table
                .query(&Query {
                    index: Some(index),
                    limit: 1_000,
                    ..Query::partition(pk)
                })
                .await
                .unwrap();
            assert!(page.next_cursor.is_none());
            counts.push(page.items.len());
        }
        counts
    }

    fn titles(alerts: &[(Alert, u64)]) -> Vec<String> {
        alerts
            .iter()
            .map(|(alert, _)| alert.title.as_str().to_owned())
            .collect()
    }

    #[tokio::test]
    async fn new_alerts_spread_over_every_shard_and_list_once_newest_first() {
        let (embedded, _dir) = table().await;
        let table = sharded(&embedded, 4);
        let sensor = token("s1");
        let subscription = &sensor.subscription_id;
        // WHEN a table with four shards ingests 40 alerts, one at a time
        for n in 0..40 {
            let at = NOW + Duration::seconds(n);
            let batch = vec![detection(&format!("Scan {n}"), "10.0.0.1", None)];
            ingest(&table, &sensor, batch, at).await.unwrap();
        }
        // THEN each shard of `new` holds the alerts whose id hashes to it, subscription-wide
        // and at the site (and 40 ids all hashing to one shard would be a broken hash)
        let mut per_shard = vec![0; 4];
        for (alert, _) in all_alerts(&table).await {
            let shard = keys::alert_shard(AlertStatus::New, &alert.id, table.index_shards());
            per_shard[usize::from(shard)] += 1;
        }
        assert!(
            per_shard.iter().filter(|&&n| n > 0).count() > 1,
            "{per_shard:?}"
        );
        let gsi1 = keys::alerts_by_status(subscription, AlertStatus::New, table.index_shards());
        let gsi2 = keys::alerts_by_site_status(
            subscription,
            &sensor.site_id,
            AlertStatus::New,
            table.index_shards(),
        );
        for counts in [
            entries(&table, Index::Gsi1, gsi1.clone()).await,
            entries(&table, Index::Gsi2, gsi2.clone()).await,
        ] {
            assert_eq!(counts, per_shard);
            assert_eq!(counts.iter().sum::<usize>(), 40);
        }
        // AND lists show each once, newest first, whatever the page size
        let expected: Vec<String> = (0..40).rev().map(|n| format!("Scan {n}")).collect();
        for limit in [1, 7, 500] {
            assert_eq!(
                titles(&listed(&table, &AlertFilter::default(), limit).await),
                expected
            );
        }
        // WHEN two of them are closed and one made active
        let all = all_alerts(&table).await;
        for ((alert, version), status) in all.iter().take(3).zip([
            AlertStatus::Closed,
            AlertStatus::Active,
            AlertStatus::Closed,
        ]) {
            let mut changed = alert.clone();
            changed.change_status(status, None).unwrap();
            table
                .put(
                    alert_item(subscription, &changed, table.index_shards()).unwrap(),
                    Condition::VersionIs(*version),
                )
                .await
                .unwrap();
        }
        // THEN they left their shard of `new` for the one partition of their status
        let count = |counts: Vec<usize>| counts.iter().sum::<usize>();
        assert_eq!(count(entries(&table, Index::Gsi1, gsi1).await), 37);
        assert_eq!(count(entries(&table, Index::Gsi2, gsi2).await), 37);
        let closed =
            keys::alerts_by_status(subscription, AlertStatus::Closed, table.index_shards());
        assert_eq!(entries(&table, Index::Gsi1, closed).await, [2]);
        let by_status = |status| AlertFilter {
            status: AnyOf::new([status]),
            ..AlertFilter::default()
        };
        assert_eq!(
            titles(&listed(&table, &by_status(AlertStatus::Closed), 1).await),
            ["Scan 39", "Scan 37"]
        );
        assert_eq!(
            titles(&listed(&table, &by_status(AlertStatus::Active), 1).await),
            ["Scan 38"]
        );
        assert_eq!(
            titles(&listed(&table, &by_status(AlertStatus::New), 5).await),
            expected[3..]
        );
        assert_eq!(
            titles(&listed(&table, &AlertFilter::default(), 3).await),
            expected
        );
    }

    #[tokio::test]
    async fn alerts_written_unsharded_are_still_listed_and_changed_with_more_shards() {
        // GIVEN alerts written by a table with one shard (as before shards existed)
        let (embedded, _dir) = table().await;
        let sensor = token("s1");
        let batch: Vec<DetectedAlert> = (0..12)
            .map(|n| detection(&format!("Scan {n}"), "10.0.0.1", None))
            .collect();
        ingest(&embedded, &sensor, batch.clone(), NOW)
            .await
            .unwrap();
        let before = all_alerts(&embedded).await;
        assert_eq!(before.len(), 12);
        // WHEN the table spreads `new` over four shards
        let table = sharded(&embedded, 4);
        // THEN every alert is listed as before
        assert_eq!(
            titles(&listed(&table, &AlertFilter::default(), 5).await),
            titles(&before)
        );
        // AND seen again, each is rewritten into its shard, still listed once
        ingest(&table, &sensor, batch, NOW + Duration::seconds(1))
            .await
            .unwrap();
        let after = listed(&table, &AlertFilter::default(), 5).await;
        assert_eq!(titles(&after), titles(&before));
        assert!(after.iter().all(|(alert, version)| {
            *version == 2 && alert.last_detected == NOW + Duration::seconds(1)
        }));
        let partitions = keys::alerts_by_status(
            &sensor.subscription_id,
            AlertStatus::New,
            table.index_shards(),
        );
        let counts = entries(&table, Index::Gsi1, partitions).await;
        assert_eq!(counts.iter().sum::<usize>(), 12);
        assert!(counts[1..].iter().any(|&count| count > 0), "{counts:?}");
    }

    #[tokio::test]
    async fn the_same_traffic_twice_is_one_alert_detected_later() {
        let (table, _dir) = table().await;
        // GIVEN an alert raised by a detection
        let sensor = token("s1");
        ingest(
            &table,
            &sensor,
            vec![detection("Scan", "10.0.0.1", None)],
            NOW,
        )
        .await
        .unwrap();
        // WHEN the same traffic is detected a minute later
        let later = NOW + Duration::minutes(1);
        ingest(
            &table,
            &sensor,
            vec![detection("Scan", "10.0.0.1", None)],
            later,
        )
        .await
        .unwrap();
        // THEN there is still one alert, its last detection moved
        let alerts = all_alerts(&table).await;
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].0.first_detected, NOW);
        assert_eq!(alerts[0].0.last_detected, later);
    }

    #[tokio::test]
    async fn traffic_of_a_closed_alert_raises_a_new_one_and_of_a_learned_one_nothing() {
        let (table, _dir) = table().await;
        let sensor = token("s1");
        let subscription = &sensor.subscription_id;
        ingest(
            &table,
            &sensor,
            vec![detection("Scan", "10.0.0.1", None)],
            NOW,
        )
        .await
        .unwrap();
        // GIVEN the alert closed
        let (mut alert, version) = all_alerts(&table).await.remove(0);
        alert.change_status(AlertStatus::Closed, None).unwrap();
        table
            .put(
                alert_item(subscription, &alert, table.index_shards()).unwrap(),
                Condition::VersionIs(version),
            )
            .await
            .unwrap();
        // WHEN the same traffic comes again
        ingest(
            &table,
            &sensor,
            vec![detection("Scan", "10.0.0.1", None)],
            NOW + Duration::seconds(1),
        )
        .await
        .unwrap();
        // THEN a new alert is raised next to the closed one
        let alerts = all_alerts(&table).await;
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].0.status, AlertStatus::New);
        // WHEN its fingerprint is a baseline
        let digest = fingerprints::digest(&alert.fingerprint());
        let key = keys::alert_fingerprint(subscription, &sensor.sensor_id, &digest);
        let stored = table.get(&key).await.unwrap().unwrap();
        let mut record: FingerprintEntry = records::decode(&stored).unwrap();
        record.learned_at = Some(NOW);
        table
            .put(records::item(key, &record).unwrap(), Condition::Always)
            .await
            .unwrap();
        let mut closed = alerts[0].0.clone();
        closed.change_status(AlertStatus::Closed, None).unwrap();
        table
            .put(
                alert_item(subscription, &closed, table.index_shards()).unwrap(),
                Condition::Always,
            )
            .await
            .unwrap();
        ingest(
            &table,
            &sensor,
            vec![detection("Scan", "10.0.0.1", None)],
            NOW,
        )
        .await
        .unwrap();
        // THEN nothing more is raised
        assert_eq!(all_alerts(&table).await.len(), 2);
    }

    #[tokio::test]
    async fn concurrent_ingests_of_the_same_traffic_make_one_alert() {
        let (table, _dir) = table().await;
        let mut running = tokio::task::JoinSet::new();
        for n in 0..8 {
            let table = Arc::clone(&table);
            running.spawn(async move {
                let batch = vec![
                    detection("Scan", "10.0.0.1", None),
                    detection(&format!("Other {n}"), "10.0.0.2", None),
                ];
                ingest(&table, &token("s1"), batch, NOW).await.unwrap()
            });
        }
        while let Some(done) = running.join_next().await {
            assert_eq!(done.unwrap(), 2);
        }
        let alerts = all_alerts(&table).await;
        let scans = alerts
            .iter()
            .filter(|(alert, _)| alert.title.as_str() == "Scan")
            .count();
        assert_eq!(scans, 1);
        assert_eq!(alerts.len(), 9);
    }

    /// The summary of subscription `sub-1` at every site, on `NOW`'s day.
    async fn summary_now(table: &Arc<dyn Table>) -> shared::api::AlertSummary {
        let subscription = SubscriptionId::parse("sub-1").unwrap();
        alert_counts::summary(table, &subscription, &SiteFilter::All, NOW.date())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn concurrent_ingests_count_each_alert_raised_once_and_refreshes_not_at_all() {
        let (table, _dir) = table().await;
        // GIVEN 8 ingests at once of the same traffic, each with traffic of its own,
        // from sensors at two sites
        let mut running = tokio::task::JoinSet::new();
        for n in 0..8 {
            let table = Arc::clone(&table);
            running.spawn(async move {
                let mut own = detection(&format!("Other {n}"), "10.0.0.2", None);
                own.severity = if n % 2 == 0 {
                    Severity::Critical
                } else {
                    Severity::Warning
                };
                let batch = vec![detection("Scan", "10.0.0.1", None), own];
                ingest(&table, &token("s1"), batch, NOW).await.unwrap();
            });
        }
        let mut elsewhere = token("s2");
        elsewhere.site_id = shared::model::SiteId::parse("plant-2").unwrap();
        ingest(
            &table,
            &elsewhere,
            vec![detection("Scan", "10.0.0.1", None)],
            NOW,
        )
        .await
        .unwrap();
        while let Some(done) = running.join_next().await {
            done.unwrap();
        }
        // WHEN all of it is seen again (refreshes)
        let again: Vec<DetectedAlert> = (0..8)
            .map(|n| detection(&format!("Other {n}"), "10.0.0.2", None))
            .collect();
        ingest(&table, &token("s1"), again, NOW + Duration::seconds(5))
            .await
            .unwrap();
        // THEN the counts are those of the alerts stored
        let stored = all_alerts(&table).await;
        assert_eq!(stored.len(), 10);
        let summary = summary_now(&table).await;
        let expected = shared::api::SeverityCounts {
            critical: 4,
            major: 2,
            minor: 0,
            warning: 4,
        };
        assert_eq!(summary.open, expected);
        assert_eq!(summary.daily[29].counts, expected);
        // WHEN one is closed and another made active
        for ((alert, version), status) in stored
            .iter()
            .take(2)
            .zip([AlertStatus::Closed, AlertStatus::Active])
        {
            let mut changed = alert.clone();
            changed.change_status(status, None).unwrap();
            let change = CountChange::rewritten(alert, &changed);
            let put = Write::Put {
                item: alert_item(&alert_id_sub(), &changed, table.index_shards()).unwrap(),
                condition: Condition::VersionIs(*version),
            };
            alert_counts::transact_counted(
                table.as_ref(),
                vec![put],
                &alert_id_sub(),
                &alert.site_id,
                &change,
            )
            .await
            .unwrap();
        }
        // THEN one fewer is open, and the day's count stays
        let closed = stored[0].0.severity;
        let after = summary_now(&table).await;
        assert_eq!(after.open.total(), 9);
        assert_eq!(after.open.get(closed), expected.get(closed) - 1);
        assert_eq!(after.daily[29].counts, expected);
        // AND the group counts, under any filter, are those of the alerts stored now
        let stored = all_alerts(&table).await;
        assert_eq!(stored.len(), 10);
        for filter in [
            serde_json::json!({}),
            serde_json::json!({"status": "new,active"}),
            serde_json::json!({"status": "closed"}),
            serde_json::json!({"severity": "critical,warning", "site_id": "plant-1"}),
            serde_json::json!({"sensor_id": "s2"}),
        ] {
            let filter: AlertFilter = serde_json::from_value(filter).unwrap();
            let counted = alert_counts::counts(&table, &alert_id_sub(), &SiteFilter::All, &filter)
                .await
                .unwrap();
            let each = stored.iter().map(|(alert, _)| {
                let group = shared::api::AlertGroup {
                    site_id: &alert.site_id,
                    sensor_id: &alert.sensor_id,
                    status: alert.status,
                    severity: alert.severity,
                    engine: alert.engine,
                    title: alert.title.as_str(),
                };
                (group, 1)
            });
            assert_eq!(
                counted,
                shared::api::AlertCounts::tally(&filter, each),
                "{filter:?}"
            );
            assert!(counted.total > 0, "{filter:?}");
        }
    }

    fn alert_id_sub() -> SubscriptionId {
        SubscriptionId::parse("sub-1").unwrap()
    }

    /// A bucket of the layout before one item per fingerprint, holding `entries`.
    async fn legacy_bucket(
        table: &Arc<dyn Table>,
        sensor: &SensorTokenRecord,
        bucket: u8,
        entries: Vec<(String, FingerprintEntry)>,
    ) -> Key {
        let record = crate::records::FingerprintBucketRecord {
            entries: entries.into_iter().collect(),
        };
        let key = Key::new(
            keys::alert_fingerprints_partition(&sensor.subscription_id, &sensor.sensor_id),
            format!("{}{bucket:02}", keys::LEGACY_FINGERPRINT_BUCKET),
        );
        table
            .put(
                records::item(key.clone(), &record).unwrap(),
                Condition::MustNotExist,
            )
            .await
            .unwrap();
        key
    }

    #[tokio::test]
    async fn legacy_buckets_move_into_their_items_with_claims_and_baselines_kept() {
        let (table, _dir) = table().await;
        let sensor = token("s1");
        // GIVEN legacy buckets: one fingerprint claimed for alert X by an ingest that
        // failed before writing it, another learned (a baseline)
        let claimed_traffic = detection("Scan", "10.0.0.1", Some("1MOyoQ=="));
        let learned_traffic = detection("Baseline", "10.0.0.2", None);
        let digest_of = |d: &DetectedAlert| fingerprints::digest(&d.fingerprint(&sensor.sensor_id));
        let claimed = AlertId::parse("01HQ0000000000000000000000").unwrap();
        let buckets = [
            legacy_bucket(
                &table,
                &sensor,
                3,
                vec![(
                    digest_of(&claimed_traffic),
                    FingerprintEntry {
                        latest: Some(claimed.clone()),
                        learned_at: None,
                    },
                )],
            )
            .await,
            legacy_bucket(
                &table,
                &sensor,
                40,
                vec![(
                    digest_of(&learned_traffic),
                    FingerprintEntry {
                        latest: None,
                        learned_at: Some(NOW),
                    },
                )],
            )
            .await,
        ];
        // WHEN the sensor sends both again
        ingest(&table, &sensor, vec![claimed_traffic, learned_traffic], NOW)
            .await
            .unwrap();
        // THEN alert X exists under its claimed id, with its capture, the baseline
        // raised nothing, and the buckets are gone
        let alerts = all_alerts(&table).await;
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].0.id, claimed);
        let capture = table
            .get(&keys::alert_pcap(&sensor.subscription_id, &claimed))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(capture.body, [0xd4, 0xc3, 0xb2, 0xa1]);
        for bucket in buckets {
            assert_eq!(table.get(&bucket).await.unwrap(), None);
        }
        // AND the baseline is its own item now
        let key = keys::alert_fingerprint(
            &sensor.subscription_id,
            &sensor.sensor_id,
            &digest_of(&detection("Baseline", "10.0.0.2", None)),
        );
        let entry: FingerprintEntry =
            records::decode(&table.get(&key).await.unwrap().unwrap()).unwrap();
        assert_eq!(entry.learned_at, Some(NOW));
    }

    /// A table that counts what is read by key and what is written (but counters).
    struct Counting {
        inner: Arc<dyn Table>,
        keys_read: std::sync::atomic::AtomicUsize,
        bytes_written: std::sync::atomic::AtomicUsize,
        transactions: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl TableRead for Counting {
        async fn get(&self, key: &Key) -> crate::store::StoreResult<Option<Item>> {
            self.keys_read
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.inner.get(key).await
        }

        async fn get_many(&self, keys: &[Key]) -> crate::store::StoreResult<Vec<Option<Item>>> {
            self.keys_read
                .fetch_add(keys.len(), std::sync::atomic::Ordering::Relaxed);
            self.inner.get_many(keys).await
        }

        async fn query(&self, query: &Query) -> crate::store::StoreResult<crate::store::QueryPage> {
            self.inner.query(query).await
        }

        fn index_shards(&self) -> NonZeroU8 {
            self.inner.index_shards()
        }
    }

    #[async_trait::async_trait]
    impl crate::store::TableWrite for Counting {
        async fn transact(&self, writes: Vec<Write>) -> crate::store::StoreResult<Vec<u64>> {
            self.transactions
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // Not the counters: their shard is picked at random, and may be fuller.
            let counted: Vec<Write> = writes
                .iter()
                .filter(|write| !write.key().pk.starts_with("ALERTCOUNT#"))
                .cloned()
                .collect();
            self.bytes_written.fetch_add(
                crate::store::transaction_size(&counted),
                std::sync::atomic::Ordering::Relaxed,
            );
            self.inner.transact(writes).await
        }

        async fn batch_put(&self, items: Vec<Item>) -> crate::store::StoreResult<()> {
            self.transactions
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.inner.batch_put(items).await
        }

        fn transaction_limits(&self) -> TransactionLimits {
            self.inner.transaction_limits()
        }
    }

    /// What ingesting one batch of 20 new and 20 repeated detections costs after the
    /// sensor sent `history` distinct ones: (keys read, bytes written, transactions).
    async fn cost_of_a_batch_after(history: usize) -> (usize, usize, usize) {
        let (inner, _dir) = table().await;
        let sensor = token("s1");
        // 64 titles, as a sensor's rule set: the counters' groups stop growing.
        let traffic = |n: usize| {
            let mut d = detection(&format!("Scan {}", n % 64), "10.0.0.1", None);
            d.source_ip = format!("10.{}.{}.{}", n >> 16 & 255, n >> 8 & 255, n & 255)
                .parse()
                .unwrap();
            d
        };
        let past: Vec<DetectedAlert> = (0..history).map(traffic).collect();
        for chunk in past.chunks(1_000) {
            ingest(&inner, &sensor, chunk.to_vec(), NOW).await.unwrap();
        }
        let counting = Arc::new(Counting {
            inner,
            keys_read: Default::default(),
            bytes_written: Default::default(),
            transactions: Default::default(),
        });
        let table: Arc<dyn Table> = counting.clone();
        let batch: Vec<DetectedAlert> = (history - 20..history + 20).map(traffic).collect();
        ingest(&table, &sensor, batch, NOW + Duration::seconds(1))
            .await
            .unwrap();
        let load =
            |n: &std::sync::atomic::AtomicUsize| n.load(std::sync::atomic::Ordering::Relaxed);
        (
            load(&counting.keys_read),
            load(&counting.bytes_written),
            load(&counting.transactions),
        )
    }

    #[tokio::test]
    async fn a_batch_costs_what_it_carries_whatever_the_sensors_history() {
        // GIVEN a sensor with a short and one with a long history
        let short = cost_of_a_batch_after(100).await;
        let long = cost_of_a_batch_after(6_000).await;
        // THEN the same batch reads the same keys: its 40 fingerprints, the 20 alerts
        // they name, the counters
        assert_eq!(short.0, long.0, "keys read: {short:?} {long:?}");
        assert!(long.0 <= 40 + 20 + 8, "{long:?}");
        // AND writes the same bytes (within the few digits ids and counts grow by)
        let ratio = long.1 as f64 / short.1 as f64;
        assert!((0.98..1.02).contains(&ratio), "bytes: {short:?} {long:?}");
        // AND commits once on the embedded store: new alerts, refreshes and counters
        assert_eq!(long.2, 1, "{long:?}");
    }

    #[tokio::test]
    async fn a_large_batch_ingested_twice_is_stored_once_newest_first() {
        let (table, _dir) = table().await;
        let batch: Vec<DetectedAlert> = (0..2_000)
            .map(|n| detection(&format!("Scan {n}"), "10.0.0.1", None))
            .collect();
        ingest(&table, &token("s1"), batch.clone(), NOW)
            .await
            .unwrap();
        ingest(&table, &token("s1"), batch, NOW + Duration::seconds(1))
            .await
            .unwrap();
        let subscription = SubscriptionId::parse("sub-1").unwrap();
        // The embedded store keeps `new` alerts in one partition (one shard).
        let [partition] = <[String; 1]>::try_from(keys::alerts_by_status(
            &subscription,
            AlertStatus::New,
            table.index_shards(),
        ))
        .unwrap();
        let new = table
            .query(&Query {
                index: Some(Index::Gsi1),
                limit: 5_000,
                ..Query::partition(partition)
            })
            .await
            .unwrap();
        assert_eq!(new.items.len(), 2_000);
        // newest first lists the batch from its last detection back
        let first: Alert = records::decode(new.items.last().unwrap()).unwrap();
        assert_eq!(first.title.as_str(), "Scan 1999");
    }

    fn detection(title: &str, source: &str, pcap: Option<&str>) -> DetectedAlert {
        let mut json = serde_json::json!({
            "title": title, "severity": "major", "engine": "policy_violation",
            "source_ip": source, "destination_ip": "10.0.0.9", "protocol": "S7",
            "learnable": true,
        });
        if let Some(pcap) = pcap {
            json["pcap_base64"] = pcap.into();
        }
        serde_json::from_value(json).unwrap()
    }

    fn sensor(id: &str) -> SensorId {
        SensorId::parse(id).unwrap()
    }

    #[test]
    fn a_batch_is_grouped_by_fingerprint_in_order_of_first_appearance() {
        // GIVEN the same traffic three times (a capture only on the last) and another
        let batch = vec![
            detection("Scan", "10.0.0.1", None),
            detection("Other", "10.0.0.1", None),
            detection("Scan", "10.0.0.1", None),
            detection("Scan", "10.0.0.1", Some("1MOyoQ==")),
        ];
        // WHEN grouped
        let groups = group_detections(&sensor("s1"), batch);
        // THEN two groups, the first keeping the capture of its later repeat
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].detection.title.as_str(), "Scan");
        assert_eq!(
            groups[0]
                .detection
                .pcap_base64
                .as_ref()
                .map(|c| c.as_bytes().len()),
            Some(4)
        );
        assert_eq!(groups[1].detection.title.as_str(), "Other");
    }

    #[test]
    fn digests_are_per_sensor_and_ignore_severity() {
        let one = detection("Scan", "10.0.0.1", None);
        let a = fingerprints::digest(&one.fingerprint(&sensor("s1")));
        let b = fingerprints::digest(&one.fingerprint(&sensor("s2")));
        assert_ne!(a, b);
        assert_eq!(a.len(), 22);
        let mut severity = one.clone();
        severity.severity = shared::model::Severity::Critical;
        assert_eq!(
            fingerprints::digest(&severity.fingerprint(&sensor("s1"))),
            a,
            "severity is not part of identical traffic"
        );
    }

    #[test]
    fn ingest_decisions_follow_the_shared_rule_and_recover_claimed_alerts() {
        let id = AlertId::parse("01HQ0000000000000000000000").unwrap();
        let open = FingerprintEntry {
            latest: Some(id.clone()),
            learned_at: None,
        };
        let learned = FingerprintEntry {
            latest: Some(id.clone()),
            learned_at: Some(OffsetDateTime::UNIX_EPOCH),
        };
        assert_eq!(plan(None, &Latest::None), Plan::Raise);
        let found = |status| Latest::Found { status };
        assert_eq!(plan(Some(&open), &found(AlertStatus::New)), Plan::Refresh);
        assert_eq!(
            plan(Some(&open), &found(AlertStatus::Active)),
            Plan::Refresh
        );
        assert_eq!(plan(Some(&open), &found(AlertStatus::Closed)), Plan::Raise);
        assert_eq!(
            plan(Some(&open), &Latest::Missing(id.clone())),
            Plan::Recover
        );
        assert_eq!(
            plan(Some(&learned), &found(AlertStatus::Closed)),
            Plan::Suppress
        );
        assert_eq!(plan(Some(&learned), &Latest::Missing(id)), Plan::Suppress);
    }

    #[test]
    fn decisions_are_packed_whole_into_transactions_with_room_for_counters() {
        let write = |n: usize| Write::Check {
            key: Key::new("P", format!("{n:04}")),
            condition: Condition::MustExist,
        };
        let decided = (0..50)
            .map(|group| Decided {
                group,
                writes: (0..3).map(|k| write(group * 3 + k)).collect(),
                raised: None,
            })
            .collect();
        let packed = pack(decided, TransactionLimits::DYNAMODB);
        // 96 of 100 operations hold 32 decisions of 3; the rest go in a second
        let sizes: Vec<usize> = packed.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![32, 18]);
        let groups: Vec<usize> = packed.iter().flatten().map(|d| d.group).collect();
        assert_eq!(groups, (0..50).collect::<Vec<_>>(), "in order, each once");
        // bytes bound a transaction too
        let one_per = pack(
            (0..3)
                .map(|group| Decided {
                    group,
                    writes: vec![write(group)],
                    raised: None,
                })
                .collect(),
            TransactionLimits {
                ops: 100,
                bytes: COUNTER_BYTES + 7,
            },
        );
        assert_eq!(one_per.len(), 3);
    }
}
