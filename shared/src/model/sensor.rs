//! Sensors: their types, where they are placed, their software versions and how
//! their health is derived.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::model::{
    PendingAction, SensorId, SettingsDelivery, SettingsReport, SiteId, ThreatIntelligence,
    TiVersion, ZoneId,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

// Each number at most nine digits, so it always fits the `u32` it is read into.
pattern_schema!(
    SoftwareVersion,
    r"^[0-9]{1,9}(?:\.[0-9]{1,9}){0,3}$",
    Some("A sensor software version: one to four numbers separated by dots, e.g. 22.1.7.")
);

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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SensorIssue {
    UnstableCloudConnection,
    SanityTestsFailing,
    NoTrafficDetected,
    RemoteUpgradeFailed,
}

/// One reason behind a sensor's health, with what to tell its administrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// A published release of the sensor software.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftwareRelease {
    pub version: &'static str,
    /// The day it was published, `YYYY-MM-DD`.
    pub released_on: &'static str,
}

/// Every sensor software release that can be downloaded or pushed, oldest first.
pub const SOFTWARE_RELEASES: [SoftwareRelease; 6] = [
    SoftwareRelease {
        version: "22.1.7",
        released_on: "2022-07-31",
    },
    SoftwareRelease {
        version: "22.2.8",
        released_on: "2022-11-20",
    },
    SoftwareRelease {
        version: "22.3.10",
        released_on: "2023-03-05",
    },
    SoftwareRelease {
        version: "23.1.3",
        released_on: "2023-09-24",
    },
    SoftwareRelease {
        version: "23.2.0",
        released_on: "2024-01-14",
    },
    SoftwareRelease {
        version: "24.1.2",
        released_on: "2024-03-10",
    },
];

impl SoftwareRelease {
    pub fn version(&self) -> SoftwareVersion {
        SoftwareVersion::parse(self.version).expect("published versions are valid")
    }

    /// The release of `version`, if it was published.
    pub fn find(version: &SoftwareVersion) -> Option<&'static SoftwareRelease> {
        SOFTWARE_RELEASES
            .iter()
            .find(|release| release.version() == *version)
    }

    pub fn latest() -> &'static SoftwareRelease {
        &SOFTWARE_RELEASES[SOFTWARE_RELEASES.len() - 1]
    }
}

/// Why a sensor cannot be prepared for the update to 22.x (seed 002's "Prepare an OT
/// sensor to update to software version 22.x or higher").
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LegacyUpdateError {
    #[error("only OT sensors are prepared for the 22.x update")]
    NotOtSensor,
    #[error("the sensor has not reported its software version yet")]
    VersionUnknown,
    #[error("the sensor already runs 22.1 or later: update it from Sensor update")]
    NotLegacy,
}

