//! `vigil sensor-sim`: simulated OT sensors that drive any Vigil, local or deployed,
//! through the same HTTP API and credentials real sensors use.
//!
//! Each sensor heartbeats on schedule, sends its device inventory, and between
//! heartbeats posts batches of alerts drawn from a catalogue of OT detections (Modbus,
//! S7, DNP3, BACnet, CIP...; engines and severities in the proportions a plant sees),
//! part of them repeats of earlier detections, which Vigil deduplicates. It follows the
//! pending actions a heartbeat answers like a sensor would: it installs the TI package
//! or software version and reports it in its next heartbeat.
//!
//! What it counts is only what Vigil acknowledged, so a bounded run on a fresh
//! subscription can be checked against what the API then lists.

use std::collections::HashSet;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::api::{
    Accepted, ActivationFile, Heartbeat, HeartbeatResponse, IngestAlerts, IngestDevices,
    OnboardedSensor,
};
use shared::model::{
    AlertTitle, DetectedAlert, DisplayName, Engine, MacAddress, ObservedDevice, PendingAction,
    Protocol, SensorHealth, SensorId, SettingsReport, Severity, SoftwareRelease, SoftwareVersion,
    TiVersion, latest_ti_package,
};
use time::OffsetDateTime;
use tokio::time::Instant;

#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Vigil's address, e.g. `https://vigil.example.com` (the API is under `/api`); by
    /// default each activation file's own `api_url`.
    #[arg(long)]
    pub url: Option<String>,
    /// The activation file of a sensor to simulate, as downloaded from Vigil (repeat
    /// the option for more sensors).
    #[arg(long = "activation-file", value_name = "FILE")]
    pub activation_files: Vec<PathBuf>,
    /// Onboard this many new OT sensors first, with --token, --subscription and --site.
    #[arg(long, default_value_t = 0)]
    pub onboard: usize,
    /// A bearer token that may onboard sensors (a user's, or an API token `vat_...`).
    #[arg(long, env = "VIGIL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The subscription to onboard into.
    #[arg(long)]
    pub subscription: Option<String>,
    /// The site to onboard into.
    #[arg(long)]
    pub site: Option<String>,
    /// The zone to onboard into (default: the site's default zone).
    #[arg(long)]
    pub zone: Option<String>,
    /// Save the onboarded sensors' activation files in this folder, for later runs.
    #[arg(long, value_name = "DIR")]
    pub save_activation_files: Option<PathBuf>,
    #[command(flatten)]
    pub behaviour: Behaviour,
    /// Stop after this many seconds; by default run until interrupted.
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Seconds between two summary lines.
    #[arg(long, default_value_t = 10.0)]
    pub report_seconds: f64,
    /// Print the final summary as JSON on standard output.
    #[arg(long)]
    pub json: bool,
}

/// How every simulated sensor behaves.
#[derive(Debug, Clone, clap::Args)]
pub struct Behaviour {
    /// Seconds between two heartbeats of a sensor.
    #[arg(long, default_value_t = 60.0)]
    pub heartbeat_seconds: f64,
    /// Alerts a sensor detects per minute, on average.
    #[arg(long, default_value_t = 2.0)]
    pub alerts_per_minute: f64,
    /// Seconds between two alert batches of a sensor.
    #[arg(long, default_value_t = 10.0)]
    pub batch_seconds: f64,
    /// The share of detections that repeat one the sensor sent before (0 to 1).
    #[arg(long, default_value_t = 0.3)]
    pub repeats: f64,
    /// Devices each sensor sees (2 to 200), a tenth of them long quiet.
    #[arg(long, default_value_t = 40)]
    pub devices_per_sensor: usize,
    /// The software version the sensors run until told to update.
    #[arg(long, value_parser = software_version, default_value_t = SoftwareRelease::latest().version())]
    pub version: SoftwareVersion,
    /// The TI package the sensors have until pushed another (default: the latest).
    #[arg(long, value_parser = ti_version)]
    pub ti_version: Option<TiVersion>,
    /// Seed of the traffic each sensor makes up (the same seed, the same traffic).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

fn software_version(raw: &str) -> Result<SoftwareVersion, String> {
    SoftwareVersion::parse(raw).map_err(|error| error.to_string())
}

fn ti_version(raw: &str) -> Result<TiVersion, String> {
    TiVersion::parse(raw).map_err(|error| error.to_string())
}

const MAX_DEVICES_PER_SENSOR: usize = 200;

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{0}")]
    Usage(String),
    #[error("reading {path}: {error}")]
    ActivationFile { path: PathBuf, error: String },
    #[error("onboarding a sensor: {0}")]
    Onboarding(String),
}

