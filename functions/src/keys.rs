//! Where each kind of item lives in the one table (see `docs/data-model.md`).
//! Key formats are written here and nowhere else.

use std::num::NonZeroU8;

use sha2::{Digest, Sha256};
use shared::authz::PrincipalRef;
use shared::model::{
    AlertId, AlertStatus, ApiTokenId, DeviceId, NotificationRuleId, PlanId, PlanKind, RuleId,
    SensorId, SensorType, SiteId, SubscriptionId, WebhookEndpointId, ZoneId,
};

use time::Date;

use crate::store::{Key, Query, SortKeyRange};

/// A subscription and its authorization policy (assignments, custom roles, device
/// groups): one item, so a request is authorized with one read and every policy
/// change is one conditional write.
pub fn subscription(id: &SubscriptionId) -> Key {
    Key::new(subscription_partition(id), "META")
}

/// The policy's head: the version of the subscription item, written with it, so a
/// request can tell whether a policy it read before is still current with a read of
/// ~100 bytes (`access::authorize`).
pub fn policy_head(id: &SubscriptionId) -> Key {
    Key::new(subscription_partition(id), "POLICY")
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

/// An API token's record, by the secret's SHA-256 (see `http::principal`): what
/// authentication reads, so deleting it revokes the token at once.
pub fn api_token(token_hash: &str) -> Key {
    Key::new(format!("TOKEN#{token_hash}"), "API")
}

/// An API token's entry in its subscription's partition, naming its record's key.
pub fn api_token_entry(subscription: &SubscriptionId, token: &ApiTokenId) -> Key {
    Key::new(
        subscription_partition(subscription),
        format!("{API_TOKEN_PREFIX}{token}"),
    )
}

const API_TOKEN_PREFIX: &str = "APITOKEN#";

/// The API token entries of a subscription.
pub fn api_token_entries_query(subscription: &SubscriptionId, limit: u32) -> Query {
    Query {
        range: SortKeyRange::BeginsWith(API_TOKEN_PREFIX.to_owned()),
        limit,
        ..Query::partition(subscription_partition(subscription))
    }
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

/// Entry `n` of what the write that made version `version` of an alert recorded on its
/// timeline, next to the alert. Every change of the alert bumps its version
/// (conditionally), so the sort keys order the timeline exactly, concurrent writers
/// included: the version is zero-padded to sort as a number.
pub fn alert_event(subscription: &SubscriptionId, alert: &AlertId, version: u64, n: u8) -> Key {
    Key::new(
        alert_partition(subscription, alert),
        format!("{ALERT_EVENT_PREFIX}{version:020}#{n}"),
    )
}

/// An alert's timeline, oldest first, `limit` per page.
pub fn alert_events_query(subscription: &SubscriptionId, alert: &AlertId, limit: u32) -> Query {
    Query {
        range: SortKeyRange::BeginsWith(ALERT_EVENT_PREFIX.to_owned()),
        limit,
        ..Query::partition(alert_partition(subscription, alert))
    }
}

const ALERT_EVENT_PREFIX: &str = "EVENT#";

/// The partition of a subscription's suppression rules (`RULE#<id>`) and of their hit
/// counters (`HITS#<rule>#<sensor>`, one per sensor that hit the rule, written by that
/// sensor's ingest).
fn rules_partition(subscription: &SubscriptionId) -> String {
    format!("RULES#{subscription}")
}

pub fn suppression_rule(subscription: &SubscriptionId, rule: &RuleId) -> Key {
    Key::new(
        rules_partition(subscription),
        format!("{RULE_PREFIX}{rule}"),
    )
}

/// Every rule of a subscription, oldest first (ids are time-ordered).
pub fn suppression_rules_query(subscription: &SubscriptionId) -> Query {
    Query {
        range: SortKeyRange::BeginsWith(RULE_PREFIX.to_owned()),
        limit: 1_000,
        ..Query::partition(rules_partition(subscription))
    }
}

/// How often one sensor's ingest hit `rule`.
pub fn rule_hits(subscription: &SubscriptionId, rule: &RuleId, sensor: &SensorId) -> Key {
    Key::new(
        rules_partition(subscription),
        format!("{HITS_PREFIX}{rule}#{sensor}"),
    )
}

/// Every hit counter of a subscription's rules.
pub fn rule_hits_query(subscription: &SubscriptionId) -> Query {
    Query {
        range: SortKeyRange::BeginsWith(HITS_PREFIX.to_owned()),
        limit: 1_000,
        ..Query::partition(rules_partition(subscription))
    }
}

/// The rule a hit counter counts for, from its sort key.
pub fn rule_of_hits(sort_key: &str) -> Option<RuleId> {
    let (rule, _) = sort_key.strip_prefix(HITS_PREFIX)?.split_once('#')?;
    RuleId::parse(rule).ok()
}

const RULE_PREFIX: &str = "RULE#";
const HITS_PREFIX: &str = "HITS#";

/// A subscription's close reasons for alerts (absent: the defaults).
pub fn alert_close_reasons(subscription: &SubscriptionId) -> Key {
    Key::new(format!("ALERTREASONS#{subscription}"), "REASONS")
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

/// One fingerprint of a sensor (`records::FingerprintEntry`): the latest alert raised
/// for it and whether it was learned (a baseline). One item per fingerprint, found by
/// its digest, so a batch reads and writes only the fingerprints it carries.
pub fn alert_fingerprint(subscription: &SubscriptionId, sensor: &SensorId, digest: &str) -> Key {
    Key::new(
        alert_fingerprints_partition(subscription, sensor),
        format!("FP#{digest}"),
    )
}

/// The partition of a sensor's fingerprints, and of its legacy buckets.
pub fn alert_fingerprints_partition(subscription: &SubscriptionId, sensor: &SensorId) -> String {
    format!("ALERTFP#{subscription}#{sensor}")
}

/// The sort key prefix of the legacy fingerprint buckets (`BUCKET#00`…`BUCKET#63`, each
/// a `records::FingerprintBucketRecord`): the layout before one item per fingerprint.
pub const LEGACY_FINGERPRINT_BUCKET: &str = "BUCKET#";

// ----- Alert counters (the summary; see docs/data-model.md, "Alert counters") -----

/// How many counter items ("shards") each of a site's counts is spread over. A write
/// picks one at random and reads and rewrites only it (`VersionIs`), so concurrent
/// ingests at one site rarely touch the same item; a read sums them all. Fixed for the
/// table's life, and never lowered: the counts in the shards dropped would be lost.
pub const ALERT_COUNT_SHARDS: u8 = 8;

/// The partition of one site's alert counters: its open alerts per severity
/// ([`alert_open_counts`]) and its alerts first detected per UTC day
/// ([`alert_day_counts`]), each spread over [`ALERT_COUNT_SHARDS`] items.
pub fn alert_counts_partition(subscription: &SubscriptionId, site: &SiteId) -> String {
    format!("ALERTCOUNT#{subscription}#SITE#{site}")
}

/// Shard `shard` of a site's open alerts (status `new` or `active`) per severity.
pub fn alert_open_counts(subscription: &SubscriptionId, site: &SiteId, shard: u8) -> Key {
    Key::new(
        alert_counts_partition(subscription, site),
        format!("{OPEN_COUNTS_PREFIX}{shard}"),
    )
}

/// Shard `shard` of the alerts first detected at a site on UTC day `day`, per severity.
pub fn alert_day_counts(subscription: &SubscriptionId, site: &SiteId, day: Date, shard: u8) -> Key {
    Key::new(
        alert_counts_partition(subscription, site),
        format!("{DAY_COUNTS_PREFIX}{}#{shard}", day_key(day)),
    )
}

/// Shard `shard` of the alerts one sensor raised at a site, per status, severity,
/// engine and title (the groups of `GET …/alerts/counts`). Sorts before `DAY#…`, so
/// outside [`alert_counts_query`].
pub fn alert_group_counts(
    subscription: &SubscriptionId,
    site: &SiteId,
    sensor: &SensorId,
    shard: u8,
) -> Key {
    Key::new(
        alert_counts_partition(subscription, site),
        format!("{GROUP_COUNTS_PREFIX}{sensor}#{shard}"),
    )
}

/// The one query reading a site's group counters ([`alert_group_counts`]), or only one
/// sensor's: at most [`ALERT_COUNT_SHARDS`] items per sensor, whatever the number of
/// alerts.
pub fn alert_group_counts_query(
    subscription: &SubscriptionId,
    site: &SiteId,
    sensor: Option<&SensorId>,
) -> Query {
    let prefix = match sensor {
        Some(sensor) => format!("{GROUP_COUNTS_PREFIX}{sensor}#"),
        None => GROUP_COUNTS_PREFIX.to_owned(),
    };
    Query {
        range: SortKeyRange::BeginsWith(prefix),
        limit: 1_000,
        ..Query::partition(alert_counts_partition(subscription, site))
    }
}

/// The site and sensor of a group counter, from its key (`None`: not one).
pub fn alert_group_counter(key: &Key) -> Option<(SiteId, SensorId)> {
    let (_, site) = key.pk.strip_prefix("ALERTCOUNT#")?.split_once("#SITE#")?;
    let (sensor, shard) = key.sk.strip_prefix(GROUP_COUNTS_PREFIX)?.rsplit_once('#')?;
    shard.parse::<u8>().ok()?;
    Some((SiteId::parse(site).ok()?, SensorId::parse(sensor).ok()?))
}

const GROUP_COUNTS_PREFIX: &str = "CELLS#";
const OPEN_COUNTS_PREFIX: &str = "OPEN#";
const DAY_COUNTS_PREFIX: &str = "DAY#";

/// `YYYYMMDD`: fixed width, so days sort as dates.
fn day_key(day: Date) -> String {
    format!(
        "{:04}{:02}{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// The one query reading a site's counters for a summary: every shard of its day
/// counts from `since` on, then every shard of its open counts (`DAY#…` < `OPEN#…`), at
/// most ([`ALERT_COUNT_SHARDS`] × (days + 1)) items, whatever the number of alerts.
/// Days after today (a clock ahead) are read too and skipped by the reader.
pub fn alert_counts_query(subscription: &SubscriptionId, site: &SiteId, since: Date) -> Query {
    Query {
        range: SortKeyRange::Between(
            format!("{DAY_COUNTS_PREFIX}{}", day_key(since)),
            format!("{OPEN_COUNTS_PREFIX}~"),
        ),
        limit: 1_000,
        ..Query::partition(alert_counts_partition(subscription, site))
    }
}

/// What a counter item of [`alert_counts_partition`] counts, from its sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertCounter {
    Open,
    Day(Date),
}

/// Reads a counter's sort key (`None`: not a counter's).
pub fn alert_counter(sort_key: &str) -> Option<AlertCounter> {
    if let Some(shard) = sort_key.strip_prefix(OPEN_COUNTS_PREFIX) {
        return shard.parse::<u8>().ok().map(|_| AlertCounter::Open);
    }
    let rest = sort_key.strip_prefix(DAY_COUNTS_PREFIX)?;
    let (day, shard) = rest.split_once('#')?;
    shard.parse::<u8>().ok()?;
    if day.len() != 8 || !day.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| day.get(range)?.parse::<u32>().ok();
    let year = i32::try_from(number(0..4)?).ok()?;
    let month = time::Month::try_from(u8::try_from(number(4..6)?).ok()?).ok()?;
    let date = Date::from_calendar_date(year, month, u8::try_from(number(6..8)?).ok()?).ok()?;
    Some(AlertCounter::Day(date))
}

/// Marks that a site has alert counters: written with the first counter item of each
/// shard, so a caller who views every site finds the counters of every site that ever
/// had an alert — deleted sites included, whose alerts stay as history.
pub fn alert_counted_site(subscription: &SubscriptionId, site: &SiteId) -> Key {
    Key::new(
        format!("ALERTCOUNT#{subscription}"),
        format!("{SITE_PREFIX}{site}"),
    )
}

/// Every site with alert counters, `limit` per page (body: the site id).
pub fn alert_counted_sites_query(subscription: &SubscriptionId, limit: u32) -> Query {
    Query {
        range: SortKeyRange::BeginsWith(SITE_PREFIX.to_owned()),
        limit,
        ..Query::partition(format!("ALERTCOUNT#{subscription}"))
    }
}

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

/// Chunk `n` of a sensor's diagnostics archive, in a partition of its own so that the
/// sensors' list never reads it.
pub fn sensor_diagnostics(subscription: &SubscriptionId, sensor: &SensorId, n: usize) -> Key {
    Key::new(
        format!("SENSORDIAG#{subscription}#{sensor}"),
        format!("CHUNK#{n}"),
    )
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

// ----- Sensors that went quiet (see `alerts::offline`) -----

const SENSING: &str = "SENSING";

/// Marks a subscription that has (had) sensors, for the offline sweep to visit;
/// written with each onboarding.
pub fn sensing_subscription(subscription: &SubscriptionId) -> Key {
    Key::new(SENSING, subscription.as_str())
}

pub fn sensing_subscriptions_query(limit: u32) -> Query {
    Query {
        limit,
        ..Query::partition(SENSING)
    }
}

const SENSOR_OFFLINE_PREFIX: &str = "OFFLINE#";

/// A sensor found disconnected, with its open operational alert.
pub fn sensor_offline(subscription: &SubscriptionId, sensor: &SensorId) -> Key {
    Key::new(
        subscription_partition(subscription),
        format!("{SENSOR_OFFLINE_PREFIX}{sensor}"),
    )
}

pub fn sensors_offline_query(subscription: &SubscriptionId, limit: u32) -> Query {
    Query {
        range: SortKeyRange::BeginsWith(SENSOR_OFFLINE_PREFIX.to_owned()),
        limit,
        ..Query::partition(subscription_partition(subscription))
    }
}

const SENSOR_UNHEALTHY_PREFIX: &str = "UNHEALTHY#";

/// A connected sensor found unhealthy.
pub fn sensor_unhealthy(subscription: &SubscriptionId, sensor: &SensorId) -> Key {
    Key::new(
        subscription_partition(subscription),
        format!("{SENSOR_UNHEALTHY_PREFIX}{sensor}"),
    )
}

pub fn sensors_unhealthy_query(subscription: &SubscriptionId, limit: u32) -> Query {
    Query {
        range: SortKeyRange::BeginsWith(SENSOR_UNHEALTHY_PREFIX.to_owned()),
        limit,
        ..Query::partition(subscription_partition(subscription))
    }
}

pub fn sensors_query(subscription: &SubscriptionId, limit: u32) -> Query {
    Query {
        limit,
        ..Query::partition(sensor_partition(subscription))
    }
}

// ----- Notifications (see `notifications`) -----

/// A subscription's webhook endpoints (with their signing secrets) and notification
/// rules: one item, read once per ingest batch.
pub fn notification_config(subscription: &SubscriptionId) -> Key {
    Key::new(subscription_partition(subscription), "NOTIFY")
}

const NOTIFYING: &str = "NOTIFYING";

/// Marks a subscription that has notification settings, for the worker to visit.
pub fn notifying_subscription(subscription: &SubscriptionId) -> Key {
    Key::new(NOTIFYING, subscription.as_str())
}

pub fn notifying_subscriptions_query(limit: u32) -> Query {
    Query {
        limit,
        ..Query::partition(NOTIFYING)
    }
}

/// How far the worker has streamed the subscription's audit log.
pub fn audit_stream_cursor(subscription: &SubscriptionId) -> Key {
    Key::new(subscription_partition(subscription), "NOTIFY#AUDIT")
}

/// How far a rule's escalation of unacknowledged alerts has looked.
pub fn escalation_cursor(subscription: &SubscriptionId, rule: &NotificationRuleId) -> Key {
    Key::new(
        subscription_partition(subscription),
        format!("NOTIFY#ESCALATE#{rule}"),
    )
}

/// Which plans the worker last found over-committed, and when it looked.
pub fn plan_watch(subscription: &SubscriptionId) -> Key {
    Key::new(subscription_partition(subscription), "NOTIFY#PLANS")
}

fn outbox_partition(subscription: &SubscriptionId) -> String {
    format!("OUTBOX#{subscription}")
}

/// An event waiting to be routed to endpoints, written in the transaction that caused
/// it; its sort key is the (time-ordered) event id.
pub fn outbox_event(subscription: &SubscriptionId, event: &str) -> Key {
    Key::new(outbox_partition(subscription), event)
}

pub fn outbox_query(subscription: &SubscriptionId, limit: u32) -> Query {
    Query {
        limit,
        ..Query::partition(outbox_partition(subscription))
    }
}

fn delivery_partition(subscription: &SubscriptionId) -> String {
    format!("DELIVERY#{subscription}")
}

/// One event's delivery to one endpoint, as the delivery log lists it (by event id, so
/// by time). Written `MustNotExist`: an event reaches an endpoint's queue once.
pub fn delivery(subscription: &SubscriptionId, event: &str, endpoint: &WebhookEndpointId) -> Key {
    Key::new(
        delivery_partition(subscription),
        format!("{event}#{endpoint}"),
    )
}

pub fn deliveries_query(subscription: &SubscriptionId, limit: u32) -> Query {
    Query {
        limit,
        descending: true,
        ..Query::partition(delivery_partition(subscription))
    }
}

fn pending_partition(subscription: &SubscriptionId) -> String {
    format!("PENDING#{subscription}")
}

/// A delivery not yet done, in its endpoint's queue: by endpoint, then event id, so an
/// endpoint's events are sent in order.
pub fn pending_delivery(
    subscription: &SubscriptionId,
    endpoint: &WebhookEndpointId,
    event: &str,
) -> Key {
    Key::new(
        pending_partition(subscription),
        format!("{endpoint}#{event}"),
    )
}

pub fn pending_deliveries_query(subscription: &SubscriptionId, limit: u32) -> Query {
    Query {
        limit,
        ..Query::partition(pending_partition(subscription))
    }
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
    fn a_sites_counters_sort_days_in_date_order_before_the_open_counts() {
        let day = |y, m, d| {
            time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), d).unwrap()
        };
        let open = alert_open_counts(&sub(), &site(), 3);
        assert_eq!(open.pk, "ALERTCOUNT#sub-1#SITE#plant-1");
        assert_eq!(open.sk, "OPEN#3");
        let first = alert_day_counts(&sub(), &site(), day(2024, 2, 29), 7);
        assert_eq!(first.pk, open.pk);
        assert_eq!(first.sk, "DAY#20240229#7");
        let later = alert_day_counts(&sub(), &site(), day(2024, 3, 1), 0);
        let much_later = alert_day_counts(&sub(), &site(), day(2025, 1, 10), 0);
        assert!(first.sk < later.sk && later.sk < much_later.sk && much_later.sk < open.sk);
        // the summary's query covers the days from `since` on and the open counts
        let query = alert_counts_query(&sub(), &site(), day(2024, 3, 1));
        assert_eq!(query.pk, open.pk);
        let SortKeyRange::Between(low, high) = &query.range else {
            panic!("{query:?}")
        };
        for inside in [&later.sk, &much_later.sk, &open.sk] {
            assert!(low <= inside && inside <= high, "{inside}");
        }
        assert!(&first.sk < low);
        for shard in 0..ALERT_COUNT_SHARDS {
            let sk = alert_open_counts(&sub(), &site(), shard).sk;
            assert!(low <= &sk && &sk <= high, "{sk}");
        }
        assert!(usize::try_from(query.limit).unwrap() >= usize::from(ALERT_COUNT_SHARDS) * 31);
        // and the sort keys read back
        assert_eq!(alert_counter(&open.sk), Some(AlertCounter::Open));
        assert_eq!(
            alert_counter(&first.sk),
            Some(AlertCounter::Day(day(2024, 2, 29)))
        );
        for other in [
            "OPEN#",
            "OPEN#x",
            "DAY#2024022#1",
            "DAY#20240230#1",
            "DAY#20240229",
            "SITE#a",
        ] {
            assert_eq!(alert_counter(other), None, "{other}");
        }
        // the sites with counters are apart from any site's counters
        let counted = alert_counted_site(&sub(), &site());
        assert_eq!(counted.pk, "ALERTCOUNT#sub-1");
        assert_eq!(counted.sk, "SITE#plant-1");
        assert_eq!(alert_counted_sites_query(&sub(), 10).pk, counted.pk);
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
