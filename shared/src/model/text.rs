//! Validated text values: emails and display names.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest email accepted (RFC 5321's path limit; the local part may take all of it).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest display name accepted, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must be an email address like name@example.com")]
    InvalidEmail,
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must not contain control characters")]
    ControlCharacter,
}

/// The rule of every short human-facing text: trimmed, 1..=`max` characters, no
/// control characters (so no line breaks).
pub(crate) fn single_line(raw: &str, max: usize) -> Result<String, TextError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(TextError::Empty);
    }
    if text.chars().count() > max {
        return Err(TextError::TooLong { max });
    }
    if text.chars().any(char::is_control) {
        return Err(TextError::ControlCharacter);
    }
    Ok(text.to_owned())
}

/// The characters `str::trim` removes (Unicode `White_Space`), as a regex class body.
#[cfg(feature = "openapi")]
pub(crate) const WHITE_SPACE: &str =
    r"\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
/// What a URL may not hold: white space and control characters, as a regex class body.
#[cfg(feature = "openapi")]
pub(crate) const FORBIDDEN_IN_URL: &str = concat!(
    r"\x00-\x20\x7F-\x9F",
    r"\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
);
/// The characters `char::is_control` finds (Unicode `Cc`), as a regex class body.
#[cfg(feature = "openapi")]
pub(crate) const CONTROL: &str = r"\x00-\x1F\x7F-\x9F";

/// The pattern of exactly the strings [`single_line`] accepts with this `max`.
#[cfg(feature = "openapi")]
pub(crate) fn single_line_pattern(max: usize) -> String {
    trimmed_pattern(max, CONTROL)
}

/// The pattern of the strings that, trimmed, are 1..=`max` characters none of which is
/// in the class body `forbidden` (may be empty): any white space around characters
/// that start and end with neither white space nor a forbidden character.
#[cfg(feature = "openapi")]
pub(crate) fn trimmed_pattern(max: usize, forbidden: &str) -> String {
    let space = format!("[{WHITE_SPACE}]*");
    let edge = format!("[^{forbidden}{WHITE_SPACE}]");
    let inner = if forbidden.is_empty() {
        r"[\s\S]".to_owned()
    } else {
        format!("[^{forbidden}]")
    };
    let repeat = max.saturating_sub(2);
    format!("^{space}{edge}(?:{inner}{{0,{repeat}}}{edge})?{space}$")
}

/// A principal's email, lower-cased so that `A@B.C` and `a@b.c` are one person.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// An email's atoms: what `parse` lets between the dots of the local part.
#[cfg(feature = "openapi")]
const EMAIL_ATOM: &str = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
/// A domain label: letters, digits and inner hyphens.
#[cfg(feature = "openapi")]
const DOMAIN_LABEL: &str = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?";

/// The emails [`Email::parse`] accepts, without surrounding white space, as an
/// unanchored regular expression.
#[cfg(feature = "openapi")]
pub(crate) fn email_regex() -> String {
    format!(r"{EMAIL_ATOM}(?:\.{EMAIL_ATOM})*@{DOMAIN_LABEL}(?:\.{DOMAIN_LABEL})+")
}

// Exactly what `parse` accepts but surrounding white space (trimmed away), so the
// document states the rule; the length limit is the schema's `maxLength`.
named_schema!(Email, {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(format!("^{}$", email_regex())))
        .max_length(Some(MAX_EMAIL_LEN))
        .into()
});

impl Email {
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        let email = raw.trim().to_ascii_lowercase();
        if email.len() > MAX_EMAIL_LEN {
            return Err(TextError::TooLong { max: MAX_EMAIL_LEN });
        }
        let (local, domain) = email.split_once('@').ok_or(TextError::InvalidEmail)?;
        let label_ok = |label: &str| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        let local_ok = !local.is_empty()
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b));
        let domain_ok = domain.contains('.') && domain.split('.').all(label_ok);
        if local_ok && domain_ok {
            Ok(Self(email))
        } else {
            Err(TextError::InvalidEmail)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = TextError;
    fn try_from(raw: String) -> Result<Self, TextError> {
        Self::parse(&raw)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> String {
        email.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Declares a trimmed single-line text type of at most `$max` characters.
macro_rules! single_line_text {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        pattern_schema!($name, $crate::model::single_line_pattern($max));

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, $crate::model::TextError> {
                $crate::model::single_line(raw, $max).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::model::TextError;
            fn try_from(raw: String) -> Result<Self, $crate::model::TextError> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(text: $name) -> String {
                text.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

pub(crate) use single_line_text;

single_line_text!(
    /// A human-facing name (subscription, site, zone, sensor, custom role, device
    /// attributes): trimmed, 1..=100 characters, no control characters.
    DisplayName,
    MAX_DISPLAY_NAME_CHARS
);

/// The document's patterns against the parsers they describe: a string matches exactly
/// when the parser takes it.
#[cfg(all(test, feature = "openapi"))]
mod patterns {
    use proptest::prelude::*;

    use super::*;

    /// Strings from an alphabet that makes valid and invalid values alike likely: white
    /// space of several kinds, control characters, letters, and what emails are made of.
    fn text(max: usize) -> impl Strategy<Value = String> {
        let alphabet = prop::sample::select(vec![
            'a', 'Z', '0', '.', '@', '-', '_', ':', '+', ' ', '\t', '\n', '\u{85}', '\u{a0}',
            '\u{2003}', '\u{3000}', '\u{0}', '\u{1f}', '\u{7f}', '\u{9f}', '\u{1c}', 'é', '漢',
        ]);
        prop::collection::vec(alphabet, 0..max).prop_map(|chars| chars.into_iter().collect())
    }

    fn matches(pattern: &str, value: &str) -> bool {
        regex::Regex::new(pattern)
            .expect("the pattern is a regular expression")
            .is_match(value)
    }

    proptest! {
        #[test]
        fn a_single_line_text_matches_its_pattern_exactly_when_it_is_accepted(raw in text(14)) {
            let pattern = single_line_pattern(10);
            prop_assert_eq!(matches(&pattern, &raw), single_line(&raw, 10).is_ok(), "{:?}", raw);
        }

        #[test]
        fn an_email_matches_its_pattern_exactly_when_it_is_accepted(raw in text(16)) {
            // The pattern leaves surrounding white space to the parser's trim.
            let bare = raw.trim();
            let pattern = format!("^{}$", email_regex());
            prop_assert_eq!(matches(&pattern, bare), Email::parse(bare).is_ok(), "{:?}", bare);
        }

        #[test]
        fn an_id_matches_its_pattern_exactly_when_it_is_accepted(raw in text(8)) {
            let pattern = format!("^{}$", crate::model::id_regex());
            prop_assert_eq!(matches(&pattern, &raw), crate::model::SiteId::parse(raw.as_str()).is_ok());
        }
    }

    #[test]
    fn the_longest_accepted_text_matches_and_one_more_character_does_not() {
        let pattern = single_line_pattern(MAX_DISPLAY_NAME_CHARS);
        let longest = format!("  {}  ", "x".repeat(MAX_DISPLAY_NAME_CHARS));
        let too_long = format!("  {}  ", "x".repeat(MAX_DISPLAY_NAME_CHARS + 1));
        assert!(matches(&pattern, &longest));
        assert!(!matches(&pattern, &too_long));
        assert!(!matches(&pattern, "   "));
        let id = format!("^{}$", crate::model::id_regex());
        assert!(matches(&id, &"a".repeat(crate::model::MAX_ID_LEN)));
        assert!(!matches(&id, &"a".repeat(crate::model::MAX_ID_LEN + 1)));
    }
}
