//! The delivery worker: a task of `vigil serve`, visiting every subscription with
//! notification settings once a [`TICK`]. Each visit routes the outbox, streams the
//! audit log, looks for over-committed plans and unacknowledged alerts, and sends what
//! is due in each endpoint's queue, in order.
//!
//! Delivery is at least once: a crash between a receiver's 2xx and the write that
//! records it sends the event again after the restart, with the same `id` (and
//! `Vigil-Event-Id`), on which a receiver deduplicates. Nothing queued is lost: the
//! queue is in the table, and an item leaves it only in the write that records its
//! delivery, or its failure once [`RETRY_PERIOD`] has passed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use serde::{Deserialize, Serialize};
use shared::api::{AuditEntry, Delivery, DeliveryStatus, WebhookEvent};
use shared::model::{
    Alert, AlertStatus, EventFacts, EventKind, PlanId, SubscriptionId, WebhookEndpointId,
    WebhookTargets,
};
use time::{Duration, OffsetDateTime};

use super::outbox::OutboxEvent;
use super::send::{self, Attempt};
use super::{NotificationConfig, config};
use crate::http::error::{ApiError, ApiResult};
use crate::ids;
use crate::keys;
use crate::records;
use crate::store::{Condition, Index, Query, SortKeyRange, StoreError, Table, Write};

/// How often the worker looks for work.
pub const TICK: StdDuration = StdDuration::from_secs(1);
/// How long a delivery is retried before it is given up.
pub const RETRY_PERIOD: Duration = Duration::hours(24);
/// The longest wait between two attempts; before it, 1 s doubled after each failure.
pub const MAX_BACKOFF: Duration = Duration::minutes(5);
/// How far behind its cursor the audit stream reads again: an entry's id is made from
/// its request's clock before its transaction commits, so a slow request may commit an
/// entry older than one already streamed.
const AUDIT_OVERLAP: Duration = Duration::minutes(5);
/// Most items one visit reads from each of the outbox, the audit log and the queues.
const BATCH: u32 = 200;

/// Runs until aborted.
pub async fn run(table: Arc<dyn Table>, targets: WebhookTargets) {
    loop {
        if let Err(e) = cycle(table.as_ref(), targets).await {
            tracing::warn!(error = %e, "notification worker");
        }
        tokio::time::sleep(TICK).await;
    }
}

/// One visit of every subscription with notification settings.
pub async fn cycle(table: &dyn Table, targets: WebhookTargets) -> ApiResult<()> {
    cycle_at(table, targets, OffsetDateTime::now_utc()).await
}

/// [`cycle`], escalating the alerts still new as of `now`.
pub async fn cycle_at(
    table: &dyn Table,
    targets: WebhookTargets,
    now: OffsetDateTime,
) -> ApiResult<()> {
    let marked =
        records::marked_subscriptions(table, keys::notifying_subscriptions_query(500)).await?;
    for subscription in marked {
        if let Err(e) = visit(table, &subscription, targets, now).await {
            tracing::warn!(%subscription, error = %e, "notifications of a subscription");
        }
    }
    Ok(())
}

async fn visit(
    table: &dyn Table,
    subscription: &SubscriptionId,
    targets: WebhookTargets,
    now: OffsetDateTime,
) -> ApiResult<()> {
    let (config, _) = config(table, subscription).await?;
    route_outbox(table, subscription, &config).await?;
    if config.routes(EventKind::AuditEntry) {
        stream_audit(table, subscription, &config).await?;
    }
    if config.routes(EventKind::PlanOverCommitted) {
        watch_plans(table, subscription, &config, now).await?;
    }
    for rule in &config.rules {
        if let Some(minutes) = rule.escalate_after_minutes {
            escalate(
                table,
                subscription,
                rule,
                Duration::minutes(minutes.into()),
                now,
            )
            .await?;
        }
    }
    send_due(table, subscription, &config, targets).await
}

/// The endpoints whose rules route an event with these facts, at `at`. A rule routes
/// only what happened after it was made.
fn endpoints_for(
    config: &NotificationConfig,
    facts: &EventFacts<'_>,
    at: OffsetDateTime,
) -> BTreeSet<WebhookEndpointId> {
    config
        .rules
        .iter()
        .filter(|rule| rule.events.contains(&facts.kind) && rule.filter.passes(facts))
        .filter(|rule| at >= rule.created_at)
        .map(|rule| rule.endpoint_id.clone())
        .collect()
}

/// A delivery waiting in its endpoint's queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    event: WebhookEvent,
    endpoint_id: WebhookEndpointId,
    attempts: u32,
    created_at: OffsetDateTime,
    next_attempt_at: OffsetDateTime,
}

