//! The audit log as a person reads it: a change as the fields it changed, and the
//! log as CSV.

use serde_json::Value;
use shared::api::{AuditActor, AuditEntry, spreadsheet_cell};

/// One field a change touched: its value before and after (`None`: absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The fields that differ between `before` and `after`, in name order; a resource
/// created or deleted shows all of its fields. Values that are not objects compare
/// whole, as the field "value".
pub fn changes(before: Option<&Value>, after: Option<&Value>) -> Vec<FieldChange> {
    let fields = |value: Option<&Value>| -> Vec<(String, Value)> {
        match value {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Some(other) => vec![("value".to_owned(), other.clone())],
        }
    };
    let (before, after) = (fields(before), fields(after));
    let mut names: Vec<&String> = before.iter().chain(after.iter()).map(|(k, _)| k).collect();
    names.sort();
    names.dedup();
    let find = |list: &[(String, Value)], name: &str| {
        list.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
            .map(text)
    };
    names
        .into_iter()
        .filter_map(|name| {
            let (was, now) = (find(&before, name), find(&after, name));
            (was != now).then(|| FieldChange {
                field: name.clone(),
                before: was,
                after: now,
            })
        })
        .collect()
}

/// A value as text: strings bare, the rest as compact JSON.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn actor(actor: &AuditActor) -> String {
    match actor {
        AuditActor::User { email } => email.to_string(),
        AuditActor::Sensor { sensor_id } => format!("sensor {sensor_id}"),
        AuditActor::System => "Vigil (retention)".to_owned(),
    }
}

/// "name: Plant North → Plant N; tags: (none) → {…}".
pub fn summary(changes: &[FieldChange]) -> String {
    changes
        .iter()
        .map(|c| {
            format!(
                "{}: {} → {}",
                c.field,
                c.before.as_deref().unwrap_or("(none)"),
                c.after.as_deref().unwrap_or("(none)")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The entries as CSV: a header row, then one row per entry, newest first as given.
pub fn csv(entries: &[AuditEntry], scope: impl Fn(&AuditEntry) -> String) -> String {
    let mut out = String::from("When (UTC),Who,What,Scope,Target,Changes\r\n");
    for entry in entries {
        let row = [
            super::format::utc(entry.at),
            actor(&entry.actor),
            entry.action.clone(),
            scope(entry),
            entry.target.clone(),
            summary(&changes(entry.before.as_ref(), entry.after.as_ref())),
        ];
        let cells: Vec<String> = row.iter().map(|cell| csv_cell(cell)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

/// A CSV cell (RFC 4180), defused so that a spreadsheet never runs a value as a formula
/// ([`spreadsheet_cell`]).
fn csv_cell(raw: &str) -> String {
    let defused = spreadsheet_cell(raw.to_owned());
    if defused.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_update_shows_only_the_fields_it_changed() {
        let before = json!({"name": "Plant North", "tags": {"a": "1"}, "owners": ["x"]});
        let after = json!({"name": "Plant N", "tags": {"a": "1"}, "owners": ["x", "y"]});
        let changed = changes(Some(&before), Some(&after));
        assert_eq!(
            changed,
            [
                FieldChange {
                    field: "name".into(),
                    before: Some("Plant North".into()),
                    after: Some("Plant N".into())
                },
                FieldChange {
                    field: "owners".into(),
                    before: Some(r#"["x"]"#.into()),
                    after: Some(r#"["x","y"]"#.into())
                },
            ]
        );
        assert_eq!(
            summary(&changed),
            r#"name: Plant North → Plant N; owners: ["x"] → ["x","y"]"#
        );
    }

    #[test]
    fn a_creation_or_deletion_shows_every_field_and_plain_values_compare_whole() {
        let site = json!({"name": "Plant North", "tags": null});
        assert_eq!(changes(None, Some(&site)).len(), 1);
        assert_eq!(changes(Some(&site), None)[0].after, None);
        assert_eq!(changes(Some(&json!(1)), Some(&json!(2)))[0].field, "value");
        assert!(changes(Some(&site), Some(&site)).is_empty());
    }

    #[test]
    fn csv_quotes_what_needs_it_and_defuses_formulas() {
        let entry: AuditEntry = serde_json::from_value(json!({
            "id": "e1", "at": "2026-12-01T10:03:00Z",
            "actor": {"kind": "user", "email": "a@plants.test"},
            "action": "site.update", "subscription_id": "sub-1", "site_id": "north",
            "target": "=HYPERLINK(\"x\")",
            "before": {"name": "North, old"}, "after": {"name": "North"},
        }))
        .unwrap();
        let out = csv(&[entry], |_| "Plant North".into());
        let lines: Vec<&str> = out.split("\r\n").collect();
        assert_eq!(lines[0], "When (UTC),Who,What,Scope,Target,Changes");
        assert_eq!(
            lines[1],
            r#"2026-12-01 10:03 UTC,a@plants.test,site.update,Plant North,"'=HYPERLINK(""x"")","name: North, old → North""#
        );
        assert_eq!(lines.len(), 3);
    }
}
