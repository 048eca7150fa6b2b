//! `If-Match` under contention, for every `PATCH` and `DELETE` that honours it: 20
//! requests at once with the same current `ETag`, each changing something different,
//! over HTTP against the real `vigil` binary on both stores — exactly one wins, the
//! others are `412` and change nothing. Then, in process, the moment a race is lost:
//! another writer commits between a handler's read and its write, deterministically.

use functions::keys;
use functions::store::Key;
use reqwest::Method;
use serde_json::{Value, json};
use shared::model::{AlertId, DeviceId, PlanId, SensorId, SiteId, SubscriptionId};
use vigil_tests::embedded::{Competitor, InProcess};
use vigil_tests::fleet::{Fleet, Sensor, detection, observation};
use vigil_tests::on_both_stores;
use vigil_tests::race::{Race, Win};
use vigil_tests::vigil::{Backend, Vigil, expect};

const RACERS: usize = 20;

/// One body per racer, from its number.
fn bodies(body: impl Fn(usize) -> Value) -> Vec<Option<Value>> {
    (0..RACERS).map(|n| Some(body(n))).collect()
}

fn no_bodies() -> Vec<Option<Value>> {
    vec![None; RACERS]
}

fn id_of(answer: &Value) -> String {
    answer["id"].as_str().expect("an id").to_owned()
}

/// The id of the one alert a sensor raises.
async fn an_alert(fleet: &Fleet, sensor: &Sensor) -> String {
    fleet
        .raise(
            sensor,
            vec![detection("Unauthorized write", "10.0.0.1", true)],
        )
        .await;
    let alerts = fleet.all("/alerts", 50).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    id_of(&alerts[0])
}

/// The id of the device a sensor reports at 10.0.0.7.
async fn a_device(fleet: &Fleet, sensor: &Sensor) -> String {
    device_at(fleet, sensor, "10.0.0.7", "00:1b:44:11:3a:b7").await
}

/// The id of the device a sensor reports at `ip`.
async fn device_at(fleet: &Fleet, sensor: &Sensor, ip: &str, mac: &str) -> String {
    fleet.observe(sensor, vec![observation(ip, mac)]).await;
    let devices = fleet.all("/devices", 50).await;
    let device = devices.iter().find(|d| d["ip"] == ip);
    id_of(device.unwrap_or_else(|| panic!("no device at {ip}: {devices:?}")))
}

async fn a_plan(fleet: &Fleet) -> String {
    let created = fleet
        .post(
            "/plans",
            json!({"kind": "ot", "commitment": "monthly", "committed_devices": 100}),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    id_of(&created.body)
}

// ----- Sites -----

on_both_stores!(
    twenty_site_patches_with_one_if_match_let_exactly_one_win,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let site = fleet.site("Plant").await;
        // WHEN 20 PATCHes race with the same If-Match, each with its own name
        let finish = Race {
            fleet: &fleet,
            method: Method::PATCH,
            rest: format!("/sites/{site}"),
            bodies: bodies(|n| json!({"display_name": format!("Plant {n}")})),
            win: Win::Changes,
            action: "site.update",
            target: &site,
        }
        .run()
        .await;
        // THEN one wins, and only the winner's name is taken
        let winner = format!("Plant {}", finish.winner);
        assert_eq!(finish.after.body["display_name"], winner.as_str());
        for n in 0..RACERS {
            let name = format!("Plant {n}");
            let answer = fleet.post("/sites", json!({"display_name": name})).await;
            let expected = if name == winner { 409 } else { 201 };
            assert_eq!(answer.status, expected, "{name}: {answer:?}");
        }
    }
);

on_both_stores!(
    twenty_site_deletions_with_one_if_match_delete_it_once,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let site = fleet.site("Plant").await;
        fleet.zone(&site, "Line 1").await;
        // WHEN 20 DELETEs race with the same If-Match
        Race {
            fleet: &fleet,
            method: Method::DELETE,
            rest: format!("/sites/{site}"),
            bodies: no_bodies(),
            win: Win::Removes,
            action: "site.delete",
            target: &site,
        }
        .run()
        .await;
        // THEN it is gone once, with its name free again
        assert!(fleet.all("/sites", 50).await.is_empty());
        fleet.site("Plant").await;
    }
);

// ----- Role assignments, custom roles, device groups: guarded by the policy's version -----

