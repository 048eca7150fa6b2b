//! The query string ↔ the filters of a page. Filters, grouping and the open pane live
//! in the URL so that a link can be shared and a reload shows the same screen.

use serde::de::DeserializeOwned;
use serde::de::value::{Error as ValueError, StrDeserializer};
use shared::api::{AlertCounts, AnyOf, AuditAction, DeviceCounts, GroupCount, MAX_SEARCH_CHARS};
use shared::model::{
    Alert, AlertId, AlertStatus, Device, DeviceId, Engine, SensorHealth, SensorId, SensorType,
    Severity, SiteId,
};
use time::{Date, Duration, OffsetDateTime};

/// A query string's pairs, decoded, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryPairs(Vec<(String, String)>);

impl QueryPairs {
    /// Reads `?a=1&b=x%20y` (the leading `?` is optional).
    pub fn parse(search: &str) -> Self {
        let search = search.strip_prefix('?').unwrap_or(search);
        QueryPairs(
            search
                .split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| match pair.split_once('=') {
                    Some((key, value)) => (decode(key), decode(value)),
                    None => (decode(pair), String::new()),
                })
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key` to `value`, or removes it when `value` is empty.
    pub fn set(&mut self, key: &str, value: &str) {
        self.0.retain(|(k, _)| k != key);
        if !value.is_empty() {
            self.0.push((key.to_owned(), value.to_owned()));
        }
    }

    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.set(key, value);
        self
    }

    /// `?a=1&b=x%20y`, or the empty string when there is nothing to say.
    pub fn to_search(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let pairs: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        format!("?{}", pairs.join("&"))
    }
}

/// Reads a contract enum from its `snake_case` name (`"ot_cloud_connected"`).
pub fn parse_enum<T: DeserializeOwned>(raw: &str) -> Option<T> {
    T::deserialize(StrDeserializer::<ValueError>::new(raw)).ok()
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` and `+`; malformed escapes are kept as written.
pub fn decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        index += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the side pane of Sites and sensors shows (`&pane=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SitesPane {
    EditSite(SiteId),
    Onboard,
    Sensor(SensorId),
}

impl SitesPane {
    pub fn parse(raw: &str) -> Option<Self> {
        if raw == "onboard" {
            return Some(SitesPane::Onboard);
        }
        let (kind, id) = raw.split_once(':')?;
        match kind {
            "site" => SiteId::parse(id).ok().map(SitesPane::EditSite),
            "sensor" => SensorId::parse(id).ok().map(SitesPane::Sensor),
            _ => None,
        }
    }

    pub fn as_param(&self) -> String {
        match self {
            SitesPane::EditSite(site) => format!("site:{site}"),
            SitesPane::Onboard => "onboard".to_owned(),
            SitesPane::Sensor(sensor) => format!("sensor:{sensor}"),
        }
    }
}

/// The filters of Sites and sensors: `?site=&type=&health=&q=&pane=`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SensorQuery {
    pub site: Option<SiteId>,
    pub sensor_type: Option<SensorType>,
    pub health: Option<SensorHealth>,
    /// Matched against sensor names in the page (the API filters the rest).
    pub text: String,
    pub pane: Option<SitesPane>,
}

impl SensorQuery {
    /// Unknown or malformed values are ignored, as if absent: a stale link still opens.
    pub fn from_pairs(pairs: &QueryPairs) -> Self {
        SensorQuery {
            site: pairs.get("site").and_then(|s| SiteId::parse(s).ok()),
            sensor_type: pairs.get("type").and_then(parse_enum),
            health: pairs.get("health").and_then(parse_enum),
            text: pairs.get("q").unwrap_or_default().to_owned(),
            pane: pairs.get("pane").and_then(SitesPane::parse),
        }
    }

    /// The query of `GET /subscriptions/{sub}/sensors` for these filters (without
    /// `limit` and `cursor`).
    pub fn api_query(&self) -> QueryPairs {
        let mut pairs = QueryPairs::default();
        if let Some(site) = &self.site {
            pairs.set("site_id", site.as_str());
        }
        if let Some(sensor_type) = self.sensor_type {
            pairs.set("type", sensor_type.as_str());
        }
        if let Some(health) = self.health {
            pairs.set("health", health.as_str());
        }
        pairs
    }

    /// Whether a sensor's name matches the text filter (case-insensitive).
    pub fn matches_text(&self, name: &str) -> bool {
        let text = self.text.trim();
        text.is_empty() || name.to_lowercase().contains(&text.to_lowercase())
    }

    /// Whether any filter narrows the list (the pane does not).
    pub fn is_filtered(&self) -> bool {
        self.site.is_some()
            || self.sensor_type.is_some()
            || self.health.is_some()
            || !self.text.trim().is_empty()
    }
}

/// How the alerts grid groups its rows (`&group=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertGroup {
    Severity,
    Engine,
    Site,
    Sensor,
    Title,
}

impl AlertGroup {
    pub const ALL: [AlertGroup; 5] = [
        AlertGroup::Severity,
        AlertGroup::Engine,
        AlertGroup::Site,
        AlertGroup::Sensor,
        AlertGroup::Title,
    ];

    pub const fn as_param(self) -> &'static str {
        match self {
            AlertGroup::Severity => "severity",
            AlertGroup::Engine => "engine",
            AlertGroup::Site => "site",
            AlertGroup::Sensor => "sensor",
            AlertGroup::Title => "title",
        }
    }

    pub const fn label(self) -> &'static str {
        match self {
            AlertGroup::Severity => "Severity",
            AlertGroup::Engine => "Engine",
            AlertGroup::Site => "Site",
            AlertGroup::Sensor => "Sensor",
            AlertGroup::Title => "Title",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        AlertGroup::ALL.into_iter().find(|g| g.as_param() == raw)
    }

    /// The key of `alert`'s group in [`AlertCounts`].
    pub fn key_of(self, alert: &Alert) -> &str {
        match self {
            AlertGroup::Severity => alert.severity.as_str(),
            AlertGroup::Engine => alert.engine.as_str(),
            AlertGroup::Site => alert.site_id.as_str(),
            AlertGroup::Sensor => alert.sensor_id.as_str(),
            AlertGroup::Title => alert.title.as_str(),
        }
    }

    /// The server's counts of this grouping.
    pub fn counts(self, counts: &AlertCounts) -> &[GroupCount] {
        match self {
            AlertGroup::Severity => &counts.by_severity,
            AlertGroup::Engine => &counts.by_engine,
            AlertGroup::Site => &counts.by_site,
            AlertGroup::Sensor => &counts.by_sensor,
            AlertGroup::Title => &counts.by_title,
        }
    }

    /// How many alerts matching the filters are in `alert`'s group (0 when the counts
    /// have not caught up with it yet).
    pub fn count_of(self, counts: &AlertCounts, alert: &Alert) -> u64 {
        let key = self.key_of(alert);
        self.counts(counts)
            .iter()
            .find(|group| group.key == key)
            .map_or(0, |group| group.count)
    }
}

/// How recently alerts were last detected: `?seen=`, sent as the API's `since`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeenWithin {
    Hour,
    Day,
    Week,
    Month,
}

impl SeenWithin {
    pub const ALL: [SeenWithin; 4] = [
        SeenWithin::Hour,
        SeenWithin::Day,
        SeenWithin::Week,
        SeenWithin::Month,
    ];

