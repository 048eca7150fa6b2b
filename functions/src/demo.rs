//! Demo data for `vigil serve --demo`: a console that is alive on first start.
//!
//! The demo is a scripted client of Vigil's own HTTP API, called in process: it goes
//! through exactly the routes, rules and store writes a real client would, and never
//! writes an item behind the API's back. Seeding is idempotent (an owner who already
//! has the demo subscription is left alone); afterwards the demo sensors keep sending
//! heartbeats, as a real fleet would.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use shared::model::Email;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tower::ServiceExt;

use crate::auth::Authenticator;

pub const DEMO_SUBSCRIPTION_NAME: &str = "Contoso Manufacturing";
pub const DEMO_OWNER: &str = "owner@vigil.demo";

/// One user per built-in role at subscription scope, and one per role at the site
/// "Plant North" (listed in the README).
pub const SUBSCRIPTION_USERS: [(&str, &str); 3] = [
    ("admin@vigil.demo", "security_admin"),
    ("contributor@vigil.demo", "contributor"),
    ("reader@vigil.demo", "security_reader"),
];
pub const SITE_USERS: [(&str, &str); 4] = [
    ("north.owner@vigil.demo", "owner"),
    ("north.admin@vigil.demo", "security_admin"),
    ("north.contributor@vigil.demo", "contributor"),
    ("north.reader@vigil.demo", "security_reader"),
];

const SITES: [(&str, &[&str]); 3] = [
    ("Plant North", &["Assembly", "Packaging", "Utilities"]),
    ("Plant South", &["Boilers", "Water treatment"]),
    ("Warehouse East", &["Logistics"]),
];
const SENSORS_PER_ZONE: usize = 8;
const DEVICES_PER_SENSOR: usize = 40;
const ALERTS_PER_SENSOR: usize = 60;
const HEARTBEAT_EVERY: Duration = Duration::from_secs(30);

/// Why seeding stopped: a call of the API answered something unexpected.
#[derive(Debug, thiserror::Error)]
#[error("demo seeding: {method} {path} answered {status}: {body}")]
pub struct SeedError {
    method: Method,
    path: String,
    status: StatusCode,
    body: String,
}

/// An in-process client of the API, acting with one bearer token.
struct Client<'a> {
    app: &'a Router,
    token: String,
}

impl Client<'_> {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value), SeedError> {
        let request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .expect("a well-formed request");
        let response = self
            .app
            .clone()
            .oneshot(request)
            .await
            .expect("infallible service");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            Ok((status, value))
        } else {
            Err(SeedError {
                method,
                path: path.to_owned(),
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            })
        }
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, SeedError> {
        Ok(self.call(Method::POST, path, Some(body)).await?.1)
    }

    async fn get(&self, path: &str) -> Result<Value, SeedError> {
        Ok(self.call(Method::GET, path, None).await?.1)
    }
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap_or_default().to_owned()
}

/// A small deterministic generator, so every demo looks the same.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() as usize) % items.len()]
    }
}

/// Seeds the demo once and keeps its sensors heartbeating in the background.
pub async fn start(app: Router, auth: &Authenticator) -> Result<(), Box<dyn std::error::Error>> {
    let owner = Email::parse(DEMO_OWNER)?;
    let client = Client {
        app: &app,
        token: auth.issue(&owner)?,
    };
    let existing = client.get("/api/subscriptions?limit=500").await?;
    let seeded = existing["items"]
        .as_array()
        .is_some_and(|items| items.iter().any(|s| s["name"] == DEMO_SUBSCRIPTION_NAME));
    let tokens = if seeded {
        demo_sensor_tokens(&client, existing).await?
    } else {
        seed(&client).await?
    };
    tracing::info!(
        sensors = tokens.len(),
        "demo data ready; sensors heartbeating"
    );
    tokio::spawn(heartbeats(app, tokens));
    Ok(())
}

/// The activation tokens of the demo sensors, read back after a restart.
async fn demo_sensor_tokens(
    client: &Client<'_>,
    existing: Value,
) -> Result<Vec<String>, SeedError> {
    let Some(subscription) = existing["items"]
        .as_array()
        .and_then(|items| items.iter().find(|s| s["name"] == DEMO_SUBSCRIPTION_NAME))
        .map(id_of)
    else {
        return Ok(Vec::new());
    };
    let sensors = client
        .get(&format!(
            "/api/subscriptions/{subscription}/sensors?limit=500"
        ))
        .await?;
    let mut tokens = Vec::new();
    for sensor in sensors["items"].as_array().into_iter().flatten() {
        let file = client
            .get(&format!(
                "/api/subscriptions/{subscription}/sensors/{}/activation-file",
                id_of(sensor)
            ))
            .await?;
        tokens.push(file["token"].as_str().unwrap_or_default().to_owned());
    }
    Ok(tokens)
}

