//! Alert counters: what `GET …/alerts/summary` and `GET …/alerts/counts` read, kept on
//! write.
//!
//! Per site, the open alerts (status `new` or `active`) per severity, the alerts first
//! detected per UTC day per severity, and per sensor the alerts of each group (status,
//! severity, engine, title), each spread over [`keys::ALERT_COUNT_SHARDS`] items. Every write that moves a count (ingest raising alerts, a status change, learn)
//! adds its [`CountChange`] to one shard picked at random, in the same transaction as the
//! change itself ([`transact_counted`]), conditional on the version of the shard read: so
//! the counts are exact, and concurrent writers at a site mostly touch different items.
//! A summary reads one query per site, whatever the number of alerts.
//! Key design: `docs/data-model.md`, "Alert counters".

use std::collections::BTreeMap;
use std::sync::Arc;

use shared::api::{
    ALERT_SUMMARY_DAYS, AlertCounts, AlertFilter, AlertGroup, AlertSummary, DailyAlertCount,
    SeverityCounts,
};
use shared::authz::SiteFilter;
use shared::model::{Alert, AlertStatus, Engine, SensorId, Severity, SiteId, SubscriptionId};
use time::{Date, Duration};
use tokio::task::JoinSet;

use crate::contention;
use crate::http::error::{ApiError, ApiResult};
use crate::keys::{self, AlertCounter};
use crate::records::{self, AlertCountsRecord, AlertGroupCountsRecord, CountedSiteRecord};
use crate::store::{Condition, Item, Key, Query, StoreError, Table, TableRead, Write};

/// How often a transaction that lost a race only on a counter is retried with the
/// counters re-read, before giving up.
const MAX_ATTEMPTS: u32 = 32;
/// Sites whose counters are read at once by one summary.
const CONCURRENT_SITES: usize = 16;

/// Whether alerts of `status` count as open.
pub fn is_open(status: AlertStatus) -> bool {
    match status {
        AlertStatus::New | AlertStatus::Active => true,
        AlertStatus::Closed => false,
    }
}

impl AlertCountsRecord {
    fn slot(&mut self, severity: Severity) -> &mut i64 {
        match severity {
            Severity::Critical => &mut self.critical,
            Severity::Major => &mut self.major,
            Severity::Minor => &mut self.minor,
            Severity::Warning => &mut self.warning,
        }
    }

    /// The count of `severity`.
    pub fn get(&self, severity: Severity) -> i64 {
        match severity {
            Severity::Critical => self.critical,
            Severity::Major => self.major,
            Severity::Minor => self.minor,
            Severity::Warning => self.warning,
        }
    }

    /// Counts `n` more (or, negative, fewer) of `severity`.
    pub fn add(&mut self, severity: Severity, n: i64) {
        let slot = self.slot(severity);
        *slot = slot.saturating_add(n);
    }

    /// `self` with every count of `other` added.
    pub fn plus(mut self, other: &AlertCountsRecord) -> AlertCountsRecord {
        for severity in SeverityCounts::SEVERITIES {
            self.add(severity, other.get(severity));
        }
        self
    }

    pub fn is_zero(&self) -> bool {
        *self == AlertCountsRecord::default()
    }

    /// The counts as the API shows them: a sum below zero (which exact counting never
    /// makes) shows as zero.
    pub fn to_api(self) -> SeverityCounts {
        let mut counts = SeverityCounts::default();
        for severity in SeverityCounts::SEVERITIES {
            counts.add(severity, u64::try_from(self.get(severity)).unwrap_or(0));
        }
        counts
    }
}

/// What one group counter counts of a sensor's alerts: `status|severity|engine|title`
/// (the title last, so it may hold anything).
fn group_key(alert: &Alert) -> String {
    format!(
        "{}|{}|{}|{}",
        alert.status.as_str(),
        alert.severity.as_str(),
        alert.engine.as_str(),
        alert.title.as_str()
    )
}

/// Reads a [`group_key`] back (`None`: not one).
fn parse_group_key(key: &str) -> Option<(AlertStatus, Severity, Engine, &str)> {
    let mut parts = key.splitn(4, '|');
    let status = parts.next()?;
    let severity = parts.next()?;
    let engine = parts.next()?;
    let title = parts.next()?;
    Some((
        AlertStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == status)?,
        Severity::ALL.into_iter().find(|s| s.as_str() == severity)?,
        Engine::ALL.into_iter().find(|e| e.as_str() == engine)?,
        title,
    ))
}