/// The writes that queue `event` for `endpoint` (its log entry and its queue item,
/// both `MustNotExist`: once per event and endpoint), and the log entry.
pub fn queue(
    subscription: &SubscriptionId,
    event: &WebhookEvent,
    endpoint: &WebhookEndpointId,
    now: OffsetDateTime,
) -> ApiResult<(Vec<Write>, Delivery)> {
    let delivery = Delivery {
        event_id: event.id.clone(),
        kind: event.kind,
        endpoint_id: endpoint.clone(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        response_status: None,
        error: None,
        created_at: now,
        next_attempt_at: Some(now),
        delivered_at: None,
    };
    let pending = Pending {
        event: event.clone(),
        endpoint_id: endpoint.clone(),
        attempts: 0,
        created_at: now,
        next_attempt_at: now,
    };
    let writes = vec![
        Write::Put {
            item: records::item(keys::delivery(subscription, &event.id, endpoint), &delivery)?,
            condition: Condition::MustNotExist,
        },
        Write::Put {
            item: records::item(
                keys::pending_delivery(subscription, endpoint, &event.id),
                &pending,
            )?,
            condition: Condition::MustNotExist,
        },
    ];
    Ok((writes, delivery))
}

/// Moves each outbox event to the queues of the endpoints its rules name, in one
/// transaction per event (queue items put, outbox item deleted).
async fn route_outbox(
    table: &dyn Table,
    subscription: &SubscriptionId,
    config: &NotificationConfig,
) -> ApiResult<()> {
    let now = OffsetDateTime::now_utc();
    let found = table
        .query(&keys::outbox_query(subscription, BATCH))
        .await?;
    for item in found.items {
        let outboxed: OutboxEvent = records::decode(&item)?;
        let mut writes = Vec::new();
        for endpoint in endpoints_for(config, &outboxed.facts(), outboxed.event.at) {
            writes.extend(queue(subscription, &outboxed.event, &endpoint, now)?.0);
        }
        writes.push(Write::Delete {
            key: item.key.clone(),
            condition: Condition::VersionIs(item.version),
        });
        match table.transact(writes).await {
            Ok(_) => {}
            // Queueing and the outbox delete are one transaction, so a failed condition
            // means another worker routed this event first.
            Err(StoreError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// How far the audit stream has read: the newest entry's time, and the ids of the
/// entries read within [`AUDIT_OVERLAP`] of it (read again, never queued again).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct AuditStream {
    #[serde(with = "time::serde::rfc3339::option")]
    since: Option<OffsetDateTime>,
    seen: BTreeSet<String>,
}

/// Queues the audit entries written since the last visit for the endpoints of the
/// audit rules.
async fn stream_audit(
    table: &dyn Table,
    subscription: &SubscriptionId,
    config: &NotificationConfig,
) -> ApiResult<()> {
    let cursor_key = keys::audit_stream_cursor(subscription);
    let mut stream: AuditStream = records::read(table, &cursor_key)
        .await?
        .map(|stored| stored.record)
        .unwrap_or_default();
    // A first visit starts where the oldest audit rule did.
    let since = stream.since.or_else(|| {
        config
            .rules
            .iter()
            .filter(|rule| rule.events.contains(&EventKind::AuditEntry))
            .map(|rule| rule.created_at)
            .min()
    });
    let Some(since) = since else { return Ok(()) };
    let (low, high) = ids::time_ordered_range(Some(since - AUDIT_OVERLAP), None);
    let query = Query {
        range: SortKeyRange::Between(low, high),
        limit: BATCH,
        ..Query::partition(keys::audit_partition(subscription))
    };
    let found = table.query(&query).await?;
    let now = OffsetDateTime::now_utc();
    let mut newest = since;
    for item in &found.items {
        let entry: AuditEntry = records::decode(item)?;
        let id = entry.id.to_string();
        newest = newest.max(entry.at);
        if stream.seen.contains(&id) {
            continue;
        }
        let facts = EventFacts {
            kind: EventKind::AuditEntry,
            site: entry.site_id.as_ref(),
            severity: None,
            engine: None,
        };
        let endpoints = endpoints_for(config, &facts, entry.at);
        let event = WebhookEvent {
            id: id.clone(),
            kind: EventKind::AuditEntry,
            subscription_id: subscription.clone(),
            at: entry.at,
            data: serde_json::to_value(&entry).map_err(|e| ApiError::Internal(e.to_string()))?,
        };
        for endpoint in endpoints {
            let (writes, _) = queue(subscription, &event, &endpoint, now)?;
            match table.transact(writes).await {
                Ok(_) | Err(StoreError::ConditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        stream.seen.insert(id);
    }
    let horizon = ids::time_ordered_range(Some(newest - AUDIT_OVERLAP), None).0;
    stream.seen.retain(|id| *id >= horizon);
    stream.since = Some(newest);
    table
        .put(records::item(cursor_key, &stream)?, Condition::Always)
        .await?;
    Ok(())
}

/// How far a rule's escalation has looked: alerts first detected up to `through` have
/// been escalated if they were still new.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Escalated {
    #[serde(with = "time::serde::rfc3339")]
    through: OffsetDateTime,
}

/// Queues `alert.unacknowledged` for the rule's endpoint for every alert first detected
/// since the rule's last look and at least `after` ago that is still `new` (the status
/// index holds only those) and passes the rule's filter. Alerts are new at most once
/// per rule: the window moves on, and the queue item is `MustNotExist` anyway.
async fn escalate(
    table: &dyn Table,
    subscription: &SubscriptionId,
    rule: &shared::api::NotificationRule,
    after: Duration,
    now: OffsetDateTime,
) -> ApiResult<()> {
    let cursor_key = keys::escalation_cursor(subscription, &rule.id);
    let since = records::read::<Escalated>(table, &cursor_key)
        .await?
        .map_or(rule.created_at, |stored| stored.record.through);
    let through = now - after;
    if through <= since {
        return Ok(());
    }
    let (low, high) = ids::time_ordered_range(Some(since), Some(through));
    let queued_at = OffsetDateTime::now_utc();
    for partition in keys::alerts_by_status(subscription, AlertStatus::New, table.index_shards()) {
        let mut query = Query {
            index: Some(Index::Gsi1),
            range: SortKeyRange::Between(low.clone(), high.clone()),
            limit: BATCH,
            ..Query::partition(partition)
        };
        loop {
            let page = table.query(&query).await?;
            for item in &page.items {
                let alert: Alert = records::decode(item)?;
                let facts = EventFacts {
                    kind: EventKind::AlertUnacknowledged,
                    site: Some(&alert.site_id),
                    severity: Some(alert.severity),
                    engine: Some(alert.engine),
                };
                let window = alert.first_detected > since && alert.first_detected <= through;
                if alert.status != AlertStatus::New || !window || !rule.filter.passes(&facts) {
                    continue;
                }
                let event = WebhookEvent {
                    id: format!("{}-unacknowledged-{}", alert.id, rule.id),
                    kind: EventKind::AlertUnacknowledged,
                    subscription_id: subscription.clone(),
                    at: now,
                    data: serde_json::to_value(&alert)
                        .map_err(|e| ApiError::Internal(e.to_string()))?,
                };
                let (writes, _) = queue(subscription, &event, &rule.endpoint_id, queued_at)?;
                match table.transact(writes).await {
                    Ok(_) | Err(StoreError::ConditionFailed { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            match page.next_cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }
    }
    table
        .put(
            records::item(cursor_key, &Escalated { through })?,
            Condition::Always,
        )
        .await?;
    Ok(())
}

/// How often a subscription's plans are compared with its inventory: that reads every
/// device, so not at every visit.
const PLAN_CHECK_EVERY: Duration = Duration::minutes(5);

/// The plans found over-committed at the last look.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct PlanWatch {
    #[serde(with = "time::serde::rfc3339::option")]
    checked_at: Option<OffsetDateTime>,
    over: BTreeSet<PlanId>,
}

/// Queues `plan.over_committed` for each live plan whose detected devices went above
/// its committed devices since the last look (the plans as `GET …/plans` shows them).
async fn watch_plans(
    table: &dyn Table,
    subscription: &SubscriptionId,
    config: &NotificationConfig,
    now: OffsetDateTime,
) -> ApiResult<()> {
    let key = keys::plan_watch(subscription);
    let watch: PlanWatch = records::read(table, &key)
        .await?
        .map(|stored| stored.record)
        .unwrap_or_default();
    if watch
        .checked_at
        .is_some_and(|at| now - at < PLAN_CHECK_EVERY)
    {
        return Ok(());
    }
    let plans = crate::plans::list_plans(table, subscription, 100, None, now).await?;
    let over: BTreeSet<PlanId> = plans
        .items
        .iter()
        .filter(|plan| plan.over_committed)
        .map(|plan| plan.id.clone())
        .collect();
    let facts = EventFacts {
        kind: EventKind::PlanOverCommitted,
        site: None,
        severity: None,
        engine: None,
    };
    let queued_at = OffsetDateTime::now_utc();
    for plan in plans
        .items
        .iter()
        .filter(|p| over.contains(&p.id) && !watch.over.contains(&p.id))
    {
        let event = WebhookEvent {
            id: format!("{}-{}", ids::time_ordered(now), plan.id),
            kind: EventKind::PlanOverCommitted,
            subscription_id: subscription.clone(),
            at: now,
            data: serde_json::to_value(plan).map_err(|e| ApiError::Internal(e.to_string()))?,
        };
        for endpoint in endpoints_for(config, &facts, now) {
            let (writes, _) = queue(subscription, &event, &endpoint, queued_at)?;
            match table.transact(writes).await {
                Ok(_) | Err(StoreError::ConditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let watch = PlanWatch {
        checked_at: Some(now),
        over,
    };
    table
        .put(records::item(key, &watch)?, Condition::Always)
        .await?;
    Ok(())
}

/// The wait after `attempts` failures: 1 s, 2 s, 4 s, ... up to [`MAX_BACKOFF`].
pub fn backoff(attempts: u32) -> Duration {
    let seconds = 1i64 << attempts.saturating_sub(1).min(20);
    Duration::seconds(seconds).min(MAX_BACKOFF)
}

/// Sends, for each endpoint, its queue in order: the head first, and the next only
/// once the head is delivered (or given up), so a receiver sees events in order.
async fn send_due(
    table: &dyn Table,
    subscription: &SubscriptionId,
    config: &NotificationConfig,
    targets: WebhookTargets,
) -> ApiResult<()> {
    let found = table
        .query(&keys::pending_deliveries_query(subscription, BATCH))
        .await?;
    let mut blocked: BTreeSet<WebhookEndpointId> = BTreeSet::new();
    for item in found.items {
        let mut pending: Pending = records::decode(&item)?;
        if blocked.contains(&pending.endpoint_id) {
            continue;
        }
        let now = OffsetDateTime::now_utc();
        if pending.next_attempt_at > now {
            blocked.insert(pending.endpoint_id.clone());
            continue;
        }
        let outcome = match config.endpoint(&pending.endpoint_id) {
            Some(endpoint) => {
                let body = serde_json::to_vec(&pending.event)
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
                send::attempt(
                    &endpoint.endpoint.url,
                    &endpoint.secret,
                    &pending.event.id,
                    pending.event.kind.as_str(),
                    body,
                    targets,
                    now,
                )
                .await
            }
            None => Attempt::Failed {
                status: None,
                error: "the endpoint was deleted".into(),
            },
        };
        pending.attempts += 1;
        let mut delivery = Delivery {
            event_id: pending.event.id.clone(),
            kind: pending.event.kind,
            endpoint_id: pending.endpoint_id.clone(),
            status: DeliveryStatus::Pending,
            attempts: pending.attempts,
            response_status: None,
            error: None,
            created_at: pending.created_at,
            next_attempt_at: None,
            delivered_at: None,
        };
        let log_key = keys::delivery(subscription, &pending.event.id, &pending.endpoint_id);
        let done = Write::Delete {
            key: item.key.clone(),
            condition: Condition::VersionIs(item.version),
        };
        let writes = match outcome {
            Attempt::Delivered { status } => {
                delivery.status = DeliveryStatus::Delivered;
                delivery.response_status = Some(status);
                delivery.delivered_at = Some(now);
                vec![log_put(log_key, &delivery)?, done]
            }
            Attempt::Failed { status, error } => {
                delivery.response_status = status;
                delivery.error = Some(error);
                blocked.insert(pending.endpoint_id.clone());
                let gone = config.endpoint(&pending.endpoint_id).is_none();
                if gone || now - pending.created_at >= RETRY_PERIOD {
                    delivery.status = DeliveryStatus::Failed;
                    vec![log_put(log_key, &delivery)?, done]
                } else {
                    pending.next_attempt_at = now + backoff(pending.attempts);
                    delivery.next_attempt_at = Some(pending.next_attempt_at);
                    vec![
                        log_put(log_key, &delivery)?,
                        Write::Put {
                            item: records::item(item.key.clone(), &pending)?,
                            condition: Condition::VersionIs(item.version),
                        },
                    ]
                }
            }
        };
        match table.transact(writes).await {
            Ok(_) | Err(StoreError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn log_put(key: crate::store::Key, delivery: &Delivery) -> ApiResult<Write> {
    Ok(Write::Put {
        item: records::item(key, delivery)?,
        condition: Condition::Always,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_from_a_second_up_to_five_minutes() {
        let waits: Vec<i64> = (1..=11).map(|n| backoff(n).whole_seconds()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
