//! Items as stored: the JSON bodies behind the keys of `keys.rs`.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use shared::authz::{CustomRole, RoleAssignment};
use shared::model::{
    AlertId, Commitment, CommittedDevices, DeviceGroup, DeviceId, DisplayName, Email, PlanId,
    PlanKind, PlanTerms, SensorId, SensorState, SensorType, SiteId, SubscriptionId, ZoneId,
};
use time::OffsetDateTime;

use shared::api::{DiagnosticsArchive, Page};

use crate::http::error::{ApiError, ApiResult};
use crate::store::{Item, Key, Query, QueryPage, TableRead};

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

/// An API token as authentication reads it (see `keys::api_token`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiTokenRecord {
    pub subscription_id: SubscriptionId,
    pub token: shared::api::ApiToken,
}

/// An API token's entry in its subscription (see `keys::api_token_entry`): where its
/// record is, so that listing and revoking need no secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiTokenEntry {
    pub token_hash: String,
}

// ----- Alerts and devices (area-alerts) -----
// Stored alerts and devices are `shared::model::Alert` and `shared::model::Device` as
// they are; PCAPs are raw bytes.

/// One of a sensor's fingerprint buckets (`keys::LEGACY_FINGERPRINT_BUCKET`), by
/// fingerprint digest: the layout before one item per fingerprint, read only to move
/// its entries into their items (`alerts::fingerprints::migrate_buckets`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerprintBucketRecord {
    pub entries: BTreeMap<String, FingerprintEntry>,
}

/// What is known of one fingerprint of a sensor (`keys::alert_fingerprint`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerprintEntry {
    /// The latest alert raised for the fingerprint, written in the same transaction as
    /// the alert. (In a table written before that, it may name an alert an ingest claimed
    /// and failed to write: the next detection writes it under this very id.)
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

/// One shard of a site's alert counts per severity (`keys::alert_open_counts`,
/// `keys::alert_day_counts`). Signed: an alert counted in one shard may be uncounted in
/// another, so one shard can go below zero; the sum over a site's shards cannot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertCountsRecord {
    #[serde(default)]
    pub critical: i64,
    #[serde(default)]
    pub major: i64,
    #[serde(default)]
    pub minor: i64,
    #[serde(default)]
    pub warning: i64,
}

/// One shard of the alerts a sensor raised at a site, per group
/// (`keys::alert_group_counts`): `status|severity|engine|title` → count; groups that
/// come to zero are dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertGroupCountsRecord {
    pub groups: BTreeMap<String, i64>,
}

/// How often one sensor's ingest hit a suppression rule (`keys::rule_hits`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleHitsRecord {
    pub hits: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_hit: Option<OffsetDateTime>,
}

/// A site that has alert counters (`keys::alert_counted_site`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountedSiteRecord {
    pub site_id: SiteId,
}

/// Maps a device's merge identity to the device (`keys::device_identity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceIdentityRecord {
    pub device_id: DeviceId,
}

// ----- Sites, zones and plans (area `sites`) -----
// Sites are stored as `shared::api::Site`, zones as `shared::api::Zone`.

/// The site holding a display name (see `keys::site_name`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SiteNameRecord {
    pub site_id: SiteId,
}

/// What hangs off a site (see `keys::site_usage`); absent means nothing.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct SiteUsageRecord {
    #[serde(default)]
    pub zones: u32,
    #[serde(default)]
    pub sensors: u32,
}

/// A plan as stored; its status is computed from its dates when read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanRecord {
    pub id: PlanId,
    pub kind: PlanKind,
    pub commitment: Commitment,
    pub committed_devices: CommittedDevices,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub created_by: Email,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub cancelled_at: Option<OffsetDateTime>,
    /// Set when a new plan of the kind took this expired trial's place.
    #[serde(default)]
    pub superseded_by: Option<PlanId>,
}

impl PlanRecord {
    pub fn terms(&self) -> PlanTerms {
        PlanTerms {
            commitment: self.commitment,
            committed_devices: self.committed_devices,
            expires_at: self.expires_at,
        }
    }
}

/// The plan holding a kind's live slot (see `keys::live_plan`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LivePlanRecord {
    pub plan_id: PlanId,
}

// ----- Sensors (sensors area) -----

