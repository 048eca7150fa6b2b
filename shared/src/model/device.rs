//! The device inventory: devices observed by sensors, merged into one record per
//! device.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;

use crate::model::{
    DeviceActivity, DeviceId, DisplayName, SensorId, SensorLocation, SiteId, ZoneId,
};

/// A MAC address, accepted as six hex pairs separated by `:` or `-` in either case,
/// and always written lower case with `:`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MacAddress([u8; 6]);

pattern_schema!(
    MacAddress,
    "^(?:[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5})$",
    Some("A MAC address like 00:1b:44:11:3a:b7.")
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a MAC address like 00:1b:44:11:3a:b7")]
pub struct InvalidMacAddress;

impl MacAddress {
    pub fn parse(raw: &str) -> Result<Self, InvalidMacAddress> {
        let separator = match raw.as_bytes().get(2) {
            Some(b':') => ':',
            Some(b'-') => '-',
            _ => return Err(InvalidMacAddress),
        };
        let mut octets = [0u8; 6];
        let mut pairs = raw.split(separator);
        for octet in &mut octets {
            let pair = pairs.next().ok_or(InvalidMacAddress)?;
            if pair.len() != 2 || !pair.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(InvalidMacAddress);
            }
            *octet = u8::from_str_radix(pair, 16).map_err(|_| InvalidMacAddress)?;
        }
        if pairs.next().is_some() {
            return Err(InvalidMacAddress);
        }
        Ok(MacAddress(octets))
    }

    pub const fn octets(self) -> [u8; 6] {
        self.0
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacAddress({self})")
    }
}

impl TryFrom<String> for MacAddress {
    type Error = InvalidMacAddress;
    fn try_from(raw: String) -> Result<Self, InvalidMacAddress> {
        MacAddress::parse(&raw)
    }
}

impl From<MacAddress> for String {
    fn from(mac: MacAddress) -> String {
        mac.to_string()
    }
}

/// One device in `POST /ingest/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ObservedDevice {
    /// An IPv4 or IPv6 address.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::IpAddress))]
    pub ip: IpAddr,
    pub mac: MacAddress,
    #[serde(default, deserialize_with = "blank_as_unknown")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<BlankOrName>))]
    pub name: Option<DisplayName>,
    #[serde(default, rename = "type", deserialize_with = "blank_as_unknown")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<BlankOrName>))]
    pub device_type: Option<DisplayName>,
    #[serde(default, deserialize_with = "blank_as_unknown")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<BlankOrName>))]
    pub vendor: Option<DisplayName>,
    #[serde(with = "time::serde::rfc3339")]
    pub last_activity: OffsetDateTime,
    /// Whether an endpoint-protection agent manages the device (such devices are not
    /// committed devices).
    #[serde(default)]
    pub endpoint_managed: bool,
}

/// The document's schema of an observed attribute: a [`DisplayName`], or blank.
#[cfg(feature = "openapi")]
pub struct BlankOrName;

named_schema!(BlankOrName, {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(format!(
            "(?:^[{}]*$)|(?:{})",
            super::text::WHITE_SPACE,
            super::text::single_line_pattern(super::MAX_DISPLAY_NAME_CHARS)
        )))
        .description(Some(
            "A name, or blank (or null) when the sensor could not learn it.",
        ))
        .into()
});

/// Sensors write an attribute they could not learn as `null` or `""`: both mean
/// unknown, and must not refuse the whole batch.
fn blank_as_unknown<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DisplayName>, D::Error> {
    match Option::<String>::deserialize(deserializer)?
        .as_deref()
        .map(str::trim)
    {
        None | Some("") => Ok(None),
        Some(text) => DisplayName::parse(text)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// What makes two observations the same device: the same addresses in the same zone
/// of the same site. The site counts too because a sensor may have no zone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DeviceIdentity {
    pub site_id: SiteId,
    pub zone_id: Option<ZoneId>,
    pub ip: IpAddr,
    pub mac: MacAddress,
}

impl DeviceIdentity {
    /// A stable string for storing and looking up the identity.
    pub fn key(&self) -> String {
        let zone = self.zone_id.as_ref().map_or("", ZoneId::as_str);
        // '/' appears in neither ids, IP addresses nor MAC addresses.
        format!("{}/{zone}/{}/{}", self.site_id, self.ip, self.mac)
    }
}

/// A device of the inventory, as stored and as returned by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Device {
    pub id: DeviceId,
    pub site_id: SiteId,
    pub zone_id: Option<ZoneId>,
    /// The sensor that saw the device last.
    pub sensor_id: SensorId,
    /// An IPv4 or IPv6 address.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::IpAddress))]
    pub ip: IpAddr,
    pub mac: MacAddress,
    pub name: Option<DisplayName>,
    #[serde(rename = "type")]
    pub device_type: Option<DisplayName>,
    pub vendor: Option<DisplayName>,
    /// Set by people, never by sensors.
    pub authorized: bool,
    pub endpoint_managed: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_activity: OffsetDateTime,
}