impl Behaviour {
    fn check(&self) -> Result<(), SimError> {
        let positive = |value: f64| value.is_finite() && value > 0.0;
        if !positive(self.heartbeat_seconds) || !positive(self.batch_seconds) {
            return Err(SimError::Usage(
                "--heartbeat-seconds and --batch-seconds must be more than 0".into(),
            ));
        }
        if !(self.alerts_per_minute.is_finite() && self.alerts_per_minute >= 0.0) {
            return Err(SimError::Usage(
                "--alerts-per-minute must be 0 or more".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.repeats) {
            return Err(SimError::Usage("--repeats must be between 0 and 1".into()));
        }
        if !(2..=MAX_DEVICES_PER_SENSOR).contains(&self.devices_per_sensor) {
            return Err(SimError::Usage(format!(
                "--devices-per-sensor must be 2 to {MAX_DEVICES_PER_SENSOR}"
            )));
        }
        Ok(())
    }
}

/// What the simulated sensors sent and Vigil acknowledged, and what they installed.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub sensors: u64,
    pub heartbeats: u64,
    /// Detections in batches answered `202`, repeats included.
    pub alerts_sent: u64,
    /// Distinct detections (fingerprints) among them: the alerts Vigil raises when
    /// nobody closes or learns one meanwhile.
    pub distinct_alerts: u64,
    /// Device observations answered `202`.
    pub device_observations: u64,
    /// Distinct devices among them.
    pub distinct_devices: u64,
    pub ti_updates_installed: u64,
    pub software_updates_installed: u64,
    /// Settings revisions applied (each reported by the next heartbeat).
    pub settings_applied: u64,
    /// Requests Vigil refused or that failed on the way.
    pub failed_requests: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} sensors · {} heartbeats · {} alerts sent ({} distinct) · {} devices ({} observations) · {} TI and {} software updates installed · {} settings applied · {} failed requests",
            self.sensors,
            self.heartbeats,
            self.alerts_sent,
            self.distinct_alerts,
            self.distinct_devices,
            self.device_observations,
            self.ti_updates_installed,
            self.software_updates_installed,
            self.settings_applied,
            self.failed_requests,
        )
    }
}

/// The running totals every sensor adds to.
#[derive(Debug, Default)]
struct Tally {
    sensors: AtomicU64,
    heartbeats: AtomicU64,
    alerts_sent: AtomicU64,
    distinct_alerts: AtomicU64,
    device_observations: AtomicU64,
    distinct_devices: AtomicU64,
    ti_updates_installed: AtomicU64,
    software_updates_installed: AtomicU64,
    settings_applied: AtomicU64,
    failed_requests: AtomicU64,
}

impl Tally {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn summary(&self) -> Summary {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Summary {
            sensors: read(&self.sensors),
            heartbeats: read(&self.heartbeats),
            alerts_sent: read(&self.alerts_sent),
            distinct_alerts: read(&self.distinct_alerts),
            device_observations: read(&self.device_observations),
            distinct_devices: read(&self.distinct_devices),
            ti_updates_installed: read(&self.ti_updates_installed),
            software_updates_installed: read(&self.software_updates_installed),
            settings_applied: read(&self.settings_applied),
            failed_requests: read(&self.failed_requests),
        }
    }
}

