//! An alert's trail: its assignee, comments and timeline, and the subscription's close
//! reasons. Every change bumps the alert's version and writes its timeline entries and
//! audit entry in the same transaction, so the timeline holds exactly what happened,
//! in order.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use shared::api::{
    AddComment, AlertChange, AlertEvent, AssignAlert, AuditActor, BulkAlertStatusItem,
    BulkAlertStatusResult, BulkAssignAlerts, CloseReasonList, ErrorDetail, Page, PageRequest,
};
use shared::authz::{Permission, Principal, PrincipalRef, Target};
use shared::model::{Alert, AlertEventId, CloseReasonId, CloseReasons, Email};
use time::OffsetDateTime;

use super::{MAX_ATTEMPTS, Stored, alert_item, require_modify, visible_alert};
use crate::access::{self, Authorized};
use crate::alert_counts::{self, CountChange, Counted};
use crate::audit;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{Body, json};
use crate::http::params::{IfMatch, Params, json_with_etag};
use crate::http::principal::Caller;
use crate::keys;
use crate::openapi::{
    Forbidden, IfMatchHeader, InSubscription, Invalid, ListErrors, NotFound, ReadErrors, TooLarge,
    Unauthenticated, UpdateErrors,
};
use crate::records::{self, Versioned};
use crate::store::{Condition, StoreError, Table, TableRead, Write};

/// The timeline entries of a change made over version `replaced` of `alert`, one per
/// change in order, and their writes.
pub(super) fn event_writes(
    subscription: &shared::model::SubscriptionId,
    alert: &Alert,
    replaced: u64,
    at: OffsetDateTime,
    actor: &Principal,
    changes: Vec<AlertChange>,
) -> ApiResult<(Vec<Write>, Vec<AlertEvent>)> {
    let mut writes = Vec::with_capacity(changes.len());
    let mut events = Vec::with_capacity(changes.len());
    for (n, change) in changes.into_iter().enumerate() {
        let n = u8::try_from(n).map_err(|e| ApiError::Internal(e.to_string()))?;
        let event = AlertEvent {
            id: AlertEventId::parse(format!("{replaced:020}-{n}"))
                .map_err(|e| ApiError::Internal(e.to_string()))?,
            at,
            actor: AuditActor::User {
                email: actor.email.clone(),
            },
            change,
        };
        writes.push(Write::Put {
            item: records::item(
                keys::alert_event(subscription, &alert.id, replaced, n),
                &event,
            )?,
            condition: Condition::MustNotExist,
        });
        events.push(event);
    }
    Ok((writes, events))
}

/// An alert as a rewrite left it, with the timeline entries it wrote (none when the
/// change changed nothing).
pub(super) struct Rewritten {
    pub alert: Stored,
    pub events: Vec<AlertEvent>,
}

/// Rewrites `current` by `change` (which may refuse), with its timeline entries, its
/// audit entry `action` and what it moves in the alert counters, conditional on the
/// version read; re-reads and retries when a concurrent write wins, unless the caller
/// pinned the version with `If-Match` (`412`). Nothing is written when `change`
/// records nothing.
pub(super) async fn rewrite(
    table: &dyn Table,
    authorized: &Authorized,
    principal: &Principal,
    mut current: Stored,
    if_match: IfMatch,
    action: &str,
    change: impl Fn(&mut Alert) -> ApiResult<Vec<AlertChange>>,
) -> ApiResult<Rewritten> {
    let subscription = &authorized.subscription.id;
    for attempt in 0..MAX_ATTEMPTS {
        if_match.check(current.version)?;
        let mut alert = current.record.clone();
        let changes = change(&mut alert)?;
        if changes.is_empty() {
            return Ok(Rewritten {
                alert: current,
                events: Vec::new(),
            });
        }
        let now = OffsetDateTime::now_utc();
        let mut writes = vec![Write::Put {
            item: alert_item(subscription, &alert, table.index_shards())?,
            condition: Condition::VersionIs(current.version),
        }];
        let (event_writes, events) = event_writes(
            subscription,
            &alert,
            current.version,
            now,
            principal,
            changes,
        )?;
        writes.extend(event_writes);
        writes.push(
            audit::Change {
                actor: AuditActor::User {
                    email: principal.email.clone(),
                },
                action,
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
                return Ok(Rewritten {
                    alert: Stored {
                        record: alert,
                        version: versions[0],
                    },
                    events,
                });
            }
            Counted::ConditionFailed { .. } => {
                crate::contention::back_off(attempt + 1).await;
                current = visible_alert(table, authorized, current.record.id.as_str()).await?;
            }
        }
    }
    Err(ApiError::Conflict(
        "the alert kept changing meanwhile; try again".into(),
    ))
}

