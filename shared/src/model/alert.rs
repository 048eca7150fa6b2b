//! Alerts: what a sensor detected, how their status may change, and what "learn"
//! does to them and to the traffic that raised them.

use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::authz::PrincipalRef;
use crate::model::{
    AlertId, CloseReasonId, SensorId, SensorLocation, SiteId, ZoneId, single_line_text,
};

/// Longest alert title, in characters.
pub const MAX_ALERT_TITLE_CHARS: usize = 200;
/// Longest protocol name (`Modbus/TCP`, `EtherNet/IP`, ...), in characters.
pub const MAX_PROTOCOL_CHARS: usize = 40;

single_line_text!(
    /// An alert's title as the sensor wrote it: trimmed, 1..=200 characters.
    AlertTitle,
    MAX_ALERT_TITLE_CHARS
);

single_line_text!(
    /// The protocol of the traffic behind an alert: trimmed, 1..=40 characters.
    Protocol,
    MAX_PROTOCOL_CHARS
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Major,
    Minor,
    Warning,
}

/// The detection engine that raised an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    PolicyViolation,
    Anomaly,
    Malware,
    ProtocolViolation,
    Operational,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL: [Severity; 4] = [
        Severity::Critical,
        Severity::Major,
        Severity::Minor,
        Severity::Warning,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Major => "major",
            Severity::Minor => "minor",
            Severity::Warning => "warning",
        }
    }
}

impl Engine {
    pub const ALL: [Engine; 5] = [
        Engine::PolicyViolation,
        Engine::Anomaly,
        Engine::Malware,
        Engine::ProtocolViolation,
        Engine::Operational,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Engine::PolicyViolation => "policy_violation",
            Engine::Anomaly => "anomaly",
            Engine::Malware => "malware",
            Engine::ProtocolViolation => "protocol_violation",
            Engine::Operational => "operational",
        }
    }
}

/// Where an alert stands in triage.
///
/// Allowed changes: `new → active`, `new → closed`, `active → closed`, and
/// `closed → active` (reopen). Nothing goes back to `new`: it means nobody has looked
/// yet. Setting the current status again is allowed and changes nothing, so a retried
/// `PATCH` is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    New,
    Active,
    Closed,
}

impl AlertStatus {
    pub const ALL: [AlertStatus; 3] = [AlertStatus::New, AlertStatus::Active, AlertStatus::Closed];

    pub const fn as_str(self) -> &'static str {
        match self {
            AlertStatus::New => "new",
            AlertStatus::Active => "active",
            AlertStatus::Closed => "closed",
        }
    }

    pub fn transition(self, to: AlertStatus) -> Result<StatusChange, IllegalTransition> {
        use AlertStatus::{Active, Closed, New};
        match (self, to) {
            (New, New) | (Active, Active) | (Closed, Closed) => Ok(StatusChange::Unchanged),
            (New, Active) | (New, Closed) | (Active, Closed) | (Closed, Active) => {
                Ok(StatusChange::Changed)
            }
            (Active, New) | (Closed, New) => Err(IllegalTransition { from: self, to }),
        }
    }
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    Unchanged,
    Changed,
}

/// A refused status change (`409`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an alert cannot go from {from} to {to}")]
pub struct IllegalTransition {
    pub from: AlertStatus,
    pub to: AlertStatus,
}

/// Learning an alert that is not learnable (`409`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this alert is not learnable")]
pub struct NotLearnable;

/// What makes two detections "identical": once an alert is learned, detections
/// with its fingerprint are suppressed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fingerprint {
    pub sensor_id: SensorId,
    pub engine: Engine,
    pub title: AlertTitle,
    pub source_ip: IpAddr,
    pub destination_ip: IpAddr,
    pub protocol: Protocol,
}

impl Fingerprint {
    /// A stable string for storing and looking up fingerprints: JSON of the fields in
    /// a fixed order, so no separator can be forged by a title.
    pub fn key(&self) -> String {
        serde_json::json!([
            self.sensor_id,
            self.engine,
            self.title,
            self.source_ip,
            self.destination_ip,
            self.protocol
        ])
        .to_string()
    }
}

/// Largest packet capture kept with an alert, decoded: 256 KiB. A capture is stored as
/// one item next to its alert, and this keeps it well inside one item.
pub const MAX_PCAP_BYTES: usize = 256 * 1024;

