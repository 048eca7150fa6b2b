//! Sensors: their types, where they are placed, their software versions and how
//! their health is derived.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::model::{SensorId, SiteId, ZoneId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorType {
    OtCloudConnected,
    OtLocallyManaged,
    EnterpriseIot,
}

impl SensorType {
    pub const fn as_str(self) -> &'static str {
        match self {
            SensorType::OtCloudConnected => "ot_cloud_connected",
            SensorType::OtLocallyManaged => "ot_locally_managed",
            SensorType::EnterpriseIot => "enterprise_iot",
        }
    }

    pub const fn is_ot(self) -> bool {
        match self {
            SensorType::OtCloudConnected | SensorType::OtLocallyManaged => true,
            SensorType::EnterpriseIot => false,
        }
    }

    /// Where a sensor of this type goes. OT sensors are placed at a site their
    /// onboarder picks; Enterprise IoT sensors all land in the subscription's
    /// "Enterprise network" site and take no site of their own.
    pub fn place(self, site_id: Option<SiteId>) -> Result<SitePlacement, SitePlacementError> {
        match (self.is_ot(), site_id) {
            (true, Some(site)) => Ok(SitePlacement::Site(site)),
            (true, None) => Err(SitePlacementError::SiteRequired),
            (false, None) => Ok(SitePlacement::EnterpriseNetwork),
            (false, Some(_)) => Err(SitePlacementError::SiteNotAllowed),
        }
    }
}

impl fmt::Display for SensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The site a new sensor belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SitePlacement {
    Site(SiteId),
    /// The site named [`crate::model::ENTERPRISE_NETWORK_SITE_NAME`], created on
    /// first use.
    EnterpriseNetwork,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SitePlacementError {
    #[error("site_id is required for OT sensors")]
    SiteRequired,
    #[error("site_id must be omitted for Enterprise IoT sensors")]
    SiteNotAllowed,
}

/// Where a sensor is, copied onto the alerts and devices it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorLocation {
    pub sensor_id: SensorId,
    pub site_id: SiteId,
    pub zone_id: Option<ZoneId>,
}

/// The oldest supported software version: 22.1, where the cloud-connected
/// activation of current sensors begins (seed 002).
pub const MINIMUM_SUPPORTED_VERSION: [u32; VERSION_PARTS] = [22, 1, 0, 0];
const VERSION_PARTS: usize = 4;

/// A sensor's software version, `major[.minor[.patch[.build]]]`, compared
/// numerically (`22.10` is after `22.9`). Missing parts count as zero, so `22.1` and
/// `22.1.0` are the same version; the text is kept as the sensor sent it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SoftwareVersion {
    text: String,
    parts: [u32; VERSION_PARTS],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a version like 22.1.7 (one to four numbers separated by dots)")]
pub struct InvalidVersion;

impl SoftwareVersion {
    pub fn parse(raw: &str) -> Result<Self, InvalidVersion> {
        let mut parts = [0; VERSION_PARTS];
        for (index, part) in raw.split('.').enumerate() {
            let slot = parts.get_mut(index).ok_or(InvalidVersion)?;
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(InvalidVersion);
            }
            *slot = part.parse().map_err(|_| InvalidVersion)?;
        }
        Ok(SoftwareVersion {
            text: raw.to_owned(),
            parts,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_supported(&self) -> bool {
        self.parts >= MINIMUM_SUPPORTED_VERSION
    }
}

impl PartialEq for SoftwareVersion {
    fn eq(&self, other: &Self) -> bool {
        self.parts == other.parts
    }
}

impl Eq for SoftwareVersion {}

impl PartialOrd for SoftwareVersion {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SoftwareVersion {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.parts.cmp(&other.parts)
    }
}

impl TryFrom<String> for SoftwareVersion {
    type Error = InvalidVersion;
    fn try_from(raw: String) -> Result<Self, InvalidVersion> {
        SoftwareVersion::parse(&raw)
    }
}

impl From<SoftwareVersion> for String {
    fn from(version: SoftwareVersion) -> String {
        version.text
    }
}

impl fmt::Display for SoftwareVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The health shown in the sensor grid, worst first when several apply:
/// disconnected, unsupported, unhealthy, healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorHealth {
    Healthy,
    Unhealthy,
    Unsupported,
    Disconnected,
}

impl SensorHealth {
    pub const fn as_str(self) -> &'static str {
        match self {
            SensorHealth::Healthy => "healthy",
            SensorHealth::Unhealthy => "unhealthy",
            SensorHealth::Unsupported => "unsupported",
            SensorHealth::Disconnected => "disconnected",
        }
    }
}

/// A sensor without a heartbeat for longer than this is disconnected. Sensors send
/// one every minute, so five missed beats rule out a passing network blip.
pub const DISCONNECTED_AFTER: Duration = Duration::minutes(5);

