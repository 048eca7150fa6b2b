//! Sensors and the heartbeat ingest, end to end against the real `vigil` binary on
//! both stores.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};
use shared::api::SENSOR_EXPORT_COLUMNS;
use shared::authz::{BuiltInRole, Permission};
use vigil_tests::fleet::Fleet;
use vigil_tests::vigil::{Answer, Vigil};

/// The site every Enterprise IoT sensor lands in (its fixed id).
const ENTERPRISE_NETWORK: &str = "enterprise-network";
const LATEST_TI: &str = "2024.03.01";

/// The shared fixture, with the sensor calls these tests make and a site created on
/// first use for OT sensors.
struct World {
    fleet: Fleet,
    plant: tokio::sync::OnceCell<String>,
}

impl std::ops::Deref for World {
    type Target = Fleet;

    fn deref(&self) -> &Fleet {
        &self.fleet
    }
}

impl World {
    async fn new(vigil: &Vigil) -> Self {
        World {
            fleet: Fleet::new(vigil).await,
            plant: tokio::sync::OnceCell::new(),
        }
    }

    fn sensor_path(&self, id: &str, rest: &str) -> String {
        self.path(&format!("/sensors/{id}{rest}"))
    }

    async fn onboard_as(&self, token: &str, body: Value) -> Answer {
        self.api
            .post(&self.path("/sensors"), Some(token), body)
            .await
    }

    /// Onboards a sensor as the owner (an OT one at [`World::plant`]); returns the
    /// sensor and its token.
    async fn onboard(&self, name: &str, sensor_type: &str) -> (Value, String) {
        let body = if sensor_type == "enterprise_iot" {
            json!({"name": name, "type": sensor_type})
        } else {
            json!({"name": name, "type": sensor_type, "site_id": self.plant().await})
        };
        let onboarded = self.onboard_as(&self.owner, body).await;
        assert_eq!(onboarded.status, 201, "{onboarded:?}");
        let token = onboarded.body["activation_file"]["token"]
            .as_str()
            .expect("a token")
            .to_owned();
        (onboarded.body["sensor"].clone(), token)
    }

    /// The site "Plant 1", created once, for OT sensors.
    async fn plant(&self) -> String {
        self.plant
            .get_or_init(|| async { self.site("Plant 1").await })
            .await
            .clone()
    }

    async fn sensor(&self, id: &str) -> Value {
        let got = self.get(&format!("/sensors/{id}")).await;
        assert_eq!(got.status, 200, "{got:?}");
        got.body
    }

    /// Every sensor of the subscription, walking the pages.
    async fn all_sensors(&self) -> Vec<Value> {
        self.list("").await
    }

    /// Every sensor matching `filters` (`&name=value...`), walking pages of 500.
    async fn list(&self, filters: &str) -> Vec<Value> {
        match filters.strip_prefix('&') {
            Some(filters) => self.all(&format!("/sensors?{filters}"), 500).await,
            None => self.all("/sensors", 500).await,
        }
    }

    async fn heartbeat(&self, token: &str, body: Value) -> Answer {
        self.api.post("/ingest/heartbeat", Some(token), body).await
    }
}

fn ids<'a>(sensors: impl IntoIterator<Item = &'a Value>) -> BTreeSet<String> {
    sensors
        .into_iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

fn healthy(version: &str, ti_version: &str) -> Value {
    json!({"version": version, "ti_version": ti_version, "health": "healthy"})
}

// ----- Onboarding -----

vigil_tests::on_both_stores!(
    an_ot_sensor_is_onboarded_at_its_site_with_an_activation_file,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        let site = world.plant().await;
        // WHEN the owner onboards an OT sensor at the site
        let onboarded = world
            .onboard_as(
                &world.owner,
                json!({"name": "Line 1", "type": "ot_cloud_connected", "site_id": site}),
            )
            .await;
        // THEN it is 201 with the sensor, never connected yet, and its activation file
        assert_eq!(onboarded.status, 201, "{onboarded:?}");
        let sensor = &onboarded.body["sensor"];
        let id = sensor["id"].as_str().unwrap();
        assert_eq!(sensor["name"], "Line 1");
        assert_eq!(sensor["type"], "ot_cloud_connected");
        assert_eq!(sensor["site_id"], site.as_str());
        assert_eq!(sensor["zone_id"], json!(null));
        assert_eq!(sensor["version"], json!(null));
        assert_eq!(sensor["health"], "disconnected");
        assert_eq!(sensor["last_connected"], json!(null));
        assert_eq!(sensor["ti_mode"], "automatic");
        let file = &onboarded.body["activation_file"];
        assert_eq!(file["sensor_id"], id);
        assert_eq!(file["subscription_id"], world.sub.as_str());
        assert!(
            file["api_url"].as_str().unwrap().ends_with("/api"),
            "{file}"
        );
        assert!(file["token"].as_str().unwrap().len() > 40);
        // AND GET shows it with an ETag and without the token
        let got = world
            .api
            .send_full(
                Method::GET,
                &world.sensor_path(id, ""),
                Some(&world.owner),
                None,
            )
            .await;
        assert_eq!(got.status, 200);
        assert!(got.header("etag").unwrap().starts_with('"'));
        assert_eq!(got.json(), *sensor);
        assert!(!got.text.contains(file["token"].as_str().unwrap()));
        // AND the onboarding is audited, without the token
        let audit = world.audit().await;
        assert_eq!(audit[0]["action"], "sensor.onboard");
        assert_eq!(audit[0]["target"], id);
        assert_eq!(audit[0]["site_id"], site.as_str());
        assert!(
            !audit[0]
                .to_string()
                .contains(file["token"].as_str().unwrap())
        );
        // AND a locally managed sensor starts in manual TI mode; EIoT sensors have no TI
        let (local, _) = world.onboard("Line 2", "ot_locally_managed").await;
        assert_eq!(local["ti_mode"], "manual");
        let (eiot, _) = world.onboard("Office", "enterprise_iot").await;
        assert_eq!(eiot["ti_mode"], json!(null));
        assert_eq!(eiot["ti_update_status"], json!(null));
        // AND a sensor can be placed in a zone of its site
        let zone = world.zone(&site, "Line A").await;
        let zoned = world
            .onboard_as(
                &world.owner,
                json!({"name": "Line 3", "type": "ot_cloud_connected", "site_id": site, "zone_id": zone}),
            )
            .await;
        assert_eq!(zoned.status, 201, "{zoned:?}");
        assert_eq!(zoned.body["sensor"]["zone_id"], zone.as_str());
    }
);

vigil_tests::on_both_stores!(
    enterprise_iot_sensors_land_in_one_enterprise_network_site_created_once,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        // WHEN ten Enterprise IoT sensors are onboarded at the same time
        let mut onboardings = tokio::task::JoinSet::new();
        for n in 0..10 {
            let api = world.api.clone();
            let path = world.path("/sensors");
            let owner = world.owner.clone();
            onboardings.spawn(async move {
                api.post(
                    &path,
                    Some(&owner),
                    json!({"name": format!("EIoT {n}"), "type": "enterprise_iot"}),
                )
                .await
            });
        }
        let mut sites = BTreeSet::new();
        while let Some(done) = onboardings.join_next().await {
            let onboarded = done.unwrap();
            assert_eq!(onboarded.status, 201, "{onboarded:?}");
            sites.insert(
                onboarded.body["sensor"]["site_id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        // THEN all of them are in the Enterprise network site
        assert_eq!(sites, BTreeSet::from([ENTERPRISE_NETWORK.to_owned()]));
        let at_site = world.list(&format!("&site_id={ENTERPRISE_NETWORK}")).await;
        assert_eq!(at_site.len(), 10);
        // AND that site was created exactly once, with the name of the seed
        let created: Vec<Value> = world
            .audit()
            .await
            .into_iter()
            .filter(|entry| entry["action"] == "site.create")
            .collect();
        assert_eq!(created.len(), 1, "{created:?}");
        assert_eq!(created[0]["after"]["display_name"], "Enterprise network");
        assert_eq!(created[0]["target"], ENTERPRISE_NETWORK);
        let sites = world
            .api
            .get(&world.path("/sites?limit=500"), Some(&world.owner))
            .await;
        let named: Vec<&Value> = sites.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|site| site["display_name"] == "Enterprise network")
            .collect();
        assert_eq!(named.len(), 1, "{sites:?}");
    }
);

vigil_tests::on_both_stores!(
    onboarding_needs_a_site_for_ot_sensors_and_refuses_one_for_enterprise_iot,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        let site = world.plant().await;
        let other_site = world.site("Plant 2").await;
        let elsewhere = world.zone(&other_site, "Line A").await;
        let before = world.all_sensors().await;
        for (body, field) in [
            (
                json!({"name": "x", "type": "ot_cloud_connected"}),
                "site_id",
            ),
            (
                json!({"name": "x", "type": "ot_locally_managed", "site_id": "no-such-site"}),
                "site_id",
            ),
            (
                json!({"name": "x", "type": "enterprise_iot", "site_id": site}),
                "site_id",
            ),
            (
                json!({"name": "x", "type": "enterprise_iot", "zone_id": "z1"}),
                "zone_id",
            ),
            (
                json!({"name": "x", "type": "ot_cloud_connected", "site_id": site, "zone_id": "no-zone"}),
                "zone_id",
            ),
            (
                json!({"name": "x", "type": "ot_cloud_connected", "site_id": site, "zone_id": elsewhere}),
                "zone_id",
            ),
        ] {
            let refused = world.onboard_as(&world.owner, body.clone()).await;
            assert_eq!(refused.status, 400, "{body}: {refused:?}");
            assert_eq!(refused.error_code(), "invalid");
            assert!(
                refused.error_message().contains(field),
                "{body}: {}",
                refused.error_message()
            );
        }
        assert_eq!(world.all_sensors().await, before);
    }
);