/// `vigil sensor-sim`: gathers the sensors, drives them, and prints the summary.
pub async fn run(args: SimArgs) -> Result<Summary, SimError> {
    args.behaviour.check()?;
    if args.seconds.is_some_and(|s| !(s.is_finite() && s > 0.0)) || args.report_seconds <= 0.0 {
        return Err(SimError::Usage(
            "--seconds and --report-seconds must be more than 0".into(),
        ));
    }
    let http = http_client();
    let mut sensors = Vec::new();
    for path in &args.activation_files {
        let read = std::fs::read(path).map_err(|error| error.to_string());
        let file = read.and_then(|bytes| {
            serde_json::from_slice::<ActivationFile>(&bytes).map_err(|error| error.to_string())
        });
        sensors.push(file.map_err(|error| SimError::ActivationFile {
            path: path.clone(),
            error,
        })?);
    }
    if args.onboard > 0 {
        sensors.extend(onboard(&http, &args).await?);
    }
    if sensors.is_empty() {
        return Err(SimError::Usage(
            "no sensors: give --activation-file, or --onboard N with --token, --subscription and --site".into(),
        ));
    }
    let api = args.url.as_deref().map(api_root);
    let until = args.seconds.map(Duration::from_secs_f64);
    let report_every = Duration::from_secs_f64(args.report_seconds);
    let tally = Arc::new(Tally::default());
    let driving = drive(
        Fleet {
            http,
            sensors,
            api,
            behaviour: args.behaviour,
        },
        until,
        report_every,
        tally.clone(),
    );
    // Interrupted, a request in flight may be acknowledged without being counted.
    tokio::select! {
        () = driving => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    let summary = tally.summary();
    tracing::info!("sensor-sim done: {summary}");
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&summary).expect("a summary serializes")
        );
    }
    Ok(summary)
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client with rustls")
}

/// The API's root under Vigil's address.
fn api_root(url: &str) -> String {
    format!("{}/api", url.trim_end_matches('/'))
}

/// Onboards `--onboard` OT sensors as the holder of `--token`, and saves their
/// activation files when asked.
async fn onboard(http: &reqwest::Client, args: &SimArgs) -> Result<Vec<ActivationFile>, SimError> {
    let (Some(url), Some(token), Some(subscription), Some(site)) =
        (&args.url, &args.token, &args.subscription, &args.site)
    else {
        return Err(SimError::Usage(
            "--onboard needs --url, --token, --subscription and --site".into(),
        ));
    };
    let endpoint = format!("{}/subscriptions/{subscription}/sensors", api_root(url));
    // Names unique to this run, so runs can share a site.
    let run = ulid::Ulid::new().to_string()[20..].to_lowercase();
    let mut files = Vec::new();
    for number in 1..=args.onboard {
        let body = serde_json::json!({
            "name": format!("sim-{run}-{number:03}"),
            "type": "ot_cloud_connected",
            "site_id": site,
            "zone_id": args.zone,
        });
        let request = http.post(&endpoint).bearer_auth(token).json(&body);
        let onboarded: OnboardedSensor = answer(request).await.map_err(SimError::Onboarding)?;
        if let Some(folder) = &args.save_activation_files {
            let path = folder.join(format!("{}.json", onboarded.activation_file.sensor_id));
            let text = serde_json::to_vec_pretty(&onboarded.activation_file)
                .expect("an activation file serializes");
            std::fs::create_dir_all(folder)
                .and_then(|()| std::fs::write(&path, text))
                .map_err(|error| SimError::ActivationFile {
                    path,
                    error: error.to_string(),
                })?;
        }
        files.push(onboarded.activation_file);
    }
    Ok(files)
}

/// Sends a request and reads its JSON answer; any other status is an error naming it.
async fn answer<T: DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<T, String> {
    let response = request.send().await.map_err(|error| error.to_string())?;
    let status = response.status();
    let body = response.bytes().await.map_err(|error| error.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
    }
    serde_json::from_slice(&body)
        .map_err(|error| format!("{status} with an unreadable body: {error}"))
}

/// The sensors to drive and how.
struct Fleet {
    http: reqwest::Client,
    sensors: Vec<ActivationFile>,
    /// The API root to use instead of each activation file's `api_url`.
    api: Option<String>,
    behaviour: Behaviour,
}

