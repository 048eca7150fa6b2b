//! An alert's timeline in words: what each entry says happened, and who is who.

use shared::api::{AlertChange, AlertEvent, AuditActor};
use shared::authz::PrincipalRef;
use shared::model::{CloseReasonId, CloseReasons};

use crate::logic::format::words;

/// A principal as the console names it: the email, or "group <id>"; nobody is "Nobody".
pub fn principal_name(principal: Option<&PrincipalRef>) -> String {
    match principal {
        None => "Nobody".to_owned(),
        Some(PrincipalRef::User(email)) => email.to_string(),
        Some(PrincipalRef::Group(group)) => format!("group {group}"),
    }
}

/// A close reason's label, or its id when the subscription no longer lists it.
pub fn reason_label(reasons: Option<&CloseReasons>, id: &CloseReasonId) -> String {
    reasons
        .and_then(|reasons| reasons.find(id))
        .map_or_else(|| id.to_string(), |reason| reason.label.to_string())
}

pub fn actor_name(actor: &AuditActor) -> String {
    match actor {
        AuditActor::User { email } => email.to_string(),
        AuditActor::Sensor { sensor_id } => format!("sensor {sensor_id}"),
        AuditActor::System => "Vigil (retention)".to_owned(),
    }
}

/// What an entry says happened, after its author (a comment's text is shown on its
/// own, below).
pub fn describe(event: &AlertEvent, reasons: Option<&CloseReasons>) -> String {
    match &event.change {
        AlertChange::Status { from, to, reason } => {
            let mut said = format!(
                "changed the status from {} to {}",
                words(from.as_str()),
                words(to.as_str())
            );
            if let Some(reason) = reason {
                said.push_str(&format!(": {}", reason_label(reasons, reason)));
            }
            said
        }
        AlertChange::Learned => "learned it: identical traffic raises nothing".to_owned(),
        AlertChange::Assigned { to: None, .. } => "unassigned it".to_owned(),
        AlertChange::Assigned { to, .. } => {
            format!("assigned it to {}", principal_name(to.as_ref()))
        }
        AlertChange::Comment { .. } => "commented".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(change: serde_json::Value) -> AlertEvent {
        serde_json::from_value(serde_json::json!({
            "id": "00000000000000000003-0", "at": "2026-12-01T10:00:00Z",
            "actor": {"kind": "user", "email": "ana@example.com"}, "change": change,
        }))
        .unwrap()
    }

    #[test]
    fn entries_read_as_what_happened_with_the_reason_labels_of_the_subscription() {
        let reasons = CloseReasons::defaults();
        let closed = event(serde_json::json!({
            "kind": "status", "from": "new", "to": "closed", "reason": "false_positive"}));
        assert_eq!(
            describe(&closed, Some(&reasons)),
            "changed the status from New to Closed: False positive"
        );
        let gone = event(serde_json::json!({
            "kind": "status", "from": "active", "to": "closed", "reason": "retired"}));
        assert!(describe(&gone, Some(&reasons)).ends_with(": retired"));
        let to_group = event(serde_json::json!({
            "kind": "assigned", "from": "ana@example.com", "to": "group:night-shift"}));
        assert_eq!(
            describe(&to_group, None),
            "assigned it to group night-shift"
        );
        let unassigned = event(serde_json::json!({
            "kind": "assigned", "from": "ana@example.com", "to": null}));
        assert_eq!(describe(&unassigned, None), "unassigned it");
        assert_eq!(actor_name(&closed.actor), "ana@example.com");
        assert_eq!(principal_name(None), "Nobody");
    }
}
