//! Demo data for `vigil serve --demo`: a console that is alive on first start.
//!
//! The demo is a scripted client of Vigil's own HTTP API, called in process: it goes
//! through exactly the routes, rules and store writes a real client would, and never
//! writes an item behind the API's back. Seeding is idempotent (an owner who already
//! has the demo subscription is left alone); afterwards the sensor simulator drives the
//! demo sensors over HTTP, as a real fleet would.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use shared::api::{ActivationFile, Heartbeat, IngestAlerts, IngestDevices};
use shared::model::{Email, SensorHealth, SoftwareRelease, latest_ti_package};
use time::OffsetDateTime;
use tower::ServiceExt;

use crate::auth::Authenticator;
use crate::sim::SensorTraffic;

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
pub const DEVICES_PER_SENSOR: usize = 40;
const ALERTS_PER_SENSOR: usize = 60;
/// The seed of the demo sensors' traffic (`sim::SensorTraffic`), when seeded and after.
pub const SEED: u64 = 0x5eed;

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

/// Seeds the demo once and answers its sensors' activation files, for the simulator to
/// drive them.
pub async fn start(
    app: &Router,
    auth: &Authenticator,
) -> Result<Vec<ActivationFile>, Box<dyn std::error::Error>> {
    let owner = Email::parse(DEMO_OWNER)?;
    let client = Client {
        app,
        token: auth.issue(&owner)?,
    };
    let existing = client.get("/api/subscriptions?limit=500").await?;
    let seeded = existing["items"]
        .as_array()
        .is_some_and(|items| items.iter().any(|s| s["name"] == DEMO_SUBSCRIPTION_NAME));
    let sensors = if seeded {
        demo_activation_files(&client, existing).await?
    } else {
        seed(&client).await?
    };
    tracing::info!(sensors = sensors.len(), "demo data ready");
    Ok(sensors)
}

/// The activation files of the demo sensors, read back after a restart.
async fn demo_activation_files(
    client: &Client<'_>,
    existing: Value,
) -> Result<Vec<ActivationFile>, SeedError> {
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
    let mut files = Vec::new();
    for sensor in sensors["items"].as_array().into_iter().flatten() {
        let file = client
            .get(&format!(
                "/api/subscriptions/{subscription}/sensors/{}/activation-file",
                id_of(sensor)
            ))
            .await?;
        files.push(activation_file(file));
    }
    Ok(files)
}

fn activation_file(value: Value) -> ActivationFile {
    serde_json::from_value(value).expect("the API answers activation files")
}

async fn seed(client: &Client<'_>) -> Result<Vec<ActivationFile>, SeedError> {
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
    let mut files = Vec::new();
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
                let file = activation_file(onboarded["activation_file"].clone());
                ingest(client.app, &file).await?;
                files.push(file);
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
        files.push(activation_file(onboarded["activation_file"].clone()));
    }
    Ok(files)
}

/// One sensor's inventory and first alerts, sent the way a sensor sends them, then its
/// first heartbeat.
async fn ingest(app: &Router, file: &ActivationFile) -> Result<(), SeedError> {
    let client = Client {
        app,
        token: file.token.clone(),
    };
    let mut traffic = SensorTraffic::new(
        &file.sensor_id,
        DEVICES_PER_SENSOR,
        SEED,
        OffsetDateTime::now_utc(),
    );
    let devices = IngestDevices {
        devices: traffic.inventory(),
    };
    client.post("/api/ingest/devices", json!(devices)).await?;
    let alerts = IngestAlerts {
        alerts: traffic.detections(ALERTS_PER_SENSOR, 0.0),
    };
    client.post("/api/ingest/alerts", json!(alerts)).await?;
    let heartbeat = Heartbeat {
        version: SoftwareRelease::latest().version(),
        ti_version: Some(latest_ti_package()),
        health: SensorHealth::Healthy,
        issues: Vec::new(),
        settings: None,
    };
    client
        .post("/api/ingest/heartbeat", json!(heartbeat))
        .await
        .map(|_| ())
}