on_both_stores!(
    twenty_deletions_of_a_role_assignment_with_one_if_match_delete_it_once,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        fleet
            .member("carol@example.com", "security_reader", None)
            .await;
        let assignment = fleet
            .assignment_of("carol@example.com", "security_reader")
            .await;
        Race {
            fleet: &fleet,
            method: Method::DELETE,
            rest: format!("/role-assignments/{assignment}"),
            bodies: no_bodies(),
            win: Win::RemovesFromList,
            action: "role_assignment.delete",
            target: &assignment,
        }
        .run()
        .await;
        // THEN Carol holds nothing any more
        let carol = fleet.api.dev_login("carol@example.com").await;
        let sites = fleet.api.get(&fleet.path("/sites"), Some(&carol)).await;
        expect(&sites, 404, "not_found");
    }
);

on_both_stores!(
    twenty_deletions_of_a_custom_role_with_one_if_match_delete_it_once,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let role = fleet
            .post(
                "/roles",
                json!({"name": "Alert viewer", "permissions": ["view_alerts"]}),
            )
            .await;
        assert_eq!(role.status, 201, "{role:?}");
        let role = id_of(&role.body);
        Race {
            fleet: &fleet,
            method: Method::DELETE,
            rest: format!("/roles/{role}"),
            bodies: no_bodies(),
            win: Win::RemovesFromList,
            action: "role.delete",
            target: &role,
        }
        .run()
        .await;
        // THEN its name is free again
        let again = fleet
            .post(
                "/roles",
                json!({"name": "Alert viewer", "permissions": ["view_alerts"]}),
            )
            .await;
        assert_eq!(again.status, 201, "{again:?}");
    }
);

on_both_stores!(
    twenty_deletions_of_a_device_group_with_one_if_match_delete_it_once,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let body = json!({"name": "EMEA", "sites": {"tags": {"region": "emea"}}});
        let group = fleet.post("/device-groups", body.clone()).await;
        assert_eq!(group.status, 201, "{group:?}");
        let group = id_of(&group.body);
        Race {
            fleet: &fleet,
            method: Method::DELETE,
            rest: format!("/device-groups/{group}"),
            bodies: no_bodies(),
            win: Win::RemovesFromList,
            action: "device_group.delete",
            target: &group,
        }
        .run()
        .await;
        // THEN its name is free again
        assert_eq!(fleet.post("/device-groups", body).await.status, 201);
    }
);

// ----- Plans -----

on_both_stores!(
    twenty_plan_patches_with_one_if_match_let_exactly_one_win,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let plan = a_plan(&fleet).await;
        // WHEN 20 PATCHes race with the same If-Match, each with its own device count
        let finish = Race {
            fleet: &fleet,
            method: Method::PATCH,
            rest: format!("/plans/{plan}"),
            bodies: bodies(|n| json!({"committed_devices": 200 + 100 * n})),
            win: Win::Changes,
            action: "plan.update",
            target: &plan,
        }
        .run()
        .await;
        // THEN the plan holds the winner's count
        assert_eq!(
            finish.after.body["committed_devices"],
            200 + 100 * finish.winner
        );
    }
);

on_both_stores!(
    twenty_plan_cancellations_with_one_if_match_cancel_it_once,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let plan = a_plan(&fleet).await;
        // WHEN 20 DELETEs (cancel) race with the same If-Match
        let finish = Race {
            fleet: &fleet,
            method: Method::DELETE,
            rest: format!("/plans/{plan}"),
            bodies: no_bodies(),
            win: Win::Keeps,
            action: "plan.cancel",
            target: &plan,
        }
        .run()
        .await;
        // THEN the plan is cancelled, and the kind is free for a new plan
        assert_eq!(finish.after.body["status"], "cancelled");
        assert!(finish.after.body["cancelled_at"].is_string());
        a_plan(&fleet).await;
    }
);

// ----- Sensors -----

on_both_stores!(
    twenty_sensor_patches_with_one_if_match_let_exactly_one_win,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let sensor = fleet.site_with_a_sensor().await;
        // WHEN 20 PATCHes race with the same If-Match, each with its own name
        let finish = Race {
            fleet: &fleet,
            method: Method::PATCH,
            rest: format!("/sensors/{}", sensor.id),
            bodies: bodies(|n| json!({"name": format!("Sensor {n}")})),
            win: Win::Changes,
            action: "sensor.update",
            target: &sensor.id,
        }
        .run()
        .await;
        // THEN the sensor has the winner's name
        assert_eq!(
            finish.after.body["name"],
            format!("Sensor {}", finish.winner)
        );
    }
);