/// How one write changes one site's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountChange {
    /// Change of the open alerts, per severity.
    pub open: AlertCountsRecord,
    /// Alerts first detected, per UTC day of their `first_detected`.
    pub first_detected: BTreeMap<Date, AlertCountsRecord>,
    /// Change of each sensor's alerts per [`group_key`].
    pub groups: BTreeMap<SensorId, BTreeMap<String, i64>>,
}

impl CountChange {
    /// New alerts raised (by one sensor, so at one site): each open, and first detected
    /// on its day.
    pub fn raised<'a>(alerts: impl IntoIterator<Item = &'a Alert>) -> CountChange {
        let mut change = CountChange::default();
        for alert in alerts {
            if is_open(alert.status) {
                change.open.add(alert.severity, 1);
            }
            change
                .first_detected
                .entry(alert.first_detected.date())
                .or_default()
                .add(alert.severity, 1);
            change.add_group(alert, 1);
        }
        change
    }

    /// An alert removed (retention): no longer open, nor first detected on its day, nor
    /// in its group.
    pub fn removed(alert: &Alert) -> CountChange {
        let mut change = CountChange::default();
        if is_open(alert.status) {
            change.open.add(alert.severity, -1);
        }
        change
            .first_detected
            .entry(alert.first_detected.date())
            .or_default()
            .add(alert.severity, -1);
        change.add_group(alert, -1);
        change
    }

    fn add_group(&mut self, alert: &Alert, n: i64) {
        let count = self
            .groups
            .entry(alert.sensor_id.clone())
            .or_default()
            .entry(group_key(alert))
            .or_default();
        *count = count.saturating_add(n);
    }

    /// An alert rewritten from `before` to `after` (a status change or learn; a
    /// refresh changes nothing counted). The first detection was counted when it was
    /// raised and stays counted.
    pub fn rewritten(before: &Alert, after: &Alert) -> CountChange {
        let mut change = CountChange::default();
        if is_open(before.status) {
            change.open.add(before.severity, -1);
        }
        if is_open(after.status) {
            change.open.add(after.severity, 1);
        }
        change.add_group(before, -1);
        change.add_group(after, 1);
        change
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_zero()
            && self.first_detected.values().all(AlertCountsRecord::is_zero)
            && self
                .groups
                .values()
                .flat_map(BTreeMap::values)
                .all(|&n| n == 0)
    }
}

/// What became of a transaction with counter writes.
#[derive(Debug, PartialEq, Eq)]
pub enum Counted {
    /// Committed: the new version of each of the caller's writes, in their order.
    Committed(Vec<u64>),
    /// The condition of the caller's write `index` failed; nothing was written.
    ConditionFailed { index: usize },
}

/// Commits `writes` and the change `change` makes to `site`'s counters in one
/// transaction. The counter writes go after the caller's, into one shard picked at
/// random and conditional on the version read; when only a counter lost a race, the
/// counters are re-read and the transaction tried again (after a back-off), `writes`
/// unchanged. A failed condition of the caller's own writes is the caller's to judge.
pub async fn transact_counted(
    table: &dyn Table,
    writes: Vec<Write>,
    subscription: &SubscriptionId,
    site: &SiteId,
    change: &CountChange,
) -> ApiResult<Counted> {
    let own = writes.len();
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            contention::back_off(attempt).await;
        }
        let mut all = writes.clone();
        if !change.is_empty() {
            all.extend(counter_writes(table, subscription, site, change, random_shard()).await?);
        }
        match table.transact(all).await {
            Ok(mut versions) => {
                versions.truncate(own);
                return Ok(Counted::Committed(versions));
            }
            Err(StoreError::ConditionFailed { index }) if index < own => {
                return Ok(Counted::ConditionFailed { index });
            }
            Err(StoreError::ConditionFailed { .. }) => {}
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict(
        "the alert counts kept changing meanwhile; try again".into(),
    ))
}