    pub const fn as_param(self) -> &'static str {
        match self {
            SeenWithin::Hour => "1h",
            SeenWithin::Day => "24h",
            SeenWithin::Week => "7d",
            SeenWithin::Month => "30d",
        }
    }

    pub const fn label(self) -> &'static str {
        match self {
            SeenWithin::Hour => "In the last hour",
            SeenWithin::Day => "In the last 24 hours",
            SeenWithin::Week => "In the last 7 days",
            SeenWithin::Month => "In the last 30 days",
        }
    }

    fn duration(self) -> Duration {
        match self {
            SeenWithin::Hour => Duration::hours(1),
            SeenWithin::Day => Duration::hours(24),
            SeenWithin::Week => Duration::days(7),
            SeenWithin::Month => Duration::days(30),
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        SeenWithin::ALL.into_iter().find(|w| w.as_param() == raw)
    }
}

/// `2026-12-01T10:05:00Z`, to the second: what the API reads as RFC 3339.
fn rfc3339(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        crate::logic::format::utc_date(at),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// The line above the alert list: what is shown and, from the server's counts, how many
/// match (`counts` is `None` until they have loaded, or when they failed).
pub fn alert_count_line(shown: usize, more: bool, counts: Option<&AlertCounts>) -> String {
    match counts {
        Some(counts) if more && !counts.uncounted.is_empty() => format!(
            "{shown} alerts shown, at most {} match (search and time are not counted): load more to see them",
            counts.total
        ),
        _ => count_line(shown, more, counts.map(|c| c.total), ("alert", "alerts")),
    }
}

/// The filters of Alerts: `?status=&severity=&site=&engine=&q=&group=&alert=`. Status,
/// severity and engine may list several values (`status=new,active`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertQuery {
    pub status: Option<AnyOf<AlertStatus>>,
    pub severity: Option<AnyOf<Severity>>,
    pub site: Option<SiteId>,
    pub engine: Option<AnyOf<Engine>>,
    /// Searched by the API in titles and addresses.
    pub text: String,
    /// Only alerts last detected this recently.
    pub seen: Option<SeenWithin>,
    /// `me` or `none`: the API's `assignee` filter as the page offers it.
    pub assignee: Option<&'static str>,
    pub group: Option<AlertGroup>,
    /// The alert the side pane shows.
    pub alert: Option<AlertId>,
}

