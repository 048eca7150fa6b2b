//! Suppression rules: detections an analyst has decided not to be alerted about, for a
//! while, somewhere. A rule never hides anything silently: ingest counts what it
//! suppresses on the rule, and every rule expires.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::model::{
    AlertTitle, DetectedAlert, DeviceGroupId, DisplayName, Email, Engine, Protocol, RuleId,
    SensorId, Severity, SiteId,
};

/// Longest a rule may stay active, from when it is made.
pub const MAX_RULE_DAYS: i64 = 90;
/// Most rules a subscription may keep (expired ones included, until deleted).
pub const MAX_RULES: usize = 200;
/// Most open alerts a preview (or a create that closes what it matches) examines.
pub const MAX_PREVIEWED_ALERTS: usize = 10_000;

/// An address, or a CIDR block of them (`10.0.0.0/8`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AddressRange {
    network: IpAddr,
    prefix: u8,
}

// An address as `IpAddr` reads it, with an optional prefix of 0 to 32 (IPv4) or 0 to
// 128 (IPv6).
pattern_schema!(
    AddressRange,
    format!(
        "^(?:{}(?:/(?:3[0-2]|[12]?[0-9]))?|(?:{})(?:/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9]))?)$",
        crate::schema::ipv4_regex(),
        crate::schema::ipv6_regex()
    ),
    Some("An IPv4 or IPv6 address, or a CIDR block (10.0.0.0/8).")
);

impl AddressRange {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let bad = || format!("{raw:?} is not an IP address or CIDR block");
        let (address, prefix) = match raw.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (raw.trim(), None),
        };
        let network: IpAddr = address.parse().map_err(|_| bad())?;
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.parse::<u8>().map_err(|_| bad())?,
            None => width,
        };
        if prefix > width {
            return Err(bad());
        }
        Ok(AddressRange { network, prefix })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let bits = |ip: IpAddr| -> Option<u128> {
            match (self.network, ip) {
                (IpAddr::V4(_), IpAddr::V4(v4)) => Some(u128::from(u32::from(v4)) << 96),
                (IpAddr::V6(_), IpAddr::V6(v6)) => Some(u128::from(v6)),
                _ => None,
            }
        };
        let (Some(network), Some(address)) = (bits(self.network), bits(address)) else {
            return false;
        };
        let mask = match self.prefix {
            0 => 0,
            // v4 prefixes count from the top of the shifted 128 bits as well.
            n => u128::MAX << (128 - u32::from(n)),
        };
        network & mask == address & mask
    }
}

impl TryFrom<String> for AddressRange {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        AddressRange::parse(&raw)
    }
}

impl From<AddressRange> for String {
    fn from(range: AddressRange) -> String {
        let width = if range.network.is_ipv4() { 32 } else { 128 };
        if range.prefix == width {
            range.network.to_string()
        } else {
            format!("{}/{}", range.network, range.prefix)
        }
    }
}

/// What a rule matches: every field given must match (the title and protocol ignoring
/// case); at least one is required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RuleMatch {
    #[serde(default)]
    pub title: Option<AlertTitle>,
    #[serde(default)]
    pub engine: Option<Engine>,
    #[serde(default)]
    pub severity: Option<Severity>,
    #[serde(default)]
    pub sensor_id: Option<SensorId>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(example = "10.0.0.0/8"))]
    pub source: Option<AddressRange>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(example = "10.1.2.3"))]
    pub destination: Option<AddressRange>,
    #[serde(default)]
    pub protocol: Option<Protocol>,
}

/// The fields of an alert or detection a rule looks at.
#[derive(Debug, Clone, Copy)]
pub struct Matched<'a> {
    pub title: &'a str,
    pub engine: Engine,
    pub severity: Severity,
    pub sensor_id: &'a SensorId,
    pub source: IpAddr,
    pub destination: IpAddr,
    pub protocol: &'a str,
}

impl<'a> Matched<'a> {
    pub fn detection(detection: &'a DetectedAlert, sensor_id: &'a SensorId) -> Self {
        Matched {
            title: detection.title.as_str(),
            engine: detection.engine,
            severity: detection.severity,
            sensor_id,
            source: detection.source_ip,
            destination: detection.destination_ip,
            protocol: detection.protocol.as_str(),
        }
    }

    pub fn alert(alert: &'a crate::model::Alert) -> Self {
        Matched {
            title: alert.title.as_str(),
            engine: alert.engine,
            severity: alert.severity,
            sensor_id: &alert.sensor_id,
            source: alert.source_ip,
            destination: alert.destination_ip,
            protocol: alert.protocol.as_str(),
        }
    }
}

impl RuleMatch {
    pub fn is_empty(&self) -> bool {
        *self == RuleMatch::default()
    }

    pub fn matches(&self, seen: &Matched<'_>) -> bool {
        self.title
            .as_ref()
            .is_none_or(|t| t.as_str().eq_ignore_ascii_case(seen.title))
            && self.engine.is_none_or(|e| e == seen.engine)
            && self.severity.is_none_or(|s| s == seen.severity)
            && self.sensor_id.as_ref().is_none_or(|s| s == seen.sensor_id)
            && self.source.is_none_or(|r| r.contains(seen.source))
            && self
                .destination
                .is_none_or(|r| r.contains(seen.destination))
            && self
                .protocol
                .as_ref()
                .is_none_or(|p| p.as_str().eq_ignore_ascii_case(seen.protocol))
    }
}

