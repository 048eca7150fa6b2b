//! A suppression rule as its form holds it: text fields and choices, made from an
//! alert or from nothing, turned into the API's request with the field that is wrong.

use shared::api::CloseReasonList;
use shared::model::{
    AddressRange, Alert, AlertTitle, CloseReason, CloseReasonId, CloseReasons, DisplayName, Engine,
    NewSuppressionRule, Protocol, RuleMatch, RuleScope, SensorId, SiteId, SuppressionRule,
};
use time::{Duration, OffsetDateTime};

use crate::logic::format::words;

/// How long a new rule lasts, as the form offers it.
pub const RULE_DAYS: [i64; 4] = [1, 7, 30, 90];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleDraft {
    pub title: String,
    pub engine: Option<Engine>,
    /// Only this sensor's traffic, when set.
    pub sensor: Option<SensorId>,
    pub source: String,
    pub destination: String,
    pub protocol: String,
    /// The site it applies to; `None`: the whole subscription.
    pub site: Option<SiteId>,
    pub days: i64,
    pub reason: String,
    pub close_matching: bool,
}

impl Default for RuleDraft {
    fn default() -> Self {
        RuleDraft {
            title: String::new(),
            engine: None,
            sensor: None,
            source: String::new(),
            destination: String::new(),
            protocol: String::new(),
            site: None,
            days: 7,
            reason: String::new(),
            close_matching: false,
        }
    }
}

impl RuleDraft {
    /// A rule for `alert`'s traffic: its title, engine, sensor, addresses and protocol,
    /// at its site.
    pub fn from_alert(alert: &Alert) -> Self {
        RuleDraft {
            title: alert.title.to_string(),
            engine: Some(alert.engine),
            sensor: Some(alert.sensor_id.clone()),
            source: alert.source_ip.to_string(),
            destination: alert.destination_ip.to_string(),
            protocol: alert.protocol.to_string(),
            site: Some(alert.site_id.clone()),
            ..RuleDraft::default()
        }
    }

    /// The request, or the field that is wrong and why.
    pub fn to_request(&self, now: OffsetDateTime) -> Result<NewSuppressionRule, String> {
        let named = |field: &str, error: String| format!("{field}: {error}");
        let matches = RuleMatch {
            title: text(&self.title)
                .map(|t| AlertTitle::parse(t).map_err(|e| named("Title", e.to_string())))
                .transpose()?,
            engine: self.engine,
            severity: None,
            sensor_id: self.sensor.clone(),
            source: text(&self.source)
                .map(|s| AddressRange::parse(s).map_err(|e| named("Source", e)))
                .transpose()?,
            destination: text(&self.destination)
                .map(|d| AddressRange::parse(d).map_err(|e| named("Destination", e)))
                .transpose()?,
            protocol: text(&self.protocol)
                .map(|p| Protocol::parse(p).map_err(|e| named("Protocol", e.to_string())))
                .transpose()?,
        };
        let reason = shared::model::DisplayName::parse(&self.reason)
            .map_err(|e| named("Reason", e.to_string()))?;
        let request = NewSuppressionRule {
            matches,
            scope: match &self.site {
                Some(site_id) => RuleScope::Site {
                    site_id: site_id.clone(),
                },
                None => RuleScope::Subscription,
            },
            expires_at: now + Duration::days(self.days),
            reason,
            close_matching: self.close_matching,
        };
        request
            .check(now)
            .map_err(|(field, problem)| named(field, problem))?;
        Ok(request)
    }
}

/// One close reason as its editor row holds it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReasonRow {
    pub id: String,
    pub label: String,
    pub learns: bool,
}

impl ReasonRow {
    pub fn of(reason: &CloseReason) -> Self {
        ReasonRow {
            id: reason.id.to_string(),
            label: reason.label.to_string(),
            learns: reason.learns,
        }
    }
}

