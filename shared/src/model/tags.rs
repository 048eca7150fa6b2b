//! Key/value tags on sites, and filters that select sites by their tags.
//!
//! Limits, chosen to fit a DynamoDB item and an index key with room to spare:
//! - at most [`MAX_TAGS`] (50) tags per site;
//! - a key is 1..=128 characters of ASCII letters, digits and `-` `_` `.` `:` `/`,
//!   compared case-sensitively (no spaces, so keys read well in a filter);
//! - a value is 0..=256 characters without control characters, kept as given.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::SiteId;

pub const MAX_TAGS: usize = 50;
pub const MAX_TAG_KEY_CHARS: usize = 128;
pub const MAX_TAG_VALUE_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error(
        "tag keys must be 1 to {MAX_TAG_KEY_CHARS} characters of letters, digits, '-', '_', '.', ':' or '/'"
    )]
    InvalidKey,
    #[error(
        "tag values must be at most {MAX_TAG_VALUE_CHARS} characters without control characters"
    )]
    InvalidValue,
    #[error("must have at most {MAX_TAGS} tags")]
    TooMany,
    #[error("must name at least one tag")]
    EmptyFilter,
}

/// A tag's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TagKey(String);

pattern_schema!(TagKey, tag_key_pattern());

#[cfg(feature = "openapi")]
fn tag_key_pattern() -> String {
    format!("^[A-Za-z0-9._:/-]{{1,{MAX_TAG_KEY_CHARS}}}$")
}

impl TagKey {
    pub fn parse(raw: &str) -> Result<Self, TagError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.:/".contains(c);
        if raw.is_empty() || raw.len() > MAX_TAG_KEY_CHARS || !raw.chars().all(allowed) {
            return Err(TagError::InvalidKey);
        }
        Ok(TagKey(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A tag's value; may be empty (a tag used as a plain label).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TagValue(String);

pattern_schema!(TagValue, tag_value_pattern());

#[cfg(feature = "openapi")]
fn tag_value_pattern() -> String {
    format!("^[^{}]{{0,{MAX_TAG_VALUE_CHARS}}}$", super::text::CONTROL)
}

impl TagValue {
    pub fn parse(raw: &str) -> Result<Self, TagError> {
        if raw.chars().count() > MAX_TAG_VALUE_CHARS || raw.chars().any(char::is_control) {
            return Err(TagError::InvalidValue);
        }
        Ok(TagValue(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_conversions {
    ($name:ident) => {
        impl TryFrom<String> for $name {
            type Error = TagError;
            fn try_from(raw: String) -> Result<Self, TagError> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(text: $name) -> String {
                text.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_conversions!(TagKey);
string_conversions!(TagValue);

/// A site's tags: at most [`MAX_TAGS`], one value per key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "BTreeMap<TagKey, TagValue>",
    into = "BTreeMap<TagKey, TagValue>"
)]
pub struct Tags(BTreeMap<TagKey, TagValue>);

impl Tags {
    pub fn new(tags: BTreeMap<TagKey, TagValue>) -> Result<Self, TagError> {
        if tags.len() > MAX_TAGS {
            return Err(TagError::TooMany);
        }
        Ok(Tags(tags))
    }

    pub fn get(&self, key: &TagKey) -> Option<&TagValue> {
        self.0.get(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&TagKey, &TagValue)> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<BTreeMap<TagKey, TagValue>> for Tags {
    type Error = TagError;
    fn try_from(tags: BTreeMap<TagKey, TagValue>) -> Result<Self, TagError> {
        Tags::new(tags)
    }
}

impl From<Tags> for BTreeMap<TagKey, TagValue> {
    fn from(tags: Tags) -> Self {
        tags.0
    }
}

/// Selects the sites carrying every one of its tags with the same value. Never empty:
/// an empty filter would select every site, which is what a subscription scope is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Tags", into = "Tags")]
pub struct TagFilter(Tags);

/// The schema of a tag map: keys and values as their types take them, and at least
/// `min` / at most [`MAX_TAGS`] entries.
#[cfg(feature = "openapi")]
fn tags_schema(min: usize) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::PartialSchema;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let key = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(tag_key_pattern()));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(key))
        .additional_properties(Some(TagValue::schema()))
        .min_properties((min > 0).then_some(min))
        .max_properties(Some(MAX_TAGS))
        .into()
}

named_schema!(Tags, { tags_schema(0) });

named_schema!(TagFilter, { tags_schema(1) });

impl TagFilter {
    pub fn new(required: Tags) -> Result<Self, TagError> {
        if required.is_empty() {
            return Err(TagError::EmptyFilter);
        }
        Ok(TagFilter(required))
    }

    pub fn matches(&self, tags: &Tags) -> bool {
        self.0
            .iter()
            .all(|(key, value)| tags.get(key) == Some(value))
    }
}

impl TryFrom<Tags> for TagFilter {
    type Error = TagError;
    fn try_from(required: Tags) -> Result<Self, TagError> {
        TagFilter::new(required)
    }
}

impl From<TagFilter> for Tags {
    fn from(filter: TagFilter) -> Self {
        filter.0
    }
}

/// A site and its tags, as the caller supplies them to resolve tag-filter scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagsOfSite<'a> {
    pub site: &'a SiteId,
    pub tags: &'a Tags,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        let map = pairs
            .iter()
            .map(|(key, value)| (TagKey::parse(key).unwrap(), TagValue::parse(value).unwrap()))
            .collect();
        Tags::new(map).unwrap()
    }

    #[test]
    fn tags_deserialize_from_a_json_object_within_limits() {
        let parsed: Tags = serde_json::from_str(r#"{"region": "emea", "line": ""}"#).unwrap();
        assert_eq!(parsed, tags(&[("region", "emea"), ("line", "")]));
        assert!(serde_json::from_str::<Tags>(r#"{"bad key": "x"}"#).is_err());
        assert!(serde_json::from_str::<Tags>(r#"{"k": "a\u0007b"}"#).is_err());
        let too_many: BTreeMap<String, String> = (0..=MAX_TAGS)
            .map(|index| (format!("k{index}"), String::new()))
            .collect();
        let json = serde_json::to_string(&too_many).unwrap();
        assert!(serde_json::from_str::<Tags>(&json).is_err());
    }

    #[test]
    fn a_filter_matches_sites_carrying_all_its_tags_with_equal_values() {
        let filter = TagFilter::new(tags(&[("region", "emea"), ("tier", "1")])).unwrap();
        assert!(filter.matches(&tags(&[("region", "emea"), ("tier", "1"), ("x", "y")])));
        assert!(!filter.matches(&tags(&[("region", "emea")])));
        assert!(!filter.matches(&tags(&[("region", "EMEA"), ("tier", "1")])));
        assert_eq!(TagFilter::new(Tags::default()), Err(TagError::EmptyFilter));
    }
}
