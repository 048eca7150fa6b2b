//! Suppression rules: made by analysts (from an alert or from scratch), matched by
//! ingest before anything is raised, counted on the rule when they hit, ended by
//! their expiry. Keys and access patterns: `docs/data-model.md` (the alerts table,
//! `…/suppression-rules` rows).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::api::{AlertFilter, AnyOf, AuditActor, CreatedRule, Page, RulePreview};
use shared::authz::{Permission, SiteFilter, Target};
use shared::model::{
    Alert, AlertStatus, CloseReason, CloseReasonId, DetectedAlert, DisplayName,
    MAX_PREVIEWED_ALERTS, MAX_RULES, Matched, NewSuppressionRule, RuleId, RuleScope, SensorId,
    SiteId, SubscriptionId, SuppressionRule, TagsOfSite,
};
use time::OffsetDateTime;

use super::{MAX_ATTEMPTS, alert_sources, set_status};
use crate::access::{self, Authorized};
use crate::audit;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{Body, json};
use crate::http::params::{IfMatch, json_with_etag};
use crate::http::principal::Caller;
use crate::http::sensor::SensorTokenRecord;
use crate::ids;
use crate::keys;
use crate::merged::{self, Order};
use crate::openapi::{
    CreateErrors, DeleteErrors, IfMatchHeader, InSubscription, ListErrors, ReadErrors,
};
use crate::records::{self, RuleHitsRecord, SubscriptionRecord};
use crate::store::{Condition, Item, Table, TableRead, Write};

/// The close reason of alerts a new rule closes; always accepted, listed or not.
pub const SUPPRESSED: &str = "suppressed";

// ----- Scope -----

/// The sites a scope covers, as far as the caller's authorization decides it:
/// `Target::Subscription` for the subscription and device groups, the site for a site.
fn scope_target(scope: &RuleScope) -> Target<'_> {
    match scope {
        RuleScope::Site { site_id } => Target::Site(site_id),
        RuleScope::Subscription | RuleScope::DeviceGroup { .. } => Target::Subscription,
    }
}

/// The sites of the subscription `scope` covers (`None`: every one); a device group's
/// are resolved over `sites` (the subscription's, read by [`read_sites`]).
fn covered_sites(
    subscription: &SubscriptionRecord,
    sites: &[shared::api::Site],
    scope: &RuleScope,
) -> ApiResult<Option<BTreeSet<SiteId>>> {
    match scope {
        RuleScope::Subscription => Ok(None),
        RuleScope::Site { site_id } => Ok(Some([site_id.clone()].into())),
        RuleScope::DeviceGroup { device_group_id } => {
            let group = subscription
                .device_groups
                .iter()
                .find(|g| g.id == *device_group_id)
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        "scope",
                        format!("there is no device group {device_group_id}"),
                    )
                })?;
            let tags: Vec<TagsOfSite<'_>> = sites
                .iter()
                .map(|s| TagsOfSite {
                    site: &s.id,
                    tags: &s.tags,
                })
                .collect();
            Ok(Some(group.sites.resolve(&tags)))
        }
    }
}

/// The subscription's sites, when `scope` needs them to be resolved (device groups).
async fn read_sites(
    table: &dyn TableRead,
    subscription: &SubscriptionId,
    scope: &RuleScope,
) -> ApiResult<Vec<shared::api::Site>> {
    match scope {
        RuleScope::DeviceGroup { .. } => {
            records::read_all(table, keys::sites_query(subscription, 500)).await
        }
        RuleScope::Subscription | RuleScope::Site { .. } => Ok(Vec::new()),
    }
}

/// [`covered_sites`], reading what it needs.
async fn scope_sites(
    table: &dyn TableRead,
    subscription: &SubscriptionRecord,
    scope: &RuleScope,
) -> ApiResult<Option<BTreeSet<SiteId>>> {
    let sites = read_sites(table, &subscription.id, scope).await?;
    covered_sites(subscription, &sites, scope)
}

// ----- Ingest -----

/// The active rules that apply to one sensor's detections, read once per batch.
pub struct Suppressor {
    rules: Vec<SuppressionRule>,
}

