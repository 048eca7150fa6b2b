//! Threat intelligence (TI) packages on OT sensors: how a push travels to a sensor
//! and how its status is shown.
//!
//! The lifecycle of one update:
//! 1. queued: by a user's push, or by a heartbeat of a sensor in automatic mode that
//!    lacks the latest package;
//! 2. delivered: the next heartbeat's answer carries it as a pending action;
//! 3. settled by the heartbeat after that: the sensor reports the pushed version
//!    (done), or another one (failed).
//!
//! Enterprise IoT sensors take no TI packages; automatic mode is for cloud-connected
//! OT sensors, as locally managed ones get packages by hand.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{SensorSettings, SensorType, SoftwareVersion};

pub const MAX_TI_VERSION_LEN: usize = 64;

/// The newest published TI package: what automatic mode installs and a push sends.
pub const LATEST_TI_PACKAGE: &str = "2024.03.01";
/// The day [`LATEST_TI_PACKAGE`] was built, `YYYY-MM-DD`.
pub const LATEST_TI_PACKAGE_PUBLISHED_ON: &str = "2024-03-01";

/// [`LATEST_TI_PACKAGE`] as a version.
pub fn latest_ti_package() -> TiVersion {
    TiVersion::parse(LATEST_TI_PACKAGE).expect("the latest package has a valid name")
}

/// How new TI packages reach a sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TiMode {
    Automatic,
    Manual,
}

impl TiMode {
    pub const fn as_str(self) -> &'static str {
        match self {
            TiMode::Automatic => "automatic",
            TiMode::Manual => "manual",
        }
    }
}

/// The TI column of the sensor grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TiUpdateStatus {
    Ok,
    InProgress,
    UpdateAvailable,
    Failed,
}

impl TiUpdateStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            TiUpdateStatus::Ok => "ok",
            TiUpdateStatus::InProgress => "in_progress",
            TiUpdateStatus::UpdateAvailable => "update_available",
            TiUpdateStatus::Failed => "failed",
        }
    }
}

/// A TI package version, named after the day it was built (e.g. `2024.03.01` or
/// `10.0.2403`): 1..=64 characters of letters, digits, `.`, `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TiVersion(String);

