//! Where each kind of item lives in the one table (see `docs/data-model.md`).
//! Key formats are written here and nowhere else.

use std::num::NonZeroU8;

use sha2::{Digest, Sha256};
use shared::authz::PrincipalRef;
use shared::model::{
    AlertId, AlertStatus, DeviceId, PlanId, PlanKind, SensorId, SensorType, SiteId, SubscriptionId,
    ZoneId,
};

use crate::store::{Key, Query, SortKeyRange};

/// A subscription and its authorization policy (assignments, custom roles, device
/// groups): one item, so a request is authorized with one read and every policy
/// change is one conditional write.
pub fn subscription(id: &SubscriptionId) -> Key {
    Key::new(subscription_partition(id), "META")
}

pub fn subscription_partition(id: &SubscriptionId) -> String {
    format!("SUB#{id}")
}

/// Marks that a principal (user or group) holds an assignment in a subscription;
/// listing the principal's partition lists their subscriptions.
pub fn membership(principal: &PrincipalRef, subscription: &SubscriptionId) -> Key {
    Key::new(
        principal_partition(principal),
        format!("{MEMBERSHIP_PREFIX}{subscription}"),
    )
}

pub fn principal_partition(principal: &PrincipalRef) -> String {
    format!("PRINCIPAL#{principal}")
}

pub const MEMBERSHIP_PREFIX: &str = "SUB#";

/// Audit entries of a subscription, sorted by a time-ordered id.
pub fn audit_partition(subscription: &SubscriptionId) -> String {
    format!("AUDIT#{subscription}")
}

/// Sites of a subscription, in its partition.
pub fn site(subscription: &SubscriptionId, site: &SiteId) -> Key {
    Key::new(
        subscription_partition(subscription),
        format!("{SITE_PREFIX}{site}"),
    )
}

const SITE_PREFIX: &str = "SITE#";

/// Every site of a subscription, `limit` per page.
pub fn sites_query(subscription: &SubscriptionId, limit: u32) -> Query {
    Query {
        range: SortKeyRange::BeginsWith(SITE_PREFIX.to_owned()),
        limit,
        ..Query::partition(subscription_partition(subscription))
    }
}

/// A sensor token's lookup item, by the token's SHA-256 (see `http::sensor`).
pub fn sensor_token(token_hash: &str) -> Key {
    Key::new(format!("TOKEN#{token_hash}"), "SENSOR")
}

/// Zones of a site, in the subscription's partition (after its sites: `ZONE#` > `SITE#`).
pub fn zone(subscription: &SubscriptionId, site: &SiteId, zone: &ZoneId) -> Key {
    Key::new(
        subscription_partition(subscription),
        format!("{}{zone}", zone_prefix(site)),
    )
}

pub fn zone_prefix(site: &SiteId) -> String {
    format!("ZONE#{site}#")
}

/// A site's device inventory: one partition per site, so listing the devices a caller
/// may see queries only the sites they may see.
pub fn device(subscription: &SubscriptionId, site: &SiteId, device: &DeviceId) -> Key {
    Key::new(device_partition(subscription, site), device.as_str())
}

pub fn device_partition(subscription: &SubscriptionId, site: &SiteId) -> String {
    format!("SUB#{subscription}#SITE#{site}#DEVICE")
}

/// Maps a device's merge identity (`shared::model::DeviceIdentity::key`) to its id;
/// written with `MustNotExist` in the device's creating transaction, so two sensors
/// reporting one device at once cannot create it twice.
pub fn device_identity(subscription: &SubscriptionId, site: &SiteId, identity: &str) -> Key {
    Key::new(
        format!("SUB#{subscription}#SITE#{site}#DEVICEKEY"),
        identity,
    )
}

/// GSI1 of a device: every device of the subscription by id, to find a device from its
/// id alone and to list all of them in one query.
pub fn device_in_subscription(subscription: &SubscriptionId, device: &DeviceId) -> Key {
    Key::new(devices_of_subscription(subscription), device.as_str())
}

pub fn devices_of_subscription(subscription: &SubscriptionId) -> String {
    format!("DEVICES#{subscription}")
}

// ----- Alerts (area-alerts; see docs/data-model.md, "Alerts and devices") -----

/// An alert, alone in its partition: found from its id, and ingest writes spread over
/// as many partitions as there are alerts.
pub fn alert(subscription: &SubscriptionId, alert: &AlertId) -> Key {
    Key::new(alert_partition(subscription, alert), "ALERT")
}

