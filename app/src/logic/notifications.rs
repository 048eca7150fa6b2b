//! The Notifications page's forms, read into the requests the server validates again,
//! and how a rule reads in its list.

use std::collections::BTreeSet;

use crate::logic::format::words;
use shared::api::{CreateNotificationRule, CreateWebhookEndpoint, NotificationRule};
use shared::model::{
    DisplayName, Engine, EventFilter, EventKind, Severity, SiteId, WebhookEndpointId, WebhookUrl,
};

/// The "New endpoint" form, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointForm {
    pub name: String,
    pub url: String,
}

impl EndpointForm {
    pub fn request(&self) -> Result<CreateWebhookEndpoint, String> {
        Ok(CreateWebhookEndpoint {
            name: DisplayName::parse(self.name.trim()).map_err(|e| format!("Name: {e}"))?,
            url: WebhookUrl::parse(&self.url).map_err(|e| format!("URL: {e}"))?,
        })
    }
}

/// The "New rule" form, as chosen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleForm {
    pub name: String,
    pub endpoint: Option<WebhookEndpointId>,
    pub events: BTreeSet<EventKind>,
    pub site: Option<SiteId>,
    pub min_severity: Option<Severity>,
    /// None: every engine.
    pub engines: BTreeSet<Engine>,
    /// Minutes, as typed; read only with "Alert not acknowledged".
    pub escalate_after: String,
}

impl RuleForm {
    pub fn request(&self) -> Result<CreateNotificationRule, String> {
        let name = DisplayName::parse(self.name.trim()).map_err(|e| format!("Rule name: {e}"))?;
        let endpoint_id = self
            .endpoint
            .clone()
            .ok_or("Endpoint: choose where to send (add an endpoint first)")?;
        let escalate_after_minutes = if self.events.contains(&EventKind::AlertUnacknowledged) {
            let typed = self.escalate_after.trim().parse::<u16>();
            Some(typed.map_err(|_| "Escalate after (minutes): a whole number of minutes")?)
        } else {
            None
        };
        let request = CreateNotificationRule {
            escalate_after_minutes,
            name,
            endpoint_id,
            events: self.events.clone(),
            filter: EventFilter {
                site_id: self.site.clone(),
                min_severity: self.min_severity,
                engines: self.engines.clone(),
            },
        };
        // The server's own checks, named by the form's labels.
        request.check().map_err(|(field, problem)| {
            let label = match field {
                "events" => "Events",
                _ => "Escalate after (minutes)",
            };
            format!("{label}: {problem}")
        })?;
        Ok(request)
    }
}

/// An event kind as the page reads it.
pub fn event_label(kind: EventKind) -> &'static str {
    match kind {
        EventKind::AlertCreated => "New alert",
        EventKind::AlertUnacknowledged => "Alert not acknowledged",
        EventKind::AuditEntry => "Audit log entry",
        EventKind::PlanOverCommitted => "Plan over-committed",
        EventKind::SensorDisconnected => "Sensor disconnected",
        EventKind::SensorUnhealthy => "Sensor unhealthy",
        EventKind::SensorRecovered => "Sensor recovered",
        EventKind::Test => "Test event",
    }
}

/// What a rule sends, in words: "New alert, Audit log entry · at Plant North · major and
/// more severe".
pub fn describe(rule: &NotificationRule, site_name: &dyn Fn(&SiteId) -> String) -> String {
    let mut parts = vec![
        rule.events
            .iter()
            .map(|kind| event_label(*kind))
            .collect::<Vec<_>>()
            .join(", "),
    ];
    if let Some(minutes) = rule.escalate_after_minutes {
        parts.push(format!("escalated after {minutes} min"));
    }
    if let Some(site) = &rule.filter.site_id {
        parts.push(format!("at {}", site_name(site)));
    }
    if !rule.filter.engines.is_empty() {
        let engines: Vec<String> = rule
            .filter
            .engines
            .iter()
            .map(|e| words(e.as_str()))
            .collect();
        parts.push(format!("from {}", engines.join(", ")));
    }
    if let Some(severity) = rule.filter.min_severity {
        parts.push(
            match severity {
                Severity::Critical => "critical only",
                Severity::Major => "major and more severe",
                Severity::Minor => "minor and more severe",
                Severity::Warning => "any severity",
            }
            .to_owned(),
        );
    }
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_form_names_the_field_to_fix() {
        let ok = EndpointForm {
            name: " SOC ".into(),
            url: "https://soc.example.com/hook".into(),
        };
        assert_eq!(ok.request().unwrap().url.host(), "soc.example.com");
        let bad_url = EndpointForm {
            url: "soc.example.com".into(),
            ..ok.clone()
        };
        assert!(bad_url.request().unwrap_err().starts_with("URL:"));
        let no_name = EndpointForm {
            name: " ".into(),
            ..ok
        };
        assert!(no_name.request().unwrap_err().starts_with("Name:"));
    }

    #[test]
    fn a_rule_needs_a_name_an_endpoint_and_an_event_and_reads_as_words() {
        let endpoint = WebhookEndpointId::parse("e1").unwrap();
        let mut form = RuleForm {
            name: "Critical to SOC".into(),
            endpoint: Some(endpoint.clone()),
            events: [EventKind::AlertCreated].into(),
            site: Some(SiteId::parse("north").unwrap()),
            min_severity: Some(Severity::Critical),
            engines: [Engine::Malware].into(),
            escalate_after: String::new(),
        };
        let request = form.request().unwrap();
        assert_eq!(request.endpoint_id, endpoint);
        assert_eq!(request.filter.min_severity, Some(Severity::Critical));
        let rule = NotificationRule {
            id: shared::model::NotificationRuleId::parse("r1").unwrap(),
            name: request.name,
            endpoint_id: request.endpoint_id,
            events: request.events,
            filter: request.filter,
            escalate_after_minutes: request.escalate_after_minutes,
            created_by: shared::model::Email::parse("a@b.co").unwrap(),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        assert_eq!(
            describe(&rule, &|_| "Plant North".into()),
            "New alert · at Plant North · from Malware · critical only"
        );
        form.events.insert(EventKind::AlertUnacknowledged);
        for typed in ["", "0", "10081", "soon"] {
            form.escalate_after = typed.into();
            assert!(
                form.request().unwrap_err().starts_with("Escalate after"),
                "{typed}"
            );
        }
        form.escalate_after = "30".into();
        assert_eq!(form.request().unwrap().escalate_after_minutes, Some(30));
        form.events.clear();
        assert!(form.request().unwrap_err().starts_with("Events:"));
        form.events.insert(EventKind::AuditEntry);
        form.endpoint = None;
        assert!(form.request().unwrap_err().starts_with("Endpoint:"));
    }
}