/// A shard of [`keys::ALERT_COUNT_SHARDS`], at random.
fn random_shard() -> u8 {
    let mut byte = [0u8; 1];
    getrandom::fill(&mut byte).map_or(0, |()| byte[0] % keys::ALERT_COUNT_SHARDS)
}

/// The writes adding `change` to shard `shard` of `site`'s counters: each counter item
/// touched, read and put back with the change added (`VersionIs` the version read, or
/// `MustNotExist`). Creating an open-counts shard also marks the site as counted
/// ([`keys::alert_counted_site`]), so a subscription-wide summary finds it.
pub async fn counter_writes(
    table: &dyn TableRead,
    subscription: &SubscriptionId,
    site: &SiteId,
    change: &CountChange,
    shard: u8,
) -> ApiResult<Vec<Write>> {
    let mut touched: Vec<(Key, &AlertCountsRecord)> = Vec::new();
    if !change.open.is_zero() {
        touched.push((
            keys::alert_open_counts(subscription, site, shard),
            &change.open,
        ));
    }
    for (&day, counts) in &change.first_detected {
        if !counts.is_zero() {
            touched.push((
                keys::alert_day_counts(subscription, site, day, shard),
                counts,
            ));
        }
    }
    let mut writes = Vec::with_capacity(touched.len() + 1);
    let mut site_is_new = false;
    for (key, counts) in touched {
        let stored = records::read::<AlertCountsRecord>(table, &key).await?;
        if stored.is_none() && matches!(keys::alert_counter(&key.sk), Some(AlertCounter::Open)) {
            site_is_new = true;
        }
        let (record, condition) = match stored {
            Some(stored) => (stored.record, Condition::VersionIs(stored.version)),
            None => (AlertCountsRecord::default(), Condition::MustNotExist),
        };
        writes.push(Write::Put {
            item: records::item(key, &record.plus(counts))?,
            condition,
        });
    }
    for (sensor, groups) in &change.groups {
        if groups.values().all(|&n| n == 0) {
            continue;
        }
        let key = keys::alert_group_counts(subscription, site, sensor, shard);
        let (mut record, condition) =
            match records::read::<AlertGroupCountsRecord>(table, &key).await? {
                Some(stored) => (stored.record, Condition::VersionIs(stored.version)),
                None => (AlertGroupCountsRecord::default(), Condition::MustNotExist),
            };
        for (group, &n) in groups {
            let count = record.groups.entry(group.clone()).or_default();
            *count = count.saturating_add(n);
            if *count == 0 {
                record.groups.remove(group);
            }
        }
        writes.push(Write::Put {
            item: records::item(key, &record)?,
            condition,
        });
    }
    if site_is_new {
        writes.push(Write::Put {
            item: records::item(
                keys::alert_counted_site(subscription, site),
                &CountedSiteRecord {
                    site_id: site.clone(),
                },
            )?,
            condition: Condition::Always,
        });
    }
    Ok(writes)
}

// ----- Reading -----

/// The sum of counter items read, by what they count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    open: AlertCountsRecord,
    days: BTreeMap<Date, AlertCountsRecord>,
}

impl Tally {
    /// Adds one counter item (of any site; unknown items are ignored).
    pub fn add(&mut self, item: &Item) -> ApiResult<()> {
        let Some(counter) = keys::alert_counter(&item.key.sk) else {
            return Ok(());
        };
        let counts: AlertCountsRecord = records::decode(item)?;
        match counter {
            AlertCounter::Open => self.open = self.open.plus(&counts),
            AlertCounter::Day(day) => {
                let sum = self.days.entry(day).or_default();
                *sum = sum.plus(&counts);
            }
        }
        Ok(())
    }

    /// The summary on `today`: the open counts, and the [`ALERT_SUMMARY_DAYS`] days up to
    /// `today`, oldest first, zero-filled.
    pub fn summary(&self, today: Date) -> AlertSummary {
        let daily = (0..ALERT_SUMMARY_DAYS)
            .rev()
            .filter_map(|back| {
                let back = i64::try_from(back).ok()?;
                today.checked_sub(Duration::days(back))
            })
            .map(|day| DailyAlertCount {
                date: format!(
                    "{:04}-{:02}-{:02}",
                    day.year(),
                    u8::from(day.month()),
                    day.day()
                ),
                counts: self.days.get(&day).copied().unwrap_or_default().to_api(),
            })
            .collect();
        AlertSummary {
            open: self.open.to_api(),
            daily,
        }
    }
}