async fn seed(client: &Client<'_>) -> Result<Vec<String>, SeedError> {
    let mut dice = Dice(0x5eed);
    let subscription = id_of(
        &client
            .post(
                "/api/subscriptions",
                json!({"name": DEMO_SUBSCRIPTION_NAME}),
            )
            .await?,
    );
    let base = format!("/api/subscriptions/{subscription}");
    client
        .post(
            &format!("{base}/plans"),
            json!({"kind": "ot", "commitment": "annual", "committed_devices": 2500}),
        )
        .await?;
    for (email, role) in SUBSCRIPTION_USERS {
        client
            .post(
                &format!("{base}/role-assignments"),
                json!({"principal": email, "role": role, "site_id": null}),
            )
            .await?;
    }
    let mut tokens = Vec::new();
    let mut sensor_number = 0;
    for (site_index, (site_name, zones)) in SITES.iter().enumerate() {
        let site = id_of(
            &client
                .post(
                    &format!("{base}/sites"),
                    json!({
                        "display_name": site_name,
                        "tags": {"region": if site_index == 1 { "south" } else { "north" }, "criticality": "high"},
                        "owners": ["ot.security@vigil.demo"],
                    }),
                )
                .await?,
        );
        if site_index == 0 {
            for (email, role) in SITE_USERS {
                client
                    .post(
                        &format!("{base}/role-assignments"),
                        json!({"principal": email, "role": role, "site_id": site}),
                    )
                    .await?;
            }
        }
        for zone_name in zones.iter() {
            let zone = id_of(
                &client
                    .post(
                        &format!("{base}/sites/{site}/zones"),
                        json!({"name": zone_name}),
                    )
                    .await?,
            );
            for _ in 0..SENSORS_PER_ZONE {
                sensor_number += 1;
                let kind = if sensor_number % 7 == 0 {
                    "ot_locally_managed"
                } else {
                    "ot_cloud_connected"
                };
                let onboarded = client
                    .post(
                        &format!("{base}/sensors"),
                        json!({"name": format!("sensor-{sensor_number:02}"), "type": kind, "site_id": site, "zone_id": zone}),
                    )
                    .await?;
                let token = onboarded["activation_file"]["token"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                ingest(client.app, &token, sensor_number, &mut dice).await?;
                tokens.push(token);
            }
        }
    }
    for number in 1..=2 {
        let onboarded = client
            .post(
                &format!("{base}/sensors"),
                json!({"name": format!("eiot-{number}"), "type": "enterprise_iot"}),
            )
            .await?;
        tokens.push(
            onboarded["activation_file"]["token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    Ok(tokens)
}

const TITLES: [(&str, &str, &str, bool); 8] = [
    (
        "Unauthorized PLC programming",
        "policy_violation",
        "major",
        true,
    ),
    (
        "Unknown device communicating with controller",
        "anomaly",
        "critical",
        true,
    ),
    (
        "Suspicion of malicious activity (Ransomware)",
        "malware",
        "critical",
        false,
    ),
    (
        "Illegal Modbus operation (function code zero)",
        "protocol_violation",
        "major",
        false,
    ),
    ("Firmware version changed", "operational", "minor", true),
    (
        "New activity detected - CIP class service",
        "policy_violation",
        "warning",
        true,
    ),
    ("Excessive number of sessions", "anomaly", "warning", true),
    ("Sensor traffic dropped", "operational", "minor", false),
];
const PROTOCOLS: [&str; 5] = ["modbus", "s7", "cip", "dnp3", "bacnet"];
const VENDORS: [&str; 6] = [
    "Siemens",
    "Rockwell Automation",
    "Schneider Electric",
    "ABB",
    "Honeywell",
    "Emerson",
];
const DEVICE_TYPES: [&str; 5] = ["PLC", "HMI", "Engineering station", "Historian", "IED"];

/// One sensor's inventory and alerts, sent the way a sensor sends them.
async fn ingest(
    app: &Router,
    token: &str,
    sensor: usize,
    dice: &mut Dice,
) -> Result<(), SeedError> {
    let client = Client {
        app,
        token: token.to_owned(),
    };
    let now = OffsetDateTime::now_utc();
    let ago = |minutes: u64| {
        (now - time::Duration::minutes(minutes as i64))
            .format(&Rfc3339)
            .unwrap_or_default()
    };
    let subnet = 10 + sensor;
    let devices: Vec<Value> = (1..=DEVICES_PER_SENSOR)
        .map(|host| {
            json!({
                "ip": format!("10.{subnet}.0.{host}"),
                "mac": format!("00:1b:{:02x}:{:02x}:00:{:02x}", sensor, host, dice.next() % 256),
                "name": format!("{}-{sensor:02}-{host:02}", dice.pick(&DEVICE_TYPES).to_lowercase().replace(' ', "-")),
                "type": dice.pick(&DEVICE_TYPES),
                "vendor": dice.pick(&VENDORS),
                "last_activity": ago(dice.next() % (60 * 24 * 45)),
            })
        })
        .collect();
    client
        .post("/api/ingest/devices", json!({"devices": devices}))
        .await?;
    let alerts: Vec<Value> = (0..ALERTS_PER_SENSOR)
        .map(|n| {
            let (title, engine, severity, learnable) = dice.pick(&TITLES);
            json!({
                "title": title,
                "severity": severity,
                "engine": engine,
                "source_ip": format!("10.{subnet}.0.{}", 1 + n % DEVICES_PER_SENSOR),
                "destination_ip": format!("10.{subnet}.0.{}", 1 + (n * 7 + 3) % DEVICES_PER_SENSOR),
                "protocol": dice.pick(&PROTOCOLS),
                "learnable": learnable,
            })
        })
        .collect();
    client
        .post("/api/ingest/alerts", json!({"alerts": alerts}))
        .await?;
    heartbeat(app, token).await
}

async fn heartbeat(app: &Router, token: &str) -> Result<(), SeedError> {
    let client = Client {
        app,
        token: token.to_owned(),
    };
    client
        .post(
            "/api/ingest/heartbeat",
            json!({"version": "24.1.3", "ti_version": "2026.11.01", "health": "healthy"}),
        )
        .await
        .map(|_| ())
}

async fn heartbeats(app: Router, tokens: Vec<String>) {
    let mut every = tokio::time::interval(HEARTBEAT_EVERY);
    loop {
        every.tick().await;
        for token in &tokens {
            if let Err(error) = heartbeat(&app, token).await {
                tracing::warn!(%error, "demo heartbeat refused");
            }
        }
    }
}