// ----- Tokens: activation files, reactivation, deletion -----

vigil_tests::on_both_stores!(
    downloading_the_activation_file_returns_the_current_token_without_rotating_it,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        let (sensor, token) = world.onboard("Line 1", "ot_cloud_connected").await;
        let id = sensor["id"].as_str().unwrap();
        // WHEN the activation file is downloaded twice
        for _ in 0..2 {
            let file = world
                .api
                .get(
                    &world.sensor_path(id, "/activation-file"),
                    Some(&world.owner),
                )
                .await;
            // THEN it carries the token issued at onboarding
            assert_eq!(file.status, 200, "{file:?}");
            assert_eq!(file.body["token"], token.as_str());
            assert_eq!(file.body["sensor_id"], id);
        }
        // AND that token still works
        let beat = world.heartbeat(&token, healthy("23.1.3", LATEST_TI)).await;
        assert_eq!(beat.status, 200, "{beat:?}");
    }
);

vigil_tests::on_both_stores!(
    reactivation_issues_a_new_token_and_revokes_the_old_one_at_once,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        let (sensor, old) = world.onboard("Line 1", "ot_locally_managed").await;
        let id = sensor["id"].as_str().unwrap();
        assert_eq!(
            world
                .heartbeat(&old, healthy("23.1.3", LATEST_TI))
                .await
                .status,
            200
        );
        // WHEN the sensor is reactivated
        let reactivated = world
            .api
            .post(
                &world.sensor_path(id, "/reactivate"),
                Some(&world.owner),
                json!({}),
            )
            .await;
        assert_eq!(reactivated.status, 200, "{reactivated:?}");
        let new = reactivated.body["token"].as_str().unwrap().to_owned();
        assert_ne!(new, old);
        assert_eq!(reactivated.body["sensor_id"], id);
        // THEN the old token is refused at once and the new one works
        let with_old = world.heartbeat(&old, healthy("23.1.3", LATEST_TI)).await;
        assert_eq!(with_old.status, 401, "{with_old:?}");
        assert_eq!(with_old.error_code(), "unauthenticated");
        let with_new = world.heartbeat(&new, healthy("23.1.3", LATEST_TI)).await;
        assert_eq!(with_new.status, 200, "{with_new:?}");
        // AND the activation file now carries the new token
        let file = world
            .api
            .get(
                &world.sensor_path(id, "/activation-file"),
                Some(&world.owner),
            )
            .await;
        assert_eq!(file.body["token"], new.as_str());
        assert_eq!(world.audit().await[0]["action"], "sensor.reactivate");
    }
);

vigil_tests::on_both_stores!(
    deleting_a_sensor_revokes_its_token,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        let (sensor, token) = world.onboard("Line 1", "ot_cloud_connected").await;
        let id = sensor["id"].as_str().unwrap();
        // WHEN the sensor is deleted
        let deleted = world
            .api
            .delete(&world.sensor_path(id, ""), Some(&world.owner))
            .await;
        assert_eq!(deleted.status, 204, "{deleted:?}");
        // THEN it is gone, its token is refused, and the deletion is audited
        let got = world
            .api
            .get(&world.sensor_path(id, ""), Some(&world.owner))
            .await;
        assert_eq!(got.status, 404, "{got:?}");
        let beat = world.heartbeat(&token, healthy("23.1.3", LATEST_TI)).await;
        assert_eq!(beat.status, 401, "{beat:?}");
        let audit = world.audit().await;
        assert_eq!(audit[0]["action"], "sensor.delete");
        assert_eq!(audit[0]["after"], json!(null));
        assert_eq!(audit[0]["before"]["id"], id);
        // AND deleting it again is 404
        let again = world
            .api
            .delete(&world.sensor_path(id, ""), Some(&world.owner))
            .await;
        assert_eq!(again.status, 404);
    }
);

vigil_tests::on_both_stores!(
    user_tokens_are_refused_on_ingest_and_sensor_tokens_everywhere_else,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        let (sensor, token) = world.onboard("Line 1", "ot_cloud_connected").await;
        let id = sensor["id"].as_str().unwrap();
        let user = world
            .heartbeat(&world.owner, healthy("23.1.3", LATEST_TI))
            .await;
        assert_eq!(user.status, 401, "{user:?}");
        assert_eq!(user.error_code(), "unauthenticated");
        let nobody = world
            .api
            .post("/ingest/heartbeat", None, healthy("23.1.3", LATEST_TI))
            .await;
        assert_eq!(nobody.status, 401);
        for path in [
            world.path("/sensors"),
            world.sensor_path(id, ""),
            world.sensor_path(id, "/activation-file"),
            "/me".to_owned(),
        ] {
            let refused = world.api.get(&path, Some(&token)).await;
            assert_eq!(refused.status, 401, "{path}: {refused:?}");
            assert_eq!(refused.error_code(), "unauthenticated");
        }
        // AND the refused heartbeat changed nothing
        assert_eq!(world.sensor(id).await["last_connected"], json!(null));
    }
);

// ----- Heartbeats, TI and software updates -----

vigil_tests::on_both_stores!(
    a_heartbeat_records_version_last_connected_ti_version_and_health,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        let (sensor, token) = world.onboard("Line 1", "ot_locally_managed").await;
        let id = sensor["id"].as_str().unwrap();
        assert_eq!(sensor["health"], "disconnected");
        // WHEN the sensor reports in
        let beat = world.heartbeat(&token, healthy("23.1.3", LATEST_TI)).await;
        // THEN nothing is pending and the sensor shows what it reported
        assert_eq!(beat.status, 200, "{beat:?}");
        assert_eq!(beat.body, json!({"pending": []}));
        let shown = world.sensor(id).await;
        assert_eq!(shown["version"], "23.1.3");
        assert_eq!(shown["ti_version"], LATEST_TI);
        assert_eq!(shown["ti_update_status"], "ok");
        assert_eq!(shown["health"], "healthy");
        assert_ne!(shown["last_connected"], json!(null));
        // AND a report of trouble makes it unhealthy, with the reason
        world
            .heartbeat(
                &token,
                json!({"version": "23.1.3", "ti_version": LATEST_TI, "health": "unhealthy",
                       "issues": ["no_traffic_detected"]}),
            )
            .await;
        let shown = world.sensor(id).await;
        assert_eq!(shown["health"], "unhealthy");
        assert_eq!(shown["health_findings"], json!(["no_traffic_detected"]));
        // AND an old software version is unsupported
        world.heartbeat(&token, healthy("10.5.3", LATEST_TI)).await;
        assert_eq!(world.sensor(id).await["health"], "unsupported");
    }
);

vigil_tests::on_both_stores!(
    a_ti_push_is_delivered_in_the_next_heartbeat_and_completed_by_a_later_one,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        // GIVEN a manual-mode sensor behind the latest package
        let (sensor, token) = world.onboard("Line 1", "ot_locally_managed").await;
        let id = sensor["id"].as_str().unwrap();
        world
            .heartbeat(&token, healthy("23.1.3", "2024.01.01"))
            .await;
        assert_eq!(
            world.sensor(id).await["ti_update_status"],
            "update_available"
        );
        // WHEN a user pushes the latest package
        let pushed = world
            .api
            .post(
                &world.path("/sensors/ti-update"),
                Some(&world.owner),
                json!({"sensor_ids": [id]}),
            )
            .await;
        assert_eq!(pushed.status, 200, "{pushed:?}");
        assert_eq!(pushed.body["ti_version"], LATEST_TI);
        assert_eq!(pushed.body["sensor_ids"], json!([id]));
        assert_eq!(world.sensor(id).await["ti_update_status"], "in_progress");
        assert_eq!(world.audit().await[0]["action"], "sensor.ti_push");
        // THEN the next heartbeat carries it as a pending action
        let next = world
            .heartbeat(&token, healthy("23.1.3", "2024.01.01"))
            .await;
        assert_eq!(
            next.body["pending"],
            json!([{"kind": "ti_update", "ti_version": LATEST_TI}])
        );
        assert_eq!(world.sensor(id).await["ti_update_status"], "in_progress");
        // AND a later heartbeat reporting the version completes it
        let later = world.heartbeat(&token, healthy("23.1.3", LATEST_TI)).await;
        assert_eq!(later.body["pending"], json!([]));
        let shown = world.sensor(id).await;
        assert_eq!(shown["ti_update_status"], "ok");
        assert_eq!(shown["ti_version"], LATEST_TI);
    }
);