on_both_stores!(
    twenty_sensor_deletions_with_one_if_match_delete_it_once,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let sensor = fleet.site_with_a_sensor().await;
        // WHEN 20 DELETEs race with the same If-Match
        Race {
            fleet: &fleet,
            method: Method::DELETE,
            rest: format!("/sensors/{}", sensor.id),
            bodies: no_bodies(),
            win: Win::Removes,
            action: "sensor.delete",
            target: &sensor.id,
        }
        .run()
        .await;
        // THEN its token is refused, and its site counts no sensor any more
        let refused = fleet
            .api
            .post(
                "/ingest/heartbeat",
                Some(&sensor.token),
                json!({"version": "23.1.3", "ti_version": "2024.03.01", "health": "healthy"}),
            )
            .await;
        expect(&refused, 401, "unauthenticated");
        assert_eq!(
            fleet
                .delete(&format!("/sites/{}", sensor.site))
                .await
                .status,
            204
        );
    }
);

// ----- Alerts -----

on_both_stores!(
    twenty_alert_status_changes_with_one_if_match_let_exactly_one_win,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let sensor = fleet.site_with_a_sensor().await;
        let alert = an_alert(&fleet, &sensor).await;
        // WHEN 20 PATCHes race with the same If-Match, half activating, half closing
        let finish = Race {
            fleet: &fleet,
            method: Method::PATCH,
            rest: format!("/alerts/{alert}"),
            bodies: bodies(|n| json!({"status": if n % 2 == 0 { "active" } else { "closed" }})),
            win: Win::Changes,
            action: "alert.update",
            target: &alert,
        }
        .run()
        .await;
        // THEN the alert has the winner's status
        let status = if finish.winner % 2 == 0 {
            "active"
        } else {
            "closed"
        };
        assert_eq!(finish.after.body["status"], status);
    }
);

// ----- Devices -----

on_both_stores!(
    twenty_device_patches_with_one_if_match_let_exactly_one_win,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let sensor = fleet.site_with_a_sensor().await;
        let device = a_device(&fleet, &sensor).await;
        // WHEN 20 PATCHes race with the same If-Match, each with its own name
        let finish = Race {
            fleet: &fleet,
            method: Method::PATCH,
            rest: format!("/devices/{device}"),
            bodies: bodies(|n| json!({"name": format!("PLC {n}")})),
            win: Win::Changes,
            action: "device.update",
            target: &device,
        }
        .run()
        .await;
        // THEN the device has the winner's name
        assert_eq!(finish.after.body["name"], format!("PLC {}", finish.winner));
    }
);

on_both_stores!(
    twenty_device_deletions_with_one_if_match_delete_it_once,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let sensor = fleet.site_with_a_sensor().await;
        let device = a_device(&fleet, &sensor).await;
        // WHEN 20 DELETEs race with the same If-Match
        Race {
            fleet: &fleet,
            method: Method::DELETE,
            rest: format!("/devices/{device}"),
            bodies: no_bodies(),
            win: Win::Removes,
            action: "device.delete",
            target: &device,
        }
        .run()
        .await;
        // THEN the inventory is empty, and the same addresses seen again are a new device
        assert!(fleet.all("/devices", 50).await.is_empty());
        assert_ne!(a_device(&fleet, &sensor).await, device);
    }
);

// ----- The lost race, step by step -----

/// One request that will lose its race: `method rest` with `If-Match` the current
/// `ETag`, while `competitor` commits on `key` just before the handler's transaction.
struct Loser {
    method: Method,
    rest: String,
    body: Option<Value>,
    key: Key,
    competitor: Competitor,
    action: &'static str,
    target: String,
}

