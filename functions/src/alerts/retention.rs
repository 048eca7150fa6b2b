//! Retention of alerts: an alert not detected for `ALERT_RETENTION` (90 days) is
//! removed with its capture, its timeline and its counts, and its fingerprint forgets it
//! (a learned baseline stays learned: its traffic is still expected). Its traffic, seen
//! again, raises a new alert. Run by [`crate::retention`].
//!
//! The candidates are read from the subscription's status lists (GSI1, ordered by the
//! time-ordered id, so only ids from before the cut-off are read); each is checked on
//! its own last detection, since an old alert may still be refreshed.

use shared::model::{Alert, AlertStatus, SubscriptionId};
use time::OffsetDateTime;

use super::fingerprints;
use crate::alert_counts::{self, CountChange, Counted};
use crate::http::error::ApiResult;
use crate::records::{self, Versioned};
use crate::store::{Condition, Index, MAX_TRANSACTION_OPS, Query, SortKeyRange, Table, Write};
use crate::{ids, keys};

/// Removes the expired alerts of `subscription` as of `now`; returns how many.
pub async fn sweep_subscription(
    table: &dyn Table,
    subscription: &SubscriptionId,
    now: OffsetDateTime,
) -> ApiResult<usize> {
    let cutoff = now - shared::model::ALERT_RETENTION;
    let (oldest, newest) = ids::time_ordered_range(None, Some(cutoff));
    let mut removed = 0;
    for status in AlertStatus::ALL {
        for partition in keys::alerts_by_status(subscription, status, table.index_shards()) {
            let mut query = Query {
                index: Some(Index::Gsi1),
                range: SortKeyRange::Between(oldest.clone(), newest.clone()),
                limit: 100,
                ..Query::partition(partition)
            };
            loop {
                let page = table.query(&query).await?;
                for item in &page.items {
                    let alert: Alert = records::decode(item)?;
                    if alert.is_expired(now) {
                        let stored = Versioned {
                            record: alert,
                            version: item.version,
                        };
                        if remove(table, subscription, &stored).await? {
                            removed += 1;
                        }
                    }
                }
                match page.next_cursor {
                    Some(cursor) => query.cursor = Some(cursor),
                    None => break,
                }
            }
        }
    }
    Ok(removed)
}

/// Removes one alert as read; `false` when it changed meanwhile (it stays, and the next
/// sweep looks again).
async fn remove(
    table: &dyn Table,
    subscription: &SubscriptionId,
    stored: &Versioned<Alert>,
) -> ApiResult<bool> {
    let alert = &stored.record;
    // The timeline first, in transactions of its own: an alert is never gone while
    // entries of it are left behind where nothing lists them.
    let events = keys::alert_events_query(subscription, &alert.id, MAX_TRANSACTION_OPS as u32);
    loop {
        let page = table.query(&events).await?;
        if page.items.is_empty() {
            break;
        }
        let deletes = page
            .items
            .into_iter()
            .map(|item| Write::Delete {
                key: item.key,
                condition: Condition::Always,
            })
            .collect();
        table.transact(deletes).await?;
    }
    let mut writes = vec![
        Write::Delete {
            key: keys::alert(subscription, &alert.id),
            condition: Condition::VersionIs(stored.version),
        },
        Write::Delete {
            key: keys::alert_pcap(subscription, &alert.id),
            condition: Condition::Always,
        },
    ];
    writes.extend(forget_fingerprint(table, subscription, alert).await?);
    let counted = alert_counts::transact_counted(
        table,
        writes,
        subscription,
        &alert.site_id,
        &CountChange::removed(alert),
    )
    .await?;
    Ok(matches!(counted, Counted::Committed(_)))
}

/// The write that makes the alert's fingerprint stop naming it, when it names it: the
/// fingerprint is deleted, or, learned, kept as a baseline without its alert.
async fn forget_fingerprint(
    table: &dyn Table,
    subscription: &SubscriptionId,
    alert: &Alert,
) -> ApiResult<Option<Write>> {
    let digest = fingerprints::digest(&alert.fingerprint());
    fingerprints::migrate_buckets(table, subscription, &alert.sensor_id).await?;
    let stored = fingerprints::read(table, subscription, &alert.sensor_id, &[&digest])
        .await?
        .pop()
        .flatten();
    let Some(stored) = stored else {
        return Ok(None);
    };
    if stored.record.latest.as_ref() != Some(&alert.id) {
        return Ok(None);
    }
    let key = keys::alert_fingerprint(subscription, &alert.sensor_id, &digest);
    let condition = Condition::VersionIs(stored.version);
    if stored.record.learned_at.is_none() {
        return Ok(Some(Write::Delete { key, condition }));
    }
    let mut baseline = stored.record;
    baseline.latest = None;
    Ok(Some(Write::Put {
        item: records::item(key, &baseline)?,
        condition,
    }))
}