vigil_tests::on_both_stores!(
    a_delivered_ti_update_fails_when_the_sensor_keeps_its_old_package,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        // GIVEN a cloud-connected sensor, in automatic mode, behind the latest package
        let (sensor, token) = world.onboard("Line 1", "ot_cloud_connected").await;
        let id = sensor["id"].as_str().unwrap();
        // WHEN it reports in, THEN the latest package is pushed by itself
        let first = world
            .heartbeat(&token, healthy("23.1.3", "2024.01.01"))
            .await;
        assert_eq!(
            first.body["pending"],
            json!([{"kind": "ti_update", "ti_version": LATEST_TI}])
        );
        // AND when the next heartbeat still reports the old package, the update failed
        let second = world
            .heartbeat(&token, healthy("23.1.3", "2024.01.01"))
            .await;
        assert_eq!(second.body["pending"], json!([]));
        assert_eq!(world.sensor(id).await["ti_update_status"], "failed");
    }
);

vigil_tests::on_both_stores!(
    a_remote_software_update_is_delivered_then_settled_by_the_reported_version,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        let (sensor, token) = world.onboard("Line 1", "ot_cloud_connected").await;
        let id = sensor["id"].as_str().unwrap();
        world.heartbeat(&token, healthy("23.1.3", LATEST_TI)).await;
        // WHEN a user asks for 24.1.2
        let asked = world
            .api
            .post(
                &world.sensor_path(id, "/software-update"),
                Some(&world.owner),
                json!({"version": "24.1.2"}),
            )
            .await;
        assert_eq!(asked.status, 200, "{asked:?}");
        assert_eq!(world.audit().await[0]["action"], "sensor.software_update");
        // THEN the next heartbeat carries it, and one reporting it settles it
        let next = world.heartbeat(&token, healthy("23.1.3", LATEST_TI)).await;
        assert_eq!(
            next.body["pending"],
            json!([{"kind": "software_update", "version": "24.1.2"}])
        );
        let later = world.heartbeat(&token, healthy("24.1.2", LATEST_TI)).await;
        assert_eq!(later.body["pending"], json!([]));
        let shown = world.sensor(id).await;
        assert_eq!(shown["version"], "24.1.2");
        assert_eq!(shown["health"], "healthy");
        // AND going back is refused
        let back = world
            .api
            .post(
                &world.sensor_path(id, "/software-update"),
                Some(&world.owner),
                json!({"version": "23.2.0"}),
            )
            .await;
        assert_eq!(back.status, 409, "{back:?}");
        // AND an update the sensor does not install leaves it unhealthy
        let (other, other_token) = world.onboard("Line 2", "ot_locally_managed").await;
        let other_id = other["id"].as_str().unwrap();
        world
            .heartbeat(&other_token, healthy("23.1.3", LATEST_TI))
            .await;
        world
            .api
            .post(
                &world.sensor_path(other_id, "/software-update"),
                Some(&world.owner),
                json!({"version": "24.1.2"}),
            )
            .await;
        world
            .heartbeat(&other_token, healthy("23.1.3", LATEST_TI))
            .await;
        world
            .heartbeat(&other_token, healthy("23.1.3", LATEST_TI))
            .await;
        let failed = world.sensor(other_id).await;
        assert_eq!(failed["health"], "unhealthy");
        assert_eq!(failed["health_findings"], json!(["remote_upgrade_failed"]));
    }
);

// ----- PATCH and If-Match -----

vigil_tests::on_both_stores!(
    patch_renames_a_sensor_and_switches_its_ti_mode_where_allowed,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        let (sensor, _) = world.onboard("Line 1", "ot_cloud_connected").await;
        let id = sensor["id"].as_str().unwrap();
        let patched = world
            .api
            .patch(
                &world.sensor_path(id, ""),
                Some(&world.owner),
                json!({"name": "Line 1 north", "ti_mode": "manual"}),
            )
            .await;
        assert_eq!(patched.status, 200, "{patched:?}");
        assert_eq!(patched.body["name"], "Line 1 north");
        assert_eq!(patched.body["ti_mode"], "manual");
        assert_eq!(world.sensor(id).await, patched.body);
        let audit = world.audit().await;
        assert_eq!(audit[0]["action"], "sensor.update");
        assert_eq!(audit[0]["before"]["name"], "Line 1");
        assert_eq!(audit[0]["after"]["name"], "Line 1 north");
        // AND automatic mode is refused for locally managed and EIoT sensors
        let (local, _) = world.onboard("Line 2", "ot_locally_managed").await;
        let (eiot, _) = world.onboard("Office", "enterprise_iot").await;
        for other in [&local, &eiot] {
            let refused = world
                .api
                .patch(
                    &world.sensor_path(other["id"].as_str().unwrap(), ""),
                    Some(&world.owner),
                    json!({"ti_mode": "automatic"}),
                )
                .await;
            assert_eq!(refused.status, 409, "{refused:?}");
            assert_eq!(refused.error_code(), "conflict");
        }
        assert_eq!(world.sensor(local["id"].as_str().unwrap()).await, local);
    }
);

vigil_tests::on_both_stores!(
    a_stale_if_match_is_refused_and_changes_nothing,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        let (sensor, token) = world.onboard("Line 1", "ot_cloud_connected").await;
        let id = sensor["id"].as_str().unwrap();
        let read = world.etag(&format!("/sensors/{id}")).await;
        // GIVEN the sensor changed since it was read (a heartbeat)
        world.heartbeat(&token, healthy("23.1.3", LATEST_TI)).await;
        let current = world.etag(&format!("/sensors/{id}")).await;
        assert_ne!(read, current);
        // WHEN it is patched or deleted with the old ETag, THEN 412 and nothing changes
        let stale_patch = world
            .api
            .send_with_headers(
                Method::PATCH,
                &world.sensor_path(id, ""),
                Some(&world.owner),
                Some(json!({"name": "renamed"})),
                &[("if-match", &read)],
            )
            .await;
        assert_eq!(stale_patch.status, 412, "{stale_patch:?}");
        assert_eq!(stale_patch.error_code(), "precondition_failed");
        let stale_delete = world
            .api
            .send_with_headers(
                Method::DELETE,
                &world.sensor_path(id, ""),
                Some(&world.owner),
                None,
                &[("if-match", &read)],
            )
            .await;
        assert_eq!(stale_delete.status, 412, "{stale_delete:?}");
        assert_eq!(world.sensor(id).await["name"], "Line 1");
        assert_eq!(world.etag(&format!("/sensors/{id}")).await, current);
        // AND with the current ETag both work
        let patched = world
            .api
            .send_with_headers(
                Method::PATCH,
                &world.sensor_path(id, ""),
                Some(&world.owner),
                Some(json!({"name": "renamed"})),
                &[("if-match", &current)],
            )
            .await;
        assert_eq!(patched.status, 200, "{patched:?}");
        let newest = world.etag(&format!("/sensors/{id}")).await;
        let deleted = world
            .api
            .send_with_headers(
                Method::DELETE,
                &world.sensor_path(id, ""),
                Some(&world.owner),
                None,
                &[("if-match", &newest)],
            )
            .await;
        assert_eq!(deleted.status, 204, "{deleted:?}");
    }
);

