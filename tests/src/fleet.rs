//! The fixture every area test stands on: a subscription owned by one signed-in user,
//! with the calls the area tests share (sites, zones, sensors, members, ingest, lists,
//! the audit log), built over HTTP only.

use serde_json::{Value, json};

use crate::vigil::{Answer, Api, Vigil};

/// A subscription and the user owning it.
pub struct Fleet {
    pub api: Api,
    /// The owner's token.
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
    /// A subscription named "Plants" owned by `owner@example.com`.
    pub async fn new(vigil: &Vigil) -> Self {
        Self::owned_by(vigil, "owner@example.com").await
    }

    /// A subscription named "Plants" owned by `email`.
    pub async fn owned_by(vigil: &Vigil, email: &str) -> Self {
        Self::on(vigil.api(), email).await
    }

    /// A subscription named "Plants" owned by `email`, through `api`.
    pub async fn on(api: Api, email: &str) -> Self {
        let owner = api.dev_login(email).await;
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

    // ----- Calls as the owner, on `/subscriptions/<sub><rest>` -----

    pub async fn get(&self, rest: &str) -> Answer {
        self.api.get(&self.path(rest), Some(&self.owner)).await
    }

    pub async fn post(&self, rest: &str, body: Value) -> Answer {
        self.api
            .post(&self.path(rest), Some(&self.owner), body)
            .await
    }

    pub async fn patch(&self, rest: &str, body: Value) -> Answer {
        self.api
            .patch(&self.path(rest), Some(&self.owner), body)
            .await
    }

    pub async fn delete(&self, rest: &str) -> Answer {
        self.api.delete(&self.path(rest), Some(&self.owner)).await
    }

    /// `DELETE /subscriptions/<sub><rest>` as the holder of `token`.
    pub async fn delete_as(&self, token: &str, rest: &str) -> Answer {
        self.api.delete(&self.path(rest), Some(token)).await
    }

    /// The `ETag` of `GET /subscriptions/<sub><rest>` (which must answer 200).
    pub async fn etag(&self, rest: &str) -> String {
        let read = self.get(rest).await;
        assert_eq!(read.status, 200, "{rest}: {read:?}");
        match read.etag {
            Some(etag) => etag,
            None => panic!("{rest}: no ETag in {:?}", read.body),
        }
    }

    // ----- Sites, zones, sensors -----

    /// Creates a site and returns its id.
    pub async fn site(&self, name: &str) -> String {
        self.tagged_site(name, json!({})).await
    }

    /// Creates a site with tags and returns its id.
    pub async fn tagged_site(&self, name: &str, tags: Value) -> String {
        let created = self
            .post("/sites", json!({"display_name": name, "tags": tags}))
            .await;
        assert_eq!(created.status, 201, "creating site {name}: {created:?}");
        created.body["id"].as_str().expect("a site id").to_owned()
    }

    /// Creates a zone and returns its id.
    pub async fn zone(&self, site: &str, name: &str) -> String {
        let created = self
            .post(&format!("/sites/{site}/zones"), json!({"name": name}))
            .await;
        assert_eq!(created.status, 201, "{created:?}");
        created.body["id"].as_str().expect("a zone id").to_owned()
    }

    /// Sites "North" and "South" with one OT sensor each ("n1", "s1"): what the site
    /// isolation tests stand on. Returns (north, south, its sensor, its sensor).
    pub async fn north_and_south(&self) -> (String, String, Sensor, Sensor) {
        let north = self.site("North").await;
        let south = self.site("South").await;
        let at_north = self.sensor("n1", &north, None).await;
        let at_south = self.sensor("s1", &south, None).await;
        (north, south, at_north, at_south)
    }

    /// Onboards an OT sensor at `site` (in `zone`, if any) as the owner.
    pub async fn sensor(&self, name: &str, site: &str, zone: Option<&str>) -> Sensor {
        let mut body = json!({"name": name, "type": "ot_cloud_connected", "site_id": site});
        if let Some(zone) = zone {
            body["zone_id"] = zone.into();
        }
        let onboarded = self.post("/sensors", body).await;
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

    /// A new site "Plant 1" with a zone "Line 1" and a sensor "s1" there.
    pub async fn site_with_a_sensor(&self) -> Sensor {
        let site = self.site("Plant 1").await;
        let zone = self.zone(&site, "Line 1").await;
        self.sensor("s1", &site, Some(&zone)).await
    }

    // ----- Roles and the audit log -----

    /// `POST /role-assignments` as the holder of `token`.
    pub async fn assign(&self, token: &str, body: Value) -> Answer {
        self.api
            .post(&self.path("/role-assignments"), Some(token), body)
            .await
    }

    /// Gives `email` `role` at subscription scope (`site: None`) or at a site, as the
    /// owner, and signs them in: returns their token.
    pub async fn member(&self, email: &str, role: &str, site: Option<&str>) -> String {
        let assigned = self
            .assign(
                &self.owner,
                json!({"principal": email, "role": role, "site_id": site}),
            )
            .await;
        assert_eq!(assigned.status, 201, "assigning {role}: {assigned:?}");
        self.api.dev_login(email).await
    }

    /// Every role assignment of the subscription, as the owner lists them.
    pub async fn assignments(&self) -> Vec<Value> {
        let list = self.get("/role-assignments?limit=500").await;
        assert_eq!(list.status, 200, "{list:?}");
        list.body["items"].as_array().expect("items").clone()
    }

    /// The id of `principal`'s assignment of `role`.
    pub async fn assignment_of(&self, principal: &str, role: &str) -> String {
        let all = self.assignments().await;
        all.iter()
            .find(|a| a["principal"] == principal && a["role"] == role)
            .and_then(|a| a["id"].as_str())
            .unwrap_or_else(|| panic!("{principal} holds no {role} assignment: {all:?}"))
            .to_owned()
    }

    /// The audit log's first page of 500, newest first.
    pub async fn audit(&self) -> Vec<Value> {
        let log = self.get("/audit-log?limit=500").await;
        assert_eq!(log.status, 200, "{log:?}");
        log.body["items"].as_array().expect("items").clone()
    }

    // ----- Ingest -----

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

    /// Sends `alerts` from `sensor`, which must be accepted whole (`202`).
    pub async fn raise(&self, sensor: &Sensor, alerts: Vec<Value>) {
        let count = alerts.len();
        let accepted = self.ingest_alerts(sensor, alerts).await;
        assert_eq!(accepted.status, 202, "{accepted:?}");
        assert_eq!(accepted.body, json!({ "accepted": count }));
    }

    /// Sends `devices` from `sensor`, which must be accepted whole (`202`).
    pub async fn observe(&self, sensor: &Sensor, devices: Vec<Value>) {
        let count = devices.len();
        let accepted = self.ingest_devices(sensor, devices).await;
        assert_eq!(accepted.status, 202, "{accepted:?}");
        assert_eq!(accepted.body, json!({ "accepted": count }));
    }

    // ----- Lists -----

    /// Every item of a list as the owner, following `next_cursor` with pages of `limit`.
    pub async fn all(&self, rest: &str, limit: u32) -> Vec<Value> {
        self.list_all(&self.owner, rest, limit).await
    }

    /// Every item of a list as the holder of `token`, following `next_cursor` with
    /// pages of `limit`.
    pub async fn list_all(&self, token: &str, rest: &str, limit: u32) -> Vec<Value> {
        let separator = if rest.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1_000 {
            let page_path = match &cursor {
                Some(cursor) => format!("{rest}{separator}limit={limit}&cursor={cursor}"),
                None => format!("{rest}{separator}limit={limit}"),
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
        panic!("{rest}: more than 1000 pages");
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