/// Drives every sensor of `fleet` for `until` (or for ever), logging the totals every
/// `report_every`.
async fn drive(fleet: Fleet, until: Option<Duration>, report_every: Duration, tally: Arc<Tally>) {
    let started = Instant::now();
    let deadline = until.map(|until| started + until);
    let behaviour = Arc::new(fleet.behaviour);
    let count = fleet.sensors.len();
    let mut sensors = tokio::task::JoinSet::new();
    for (index, file) in fleet.sensors.into_iter().enumerate() {
        let api = fleet.api.clone().unwrap_or_else(|| file.api_url.clone());
        let sensor = SimulatedSensor::new(file, api, fleet.http.clone(), &behaviour);
        // Spread over one heartbeat period, as a fleet that did not boot at once.
        let offset = behaviour.heartbeat_seconds * index as f64 / count as f64;
        let start = started + Duration::from_secs_f64(offset);
        sensors.spawn(sensor.run(start, deadline, behaviour.clone(), tally.clone()));
    }
    let mut reports = tokio::time::interval_at(started + report_every, report_every);
    loop {
        tokio::select! {
            done = sensors.join_next() => if done.is_none() { break },
            _ = reports.tick() => tracing::info!("sensor-sim: {}", tally.summary()),
        }
    }
}

/// Drives the demo's sensors over HTTP for as long as `vigil serve --demo` runs: a
/// heartbeat every 30 s and a few detections an hour each, mostly repeats.
pub async fn drive_demo(origin: String, sensors: Vec<ActivationFile>) {
    let fleet = Fleet {
        http: http_client(),
        sensors,
        api: Some(api_root(&origin)),
        behaviour: Behaviour {
            heartbeat_seconds: 30.0,
            alerts_per_minute: 0.05,
            batch_seconds: 60.0,
            repeats: 0.6,
            devices_per_sensor: crate::demo::DEVICES_PER_SENSOR,
            version: SoftwareRelease::latest().version(),
            ti_version: None,
            seed: crate::demo::SEED,
        },
    };
    drive(fleet, None, Duration::from_secs(300), Arc::default()).await;
}

/// One sensor: its credentials, what it runs and the traffic it sees.
struct SimulatedSensor {
    http: reqwest::Client,
    api: String,
    token: String,
    version: SoftwareVersion,
    ti_version: TiVersion,
    /// What the next heartbeat says about the settings last received.
    settings: Option<SettingsReport>,
    traffic: SensorTraffic,
    /// Digests of the fingerprints Vigil acknowledged, to count the distinct ones.
    sent: HashSet<u64>,
    /// The devices Vigil acknowledged.
    seen_devices: HashSet<(IpAddr, MacAddress)>,
}

impl SimulatedSensor {
    fn new(
        file: ActivationFile,
        api: String,
        http: reqwest::Client,
        behaviour: &Behaviour,
    ) -> Self {
        SimulatedSensor {
            http,
            api: api.trim_end_matches('/').to_owned(),
            token: file.token,
            version: behaviour.version.clone(),
            ti_version: behaviour
                .ti_version
                .clone()
                .unwrap_or_else(latest_ti_package),
            settings: None,
            traffic: SensorTraffic::new(
                &file.sensor_id,
                behaviour.devices_per_sensor,
                behaviour.seed,
                OffsetDateTime::now_utc(),
            ),
            sent: HashSet::new(),
            seen_devices: HashSet::new(),
        }
    }