impl Suppressor {
    /// The rules of `sensor`'s subscription active at `now` whose scope covers its site:
    /// one query of the rules (and, only when a device-group rule exists, the
    /// subscription and its sites to resolve it).
    pub async fn for_sensor(
        table: &dyn TableRead,
        sensor: &SensorTokenRecord,
        now: OffsetDateTime,
    ) -> ApiResult<Suppressor> {
        let mut rules: Vec<SuppressionRule> = records::read_all(
            table,
            keys::suppression_rules_query(&sensor.subscription_id),
        )
        .await?;
        rules.retain(|rule| rule.is_active(now));
        if let Some(grouped) = rules
            .iter()
            .find(|rule| matches!(rule.scope, RuleScope::DeviceGroup { .. }))
        {
            // Read once for every device-group rule of the batch.
            let subscription: Option<SubscriptionRecord> =
                records::read(table, &keys::subscription(&sensor.subscription_id))
                    .await?
                    .map(|stored| stored.record);
            let sites = read_sites(table, &sensor.subscription_id, &grouped.scope).await?;
            rules.retain(|rule| match (&rule.scope, &subscription) {
                (RuleScope::DeviceGroup { .. }, Some(subscription)) => {
                    // A group deleted since the rule was made covers nothing.
                    covered_sites(subscription, &sites, &rule.scope)
                        .ok()
                        .flatten()
                        .is_some_and(|covered| covered.contains(&sensor.site_id))
                }
                (RuleScope::DeviceGroup { .. }, None) => false,
                _ => true,
            });
        }
        rules.retain(|rule| match &rule.scope {
            RuleScope::Site { site_id } => *site_id == sensor.site_id,
            _ => true,
        });
        Ok(Suppressor { rules })
    }

    /// The first active rule that matches `detection` from `sensor`.
    pub fn rule_for(&self, detection: &DetectedAlert, sensor: &SensorId) -> Option<&RuleId> {
        let seen = Matched::detection(detection, sensor);
        self.rules
            .iter()
            .find(|rule| rule.matches.matches(&seen))
            .map(|rule| &rule.id)
    }
}

/// Adds `hits` to `sensor`'s counters of each rule hit, at `now`: one conditional put
/// per rule, retried when a concurrent ingest of the same sensor wins.
pub async fn record_hits(
    table: &dyn Table,
    subscription: &SubscriptionId,
    sensor: &SensorId,
    hits: &BTreeMap<RuleId, u64>,
    now: OffsetDateTime,
) -> ApiResult<()> {
    for (rule, &count) in hits {
        let key = keys::rule_hits(subscription, rule, sensor);
        let mut attempt = 0;
        loop {
            let (mut record, condition) = match records::read::<RuleHitsRecord>(table, &key).await?
            {
                Some(stored) => (stored.record, Condition::VersionIs(stored.version)),
                None => (RuleHitsRecord::default(), Condition::MustNotExist),
            };
            record.hits = record.hits.saturating_add(count);
            record.last_hit = Some(record.last_hit.map_or(now, |last| last.max(now)));
            let put = Write::Put {
                item: records::item(key.clone(), &record)?,
                condition,
            };
            match table.transact(vec![put]).await {
                Ok(_) => break,
                Err(crate::store::StoreError::ConditionFailed { .. }) if attempt < MAX_ATTEMPTS => {
                    attempt += 1;
                    crate::contention::back_off(attempt).await;
                }
                Err(other) => return Err(other.into()),
            }
        }
    }
    Ok(())
}

// ----- The API -----

/// Every hit counter of the subscription's rules.
async fn hit_items(table: &dyn TableRead, subscription: &SubscriptionId) -> ApiResult<Vec<Item>> {
    let mut query = keys::rule_hits_query(subscription);
    let mut items = Vec::new();
    loop {
        let page = table.query(&query).await?;
        items.extend(page.items);
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return Ok(items),
        }
    }
}

/// `rule` with its hits: the sum of its sensors' counters among `items`.
fn with_hits(mut rule: SuppressionRule, items: &[Item]) -> ApiResult<SuppressionRule> {
    for item in items {
        if keys::rule_of_hits(&item.key.sk).as_ref() != Some(&rule.id) {
            continue;
        }
        let counted: RuleHitsRecord = records::decode(item)?;
        rule.hits = rule.hits.saturating_add(counted.hits);
        rule.last_hit = rule.last_hit.max(counted.last_hit);
    }
    Ok(rule)
}

