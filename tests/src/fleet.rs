//! A subscription with sites, zones, sensors and users, built over HTTP only: what the
//! alert and device tests stand on.

use serde_json::{Value, json};

use crate::vigil::{Answer, Api, Vigil};

/// A subscription owned by `owner@example.com`.
pub struct Fleet {
    pub api: Api,
    pub owner: String,
    pub sub: String,
}

/// An onboarded sensor and its ingest token.
#[derive(Debug, Clone)]
pub struct Sensor {
    pub id: String,
    pub site: String,
    pub zone: Option<String>,
    pub token: String,
}

impl Fleet {
    pub async fn new(vigil: &Vigil) -> Self {
        let api = vigil.api();
        let owner = api.dev_login("owner@example.com").await;
        let created = api
            .post("/subscriptions", Some(&owner), json!({"name": "Plants"}))
            .await;
        assert_eq!(created.status, 201, "{created:?}");
        let sub = created.body["id"].as_str().expect("an id").to_owned();
        Fleet { api, owner, sub }
    }

    /// `/subscriptions/<sub><rest>`.
    pub fn path(&self, rest: &str) -> String {
        format!("/subscriptions/{}{rest}", self.sub)
    }

    pub async fn site(&self, name: &str) -> String {
        let created = self
            .api
            .post(
                &self.path("/sites"),
                Some(&self.owner),
                json!({"display_name": name}),
            )
            .await;
        assert_eq!(created.status, 201, "{created:?}");
        created.body["id"].as_str().expect("a site id").to_owned()
    }

    pub async fn zone(&self, site: &str, name: &str) -> String {
        let created = self
            .api
            .post(
                &self.path(&format!("/sites/{site}/zones")),
                Some(&self.owner),
                json!({"name": name}),
            )
            .await;
        assert_eq!(created.status, 201, "{created:?}");
        created.body["id"].as_str().expect("a zone id").to_owned()
    }

    /// Onboards an OT sensor at `site` (in `zone`, if any) as the owner.
    pub async fn sensor(&self, name: &str, site: &str, zone: Option<&str>) -> Sensor {
        let mut body = json!({"name": name, "type": "ot_cloud_connected", "site_id": site});
        if let Some(zone) = zone {
            body["zone_id"] = zone.into();
        }
        let onboarded = self
            .api
            .post(&self.path("/sensors"), Some(&self.owner), body)
            .await;
        assert_eq!(onboarded.status, 201, "{onboarded:?}");
        Sensor {
            id: onboarded.body["sensor"]["id"]
                .as_str()
                .expect("a sensor id")
                .to_owned(),
            site: site.to_owned(),
            zone: zone.map(str::to_owned),
            token: onboarded.body["activation_file"]["token"]
                .as_str()
                .expect("a token")
                .to_owned(),
        }
    }

    /// Signs `email` in and gives them `role` at subscription scope (`site: None`) or
    /// at a site; returns their token.
    pub async fn user(&self, email: &str, role: &str, site: Option<&str>) -> String {
        let assigned = self
            .api
            .post(
                &self.path("/role-assignments"),
                Some(&self.owner),
                json!({"principal": email, "role": role, "site_id": site}),
            )
            .await;
        assert_eq!(assigned.status, 201, "{assigned:?}");
        self.api.dev_login(email).await
    }

    pub async fn ingest_alerts(&self, sensor: &Sensor, alerts: Vec<Value>) -> Answer {
        self.api
            .post(
                "/ingest/alerts",
                Some(&sensor.token),
                json!({ "alerts": alerts }),
            )
            .await
    }

    pub async fn ingest_devices(&self, sensor: &Sensor, devices: Vec<Value>) -> Answer {
        self.api
            .post(
                "/ingest/devices",
                Some(&sensor.token),
                json!({ "devices": devices }),
            )
            .await
    }

    /// Every item of a list, following `next_cursor` with pages of `limit`.
    pub async fn list_all(&self, token: &str, path: &str, limit: u32) -> Vec<Value> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1_000 {
            let page_path = match &cursor {
                Some(cursor) => format!("{path}{separator}limit={limit}&cursor={cursor}"),
                None => format!("{path}{separator}limit={limit}"),
            };
            let page = self.api.get(&self.path(&page_path), Some(token)).await;
            assert_eq!(page.status, 200, "{page_path}: {page:?}");
            let found = page.body["items"].as_array().expect("items");
            assert!(
                found.len() <= limit as usize,
                "{page_path}: page over limit"
            );
            items.extend(found.iter().cloned());
            cursor = page.body["next_cursor"].as_str().map(str::to_owned);
            if cursor.is_none() {
                return items;
            }
        }
        panic!("{path}: more than 1000 pages");
    }
}

/// A detection as a sensor sends it.
pub fn detection(title: &str, source_ip: &str, learnable: bool) -> Value {
    json!({
        "title": title,
        "severity": "major",
        "engine": "policy_violation",
        "source_ip": source_ip,
        "destination_ip": "10.0.0.9",
        "protocol": "Modbus/TCP",
        "learnable": learnable,
    })
}

/// A device observation as a sensor sends it.
pub fn observation(ip: &str, mac: &str) -> Value {
    json!({
        "ip": ip,
        "mac": mac,
        "name": null,
        "type": null,
        "vendor": null,
        "last_activity": "2024-03-01T11:00:00Z",
    })
}
