//! Sensors that went quiet. A sweep (every [`SWEEP_EVERY`] in `vigil serve`, on the
//! worker's schedule in the cloud) raises an operational alert for each sensor that had
//! connected and whose heartbeats stopped for [`DISCONNECTED_AFTER`] — the interval
//! after which the console shows it disconnected — without anyone loading a page; the
//! next sweep after it heartbeats again closes that alert. Each transition is also a
//! `sensor.disconnected` / `sensor.recovered` event for notification rules.
//!
//! `SUB#<sub>/OFFLINE#<sensor>` records an open offline alert, written with the alert
//! (`MustNotExist`, so two sweeps raise it once) and deleted with its closing.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use shared::model::{
    Alert, AlertId, AlertStatus, AlertTitle, DISCONNECTED_AFTER, DetectedAlert, Engine, EventKind,
    Protocol, SensorId, SensorLocation, Severity, SubscriptionId,
};
use time::OffsetDateTime;

use super::alert_item;
use crate::alert_counts::{self, CountChange};
use crate::http::error::{ApiError, ApiResult};
use crate::ids;
use crate::keys;
use crate::notifications::outbox::Outbox;
use crate::records::{self, SensorRecord, Versioned};
use crate::store::{Condition, Table, Write};

/// How often `vigil serve` sweeps.
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Offline {
    alert_id: AlertId,
    #[serde(with = "time::serde::rfc3339")]
    last_heartbeat: OffsetDateTime,
}

/// What a `sensor.disconnected` / `sensor.recovered` event carries.
#[derive(Debug, Serialize)]
struct SensorEvent<'a> {
    sensor_id: &'a SensorId,
    name: &'a str,
    site_id: &'a shared::model::SiteId,
    #[serde(with = "time::serde::rfc3339")]
    last_heartbeat: OffsetDateTime,
    alert_id: &'a AlertId,
}

/// Runs until aborted.
pub async fn run(table: std::sync::Arc<dyn Table>) {
    loop {
        if let Err(e) = sweep(table.as_ref(), OffsetDateTime::now_utc()).await {
            tracing::warn!(error = %e, "offline sensor sweep");
        }
        tokio::time::sleep(SWEEP_EVERY).await;
    }
}

/// One sweep of every subscription with sensors, as of `now`.
pub async fn sweep(table: &dyn Table, now: OffsetDateTime) -> ApiResult<()> {
    let mut query = keys::sensing_subscriptions_query(500);
    loop {
        let page = table.query(&query).await?;
        for mark in &page.items {
            let Ok(subscription) = SubscriptionId::parse(mark.key.sk.as_str()) else {
                continue;
            };
            if let Err(e) = sweep_subscription(table, &subscription, now).await {
                tracing::warn!(%subscription, error = %e, "offline sweep of a subscription");
            }
        }
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return Ok(()),
        }
    }
}