/// Every rule with its hits summed over sensors: two queries of one partition.
async fn rules_with_hits(
    table: &dyn TableRead,
    subscription: &SubscriptionId,
) -> ApiResult<Vec<SuppressionRule>> {
    let rules: Vec<SuppressionRule> =
        records::read_all(table, keys::suppression_rules_query(subscription)).await?;
    let hits = hit_items(table, subscription).await?;
    rules
        .into_iter()
        .map(|rule| with_hits(rule, &hits))
        .collect()
}

/// A rule the caller may see, with its version; `404` otherwise.
async fn visible_rule(
    table: &dyn TableRead,
    authorized: &Authorized,
    raw_id: &str,
) -> ApiResult<records::Versioned<SuppressionRule>> {
    let not_found = || ApiError::NotFound("no such suppression rule".into());
    let id = RuleId::parse(raw_id).map_err(|_| not_found())?;
    let stored = records::read::<SuppressionRule>(
        table,
        &keys::suppression_rule(&authorized.subscription.id, &id),
    )
    .await?
    .ok_or_else(not_found)?;
    if may_view(authorized, &stored.record) {
        Ok(stored)
    } else {
        Err(not_found())
    }
}

/// Whether the caller may see `rule`: `view_alerts` where it applies.
fn may_view(authorized: &Authorized, rule: &SuppressionRule) -> bool {
    authorized
        .access
        .decide(Permission::ViewAlerts, scope_target(&rule.scope))
        .is_allowed()
}

/// Lists the suppression rules the caller may see, oldest first, with their hits, last
/// hit and expiry (expired ones included until deleted).
///
/// Needs `view_alerts` at some site (`403` otherwise); a rule shows to those with
/// `view_alerts` where it applies (its site; the subscription for the others).
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/suppression-rules",
    tag = "alerts",
    params(InSubscription),
    responses(
        (status = 200, description = "The rules", body = Page<SuppressionRule>),
        ListErrors,
    )
)]
pub(super) async fn list_rules(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    authorized.sites_with_some(Permission::ViewAlerts)?;
    let mut rules = rules_with_hits(table.as_ref(), &authorized.subscription.id).await?;
    rules.retain(|rule| may_view(&authorized, rule));
    Ok(json(
        StatusCode::OK,
        &Page {
            items: rules,
            next_cursor: None,
        },
    ))
}

/// Every open alert of `scope`'s sites the caller may view that `rule` matches, newest
/// first, among the first [`MAX_PREVIEWED_ALERTS`] open ones; and whether there were
/// more open alerts than that.
async fn open_matching(
    table: &Arc<dyn Table>,
    authorized: &Authorized,
    rule: &NewSuppressionRule,
) -> ApiResult<(Vec<Alert>, bool)> {
    let viewable = authorized.access.sites_with(Permission::ViewAlerts);
    let covered = scope_sites(table.as_ref(), &authorized.subscription, &rule.scope).await?;
    let sites: SiteFilter<'_> = match (&covered, &viewable) {
        (None, _) => viewable.clone(),
        (Some(covered), SiteFilter::All) => SiteFilter::Only(covered.iter().collect()),
        (Some(covered), SiteFilter::Only(mine)) => {
            SiteFilter::Only(covered.iter().filter(|s| mine.contains(s)).collect())
        }
        (Some(_), SiteFilter::None) => SiteFilter::None,
    };
    let filter = AlertFilter {
        status: AnyOf::new([AlertStatus::New, AlertStatus::Active]),
        ..AlertFilter::default()
    };
    let sources = alert_sources(
        &authorized.subscription.id,
        &sites,
        &filter,
        table.index_shards(),
    );
    let mut matched = Vec::new();
    let mut examined = 0;
    let mut cursor: Option<String> = None;
    loop {
        let page = merged::merged_page(
            table,
            sources.clone(),
            Order::Descending,
            cursor.as_deref(),
            500,
            |_| Ok(true),
        )
        .await?;
        for item in &page.items {
            examined += 1;
            let alert: Alert = records::decode(item)?;
            if rule.matches.matches(&Matched::alert(&alert)) {
                matched.push(alert);
            }
            if examined >= MAX_PREVIEWED_ALERTS {
                return Ok((matched, true));
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok((matched, false)),
        }
    }
}