vigil_tests::on_both_stores!(
    patch_moves_a_sensor_to_another_zone_of_its_site_only,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        let site = world.plant().await;
        let (sensor, token) = world.onboard("Line 1", "ot_cloud_connected").await;
        let id = sensor["id"].as_str().unwrap();
        let zone = world.zone(&site, "Line A").await;
        // WHEN the sensor is put in a zone of its site
        let moved = world
            .api
            .patch(
                &world.sensor_path(id, ""),
                Some(&world.owner),
                json!({"zone_id": zone}),
            )
            .await;
        // THEN it is there, and its token still works
        assert_eq!(moved.status, 200, "{moved:?}");
        assert_eq!(moved.body["zone_id"], zone.as_str());
        assert_eq!(world.sensor(id).await["zone_id"], zone.as_str());
        let beat = world.heartbeat(&token, healthy("23.1.3", LATEST_TI)).await;
        assert_eq!(beat.status, 200, "{beat:?}");
        // AND a zone of another site is refused, leaving the sensor where it was
        let other_site = world.site("Plant 2").await;
        let elsewhere = world.zone(&other_site, "Line A").await;
        let refused = world
            .api
            .patch(
                &world.sensor_path(id, ""),
                Some(&world.owner),
                json!({"zone_id": elsewhere}),
            )
            .await;
        assert_eq!(refused.status, 400, "{refused:?}");
        assert!(refused.error_message().contains("zone_id"));
        assert_eq!(world.sensor(id).await["zone_id"], zone.as_str());
    }
);

vigil_tests::on_both_stores!(
    a_site_with_sensors_cannot_be_deleted_until_they_are_gone,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        let site = world.plant().await;
        let (sensor, _) = world.onboard("Line 1", "ot_cloud_connected").await;
        let id = sensor["id"].as_str().unwrap();
        let site_path = world.path(&format!("/sites/{site}"));
        // WHEN the site is deleted while a sensor is at it, THEN 409
        let refused = world.api.delete(&site_path, Some(&world.owner)).await;
        assert_eq!(refused.status, 409, "{refused:?}");
        // AND once the sensor is deleted, the site can be
        let removed = world
            .api
            .delete(&world.sensor_path(id, ""), Some(&world.owner))
            .await;
        assert_eq!(removed.status, 204, "{removed:?}");
        let deleted = world.api.delete(&site_path, Some(&world.owner)).await;
        assert_eq!(deleted.status, 204, "{deleted:?}");
        // AND onboarding at the deleted site is refused
        let gone = world
            .onboard_as(
                &world.owner,
                json!({"name": "Line 2", "type": "ot_cloud_connected", "site_id": site}),
            )
            .await;
        assert_eq!(gone.status, 400, "{gone:?}");
    }
);

// ----- Lists, filters, export, summary -----

vigil_tests::on_both_stores!(
    sensors_are_listed_in_pages_and_filtered_by_site_type_and_health,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        let (cloud, token) = world.onboard("Cloud 1", "ot_cloud_connected").await;
        let (cloud2, _) = world.onboard("Cloud 2", "ot_cloud_connected").await;
        let (local, _) = world.onboard("Local 1", "ot_locally_managed").await;
        let (eiot, _) = world.onboard("Office 1", "enterprise_iot").await;
        let (eiot2, _) = world.onboard("Office 2", "enterprise_iot").await;
        world.heartbeat(&token, healthy("23.1.3", LATEST_TI)).await;
        let every = [&cloud, &cloud2, &local, &eiot, &eiot2];
        let all_ids: BTreeSet<String> = every
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect();
        // WHEN listing two at a time, THEN every sensor is seen once, in a stable order
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => world.path(&format!("/sensors?limit=2&cursor={c}")),
                None => world.path("/sensors?limit=2"),
            };
            let page = world.api.get(&path, Some(&world.owner)).await;
            assert_eq!(page.status, 200, "{page:?}");
            let items = page.body["items"].as_array().unwrap();
            assert!(items.len() <= 2);
            seen.extend(items.iter().map(|s| s["id"].as_str().unwrap().to_owned()));
            cursor = page.body["next_cursor"].as_str().map(str::to_owned);
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(seen.len(), 5);
        assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), all_ids);
        // AND the filters select by type, site and health
        let cloud_ids = ids([&cloud, &cloud2]);
        assert_eq!(
            ids(&world.list("&type=ot_cloud_connected").await),
            cloud_ids
        );
        assert_eq!(
            ids(&world
                .list(&format!(
                    "&site_id={ENTERPRISE_NETWORK}&type=enterprise_iot"
                ))
                .await),
            ids([&eiot, &eiot2])
        );
        let plant = world.plant().await;
        assert_eq!(
            ids(&world.list(&format!("&site_id={plant}")).await),
            ids([&cloud, &cloud2, &local])
        );
        assert_eq!(
            ids(&world
                .list(&format!("&site_id={plant}&type=ot_locally_managed"))
                .await),
            ids([&local])
        );
        assert!(
            world
                .list(&format!("&site_id={plant}&type=enterprise_iot"))
                .await
                .is_empty()
        );
        assert!(world.list("&site_id=elsewhere").await.is_empty());
        assert_eq!(ids(&world.list("&health=healthy").await), ids([&cloud]));
        assert_eq!(world.list("&health=disconnected").await.len(), 4);
        assert_eq!(
            ids(&world
                .list("&health=disconnected&type=ot_cloud_connected")
                .await),
            ids([&cloud2])
        );
        // AND a health-filtered walk one at a time still sees each match exactly once
        let mut matched = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..20 {
            let path = match &cursor {
                Some(c) => world.path(&format!("/sensors?health=disconnected&limit=1&cursor={c}")),
                None => world.path("/sensors?health=disconnected&limit=1"),
            };
            let page = world.api.get(&path, Some(&world.owner)).await;
            assert_eq!(page.status, 200, "{page:?}");
            matched.extend(page.body["items"].as_array().unwrap().iter().cloned());
            cursor = page.body["next_cursor"].as_str().map(str::to_owned);
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(matched.len(), 4);
        assert_eq!(ids(&matched).len(), 4);
    }
);

vigil_tests::on_both_stores!(
    the_csv_export_has_a_header_and_exactly_one_row_per_sensor,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        let site = world.plant().await;
        let zone = world.zone(&site, "Hall \"B\"").await;
        let onboarded = world
            .onboard_as(
                &world.owner,
                json!({"name": "Line 1, north", "type": "ot_cloud_connected", "site_id": site, "zone_id": zone}),
            )
            .await;
        assert_eq!(onboarded.status, 201, "{onboarded:?}");
        let token = onboarded.body["activation_file"]["token"]
            .as_str()
            .unwrap()
            .to_owned();
        world.onboard("Office", "enterprise_iot").await;
        world.heartbeat(&token, healthy("23.1.3", LATEST_TI)).await;
        // WHEN the export is downloaded
        let export = world
            .api
            .send_full(
                Method::GET,
                &world.path("/sensors/export.csv"),
                Some(&world.owner),
                None,
            )
            .await;
        // THEN it is CSV: the grid's columns, then one row per sensor
        assert_eq!(export.status, 200, "{export:?}");
        assert!(
            export
                .header("content-type")
                .unwrap()
                .starts_with("text/csv")
        );
        let mut reader = csv::Reader::from_reader(export.text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(header, SENSOR_EXPORT_COLUMNS);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        let line = rows
            .iter()
            .find(|r| &r[0] == "Line 1, north")
            .expect("its row");
        assert_eq!(&line[1], "ot_cloud_connected");
        assert_eq!(&line[2], "Plant 1");
        assert_eq!(&line[3], "Hall \"B\"");
        assert_eq!(&line[4], "Plants");
        assert_eq!(&line[5], "23.1.3");
        assert_eq!(&line[6], "healthy");
        assert!(line[7].ends_with('Z'), "{:?}", &line[7]);
        assert_eq!(&line[8], LATEST_TI);
        assert_eq!(&line[9], "automatic");
        assert_eq!(&line[10], "ok");
        let office = rows.iter().find(|r| &r[0] == "Office").expect("its row");
        assert_eq!(&office[2], "Enterprise network");
        assert_eq!(&office[3], "");
        assert_eq!(&office[9], "");
    }
);

vigil_tests::on_both_stores!(
    the_csv_export_streams_every_page_of_a_large_fleet,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        // GIVEN more sensors than one store page of the export (200)
        let count = 205;
        for n in 0..count {
            let onboarded = world
                .onboard_as(
                    &world.owner,
                    json!({"name": format!("Sensor {n:03}"), "type": "enterprise_iot"}),
                )
                .await;
            assert_eq!(onboarded.status, 201, "{onboarded:?}");
        }
        // WHEN the export is downloaded, THEN each sensor has exactly one row
        let export = world
            .api
            .send_full(
                Method::GET,
                &world.path("/sensors/export.csv"),
                Some(&world.owner),
                None,
            )
            .await;
        assert_eq!(export.status, 200);
        let mut reader = csv::Reader::from_reader(export.text.as_bytes());
        let names: Vec<String> = reader.records().map(|r| r.unwrap()[0].to_owned()).collect();
        assert_eq!(names.len(), count);
        assert_eq!(names.iter().collect::<BTreeSet<_>>().len(), count);
    }
);