/// A sensor as stored at `keys::sensor` (with its `keys::sensor_by_site` and
/// `keys::sensor_by_type` index keys). Its token's lookup item is a
/// `http::sensor::SensorTokenRecord` at `keys::sensor_token(hash)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SensorRecord {
    pub id: SensorId,
    pub subscription_id: SubscriptionId,
    pub name: DisplayName,
    #[serde(rename = "type")]
    pub sensor_type: SensorType,
    pub site_id: SiteId,
    pub zone_id: Option<ZoneId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub created_by: Email,
    /// The current token of the activation file, returned as is by every download;
    /// never shown by the sensor's own endpoints nor written to the audit log.
    pub token: String,
    /// When the current token was issued by a reactivation; `None`: at onboarding.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub reactivated_at: Option<OffsetDateTime>,
    /// When that reactivation prepared a legacy sensor for the 22.x update.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub legacy_update_prepared_at: Option<OffsetDateTime>,
    /// The diagnostics archive's description; its bytes are in
    /// `keys::sensor_diagnostics` chunks.
    #[serde(default)]
    pub diagnostics: Option<DiagnosticsArchive>,
    pub state: SensorState,
}

/// Serializes a record into an item at `key`.
pub fn item<T: Serialize>(key: Key, record: &T) -> Result<Item, ApiError> {
    let body = serde_json::to_vec(record)
        .map_err(|e| ApiError::Internal(format!("serializing {}: {e}", key.sk)))?;
    Ok(Item::new(key, body))
}

/// Reads a stored record; a body that no longer parses is our bug, not the caller's.
pub fn decode<T: DeserializeOwned>(item: &Item) -> Result<T, ApiError> {
    serde_json::from_slice(&item.body).map_err(|e| unreadable(item, e))
}

/// [`decode`] into a type that borrows from the stored body (no copy of its strings).
pub fn decode_borrowed<'a, T: serde::Deserialize<'a>>(item: &'a Item) -> Result<T, ApiError> {
    serde_json::from_slice(&item.body).map_err(|e| unreadable(item, e))
}

fn unreadable(item: &Item, error: serde_json::Error) -> ApiError {
    ApiError::Internal(format!(
        "stored item {}/{} is unreadable: {error}",
        item.key.pk, item.key.sk
    ))
}

/// A stored record and the version it was read at (what a conditional write checks).
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub record: T,
    pub version: u64,
}

/// Reads and decodes the records at `keys` in one read ([`TableRead::get_many`]), in
/// their order.
pub async fn read_many<T: DeserializeOwned>(
    table: &dyn TableRead,
    keys: &[Key],
) -> ApiResult<Vec<Option<Versioned<T>>>> {
    table
        .get_many(keys)
        .await?
        .into_iter()
        .map(|found| {
            found
                .map(|item| {
                    Ok(Versioned {
                        record: decode(&item)?,
                        version: item.version,
                    })
                })
                .transpose()
        })
        .collect()
}

/// Reads and decodes the record at `key`, if there is one.
pub async fn read<T: DeserializeOwned>(
    table: &dyn TableRead,
    key: &Key,
) -> ApiResult<Option<Versioned<T>>> {
    let Some(item) = table.get(key).await? else {
        return Ok(None);
    };
    Ok(Some(Versioned {
        record: decode(&item)?,
        version: item.version,
    }))
}

/// One page of a query, decoded, with the store's cursor for the next one.
pub fn page<T: DeserializeOwned>(found: QueryPage) -> ApiResult<Page<T>> {
    Ok(Page {
        items: found.items.iter().map(decode).collect::<ApiResult<_>>()?,
        next_cursor: found.next_cursor,
    })
}

/// Stored records as they are, for responses whose items are stored in their API shape:
/// checked to be JSON, but neither decoded nor re-encoded.
pub fn raw(items: &[Item]) -> ApiResult<Vec<&RawValue>> {
    items
        .iter()
        .map(|item| serde_json::from_slice(&item.body).map_err(|e| unreadable(item, e)))
        .collect()
}

/// The subscriptions a marker partition names (`keys::sensing_subscriptions_query`,
/// `keys::notifying_subscriptions_query`: each mark's sort key is a subscription id),
/// following its cursors. Marks are one small item per subscription.
pub async fn marked_subscriptions(
    table: &dyn TableRead,
    mut query: Query,
) -> ApiResult<Vec<SubscriptionId>> {
    let mut marked = Vec::new();
    loop {
        let page = table.query(&query).await?;
        marked.extend(
            page.items
                .iter()
                .filter_map(|mark| SubscriptionId::parse(mark.key.sk.as_str()).ok()),
        );
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return Ok(marked),
        }
    }
}

/// Every record a query matches, following its cursors: for partitions that stay
/// small (a subscription's sites, a site's zones, a principal's memberships).
pub async fn read_all<T: DeserializeOwned>(
    table: &dyn TableRead,
    mut query: Query,
) -> ApiResult<Vec<T>> {
    let mut records = Vec::new();
    loop {
        let found = table.query(&query).await?;
        for item in &found.items {
            records.push(decode(item)?);
        }
        match found.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return Ok(records),
        }
    }
}
