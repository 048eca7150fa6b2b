//! What people add to an alert beyond its status: what they said and why they closed
//! it (the timeline recording it is `api::AlertEvent`).

use serde::{Deserialize, Serialize};

use crate::model::{CloseReasonId, DisplayName};

/// Longest comment on an alert, in characters.
pub const MAX_COMMENT_CHARS: usize = 2_000;
/// Most close reasons a subscription may keep.
pub const MAX_CLOSE_REASONS: usize = 20;

/// A comment on an alert: trimmed, 1..=2000 characters; lines and tabs allowed, no
/// other control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommentText(String);

pattern_schema!(
    CommentText,
    // Control characters but line feed (0A) and tab (09) are refused.
    super::text::trimmed_pattern(MAX_COMMENT_CHARS, r"\x00-\x08\x0B-\x1F\x7F-\x9F")
);

impl CommentText {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let text = raw.trim();
        if text.is_empty() {
            return Err("a comment cannot be empty".into());
        }
        if text.chars().count() > MAX_COMMENT_CHARS {
            return Err(format!(
                "a comment is at most {MAX_COMMENT_CHARS} characters"
            ));
        }
        if text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err("a comment cannot hold control characters".into());
        }
        Ok(CommentText(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CommentText {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        CommentText::parse(&raw)
    }
}

impl From<CommentText> for String {
    fn from(text: CommentText) -> String {
        text.0
    }
}

/// One of a subscription's reasons for closing an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CloseReason {
    #[cfg_attr(feature = "openapi", schema(example = "false_positive"))]
    pub id: CloseReasonId,
    #[cfg_attr(feature = "openapi", schema(example = "False positive"))]
    pub label: DisplayName,
    /// Whether closing with this reason also learns the alert (when it is learnable).
    pub learns: bool,
}

/// A subscription's close reasons, in the order the console offers them: 1 to 20,
/// ids distinct.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(
    deny_unknown_fields,
    try_from = "Vec<CloseReason>",
    into = "Vec<CloseReason>"
)]
pub struct CloseReasons(Vec<CloseReason>);

impl CloseReasons {
    /// What a subscription offers until an administrator changes it.
    pub fn defaults() -> CloseReasons {
        let reason = |id: &str, label: &str, learns| CloseReason {
            id: CloseReasonId::parse(id).expect("a valid id"),
            label: DisplayName::parse(label).expect("a valid label"),
            learns,
        };
        CloseReasons(vec![
            reason("resolved", "Resolved — true positive", false),
            reason("false_positive", "False positive", false),
            reason("expected", "Expected / benign", true),
            reason("duplicate", "Duplicate", false),
        ])
    }

    pub fn reasons(&self) -> &[CloseReason] {
        &self.0
    }

    pub fn find(&self, id: &CloseReasonId) -> Option<&CloseReason> {
        self.0.iter().find(|reason| reason.id == *id)
    }
}

impl TryFrom<Vec<CloseReason>> for CloseReasons {
    type Error = String;
    fn try_from(reasons: Vec<CloseReason>) -> Result<Self, String> {
        if reasons.is_empty() || reasons.len() > MAX_CLOSE_REASONS {
            return Err(format!("1 to {MAX_CLOSE_REASONS} close reasons"));
        }
        for (n, reason) in reasons.iter().enumerate() {
            if reasons[..n].iter().any(|earlier| earlier.id == reason.id) {
                return Err(format!("close reason {} is listed twice", reason.id));
            }
        }
        Ok(CloseReasons(reasons))
    }
}

impl From<CloseReasons> for Vec<CloseReason> {
    fn from(reasons: CloseReasons) -> Self {
        reasons.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn comments_are_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(
            CommentText::parse("  seen on\n\tthe PLC  ")
                .unwrap()
                .as_str(),
            "seen on\n\tthe PLC"
        );
        for bad in ["", "   ", "bell\u{7}"] {
            assert!(CommentText::parse(bad).is_err(), "{bad:?}");
        }
        assert!(CommentText::parse(&"x".repeat(MAX_COMMENT_CHARS)).is_ok());
        assert!(CommentText::parse(&"x".repeat(MAX_COMMENT_CHARS + 1)).is_err());
    }

    #[test]
    fn close_reasons_are_one_to_twenty_with_distinct_ids() {
        let defaults = CloseReasons::defaults();
        let round: CloseReasons =
            serde_json::from_value(serde_json::to_value(&defaults).unwrap()).unwrap();
        assert_eq!(round, defaults);
        let reason = |id: &str| json!({"id": id, "label": "L", "learns": false});
        assert!(serde_json::from_value::<CloseReasons>(json!([])).is_err());
        assert!(serde_json::from_value::<CloseReasons>(json!([reason("a"), reason("a")])).is_err());
        let many: Vec<_> = (0..=MAX_CLOSE_REASONS)
            .map(|n| reason(&format!("r{n}")))
            .collect();
        assert!(serde_json::from_value::<CloseReasons>(json!(many)).is_err());
        assert!(
            serde_json::from_value::<CloseReasons>(
                json!([{"id": "a", "label": "L", "learns": false, "x": 1}])
            )
            .is_err()
        );
    }
}