vigil_tests::on_both_stores!(
    the_health_summary_counts_the_sensors_in_each_health,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        let (_, healthy_token) = world.onboard("A", "ot_cloud_connected").await;
        let (_, sick_token) = world.onboard("B", "ot_locally_managed").await;
        let (_, old_token) = world.onboard("C", "enterprise_iot").await;
        world.onboard("D", "enterprise_iot").await;
        world
            .heartbeat(&healthy_token, healthy("23.1.3", LATEST_TI))
            .await;
        world
            .heartbeat(
                &sick_token,
                json!({"version": "23.1.3", "health": "unhealthy"}),
            )
            .await;
        world
            .heartbeat(&old_token, json!({"version": "10.1", "health": "healthy"}))
            .await;
        let summary = world
            .api
            .get(&world.path("/sensors/health-summary"), Some(&world.owner))
            .await;
        assert_eq!(summary.status, 200, "{summary:?}");
        assert_eq!(
            summary.body,
            json!({"healthy": 1, "unhealthy": 1, "unsupported": 1, "disconnected": 1, "total": 4})
        );
    }
);

// ----- Downloads -----

vigil_tests::on_both_stores!(
    downloads_are_deterministic_and_password_recovery_is_audited,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        for rest in [
            "/sensors/endpoint-details",
            "/sensors/software",
            "/ti-packages/latest",
        ] {
            let first = world.api.get(&world.path(rest), Some(&world.owner)).await;
            let second = world.api.get(&world.path(rest), Some(&world.owner)).await;
            assert_eq!(first.status, 200, "{rest}: {first:?}");
            assert_eq!(first.body, second.body, "{rest}");
        }
        let endpoints = world
            .api
            .get(&world.path("/sensors/endpoint-details"), Some(&world.owner))
            .await;
        assert!(endpoints.body["items"].as_array().unwrap().iter().any(|e| {
            e["url"]
                .as_str()
                .unwrap()
                .ends_with("/api/ingest/heartbeat")
        }));
        let software = world
            .api
            .get(&world.path("/sensors/software?limit=2"), Some(&world.owner))
            .await;
        assert_eq!(software.body["items"][0]["version"], "24.1.2");
        assert_eq!(software.body["items"][0]["latest"], true);
        assert!(software.body["next_cursor"].is_string());
        let package = world
            .api
            .get(&world.path("/ti-packages/latest"), Some(&world.owner))
            .await;
        assert_eq!(package.body["ti_version"], LATEST_TI);
        // WHEN a console password is recovered
        let recovered = world
            .api
            .post(
                &world.path("/console-password-recovery"),
                Some(&world.owner),
                json!({"secret_identifier": "A1B2-C3D4"}),
            )
            .await;
        // THEN a one-time code is returned, and the request (not the code) is audited
        assert_eq!(recovered.status, 200, "{recovered:?}");
        let code = recovered.body["recovery_code"].as_str().unwrap().to_owned();
        let again = world
            .api
            .post(
                &world.path("/console-password-recovery"),
                Some(&world.owner),
                json!({"secret_identifier": "A1B2-C3D4"}),
            )
            .await;
        assert_ne!(again.body["recovery_code"].as_str().unwrap(), code);
        let audit = world.audit().await;
        assert_eq!(audit[0]["action"], "console.password_recovery");
        assert_eq!(audit[0]["after"]["secret_identifier"], "A1B2-C3D4");
        assert!(!audit.iter().any(|e| e.to_string().contains(&code)));
    }
);

// ----- Who may do what -----

/// One endpoint of the area, as called in the role test.
struct Call {
    permission: Permission,
    method: Method,
    path: String,
    body: Option<Value>,
    success: u16,
}

impl Call {
    fn new(
        permission: Permission,
        method: Method,
        path: String,
        body: Option<Value>,
        success: u16,
    ) -> Self {
        Call {
            permission,
            method,
            path,
            body,
            success,
        }
    }
}

vigil_tests::on_both_stores!(
    each_built_in_role_is_allowed_or_denied_on_every_endpoint_as_in_the_seed_table,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        let (sensor, _) = world.onboard("Line 1", "ot_locally_managed").await;
        let id = sensor["id"].as_str().unwrap().to_owned();
        let (cloud, _) = world.onboard("Line 2", "ot_cloud_connected").await;
        let cloud = cloud["id"].as_str().unwrap().to_owned();
        let (legacy, legacy_token) = world.onboard("Line 3", "ot_locally_managed").await;
        let legacy = legacy["id"].as_str().unwrap().to_owned();
        world
            .heartbeat(&legacy_token, healthy("10.5.3", LATEST_TI))
            .await;
        let diagnostics = world.sensor_path(&id, "/diagnostics");
        let sent = world
            .api
            .put_bytes(&diagnostics, Some(&world.owner), b"first archive".to_vec())
            .await;
        assert_eq!(sent.status, 200, "{sent:?}");
        for role in BuiltInRole::ALL {
            // GIVEN a user holding the role at subscription scope
            let email = format!("holder-{}@example.com", role.id());
            let token = world.member(&email, role.id(), None).await;
            let (doomed, _) = world.onboard("Doomed", "ot_cloud_connected").await;
            let doomed = doomed["id"].as_str().unwrap().to_owned();
            let calls = [
                Call::new(
                    Permission::ViewSitesAndSensors,
                    Method::GET,
                    world.path("/sensors"),
                    None,
                    200,
                ),
                Call::new(
                    Permission::OnboardSensors,
                    Method::POST,
                    world.path("/sensors"),
                    Some(json!({"name": "New", "type": "enterprise_iot"})),
                    201,
                ),
                Call::new(
                    Permission::ViewSitesAndSensors,
                    Method::GET,
                    world.sensor_path(&id, ""),
                    None,
                    200,
                ),
                Call::new(
                    Permission::ModifySitesAndSensors,
                    Method::PATCH,
                    world.sensor_path(&id, ""),
                    Some(json!({"name": format!("by {}", role.id())})),
                    200,
                ),
                Call::new(
                    Permission::ModifySitesAndSensors,
                    Method::DELETE,
                    world.sensor_path(&doomed, ""),
                    None,
                    204,
                ),
                Call::new(
                    Permission::DownloadActivationFiles,
                    Method::GET,
                    world.sensor_path(&id, "/activation-file"),
                    None,
                    200,
                ),
                Call::new(
                    Permission::ModifySitesAndSensors,
                    Method::POST,
                    world.sensor_path(&id, "/reactivate"),
                    Some(json!({})),
                    200,
                ),
                Call::new(
                    Permission::PushTiUpdates,
                    Method::POST,
                    world.path("/sensors/ti-update"),
                    Some(json!({"sensor_ids": [id]})),
                    200,
                ),
                Call::new(
                    Permission::ModifySitesAndSensors,
                    Method::POST,
                    world.sensor_path(&id, "/software-update"),
                    Some(json!({"version": "24.1.2"})),
                    200,
                ),
                Call::new(
                    Permission::ModifySitesAndSensors,
                    Method::PUT,
                    world.sensor_path(&cloud, "/settings"),
                    Some(json!({"bandwidth_cap_kbps": 1000})),
                    200,
                ),
                Call::new(
                    Permission::ModifySitesAndSensors,
                    Method::POST,
                    world.sensor_path(&legacy, "/prepare-update"),
                    Some(json!({})),
                    200,
                ),
                Call::new(
                    Permission::ModifySitesAndSensors,
                    Method::PUT,
                    diagnostics.clone(),
                    Some(json!("any bytes")),
                    200,
                ),
                Call::new(
                    Permission::ModifySitesAndSensors,
                    Method::GET,
                    diagnostics.clone(),
                    None,
                    200,
                ),
                Call::new(
                    Permission::DownloadEndpointDetails,
                    Method::GET,
                    world.path("/sensors/endpoint-details"),
                    None,
                    200,
                ),
                Call::new(
                    Permission::DownloadSensorSoftware,
                    Method::GET,
                    world.path("/sensors/software"),
                    None,
                    200,
                ),
                Call::new(
                    Permission::DownloadTiPackages,
                    Method::GET,
                    world.path("/ti-packages/latest"),
                    None,
                    200,
                ),
                Call::new(
                    Permission::RecoverConsolePasswords,
                    Method::POST,
                    world.path("/console-password-recovery"),
                    Some(json!({"secret_identifier": "ABC-123"})),
                    200,
                ),
                Call::new(
                    Permission::ViewSitesAndSensors,
                    Method::GET,
                    world.path("/sensors/export.csv"),
                    None,
                    200,
                ),
                Call::new(
                    Permission::ViewSitesAndSensors,
                    Method::GET,
                    world.path("/sensors/health-summary"),
                    None,
                    200,
                ),
            ];
            for call in calls {
                // WHEN they call the endpoint
                let answer = world
                    .api
                    .send_full(
                        call.method.clone(),
                        &call.path,
                        Some(&token),
                        call.body.clone(),
                    )
                    .await;
                // THEN it is allowed exactly when the seed's table grants the permission
                let expected = if role.grants(call.permission) {
                    call.success
                } else {
                    403
                };
                assert_eq!(
                    answer.status, expected,
                    "{role:?} {} {}: {}",
                    call.method, call.path, answer.text
                );
                if expected == 403 {
                    assert_eq!(answer.json()["error"]["code"], "forbidden");
                }
            }
            // AND a refused caller learns 403 even for a body that is not valid
            if !role.grants(Permission::OnboardSensors) {
                let refused = world
                    .api
                    .post_raw(
                        &world.path("/sensors"),
                        Some(&token),
                        b"{\"name\":".to_vec(),
                    )
                    .await;
                assert_eq!(refused.status, 403, "{refused:?}");
            }
        }
    }
);