/// Where a rule applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleScope {
    Subscription,
    Site { site_id: SiteId },
    DeviceGroup { device_group_id: DeviceGroupId },
}

// Each variant an object of `kind` and its own fields, and nothing else (the derive
// would let other fields through, which serde refuses).
named_schema!(RuleScope, {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Type};
    let variant = |kind: &str, field: Option<(&str, utoipa::openapi::RefOr<_>)>| {
        let tag = ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some([kind]));
        let mut object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("kind", tag)
            .required("kind")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        if let Some((name, schema)) = field {
            object = object.property(name, schema).required(name);
        }
        object
    };
    OneOfBuilder::new()
        .item(variant("subscription", None))
        .item(variant("site", Some(("site_id", SiteId::schema()))))
        .item(variant(
            "device_group",
            Some(("device_group_id", DeviceGroupId::schema())),
        ))
        .into()
});

/// `POST /subscriptions/{sub}/suppression-rules` (and its preview).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewSuppressionRule {
    #[serde(rename = "match")]
    pub matches: RuleMatch,
    pub scope: RuleScope,
    /// When it stops matching: after now, at most [`MAX_RULE_DAYS`] days ahead.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Why the traffic is expected.
    pub reason: DisplayName,
    /// Also close the open alerts it matches now, with reason `suppressed`.
    #[serde(default)]
    pub close_matching: bool,
}

impl NewSuppressionRule {
    /// The rule's own problem, named by field, judged at `now`.
    pub fn check(&self, now: OffsetDateTime) -> Result<(), (&'static str, String)> {
        if self.matches.is_empty() {
            return Err((
                "match",
                "name at least one field: a rule may not match everything".into(),
            ));
        }
        if self.expires_at <= now {
            return Err(("expires_at", "must be in the future".into()));
        }
        if self.expires_at > now + Duration::days(MAX_RULE_DAYS) {
            return Err((
                "expires_at",
                format!("must be at most {MAX_RULE_DAYS} days ahead"),
            ));
        }
        Ok(())
    }
}

/// A suppression rule, as stored and listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SuppressionRule {
    pub id: RuleId,
    #[serde(rename = "match")]
    pub matches: RuleMatch,
    pub scope: RuleScope,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub reason: DisplayName,
    pub author: Email,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Detections it kept from being raised, every sensor together.
    #[serde(default)]
    pub hits: u64,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_hit: Option<OffsetDateTime>,
}

impl SuppressionRule {
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn address_ranges_hold_what_their_prefix_says() {
        let range = |raw| AddressRange::parse(raw).unwrap();
        let ip = |raw: &str| raw.parse::<IpAddr>().unwrap();
        assert!(range("10.0.0.0/8").contains(ip("10.200.3.4")));
        assert!(!range("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(range("10.1.2.3").contains(ip("10.1.2.3")));
        assert!(!range("10.1.2.3").contains(ip("10.1.2.4")));
        assert!(range("0.0.0.0/0").contains(ip("192.168.1.1")));
        assert!(!range("0.0.0.0/0").contains(ip("::1")));
        assert!(range("fd00::/8").contains(ip("fd12::1")));
        for bad in ["10.0.0.0/33", "nope", "10.0.0.0/", "::/129"] {
            assert!(AddressRange::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(String::from(range("10.0.0.0/8")), "10.0.0.0/8");
        assert_eq!(String::from(range("10.0.0.9")), "10.0.0.9");
    }

    #[test]
    fn a_rule_matches_when_every_field_given_does_and_never_matches_everything() {
        let detection: DetectedAlert = serde_json::from_value(json!({
            "title": "Unauthorized PLC programming", "severity": "major",
            "engine": "policy_violation", "source_ip": "10.0.0.5",
            "destination_ip": "10.0.9.9", "protocol": "S7", "learnable": true,
        }))
        .unwrap();
        let sensor = SensorId::parse("s1").unwrap();
        let seen = Matched::detection(&detection, &sensor);
        let rule = |body| serde_json::from_value::<RuleMatch>(body).unwrap();
        assert!(rule(json!({"title": "unauthorized plc PROGRAMMING"})).matches(&seen));
        assert!(rule(json!({"source": "10.0.0.0/24", "protocol": "s7"})).matches(&seen));
        assert!(!rule(json!({"source": "10.0.0.0/24", "severity": "minor"})).matches(&seen));
        assert!(!rule(json!({"sensor_id": "s2"})).matches(&seen));
        assert!(serde_json::from_value::<RuleMatch>(json!({"colour": "red"})).is_err());
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(1000);
        let new = |matches: RuleMatch, days| NewSuppressionRule {
            matches,
            scope: RuleScope::Subscription,
            expires_at: now + Duration::days(days),
            reason: DisplayName::parse("Maintenance").unwrap(),
            close_matching: false,
        };
        assert_eq!(
            new(RuleMatch::default(), 1).check(now).unwrap_err().0,
            "match"
        );
        let some = rule(json!({"engine": "malware"}));
        assert_eq!(new(some.clone(), 0).check(now).unwrap_err().0, "expires_at");
        assert_eq!(
            new(some.clone(), MAX_RULE_DAYS + 1)
                .check(now)
                .unwrap_err()
                .0,
            "expires_at"
        );
        assert!(new(some, MAX_RULE_DAYS).check(now).is_ok());
    }
}