    async fn run(
        mut self,
        start: Instant,
        deadline: Option<Instant>,
        behaviour: Arc<Behaviour>,
        tally: Arc<Tally>,
    ) {
        let past = |at: Instant| deadline.is_some_and(|deadline| at >= deadline);
        if past(start) {
            return;
        }
        tokio::time::sleep_until(start).await;
        Tally::add(&tally.sensors, 1);
        let inventory = self.traffic.inventory();
        self.send_devices(inventory, &tally).await;
        self.heartbeat(&tally).await;
        let heartbeat_every = Duration::from_secs_f64(behaviour.heartbeat_seconds);
        let batch_every = Duration::from_secs_f64(behaviour.batch_seconds);
        let alerts_per_batch = behaviour.alerts_per_minute * behaviour.batch_seconds / 60.0;
        let mut next_heartbeat = start + heartbeat_every;
        let mut next_batch = start + batch_every;
        let mut owed = 0.0;
        loop {
            let next = next_heartbeat.min(next_batch);
            if past(next) {
                return;
            }
            tokio::time::sleep_until(next).await;
            if next == next_batch {
                next_batch += batch_every;
                // Traffic comes in bursts: half to one and a half times the mean, the
                // remainder carried so the rate holds.
                owed += alerts_per_batch * (0.5 + self.traffic.dice.unit());
                let count = owed.floor();
                owed -= count;
                if count >= 1.0 {
                    let alerts = self.traffic.detections(count as usize, behaviour.repeats);
                    self.send_alerts(alerts, &tally).await;
                }
            } else {
                next_heartbeat += heartbeat_every;
                let active = self.traffic.activity(OffsetDateTime::now_utc());
                self.send_devices(active, &tally).await;
                self.heartbeat(&tally).await;
            }
        }
    }

    fn post(&self, path: &str, body: &impl Serialize) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/ingest/{path}", self.api))
            .bearer_auth(&self.token)
            .json(body)
    }

    fn failed(tally: &Tally, path: &str, error: &str) {
        let before = tally.failed_requests.fetch_add(1, Ordering::Relaxed);
        // The first failures say why; after that they are only counted.
        if before < 5 {
            tracing::warn!("sensor-sim: POST /ingest/{path} failed: {error}");
        }
    }

    async fn heartbeat(&mut self, tally: &Tally) {
        let report = Heartbeat {
            version: self.version.clone(),
            ti_version: Some(self.ti_version.clone()),
            health: SensorHealth::Healthy,
            issues: Vec::new(),
            settings: self.settings.clone(),
        };
        match answer::<HeartbeatResponse>(self.post("heartbeat", &report)).await {
            Ok(response) => {
                Tally::add(&tally.heartbeats, 1);
                // Installed now, reported by the next heartbeat, as a sensor does.
                for action in response.pending {
                    match action {
                        PendingAction::TiUpdate { ti_version } => {
                            self.ti_version = ti_version;
                            Tally::add(&tally.ti_updates_installed, 1);
                        }
                        PendingAction::SoftwareUpdate { version } => {
                            self.version = version;
                            Tally::add(&tally.software_updates_installed, 1);
                        }
                        // Sent again until reported: applied once per revision.
                        PendingAction::ApplySettings { revision, .. } => {
                            if self
                                .settings
                                .as_ref()
                                .is_none_or(|r| r.revision != revision)
                            {
                                self.settings = Some(SettingsReport {
                                    revision,
                                    error: None,
                                });
                                Tally::add(&tally.settings_applied, 1);
                            }
                        }
                    }
                }
            }
            Err(error) => Self::failed(tally, "heartbeat", &error),
        }
    }

    /// Posts `body` to the ingest endpoint `path`: whether Vigil acknowledged it (a
    /// failure is counted).
    async fn deliver(&self, path: &str, body: &impl Serialize, tally: &Tally) -> bool {
        match answer::<Accepted>(self.post(path, body)).await {
            Ok(_) => true,
            Err(error) => {
                Self::failed(tally, path, &error);
                false
            }
        }
    }

    async fn send_alerts(&mut self, alerts: Vec<DetectedAlert>, tally: &Tally) {
        let body = IngestAlerts { alerts };
        if !self.deliver("alerts", &body, tally).await {
            return;
        }
        Tally::add(&tally.alerts_sent, body.alerts.len());
        for alert in &body.alerts {
            let fingerprint = alert.fingerprint(&self.traffic.sensor_id);
            if self.sent.insert(digest(&fingerprint)) {
                Tally::add(&tally.distinct_alerts, 1);
            }
        }
        self.traffic.remember(body.alerts);
    }

    async fn send_devices(&mut self, devices: Vec<ObservedDevice>, tally: &Tally) {
        let body = IngestDevices { devices };
        if !self.deliver("devices", &body, tally).await {
            return;
        }
        Tally::add(&tally.device_observations, body.devices.len());
        for device in &body.devices {
            if self.seen_devices.insert((device.ip, device.mac)) {
                Tally::add(&tally.distinct_devices, 1);
            }
        }
    }
}