/// Refuses a rule the caller may not make, or that is not valid at `now` (an unknown
/// site or device group included).
async fn check_new(
    table: &dyn TableRead,
    authorized: &Authorized,
    rule: &NewSuppressionRule,
    now: OffsetDateTime,
) -> ApiResult<()> {
    authorized.require(Permission::ModifyAlerts, scope_target(&rule.scope))?;
    rule.check(now)
        .map_err(|(field, problem)| ApiError::invalid_field(field, problem))?;
    if let RuleScope::Site { site_id } = &rule.scope
        && table
            .get(&keys::site(&authorized.subscription.id, site_id))
            .await?
            .is_none()
    {
        return Err(ApiError::invalid_field(
            "scope",
            format!("there is no site {site_id}"),
        ));
    }
    // Resolving the scope refuses an unknown device group.
    scope_sites(table, &authorized.subscription, &rule.scope).await?;
    Ok(())
}

/// How many open alerts a rule would match now, before it is saved.
///
/// Needs `modify_alerts` where the rule would apply (its site; the subscription for the
/// subscription and device groups).
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/suppression-rules/preview",
    tag = "alerts",
    params(InSubscription),
    request_body = NewSuppressionRule,
    responses(
        (status = 200, description = "What the rule would match", body = RulePreview),
        CreateErrors,
    )
)]
pub(super) async fn preview_rule(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let rule: NewSuppressionRule = body.parse()?;
    check_new(
        table.as_ref(),
        &authorized,
        &rule,
        OffsetDateTime::now_utc(),
    )
    .await?;
    let (matched, more) = open_matching(&table, &authorized, &rule).await?;
    Ok(json(
        StatusCode::OK,
        &RulePreview {
            open_matching: matched.len() as u64,
            more_open_alerts: more,
        },
    ))
}

/// Makes a suppression rule: while active, ingest raises nothing it matches (counting
/// each detection on the rule); with `close_matching`, the open alerts it matches now are
/// closed with reason `suppressed`.
///
/// Needs `modify_alerts` where it applies (its site; the subscription for the
/// subscription and device groups). `400` naming the field: a match of nothing, an
/// expiry not ahead or over 90 days ahead, an unknown site or device group. `409` past
/// 200 rules.
#[utoipa::path(
    post,
    path = "/api/subscriptions/{sub}/suppression-rules",
    tag = "alerts",
    params(InSubscription),
    request_body = NewSuppressionRule,
    responses(
        (status = 201, description = "The rule, and how many open alerts it closed", body = CreatedRule),
        CreateErrors,
    )
)]
pub(super) async fn create_rule(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path(sub): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let request: NewSuppressionRule = body.parse()?;
    let now = OffsetDateTime::now_utc();
    check_new(table.as_ref(), &authorized, &request, now).await?;
    let subscription = &authorized.subscription.id;
    let existing: Vec<SuppressionRule> =
        records::read_all(table.as_ref(), keys::suppression_rules_query(subscription)).await?;
    if existing.len() >= MAX_RULES {
        return Err(ApiError::Conflict(format!(
            "a subscription keeps at most {MAX_RULES} rules; delete expired ones first"
        )));
    }
    let rule = SuppressionRule {
        id: RuleId::parse(ids::time_ordered(now)).map_err(|e| ApiError::Internal(e.to_string()))?,
        matches: request.matches.clone(),
        scope: request.scope.clone(),
        expires_at: request.expires_at,
        reason: request.reason.clone(),
        author: principal.email.clone(),
        created_at: now,
        hits: 0,
        last_hit: None,
    };
    let site = match &rule.scope {
        RuleScope::Site { site_id } => Some(site_id),
        _ => None,
    };
    table
        .transact(vec![
            Write::Put {
                item: records::item(keys::suppression_rule(subscription, &rule.id), &rule)?,
                condition: Condition::MustNotExist,
            },
            audit::Change {
                actor: AuditActor::User {
                    email: principal.email.clone(),
                },
                action: "suppression_rule.create",
                subscription,
                site,
                target: rule.id.as_str(),
            }
            .write(now, None, audit::snapshot(&rule))?,
        ])
        .await?;
    let mut closed = 0;
    if request.close_matching {
        let suppressed = CloseReason {
            id: CloseReasonId::parse(SUPPRESSED).map_err(|e| ApiError::Internal(e.to_string()))?,
            label: DisplayName::parse("Suppressed by a rule")
                .map_err(|e| ApiError::Internal(e.to_string()))?,
            learns: false,
        };
        let (matched, _) = open_matching(&table, &authorized, &request).await?;
        for alert in matched {
            if !authorized
                .access
                .decide(Permission::ModifyAlerts, Target::Site(&alert.site_id))
                .is_allowed()
            {
                continue;
            }
            let current =
                super::visible_alert(table.as_ref(), &authorized, alert.id.as_str()).await?;
            let done = set_status(
                table.as_ref(),
                &authorized,
                &principal,
                current,
                AlertStatus::Closed,
                Some(&suppressed),
                IfMatch::Any,
            )
            .await;
            match done {
                Ok(_) => closed += 1,
                // Closed or changed meanwhile by someone else: theirs stands.
                Err(ApiError::Conflict(_) | ApiError::NotFound(_)) => {}
                Err(other) => return Err(other),
            }
        }
    }
    Ok(json(StatusCode::CREATED, &CreatedRule { rule, closed }))
}