/// A problem a sensor reports about itself in a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorIssue {
    UnstableCloudConnection,
    SanityTestsFailing,
    NoTrafficDetected,
    RemoteUpgradeFailed,
}

/// One reason behind a sensor's health, with what to tell its administrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthFinding {
    NeverConnected,
    Disconnected,
    UnsupportedVersion,
    UnstableCloudConnection,
    SanityTestsFailing,
    NoTrafficDetected,
    RemoteUpgradeFailed,
    /// The sensor said it is unhealthy without naming a known issue.
    ReportedUnhealthy,
}

impl HealthFinding {
    pub const fn message(self) -> &'static str {
        match self {
            HealthFinding::NeverConnected => "The sensor has not connected since it was onboarded.",
            HealthFinding::Disconnected => "No heartbeat has arrived from the sensor recently.",
            HealthFinding::UnsupportedVersion => {
                "The sensor runs a software version that is no longer supported."
            }
            HealthFinding::UnstableCloudConnection => {
                "The sensor's connection to the cloud is not stable."
            }
            HealthFinding::SanityTestsFailing => "The sensor fails its regular self-checks.",
            HealthFinding::NoTrafficDetected => "The sensor sees no network traffic.",
            HealthFinding::RemoteUpgradeFailed => "A remote software update of the sensor failed.",
            HealthFinding::ReportedUnhealthy => "The sensor reports that it is unhealthy.",
        }
    }

    pub const fn recommended_action(self) -> &'static str {
        match self {
            HealthFinding::NeverConnected => {
                "Upload the activation file to the sensor and check that it can reach the API over HTTPS."
            }
            HealthFinding::Disconnected => {
                "Check the sensor is powered on and that its outbound HTTPS traffic to the API is allowed."
            }
            HealthFinding::UnsupportedVersion => {
                "Update the sensor to version 22.1 or later, then reactivate it if asked to."
            }
            HealthFinding::UnstableCloudConnection => {
                "Check the network path and firewall rules between the sensor and the API."
            }
            HealthFinding::SanityTestsFailing => {
                "Review the sensor's system health on its console and contact support if checks keep failing."
            }
            HealthFinding::NoTrafficDetected => {
                "Check the SPAN port or network tap feeding the sensor's monitoring interfaces."
            }
            HealthFinding::RemoteUpgradeFailed => {
                "Retry the update, or download the update package and install it on the sensor by hand."
            }
            HealthFinding::ReportedUnhealthy => {
                "Open the sensor's console to see which health check fails."
            }
        }
    }
}

impl From<SensorIssue> for HealthFinding {
    fn from(issue: SensorIssue) -> Self {
        match issue {
            SensorIssue::UnstableCloudConnection => HealthFinding::UnstableCloudConnection,
            SensorIssue::SanityTestsFailing => HealthFinding::SanityTestsFailing,
            SensorIssue::NoTrafficDetected => HealthFinding::NoTrafficDetected,
            SensorIssue::RemoteUpgradeFailed => HealthFinding::RemoteUpgradeFailed,
        }
    }
}

/// What the server knows of a sensor when it shows its health: all of it from the
/// latest heartbeat, if any.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthSignals<'a> {
    pub last_heartbeat: Option<OffsetDateTime>,
    pub version: Option<&'a SoftwareVersion>,
    pub reported: Option<SensorHealth>,
    pub issues: &'a [SensorIssue],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthAssessment {
    pub health: SensorHealth,
    /// Every reason found, most severe first; empty when healthy.
    pub findings: Vec<HealthFinding>,
}

