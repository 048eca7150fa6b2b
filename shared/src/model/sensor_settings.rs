//! Sensor settings defined centrally (seed 002, "Sensor settings"): a small typed set —
//! a bandwidth cap, the monitored subnets and the names of VLANs — that cloud-connected
//! OT sensors take through their heartbeats.
//!
//! The lifecycle of one revision, per sensor:
//! 1. pending: saved by a user; every heartbeat's `pending` carries it (the action is
//!    idempotent by revision, so a lost answer is simply sent again);
//! 2. settled when a heartbeat reports on that revision: applied, or failed with the
//!    sensor's reason. A report on an older revision changes nothing.
//!
//! Locally managed sensors are configured on the sensor itself, and Enterprise IoT
//! sensors have none of these settings.

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::model::{DisplayName, PendingAction, SensorType, single_line_text};

pub const MIN_BANDWIDTH_CAP_KBPS: u32 = 64;
pub const MAX_BANDWIDTH_CAP_KBPS: u32 = 10_000_000;
pub const MAX_SUBNETS: usize = 100;
pub const MAX_VLAN_NAMES: usize = 100;
pub const MAX_SETTINGS_ERROR_CHARS: usize = 200;

/// The most a sensor may send to the cloud, in Kbps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct BandwidthCap(u32);

named_schema!(BandwidthCap, {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Integer)
        .minimum(Some(MIN_BANDWIDTH_CAP_KBPS))
        .maximum(Some(MAX_BANDWIDTH_CAP_KBPS))
        .description(Some("Kbps"))
        .into()
});