/// An alert's packet capture (raw bytes), next to the alert.
pub fn alert_pcap(subscription: &SubscriptionId, alert: &AlertId) -> Key {
    Key::new(alert_partition(subscription, alert), "PCAP")
}

fn alert_partition(subscription: &SubscriptionId, alert: &AlertId) -> String {
    format!("ALERT#{subscription}#{alert}")
}

/// GSI1 of an alert: the subscription's alerts of one status, by id (time-ordered), in
/// the status's shard the alert falls in (see [`alert_shard`]).
pub fn alert_by_status(
    subscription: &SubscriptionId,
    status: AlertStatus,
    alert: &AlertId,
    shards: NonZeroU8,
) -> Key {
    status_entry(&format!("ALERTS#{subscription}#"), status, alert, shards)
}

/// Every GSI1 partition holding the subscription's alerts of one status: one per shard
/// of `new`, one for each other status. A list of that status merges them all.
pub fn alerts_by_status(
    subscription: &SubscriptionId,
    status: AlertStatus,
    shards: NonZeroU8,
) -> Vec<String> {
    status_partitions(&format!("ALERTS#{subscription}#"), status, shards)
}

/// GSI2 of an alert: one site's alerts of one status, by id (time-ordered), in the
/// status's shard the alert falls in (see [`alert_shard`]).
pub fn alert_by_site_status(
    subscription: &SubscriptionId,
    site: &SiteId,
    status: AlertStatus,
    alert: &AlertId,
    shards: NonZeroU8,
) -> Key {
    status_entry(
        &format!("ALERTS#{subscription}#SITE#{site}#"),
        status,
        alert,
        shards,
    )
}

/// Every GSI2 partition holding one site's alerts of one status (as [`alerts_by_status`]).
pub fn alerts_by_site_status(
    subscription: &SubscriptionId,
    site: &SiteId,
    status: AlertStatus,
    shards: NonZeroU8,
) -> Vec<String> {
    status_partitions(
        &format!("ALERTS#{subscription}#SITE#{site}#"),
        status,
        shards,
    )
}

/// How many partitions a status's index entries are spread over: `shards` for `new`,
/// where ingest writes every raised and refreshed alert (a subscription raising 1,000
/// alerts a second would otherwise hold one index partition at DynamoDB's write limit);
/// one for `active` and `closed`, which change at human speed.
pub fn status_shards(status: AlertStatus, shards: NonZeroU8) -> u8 {
    match status {
        AlertStatus::New => shards.get(),
        AlertStatus::Active | AlertStatus::Closed => 1,
    }
}