pattern_schema!(
    TiVersion,
    format!("^[A-Za-z0-9._-]{{1,{MAX_TI_VERSION_LEN}}}$")
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 64 characters of letters, digits, '.', '-' or '_'")]
pub struct InvalidTiVersion;

impl TiVersion {
    pub fn parse(raw: &str) -> Result<Self, InvalidTiVersion> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b"._-".contains(&b);
        if raw.is_empty() || raw.len() > MAX_TI_VERSION_LEN || !raw.bytes().all(allowed) {
            return Err(InvalidTiVersion);
        }
        Ok(TiVersion(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TiVersion {
    type Error = InvalidTiVersion;
    fn try_from(raw: String) -> Result<Self, InvalidTiVersion> {
        TiVersion::parse(&raw)
    }
}

impl From<TiVersion> for String {
    fn from(version: TiVersion) -> String {
        version.0
    }
}

impl fmt::Display for TiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TiError {
    #[error("threat intelligence updates are for OT sensors only")]
    NotOtSensor,
    #[error("automatic threat intelligence updates are for cloud-connected OT sensors only")]
    AutomaticNotSupported,
}

/// Where the latest update of one sensor stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TiUpdate {
    Idle,
    Queued { version: TiVersion },
    Delivered { version: TiVersion },
    Failed { version: TiVersion },
}

/// Something a sensor must do, returned in a heartbeat's `pending` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PendingAction {
    TiUpdate {
        ti_version: TiVersion,
    },
    /// Install this sensor software version (see `SoftwareUpdate`).
    SoftwareUpdate {
        version: SoftwareVersion,
    },
    /// Apply these settings, and report on `revision` in a later heartbeat (see
    /// `SettingsDelivery`).
    ApplySettings {
        revision: u32,
        settings: SensorSettings,
    },
}

/// The TI state of one OT sensor, as stored with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreatIntelligence {
    pub mode: TiMode,
    pub installed: Option<TiVersion>,
    pub update: TiUpdate,
}

impl ThreatIntelligence {
    /// The TI state of a newly onboarded sensor: none for Enterprise IoT sensors;
    /// automatic for cloud-connected OT sensors (packages then install themselves),
    /// manual for locally managed ones.
    pub fn for_new_sensor(sensor_type: SensorType) -> Option<Self> {
        let mode = match sensor_type {
            SensorType::OtCloudConnected => TiMode::Automatic,
            SensorType::OtLocallyManaged => TiMode::Manual,
            SensorType::EnterpriseIot => return None,
        };
        Some(ThreatIntelligence {
            mode,
            installed: None,
            update: TiUpdate::Idle,
        })
    }

    /// Checks a sensor can take TI updates at all, before a push or a mode change.
    pub fn require_support(sensor_type: SensorType) -> Result<(), TiError> {
        if sensor_type.is_ot() {
            Ok(())
        } else {
            Err(TiError::NotOtSensor)
        }
    }

    pub fn set_mode(&mut self, sensor_type: SensorType, mode: TiMode) -> Result<(), TiError> {
        Self::require_support(sensor_type)?;
        if mode == TiMode::Automatic && sensor_type != SensorType::OtCloudConnected {
            return Err(TiError::AutomaticNotSupported);
        }
        self.mode = mode;
        Ok(())
    }

    /// A user's push of the latest package; it also retries a failed update.
    pub fn push(&mut self, latest: &TiVersion) {
        self.update = TiUpdate::Queued {
            version: latest.clone(),
        };
    }

    /// Applies a heartbeat reporting the installed package `reported`, given the latest
    /// published package, and returns what the sensor must do next.
    pub fn on_heartbeat(
        &mut self,
        reported: Option<TiVersion>,
        latest: Option<&TiVersion>,
    ) -> Option<PendingAction> {
        self.update = match std::mem::replace(&mut self.update, TiUpdate::Idle) {
            TiUpdate::Delivered { version } | TiUpdate::Queued { version }
                if reported.as_ref() == Some(&version) =>
            {
                TiUpdate::Idle
            }
            TiUpdate::Delivered { version } => TiUpdate::Failed { version },
            unsettled => unsettled,
        };
        self.installed = reported;
        if let (TiMode::Automatic, Some(latest)) = (self.mode, latest) {
            let already_tried = match &self.update {
                TiUpdate::Idle => false,
                TiUpdate::Failed { version } => version == latest,
                TiUpdate::Queued { .. } | TiUpdate::Delivered { .. } => true,
            };
            if self.installed.as_ref() != Some(latest) && !already_tried {
                self.push(latest);
            }
        }
        match std::mem::replace(&mut self.update, TiUpdate::Idle) {
            TiUpdate::Queued { version } => {
                self.update = TiUpdate::Delivered {
                    version: version.clone(),
                };
                Some(PendingAction::TiUpdate {
                    ti_version: version,
                })
            }
            other => {
                self.update = other;
                None
            }
        }
    }

    pub fn status(&self, latest: Option<&TiVersion>) -> TiUpdateStatus {
        match &self.update {
            TiUpdate::Queued { .. } | TiUpdate::Delivered { .. } => TiUpdateStatus::InProgress,
            TiUpdate::Failed { .. } => TiUpdateStatus::Failed,
            TiUpdate::Idle => match latest {
                Some(latest) if self.installed.as_ref() != Some(latest) => {
                    TiUpdateStatus::UpdateAvailable
                }
                Some(_) | None => TiUpdateStatus::Ok,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(raw: &str) -> TiVersion {
        TiVersion::parse(raw).unwrap()
    }

    fn manual_sensor_with(installed: &str) -> ThreatIntelligence {
        ThreatIntelligence {
            mode: TiMode::Manual,
            installed: Some(version(installed)),
            update: TiUpdate::Idle,
        }
    }

    #[test]
    fn only_ot_sensors_take_threat_intelligence_and_only_cloud_connected_ones_automatically() {
        assert_eq!(
            ThreatIntelligence::for_new_sensor(SensorType::OtCloudConnected).map(|ti| ti.mode),
            Some(TiMode::Automatic)
        );
        assert_eq!(
            ThreatIntelligence::for_new_sensor(SensorType::OtLocallyManaged).map(|ti| ti.mode),
            Some(TiMode::Manual)
        );
        assert_eq!(
            ThreatIntelligence::for_new_sensor(SensorType::EnterpriseIot),
            None
        );
        assert_eq!(
            ThreatIntelligence::require_support(SensorType::EnterpriseIot),
            Err(TiError::NotOtSensor)
        );
        let mut local = manual_sensor_with("2024.01.01");
        assert_eq!(
            local.set_mode(SensorType::OtLocallyManaged, TiMode::Automatic),
            Err(TiError::AutomaticNotSupported)
        );
        assert_eq!(local.mode, TiMode::Manual);
    }

    #[test]
    fn a_manual_sensor_behind_the_latest_package_shows_update_available() {
        let sensor = manual_sensor_with("2024.01.01");
        assert_eq!(
            sensor.status(Some(&version("2024.03.01"))),
            TiUpdateStatus::UpdateAvailable
        );
        assert_eq!(
            sensor.status(Some(&version("2024.01.01"))),
            TiUpdateStatus::Ok
        );
        assert_eq!(sensor.status(None), TiUpdateStatus::Ok);
    }

    #[test]
    fn a_push_is_in_progress_until_a_later_heartbeat_reports_the_version() {
        let latest = version("2024.03.01");
        // GIVEN a manual sensor behind the latest package, WHEN a user pushes it
        let mut sensor = manual_sensor_with("2024.01.01");
        sensor.push(&latest);
        assert_eq!(sensor.status(Some(&latest)), TiUpdateStatus::InProgress);
        // THEN the next heartbeat delivers it as a pending action
        let pending = sensor.on_heartbeat(Some(version("2024.01.01")), Some(&latest));
        assert_eq!(
            pending,
            Some(PendingAction::TiUpdate {
                ti_version: latest.clone()
            })
        );
        assert_eq!(sensor.status(Some(&latest)), TiUpdateStatus::InProgress);
        // AND the heartbeat reporting the version completes it
        assert_eq!(
            sensor.on_heartbeat(Some(latest.clone()), Some(&latest)),
            None
        );
        assert_eq!(sensor.status(Some(&latest)), TiUpdateStatus::Ok);
        assert_eq!(sensor.installed, Some(latest));
    }

    #[test]
    fn a_delivered_update_fails_when_the_next_heartbeat_reports_another_version() {
        let latest = version("2024.03.01");
        let mut sensor = manual_sensor_with("2024.01.01");
        sensor.push(&latest);
        sensor.on_heartbeat(Some(version("2024.01.01")), Some(&latest));
        assert_eq!(
            sensor.on_heartbeat(Some(version("2024.01.01")), Some(&latest)),
            None
        );
        assert_eq!(sensor.status(Some(&latest)), TiUpdateStatus::Failed);
        // a new push retries it
        sensor.push(&latest);
        assert!(
            sensor
                .on_heartbeat(Some(version("2024.01.01")), Some(&latest))
                .is_some()
        );
    }

    #[test]
    fn automatic_mode_delivers_the_latest_package_once_and_does_not_loop_on_failure() {
        let latest = version("2024.03.01");
        let mut sensor = ThreatIntelligence::for_new_sensor(SensorType::OtCloudConnected).unwrap();
        let first = sensor.on_heartbeat(None, Some(&latest));
        assert_eq!(
            first,
            Some(PendingAction::TiUpdate {
                ti_version: latest.clone()
            })
        );
        // the sensor failed to install it: failed, and not pushed again by itself
        assert_eq!(sensor.on_heartbeat(None, Some(&latest)), None);
        assert_eq!(sensor.status(Some(&latest)), TiUpdateStatus::Failed);
        assert_eq!(sensor.on_heartbeat(None, Some(&latest)), None);
        // a newer package is tried
        let newer = version("2024.04.01");
        assert!(sensor.on_heartbeat(None, Some(&newer)).is_some());
    }

    #[test]
    fn automatic_mode_stays_quiet_when_the_sensor_is_up_to_date() {
        let latest = version("2024.03.01");
        let mut sensor = ThreatIntelligence::for_new_sensor(SensorType::OtCloudConnected).unwrap();
        assert_eq!(
            sensor.on_heartbeat(Some(latest.clone()), Some(&latest)),
            None
        );
        assert_eq!(sensor.status(Some(&latest)), TiUpdateStatus::Ok);
    }

    #[test]
    fn ti_versions_accept_only_short_plain_names() {
        assert!(TiVersion::parse("10.0.2403-b_1").is_ok());
        assert!(TiVersion::parse("").is_err());
        assert!(TiVersion::parse("2024 03").is_err());
        assert!(TiVersion::parse(&"9".repeat(65)).is_err());
    }
}