// ----- Assignee -----

/// The caller an assignment to `assignee` would make, for deciding what they may see:
/// a user with no groups, or a group's members (under an address no user has).
fn principal_named(assignee: &PrincipalRef) -> ApiResult<Principal> {
    Ok(match assignee {
        PrincipalRef::User(email) => Principal {
            email: email.clone(),
            groups: Default::default(),
        },
        PrincipalRef::Group(group) => Principal {
            // `.invalid` is reserved (RFC 2606): no user signs in with it.
            email: Email::parse("members@group.invalid")
                .map_err(|e| ApiError::Internal(e.to_string()))?,
            groups: [group.clone()].into(),
        },
    })
}

/// `400` unless `assignee` may view alerts at `alert`'s site.
async fn check_assignee(
    table: &dyn TableRead,
    authorized: &Authorized,
    assignee: Option<&PrincipalRef>,
    alert: &Alert,
) -> ApiResult<()> {
    let Some(assignee) = assignee else {
        return Ok(());
    };
    let access =
        access::access_of(table, &principal_named(assignee)?, &authorized.subscription).await?;
    if access
        .decide(Permission::ViewAlerts, Target::Site(&alert.site_id))
        .is_allowed()
    {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            "assignee",
            format!(
                "{} may not view alerts at site {}",
                String::from(assignee.clone()),
                alert.site_id
            ),
        ))
    }
}

async fn assign_one(
    table: &dyn Table,
    authorized: &Authorized,
    principal: &Principal,
    current: Stored,
    assignee: Option<PrincipalRef>,
    if_match: IfMatch,
) -> ApiResult<Stored> {
    require_modify(authorized, &current.record)?;
    check_assignee(table, authorized, assignee.as_ref(), &current.record).await?;
    rewrite(
        table,
        authorized,
        principal,
        current,
        if_match,
        "alert.assign",
        |alert| {
            if alert.assignee == assignee {
                return Ok(Vec::new());
            }
            let from = std::mem::replace(&mut alert.assignee, assignee.clone());
            Ok(vec![AlertChange::Assigned {
                from,
                to: assignee.clone(),
            }])
        },
    )
    .await
    .map(|rewritten| rewritten.alert)
}

/// Assigns an alert to a person or group who may view alerts at its site, or to
/// nobody (`null`); the change is on its timeline.
///
/// Needs `modify_alerts` at the alert's site (else `403`); an alert at a site where
/// the caller lacks `view_alerts` is `404`. An assignee who may not view alerts there
/// is `400`. Assigning the current assignee again changes nothing.
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/alerts/{id}/assign",
    tag = "alerts",
    params(InSubscription, ("id" = inline(shared::model::AlertId), Path, description = "The alert's id"), IfMatchHeader),
    request_body = AssignAlert,
    responses(
        (status = 200, description = "The alert, assigned", body = Alert,
            headers(("ETag" = String, description = "The alert's version, for If-Match"))),
        UpdateErrors,
    )
)]
pub(super) async fn assign(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
    if_match: IfMatch,
    body: Body,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let stored = visible_alert(table.as_ref(), &authorized, &id).await?;
    require_modify(&authorized, &stored.record)?;
    let request: AssignAlert = body.parse()?;
    let changed = assign_one(
        table.as_ref(),
        &authorized,
        &principal,
        stored,
        request.assignee,
        if_match,
    )
    .await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &changed.record,
        changed.version,
    ))
}