/// The first day of the summary on `today`.
pub fn first_day(today: Date) -> Date {
    let back = i64::try_from(ALERT_SUMMARY_DAYS - 1).unwrap_or(0);
    today.checked_sub(Duration::days(back)).unwrap_or(today)
}

/// The summary of the alerts at `sites` on `today`: one query of each site's counters
/// (from the summary's first day on), or for a caller who views every site, of every
/// site that has counters (deleted sites included, like the alert lists).
pub async fn summary(
    table: &Arc<dyn Table>,
    subscription: &SubscriptionId,
    sites: &SiteFilter<'_>,
    today: Date,
) -> ApiResult<AlertSummary> {
    let since = first_day(today);
    let queries = counted_sites(table, subscription, sites)
        .await?
        .iter()
        .map(|site| keys::alert_counts_query(subscription, site, since))
        .collect();
    let mut tally = Tally::default();
    for item in query_all(table, queries).await? {
        tally.add(&item)?;
    }
    Ok(tally.summary(today))
}

/// The counts of the alerts at `sites` that `filter` keeps, per group: one query of
/// each site's group counters (only the filter's site, and only its sensor's counters
/// when it names one).
pub async fn counts(
    table: &Arc<dyn Table>,
    subscription: &SubscriptionId,
    sites: &SiteFilter<'_>,
    filter: &AlertFilter,
) -> ApiResult<AlertCounts> {
    let sites = match &filter.site_id {
        Some(site) => vec![site.clone()],
        None => counted_sites(table, subscription, sites).await?,
    };
    let queries = sites
        .iter()
        .map(|site| keys::alert_group_counts_query(subscription, site, filter.sensor_id.as_ref()))
        .collect();
    // Summed over the shards before anything is read as a count: one shard may hold
    // the -1 of a status change whose +1 went to another.
    let mut sums: BTreeMap<(SiteId, SensorId, String), i64> = BTreeMap::new();
    for item in query_all(table, queries).await? {
        let Some((site, sensor)) = keys::alert_group_counter(&item.key) else {
            continue;
        };
        let record: AlertGroupCountsRecord = records::decode(&item)?;
        for (key, count) in record.groups {
            let sum = sums.entry((site.clone(), sensor.clone(), key)).or_default();
            *sum = sum.saturating_add(count);
        }
    }
    let groups = sums
        .iter()
        .filter_map(|((site_id, sensor_id, key), &count)| {
            let (status, severity, engine, title) = parse_group_key(key)?;
            let group = AlertGroup {
                site_id,
                sensor_id,
                status,
                severity,
                engine,
                title,
            };
            Some((group, u64::try_from(count).unwrap_or(0)))
        });
    Ok(AlertCounts::tally(filter, groups))
}

/// The sites whose counters a caller reading `sites` sums: the permitted ones, or for a
/// caller who views every site, every site that has counters (deleted sites included,
/// like the alert lists).
async fn counted_sites(
    table: &Arc<dyn Table>,
    subscription: &SubscriptionId,
    sites: &SiteFilter<'_>,
) -> ApiResult<Vec<SiteId>> {
    Ok(match sites {
        SiteFilter::None => Vec::new(),
        SiteFilter::Only(sites) => sites.iter().map(|&site| site.clone()).collect(),
        SiteFilter::All => records::read_all::<CountedSiteRecord>(
            table.as_ref(),
            keys::alert_counted_sites_query(subscription, 1_000),
        )
        .await?
        .into_iter()
        .map(|counted| counted.site_id)
        .collect(),
    })
}