/// The shard of a status's index partitions an alert's entry is in: a stable hash of
/// its id (the first 8 bytes of its SHA-256, mod the shard count), so every write and
/// rewrite of one alert lands in the same shard, on every release and platform (not
/// `std`'s `DefaultHasher`, whose output may change between releases). Always 0 for an
/// unsharded status.
pub fn alert_shard(status: AlertStatus, alert: &AlertId, shards: NonZeroU8) -> u8 {
    let digest = Sha256::digest(alert.as_str().as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let count = u64::from(status_shards(status, shards));
    // The remainder is below the count, itself a u8.
    u8::try_from(u64::from_be_bytes(first) % count).unwrap_or(0)
}

/// Shard 0 is the unsharded key (`…STATUS#new`), exactly as written before statuses
/// had shards, so a table's existing entries stay in a partition every list reads;
/// shard `n` > 0 is `…STATUS#new#<n>`.
fn status_shard_partition(prefix: &str, status: AlertStatus, shard: u8) -> String {
    match shard {
        0 => format!("{prefix}STATUS#{status}"),
        n => format!("{prefix}STATUS#{status}#{n}"),
    }
}

/// An alert's index entry under `prefix`, in the shard of its status it falls in.
fn status_entry(prefix: &str, status: AlertStatus, alert: &AlertId, shards: NonZeroU8) -> Key {
    Key::new(
        status_shard_partition(prefix, status, alert_shard(status, alert, shards)),
        alert.as_str(),
    )
}

fn status_partitions(prefix: &str, status: AlertStatus, shards: NonZeroU8) -> Vec<String> {
    (0..status_shards(status, shards))
        .map(|shard| status_shard_partition(prefix, status, shard))
        .collect()
}

/// One of a sensor's fingerprint buckets: for each fingerprint of the bucket, the
/// latest alert raised for it and whether it was learned (the sensor's baselines).
/// Fingerprints are spread over [`FINGERPRINT_BUCKETS`] items by their digest, so a
/// batch of detections reads and conditionally writes at most that many items.
pub fn alert_fingerprints(subscription: &SubscriptionId, sensor: &SensorId, bucket: u8) -> Key {
    Key::new(
        format!("ALERTFP#{subscription}#{sensor}"),
        format!("BUCKET#{bucket:02}"),
    )
}

pub const FINGERPRINT_BUCKETS: u8 = 64;

// ----- Sites, zones and plans (area `sites`) -----

/// Uniqueness of a site's display name in a subscription: the key is the name's
/// `shared::model::name_key`, the body the site holding it. Written with
/// `MustNotExist` in the transaction that creates or renames the site.
pub fn site_name(subscription: &SubscriptionId, name_key: &str) -> Key {
    Key::new(
        subscription_partition(subscription),
        format!("SITENAME#{name_key}"),
    )
}

/// What hangs off a site (its zone and sensor counts). Every creation of a zone (and,
/// through `sites::sensor_count_writes`, of a sensor) rewrites it with `VersionIs`, and
/// deleting the site deletes it with `VersionIs`: so a zone or sensor added while the
/// site is being deleted fails one of the two transactions, never leaves an orphan.
pub fn site_usage(subscription: &SubscriptionId, site: &SiteId) -> Key {
    Key::new(
        subscription_partition(subscription),
        format!("SITEUSE#{site}"),
    )
}

/// Plans of a subscription, in its partition, by plan id (ULID: creation order).
pub fn plan(subscription: &SubscriptionId, plan: &PlanId) -> Key {
    Key::new(
        subscription_partition(subscription),
        format!("{PLAN_PREFIX}{plan}"),
    )
}

pub const PLAN_PREFIX: &str = "PLAN#";

/// "One live plan per kind": the body names the plan of `kind` that holds the slot.
/// Created with `MustNotExist` with the plan, deleted when it is cancelled, replaced
/// (`VersionIs`) when the plan holding it is an expired trial.
pub fn live_plan(subscription: &SubscriptionId, kind: PlanKind) -> Key {
    Key::new(
        subscription_partition(subscription),
        format!("LIVEPLAN#{}", kind.as_str()),
    )
}

// ----- Sensors (sensors area) -----

/// A sensor: every sensor of a subscription in one partition, sorted by id (ULIDs,
/// so in onboarding order).
pub fn sensor(subscription: &SubscriptionId, sensor: &SensorId) -> Key {
    Key::new(sensor_partition(subscription), sensor.as_str())
}

pub fn sensor_partition(subscription: &SubscriptionId) -> String {
    format!("SENSORS#{subscription}")
}

/// A sensor's key in GSI1 (by site, then type): `?site_id=[&type=]` is one query.
/// A sensor's site and type never change, so neither does this key.
pub fn sensor_by_site(
    subscription: &SubscriptionId,
    site: &SiteId,
    sensor_type: SensorType,
    sensor: &SensorId,
) -> Key {
    Key::new(
        sensors_at_site_partition(subscription, site),
        format!("{}{sensor}", sensor_type_prefix(sensor_type)),
    )
}

pub fn sensors_at_site_partition(subscription: &SubscriptionId, site: &SiteId) -> String {
    format!("SENSORS#{subscription}#SITE#{site}")
}

pub fn sensor_type_prefix(sensor_type: SensorType) -> String {
    format!("{sensor_type}#")
}

/// A sensor's key in GSI2 (by type): `?type=` alone is one query.
pub fn sensor_by_type(
    subscription: &SubscriptionId,
    sensor_type: SensorType,
    sensor: &SensorId,
) -> Key {
    Key::new(
        sensors_of_type_partition(subscription, sensor_type),
        sensor.as_str(),
    )
}

pub fn sensors_of_type_partition(subscription: &SubscriptionId, sensor_type: SensorType) -> String {
    format!("SENSORS#{subscription}#TYPE#{sensor_type}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub() -> SubscriptionId {
        SubscriptionId::parse("sub-1").unwrap()
    }

    fn site() -> SiteId {
        SiteId::parse("plant-1").unwrap()
    }

    fn id(raw: &str) -> AlertId {
        AlertId::parse(raw).unwrap()
    }

    fn shards(count: u8) -> NonZeroU8 {
        NonZeroU8::new(count).unwrap()
    }

    /// ULIDs as ingest makes them: one batch, monotonic in its random part.
    fn alert_ids(count: usize) -> Vec<AlertId> {
        let mut ids = crate::ids::TimeOrderedIds::new(time::OffsetDateTime::UNIX_EPOCH);
        (0..count).map(|_| id(&ids.next_id())).collect()
    }

    #[test]
    fn the_shard_of_an_alert_is_a_stable_hash_of_its_id() {
        // Fixed values: a change of hash would strand every sharded entry already written.
        let four = shards(4);
        let found: Vec<u8> = [
            "01HQ0000000000000000000000",
            "01HQ0000000000000000000001",
            "01J5Z8K3M2N4P6Q8R0S2T4V6W8",
            "alert-1",
        ]
        .into_iter()
        .map(|raw| alert_shard(AlertStatus::New, &id(raw), four))
        .collect();
        // (SHA-256 of the id, its first 8 bytes big-endian, mod 4: computed independently)
        assert_eq!(found, [3, 1, 0, 0]);
    }

    #[test]
    fn the_same_alert_always_lands_in_the_same_shard_of_new() {
        for alert in alert_ids(50) {
            let first = alert_by_status(&sub(), AlertStatus::New, &alert, shards(4));
            let again = alert_by_status(&sub(), AlertStatus::New, &alert, shards(4));
            assert_eq!(first, again);
            assert_eq!(first.sk, alert.as_str());
            // one of the partitions a list of `new` reads, subscription-wide and at its site
            assert!(alerts_by_status(&sub(), AlertStatus::New, shards(4)).contains(&first.pk));
            let at_site =
                alert_by_site_status(&sub(), &site(), AlertStatus::New, &alert, shards(4));
            assert!(
                alerts_by_site_status(&sub(), &site(), AlertStatus::New, shards(4))
                    .contains(&at_site.pk)
            );
        }
    }

    #[test]
    fn alerts_of_one_batch_cover_every_shard_about_evenly() {
        for count in 1..=8u8 {
            let mut per_shard = vec![0usize; usize::from(count)];
            for alert in alert_ids(800) {
                let shard = alert_shard(AlertStatus::New, &alert, shards(count));
                per_shard[usize::from(shard)] += 1;
            }
            let fair = 800 / usize::from(count);
            assert!(
                per_shard.iter().all(|&n| n > fair / 2 && n < fair * 3 / 2),
                "{count} shards: {per_shard:?}"
            );
        }
    }

    #[test]
    fn only_new_is_sharded_and_shard_zero_is_the_unsharded_key() {
        assert_eq!(
            alerts_by_status(&sub(), AlertStatus::New, shards(4)),
            [
                "ALERTS#sub-1#STATUS#new",
                "ALERTS#sub-1#STATUS#new#1",
                "ALERTS#sub-1#STATUS#new#2",
                "ALERTS#sub-1#STATUS#new#3",
            ]
        );
        assert_eq!(
            alerts_by_site_status(&sub(), &site(), AlertStatus::New, shards(2)),
            [
                "ALERTS#sub-1#SITE#plant-1#STATUS#new",
                "ALERTS#sub-1#SITE#plant-1#STATUS#new#1",
            ]
        );
        // one shard: exactly the keys written before statuses had shards
        assert_eq!(
            alerts_by_status(&sub(), AlertStatus::New, shards(1)),
            ["ALERTS#sub-1#STATUS#new"]
        );
        for status in [AlertStatus::Active, AlertStatus::Closed] {
            assert_eq!(
                alerts_by_status(&sub(), status, shards(4)),
                [format!("ALERTS#sub-1#STATUS#{status}")]
            );
            assert_eq!(
                alerts_by_site_status(&sub(), &site(), status, shards(4)),
                [format!("ALERTS#sub-1#SITE#plant-1#STATUS#{status}")]
            );
            for alert in alert_ids(20) {
                assert_eq!(alert_shard(status, &alert, shards(4)), 0);
                assert_eq!(
                    alert_by_status(&sub(), status, &alert, shards(4)).pk,
                    format!("ALERTS#sub-1#STATUS#{status}")
                );
            }
        }
    }

    #[test]
    fn more_shards_keep_reading_every_shard_of_fewer() {
        // Raising the count never hides an entry written under a smaller one.
        for alert in alert_ids(100) {
            for fewer in 1..=4u8 {
                let written = alert_by_status(&sub(), AlertStatus::New, &alert, shards(fewer));
                for more in fewer..=8 {
                    assert!(
                        alerts_by_status(&sub(), AlertStatus::New, shards(more))
                            .contains(&written.pk)
                    );
                }
            }
        }
    }
}