impl AlertQuery {
    /// Unknown or malformed values are ignored, as if absent: a stale link still opens.
    pub fn from_pairs(pairs: &QueryPairs) -> Self {
        AlertQuery {
            status: pairs.get("status").and_then(parse_enum),
            severity: pairs.get("severity").and_then(parse_enum),
            site: pairs.get("site").and_then(|s| SiteId::parse(s).ok()),
            engine: pairs.get("engine").and_then(parse_enum),
            text: pairs.get("q").unwrap_or_default().to_owned(),
            seen: pairs.get("seen").and_then(SeenWithin::parse),
            assignee: pairs
                .get("assignee")
                .and_then(|a| ["me", "none"].into_iter().find(|known| *known == a)),
            group: pairs.get("group").and_then(AlertGroup::parse),
            alert: pairs.get("alert").and_then(|a| AlertId::parse(a).ok()),
        }
    }

    /// The query of `GET /subscriptions/{sub}/alerts` (and of its counts) for these
    /// filters at `now` (without `limit` and `cursor`): every filter is the server's,
    /// none is applied to the page.
    pub fn api_query(&self, now: OffsetDateTime) -> QueryPairs {
        let mut pairs = QueryPairs::default();
        if let Some(status) = &self.status {
            pairs.set("status", &names(status.values(), |s| s.as_str()));
        }
        if let Some(severity) = &self.severity {
            pairs.set("severity", &names(severity.values(), |s| s.as_str()));
        }
        if let Some(site) = &self.site {
            pairs.set("site_id", site.as_str());
        }
        if let Some(engine) = &self.engine {
            pairs.set("engine", &names(engine.values(), |e| e.as_str()));
        }
        let text: String = self.text.trim().chars().take(MAX_SEARCH_CHARS).collect();
        pairs.set("q", text.trim());
        if let Some(seen) = self.seen {
            pairs.set("since", &rfc3339(now - seen.duration()));
        }
        if let Some(assignee) = self.assignee {
            pairs.set("assignee", assignee);
        }
        pairs
    }

    /// Whether any filter narrows the list (grouping and the pane do not).
    pub fn is_filtered(&self) -> bool {
        self.status.is_some()
            || self.severity.is_some()
            || self.site.is_some()
            || self.engine.is_some()
            || self.seen.is_some()
            || self.assignee.is_some()
            || !self.text.trim().is_empty()
    }
}