vigil_tests::on_both_stores!(
    site_scoped_callers_are_forbidden_on_sensors,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        let (sensor, _) = world.onboard("Line 1", "ot_cloud_connected").await;
        let id = sensor["id"].as_str().unwrap();
        // GIVEN a Security Admin assigned at the sensor's site only
        let token = world
            .member(
                "site-admin@example.com",
                "security_admin",
                Some(&world.plant().await),
            )
            .await;
        // WHEN they use the sensors endpoints, THEN every one is 403
        for (method, path, body) in [
            (Method::GET, world.path("/sensors"), None),
            (Method::GET, world.sensor_path(id, ""), None),
            (Method::GET, world.sensor_path(id, "/activation-file"), None),
            (Method::GET, world.path("/sensors/export.csv"), None),
            (
                Method::POST,
                world.path("/sensors"),
                Some(json!({"name": "x", "type": "enterprise_iot"})),
            ),
            (
                Method::PATCH,
                world.sensor_path(id, ""),
                Some(json!({"name": "x"})),
            ),
            (Method::DELETE, world.sensor_path(id, ""), None),
            (
                Method::POST,
                world.path("/sensors/ti-update"),
                Some(json!({"sensor_ids": [id]})),
            ),
        ] {
            let answer = world
                .api
                .send_full(method.clone(), &path, Some(&token), body)
                .await;
            assert_eq!(answer.status, 403, "{method} {path}: {}", answer.text);
        }
        assert_eq!(world.sensor(id).await, sensor);
    }
);

vigil_tests::on_both_stores!(
    sensors_of_a_subscription_the_caller_is_not_in_are_not_found,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        let (sensor, _) = world.onboard("Line 1", "ot_cloud_connected").await;
        let id = sensor["id"].as_str().unwrap();
        let stranger = world.api.dev_login("stranger@example.com").await;
        for path in [world.path("/sensors"), world.sensor_path(id, "")] {
            let answer = world.api.get(&path, Some(&stranger)).await;
            assert_eq!(answer.status, 404, "{path}: {answer:?}");
        }
        let onboard = world
            .onboard_as(&stranger, json!({"name": "x", "type": "enterprise_iot"}))
            .await;
        assert_eq!(onboard.status, 404);
        // AND unknown or malformed sensor ids are 404 to the owner
        for bad in ["01HZZZZZZZZZZZZZZZZZZZZZZZ", "not%20an%20id"] {
            let answer = world
                .api
                .get(&world.sensor_path(bad, ""), Some(&world.owner))
                .await;
            assert_eq!(answer.status, 404, "{bad}: {answer:?}");
            assert_eq!(answer.error_code(), "not_found");
        }
    }
);

// ----- Bad input -----

vigil_tests::on_both_stores!(
    bad_input_on_every_endpoint_is_refused_in_the_contracts_format_and_changes_nothing,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        let (sensor, token) = world.onboard("Line 1", "ot_locally_managed").await;
        let (eiot, _) = world.onboard("Office", "enterprise_iot").await;
        let id = sensor["id"].as_str().unwrap();
        let eiot_id = eiot["id"].as_str().unwrap();
        let sensors_before = world.all_sensors().await;
        let audit_before = world.audit().await;
        let owner = Some(world.owner.as_str());
        // Bodies that are not valid for their endpoint: 400
        let bad_bodies: Vec<(String, Value)> = vec![
            (
                world.path("/sensors"),
                json!({"name": "x", "type": "satellite"}),
            ),
            (
                world.path("/sensors"),
                json!({"name": 5, "type": "enterprise_iot"}),
            ),
            (
                world.path("/sensors"),
                json!({"name": "", "type": "enterprise_iot"}),
            ),
            (
                world.path("/sensors"),
                json!({"name": "x", "type": "enterprise_iot", "colour": 1}),
            ),
            (
                world.path("/sensors"),
                json!({"name": "x", "type": "ot_cloud_connected", "site_id": "bad id"}),
            ),
            (world.path("/sensors"), json!(["x", "enterprise_iot"])),
            (world.path("/sensors/ti-update"), json!({"sensor_ids": []})),
            (world.path("/sensors/ti-update"), json!({"sensor_ids": "x"})),
            (
                world.path("/sensors/ti-update"),
                json!({"sensor_ids": ["no-such-sensor"]}),
            ),
            (
                world.sensor_path(id, "/software-update"),
                json!({"version": "new"}),
            ),
            (
                world.sensor_path(id, "/software-update"),
                json!({"version": "99.1"}),
            ),
            (
                world.sensor_path(id, "/software-update"),
                json!({"version": "24.1.2", "at": 1}),
            ),
            (
                world.path("/console-password-recovery"),
                json!({"secret_identifier": "no way!"}),
            ),
            (world.path("/console-password-recovery"), json!({})),
        ];
        for (path, body) in bad_bodies {
            let refused = world.api.post(&path, owner, body.clone()).await;
            assert_eq!(refused.status, 400, "{path} {body}: {refused:?}");
            assert_eq!(refused.error_code(), "invalid");
        }
        for body in [
            json!({"name": ""}),
            json!({"ti_mode": "sometimes"}),
            json!({"colour": "red"}),
            json!({"zone_id": "no-such-zone"}),
            json!([]),
        ] {
            let refused = world
                .api
                .patch(&world.sensor_path(id, ""), owner, body.clone())
                .await;
            assert_eq!(refused.status, 400, "{body}: {refused:?}");
            assert_eq!(refused.error_code(), "invalid");
        }
        for path in [
            world.path("/sensors"),
            world.path("/sensors/ti-update"),
            world.path("/console-password-recovery"),
            world.sensor_path(id, "/software-update"),
        ] {
            let malformed = world
                .api
                .post_raw(&path, owner, b"{\"name\": ".to_vec())
                .await;
            assert_eq!(malformed.status, 400, "{path}: {malformed:?}");
            assert_eq!(malformed.error_code(), "invalid");
        }
        // State rules: 409
        let eiot_push = world
            .api
            .post(
                &world.path("/sensors/ti-update"),
                owner,
                json!({"sensor_ids": [id, eiot_id]}),
            )
            .await;
        assert_eq!(eiot_push.status, 409, "{eiot_push:?}");
        let eiot_update = world
            .api
            .post(
                &world.sensor_path(eiot_id, "/software-update"),
                owner,
                json!({"version": "24.1.2"}),
            )
            .await;
        assert_eq!(eiot_update.status, 409, "{eiot_update:?}");
        // Bad query strings: 400
        for query in [
            "limit=0",
            "limit=501",
            "limit=many",
            "type=satellite",
            "health=sleepy",
            "site_id=bad%20id",
            "cursor=forged",
        ] {
            let refused = world
                .api
                .get(&world.path(&format!("/sensors?{query}")), owner)
                .await;
            assert_eq!(refused.status, 400, "{query}: {refused:?}");
            assert_eq!(refused.error_code(), "invalid");
        }
        // Bad heartbeats: 400
        for body in [
            json!({"version": "new", "health": "healthy"}),
            json!({"version": "23.1.3", "health": "sleepy"}),
            json!({"version": "23.1.3", "health": "healthy", "mood": "good"}),
            json!({"version": "23.1.3", "ti_version": "a b", "health": "healthy"}),
            json!({"health": "healthy"}),
        ] {
            let refused = world.heartbeat(&token, body.clone()).await;
            assert_eq!(refused.status, 400, "{body}: {refused:?}");
            assert_eq!(refused.error_code(), "invalid");
        }
        let malformed = world
            .api
            .post_raw("/ingest/heartbeat", Some(&token), b"{".to_vec())
            .await;
        assert_eq!(malformed.status, 400, "{malformed:?}");
        // THEN nothing changed
        assert_eq!(world.all_sensors().await, sensors_before);
        assert_eq!(world.audit().await, audit_before);
    }
);