vigil_tests::for_each_store!(
    a_request_whose_if_match_held_but_whose_write_lost_is_412_and_changes_nothing,
    |backend: Backend| async move {
        let vigil = InProcess::start_on(backend).await;
        let fleet = Fleet::on(vigil.api(), "owner@example.com").await;
        let sensor = fleet.site_with_a_sensor().await;
        let alert = an_alert(&fleet, &sensor).await;
        let device = a_device(&fleet, &sensor).await;
        let other_device = device_at(&fleet, &sensor, "10.0.0.8", "00:1b:44:11:3a:b8").await;
        let plan = a_plan(&fleet).await;
        let empty_site = fleet.site("Empty").await;

        let sub = SubscriptionId::parse(fleet.sub.as_str()).unwrap();
        let site_id = SiteId::parse(sensor.site.as_str()).unwrap();
        let sensor_key = keys::sensor(&sub, &SensorId::parse(sensor.id.as_str()).unwrap());
        let device_key = keys::device(&sub, &site_id, &DeviceId::parse(device.as_str()).unwrap());
        let other_device_key = keys::device(
            &sub,
            &site_id,
            &DeviceId::parse(other_device.as_str()).unwrap(),
        );
        let empty_site_key = keys::site(&sub, &SiteId::parse(empty_site.as_str()).unwrap());
        let plan_key = keys::plan(&sub, &PlanId::parse(plan.as_str()).unwrap());
        let loser = |method: Method, rest: String, body: Option<Value>, key: Key| {
            move |competitor: Competitor, action: &'static str, target: &str| Loser {
                method: method.clone(),
                rest: rest.clone(),
                body: body.clone(),
                key: key.clone(),
                competitor,
                action,
                target: target.to_owned(),
            }
        };
        let patch_site = loser(
            Method::PATCH,
            format!("/sites/{empty_site}"),
            Some(json!({"display_name": "Renamed"})),
            empty_site_key.clone(),
        );
        let delete_site = loser(
            Method::DELETE,
            format!("/sites/{empty_site}"),
            None,
            empty_site_key.clone(),
        );
        let patch_plan = loser(
            Method::PATCH,
            format!("/plans/{plan}"),
            Some(json!({"committed_devices": 500})),
            plan_key.clone(),
        );
        let cancel_plan = loser(Method::DELETE, format!("/plans/{plan}"), None, plan_key);
        let patch_sensor = loser(
            Method::PATCH,
            format!("/sensors/{}", sensor.id),
            Some(json!({"name": "Renamed"})),
            sensor_key.clone(),
        );
        let delete_sensor = loser(
            Method::DELETE,
            format!("/sensors/{}", sensor.id),
            None,
            sensor_key.clone(),
        );
        let patch_alert = loser(
            Method::PATCH,
            format!("/alerts/{alert}"),
            Some(json!({"status": "closed"})),
            keys::alert(&sub, &AlertId::parse(alert.as_str()).unwrap()),
        );
        let patch_device = loser(
            Method::PATCH,
            format!("/devices/{device}"),
            Some(json!({"name": "Renamed"})),
            device_key.clone(),
        );
        let delete_device = loser(
            Method::DELETE,
            format!("/devices/{device}"),
            None,
            device_key,
        );
        let delete_other_device = loser(
            Method::DELETE,
            format!("/devices/{other_device}"),
            None,
            other_device_key,
        );
        // Each case that keeps the resource comes before the one deleting it.
        let cases = [
            patch_site(Competitor::Touch, "site.update", &empty_site),
            delete_site(Competitor::Touch, "site.delete", &empty_site),
            patch_plan(Competitor::Touch, "plan.update", &plan),
            cancel_plan(Competitor::Touch, "plan.cancel", &plan),
            patch_alert(Competitor::Touch, "alert.update", &alert),
            patch_sensor(Competitor::Touch, "sensor.update", &sensor.id),
            delete_sensor(Competitor::Touch, "sensor.delete", &sensor.id),
            patch_device(Competitor::Touch, "device.update", &device),
            delete_device(Competitor::Touch, "device.delete", &device),
            patch_device(Competitor::Delete, "device.update", &device),
            delete_other_device(Competitor::Delete, "device.delete", &other_device),
            delete_sensor(Competitor::Delete, "sensor.delete", &sensor.id),
            delete_site(Competitor::Delete, "site.delete", &empty_site),
        ];
        for case in cases {
            let what = format!(
                "{} {} against {:?}",
                case.method, case.rest, case.competitor
            );
            // GIVEN the resource as the client read it
            let before = fleet.get(&case.rest).await;
            assert_eq!(before.status, 200, "{what}: {before:?}");
            let audited = |log: Vec<Value>| {
                log.iter()
                    .filter(|e| e["action"] == case.action && e["target"] == case.target.as_str())
                    .count()
            };
            let audited_before = audited(fleet.audit().await);
            // WHEN another writer commits after the handler checked If-Match, before it writes
            vigil.table.arm(case.key.clone(), case.competitor.clone());
            let answer = fleet
                .api
                .send_if_match(
                    case.method.clone(),
                    &fleet.path(&case.rest),
                    Some(&fleet.owner),
                    case.body.clone(),
                    before.etag.as_deref().unwrap(),
                )
                .await;
            assert!(!vigil.table.is_armed(), "{what}: the handler never wrote");
            // THEN it is 412, not a retry, a 404 or a 409
            assert_eq!(answer.status, 412, "{what}: {answer:?}");
            expect(&answer, 412, "precondition_failed");
            // AND the resource is as the other writer left it, with no change audited
            let after = fleet.get(&case.rest).await;
            match case.competitor {
                Competitor::Touch => {
                    assert_eq!(after.body, before.body, "{what}");
                    assert_ne!(after.etag, before.etag, "{what}");
                    let stored = vigil.table.item(&case.key).await.unwrap();
                    assert_eq!(after.etag, Some(format!("\"v{}\"", stored.version)));
                }
                Competitor::Delete => expect(&after, 404, "not_found"),
                Competitor::Commit(_) => unreachable!("no case commits other writes"),
            }
            assert_eq!(audited(fleet.audit().await), audited_before, "{what}");
        }
    }
);