/// Reads one rule with its hits.
///
/// Needs `view_alerts` where it applies (else `404`).
#[utoipa::path(
    get,
    path = "/api/subscriptions/{sub}/suppression-rules/{id}",
    tag = "alerts",
    params(InSubscription, ("id" = inline(shared::model::RuleId), Path, description = "The rule's id")),
    responses(
        (status = 200, description = "The rule", body = SuppressionRule,
            headers(("ETag" = String, description = "The rule's version, for If-Match"))),
        ReadErrors,
    )
)]
pub(super) async fn get_rule(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let stored = visible_rule(table.as_ref(), &authorized, &id).await?;
    let hits = hit_items(table.as_ref(), &authorized.subscription.id).await?;
    let rule = with_hits(stored.record, &hits)?;
    Ok(json_with_etag(StatusCode::OK, &rule, stored.version))
}

/// Deletes a rule: from now on ingest raises what it matched. Its hit counters go with
/// it.
///
/// Needs `modify_alerts` where it applies (else `403`; `404` when the caller may not see
/// it).
#[utoipa::path(
    delete,
    path = "/api/subscriptions/{sub}/suppression-rules/{id}",
    tag = "alerts",
    params(InSubscription, ("id" = inline(shared::model::RuleId), Path, description = "The rule's id"), IfMatchHeader),
    responses(
        (status = 204, description = "Deleted"),
        DeleteErrors,
    )
)]
pub(super) async fn delete_rule(
    State(table): State<Arc<dyn Table>>,
    Caller(principal): Caller,
    Path((sub, id)): Path<(String, String)>,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let authorized = access::authorize(table.as_ref(), &principal, &sub).await?;
    let stored = visible_rule(table.as_ref(), &authorized, &id).await?;
    authorized.require(Permission::ModifyAlerts, scope_target(&stored.record.scope))?;
    if_match.check(stored.version)?;
    let subscription = &authorized.subscription.id;
    let id = stored.record.id.clone();
    let key = keys::suppression_rule(subscription, &id);
    let hit_keys: Vec<Item> = hit_items(table.as_ref(), subscription)
        .await?
        .into_iter()
        .filter(|item| keys::rule_of_hits(&item.key.sk).as_ref() == Some(&id))
        .collect();
    let now = OffsetDateTime::now_utc();
    let site = match &stored.record.scope {
        RuleScope::Site { site_id } => Some(site_id),
        _ => None,
    };
    let mut writes = vec![
        Write::Delete {
            key,
            condition: Condition::VersionIs(stored.version),
        },
        audit::Change {
            actor: AuditActor::User {
                email: principal.email.clone(),
            },
            action: "suppression_rule.delete",
            subscription,
            site,
            target: id.as_str(),
        }
        .write(now, audit::snapshot(&stored.record), None)?,
    ];
    // Counters past what one transaction holds stay behind, unread (no rule names them).
    writes.extend(hit_keys.into_iter().take(90).map(|item| Write::Delete {
        key: item.key,
        condition: Condition::Always,
    }));
    table.transact(writes).await.map_err(|error| match error {
        crate::store::StoreError::ConditionFailed { index: 0 } => ApiError::PreconditionFailed,
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
