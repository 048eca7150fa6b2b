//! Validated text values: emails and display names.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest email accepted (RFC 5321's path limit).
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

/// A principal's email, lower-cased so that `A@B.C` and `a@b.c` are one person.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

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
            && local.len() <= 64
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
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

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