vigil_tests::on_both_stores!(
    the_snmp_mib_file_downloads_for_those_who_may_download_sensor_software,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        for role in BuiltInRole::ALL {
            // GIVEN a holder of each built-in role at subscription scope
            let email = format!("{}-mib@example.com", role.id());
            let token = fleet.member(&email, role.id(), None).await;
            // WHEN they download the MIB file
            let mib = fleet
                .api
                .send_full(
                    Method::GET,
                    &fleet.path("/sensors/snmp-mib"),
                    Some(&token),
                    None,
                )
                .await;
            // THEN it is the module, as an attachment, exactly when the seed's table allows
            if role.grants(Permission::DownloadSensorSoftware) {
                assert_eq!(mib.status, 200, "{role:?}: {mib:?}");
                assert!(
                    mib.header("content-type")
                        .unwrap()
                        .starts_with("text/plain")
                );
                assert!(
                    mib.header("content-disposition")
                        .unwrap()
                        .contains("VIGIL-SENSOR-MIB.txt")
                );
                assert_eq!(mib.text, functions::sensors::SENSOR_MIB);
                assert!(
                    mib.text
                        .starts_with("VIGIL-SENSOR-MIB DEFINITIONS ::= BEGIN")
                );
                assert!(mib.text.trim_end().ends_with("END"));
                for object in ["vigilSensorHealth", "vigilSensorLastHeartbeat"] {
                    assert!(
                        mib.text.contains(&format!("{object} OBJECT-TYPE")),
                        "{object}"
                    );
                }
            } else {
                assert_eq!(mib.status, 403, "{role:?}: {mib:?}");
            }
        }
    }
);

vigil_tests::on_both_stores!(
    an_enterprise_iot_sensor_is_activated_by_a_command_carrying_its_activation_file,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        let (office, token) = world.onboard("Office", "enterprise_iot").await;
        let (plc, _) = world.onboard("Line 1", "ot_cloud_connected").await;
        let id = office["id"].as_str().unwrap();
        // WHEN the owner asks for the Enterprise IoT sensor's activation command
        let command = world
            .get(&format!("/sensors/{id}/activation-command"))
            .await;
        // THEN it hands the sensor software the activation file's fields, quoted
        assert_eq!(command.status, 200, "{command:?}");
        let file = world.get(&format!("/sensors/{id}/activation-file")).await;
        let text = command.body["command"].as_str().unwrap();
        assert!(
            text.starts_with("sudo vigil-eiot-sensor activate "),
            "{text}"
        );
        for field in ["api_url", "subscription_id", "sensor_id", "token"] {
            let value = file.body[field].as_str().unwrap();
            assert!(text.contains(&format!("'{value}'")), "{field}: {text}");
        }
        assert!(text.contains(&token));
        // AND an OT sensor has none (it takes its file), and a reader may not ask
        let ot = world
            .get(&format!(
                "/sensors/{}/activation-command",
                plc["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(ot.status, 409, "{ot:?}");
        let reader = world
            .member("reader@example.com", "security_reader", None)
            .await;
        let refused = world
            .api
            .get(&world.sensor_path(id, "/activation-command"), Some(&reader))
            .await;
        assert_eq!(refused.status, 403, "{refused:?}");
    }
);

// ----- Sensor settings -----

vigil_tests::on_both_stores!(
    settings_reach_a_cloud_connected_sensor_only_through_its_heartbeats_which_report_them_back,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        let (sensor, token) = world.onboard("Line 1", "ot_cloud_connected").await;
        let (_, other_token) = world.onboard("Line 2", "ot_cloud_connected").await;
        let id = sensor["id"].as_str().unwrap();
        let path = world.sensor_path(id, "/settings");
        let beat = |report: Value| {
            let mut body = healthy("24.1.2", LATEST_TI);
            body["settings"] = report;
            body
        };
        world.heartbeat(&token, healthy("24.1.2", LATEST_TI)).await;
        assert_eq!(world.sensor(id).await["settings"], Value::Null);
        // WHEN the owner defines settings, with host bits and a repeated subnet
        let asked = json!({
            "bandwidth_cap_kbps": 1500,
            "subnets": ["10.1.2.3/16", "10.1.0.0/16", "192.168.5.0/24"],
            "vlan_names": [{"id": 20, "name": "HMI"}, {"id": 10, "name": "PLC network"}],
        });
        let defined = world
            .api
            .send(Method::PUT, &path, Some(&world.owner), Some(asked))
            .await;
        assert_eq!(defined.status, 200, "{defined:?}");
        let settings = json!({
            "bandwidth_cap_kbps": 1500,
            "subnets": ["10.1.0.0/16", "192.168.5.0/24"],
            "vlan_names": [{"id": 10, "name": "PLC network"}, {"id": 20, "name": "HMI"}],
        });
        assert_eq!(
            defined.body["settings"],
            json!({"revision": 1, "settings": settings, "status": {"state": "pending"}})
        );
        let audit = world.audit().await;
        assert_eq!(audit[0]["action"], "sensor.settings");
        assert_eq!(audit[0]["before"]["settings"], Value::Null);
        assert_eq!(audit[0]["after"]["settings"]["revision"], 1);
        // THEN every heartbeat carries them until the sensor reports on revision 1:
        // a report on another revision, or another sensor's report, settles nothing
        let delivered = json!([{"kind": "apply_settings", "revision": 1, "settings": settings}]);
        for report in [Value::Null, json!({"revision": 9})] {
            let answer = world.heartbeat(&token, beat(report)).await;
            assert_eq!(answer.status, 200, "{answer:?}");
            assert_eq!(answer.body["pending"], delivered);
        }
        let other = world
            .heartbeat(&other_token, beat(json!({"revision": 1})))
            .await;
        assert_eq!(other.body["pending"], json!([]));
        assert_eq!(
            world.sensor(id).await["settings"]["status"]["state"],
            "pending"
        );
        // AND the sensor's failure shows on it, and nothing more is sent
        let failed = world
            .heartbeat(
                &token,
                beat(json!({"revision": 1, "error": "VLAN 20 is not on this sensor"})),
            )
            .await;
        assert_eq!(failed.body["pending"], json!([]));
        let status = &world.sensor(id).await["settings"]["status"];
        assert_eq!(status["state"], "failed");
        assert_eq!(status["error"], "VLAN 20 is not on this sensor");
        // AND defining them again is revision 2, applied once the sensor says so
        let again = world
            .api
            .send(
                Method::PUT,
                &path,
                Some(&world.owner),
                Some(json!({"subnets": ["10.9.0.0/16"]})),
            )
            .await;
        assert_eq!(again.status, 200, "{again:?}");
        let next = world.heartbeat(&token, beat(Value::Null)).await;
        assert_eq!(next.body["pending"][0]["revision"], 2);
        assert_eq!(
            next.body["pending"][0]["settings"],
            json!({"bandwidth_cap_kbps": null, "subnets": ["10.9.0.0/16"], "vlan_names": []})
        );
        let applied = world.heartbeat(&token, beat(json!({"revision": 2}))).await;
        assert_eq!(applied.body["pending"], json!([]));
        let shown = world.sensor(id).await;
        assert_eq!(shown["settings"]["revision"], 2);
        assert_eq!(shown["settings"]["status"]["state"], "applied");
        assert!(shown["settings"]["status"]["at"].is_string());

        // AND bad input is 400 naming the field, and changes nothing
        let before = world.sensor(id).await;
        let audit_before = world.audit().await;
        for (body, field) in [
            (json!({"bandwidth_cap_kbps": 10}), "bandwidth_cap_kbps"),
            (json!({"bandwidth_cap_kbps": "fast"}), "bandwidth_cap_kbps"),
            (json!({"subnets": ["10.0.0.0/33"]}), "subnets"),
            (json!({"subnets": ["fe80::/64"]}), "subnets"),
            (
                json!({"vlan_names": [{"id": 4095, "name": "x"}]}),
                "vlan_names",
            ),
            (
                json!({"vlan_names": [{"id": 5, "name": " "}]}),
                "vlan_names",
            ),
            (json!({"vlans": []}), "vlans"),
        ] {
            let refused = world
                .api
                .send(Method::PUT, &path, Some(&world.owner), Some(body.clone()))
                .await;
            assert_eq!(refused.status, 400, "{body}: {refused:?}");
            assert_eq!(refused.error_code(), "invalid");
            let message = refused.body["error"]["message"].as_str().unwrap();
            assert!(message.contains(field), "{body}: {message}");
        }
        let too_many: Vec<String> = (0..101).map(|n| format!("10.0.{n}.0/24")).collect();
        let refused = world
            .api
            .send(
                Method::PUT,
                &path,
                Some(&world.owner),
                Some(json!({"subnets": too_many})),
            )
            .await;
        assert_eq!(refused.status, 400, "{refused:?}");
        let report = world
            .heartbeat(&token, beat(json!({"revision": 0, "error": ""})))
            .await;
        assert_eq!(report.status, 400, "{report:?}");
        assert_eq!(world.sensor(id).await, before);
        assert_eq!(world.audit().await, audit_before);

        // AND only cloud-connected OT sensors take settings from here
        for sensor_type in ["ot_locally_managed", "enterprise_iot"] {
            let (local, _) = world.onboard("Elsewhere", sensor_type).await;
            let refused = world
                .api
                .send(
                    Method::PUT,
                    &world.sensor_path(local["id"].as_str().unwrap(), "/settings"),
                    Some(&world.owner),
                    Some(json!({})),
                )
                .await;
            assert_eq!(refused.status, 409, "{sensor_type}: {refused:?}");
        }
        // AND sensor changes are the subscription's: an administrator of the site may
        // not, nor may a sensor token
        let site_admin = world
            .member(
                "site.admin@example.com",
                "security_admin",
                Some(&world.plant().await),
            )
            .await;
        for caller in [&site_admin, &token] {
            let refused = world
                .api
                .send(Method::PUT, &path, Some(caller), Some(json!({})))
                .await;
            assert!(
                [401, 403].contains(&refused.status),
                "{caller}: {refused:?}"
            );
        }
    }
);

// ----- Preparing a legacy sensor for 22.x -----

vigil_tests::on_both_stores!(
    a_legacy_ot_sensor_is_prepared_for_22x_with_a_new_activation_file_and_others_are_told_why_not,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        // GIVEN an OT sensor that reports a legacy version
        let (legacy, old_token) = world.onboard("Old line", "ot_locally_managed").await;
        let id = legacy["id"].as_str().unwrap();
        let beat = world
            .heartbeat(&old_token, healthy("10.5.3", LATEST_TI))
            .await;
        assert_eq!(beat.status, 200, "{beat:?}");
        assert_eq!(world.sensor(id).await["health"], "unsupported");
        assert_eq!(
            world.sensor(id).await["legacy_update_prepared_at"],
            Value::Null
        );
        // WHEN the owner prepares it for the 22.x update
        let prepared = world
            .api
            .post(
                &world.sensor_path(id, "/prepare-update"),
                Some(&world.owner),
                json!({}),
            )
            .await;
        assert_eq!(prepared.status, 200, "{prepared:?}");
        // THEN a new activation file is issued, the one downloads return from now on,
        let new_token = prepared.body["token"].as_str().unwrap().to_owned();
        assert_ne!(new_token, old_token);
        let file = world.get(&format!("/sensors/{id}/activation-file")).await;
        assert_eq!(file.body["token"], new_token.as_str());
        // the old one stops working and the updated sensor connects with the new one
        let refused = world
            .heartbeat(&old_token, healthy("10.5.3", LATEST_TI))
            .await;
        assert_eq!(refused.status, 401, "{refused:?}");
        let updated = world
            .heartbeat(&new_token, healthy("22.2.8", LATEST_TI))
            .await;
        assert_eq!(updated.status, 200, "{updated:?}");
        let shown = world.sensor(id).await;
        assert_eq!(shown["version"], "22.2.8");
        assert!(shown["legacy_update_prepared_at"].is_string(), "{shown}");
        let audit = world.audit().await;
        assert_eq!(audit[0]["action"], "sensor.prepare_update");
        assert_eq!(audit[0]["before"]["legacy_update_prepared_at"], Value::Null);
        assert!(
            !audit[0].to_string().contains(&new_token),
            "no token in the audit log"
        );

        // AND a sensor on 22.1 or later, one that never reported, an Enterprise IoT one
        // are 409 with the reason, and nothing changes
        let (modern, modern_token) = world.onboard("New line", "ot_cloud_connected").await;
        world
            .heartbeat(&modern_token, healthy("24.1.2", LATEST_TI))
            .await;
        let (silent, _) = world.onboard("Silent line", "ot_cloud_connected").await;
        let (office, _) = world.onboard("Office", "enterprise_iot").await;
        let audit_before = world.audit().await;
        for (sensor, reason) in [
            (&modern, "already runs 22.1"),
            (&silent, "not reported its software version"),
            (&office, "only OT sensors"),
        ] {
            let id = sensor["id"].as_str().unwrap();
            let before = world.sensor(id).await;
            let refused = world
                .api
                .post(
                    &world.sensor_path(id, "/prepare-update"),
                    Some(&world.owner),
                    json!({}),
                )
                .await;
            assert_eq!(refused.status, 409, "{refused:?}");
            let message = refused.body["error"]["message"].as_str().unwrap();
            assert!(message.contains(reason), "{message}");
            assert_eq!(world.sensor(id).await, before);
        }
        assert_eq!(world.audit().await, audit_before);
    }
);