/// How long a device may stay inactive before retention removes it from the inventory
/// (its next observation makes it anew).
pub const DEVICE_RETENTION: time::Duration = time::Duration::days(90);

impl Device {
    /// No activity for more than 30 days (seed 004's rule, [`super::INACTIVITY_LIMIT`]):
    /// not counted for plans, filtered as inactive, shown as such.
    pub fn is_inactive(&self, now: OffsetDateTime) -> bool {
        now - self.last_activity > super::INACTIVITY_LIMIT
    }

    /// Inactive for longer than [`DEVICE_RETENTION`]: retention removes it.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        now - self.last_activity > DEVICE_RETENTION
    }

    /// The identity an observation from a sensor at `location` merges under.
    pub fn identity_of(observed: &ObservedDevice, location: &SensorLocation) -> DeviceIdentity {
        DeviceIdentity {
            site_id: location.site_id.clone(),
            zone_id: location.zone_id.clone(),
            ip: observed.ip,
            mac: observed.mac,
        }
    }

    /// A new inventory record. A sensor's clock may run ahead, so activity is never
    /// later than `now`.
    pub fn first_observed(
        id: DeviceId,
        location: SensorLocation,
        observed: &ObservedDevice,
        now: OffsetDateTime,
    ) -> Device {
        let last_activity = observed.last_activity.min(now);
        Device {
            id,
            site_id: location.site_id,
            zone_id: location.zone_id,
            sensor_id: location.sensor_id,
            ip: observed.ip,
            mac: observed.mac,
            name: observed.name.clone(),
            device_type: observed.device_type.clone(),
            vendor: observed.vendor.clone(),
            authorized: false,
            endpoint_managed: observed.endpoint_managed,
            first_seen: last_activity,
            last_activity,
        }
    }

    /// Merges a later observation of the same device: known attributes are
    /// refreshed, unknown ones kept, activity only moves forward, and `authorized`
    /// stays as people set it.
    pub fn merge(&mut self, sensor_id: &SensorId, observed: &ObservedDevice, now: OffsetDateTime) {
        self.sensor_id = sensor_id.clone();
        if observed.name.is_some() {
            self.name = observed.name.clone();
        }
        if observed.device_type.is_some() {
            self.device_type = observed.device_type.clone();
        }
        if observed.vendor.is_some() {
            self.vendor = observed.vendor.clone();
        }
        self.endpoint_managed = observed.endpoint_managed;
        self.last_activity = self.last_activity.max(observed.last_activity.min(now));
    }

    pub fn identity(&self) -> DeviceIdentity {
        DeviceIdentity {
            site_id: self.site_id.clone(),
            zone_id: self.zone_id.clone(),
            ip: self.ip,
            mac: self.mac,
        }
    }

    /// What the committed-device estimate needs of this device.
    pub fn activity(&self) -> DeviceActivity {
        DeviceActivity {
            ip: self.ip,
            last_activity: self.last_activity,
            endpoint_managed: self.endpoint_managed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2024-03-01 12:00 UTC);

    fn location(sensor: &str) -> SensorLocation {
        SensorLocation {
            sensor_id: SensorId::parse(sensor).unwrap(),
            site_id: SiteId::parse("plant-1").unwrap(),
            zone_id: Some(ZoneId::parse("zone-a").unwrap()),
        }
    }

    fn observed(json: serde_json::Value) -> ObservedDevice {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn mac_addresses_normalize_to_lower_case_colons() {
        let mac = MacAddress::parse("00-1B-44-11-3A-B7").unwrap();
        assert_eq!(mac.to_string(), "00:1b:44:11:3a:b7");
        assert_eq!(MacAddress::parse("00:1b:44:11:3a:b7"), Ok(mac));
        for refused in [
            "",
            "00:1b:44:11:3a",
            "00:1b:44:11:3a:b7:00",
            "00:1b-44:11:3a:b7",
            "001b.4411.3ab7",
            "0:1b:44:11:3a:b7",
            "00:1b:44:11:3a:g7",
            "+0:1b:44:11:3a:b7",
        ] {
            assert_eq!(
                MacAddress::parse(refused),
                Err(InvalidMacAddress),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn a_later_observation_merges_into_the_same_record() {
        // GIVEN a device first seen by sensor-1 and marked authorized by a person
        let first = observed(serde_json::json!({
            "ip": "10.0.0.7", "mac": "00:1b:44:11:3a:b7", "name": "plc-7", "type": "PLC",
            "vendor": null, "last_activity": "2024-03-01T11:00:00Z"
        }));
        let mut device = Device::first_observed(
            DeviceId::parse("d1").unwrap(),
            location("sensor-1"),
            &first,
            NOW,
        );
        device.authorized = true;
        // WHEN sensor-2 sees the same addresses with a vendor and without a name
        let again = observed(serde_json::json!({
            "ip": "10.0.0.7", "mac": "00-1B-44-11-3A-B7", "vendor": "Siemens",
            "last_activity": "2024-03-01T11:30:00Z"
        }));
        assert_eq!(
            Device::identity_of(&again, &location("sensor-2")),
            device.identity()
        );
        device.merge(&SensorId::parse("sensor-2").unwrap(), &again, NOW);
        // THEN the record keeps its name, gains the vendor and stays authorized
        assert_eq!(device.name.as_ref().map(DisplayName::as_str), Some("plc-7"));
        assert_eq!(
            device.vendor.as_ref().map(DisplayName::as_str),
            Some("Siemens")
        );
        assert!(device.authorized);
        assert_eq!(device.first_seen, NOW - Duration::hours(1));
        assert_eq!(device.last_activity, NOW - Duration::minutes(30));
        assert_eq!(device.sensor_id.as_str(), "sensor-2");
    }

    #[test]
    fn blank_attributes_from_sensors_mean_unknown() {
        let device = observed(serde_json::json!({
            "ip": "10.0.0.7", "mac": "00:1b:44:11:3a:b7", "name": "", "type": "  ",
            "vendor": null, "last_activity": "2024-03-01T11:00:00Z"
        }));
        assert_eq!(
            (device.name, device.device_type, device.vendor),
            (None, None, None)
        );
        let too_long = serde_json::json!({
            "ip": "10.0.0.7", "mac": "00:1b:44:11:3a:b7", "name": "x".repeat(101),
            "last_activity": "2024-03-01T11:00:00Z"
        });
        assert!(serde_json::from_value::<ObservedDevice>(too_long).is_err());
    }

    #[test]
    fn activity_never_moves_backwards_nor_past_now() {
        let future = observed(serde_json::json!({
            "ip": "10.0.0.7", "mac": "00:1b:44:11:3a:b7", "last_activity": "2030-01-01T00:00:00Z"
        }));
        let mut device =
            Device::first_observed(DeviceId::parse("d1").unwrap(), location("s"), &future, NOW);
        assert_eq!(device.last_activity, NOW);
        let older = ObservedDevice {
            last_activity: NOW - Duration::days(2),
            ..future
        };
        device.merge(&SensorId::parse("s").unwrap(), &older, NOW);
        assert_eq!(device.last_activity, NOW);
    }

    #[test]
    fn identity_keys_differ_by_zone_and_addresses() {
        let device = observed(serde_json::json!({
            "ip": "10.0.0.7", "mac": "00:1b:44:11:3a:b7", "last_activity": "2024-03-01T11:00:00Z"
        }));
        let in_zone = Device::identity_of(&device, &location("s"));
        let no_zone = DeviceIdentity {
            zone_id: None,
            ..in_zone.clone()
        };
        assert_eq!(in_zone.key(), "plant-1/zone-a/10.0.0.7/00:1b:44:11:3a:b7");
        assert_ne!(in_zone.key(), no_zone.key());
    }
}