/// A sensor may be prepared for the 22.x update when it is an OT sensor that reported a
/// legacy version (older than 22.1, which sensor updates cannot reach remotely).
pub fn legacy_update_allowed(
    sensor_type: SensorType,
    installed: Option<&SoftwareVersion>,
) -> Result<(), LegacyUpdateError> {
    if !sensor_type.is_ot() {
        return Err(LegacyUpdateError::NotOtSensor);
    }
    match installed {
        None => Err(LegacyUpdateError::VersionUnknown),
        Some(version) if version.is_supported() => Err(LegacyUpdateError::NotLegacy),
        Some(_) => Ok(()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "diagnostics are sent from here for locally managed OT sensors only; cloud-connected ones send theirs themselves"
)]
pub struct NotLocallyManaged;

/// Seed 002's "Send diagnostic files to support": individual, locally managed OT sensors.
pub fn diagnostics_upload_allowed(sensor_type: SensorType) -> Result<(), NotLocallyManaged> {
    match sensor_type {
        SensorType::OtLocallyManaged => Ok(()),
        SensorType::OtCloudConnected | SensorType::EnterpriseIot => Err(NotLocallyManaged),
    }
}

/// Where a remote software update of one sensor stands. It travels like a TI push
/// (see `threat_intelligence`): queued by a user, delivered in the next heartbeat's
/// `pending`, settled by the heartbeat after that — done when the sensor reports the
/// version, failed otherwise (which makes the sensor unhealthy until a later update).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SoftwareUpdate {
    #[default]
    Idle,
    Queued {
        version: SoftwareVersion,
    },
    Delivered {
        version: SoftwareVersion,
    },
    Failed {
        version: SoftwareVersion,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SoftwareUpdateError {
    #[error("remote software updates are for OT sensors only")]
    NotOtSensor,
    #[error("is not a published sensor software version")]
    NotPublished,
    #[error("the sensor already runs this version or a newer one")]
    NotNewer,
}

impl SoftwareUpdate {
    /// A user's request to update a sensor running `installed` to `target`: OT
    /// sensors only, to a published version newer than the installed one (a sensor
    /// that never reported its version may take any published one). It replaces
    /// any update not yet settled, and retries a failed one.
    pub fn request(
        sensor_type: SensorType,
        installed: Option<&SoftwareVersion>,
        target: &SoftwareVersion,
    ) -> Result<Self, SoftwareUpdateError> {
        if !sensor_type.is_ot() {
            return Err(SoftwareUpdateError::NotOtSensor);
        }
        if SoftwareRelease::find(target).is_none() {
            return Err(SoftwareUpdateError::NotPublished);
        }
        if installed.is_some_and(|installed| installed >= target) {
            return Err(SoftwareUpdateError::NotNewer);
        }
        Ok(SoftwareUpdate::Queued {
            version: target.clone(),
        })
    }

    /// Applies a heartbeat reporting `reported` and returns what the sensor must do.
    pub fn on_heartbeat(&mut self, reported: &SoftwareVersion) -> Option<PendingAction> {
        *self = match std::mem::take(self) {
            SoftwareUpdate::Queued { version } | SoftwareUpdate::Delivered { version }
                if *reported >= version =>
            {
                SoftwareUpdate::Idle
            }
            SoftwareUpdate::Queued { version } => {
                let action = PendingAction::SoftwareUpdate {
                    version: version.clone(),
                };
                *self = SoftwareUpdate::Delivered { version };
                return Some(action);
            }
            SoftwareUpdate::Delivered { version } => SoftwareUpdate::Failed { version },
            settled => settled,
        };
        None
    }

    /// The health issue this update causes: a failed update until a later one.
    pub fn issue(&self) -> Option<SensorIssue> {
        match self {
            SoftwareUpdate::Failed { .. } => Some(SensorIssue::RemoteUpgradeFailed),
            SoftwareUpdate::Idle
            | SoftwareUpdate::Queued { .. }
            | SoftwareUpdate::Delivered { .. } => None,
        }
    }
}

/// What a sensor told the server, and what the server wants it to do: the part of a
/// sensor that heartbeats and user actions change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SensorState {
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_heartbeat: Option<OffsetDateTime>,
    pub version: Option<SoftwareVersion>,
    pub reported_health: Option<SensorHealth>,
    #[serde(default)]
    pub issues: Vec<SensorIssue>,
    /// `None` for Enterprise IoT sensors, which take no TI packages.
    pub ti: Option<ThreatIntelligence>,
    #[serde(default)]
    pub software_update: SoftwareUpdate,
    /// The settings given from here (cloud-connected OT sensors), if any.
    #[serde(default)]
    pub settings: Option<SettingsDelivery>,
}

/// One heartbeat, as far as the sensor's state is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatReport<'a> {
    pub at: OffsetDateTime,
    pub version: &'a SoftwareVersion,
    pub ti_version: Option<&'a TiVersion>,
    pub health: SensorHealth,
    pub issues: &'a [SensorIssue],
    pub settings: Option<&'a SettingsReport>,
}

impl SensorState {
    /// A sensor that has not connected yet.
    pub fn new(sensor_type: SensorType) -> Self {
        SensorState {
            last_heartbeat: None,
            version: None,
            reported_health: None,
            issues: Vec::new(),
            ti: ThreatIntelligence::for_new_sensor(sensor_type),
            software_update: SoftwareUpdate::Idle,
            settings: None,
        }
    }