// ----- Diagnostics for support -----

vigil_tests::on_both_stores!(
    a_locally_managed_sensors_diagnostics_are_kept_with_it_downloadable_and_audited,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
        let (sensor, _) = world.onboard("Line 1", "ot_locally_managed").await;
        let (other, _) = world.onboard("Line 2", "ot_locally_managed").await;
        let id = sensor["id"].as_str().unwrap();
        let path = world.sensor_path(id, "/diagnostics");
        let (none, _) = world.api.get_bytes(&path, Some(&world.owner)).await;
        assert_eq!(none, 404);
        // WHEN the owner uploads an archive larger than one stored chunk
        let archive: Vec<u8> = (0..600_000u32).map(|n| (n * 7 % 251) as u8).collect();
        let uploaded = world
            .api
            .put_bytes(&path, Some(&world.owner), archive.clone())
            .await;
        assert_eq!(uploaded.status, 200, "{uploaded:?}");
        // THEN the sensor describes it, the download is the same bytes, and it is audited
        let described = &uploaded.body["diagnostics"];
        assert_eq!(described["size_bytes"], 600_000);
        assert_eq!(described["uploaded_by"], "owner@example.com");
        let digest = sha256_hex(&archive);
        assert_eq!(described["sha256"], digest.as_str());
        let (status, downloaded) = world.api.get_bytes(&path, Some(&world.owner)).await;
        assert_eq!(status, 200);
        assert!(downloaded == archive, "the download is the upload");
        let audit = world.audit().await;
        assert_eq!(audit[0]["action"], "sensor.diagnostics");
        assert_eq!(audit[0]["after"]["diagnostics"]["sha256"], digest.as_str());
        // AND it is bound to its sensor: the other one still has none
        let other_path = world.sensor_path(other["id"].as_str().unwrap(), "/diagnostics");
        assert_eq!(
            world.api.get_bytes(&other_path, Some(&world.owner)).await.0,
            404
        );
        // AND a smaller archive replaces it whole
        let smaller = b"sensor.log: all quiet".to_vec();
        let replaced = world
            .api
            .put_bytes(&path, Some(&world.owner), smaller.clone())
            .await;
        assert_eq!(replaced.status, 200, "{replaced:?}");
        assert_eq!(
            world.api.get_bytes(&path, Some(&world.owner)).await.1,
            smaller
        );

        // AND an empty or oversized archive is refused and changes nothing
        let before = world.sensor(id).await;
        let audit_before = world.audit().await;
        let empty = world
            .api
            .put_bytes(&path, Some(&world.owner), Vec::new())
            .await;
        assert_eq!(empty.status, 400, "{empty:?}");
        let huge = world
            .api
            .put_bytes(&path, Some(&world.owner), vec![1; 1024 * 1024 + 1])
            .await;
        assert_eq!(huge.status, 413, "{huge:?}");
        assert_eq!(world.sensor(id).await, before);
        assert_eq!(world.audit().await, audit_before);
        // AND a reader may neither send nor fetch it, a cloud-connected sensor takes none
        let reader = world
            .member("reader@example.com", "security_reader", None)
            .await;
        assert_eq!(world.api.get_bytes(&path, Some(&reader)).await.0, 403);
        let refused = world
            .api
            .put_bytes(&path, Some(&reader), smaller.clone())
            .await;
        assert_eq!(refused.status, 403, "{refused:?}");
        let (cloud, _) = world.onboard("Line 3", "ot_cloud_connected").await;
        let refused = world
            .api
            .put_bytes(
                &world.sensor_path(cloud["id"].as_str().unwrap(), "/diagnostics"),
                Some(&world.owner),
                smaller,
            )
            .await;
        assert_eq!(refused.status, 409, "{refused:?}");
    }
);

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