/// Assigns several alerts, each on its own, as `POST …/alerts/{id}/assign` would.
///
/// Needs `modify_alerts` at some site. Each alert's result is what assigning it alone
/// would have answered (`200`, `400`, `403`, `404`).
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/alerts/assign",
    tag = "alerts",
    params(InSubscription),
    request_body = BulkAssignAlerts,
    responses(
        (status = 200, description = "One result per distinct alert, in the order asked", body = BulkAlertStatusResult),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = TooLarge),
    )
)]
pub(super) async fn assign_many(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    authorized.sites_with_some(Permission::ModifyAlerts)?;
    let request: BulkAssignAlerts = body.parse()?;
    let mut items = Vec::with_capacity(request.alert_ids.len());
    for id in request.alert_ids {
        let outcome = async {
            let stored = visible_alert(table.as_ref(), &authorized, id.as_str()).await?;
            assign_one(
                table.as_ref(),
                &authorized,
                &principal,
                stored,
                request.assignee.clone(),
                IfMatch::Any,
            )
            .await
        }
        .await;
        items.push(bulk_item(id, outcome)?);
    }
    Ok(json(StatusCode::OK, &BulkAlertStatusResult { items }))
}

/// One alert's result in a bulk answer; a server error fails the whole request.
pub(super) fn bulk_item(
    id: shared::model::AlertId,
    outcome: ApiResult<Stored>,
) -> ApiResult<BulkAlertStatusItem> {
    Ok(match outcome {
        Ok(changed) => BulkAlertStatusItem {
            id,
            status: 200,
            alert: Some(changed.record),
            error: None,
        },
        Err(ApiError::Internal(detail)) => return Err(ApiError::Internal(detail)),
        Err(refused) => BulkAlertStatusItem {
            id,
            status: refused.code().status(),
            alert: None,
            error: Some(ErrorDetail {
                code: refused.code(),
                message: refused.to_string(),
            }),
        },
    })
}

// ----- Comments and the timeline -----

/// Comments on an alert: added to its timeline (with its author and time), never
/// edited — a correction is a new comment.
///
/// Needs `modify_alerts` at the alert's site (else `403`); an alert at a site where
/// the caller lacks `view_alerts` is `404`.
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/alerts/{id}/comments",
    tag = "alerts",
    params(InSubscription, ("id" = inline(shared::model::AlertId), Path, description = "The alert's id")),
    request_body = AddComment,
    responses(
        (status = 201, description = "The comment, as its timeline entry", body = AlertEvent),
        UpdateErrors,
    )
)]
pub(super) async fn comment(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let stored = visible_alert(table.as_ref(), &authorized, &id).await?;
    require_modify(&authorized, &stored.record)?;
    let request: AddComment = body.parse()?;
    let changed = rewrite(
        table.as_ref(),
        &authorized,
        &principal,
        stored,
        IfMatch::Any,
        "alert.comment",
        |alert| {
            alert.comments = alert.comments.saturating_add(1);
            Ok(vec![AlertChange::Comment {
                text: request.text.clone(),
            }])
        },
    )
    .await?;
    let event = changed
        .events
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal("a comment wrote no timeline entry".into()))?;
    Ok(json(StatusCode::CREATED, &event))
}

/// An alert's timeline, oldest first: every status change (with its close reason),
/// learn, assignment and comment, with who made it and when. Detection is on the alert
/// itself (`first_detected`, `last_detected`, `detections`).
///
/// Needs `view_alerts` at the alert's site (else `404`).
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/alerts/{id}/timeline",
    tag = "alerts",
    params(InSubscription, ("id" = inline(shared::model::AlertId), Path, description = "The alert's id"), PageRequest),
    responses(
        (status = 200, description = "A page of the alert's timeline, oldest first", body = Page<AlertEvent>),
        ListErrors,
    )
)]
pub(super) async fn timeline(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
    page: Params<PageRequest>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let stored = visible_alert(table.as_ref(), &authorized, &id).await?;
    let page = page.get()?;
    let limit = page
        .limit()
        .map_err(|e| ApiError::invalid_field("limit", e))?;
    let mut query = keys::alert_events_query(&authorized.subscription.id, &stored.record.id, limit);
    query.cursor = page.cursor;
    let found = table.query(&query).await?;
    Ok(json(StatusCode::OK, &records::page::<AlertEvent>(found)?))
}