impl BandwidthCap {
    pub fn kbps(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for BandwidthCap {
    type Error = String;
    fn try_from(kbps: u32) -> Result<Self, String> {
        if (MIN_BANDWIDTH_CAP_KBPS..=MAX_BANDWIDTH_CAP_KBPS).contains(&kbps) {
            Ok(BandwidthCap(kbps))
        } else {
            Err(format!(
                "must be {MIN_BANDWIDTH_CAP_KBPS} to {MAX_BANDWIDTH_CAP_KBPS} Kbps"
            ))
        }
    }
}

impl From<BandwidthCap> for u32 {
    fn from(cap: BandwidthCap) -> u32 {
        cap.0
    }
}

/// An IPv4 subnet in CIDR notation (`10.1.0.0/16`). Host bits are cleared, so
/// `10.1.2.3/16` is `10.1.0.0/16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subnet {
    network: Ipv4Addr,
    prefix: u8,
}

pattern_schema!(
    Subnet,
    format!(
        "^{}/(?:3[0-2]|[12][0-9]|[0-9])$",
        crate::schema::ipv4_regex()
    ),
    Some("IPv4 CIDR; host bits are cleared")
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be an IPv4 subnet like 10.1.0.0/16")]
pub struct InvalidSubnet;

impl Subnet {
    pub fn parse(raw: &str) -> Result<Self, InvalidSubnet> {
        let (address, prefix) = raw.split_once('/').ok_or(InvalidSubnet)?;
        let network: Ipv4Addr = address.parse().map_err(|_| InvalidSubnet)?;
        // Digits only, without a leading zero: what the document's pattern says.
        let canonical = !prefix.is_empty()
            && prefix.bytes().all(|b| b.is_ascii_digit())
            && (prefix == "0" || !prefix.starts_with('0'));
        let prefix: u8 = match prefix.parse() {
            Ok(bits) if canonical && bits <= 32 => bits,
            _ => return Err(InvalidSubnet),
        };
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        Ok(Subnet {
            network: Ipv4Addr::from(u32::from(network) & mask),
            prefix,
        })
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl TryFrom<String> for Subnet {
    type Error = InvalidSubnet;
    fn try_from(raw: String) -> Result<Self, InvalidSubnet> {
        Subnet::parse(&raw)
    }
}

impl From<Subnet> for String {
    fn from(subnet: Subnet) -> String {
        subnet.to_string()
    }
}

/// A VLAN id, 1 to 4094 (0 and 4095 are reserved by 802.1Q).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct VlanId(u16);

named_schema!(VlanId, {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Integer)
        .minimum(Some(1))
        .maximum(Some(4094))
        .into()
});

impl VlanId {
    pub fn get(self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for VlanId {
    type Error = String;
    fn try_from(id: u16) -> Result<Self, String> {
        if (1..=4094).contains(&id) {
            Ok(VlanId(id))
        } else {
            Err("must be a VLAN id from 1 to 4094".into())
        }
    }
}

impl From<VlanId> for u16 {
    fn from(id: VlanId) -> u16 {
        id.0
    }
}

/// The name a sensor shows for one VLAN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VlanName {
    // Inline: the list that holds these (`VlanNames`) registers no component schemas.
    #[cfg_attr(feature = "openapi", schema(inline, example = 10))]
    pub id: VlanId,
    #[cfg_attr(feature = "openapi", schema(inline, example = "PLC network"))]
    pub name: DisplayName,
}

/// The monitored subnets: at most [`MAX_SUBNETS`], kept in order with a repeated one
/// counted once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Subnet>", into = "Vec<Subnet>")]
pub struct Subnets(Vec<Subnet>);

named_schema!(Subnets, {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(<Subnet as utoipa::PartialSchema>::schema())
        .max_items(Some(MAX_SUBNETS))
        .description(Some("A repeated subnet counts once."))
        .into()
});

impl Subnets {
    pub fn as_slice(&self) -> &[Subnet] {
        &self.0
    }
}

impl TryFrom<Vec<Subnet>> for Subnets {
    type Error = String;
    fn try_from(listed: Vec<Subnet>) -> Result<Self, String> {
        if listed.len() > MAX_SUBNETS {
            return Err(format!("must list at most {MAX_SUBNETS} subnets"));
        }
        let mut subnets: Vec<Subnet> = Vec::with_capacity(listed.len());
        for subnet in listed {
            if !subnets.contains(&subnet) {
                subnets.push(subnet);
            }
        }
        Ok(Subnets(subnets))
    }
}

impl From<Subnets> for Vec<Subnet> {
    fn from(subnets: Subnets) -> Vec<Subnet> {
        subnets.0
    }
}

/// VLAN names: at most [`MAX_VLAN_NAMES`], sorted by id; when an id is listed twice the
/// later name wins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<VlanName>", into = "Vec<VlanName>")]
pub struct VlanNames(Vec<VlanName>);

named_schema!(VlanNames, {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(<VlanName as utoipa::PartialSchema>::schema())
        .max_items(Some(MAX_VLAN_NAMES))
        .description(Some("By id; for an id listed twice the later name wins."))
        .into()
});

impl VlanNames {
    pub fn as_slice(&self) -> &[VlanName] {
        &self.0
    }
}

impl TryFrom<Vec<VlanName>> for VlanNames {
    type Error = String;
    fn try_from(mut listed: Vec<VlanName>) -> Result<Self, String> {
        if listed.len() > MAX_VLAN_NAMES {
            return Err(format!("must list at most {MAX_VLAN_NAMES} VLAN names"));
        }
        // A stable sort keeps the listed order among equal ids: the last one is kept.
        listed.sort_by_key(|vlan| vlan.id);
        let mut names: Vec<VlanName> = Vec::with_capacity(listed.len());
        for vlan in listed {
            match names.last_mut() {
                Some(last) if last.id == vlan.id => *last = vlan,
                _ => names.push(vlan),
            }
        }
        Ok(VlanNames(names))
    }
}

impl From<VlanNames> for Vec<VlanName> {
    fn from(names: VlanNames) -> Vec<VlanName> {
        names.0
    }
}

/// `PUT /subscriptions/{sub}/sensors/{id}/settings`, and what the sensor receives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SensorSettings {
    /// `null`: no cap.
    #[serde(default)]
    pub bandwidth_cap_kbps: Option<BandwidthCap>,
    #[serde(default)]
    pub subnets: Subnets,
    #[serde(default)]
    pub vlan_names: VlanNames,
}

single_line_text!(
    /// Why a sensor could not apply its settings, in its own words.
    SettingsError,
    MAX_SETTINGS_ERROR_CHARS
);

/// What a heartbeat says about the settings revision it was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SettingsReport {
    // Every u32, not int32's half of them. (A report on 0, or on any revision not
    // sent, settles nothing.)
    #[cfg_attr(
        feature = "openapi",
        schema(format = Int64, minimum = 0, maximum = 4_294_967_295_u32)
    )]
    pub revision: u32,
    /// `null`: applied.
    #[serde(default)]
    pub error: Option<SettingsError>,
}

/// Where one sensor's settings stand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SettingsStatus {
    /// Sent in every heartbeat until the sensor reports on this revision.
    Pending,
    Applied {
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    Failed {
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        error: SettingsError,
    },
}

/// The settings a user gave one sensor, their revision and where they stand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SettingsDelivery {
    /// 1 for the first settings, one more for each change.
    pub revision: u32,
    pub settings: SensorSettings,
    pub status: SettingsStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("settings are defined here for cloud-connected OT sensors only")]
pub struct NotCloudConnected;

impl SettingsDelivery {
    /// New settings for a sensor of `sensor_type` whose current ones are `previous`:
    /// a new revision, pending, even when nothing changed (so a failed revision can be
    /// sent again).
    pub fn request(
        sensor_type: SensorType,
        previous: Option<&SettingsDelivery>,
        settings: SensorSettings,
    ) -> Result<Self, NotCloudConnected> {
        if sensor_type != SensorType::OtCloudConnected {
            return Err(NotCloudConnected);
        }
        Ok(SettingsDelivery {
            revision: previous.map_or(1, |p| p.revision.saturating_add(1)),
            settings,
            status: SettingsStatus::Pending,
        })
    }

