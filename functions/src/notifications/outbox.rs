//! The outbox: events written in the transaction that causes them, for the worker to
//! route. Only subscriptions with a rule for the event's kind pay for it.

use serde::{Deserialize, Serialize};
use shared::api::WebhookEvent;
use shared::model::{Alert, Engine, EventFacts, EventKind, Severity, SiteId, SubscriptionId};
use time::OffsetDateTime;

use super::config;
use crate::http::error::ApiResult;
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

/// Where a writer puts the events it causes: present only when some rule routes
/// new alerts, so ingest without notification rules writes nothing more.
#[derive(Debug, Clone)]
pub struct AlertOutbox {
    subscription: SubscriptionId,
}

impl AlertOutbox {
    /// One read of the subscription's notification settings.
    pub async fn for_subscription(
        table: &dyn TableRead,
        subscription: &SubscriptionId,
    ) -> ApiResult<Option<Self>> {
        let (config, _) = config(table, subscription).await?;
        Ok(config.routes(EventKind::AlertCreated).then(|| AlertOutbox {
            subscription: subscription.clone(),
        }))
    }

    /// The write that announces `alert`, new: its event id is the alert's (time-ordered,
    /// unique), so a retried transaction cannot announce it twice.
    pub fn alert_created(&self, alert: &Alert, now: OffsetDateTime) -> ApiResult<Write> {
        let event = OutboxEvent {
            event: WebhookEvent {
                id: alert.id.to_string(),
                kind: EventKind::AlertCreated,
                subscription_id: self.subscription.clone(),
                at: now,
                data: serde_json::to_value(alert)
                    .map_err(|e| crate::http::error::ApiError::Internal(e.to_string()))?,
            },
            site: Some(alert.site_id.clone()),
            severity: Some(alert.severity),
            engine: Some(alert.engine),
        };
        Ok(Write::Put {
            item: records::item(
                keys::outbox_event(&self.subscription, &event.event.id),
                &event,
            )?,
            condition: Condition::MustNotExist,
        })
    }
}