async fn sweep_subscription(
    table: &dyn Table,
    subscription: &SubscriptionId,
    now: OffsetDateTime,
) -> ApiResult<()> {
    let sensors: Vec<SensorRecord> =
        records::read_all(table, keys::sensors_query(subscription, 500)).await?;
    let found = table
        .query(&keys::sensors_offline_query(subscription, 1000))
        .await?;
    let mut offline: HashMap<String, (Offline, u64)> = HashMap::new();
    for item in &found.items {
        let sensor = item.key.sk.trim_start_matches("OFFLINE#").to_owned();
        offline.insert(sensor, (records::decode(item)?, item.version));
    }
    let outbox = Outbox::for_subscription(table, subscription).await?;
    for sensor in &sensors {
        // A sensor that never connected is not "offline": it was never online.
        let Some(last_heartbeat) = sensor.state.last_heartbeat else {
            continue;
        };
        let quiet = now - last_heartbeat > DISCONNECTED_AFTER;
        match (quiet, offline.get(sensor.id.as_str())) {
            (true, None) => raise(table, &outbox, sensor, last_heartbeat, now).await?,
            (false, Some((record, version))) => {
                recover(table, &outbox, sensor, record, *version, now).await?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// Raises the sensor's operational alert, with its offline record and event.
async fn raise(
    table: &dyn Table,
    outbox: &Outbox,
    sensor: &SensorRecord,
    last_heartbeat: OffsetDateTime,
    now: OffsetDateTime,
) -> ApiResult<()> {
    let subscription = &sensor.subscription_id;
    let detected = DetectedAlert {
        title: AlertTitle::parse(&format!(
            "Sensor {} stopped sending heartbeats",
            sensor.name
        ))
        .map_err(internal)?,
        severity: Severity::Major,
        engine: Engine::Operational,
        // The sensor's own traffic: no network flow of the monitored network.
        source_ip: std::net::Ipv4Addr::UNSPECIFIED.into(),
        destination_ip: std::net::Ipv4Addr::UNSPECIFIED.into(),
        protocol: Protocol::parse("Sensor heartbeat").map_err(internal)?,
        learnable: false,
        pcap_base64: None,
    };
    let id = AlertId::parse(ids::time_ordered(now)).map_err(internal)?;
    let location = SensorLocation {
        sensor_id: sensor.id.clone(),
        site_id: sensor.site_id.clone(),
        zone_id: sensor.zone_id.clone(),
    };
    let alert = Alert::raised(id.clone(), location, &detected, now);
    let mut writes = vec![
        Write::Put {
            item: alert_item(subscription, &alert, table.index_shards())?,
            condition: Condition::MustNotExist,
        },
        Write::Put {
            item: records::item(
                keys::sensor_offline(subscription, &sensor.id),
                &Offline {
                    alert_id: id.clone(),
                    last_heartbeat,
                },
            )?,
            condition: Condition::MustNotExist,
        },
    ];
    let event = SensorEvent {
        sensor_id: &sensor.id,
        name: sensor.name.as_str(),
        site_id: &sensor.site_id,
        last_heartbeat,
        alert_id: &id,
    };
    writes.extend(outbox.alert_created(&alert, now)?);
    writes.extend(outbox.event(
        EventKind::SensorDisconnected,
        &format!("{id}-disconnected"),
        &event,
        &sensor.site_id,
        None,
        now,
    )?);
    // A failed condition: another sweep raised it first.
    alert_counts::transact_counted(
        table,
        writes,
        subscription,
        &sensor.site_id,
        &CountChange::raised([&alert]),
    )
    .await?;
    Ok(())
}

/// Closes the sensor's operational alert (unless someone did already), removes its
/// offline record and announces the recovery.
async fn recover(
    table: &dyn Table,
    outbox: &Outbox,
    sensor: &SensorRecord,
    offline: &Offline,
    offline_version: u64,
    now: OffsetDateTime,
) -> ApiResult<()> {
    let subscription = &sensor.subscription_id;
    let key = keys::alert(subscription, &offline.alert_id);
    let stored: Option<Versioned<Alert>> = records::read(table, &key).await?;
    let mut writes = vec![Write::Delete {
        key: keys::sensor_offline(subscription, &sensor.id),
        condition: Condition::VersionIs(offline_version),
    }];
    let mut counted = CountChange::default();
    if let Some(stored) = stored.filter(|s| s.record.status != AlertStatus::Closed) {
        let mut closed = stored.record.clone();
        closed
            .change_status(AlertStatus::Closed, None)
            .map_err(internal)?;
        counted = CountChange::rewritten(&stored.record, &closed);
        writes.push(Write::Put {
            item: alert_item(subscription, &closed, table.index_shards())?,
            condition: Condition::VersionIs(stored.version),
        });
    }
    let event = SensorEvent {
        sensor_id: &sensor.id,
        name: sensor.name.as_str(),
        site_id: &sensor.site_id,
        last_heartbeat: sensor.state.last_heartbeat.unwrap_or(now),
        alert_id: &offline.alert_id,
    };
    writes.extend(outbox.event(
        EventKind::SensorRecovered,
        &ids::time_ordered(now),
        &event,
        &sensor.site_id,
        None,
        now,
    )?);
    // A failed condition (someone changed the alert meanwhile): the next sweep decides again.
    alert_counts::transact_counted(table, writes, subscription, &sensor.site_id, &counted).await?;
    Ok(())
}