/// The list the rows make, or what is wrong with them (row numbers from 1).
pub fn reason_list(rows: &[ReasonRow]) -> Result<CloseReasonList, String> {
    let reasons = rows
        .iter()
        .enumerate()
        .map(|(n, row)| {
            let at = |what: &str, e: String| format!("Reason {}: {what} {e}", n + 1);
            Ok(CloseReason {
                id: CloseReasonId::parse(row.id.trim()).map_err(|e| at("id:", e.to_string()))?,
                label: DisplayName::parse(&row.label).map_err(|e| at("label:", e.to_string()))?,
                learns: row.learns,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(CloseReasonList {
        reasons: CloseReasons::try_from(reasons)?,
    })
}

/// A field's text, unless blank.
fn text(raw: &str) -> Option<&str> {
    Some(raw.trim()).filter(|t| !t.is_empty())
}

/// What a rule matches, in words for the rules list, naming its sensor with
/// `sensor_name`.
pub fn describe_match(rule: &RuleMatch, sensor_name: impl Fn(&SensorId) -> String) -> String {
    let mut parts = Vec::new();
    if let Some(title) = &rule.title {
        parts.push(format!("“{title}”"));
    }
    if let Some(engine) = rule.engine {
        parts.push(words(engine.as_str()));
    }
    if let Some(severity) = rule.severity {
        parts.push(words(severity.as_str()));
    }
    if let Some(sensor) = &rule.sensor_id {
        parts.push(format!("sensor {}", sensor_name(sensor)));
    }
    if let Some(source) = rule.source {
        parts.push(format!("from {}", String::from(source)));
    }
    if let Some(destination) = rule.destination {
        parts.push(format!("to {}", String::from(destination)));
    }
    if let Some(protocol) = &rule.protocol {
        parts.push(protocol.to_string());
    }
    parts.join(" · ")
}

/// Whether a rule still matches at `now`, in words.
pub fn expiry(rule: &SuppressionRule, now: OffsetDateTime) -> &'static str {
    if rule.is_active(now) {
        "Active"
    } else {
        "Expired"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> Alert {
        serde_json::from_value(serde_json::json!({
            "id": "01J", "site_id": "north", "sensor_id": "s1", "zone_id": null,
            "title": "Port scan", "severity": "major", "status": "new", "engine": "anomaly",
            "source_ip": "10.0.0.1", "destination_ip": "10.9.0.2", "protocol": "TCP",
            "learnable": false, "first_detected": "2026-12-01T10:00:00Z",
            "last_detected": "2026-12-01T10:00:00Z",
        }))
        .unwrap()
    }

    #[test]
    fn a_draft_from_an_alert_matches_its_traffic_at_its_site() {
        let now = time::macros::datetime!(2026-12-01 12:00 UTC);
        let mut draft = RuleDraft::from_alert(&alert());
        assert!(draft.to_request(now).unwrap_err().starts_with("Reason"));
        draft.reason = "Weekly scanner".into();
        draft.source = "10.0.0.0/24".into();
        let request = draft.to_request(now).unwrap();
        assert_eq!(
            request.scope,
            RuleScope::Site {
                site_id: SiteId::parse("north").unwrap()
            }
        );
        assert_eq!(request.expires_at, now + Duration::days(7));
        assert_eq!(
            describe_match(&request.matches, |s| format!("“{s}”")),
            "“Port scan” · Anomaly · sensor “s1” · from 10.0.0.0/24 · to 10.9.0.2 · TCP"
        );
        draft.destination = "10.9.0.0/99".into();
        assert!(
            draft
                .to_request(now)
                .unwrap_err()
                .starts_with("Destination")
        );
    }

    #[test]
    fn edited_reasons_make_a_list_or_say_which_row_is_wrong() {
        let defaults = CloseReasons::defaults();
        let rows: Vec<ReasonRow> = defaults.reasons().iter().map(ReasonRow::of).collect();
        assert_eq!(reason_list(&rows).unwrap().reasons, defaults);
        let mut bad = rows.clone();
        bad[1].id = "has space".into();
        assert!(reason_list(&bad).unwrap_err().starts_with("Reason 2: id:"));
        let mut twice = rows.clone();
        twice[3].id = twice[0].id.clone();
        assert!(reason_list(&twice).unwrap_err().contains("twice"));
        assert!(reason_list(&[]).is_err());
    }

    #[test]
    fn an_empty_draft_is_refused_as_matching_everything() {
        let now = time::macros::datetime!(2026-12-01 12:00 UTC);
        let draft = RuleDraft {
            reason: "x".into(),
            ..RuleDraft::default()
        };
        assert!(draft.to_request(now).unwrap_err().starts_with("match"));
    }
}