/// Derives health at `now`: health ages, so it is derived when shown, never stored.
pub fn assess_health(signals: HealthSignals<'_>, now: OffsetDateTime) -> HealthAssessment {
    let mut findings = Vec::new();
    let disconnected = match signals.last_heartbeat {
        None => {
            findings.push(HealthFinding::NeverConnected);
            true
        }
        Some(at) if now - at > DISCONNECTED_AFTER => {
            findings.push(HealthFinding::Disconnected);
            true
        }
        Some(_) => false,
    };
    let unsupported = signals
        .version
        .is_some_and(|version| !version.is_supported());
    if unsupported {
        findings.push(HealthFinding::UnsupportedVersion);
    }
    let reported_unhealthy = !matches!(signals.reported, None | Some(SensorHealth::Healthy));
    findings.extend(signals.issues.iter().copied().map(HealthFinding::from));
    let has_issues = !signals.issues.is_empty();
    if reported_unhealthy && !has_issues {
        findings.push(HealthFinding::ReportedUnhealthy);
    }
    let health = if disconnected {
        SensorHealth::Disconnected
    } else if unsupported {
        SensorHealth::Unsupported
    } else if reported_unhealthy || has_issues {
        SensorHealth::Unhealthy
    } else {
        SensorHealth::Healthy
    };
    HealthAssessment { health, findings }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2024-03-01 12:00 UTC);

    fn version(raw: &str) -> SoftwareVersion {
        SoftwareVersion::parse(raw).unwrap()
    }

    #[test]
    fn ot_sensors_need_a_site_and_enterprise_iot_sensors_refuse_one() {
        let site = SiteId::parse("plant-1").unwrap();
        for ot in [SensorType::OtCloudConnected, SensorType::OtLocallyManaged] {
            assert_eq!(
                ot.place(Some(site.clone())),
                Ok(SitePlacement::Site(site.clone()))
            );
            assert_eq!(ot.place(None), Err(SitePlacementError::SiteRequired));
        }
        assert_eq!(
            SensorType::EnterpriseIot.place(None),
            Ok(SitePlacement::EnterpriseNetwork)
        );
        assert_eq!(
            SensorType::EnterpriseIot.place(Some(site)),
            Err(SitePlacementError::SiteNotAllowed)
        );
    }

    #[test]
    fn versions_compare_numerically_with_missing_parts_as_zero() {
        assert!(version("22.10") > version("22.9"));
        assert_eq!(version("22.1"), version("22.1.0.0"));
        assert!(version("23") > version("22.99.99"));
        assert!(version("22.1").is_supported());
        assert!(version("22.1.0.1").is_supported());
        assert!(!version("10.5.3").is_supported());
        assert!(!version("22.0.9").is_supported());
        for refused in [
            "",
            "22.",
            ".1",
            "22.1.a",
            "1.2.3.4.5",
            "v22",
            "22 .1",
            "99999999999",
        ] {
            assert_eq!(
                SoftwareVersion::parse(refused),
                Err(InvalidVersion),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn a_recent_heartbeat_from_a_supported_sensor_reporting_healthy_is_healthy() {
        let version = version("23.1.2");
        let assessment = assess_health(
            HealthSignals {
                last_heartbeat: Some(NOW - Duration::minutes(1)),
                version: Some(&version),
                reported: Some(SensorHealth::Healthy),
                issues: &[],
            },
            NOW,
        );
        assert_eq!(assessment.health, SensorHealth::Healthy);
        assert!(assessment.findings.is_empty());
    }

    #[test]
    fn a_sensor_is_disconnected_after_five_minutes_without_heartbeat() {
        let at_limit = HealthSignals {
            last_heartbeat: Some(NOW - DISCONNECTED_AFTER),
            ..HealthSignals::default()
        };
        assert_eq!(assess_health(at_limit, NOW).health, SensorHealth::Healthy);
        let past_limit = HealthSignals {
            last_heartbeat: Some(NOW - DISCONNECTED_AFTER - Duration::seconds(1)),
            ..HealthSignals::default()
        };
        let assessment = assess_health(past_limit, NOW);
        assert_eq!(assessment.health, SensorHealth::Disconnected);
        assert_eq!(assessment.findings, [HealthFinding::Disconnected]);
        let never = assess_health(HealthSignals::default(), NOW);
        assert_eq!(never.health, SensorHealth::Disconnected);
        assert_eq!(never.findings, [HealthFinding::NeverConnected]);
    }

    #[test]
    fn an_old_version_is_unsupported_even_when_the_sensor_feels_fine() {
        let version = version("10.0.3");
        let assessment = assess_health(
            HealthSignals {
                last_heartbeat: Some(NOW),
                version: Some(&version),
                reported: Some(SensorHealth::Healthy),
                issues: &[SensorIssue::NoTrafficDetected],
            },
            NOW,
        );
        assert_eq!(assessment.health, SensorHealth::Unsupported);
        assert_eq!(
            assessment.findings,
            [
                HealthFinding::UnsupportedVersion,
                HealthFinding::NoTrafficDetected
            ]
        );
    }

    #[test]
    fn reported_issues_make_a_connected_sensor_unhealthy_with_their_advice() {
        let assessment = assess_health(
            HealthSignals {
                last_heartbeat: Some(NOW),
                version: None,
                reported: Some(SensorHealth::Healthy),
                issues: &[SensorIssue::UnstableCloudConnection],
            },
            NOW,
        );
        assert_eq!(assessment.health, SensorHealth::Unhealthy);
        assert_eq!(
            assessment.findings,
            [HealthFinding::UnstableCloudConnection]
        );
        let bare_report = assess_health(
            HealthSignals {
                last_heartbeat: Some(NOW),
                reported: Some(SensorHealth::Unhealthy),
                ..HealthSignals::default()
            },
            NOW,
        );
        assert_eq!(bare_report.health, SensorHealth::Unhealthy);
        assert_eq!(bare_report.findings, [HealthFinding::ReportedUnhealthy]);
        assert!(
            !HealthFinding::ReportedUnhealthy
                .recommended_action()
                .is_empty()
        );
    }
}