/// The filters of the Device inventory: `?site=&type=&vendor=&authorized=&inactive=&q=&device=`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceQuery {
    pub site: Option<SiteId>,
    pub device_type: String,
    pub vendor: String,
    pub authorized: Option<bool>,
    pub inactive: Option<bool>,
    pub text: String,
    pub group: Option<DeviceGroupBy>,
    /// The device the side pane shows.
    pub device: Option<DeviceId>,
}

/// What the Device inventory can group by (`?group=`), with the server's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceGroupBy {
    Site,
    Zone,
    Type,
    Vendor,
    Authorized,
}

impl DeviceGroupBy {
    pub const ALL: [DeviceGroupBy; 5] = [
        DeviceGroupBy::Site,
        DeviceGroupBy::Zone,
        DeviceGroupBy::Type,
        DeviceGroupBy::Vendor,
        DeviceGroupBy::Authorized,
    ];

    pub const fn as_param(self) -> &'static str {
        match self {
            DeviceGroupBy::Site => "site",
            DeviceGroupBy::Zone => "zone",
            DeviceGroupBy::Type => "type",
            DeviceGroupBy::Vendor => "vendor",
            DeviceGroupBy::Authorized => "authorized",
        }
    }

    pub const fn label(self) -> &'static str {
        match self {
            DeviceGroupBy::Site => "Site",
            DeviceGroupBy::Zone => "Zone",
            DeviceGroupBy::Type => "Type",
            DeviceGroupBy::Vendor => "Vendor",
            DeviceGroupBy::Authorized => "Authorized",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        DeviceGroupBy::ALL.into_iter().find(|g| g.as_param() == raw)
    }

    /// `device`'s key in this grouping, as [`DeviceCounts`] keys it.
    pub fn key_of(self, device: &Device) -> String {
        let [site, zone, device_type, vendor, authorized] = DeviceCounts::keys_of(device);
        match self {
            DeviceGroupBy::Site => site,
            DeviceGroupBy::Zone => zone,
            DeviceGroupBy::Type => device_type,
            DeviceGroupBy::Vendor => vendor,
            DeviceGroupBy::Authorized => authorized,
        }
    }

    /// How many devices matching the filters share `device`'s group.
    pub fn count_of(self, counts: &DeviceCounts, device: &Device) -> u64 {
        let split = match self {
            DeviceGroupBy::Site => &counts.by_site,
            DeviceGroupBy::Zone => &counts.by_zone,
            DeviceGroupBy::Type => &counts.by_type,
            DeviceGroupBy::Vendor => &counts.by_vendor,
            DeviceGroupBy::Authorized => &counts.by_authorized,
        };
        let key = self.key_of(device);
        split.iter().find(|g| g.key == key).map_or(0, |g| g.count)
    }
}

/// The line above a list: what is shown and, once the server's total is known, of how
/// many (`noun` singular and plural).
pub fn count_line(
    shown: usize,
    more: bool,
    total: Option<u64>,
    (one, many): (&str, &str),
) -> String {
    match (more, total) {
        (false, _) if shown == 1 => format!("1 {one}"),
        (false, _) => format!("{shown} {many}"),
        (true, Some(total)) => format!("{shown} of {total} {many} shown: load more to see them"),
        (true, None) => format!("{shown} {many} shown, more match: load more to see them"),
    }
}

impl DeviceQuery {
    pub fn from_pairs(pairs: &QueryPairs) -> Self {
        let flag = |key| match pairs.get(key) {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => None,
        };
        DeviceQuery {
            site: pairs.get("site").and_then(|s| SiteId::parse(s).ok()),
            device_type: pairs.get("type").unwrap_or_default().to_owned(),
            vendor: pairs.get("vendor").unwrap_or_default().to_owned(),
            authorized: flag("authorized"),
            inactive: flag("inactive"),
            text: pairs.get("q").unwrap_or_default().to_owned(),
            group: pairs.get("group").and_then(DeviceGroupBy::parse),
            device: pairs.get("device").and_then(|d| DeviceId::parse(d).ok()),
        }
    }

