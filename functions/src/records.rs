//! Items as stored: the JSON bodies behind the keys of `keys.rs`.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use shared::authz::{CustomRole, RoleAssignment};
use shared::model::{AlertId, DeviceGroup, DeviceId, DisplayName, Email, SubscriptionId};
use time::OffsetDateTime;

use crate::http::error::ApiError;
use crate::store::{Item, Key};

/// A subscription with its whole authorization policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscriptionRecord {
    pub id: SubscriptionId,
    pub name: DisplayName,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub created_by: Email,
    pub assignments: Vec<RoleAssignment>,
    #[serde(default)]
    pub custom_roles: Vec<CustomRole>,
    #[serde(default)]
    pub device_groups: Vec<DeviceGroup>,
}

/// A principal's membership in a subscription (see `keys::membership`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MembershipRecord {
    pub subscription_id: SubscriptionId,
    /// Copied so that listing subscriptions reads nothing else; subscriptions are
    /// never renamed.
    pub subscription_name: DisplayName,
}

// ----- Alerts and devices (area-alerts) -----
// Stored alerts and devices are `shared::model::Alert` and `shared::model::Device` as
// they are; PCAPs are raw bytes.

/// One of a sensor's fingerprint buckets (`keys::alert_fingerprints`), by fingerprint
/// digest (`alerts::fingerprint_digest`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerprintBucketRecord {
    pub entries: BTreeMap<String, FingerprintEntry>,
}

/// What is known of one fingerprint of a sensor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerprintEntry {
    /// The latest alert raised for the fingerprint. It is claimed here before the alert
    /// item is written, so it may briefly (or after a failed ingest) name an alert that
    /// does not exist yet: the next detection then writes it under this very id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<AlertId>,
    /// Set when an alert with this fingerprint was learned: a baseline, and detections
    /// of it are dropped from then on.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub learned_at: Option<OffsetDateTime>,
}

/// Maps a device's merge identity to the device (`keys::device_identity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceIdentityRecord {
    pub device_id: DeviceId,
}

/// Serializes a record into an item at `key`.
pub fn item<T: Serialize>(key: Key, record: &T) -> Result<Item, ApiError> {
    let body = serde_json::to_vec(record)
        .map_err(|e| ApiError::Internal(format!("serializing {}: {e}", key.sk)))?;
    Ok(Item::new(key, body))
}

/// Reads a stored record; a body that no longer parses is our bug, not the caller's.
pub fn decode<T: DeserializeOwned>(item: &Item) -> Result<T, ApiError> {
    serde_json::from_slice(&item.body).map_err(|e| {
        ApiError::Internal(format!(
            "stored item {}/{} is unreadable: {e}",
            item.key.pk, item.key.sk
        ))
    })
}