/// Every item `queries` find, [`CONCURRENT_SITES`] queries at a time.
async fn query_all(table: &Arc<dyn Table>, queries: Vec<Query>) -> ApiResult<Vec<Item>> {
    let mut all = Vec::new();
    let mut queries = queries.into_iter().peekable();
    while queries.peek().is_some() {
        let mut running = JoinSet::new();
        for query in queries.by_ref().take(CONCURRENT_SITES) {
            let table = Arc::clone(table);
            running.spawn(async move {
                let mut query = query;
                let mut items = Vec::new();
                loop {
                    let page = table.query(&query).await?;
                    items.extend(page.items);
                    match page.next_cursor {
                        Some(cursor) => query.cursor = Some(cursor),
                        None => return Ok::<_, StoreError>(items),
                    }
                }
            });
        }
        while let Some(done) = running.join_next().await {
            let items = done.map_err(|e| ApiError::Internal(format!("counter query: {e}")))??;
            all.extend(items);
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedTable;
    use shared::model::{AlertId, DetectedAlert, SensorId, SensorLocation};
    use time::OffsetDateTime;
    use time::macros::{date, datetime};

    const NOW: OffsetDateTime = datetime!(2024-03-01 12:00 UTC);

    fn sub() -> SubscriptionId {
        SubscriptionId::parse("sub-1").unwrap()
    }

    fn site(id: &str) -> SiteId {
        SiteId::parse(id).unwrap()
    }

    fn alert(n: u32, severity: &str, at: OffsetDateTime) -> Alert {
        let detected: DetectedAlert = serde_json::from_value(serde_json::json!({
            "title": format!("Scan {n}"), "severity": severity, "engine": "anomaly",
            "source_ip": "10.0.0.1", "destination_ip": "10.0.0.9", "protocol": "S7",
            "learnable": true,
        }))
        .unwrap();
        let location = SensorLocation {
            sensor_id: SensorId::parse("s1").unwrap(),
            site_id: site("plant-1"),
            zone_id: None,
        };
        let id = AlertId::parse(format!("01HQ{n:022}")).unwrap();
        Alert::raised(id, location, &detected, at)
    }

    fn counts(critical: i64, major: i64, minor: i64, warning: i64) -> AlertCountsRecord {
        AlertCountsRecord {
            critical,
            major,
            minor,
            warning,
        }
    }

    async fn table() -> (Arc<dyn Table>, tempfile::TempDir) {
        let directory = tempfile::tempdir().unwrap();
        let table = EmbeddedTable::open(directory.path().join("t.redb"), [5; 32]).unwrap();
        (Arc::new(table), directory)
    }

    #[test]
    fn raised_alerts_count_open_and_on_the_day_they_were_first_detected() {
        // GIVEN alerts of several severities, one first detected the day before
        let alerts = [
            alert(1, "critical", NOW),
            alert(2, "critical", NOW),
            alert(3, "warning", NOW),
            alert(4, "minor", NOW - Duration::days(1)),
        ];
        // WHEN they are counted as raised
        let change = CountChange::raised(&alerts);
        // THEN each is open once, and first detected on its own day
        assert_eq!(change.open, counts(2, 0, 1, 1));
        assert_eq!(
            change.first_detected,
            BTreeMap::from([
                (date!(2024 - 02 - 29), counts(0, 0, 1, 0)),
                (date!(2024 - 03 - 01), counts(2, 0, 0, 1)),
            ])
        );
        assert!(CountChange::raised(&[]).is_empty());
    }

    #[test]
    fn a_status_change_moves_the_open_count_only_when_openness_changes_and_the_group_always() {
        use AlertStatus::{Active, Closed, New};
        let with = |status| {
            let mut alert = alert(1, "major", NOW);
            alert.status = status;
            alert
        };
        for (from, to, open) in [
            (New, Active, 0),
            (New, Closed, -1),
            (Active, Closed, -1),
            (Closed, Active, 1),
            (New, New, 0),
            (Closed, Closed, 0),
        ] {
            let change = CountChange::rewritten(&with(from), &with(to));
            assert_eq!(change.open, counts(0, open, 0, 0), "{from} → {to}");
            assert!(change.first_detected.is_empty(), "{from} → {to}");
            assert_eq!(change.is_empty(), from == to, "{from} → {to}");
            let groups = &change.groups[&SensorId::parse("s1").unwrap()];
            let moved = |status: AlertStatus| groups[&format!("{status}|major|anomaly|Scan 1")];
            if from != to {
                assert_eq!((moved(from), moved(to)), (-1, 1), "{from} → {to}");
            }
        }
        // learn closes: an open alert leaves the open count
        let open = with(Active);
        let mut learned = open.clone();
        learned.learn().unwrap();
        assert_eq!(
            CountChange::rewritten(&open, &learned).open,
            counts(0, -1, 0, 0)
        );
    }

    #[test]
    fn a_summary_sums_the_shards_and_zero_fills_thirty_days_oldest_first() {
        let today = date!(2024 - 03 - 01);
        let item = |key: Key, record: AlertCountsRecord| records::item(key, &record).unwrap();
        let (a, b) = (site("a"), site("b"));
        let mut tally = Tally::default();
        for found in [
            // shards of one site may go below zero; their sum does not
            item(keys::alert_open_counts(&sub(), &a, 0), counts(3, 1, 0, 0)),
            item(keys::alert_open_counts(&sub(), &a, 5), counts(-1, 0, 0, 2)),
            item(keys::alert_open_counts(&sub(), &b, 1), counts(0, 4, 0, 0)),
            item(
                keys::alert_day_counts(&sub(), &a, today, 2),
                counts(1, 0, 0, 0),
            ),
            item(
                keys::alert_day_counts(&sub(), &b, today, 7),
                counts(1, 2, 0, 0),
            ),
            item(
                keys::alert_day_counts(&sub(), &a, date!(2024 - 02 - 01), 0),
                counts(0, 0, 9, 0),
            ),
            // out of the 30 days: before, and after today (a clock ahead)
            item(
                keys::alert_day_counts(&sub(), &a, date!(2024 - 01 - 31), 0),
                counts(5, 0, 0, 0),
            ),
            item(
                keys::alert_day_counts(&sub(), &a, date!(2024 - 03 - 02), 0),
                counts(5, 0, 0, 0),
            ),
        ] {
            tally.add(&found).unwrap();
        }
        let summary = tally.summary(today);
        assert_eq!(
            summary.open,
            SeverityCounts {
                critical: 2,
                major: 5,
                minor: 0,
                warning: 2
            }
        );
        assert_eq!(summary.daily.len(), 30);
        assert_eq!(summary.daily[0].date, "2024-02-01");
        assert_eq!(summary.daily[0].counts.minor, 9);
        assert_eq!(summary.daily[29].date, "2024-03-01");
        assert_eq!(
            summary.daily[29].counts,
            SeverityCounts {
                critical: 2,
                major: 2,
                minor: 0,
                warning: 0
            }
        );
        let total: u64 = summary.daily.iter().map(|d| d.counts.total()).sum();
        assert_eq!(total, 9 + 4);
        assert_eq!(first_day(today), date!(2024 - 02 - 01));
        // an empty tally is thirty zero days
        let empty = Tally::default().summary(today);
        assert_eq!(empty.open, SeverityCounts::default());
        assert_eq!(empty.daily.len(), 30);
        assert!(empty.daily.iter().all(|d| d.counts.total() == 0));
        // a sum below zero (never made by exact counting) shows as zero
        assert_eq!(counts(-2, 1, 0, 0).to_api().critical, 0);
    }

    #[tokio::test]
    async fn concurrent_counted_writes_at_one_site_add_up_exactly() {
        // GIVEN one site, and 40 writers each raising 3 alerts of their own at once
        let (table, _dir) = table().await;
        let plant = site("plant-1");
        let mut running = JoinSet::new();
        for n in 0..40u32 {
            let table = Arc::clone(&table);
            let plant = plant.clone();
            running.spawn(async move {
                let alerts = [
                    alert(n * 3, "critical", NOW),
                    alert(n * 3 + 1, "major", NOW),
                    alert(n * 3 + 2, "warning", NOW - Duration::days(2)),
                ];
                let change = CountChange::raised(&alerts);
                // (each with a write of its own, as ingest's fingerprint writes)
                let own = Write::Put {
                    item: Item::new(Key::new("TEST", format!("{n}")), b"{}".to_vec()),
                    condition: Condition::MustNotExist,
                };
                transact_counted(table.as_ref(), vec![own], &sub(), &plant, &change)
                    .await
                    .unwrap()
            });
        }
        while let Some(done) = running.join_next().await {
            assert_eq!(done.unwrap(), Counted::Committed(vec![1]));
        }
        // AND 10 of the critical ones closed meanwhile, concurrently
        let mut running = JoinSet::new();
        for n in 0..10u32 {
            let table = Arc::clone(&table);
            let plant = plant.clone();
            running.spawn(async move {
                let before = alert(n * 3, "critical", NOW);
                let mut after = before.clone();
                after.change_status(AlertStatus::Closed, None).unwrap();
                let change = CountChange::rewritten(&before, &after);
                transact_counted(table.as_ref(), Vec::new(), &sub(), &plant, &change)
                    .await
                    .unwrap()
            });
        }
        while let Some(done) = running.join_next().await {
            assert_eq!(done.unwrap(), Counted::Committed(vec![]));
        }
        // THEN the summary counts every one exactly once
        let sites = [&plant];
        let summary = summary(
            &table,
            &sub(),
            &SiteFilter::Only(sites.to_vec()),
            NOW.date(),
        )
        .await
        .unwrap();
        assert_eq!(
            summary.open,
            SeverityCounts {
                critical: 30,
                major: 40,
                minor: 0,
                warning: 40
            }
        );
        assert_eq!(summary.daily[29].counts.critical, 40);
        assert_eq!(summary.daily[29].counts.major, 40);
        assert_eq!(summary.daily[27].counts.warning, 40);
        // AND a caller who views every site sees the same, from the site's mark
        let everywhere = super::summary(&table, &sub(), &SiteFilter::All, NOW.date())
            .await
            .unwrap();
        assert_eq!(everywhere, summary);
        // AND the counts are spread over more than one shard
        let open_shards = (0..keys::ALERT_COUNT_SHARDS)
            .map(|shard| keys::alert_open_counts(&sub(), &plant, shard));
        let mut written = 0;
        for key in open_shards {
            if table.get(&key).await.unwrap().is_some() {
                written += 1;
            }
        }
        assert!(written > 1, "{written}");
    }

    #[tokio::test]
    async fn a_failed_condition_of_the_callers_own_write_writes_no_counts() {
        // GIVEN a write of the caller's that cannot succeed
        let (table, _dir) = table().await;
        let plant = site("plant-1");
        let own = Write::Check {
            key: Key::new("TEST", "missing"),
            condition: Condition::MustExist,
        };
        let change = CountChange::raised(&[alert(1, "critical", NOW)]);
        // WHEN it is committed with counts
        let outcome = transact_counted(table.as_ref(), vec![own], &sub(), &plant, &change)
            .await
            .unwrap();
        // THEN the caller hears of it, and nothing is counted
        assert_eq!(outcome, Counted::ConditionFailed { index: 0 });
        for filter in [SiteFilter::Only(vec![&plant]), SiteFilter::All] {
            let summary = summary(&table, &sub(), &filter, NOW.date()).await.unwrap();
            assert_eq!(summary.open.total(), 0);
            assert!(summary.daily.iter().all(|d| d.counts.total() == 0));
        }
    }

    #[tokio::test]
    async fn each_site_is_summed_apart_and_every_site_together() {
        let (table, _dir) = table().await;
        let (north, south) = (site("north"), site("south"));
        for (at, severity, n) in [(&north, "critical", 1), (&south, "minor", 2)] {
            let change = CountChange::raised(&[alert(n, severity, NOW)]);
            transact_counted(table.as_ref(), Vec::new(), &sub(), at, &change)
                .await
                .unwrap();
        }
        let of = |filter: SiteFilter<'static>| {
            let table = Arc::clone(&table);
            async move {
                summary(&table, &sub(), &filter, NOW.date())
                    .await
                    .unwrap()
                    .open
            }
        };
        let north_only: &'static SiteId = Box::leak(Box::new(north.clone()));
        let unknown: &'static SiteId = Box::leak(Box::new(site("elsewhere")));
        assert_eq!(of(SiteFilter::Only(vec![north_only])).await.critical, 1);
        assert_eq!(of(SiteFilter::Only(vec![north_only])).await.total(), 1);
        assert_eq!(of(SiteFilter::Only(vec![unknown])).await.total(), 0);
        let all = of(SiteFilter::All).await;
        assert_eq!((all.critical, all.minor, all.total()), (1, 1, 2));
        assert_eq!(of(SiteFilter::None).await.total(), 0);
    }
}