    /// The query of `GET /subscriptions/{sub}/devices` (and of its export).
    pub fn api_query(&self) -> QueryPairs {
        let mut pairs = QueryPairs::default();
        if let Some(site) = &self.site {
            pairs.set("site_id", site.as_str());
        }
        for (key, text) in [
            ("type", &self.device_type),
            ("vendor", &self.vendor),
            ("q", &self.text),
        ] {
            let text: String = text.trim().chars().take(MAX_SEARCH_CHARS).collect();
            pairs.set(key, text.trim());
        }
        for (key, flag) in [("authorized", self.authorized), ("inactive", self.inactive)] {
            if let Some(flag) = flag {
                pairs.set(key, if flag { "true" } else { "false" });
            }
        }
        pairs
    }

    pub fn is_filtered(&self) -> bool {
        self.api_query() != QueryPairs::default()
    }
}

/// The filters of the Audit log: `?actor=&action=&since=&until=`, days as
/// `YYYY-MM-DD` (UTC), `until` inclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub actor: String,
    pub action: Option<AuditAction>,
    pub since: Option<Date>,
    pub until: Option<Date>,
}

impl AuditQuery {
    pub fn from_pairs(pairs: &QueryPairs) -> Self {
        AuditQuery {
            actor: pairs.get("actor").unwrap_or_default().to_owned(),
            action: pairs.get("action").and_then(|a| AuditAction::parse(a).ok()),
            since: pairs.get("since").and_then(parse_day),
            until: pairs.get("until").and_then(parse_day),
        }
    }

    /// The query of `GET /subscriptions/{sub}/audit-log`: a day range becomes the
    /// instants from the first day's start to the last day's end.
    pub fn api_query(&self) -> QueryPairs {
        let mut pairs = QueryPairs::default();
        let actor: String = self.actor.trim().chars().take(MAX_SEARCH_CHARS).collect();
        pairs.set("actor", actor.trim());
        if let Some(action) = &self.action {
            pairs.set("action", action.as_str());
        }
        if let Some(since) = self.since {
            pairs.set("since", &start_of(since));
        }
        if let Some(until) = self.until.and_then(Date::next_day) {
            pairs.set("until", &start_of(until));
        }
        pairs
    }

    pub fn is_filtered(&self) -> bool {
        !self.actor.trim().is_empty()
            || self.action.is_some()
            || self.since.is_some()
            || self.until.is_some()
    }
}

