//! A sensor's fingerprints: for each one, the latest alert raised for it and whether it
//! was learned. One item per fingerprint (`keys::alert_fingerprint`), so what a batch
//! reads and writes is what it carries, however much traffic the sensor sent before.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use shared::model::{Fingerprint, SensorId, SubscriptionId};

use crate::http::error::{ApiError, ApiResult};
use crate::keys;
use crate::records::{self, FingerprintBucketRecord, FingerprintEntry, Versioned};
use crate::store::{Condition, Key, Query, SortKeyRange, StoreError, Table, Write};

/// A fingerprint's storage name: base64url of the first 16 bytes of its SHA-256, so a
/// title can make neither a long key nor a separator.
pub fn digest(fingerprint: &Fingerprint) -> String {
    let hash = Sha256::digest(fingerprint.key().as_bytes());
    URL_SAFE_NO_PAD.encode(&hash[..16])
}

/// The stored fingerprints of `digests`, in their order, in one read.
pub async fn read(
    table: &dyn Table,
    subscription: &SubscriptionId,
    sensor: &SensorId,
    digests: &[&str],
) -> ApiResult<Vec<Option<Versioned<FingerprintEntry>>>> {
    let keys: Vec<Key> = digests
        .iter()
        .map(|digest| keys::alert_fingerprint(subscription, sensor, digest))
        .collect();
    records::read_many(table, &keys).await
}

/// The write storing `entry` for `digest` over what was read (`None`: nothing).
pub fn write(
    subscription: &SubscriptionId,
    sensor: &SensorId,
    digest: &str,
    entry: &FingerprintEntry,
    read_version: Option<u64>,
) -> ApiResult<Write> {
    Ok(Write::Put {
        item: records::item(keys::alert_fingerprint(subscription, sensor, digest), entry)?,
        condition: read_version.map_or(Condition::MustNotExist, Condition::VersionIs),
    })
}

/// Moves the entries of the sensor's legacy buckets (the layout before one item per
/// fingerprint) into their own items, then deletes each bucket — so no baseline learned
/// before is lost. Costs one empty query once done; ingest and learn call it first.
/// Idempotent and safe under concurrency: an entry is written only where no item exists
/// (`MustNotExist`; an item written since is newer), and a bucket is deleted only at the
/// version its entries were copied from.
pub async fn migrate_buckets(
    table: &dyn Table,
    subscription: &SubscriptionId,
    sensor: &SensorId,
) -> ApiResult<()> {
    let buckets = Query {
        range: SortKeyRange::BeginsWith(keys::LEGACY_FINGERPRINT_BUCKET.into()),
        limit: 1,
        ..Query::partition(keys::alert_fingerprints_partition(subscription, sensor))
    };
    // Each round moves a bucket or loses a race to a concurrent migration.
    for _ in 0..256 {
        let Some(bucket) = table.query(&buckets).await?.items.into_iter().next() else {
            return Ok(());
        };
        let record: FingerprintBucketRecord = records::decode(&bucket)?;
        let digests: Vec<&str> = record.entries.keys().map(String::as_str).collect();
        let stored = read(table, subscription, sensor, &digests).await?;
        let mut writes = Vec::new();
        for ((digest, entry), found) in record.entries.iter().zip(stored) {
            if found.is_none() {
                writes.push(write(subscription, sensor, digest, entry, None)?);
            }
        }
        let mut raced = false;
        for chunk in writes.chunks(table.transaction_limits().ops) {
            match table.transact(chunk.to_vec()).await {
                Ok(_) => {}
                Err(StoreError::ConditionFailed { .. }) => raced = true,
                Err(other) => return Err(other.into()),
            }
        }
        if raced {
            continue;
        }
        match table
            .delete(bucket.key, Condition::VersionIs(bucket.version))
            .await
        {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Internal(
        "moving the legacy fingerprint buckets kept racing".into(),
    ))
}