/// An alert's packet capture, carried as standard base64 in JSON and decoded on
/// reading, so a body that deserializes holds a real capture of at most
/// [`MAX_PCAP_BYTES`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(value_type = String, format = Byte)
)]
#[serde(try_from = "String", into = "String")]
pub struct PacketCapture(Vec<u8>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be standard base64")]
pub struct InvalidBase64;

/// Why a `pcap_base64` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPacketCapture {
    #[error(transparent)]
    NotBase64(#[from] InvalidBase64),
    #[error("is {0} bytes once decoded, over the limit of {MAX_PCAP_BYTES} bytes (256 KiB)")]
    TooLarge(usize),
}

impl PacketCapture {
    pub fn from_base64(encoded: &str) -> Result<Self, InvalidPacketCapture> {
        // Base64 is 4 characters per 3 bytes: refuse a too long text before decoding it.
        if encoded.len() / 4 * 3 > MAX_PCAP_BYTES + 3 {
            return Err(InvalidPacketCapture::TooLarge(encoded.len() / 4 * 3));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| InvalidBase64)?;
        Self::from_bytes(bytes)
    }

    /// A capture read back from storage (or built from raw bytes), size-checked.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, InvalidPacketCapture> {
        if bytes.len() > MAX_PCAP_BYTES {
            return Err(InvalidPacketCapture::TooLarge(bytes.len()));
        }
        Ok(PacketCapture(bytes))
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for PacketCapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PacketCapture({} bytes)", self.0.len())
    }
}

impl TryFrom<String> for PacketCapture {
    type Error = InvalidPacketCapture;
    fn try_from(encoded: String) -> Result<Self, InvalidPacketCapture> {
        PacketCapture::from_base64(&encoded)
    }
}

impl From<PacketCapture> for String {
    fn from(capture: PacketCapture) -> String {
        base64::engine::general_purpose::STANDARD.encode(capture.0)
    }
}

/// One detection in `POST /ingest/alerts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DetectedAlert {
    pub title: AlertTitle,
    pub severity: Severity,
    pub engine: Engine,
    /// An IPv4 or IPv6 address.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::IpAddress))]
    pub source_ip: IpAddr,
    /// An IPv4 or IPv6 address.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::IpAddress))]
    pub destination_ip: IpAddr,
    pub protocol: Protocol,
    pub learnable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcap_base64: Option<PacketCapture>,
}

impl DetectedAlert {
    pub fn fingerprint(&self, sensor_id: &SensorId) -> Fingerprint {
        Fingerprint {
            sensor_id: sensor_id.clone(),
            engine: self.engine,
            title: self.title.clone(),
            source_ip: self.source_ip,
            destination_ip: self.destination_ip,
            protocol: self.protocol.clone(),
        }
    }
}

/// What ingesting a detection does, given what is known of its fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectionOutcome {
    /// The fingerprint was learned: drop the detection.
    Suppressed,
    /// The latest alert with this fingerprint is still open: refresh its
    /// `last_detected`.
    Refresh,
    /// Nothing open matches (never seen, or the latest one was closed): raise an alert.
    Raise,
}

/// Decides a detection's fate from whether its fingerprint was learned and the status
/// of the latest alert with the same fingerprint.
pub fn on_detection(learned: bool, latest: Option<AlertStatus>) -> DetectionOutcome {
    match (learned, latest) {
        (true, _) => DetectionOutcome::Suppressed,
        (false, Some(AlertStatus::New | AlertStatus::Active)) => DetectionOutcome::Refresh,
        (false, Some(AlertStatus::Closed) | None) => DetectionOutcome::Raise,
    }
}

/// An alert, as stored and as returned by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alert {
    pub id: AlertId,
    pub site_id: SiteId,
    pub sensor_id: SensorId,
    pub zone_id: Option<ZoneId>,
    pub title: AlertTitle,
    pub severity: Severity,
    pub status: AlertStatus,
    pub engine: Engine,
    /// An IPv4 or IPv6 address.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::IpAddress))]
    pub source_ip: IpAddr,
    /// An IPv4 or IPv6 address.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::IpAddress))]
    pub destination_ip: IpAddr,
    pub protocol: Protocol,
    pub learnable: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub first_detected: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_detected: OffsetDateTime,
    /// How many times its sensor detected this traffic while it was open, the first
    /// time included.
    #[serde(default = "one")]
    pub detections: u64,
    /// Who handles it: a user's email or `group:<group id>`, who may view alerts at its
    /// site when assigned.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(example = "analyst@example.com"))]
    pub assignee: Option<PrincipalRef>,
    /// Why it was closed, while it is (one of the subscription's close reasons).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(example = "false_positive"))]
    pub close_reason: Option<CloseReasonId>,
    /// How many comments its timeline holds.
    #[serde(default)]
    pub comments: u64,
}

fn one() -> u64 {
    1
}

/// How long an alert is kept after its last detection: retention removes it then, with
/// its capture and timeline (the seeds' portal keeps alerts 90 days).
pub const ALERT_RETENTION: time::Duration = time::Duration::days(90);