    /// Applies a heartbeat, given the latest published TI package, and returns the
    /// actions the sensor must take (the heartbeat's `pending`). A TI version sent by
    /// a sensor without TI (Enterprise IoT) is ignored.
    pub fn on_heartbeat(
        &mut self,
        report: HeartbeatReport<'_>,
        latest_ti: Option<&TiVersion>,
    ) -> Vec<PendingAction> {
        let mut pending = Vec::new();
        // A heartbeat older than the last one (a retried request) moves nothing back.
        if self.last_heartbeat.is_none_or(|last| report.at > last) {
            self.last_heartbeat = Some(report.at);
        }
        self.version = Some(report.version.clone());
        self.reported_health = Some(report.health);
        self.issues.clear();
        for issue in report.issues {
            if !self.issues.contains(issue) {
                self.issues.push(*issue);
            }
        }
        if let Some(ti) = &mut self.ti {
            pending.extend(ti.on_heartbeat(report.ti_version.cloned(), latest_ti));
        }
        pending.extend(self.software_update.on_heartbeat(report.version));
        if let Some(settings) = &mut self.settings {
            pending.extend(settings.on_heartbeat(report.settings, report.at));
        }
        pending
    }

    /// Health at `now`: the latest heartbeat's report, its age, and a failed remote
    /// update.
    pub fn health(&self, now: OffsetDateTime) -> HealthAssessment {
        let mut issues = self.issues.clone();
        if let Some(issue) = self.software_update.issue()
            && !issues.contains(&issue)
        {
            issues.push(issue);
        }
        assess_health(
            HealthSignals {
                last_heartbeat: self.last_heartbeat,
                version: self.version.as_ref(),
                reported: self.reported_health,
                issues: &issues,
            },
            now,
        )
    }
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
    fn only_ot_sensors_on_a_legacy_version_are_prepared_for_the_22x_update() {
        let ot = SensorType::OtLocallyManaged;
        assert_eq!(legacy_update_allowed(ot, Some(&version("10.5.3"))), Ok(()));
        assert_eq!(
            legacy_update_allowed(ot, Some(&version("22.1.0"))),
            Err(LegacyUpdateError::NotLegacy)
        );
        assert_eq!(
            legacy_update_allowed(ot, None),
            Err(LegacyUpdateError::VersionUnknown)
        );
        assert_eq!(
            legacy_update_allowed(SensorType::EnterpriseIot, Some(&version("10.5.3"))),
            Err(LegacyUpdateError::NotOtSensor)
        );
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

    fn report<'a>(at: OffsetDateTime, version: &'a SoftwareVersion) -> HeartbeatReport<'a> {
        HeartbeatReport {
            at,
            version,
            ti_version: None,
            health: SensorHealth::Healthy,
            issues: &[],
            settings: None,
        }
    }

    #[test]
    fn a_remote_update_is_delivered_once_then_done_when_the_sensor_reports_the_version() {
        // GIVEN an OT sensor on 23.1.3, WHEN a user asks for 24.1.2
        let old = version("23.1.3");
        let new = version("24.1.2");
        let mut update =
            SoftwareUpdate::request(SensorType::OtCloudConnected, Some(&old), &new).unwrap();
        // THEN the next heartbeat carries it, the one after that settles it
        assert_eq!(
            update.on_heartbeat(&old),
            Some(PendingAction::SoftwareUpdate {
                version: new.clone()
            })
        );
        assert_eq!(update.on_heartbeat(&new), None);
        assert_eq!(update, SoftwareUpdate::Idle);
        assert_eq!(update.issue(), None);
    }

    #[test]
    fn a_remote_update_fails_when_the_sensor_still_reports_the_old_version() {
        let old = version("23.1.3");
        let new = version("24.1.2");
        let mut update =
            SoftwareUpdate::request(SensorType::OtLocallyManaged, Some(&old), &new).unwrap();
        update.on_heartbeat(&old);
        assert_eq!(update.on_heartbeat(&old), None);
        assert_eq!(update.issue(), Some(SensorIssue::RemoteUpgradeFailed));
        // and it stays failed, not pushed again by itself
        assert_eq!(update.on_heartbeat(&old), None);
        assert!(matches!(update, SoftwareUpdate::Failed { .. }));
    }

    #[test]
    fn remote_updates_go_to_ot_sensors_and_only_forward_to_published_versions() {
        let current = version("23.2.0");
        assert_eq!(
            SoftwareUpdate::request(SensorType::EnterpriseIot, None, &version("24.1.2")),
            Err(SoftwareUpdateError::NotOtSensor)
        );
        assert_eq!(
            SoftwareUpdate::request(SensorType::OtCloudConnected, None, &version("24.9")),
            Err(SoftwareUpdateError::NotPublished)
        );
        assert_eq!(
            SoftwareUpdate::request(
                SensorType::OtCloudConnected,
                Some(&current),
                &version("23.1.3")
            ),
            Err(SoftwareUpdateError::NotNewer)
        );
        assert!(
            SoftwareUpdate::request(SensorType::OtCloudConnected, None, &version("22.1.7")).is_ok()
        );
        assert_eq!(SoftwareRelease::latest().version(), version("24.1.2"));
        for release in SOFTWARE_RELEASES {
            assert!(release.version().is_supported(), "{}", release.version);
        }
    }

    #[test]
    fn a_heartbeat_records_what_the_sensor_reports_and_health_follows_it() {
        let v = version("23.1.3");
        let mut state = SensorState::new(SensorType::OtLocallyManaged);
        assert_eq!(state.health(NOW).health, SensorHealth::Disconnected);
        let pending = state.on_heartbeat(
            HeartbeatReport {
                issues: &[SensorIssue::NoTrafficDetected],
                ..report(NOW, &v)
            },
            None,
        );
        assert!(pending.is_empty());
        assert_eq!(state.last_heartbeat, Some(NOW));
        assert_eq!(state.version, Some(v.clone()));
        assert_eq!(state.health(NOW).health, SensorHealth::Unhealthy);
        state.on_heartbeat(report(NOW + Duration::minutes(1), &v), None);
        assert_eq!(
            state.health(NOW + Duration::minutes(2)).health,
            SensorHealth::Healthy
        );
        assert_eq!(
            state.health(NOW + Duration::minutes(7)).health,
            SensorHealth::Disconnected
        );
        // an older heartbeat arriving late does not move last_heartbeat back
        state.on_heartbeat(report(NOW, &v), None);
        assert_eq!(state.last_heartbeat, Some(NOW + Duration::minutes(1)));
    }

    #[test]
    fn a_failed_remote_update_makes_a_connected_sensor_unhealthy() {
        let old = version("23.1.3");
        let mut state = SensorState::new(SensorType::OtCloudConnected);
        state.software_update =
            SoftwareUpdate::request(SensorType::OtCloudConnected, Some(&old), &version("24.1.2"))
                .unwrap();
        let pending = state.on_heartbeat(report(NOW, &old), None);
        assert_eq!(pending.len(), 1);
        state.on_heartbeat(report(NOW, &old), None);
        let health = state.health(NOW);
        assert_eq!(health.health, SensorHealth::Unhealthy);
        assert_eq!(health.findings, [HealthFinding::RemoteUpgradeFailed]);
    }

    #[test]
    fn enterprise_iot_sensors_ignore_a_reported_ti_version() {
        let v = version("23.1.3");
        let ti = TiVersion::parse("2024.03.01").unwrap();
        let mut state = SensorState::new(SensorType::EnterpriseIot);
        let pending = state.on_heartbeat(
            HeartbeatReport {
                ti_version: Some(&ti),
                ..report(NOW, &v)
            },
            Some(&ti),
        );
        assert!(pending.is_empty());
        assert_eq!(state.ti, None);
    }
}