/// `2026-12-01` (what `<input type="date">` holds).
pub fn parse_day(raw: &str) -> Option<Date> {
    let mut parts = raw.splitn(3, '-');
    let year = parts.next()?.parse().ok()?;
    let month = time::Month::try_from(parts.next()?.parse::<u8>().ok()?).ok()?;
    let day = parts.next()?.parse().ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

/// The first instant of `day`, UTC, in RFC 3339.
fn start_of(day: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}T00:00:00Z",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

fn names<T: Copy>(values: &[T], name: impl Fn(T) -> &'static str) -> String {
    values
        .iter()
        .map(|&v| name(v))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip_with_encoding() {
        let pairs = QueryPairs::parse("?site=north&q=pump%20%2F%201&empty=");
        assert_eq!(pairs.get("site"), Some("north"));
        assert_eq!(pairs.get("q"), Some("pump / 1"));
        assert_eq!(pairs.get("empty"), None);
        assert_eq!(
            pairs.clone().with("empty", "").to_search(),
            "?site=north&q=pump%20%2F%201"
        );
        assert_eq!(
            QueryPairs::parse(&pairs.to_search()).get("q"),
            Some("pump / 1")
        );
    }

    #[test]
    fn setting_a_value_replaces_it_and_an_empty_one_removes_it() {
        let pairs = QueryPairs::parse("a=1&b=2").with("a", "3").with("b", "");
        assert_eq!(pairs.to_search(), "?a=3");
        assert_eq!(QueryPairs::default().to_search(), "");
    }

    #[test]
    fn malformed_escapes_are_kept() {
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("a+b"), "a b");
    }

    #[test]
    fn sensor_filters_read_from_the_url_and_map_to_the_api() {
        let query = SensorQuery::from_pairs(&QueryPairs::parse(
            "site=north&type=ot_cloud_connected&health=unhealthy&q=Pump&pane=site:north",
        ));
        assert_eq!(query.site, Some(SiteId::parse("north").unwrap()));
        assert_eq!(query.sensor_type, Some(SensorType::OtCloudConnected));
        assert_eq!(query.health, Some(SensorHealth::Unhealthy));
        assert_eq!(
            query.pane,
            Some(SitesPane::EditSite(SiteId::parse("north").unwrap()))
        );
        assert_eq!(
            query.api_query().to_search(),
            "?site_id=north&type=ot_cloud_connected&health=unhealthy"
        );
        assert!(query.matches_text("pump house 3"));
        assert!(!query.matches_text("valve"));
        assert!(query.is_filtered());
    }

    #[test]
    fn unknown_filter_values_are_ignored() {
        let query = SensorQuery::from_pairs(&QueryPairs::parse("type=toaster&health=&pane=x:y"));
        assert_eq!(query, SensorQuery::default());
        assert!(!query.is_filtered());
    }

    #[test]
    fn alert_filters_read_several_values_from_the_url_and_all_go_to_the_api() {
        let query = AlertQuery::from_pairs(&QueryPairs::parse(
            "status=new,active&severity=critical&site=north&engine=malware,anomaly&q=%20modbus%20&seen=24h&assignee=me&group=engine&alert=01J",
        ));
        assert_eq!(
            query.status.as_ref().map(AnyOf::values),
            Some(&[AlertStatus::New, AlertStatus::Active][..])
        );
        assert_eq!(query.group, Some(AlertGroup::Engine));
        assert_eq!(query.alert, Some(AlertId::parse("01J").unwrap()));
        assert!(query.is_filtered());
        assert_eq!(
            query
                .api_query(time::macros::datetime!(2026-12-01 10:05:07.5 UTC))
                .to_search(),
            "?status=new%2Cactive&severity=critical&site_id=north&engine=malware%2Canomaly&q=modbus&since=2026-11-30T10%3A05%3A07Z&assignee=me"
        );
    }

    #[test]
    fn unknown_alert_filters_are_ignored_and_long_text_is_cut_to_what_the_api_takes() {
        let query = AlertQuery::from_pairs(&QueryPairs::parse(
            "status=new,done&severity=huge&group=colour&seen=forever&assignee=bob&q=",
        ));
        assert_eq!(query, AlertQuery::default());
        assert!(!query.is_filtered());
        let long = AlertQuery {
            text: "x".repeat(MAX_SEARCH_CHARS + 5),
            ..AlertQuery::default()
        };
        assert_eq!(
            long.api_query(OffsetDateTime::UNIX_EPOCH)
                .get("q")
                .map(str::len),
            Some(MAX_SEARCH_CHARS)
        );
        for group in AlertGroup::ALL {
            assert_eq!(AlertGroup::parse(group.as_param()), Some(group));
        }
        for seen in SeenWithin::ALL {
            assert_eq!(SeenWithin::parse(seen.as_param()), Some(seen));
        }
    }

    #[test]
    fn a_device_is_found_in_the_server_counts_of_its_group() {
        let device: Device = serde_json::from_value(serde_json::json!({
            "id": "d1", "site_id": "north", "zone_id": null, "sensor_id": "s1",
            "ip": "10.0.0.1", "mac": "02:00:00:00:00:01", "name": null, "type": "PLC",
            "vendor": null, "authorized": true, "endpoint_managed": false,
            "first_seen": "2026-12-01T10:00:00Z", "last_activity": "2026-12-01T10:00:00Z",
        }))
        .unwrap();
        let counts = DeviceCounts::tally([&device, &device]);
        assert_eq!(DeviceGroupBy::Type.count_of(&counts, &device), 2);
        assert_eq!(DeviceGroupBy::Zone.key_of(&device), "");
        assert_eq!(DeviceGroupBy::Authorized.key_of(&device), "true");
        for group in DeviceGroupBy::ALL {
            assert_eq!(DeviceGroupBy::parse(group.as_param()), Some(group));
            assert_eq!(group.count_of(&counts, &device), 2, "{group:?}");
        }
        assert_eq!(
            count_line(50, true, Some(70), ("device", "devices")),
            "50 of 70 devices shown: load more to see them"
        );
    }

    #[test]
    fn the_alert_count_line_says_how_many_match_and_whether_exactly() {
        let counts = |total, uncounted: &[&str]| AlertCounts {
            total,
            uncounted: uncounted.iter().map(|&u| u.to_owned()).collect(),
            ..AlertCounts::default()
        };
        assert_eq!(alert_count_line(1, false, None), "1 alert");
        assert_eq!(
            alert_count_line(3, false, Some(&counts(4, &[]))),
            "3 alerts"
        );
        assert_eq!(
            alert_count_line(50, true, Some(&counts(120, &[]))),
            "50 of 120 alerts shown: load more to see them"
        );
        assert!(alert_count_line(50, true, Some(&counts(120, &["q"]))).contains("at most 120"));
        assert!(alert_count_line(50, true, None).starts_with("50 alerts shown, more match"));
    }

    #[test]
    fn an_alert_is_found_in_the_server_counts_of_its_group() {
        let alert: Alert = serde_json::from_value(serde_json::json!({
            "id": "01J", "site_id": "north", "sensor_id": "s1", "zone_id": null,
            "title": "Scan", "severity": "major", "status": "new", "engine": "malware",
            "source_ip": "10.0.0.1", "destination_ip": "10.0.0.2", "protocol": "S7",
            "learnable": false, "first_detected": "2026-12-01T10:00:00Z",
            "last_detected": "2026-12-01T10:00:00Z",
        }))
        .unwrap();
        let group = |key: &str, count| GroupCount {
            key: key.to_owned(),
            count,
        };
        let counts = AlertCounts {
            by_severity: vec![group("critical", 9), group("major", 4)],
            by_site: vec![group("north", 13)],
            by_title: vec![group("Write", 2)],
            ..AlertCounts::default()
        };
        assert_eq!(AlertGroup::Severity.count_of(&counts, &alert), 4);
        assert_eq!(AlertGroup::Site.count_of(&counts, &alert), 13);
        assert_eq!(AlertGroup::Title.count_of(&counts, &alert), 0);
        assert_eq!(AlertGroup::Sensor.key_of(&alert), "s1");
    }

    #[test]
    fn audit_filters_turn_a_day_range_into_instants_from_its_start_to_its_end() {
        let query = AuditQuery::from_pairs(&QueryPairs::parse(
            "actor=%20alice%20&action=site&since=2026-11-30&until=2026-12-31",
        ));
        assert!(query.is_filtered());
        assert_eq!(
            query.api_query().to_search(),
            "?actor=alice&action=site&since=2026-11-30T00%3A00%3A00Z&until=2027-01-01T00%3A00%3A00Z"
        );
        let junk = AuditQuery::from_pairs(&QueryPairs::parse(
            "action=nothing&since=2026-02-30&until=soon",
        ));
        assert_eq!(junk, AuditQuery::default());
        assert_eq!(junk.api_query().to_search(), "");
    }

    #[test]
    fn device_filters_go_to_the_api_trimmed_and_unknown_flags_are_ignored() {
        let query = DeviceQuery::from_pairs(&QueryPairs::parse(
            "site=north&type=%20PLC%20&vendor=&authorized=false&inactive=true&q=10.0&device=d1",
        ));
        assert_eq!(query.device, Some(DeviceId::parse("d1").unwrap()));
        assert!(query.is_filtered());
        assert_eq!(
            query.api_query().to_search(),
            "?site_id=north&type=PLC&q=10.0&authorized=false&inactive=true"
        );
        let junk =
            DeviceQuery::from_pairs(&QueryPairs::parse("authorized=yes&inactive=1&device=d2"));
        assert!(!junk.is_filtered());
        assert_eq!(junk.authorized, None);
    }

    #[test]
    fn panes_round_trip() {
        for pane in [
            SitesPane::Onboard,
            SitesPane::EditSite(SiteId::parse("s1").unwrap()),
            SitesPane::Sensor(SensorId::parse("x1").unwrap()),
        ] {
            assert_eq!(SitesPane::parse(&pane.as_param()), Some(pane));
        }
    }
}
