//! Where each kind of item lives in the one table (see `docs/data-model.md`).
//! Key formats are written here and nowhere else.

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

/// GSI1 of an alert: the subscription's alerts of one status, by id (time-ordered).
pub fn alert_by_status(subscription: &SubscriptionId, status: AlertStatus, alert: &AlertId) -> Key {
    Key::new(alerts_by_status(subscription, status), alert.as_str())
}

pub fn alerts_by_status(subscription: &SubscriptionId, status: AlertStatus) -> String {
    format!("ALERTS#{subscription}#STATUS#{status}")
}

/// GSI2 of an alert: one site's alerts of one status, by id (time-ordered).
pub fn alert_by_site_status(
    subscription: &SubscriptionId,
    site: &SiteId,
    status: AlertStatus,
    alert: &AlertId,
) -> Key {
    Key::new(
        alerts_by_site_status(subscription, site, status),
        alert.as_str(),
    )
}

pub fn alerts_by_site_status(
    subscription: &SubscriptionId,
    site: &SiteId,
    status: AlertStatus,
) -> String {
    format!("ALERTS#{subscription}#SITE#{site}#STATUS#{status}")
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
