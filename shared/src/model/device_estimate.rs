//! The committed-device estimate of seed 004: which inventory devices a plan must
//! cover, rounded up to the block size plans are sold in.
//!
//! Excluded, each device under the first reason that applies, in this order:
//! multicast groups, broadcast addresses, public-internet addresses, devices inactive
//! for more than 30 days, endpoints managed by an endpoint-protection agent.
//!
//! Only the limited broadcast address (`255.255.255.255`) is recognised as broadcast:
//! a subnet's broadcast address depends on its prefix length, which device records do
//! not carry.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::model::COMMITTED_DEVICES_STEP;

/// A device with no activity for longer than this is not committed.
pub const INACTIVITY_LIMIT: Duration = Duration::days(30);

/// What the estimate needs to know of an inventory device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceActivity {
    pub ip: IpAddr,
    pub last_activity: OffsetDateTime,
    pub endpoint_managed: bool,
}

/// Where an address sends traffic, as far as committed devices care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// A private, shared (CGNAT), link-local or loopback address: a device of the
    /// monitored network.
    Local,
    PublicInternet,
    Multicast,
    Broadcast,
}

/// Classifies with std's address methods. IPv4-mapped IPv6 addresses are classified
/// as the IPv4 address they carry.
pub fn classify_address(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(ip) => classify_ipv4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(mapped) => classify_ipv4(mapped),
            None => classify_ipv6(ip),
        },
    }
}

fn classify_ipv4(ip: Ipv4Addr) -> AddressClass {
    // 100.64.0.0/10, shared address space (RFC 6598); std's check is not stable yet.
    let is_shared = ip.octets()[0] == 100 && ip.octets()[1] & 0b1100_0000 == 0b0100_0000;
    if ip.is_multicast() {
        AddressClass::Multicast
    } else if ip.is_broadcast() {
        AddressClass::Broadcast
    } else if ip.is_private() || is_shared || ip.is_link_local() || ip.is_loopback() {
        AddressClass::Local
    } else {
        AddressClass::PublicInternet
    }
}

fn classify_ipv6(ip: Ipv6Addr) -> AddressClass {
    if ip.is_multicast() {
        AddressClass::Multicast
    } else if ip.is_unique_local() || ip.is_unicast_link_local() || ip.is_loopback() {
        AddressClass::Local
    } else {
        AddressClass::PublicInternet
    }
}

/// Why a device is not a committed device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exclusion {
    Multicast,
    Broadcast,
    PublicInternet,
    Inactive,
    EndpointManaged,
}

impl DeviceActivity {
    /// The first reason the device is not committed, or `None` if it counts.
    pub fn exclusion(&self, now: OffsetDateTime) -> Option<Exclusion> {
        match classify_address(self.ip) {
            AddressClass::Multicast => Some(Exclusion::Multicast),
            AddressClass::Broadcast => Some(Exclusion::Broadcast),
            AddressClass::PublicInternet => Some(Exclusion::PublicInternet),
            AddressClass::Local if now - self.last_activity > INACTIVITY_LIMIT => {
                Some(Exclusion::Inactive)
            }
            AddressClass::Local if self.endpoint_managed => Some(Exclusion::EndpointManaged),
            AddressClass::Local => None,
        }
    }
}

/// The body of `GET /subscriptions/{sub}/plans/committed-devices`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommittedDevicesEstimate {
    /// `counted_devices` rounded up to a multiple of 100: the number to commit to.
    pub committed_devices: u64,
    pub counted_devices: u64,
    pub excluded: ExcludedDevices,
}

/// How many devices each rule excluded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExcludedDevices {
    pub multicast: u64,
    pub broadcast: u64,
    pub public_internet: u64,
    pub inactive: u64,
    pub endpoint_managed: u64,
}

/// Rounds up to the block size plans are sold in (`1679` → `1700`, `0` → `0`).
pub fn round_up_to_committed_step(devices: u64) -> u64 {
    devices.div_ceil(u64::from(COMMITTED_DEVICES_STEP)) * u64::from(COMMITTED_DEVICES_STEP)
}

pub fn estimate_committed_devices(
    devices: impl IntoIterator<Item = DeviceActivity>,
    now: OffsetDateTime,
) -> CommittedDevicesEstimate {
    let mut estimate = CommittedDevicesEstimate::default();
    for device in devices {
        let excluded = &mut estimate.excluded;
        match device.exclusion(now) {
            None => estimate.counted_devices += 1,
            Some(Exclusion::Multicast) => excluded.multicast += 1,
            Some(Exclusion::Broadcast) => excluded.broadcast += 1,
            Some(Exclusion::PublicInternet) => excluded.public_internet += 1,
            Some(Exclusion::Inactive) => excluded.inactive += 1,
            Some(Exclusion::EndpointManaged) => excluded.endpoint_managed += 1,
        }
    }
    estimate.committed_devices = round_up_to_committed_step(estimate.counted_devices);
    estimate
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2024-03-01 12:00 UTC);

    fn device(ip: &str) -> DeviceActivity {
        DeviceActivity {
            ip: ip.parse().unwrap(),
            last_activity: NOW - Duration::hours(1),
            endpoint_managed: false,
        }
    }

    #[test]
    fn seed_example_473_network_and_1206_iot_devices_estimate_1700() {
        // GIVEN 473 network devices and 1206 IoT devices, all local and active
        let network = (0..473u32).map(|n| device(&format!("10.0.{}.{}", n / 250, n % 250 + 1)));
        let iot = (0..1206u32).map(|n| device(&format!("192.168.{}.{}", n / 250, n % 250 + 1)));
        // WHEN estimating
        let estimate = estimate_committed_devices(network.chain(iot), NOW);
        // THEN 1679 count and the commitment rounds up to 1700
        assert_eq!(estimate.counted_devices, 1679);
        assert_eq!(estimate.committed_devices, 1700);
    }

    #[test]
    fn each_exclusion_rule_removes_its_devices() {
        let inactive = DeviceActivity {
            last_activity: NOW - Duration::days(30) - Duration::seconds(1),
            ..device("10.1.1.1")
        };
        let active_30_days_ago = DeviceActivity {
            last_activity: NOW - Duration::days(30),
            ..device("10.1.1.2")
        };
        let managed = DeviceActivity {
            endpoint_managed: true,
            ..device("10.1.1.3")
        };
        let devices = [
            device("8.8.8.8"),
            device("2001:4860::8888"),
            device("224.0.0.251"),
            device("ff02::fb"),
            device("255.255.255.255"),
            inactive,
            managed,
            active_30_days_ago,
            device("100.64.3.4"),
            device("169.254.0.9"),
            device("fd00::1"),
            device("fe80::1"),
            device("::ffff:192.168.1.1"),
        ];
        let estimate = estimate_committed_devices(devices, NOW);
        assert_eq!(
            estimate.excluded,
            ExcludedDevices {
                multicast: 2,
                broadcast: 1,
                public_internet: 2,
                inactive: 1,
                endpoint_managed: 1,
            }
        );
        assert_eq!(estimate.counted_devices, 6);
        assert_eq!(estimate.committed_devices, 100);
    }

    #[test]
    fn rounding_keeps_exact_multiples_and_zero() {
        assert_eq!(round_up_to_committed_step(0), 0);
        assert_eq!(round_up_to_committed_step(1), 100);
        assert_eq!(round_up_to_committed_step(1700), 1700);
        assert_eq!(round_up_to_committed_step(1701), 1800);
    }
}