impl Alert {
    /// Not detected for longer than [`ALERT_RETENTION`]: retention removes it.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        now - self.last_detected > ALERT_RETENTION
    }

    /// A new alert for a detection at `now`.
    pub fn raised(
        id: AlertId,
        location: SensorLocation,
        detected: &DetectedAlert,
        now: OffsetDateTime,
    ) -> Alert {
        Alert {
            id,
            site_id: location.site_id,
            sensor_id: location.sensor_id,
            zone_id: location.zone_id,
            title: detected.title.clone(),
            severity: detected.severity,
            status: AlertStatus::New,
            engine: detected.engine,
            source_ip: detected.source_ip,
            destination_ip: detected.destination_ip,
            protocol: detected.protocol.clone(),
            learnable: detected.learnable,
            first_detected: now,
            last_detected: now,
            detections: 1,
            assignee: None,
            close_reason: None,
            comments: 0,
        }
    }

    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint {
            sensor_id: self.sensor_id.clone(),
            engine: self.engine,
            title: self.title.clone(),
            source_ip: self.source_ip,
            destination_ip: self.destination_ip,
            protocol: self.protocol.clone(),
        }
    }

    /// Moves the alert to `to`; a close keeps `reason`, a reopen forgets the last one.
    pub fn change_status(
        &mut self,
        to: AlertStatus,
        reason: Option<CloseReasonId>,
    ) -> Result<StatusChange, IllegalTransition> {
        let change = self.status.transition(to)?;
        self.status = to;
        match to {
            AlertStatus::Closed if change != StatusChange::Unchanged => self.close_reason = reason,
            AlertStatus::Closed => {}
            AlertStatus::New | AlertStatus::Active => self.close_reason = None,
        }
        Ok(change)
    }

    /// Learns the alert: its traffic is expected. Closes it and returns the
    /// fingerprint to suppress from now on. A closed learnable alert can be learned too.
    pub fn learn(&mut self) -> Result<Fingerprint, NotLearnable> {
        if !self.learnable {
            return Err(NotLearnable);
        }
        self.status = AlertStatus::Closed;
        Ok(self.fingerprint())
    }

    /// Records another identical detection on this open alert.
    pub fn detected_again(&mut self, now: OffsetDateTime) {
        self.last_detected = self.last_detected.max(now);
        self.detections = self.detections.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2024-03-01 12:00 UTC);

    fn detection(learnable: bool) -> DetectedAlert {
        serde_json::from_value(serde_json::json!({
            "title": "Unauthorized PLC programming",
            "severity": "major",
            "engine": "policy_violation",
            "source_ip": "10.0.0.5",
            "destination_ip": "10.0.0.9",
            "protocol": "S7",
            "learnable": learnable,
        }))
        .unwrap()
    }

    fn alert(learnable: bool) -> Alert {
        let location = SensorLocation {
            sensor_id: SensorId::parse("sensor-1").unwrap(),
            site_id: SiteId::parse("plant-1").unwrap(),
            zone_id: None,
        };
        Alert::raised(
            AlertId::parse("alert-1").unwrap(),
            location,
            &detection(learnable),
            NOW,
        )
    }

    #[test]
    fn allowed_transitions_are_exactly_the_documented_ones() {
        use AlertStatus::{Active, Closed, New};
        let allowed = [
            (New, Active),
            (New, Closed),
            (Active, Closed),
            (Closed, Active),
        ];
        for from in [New, Active, Closed] {
            for to in [New, Active, Closed] {
                let expected = if from == to {
                    Ok(StatusChange::Unchanged)
                } else if allowed.contains(&(from, to)) {
                    Ok(StatusChange::Changed)
                } else {
                    Err(IllegalTransition { from, to })
                };
                assert_eq!(from.transition(to), expected, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn a_refused_status_change_leaves_the_alert_as_it_was() {
        let mut alert = alert(true);
        let reason = CloseReasonId::parse("duplicate").unwrap();
        alert
            .change_status(AlertStatus::Closed, Some(reason.clone()))
            .unwrap();
        assert_eq!(alert.close_reason, Some(reason));
        assert!(alert.change_status(AlertStatus::New, None).is_err());
        assert_eq!(alert.status, AlertStatus::Closed);
        assert!(alert.close_reason.is_some());
        // a reopen forgets why it was closed
        alert.change_status(AlertStatus::Active, None).unwrap();
        assert_eq!(alert.close_reason, None);
    }

    #[test]
    fn learning_closes_a_learnable_alert_and_yields_its_fingerprint() {
        // GIVEN a new learnable alert
        let mut alert = alert(true);
        // WHEN it is learned
        let fingerprint = alert.learn().unwrap();
        // THEN it is closed and the fingerprint is that of its traffic from its sensor
        assert_eq!(alert.status, AlertStatus::Closed);
        assert_eq!(
            fingerprint,
            detection(true).fingerprint(&SensorId::parse("sensor-1").unwrap())
        );
    }

    #[test]
    fn learning_an_alert_that_is_not_learnable_is_refused_and_keeps_it_open() {
        let mut alert = alert(false);
        assert_eq!(alert.learn(), Err(NotLearnable));
        assert_eq!(alert.status, AlertStatus::New);
    }

    #[test]
    fn fingerprints_differ_when_any_identifying_field_differs() {
        let sensor = SensorId::parse("sensor-1").unwrap();
        let base = detection(true).fingerprint(&sensor);
        let other_sensor = detection(true).fingerprint(&SensorId::parse("sensor-2").unwrap());
        let mut other_port = detection(true);
        other_port.protocol = Protocol::parse("Modbus/TCP").unwrap();
        let mut other_severity = detection(true);
        other_severity.severity = Severity::Critical;
        assert_ne!(base.key(), other_sensor.key());
        assert_ne!(base.key(), other_port.fingerprint(&sensor).key());
        // severity is not part of "identical traffic"
        assert_eq!(base.key(), other_severity.fingerprint(&sensor).key());
    }

    #[test]
    fn identical_traffic_is_suppressed_refreshed_or_raised_by_what_came_before() {
        assert_eq!(on_detection(true, None), DetectionOutcome::Suppressed);
        assert_eq!(
            on_detection(true, Some(AlertStatus::Active)),
            DetectionOutcome::Suppressed
        );
        assert_eq!(on_detection(false, None), DetectionOutcome::Raise);
        assert_eq!(
            on_detection(false, Some(AlertStatus::New)),
            DetectionOutcome::Refresh
        );
        assert_eq!(
            on_detection(false, Some(AlertStatus::Active)),
            DetectionOutcome::Refresh
        );
        assert_eq!(
            on_detection(false, Some(AlertStatus::Closed)),
            DetectionOutcome::Raise
        );
    }

    #[test]
    fn a_repeat_detection_moves_last_detected_forward_only() {
        let mut alert = alert(true);
        alert.detected_again(NOW + Duration::minutes(5));
        alert.detected_again(NOW + Duration::minutes(1));
        assert_eq!(alert.first_detected, NOW);
        assert_eq!(alert.last_detected, NOW + Duration::minutes(5));
    }

    #[test]
    fn alerts_serialize_with_contract_names_and_rfc3339_times() {
        let json = serde_json::to_value(alert(true)).unwrap();
        assert_eq!(json["status"], "new");
        assert_eq!(json["engine"], "policy_violation");
        assert_eq!(json["first_detected"], "2024-03-01T12:00:00Z");
        assert_eq!(json["source_ip"], "10.0.0.5");
    }

    #[test]
    fn packet_captures_must_be_base64() {
        let detected: DetectedAlert = serde_json::from_value(serde_json::json!({
            "title": "t", "severity": "minor", "engine": "anomaly", "source_ip": "10.0.0.1",
            "destination_ip": "10.0.0.2", "protocol": "TCP", "learnable": false,
            "pcap_base64": "1MOyoQ=="
        }))
        .unwrap();
        let capture = detected.pcap_base64.unwrap();
        assert_eq!(capture.as_bytes(), [0xd4, 0xc3, 0xb2, 0xa1]);
        assert!(PacketCapture::from_base64("not base64!").is_err());
    }

    #[test]
    fn packet_captures_over_256_kib_are_refused_and_up_to_it_kept() {
        use base64::Engine as _;
        let encode = |len: usize| base64::engine::general_purpose::STANDARD.encode(vec![7u8; len]);
        let largest = PacketCapture::from_base64(&encode(MAX_PCAP_BYTES)).unwrap();
        assert_eq!(largest.as_bytes().len(), MAX_PCAP_BYTES);
        assert_eq!(
            PacketCapture::from_base64(&encode(MAX_PCAP_BYTES + 1)),
            Err(InvalidPacketCapture::TooLarge(MAX_PCAP_BYTES + 1))
        );
        assert!(matches!(
            PacketCapture::from_base64(&encode(4 * MAX_PCAP_BYTES)),
            Err(InvalidPacketCapture::TooLarge(_))
        ));
        let error = serde_json::from_value::<DetectedAlert>(serde_json::json!({
            "title": "t", "severity": "minor", "engine": "anomaly", "source_ip": "10.0.0.1",
            "destination_ip": "10.0.0.2", "protocol": "TCP", "learnable": false,
            "pcap_base64": encode(MAX_PCAP_BYTES + 1)
        }))
        .unwrap_err();
        assert!(error.to_string().contains("256 KiB"), "{error}");
    }
}