fn digest(value: &impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// A small deterministic generator: the same seed, the same traffic.
struct Dice(u64);

impl Dice {
    fn new(seed: u64) -> Self {
        Dice(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// A number in [0, 1).
    fn unit(&mut self) -> f64 {
        self.next() as f64 / (1u64 << 31) as f64
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() as usize) % items.len()]
    }
}

/// A detection a sensor's engines raise, and how often among all of them.
struct Detection {
    title: &'static str,
    engine: Engine,
    severity: Severity,
    protocol: &'static str,
    learnable: bool,
    weight: u32,
}

const fn detection(
    title: &'static str,
    engine: Engine,
    severity: Severity,
    protocol: &'static str,
    learnable: bool,
    weight: u32,
) -> Detection {
    Detection {
        title,
        engine,
        severity,
        protocol,
        learnable,
        weight,
    }
}

/// What OT sensors raise, weighted as a plant sees it: mostly policy violations (new
/// activity against the learned baseline), then anomalies and protocol violations,
/// some operational events and, rarely, malware.
#[rustfmt::skip]
const CATALOGUE: [Detection; 18] = {
    use Engine::*;
    use Severity::*;
    [
        detection("New activity detected - Modbus write", PolicyViolation, Warning, "modbus", true, 10),
        detection("New activity detected - CIP class service", PolicyViolation, Warning, "cip", true, 8),
        detection("Unauthorized PLC programming", PolicyViolation, Major, "s7", true, 6),
        detection("Unpermitted BACnet write property", PolicyViolation, Minor, "bacnet", true, 6),
        detection("Unauthorized DNP3 control operation", PolicyViolation, Major, "dnp3", true, 5),
        detection("PLC stop command was sent", PolicyViolation, Critical, "s7", false, 2),
        detection("Excessive number of sessions", Anomaly, Warning, "modbus", true, 6),
        detection("Unusual traffic volume between devices", Anomaly, Minor, "bacnet", true, 5),
        detection("Address scan detected", Anomaly, Major, "icmp", false, 5),
        detection("Unknown device communicating with controller", Anomaly, Critical, "modbus", true, 4),
        detection("Illegal Modbus operation (function code zero)", ProtocolViolation, Major, "modbus", false, 6),
        detection("Illegal DNP3 operation", ProtocolViolation, Major, "dnp3", false, 5),
        detection("S7 packet with an invalid header", ProtocolViolation, Minor, "s7", false, 5),
        detection("Invalid BACnet APDU", ProtocolViolation, Minor, "bacnet", false, 4),
        detection("Firmware version changed", Operational, Minor, "s7", true, 4),
        detection("Controller restarted", Operational, Warning, "cip", true, 4),
        detection("Outstation restarted", Operational, Warning, "dnp3", true, 4),
        detection("Suspicion of malicious activity (Ransomware)", Malware, Critical, "smb", false, 3),
    ]
};

const VENDORS: [&str; 6] = [
    "Siemens",
    "Rockwell Automation",
    "Schneider Electric",
    "ABB",
    "Honeywell",
    "Emerson",
];
const DEVICE_TYPES: [&str; 5] = ["PLC", "HMI", "Engineering station", "Historian", "IED"];

/// How many earlier detections a sensor keeps to repeat.
const REMEMBERED_DETECTIONS: usize = 256;

/// The network one sensor watches: its devices, on a /24 of its own, and the
/// detections it has made.
pub(crate) struct SensorTraffic {
    sensor_id: SensorId,
    devices: Vec<ObservedDevice>,
    /// The first `talking` devices are active; the rest went quiet over a month ago.
    talking: usize,
    recent: Vec<DetectedAlert>,
    dice: Dice,
}

impl SensorTraffic {
    /// The devices of the sensor `sensor_id` as of `now`: the same sensor and seed
    /// give the same addresses, names and vendors.
    pub(crate) fn new(sensor_id: &SensorId, count: usize, seed: u64, now: OffsetDateTime) -> Self {
        let [_, _, _, _, _, _, b, c] = digest(&(sensor_id.as_str(), seed)).to_be_bytes();
        let mut dice = Dice::new(seed ^ digest(&sensor_id.as_str()));
        let quiet = count / 10;
        let devices = (1..=count)
            .map(|host| {
                let host = host as u8;
                let kind = *dice.pick(&DEVICE_TYPES);
                let vendor = *dice.pick(&VENDORS);
                let quiet_for = if usize::from(host) > count - quiet {
                    time::Duration::days(31 + (dice.next() % 30) as i64)
                } else {
                    time::Duration::minutes((dice.next() % 60) as i64)
                };
                ObservedDevice {
                    ip: IpAddr::V4(Ipv4Addr::new(10, b, c, host)),
                    mac: MacAddress::parse(&format!("02:1b:{b:02x}:{c:02x}:00:{host:02x}"))
                        .expect("a well-formed MAC address"),
                    name: DisplayName::parse(&format!(
                        "{}-{c:03}-{host:03}",
                        kind.to_lowercase().replace(' ', "-")
                    ))
                    .ok(),
                    device_type: DisplayName::parse(kind).ok(),
                    vendor: DisplayName::parse(vendor).ok(),
                    last_activity: now - quiet_for,
                    endpoint_managed: false,
                }
            })
            .collect::<Vec<_>>();
        SensorTraffic {
            sensor_id: sensor_id.clone(),
            talking: devices.len() - quiet,
            devices,
            recent: Vec::new(),
            dice,
        }
    }

    /// Every device, as the sensor reports its inventory on connecting.
    pub(crate) fn inventory(&self) -> Vec<ObservedDevice> {
        self.devices.clone()
    }

    /// A tenth of the active devices (at least one), seen talking at `now`.
    fn activity(&mut self, now: OffsetDateTime) -> Vec<ObservedDevice> {
        let count = (self.talking / 10).max(1);
        (0..count)
            .map(|_| {
                let index = (self.dice.next() as usize) % self.talking;
                ObservedDevice {
                    last_activity: now,
                    ..self.devices[index].clone()
                }
            })
            .collect()
    }

    /// `count` detections, each a repeat of an earlier one with probability `repeats`.
    pub(crate) fn detections(&mut self, count: usize, repeats: f64) -> Vec<DetectedAlert> {
        let total_weight: u32 = CATALOGUE.iter().map(|d| d.weight).sum();
        (0..count)
            .map(|_| {
                if !self.recent.is_empty() && self.dice.unit() < repeats {
                    return self.dice.pick(&self.recent).clone();
                }
                let mut roll = (self.dice.next() % u64::from(total_weight)) as u32;
                let kind = CATALOGUE
                    .iter()
                    .find(|d| {
                        let hit = roll < d.weight;
                        roll = roll.saturating_sub(d.weight);
                        hit
                    })
                    .expect("the roll is below the total weight");
                let talking = &self.devices[..self.talking.max(2)];
                let source = (self.dice.next() as usize) % talking.len();
                let step = 1 + (self.dice.next() as usize) % (talking.len() - 1);
                DetectedAlert {
                    title: AlertTitle::parse(kind.title).expect("catalogue titles are valid"),
                    severity: kind.severity,
                    engine: kind.engine,
                    source_ip: talking[source].ip,
                    destination_ip: talking[(source + step) % talking.len()].ip,
                    protocol: Protocol::parse(kind.protocol)
                        .expect("catalogue protocols are valid"),
                    learnable: kind.learnable,
                    pcap_base64: None,
                }
            })
            .collect()
    }

    /// Keeps acknowledged detections to repeat later.
    fn remember(&mut self, alerts: Vec<DetectedAlert>) {
        for alert in alerts {
            if self.recent.len() < REMEMBERED_DETECTIONS {
                self.recent.push(alert);
            } else {
                let slot = (self.dice.next() as usize) % REMEMBERED_DETECTIONS;
                self.recent[slot] = alert;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sensor(id: &str) -> SensorId {
        SensorId::parse(id).expect("a sensor id")
    }

    const NOW: OffsetDateTime = time::macros::datetime!(2026-12-01 12:00 UTC);

    #[test]
    fn a_sensor_and_seed_always_see_the_same_network_and_other_sensors_another() {
        let a = sensor("01M8XX2AYFNAFNSMF62VTDQR17");
        let b = sensor("01M8XX2AYM33K25PVA4GFA14KW");
        let first = SensorTraffic::new(&a, 40, 7, NOW).inventory();
        assert_eq!(first, SensorTraffic::new(&a, 40, 7, NOW).inventory());
        let other = SensorTraffic::new(&b, 40, 7, NOW).inventory();
        let addresses = |devices: &[ObservedDevice]| {
            devices
                .iter()
                .map(|d| (d.ip, d.mac))
                .collect::<HashSet<_>>()
        };
        assert_eq!(addresses(&first).len(), 40);
        assert!(addresses(&first).is_disjoint(&addresses(&other)));
        // a tenth went quiet over a month ago: inactive in Vigil's sense
        let quiet = first
            .iter()
            .filter(|d| NOW - d.last_activity > shared::model::INACTIVITY_LIMIT)
            .count();
        assert_eq!(quiet, 4);
    }

    #[test]
    fn detections_follow_the_catalogue_and_repeat_only_what_was_sent() {
        let id = sensor("01M8XX2AYFNAFNSMF62VTDQR17");
        let key = |alert: &DetectedAlert| digest(&alert.fingerprint(&id));
        let mut traffic = SensorTraffic::new(&id, 40, 1, NOW);
        let first = traffic.detections(2_000, 0.9);
        // nothing was acknowledged yet, so nothing repeats
        let distinct: HashSet<u64> = first.iter().map(key).collect();
        // (a few coincide by chance: 18 kinds between 36 talking devices)
        assert!(distinct.len() > 1_800, "{} distinct", distinct.len());
        let engines: HashSet<Engine> = first.iter().map(|a| a.engine).collect();
        assert_eq!(engines.len(), 5, "{engines:?}");
        let policy = first
            .iter()
            .filter(|a| a.engine == Engine::PolicyViolation)
            .count();
        assert!((700..1_100).contains(&policy), "{policy} policy violations");
        assert!(first.iter().all(|a| a.source_ip != a.destination_ip));
        traffic.remember(first.clone());
        let remembered: HashSet<u64> = traffic.recent.iter().map(key).collect();
        let later = traffic.detections(1_000, 0.5);
        let repeats = later
            .iter()
            .filter(|a| remembered.contains(&key(a)))
            .count();
        assert!((400..600).contains(&repeats), "{repeats} repeats");
    }

    #[test]
    fn bad_behaviour_is_refused_with_the_option_named() {
        let good = Behaviour {
            heartbeat_seconds: 60.0,
            alerts_per_minute: 2.0,
            batch_seconds: 10.0,
            repeats: 0.3,
            devices_per_sensor: 40,
            version: SoftwareRelease::latest().version(),
            ti_version: None,
            seed: 1,
        };
        assert!(good.check().is_ok());
        for (bad, option) in [
            (
                Behaviour {
                    repeats: 1.5,
                    ..good.clone()
                },
                "--repeats",
            ),
            (
                Behaviour {
                    heartbeat_seconds: 0.0,
                    ..good.clone()
                },
                "--heartbeat-seconds",
            ),
            (
                Behaviour {
                    alerts_per_minute: f64::NAN,
                    ..good.clone()
                },
                "--alerts-per-minute",
            ),
            (
                Behaviour {
                    devices_per_sensor: 500,
                    ..good.clone()
                },
                "--devices-per-sensor",
            ),
        ] {
            let error = bad.check().expect_err(option).to_string();
            assert!(error.contains(option), "{error}");
        }
    }
}
