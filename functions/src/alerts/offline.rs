//! Sensors that went quiet, or unhealthy. A sweep (every [`SWEEP_EVERY`] in `vigil serve`, on the
//! worker's schedule in the cloud) raises an operational alert for each sensor that had
//! connected and whose heartbeats stopped for `DISCONNECTED_AFTER` — the interval
//! after which the console shows it disconnected — without anyone loading a page; the
//! next sweep after it heartbeats again closes that alert. A connected sensor reporting
//! itself unhealthy (or issues) is recorded too. Each transition is an event for
//! notification rules: `sensor.disconnected`, `sensor.unhealthy`, `sensor.recovered`.
//!
//! `SUB#<sub>/OFFLINE#<sensor>` records an open offline alert, written with the alert
//! (`MustNotExist`, so two sweeps raise it once) and deleted with its closing.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use shared::model::{
    Alert, AlertId, AlertStatus, AlertTitle, DetectedAlert, Engine, EventKind, HealthFinding,
    Protocol, SensorHealth, SensorId, SensorLocation, Severity, SubscriptionId,
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

/// A connected sensor found unhealthy (`SUB#<sub>/UNHEALTHY#<sensor>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Unhealthy {
    findings: Vec<HealthFinding>,
}

/// What a sensor's condition was, as its events name it.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
enum SensorCondition {
    Disconnected,
    Unhealthy,
}

/// What a `sensor.*` event carries.
#[derive(Debug, Serialize)]
struct SensorEvent<'a> {
    sensor_id: &'a SensorId,
    name: &'a str,
    site_id: &'a shared::model::SiteId,
    /// What it entered, or (`sensor.recovered`) what it left.
    condition: SensorCondition,
    #[serde(with = "time::serde::rfc3339")]
    last_heartbeat: OffsetDateTime,
    /// The operational alert of a disconnection.
    alert_id: Option<&'a AlertId>,
    /// Why it is unhealthy.
    findings: &'a [HealthFinding],
}

impl<'a> SensorEvent<'a> {
    fn of(
        sensor: &'a SensorRecord,
        condition: SensorCondition,
        last_heartbeat: OffsetDateTime,
    ) -> Self {
        SensorEvent {
            sensor_id: &sensor.id,
            name: sensor.name.as_str(),
            site_id: &sensor.site_id,
            condition,
            last_heartbeat,
            alert_id: None,
            findings: &[],
        }
    }
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
    let marked =
        records::marked_subscriptions(table, keys::sensing_subscriptions_query(500)).await?;
    for subscription in marked {
        if let Err(e) = sweep_subscription(table, &subscription, now).await {
            tracing::warn!(%subscription, error = %e, "offline sweep of a subscription");
        }
    }
    Ok(())
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
    let offline: HashMap<String, (Offline, u64)> = by_sensor(&found.items, "OFFLINE#")?;
    let found = table
        .query(&keys::sensors_unhealthy_query(subscription, 1000))
        .await?;
    let unhealthy: HashMap<String, (Unhealthy, u64)> = by_sensor(&found.items, "UNHEALTHY#")?;
    let outbox = Outbox::for_subscription(table, subscription).await?;
    for sensor in &sensors {
        // A sensor that never connected is not "offline": it was never online.
        let Some(last_heartbeat) = sensor.state.last_heartbeat else {
            continue;
        };
        let health = sensor.state.health(now);
        let quiet = health.health == SensorHealth::Disconnected;
        match (quiet, offline.get(sensor.id.as_str())) {
            (true, None) => raise(table, &outbox, sensor, last_heartbeat, now).await?,
            (false, Some((record, version))) => {
                recover(table, &outbox, sensor, record, *version, now).await?;
            }
            _ => {}
        }
        // While it is disconnected, its last report stands.
        let sick = health.health == SensorHealth::Unhealthy;
        let key = keys::sensor_unhealthy(subscription, &sensor.id);
        let change = match (sick, unhealthy.get(sensor.id.as_str())) {
            (true, None) => {
                let event = SensorEvent {
                    findings: &health.findings,
                    ..SensorEvent::of(sensor, SensorCondition::Unhealthy, last_heartbeat)
                };
                let record = Unhealthy {
                    findings: health.findings.clone(),
                };
                Some((
                    Write::Put {
                        item: records::item(key, &record)?,
                        condition: Condition::MustNotExist,
                    },
                    EventKind::SensorUnhealthy,
                    serde_json::to_value(&event).map_err(internal)?,
                ))
            }
            (false, Some((_, version))) if !quiet => Some((
                Write::Delete {
                    key,
                    condition: Condition::VersionIs(*version),
                },
                EventKind::SensorRecovered,
                serde_json::to_value(SensorEvent::of(
                    sensor,
                    SensorCondition::Unhealthy,
                    last_heartbeat,
                ))
                .map_err(internal)?,
            )),
            _ => None,
        };
        if let Some((write, kind, event)) = change {
            let mut writes = vec![write];
            let id = ids::time_ordered(now);
            writes.extend(outbox.event(kind, &id, &event, &sensor.site_id, None, now)?);
            // A failed condition: another sweep recorded it first.
            match table.transact(writes).await {
                Ok(_) | Err(crate::store::StoreError::ConditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// Records of one kind in the subscription's partition, by the sensor their key names.
fn by_sensor<T: serde::de::DeserializeOwned>(
    items: &[crate::store::Item],
    prefix: &str,
) -> ApiResult<HashMap<String, (T, u64)>> {
    items
        .iter()
        .map(|item| {
            let sensor = item.key.sk.trim_start_matches(prefix).to_owned();
            Ok((sensor, (records::decode(item)?, item.version)))
        })
        .collect()
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
        alert_id: Some(&id),
        ..SensorEvent::of(sensor, SensorCondition::Disconnected, last_heartbeat)
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
        alert_id: Some(&offline.alert_id),
        ..SensorEvent::of(
            sensor,
            SensorCondition::Disconnected,
            sensor.state.last_heartbeat.unwrap_or(now),
        )
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