    /// Applies a heartbeat's report at `at`, and returns the action to send: the
    /// settings, while they are pending.
    pub fn on_heartbeat(
        &mut self,
        report: Option<&SettingsReport>,
        at: OffsetDateTime,
    ) -> Option<PendingAction> {
        if let Some(report) = report.filter(|r| r.revision == self.revision)
            && self.status == SettingsStatus::Pending
        {
            self.status = match &report.error {
                None => SettingsStatus::Applied { at },
                Some(error) => SettingsStatus::Failed {
                    at,
                    error: error.clone(),
                },
            };
        }
        (self.status == SettingsStatus::Pending).then(|| PendingAction::ApplySettings {
            revision: self.revision,
            settings: self.settings.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const AT: OffsetDateTime = datetime!(2024-03-01 12:00 UTC);

    fn settings(cap: u32) -> SensorSettings {
        SensorSettings {
            bandwidth_cap_kbps: Some(BandwidthCap::try_from(cap).unwrap()),
            ..Default::default()
        }
    }

    #[test]
    fn subnets_are_ipv4_cidrs_with_host_bits_cleared() {
        assert_eq!(
            Subnet::parse("10.1.2.3/16").unwrap().to_string(),
            "10.1.0.0/16"
        );
        assert_eq!(Subnet::parse("0.0.0.0/0").unwrap().to_string(), "0.0.0.0/0");
        assert_eq!(
            Subnet::parse("192.168.7.9/32").unwrap().to_string(),
            "192.168.7.9/32"
        );
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0.0/08",
            "10.0.0.0/+8",
            "10.0.0.0/",
            "::1/64",
            "10.0.0/8",
            "010.0.0.0/8",
        ] {
            assert_eq!(Subnet::parse(bad), Err(InvalidSubnet), "{bad}");
        }
    }

    #[test]
    fn lists_are_bounded_and_repeats_collapse() {
        let subnet = Subnet::parse("10.0.0.0/8").unwrap();
        let subnets = Subnets::try_from(vec![subnet, subnet]).unwrap();
        assert_eq!(subnets.as_slice(), [subnet]);
        assert!(Subnets::try_from(vec![subnet; MAX_SUBNETS + 1]).is_err());
        let vlan = |id: u16, name: &str| VlanName {
            id: VlanId::try_from(id).unwrap(),
            name: DisplayName::parse(name).unwrap(),
        };
        let names = VlanNames::try_from(vec![vlan(20, "b"), vlan(10, "a"), vlan(20, "c")]).unwrap();
        let listed: Vec<(u16, &str)> = names
            .as_slice()
            .iter()
            .map(|v| (v.id.get(), v.name.as_str()))
            .collect();
        assert_eq!(listed, [(10, "a"), (20, "c")]);
        assert!(VlanId::try_from(0).is_err() && VlanId::try_from(4095).is_err());
        assert!(BandwidthCap::try_from(MIN_BANDWIDTH_CAP_KBPS - 1).is_err());
    }

    #[test]
    fn only_cloud_connected_sensors_take_settings_and_each_request_is_a_new_revision() {
        for other in [SensorType::OtLocallyManaged, SensorType::EnterpriseIot] {
            assert_eq!(
                SettingsDelivery::request(other, None, settings(100)),
                Err(NotCloudConnected)
            );
        }
        let first =
            SettingsDelivery::request(SensorType::OtCloudConnected, None, settings(100)).unwrap();
        assert_eq!(first.revision, 1);
        let second =
            SettingsDelivery::request(SensorType::OtCloudConnected, Some(&first), settings(100))
                .unwrap();
        assert_eq!(
            (second.revision, second.status),
            (2, SettingsStatus::Pending)
        );
    }

    #[test]
    fn pending_settings_go_out_until_the_sensor_reports_on_their_revision() {
        let mut delivery =
            SettingsDelivery::request(SensorType::OtCloudConnected, None, settings(100)).unwrap();
        let sent = PendingAction::ApplySettings {
            revision: 1,
            settings: settings(100),
        };
        assert_eq!(delivery.on_heartbeat(None, AT), Some(sent.clone()));
        // A report on another revision settles nothing.
        let stale = SettingsReport {
            revision: 7,
            error: None,
        };
        assert_eq!(delivery.on_heartbeat(Some(&stale), AT), Some(sent));
        let failed = SettingsReport {
            revision: 1,
            error: Some(SettingsError::parse("VLAN 10 unknown").unwrap()),
        };
        assert_eq!(delivery.on_heartbeat(Some(&failed), AT), None);
        assert!(matches!(delivery.status, SettingsStatus::Failed { .. }));
        // A settled revision stays settled, whatever later heartbeats repeat.
        let applied = SettingsReport {
            revision: 1,
            error: None,
        };
        assert_eq!(delivery.on_heartbeat(Some(&applied), AT), None);
        assert!(matches!(delivery.status, SettingsStatus::Failed { .. }));
        let mut next =
            SettingsDelivery::request(SensorType::OtCloudConnected, Some(&delivery), settings(200))
                .unwrap();
        let applied = SettingsReport {
            revision: 2,
            error: None,
        };
        assert_eq!(next.on_heartbeat(Some(&applied), AT), None);
        assert_eq!(next.status, SettingsStatus::Applied { at: AT });
    }
}
