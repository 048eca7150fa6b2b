//! The outbox: events written in the transaction that causes them, for the worker to
//! route. Only subscriptions with a rule for the event's kind pay for it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use shared::api::WebhookEvent;
use shared::model::{Alert, Engine, EventFacts, EventKind, Severity, SiteId, SubscriptionId};
use time::OffsetDateTime;

use super::config;
use crate::http::error::{ApiError, ApiResult};
use crate::keys;
use crate::records;
use crate::store::{Condition, TableRead, Write};

/// An event waiting in the outbox, with what rules filter on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxEvent {
    pub event: WebhookEvent,
    pub site: Option<SiteId>,
    pub severity: Option<Severity>,
    pub engine: Option<Engine>,
}

impl OutboxEvent {
    pub fn facts(&self) -> EventFacts<'_> {
        EventFacts {
            kind: self.event.kind,
            site: self.site.as_ref(),
            severity: self.severity,
            engine: self.engine,
        }
    }
}

/// Where a writer puts the events it causes: only the kinds some rule routes, so a
/// subscription without notification rules writes nothing more.
#[derive(Debug, Clone)]
pub struct Outbox {
    subscription: SubscriptionId,
    routed: BTreeSet<EventKind>,
}

impl Outbox {
    /// One read of the subscription's notification settings.
    pub async fn for_subscription(
        table: &dyn TableRead,
        subscription: &SubscriptionId,
    ) -> ApiResult<Self> {
        let (config, _) = config(table, subscription).await?;
        Ok(Outbox {
            subscription: subscription.clone(),
            routed: config
                .rules
                .iter()
                .flat_map(|rule| rule.events.iter().copied())
                .collect(),
        })
    }

    /// The write of an event, if some rule routes its kind. `id` must be unique and
    /// time-ordered (the id of what it announces), so a retried transaction cannot
    /// announce it twice.
    pub fn event(
        &self,
        kind: EventKind,
        id: &str,
        data: &impl Serialize,
        site: &SiteId,
        alert: Option<&Alert>,
        now: OffsetDateTime,
    ) -> ApiResult<Option<Write>> {
        if !self.routed.contains(&kind) {
            return Ok(None);
        }
        let event = OutboxEvent {
            event: WebhookEvent {
                id: id.to_owned(),
                kind,
                subscription_id: self.subscription.clone(),
                at: now,
                data: serde_json::to_value(data).map_err(|e| ApiError::Internal(e.to_string()))?,
            },
            site: Some(site.clone()),
            severity: alert.map(|a| a.severity),
            engine: alert.map(|a| a.engine),
        };
        Ok(Some(Write::Put {
            item: records::item(keys::outbox_event(&self.subscription, id), &event)?,
            condition: Condition::MustNotExist,
        }))
    }

    /// The write that announces `alert`, new (its event id is the alert's).
    pub fn alert_created(&self, alert: &Alert, now: OffsetDateTime) -> ApiResult<Option<Write>> {
        self.event(
            EventKind::AlertCreated,
            alert.id.as_str(),
            alert,
            &alert.site_id,
            Some(alert),
            now,
        )
    }
}