// ----- Close reasons -----

/// The subscription's close reasons (the defaults until changed).
pub(super) async fn close_reasons(
    table: &dyn TableRead,
    subscription: &shared::model::SubscriptionId,
) -> ApiResult<Versioned<CloseReasons>> {
    Ok(
        records::read::<CloseReasons>(table, &keys::alert_close_reasons(subscription))
            .await?
            .unwrap_or(Versioned {
                record: CloseReasons::defaults(),
                version: 0,
            }),
    )
}

/// `400` unless `reason` is one of the subscription's, given with a close; the reason.
pub(super) async fn close_reason(
    table: &dyn TableRead,
    subscription: &shared::model::SubscriptionId,
    status: shared::model::AlertStatus,
    reason: Option<&CloseReasonId>,
) -> ApiResult<Option<shared::model::CloseReason>> {
    let Some(reason) = reason else {
        return Ok(None);
    };
    if status != shared::model::AlertStatus::Closed {
        return Err(ApiError::invalid_field(
            "reason",
            "only closing an alert takes a reason",
        ));
    }
    let reasons = close_reasons(table, subscription).await?.record;
    reasons.find(reason).cloned().map(Some).ok_or_else(|| {
        let known: Vec<&str> = reasons.reasons().iter().map(|r| r.id.as_str()).collect();
        ApiError::invalid_field(
            "reason",
            format!(
                "{reason} is not a close reason here; use one of {}",
                known.join(", ")
            ),
        )
    })
}

/// The reasons an alert may be closed with, in the order the console offers them.
///
/// Needs `view_alerts` at some site (else `403`).
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/alerts/close-reasons",
    tag = "alerts",
    params(InSubscription),
    responses(
        (status = 200, description = "The subscription's close reasons", body = CloseReasonList,
            headers(("ETag" = String, description = "The list's version, for If-Match"))),
        ReadErrors,
    )
)]
pub(super) async fn get_close_reasons(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    authorized.sites_with_some(Permission::ViewAlerts)?;
    let stored = close_reasons(table.as_ref(), &authorized.subscription.id).await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &CloseReasonList {
            reasons: stored.record,
        },
        stored.version,
    ))
}

/// Replaces the close reasons: 1 to 20, ids distinct. Alerts closed with a reason no
/// longer listed keep it.
///
/// Needs `modify_alerts` at subscription scope (else `403`).
#[utoipa::path(
    put,
    path = "/api/subscriptions/{sub}/alerts/close-reasons",
    tag = "alerts",
    params(InSubscription, IfMatchHeader),
    request_body = CloseReasonList,
    responses(
        (status = 200, description = "The new close reasons", body = CloseReasonList,
            headers(("ETag" = String, description = "The list's version, for If-Match"))),
        UpdateErrors,
    )
)]
pub(super) async fn put_close_reasons(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    if_match: IfMatch,
    body: Body,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    authorized.require(Permission::ModifyAlerts, Target::Subscription)?;
    let request: CloseReasonList = body.parse()?;
    let subscription = &authorized.subscription.id;
    let current = close_reasons(table.as_ref(), subscription).await?;
    if_match.check(current.version)?;
    let now = OffsetDateTime::now_utc();
    let writes = vec![
        Write::Put {
            item: records::item(keys::alert_close_reasons(subscription), &request.reasons)?,
            condition: match current.version {
                0 => Condition::MustNotExist,
                version => Condition::VersionIs(version),
            },
        },
        audit::Change {
            actor: AuditActor::User {
                email: principal.email.clone(),
            },
            action: "alert.close_reasons",
            subscription,
            site: None,
            target: "close-reasons",
        }
        .write(
            now,
            audit::snapshot(&current.record),
            audit::snapshot(&request.reasons),
        )?,
    ];
    let versions = table.transact(writes).await.map_err(|error| match error {
        StoreError::ConditionFailed { .. } => ApiError::PreconditionFailed,
        other => other.into(),
    })?;
    Ok(json_with_etag(StatusCode::OK, &request, versions[0]))
}
