//! Webhook notifications end to end: a real `vigil serve` (allowed to reach loopback
//! receivers) delivering to a real HTTP receiver on 127.0.0.1 — signed, in order,
//! retried, and surviving a kill; and the settings' validation on both stores.

use std::time::Duration;

use serde_json::{Value, json};
use vigil_tests::embedded::InProcess;
use vigil_tests::fleet::{Fleet, Sensor};
use vigil_tests::receiver::{Receiver, verify_signature};
use vigil_tests::vigil::{Backend, Vigil, free_port};

const PATIENCE: Duration = Duration::from_secs(20);

fn alert(title: &str, severity: &str) -> Value {
    json!({
        "title": title,
        "severity": severity,
        "engine": "malware",
        "source_ip": "10.0.0.5",
        "destination_ip": "10.0.0.9",
        "protocol": "Modbus/TCP",
        "learnable": false,
    })
}

/// An endpoint for `url` and a rule routing `events` there; the endpoint's secret.
async fn route_to(world: &Fleet, url: &str, events: Value, filter: Value) -> (String, String) {
    let endpoint = world
        .post("/webhook-endpoints", json!({"name": "SOC", "url": url}))
        .await;
    assert_eq!(endpoint.status, 201, "{endpoint:?}");
    let id = endpoint.body["endpoint"]["id"].as_str().unwrap().to_owned();
    let secret = endpoint.body["secret"].as_str().unwrap().to_owned();
    let rule = world
        .post(
            "/notification-rules",
            json!({"name": "To the SOC", "endpoint_id": id, "events": events, "filter": filter}),
        )
        .await;
    assert_eq!(rule.status, 201, "{rule:?}");
    (id, secret)
}

async fn private_vigil() -> (Vigil, Fleet, Sensor) {
    let vigil = Vigil::start_with(&["--allow-private-webhooks"]).await;
    let world = Fleet::new(&vigil).await;
    let sensor = world.site_with_a_sensor().await;
    (vigil, world, sensor)
}

async fn deliveries(world: &Fleet) -> Vec<Value> {
    world.all("/webhook-deliveries", 100).await
}

#[tokio::test]
async fn a_new_critical_alert_is_delivered_once_signed_and_verifiable() {
    let (_vigil, world, sensor) = private_vigil().await;
    let receiver = Receiver::start(0).await;
    let (endpoint, secret) = route_to(
        &world,
        &receiver.url,
        json!(["alert.created"]),
        json!({"min_severity": "critical"}),
    )
    .await;
    // WHEN the sensor raises a critical alert, a minor one, then the critical one again
    world
        .raise(
            &sensor,
            vec![
                alert("PLC firmware changed", "critical"),
                alert("Port scan", "minor"),
            ],
        )
        .await;
    world
        .raise(&sensor, vec![alert("PLC firmware changed", "critical")])
        .await;
    // THEN exactly one event arrives: the new critical alert
    let got = receiver
        .wait_for("the critical alert", PATIENCE, |r| !r.is_empty())
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got_all = receiver.received();
    assert_eq!(got_all.len(), 1, "{got_all:#?}");
    let event = got[0].json();
    assert_eq!(event["kind"], "alert.created");
    assert_eq!(event["subscription_id"], world.sub.as_str());
    assert_eq!(event["data"]["title"], "PLC firmware changed");
    assert_eq!(event["data"]["severity"], "critical");
    let alerts = world.all("/alerts", 10).await;
    let critical = alerts.iter().find(|a| a["severity"] == "critical").unwrap();
    assert_eq!(event["data"]["id"], critical["id"]);
    assert_eq!(
        got[0].header("vigil-event-id"),
        event["id"].as_str().unwrap()
    );
    assert_eq!(got[0].header("vigil-event-kind"), "alert.created");
    assert_eq!(got[0].header("content-type"), "application/json");
    // AND its signature verifies with the endpoint's secret, and fails on a changed body
    let signature = got[0].header("vigil-signature");
    verify_signature(&secret, signature, &got[0].body).expect("a valid signature");
    let mut forged = got[0].body.to_vec();
    forged[10] ^= 1;
    assert!(verify_signature(&secret, signature, &forged).is_err());
    assert!(verify_signature("whsec_other", signature, &got[0].body).is_err());
    // AND the delivery log says it was delivered on the first attempt
    let log = deliveries(&world).await;
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["status"], "delivered");
    assert_eq!(log[0]["attempts"], 1);
    assert_eq!(log[0]["response_status"], 200);
    assert_eq!(log[0]["endpoint_id"], endpoint.as_str());
    assert_eq!(log[0]["event_id"], event["id"]);
    // WHEN a test event is asked for, THEN it arrives too, and is logged
    let test = world
        .post(&format!("/webhook-endpoints/{endpoint}/test"), json!(null))
        .await;
    assert_eq!(test.status, 202, "{test:?}");
    let got = receiver
        .wait_for("the test event", PATIENCE, |r| r.len() == 2)
        .await;
    assert_eq!(got[1].json()["kind"], "test");
    verify_signature(&secret, got[1].header("vigil-signature"), &got[1].body).unwrap();
}

#[tokio::test]
async fn a_receiver_that_fails_twice_gets_the_event_on_the_third_try_and_the_next_after_it() {
    let (_vigil, world, sensor) = private_vigil().await;
    let receiver = Receiver::start(2).await;
    route_to(&world, &receiver.url, json!(["alert.created"]), json!({})).await;
    // WHEN two alerts are raised one after the other, the receiver failing twice first
    world.raise(&sensor, vec![alert("First", "major")]).await;
    world.raise(&sensor, vec![alert("Second", "major")]).await;
    // THEN the first arrives three times (500, 500, 200) and only then the second
    let got = receiver
        .wait_for("both alerts", PATIENCE, |r| {
            r.iter().filter(|x| x.status == 200).count() == 2
        })
        .await;
    let sequence: Vec<(String, u16)> = got
        .iter()
        .map(|r| {
            (
                r.json()["data"]["title"].as_str().unwrap().to_owned(),
                r.status,
            )
        })
        .collect();
    assert_eq!(
        sequence,
        vec![
            ("First".to_owned(), 500),
            ("First".to_owned(), 500),
            ("First".to_owned(), 200),
            ("Second".to_owned(), 200),
        ]
    );
    // AND every attempt carried the same event id, and the log counts them
    let ids: Vec<&str> = got[..3]
        .iter()
        .map(|r| r.header("vigil-event-id"))
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let log = deliveries(&world).await;
    let first = log.iter().find(|d| d["event_id"] == ids[0]).unwrap();
    assert_eq!(first["status"], "delivered");
    assert_eq!(first["attempts"], 3);
}

#[tokio::test]
async fn a_killed_server_delivers_what_it_had_queued_after_its_restart_once() {
    let (vigil, world, sensor) = private_vigil().await;
    // GIVEN a rule routing to a receiver that is not listening yet
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    route_to(&world, &url, json!(["alert.created"]), json!({})).await;
    world
        .raise(&sensor, vec![alert("While the SOC was down", "critical")])
        .await;
    // AND the worker has tried and failed at least once
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let log = deliveries(&world).await;
        if log
            .first()
            .is_some_and(|d| d["attempts"].as_u64() >= Some(1))
        {
            assert_eq!(log[0]["status"], "pending", "{log:#?}");
            assert!(
                log[0]["error"].as_str().unwrap().contains("reach"),
                "{log:#?}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no attempt: {log:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // WHEN the server is killed, the receiver comes up, and the server restarts
    let vigil = vigil.kill_and_restart().await;
    let receiver = Receiver::start_at(port, 0).await;
    let world = Fleet {
        api: vigil.api(),
        ..world
    };
    // THEN the event arrives, once
    receiver
        .wait_for("the queued alert", PATIENCE, |r| !r.is_empty())
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = receiver.received();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].json()["data"]["title"], "While the SOC was down");
    let log = deliveries(&world).await;
    assert_eq!(log[0]["status"], "delivered", "{log:#?}");
}

#[tokio::test]
async fn the_audit_log_streams_to_an_audit_rule_and_site_filters_hold() {
    let (_vigil, world, sensor) = private_vigil().await;
    let receiver = Receiver::start(0).await;
    let other = world.site("Plant 2").await;
    route_to(&world, &receiver.url, json!(["audit.entry"]), json!({})).await;
    let alerts_receiver = Receiver::start(0).await;
    route_to(
        &world,
        &alerts_receiver.url,
        json!(["alert.created"]),
        json!({"site_id": other}),
    )
    .await;
    // WHEN the owner changes a site, and the sensor (at the other site) raises an alert
    let patched = world
        .patch(
            &format!("/sites/{}", sensor.site),
            json!({"tags": {"line": "a"}}),
        )
        .await;
    assert_eq!(patched.status, 200, "{patched:?}");
    world
        .raise(&sensor, vec![alert("Elsewhere", "critical")])
        .await;
    // THEN the change arrives as an audit entry, with who made it
    let got = receiver
        .wait_for("the site change", PATIENCE, |r| {
            r.iter()
                .any(|x| x.json()["data"]["action"] == "site.update")
        })
        .await;
    let entry = got
        .iter()
        .map(|r| r.json())
        .find(|e| e["data"]["action"] == "site.update")
        .unwrap();
    assert_eq!(entry["kind"], "audit.entry");
    assert_eq!(entry["data"]["actor"]["email"], "owner@example.com");
    assert_eq!(entry["data"]["after"]["tags"], json!({"line": "a"}));
    // AND the alert at the site the rule does not name is not sent
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(alerts_receiver.received().is_empty());
}

vigil_tests::on_both_stores!(
    bad_notification_settings_are_refused_naming_the_field_and_change_nothing,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        let before = world.audit().await;
        for (body, field, says) in [
            (
                json!({"name": "x", "url": "http://127.0.0.1:9/hook"}),
                "url",
                "own network",
            ),
            (
                json!({"name": "x", "url": "http://169.254.169.254/latest/meta-data"}),
                "url",
                "own network",
            ),
            (
                json!({"name": "x", "url": "http://[::1]:8080/"}),
                "url",
                "own network",
            ),
            (
                json!({"name": "x", "url": "http://10.0.0.1/"}),
                "url",
                "own network",
            ),
            (json!({"name": "x", "url": "ftp://8.8.8.8/"}), "url", "http"),
            (
                json!({"name": "x", "url": "https://user:pw@8.8.8.8/"}),
                "url",
                "password",
            ),
            (json!({"name": "", "url": "https://8.8.8.8/"}), "name", ""),
            (json!({"name": "x"}), "url", ""),
            (
                json!({"name": "x", "url": "https://8.8.8.8/", "secret": "mine"}),
                "secret",
                "",
            ),
        ] {
            let refused = world.post("/webhook-endpoints", body.clone()).await;
            assert_eq!(refused.status, 400, "{body}: {refused:?}");
            let message = refused.error_message();
            assert!(
                message.contains(field) && message.contains(says),
                "{body}: {message}"
            );
        }
        assert_eq!(
            world.get("/webhook-endpoints").await.body["items"],
            json!([])
        );
        // GIVEN a public endpoint
        let endpoint = world
            .post(
                "/webhook-endpoints",
                json!({"name": "SIEM", "url": "https://8.8.8.8/hook"}),
            )
            .await;
        assert_eq!(endpoint.status, 201, "{endpoint:?}");
        assert!(
            endpoint.body["secret"]
                .as_str()
                .unwrap()
                .starts_with("whsec_")
        );
        let id = endpoint.body["endpoint"]["id"].as_str().unwrap();
        let listed = world.get("/webhook-endpoints").await;
        assert_eq!(listed.body["items"][0], endpoint.body["endpoint"]);
        assert!(!listed.body.to_string().contains("whsec_"));
        let rule = |events: Value, endpoint: &str, filter: Value| json!({"name": "r", "endpoint_id": endpoint, "events": events, "filter": filter});
        for (body, field) in [
            (rule(json!([]), id, json!({})), "events"),
            (rule(json!(["test"]), id, json!({})), "events"),
            (rule(json!(["alert.exploded"]), id, json!({})), "events"),
            (
                rule(json!(["alert.created"]), "no-such-endpoint", json!({})),
                "endpoint_id",
            ),
            (
                rule(json!(["alert.created"]), id, json!({"site_id": "nowhere"})),
                "site_id",
            ),
            (
                rule(
                    json!(["alert.created"]),
                    id,
                    json!({"min_severity": "apocalyptic"}),
                ),
                "min_severity",
            ),
        ] {
            let refused = world.post("/notification-rules", body.clone()).await;
            assert_eq!(refused.status, 400, "{body}: {refused:?}");
            assert!(
                refused.error_message().contains(field),
                "{body}: {refused:?}"
            );
        }
        assert_eq!(
            world.get("/notification-rules").await.body["items"],
            json!([])
        );
        assert_eq!(
            world.audit().await.len(),
            before.len() + 1,
            "only the endpoint's creation"
        );
        // AND an endpoint a rule routes to cannot be deleted until the rule is
        let made = world
            .post(
                "/notification-rules",
                rule(json!(["alert.created"]), id, json!({})),
            )
            .await;
        assert_eq!(made.status, 201, "{made:?}");
        let rule_id = made.body["id"].as_str().unwrap();
        assert_eq!(
            world
                .delete(&format!("/webhook-endpoints/{id}"))
                .await
                .status,
            409
        );
        assert_eq!(
            world
                .delete(&format!("/notification-rules/{rule_id}"))
                .await
                .status,
            204
        );
        assert_eq!(
            world
                .delete(&format!("/webhook-endpoints/{id}"))
                .await
                .status,
            204
        );
        let audit = world.audit().await;
        let actions: Vec<&str> = audit[..4]
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            [
                "webhook_endpoint.delete",
                "notification_rule.delete",
                "notification_rule.create",
                "webhook_endpoint.create"
            ]
        );
    }
);

vigil_tests::on_both_stores!(
    only_holders_of_grant_permissions_at_subscription_scope_manage_notifications,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        let site = world.site("North").await;
        let admin = world
            .member("admin@example.com", "security_admin", None)
            .await;
        let site_owner = world
            .member("north@example.com", "owner", Some(&site))
            .await;
        for token in [&admin, &site_owner] {
            for path in [
                "/webhook-endpoints",
                "/notification-rules",
                "/webhook-deliveries",
            ] {
                let read = world.api.get(&world.path(path), Some(token)).await;
                assert_eq!(read.status, 403, "{path}: {read:?}");
            }
            let create = world
                .api
                .post(
                    &world.path("/webhook-endpoints"),
                    Some(token),
                    json!({"name": "x", "url": "https://8.8.8.8/"}),
                )
                .await;
            assert_eq!(create.status, 403, "{create:?}");
        }
    }
);

async fn heartbeat(world: &Fleet, sensor: &Sensor) {
    let beat = world
        .api
        .post(
            "/ingest/heartbeat",
            Some(&sensor.token),
            json!({"version": "23.1.3", "health": "healthy"}),
        )
        .await;
    assert_eq!(beat.status, 200, "{beat:?}");
}

vigil_tests::for_each_store!(
    a_sensor_that_stops_heartbeating_raises_an_operational_alert_and_its_recovery_closes_it,
    |backend: Backend| async move {
        let vigil = InProcess::start_on(backend).await;
        let table: std::sync::Arc<dyn functions::store::Table> = vigil.table.clone();
        let world = Fleet::on(vigil.api(), "owner@example.com").await;
        let (_, _, quiet, never) = world.north_and_south().await;
        let receiver = Receiver::start(0).await;
        route_to(
            &world,
            &receiver.url,
            json!(["sensor.disconnected", "sensor.recovered"]),
            json!({}),
        )
        .await;
        let sweep = |at: time::OffsetDateTime| {
            let table = table.clone();
            async move {
                functions::alerts::offline::sweep(table.as_ref(), at)
                    .await
                    .unwrap()
            }
        };
        let deliver = || {
            let table = table.clone();
            async move {
                functions::notifications::worker::cycle(
                    table.as_ref(),
                    shared::model::WebhookTargets::AnyAddress,
                )
                .await
                .unwrap()
            }
        };
        // GIVEN one sensor heartbeating and one that never connected
        heartbeat(&world, &quiet).await;
        let now = time::OffsetDateTime::now_utc();
        sweep(now).await;
        assert_eq!(world.all("/alerts", 10).await, Vec::<Value>::new());
        // WHEN no heartbeat comes for longer than the disconnection interval
        let later = now + shared::model::DISCONNECTED_AFTER + time::Duration::seconds(1);
        sweep(later).await;
        sweep(later).await;
        // THEN one operational alert is raised, for the quiet sensor only
        let alerts = world.all("/alerts", 10).await;
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0]["engine"], "operational");
        assert_eq!(alerts[0]["status"], "new");
        assert_eq!(alerts[0]["sensor_id"], quiet.id.as_str());
        assert_ne!(alerts[0]["sensor_id"], never.id.as_str());
        assert_eq!(alerts[0]["title"], "Sensor n1 stopped sending heartbeats");
        let summary = world.get("/alerts/summary").await;
        assert_eq!(summary.body["open"]["major"], 1, "{summary:?}");
        // AND a rule's endpoint hears of it
        deliver().await;
        let got = receiver
            .wait_for("the disconnection", PATIENCE, |r| !r.is_empty())
            .await;
        let event = got[0].json();
        assert_eq!(event["kind"], "sensor.disconnected");
        assert_eq!(event["data"]["sensor_id"], quiet.id.as_str());
        assert_eq!(event["data"]["alert_id"], alerts[0]["id"]);
        // WHEN the sensor heartbeats again
        heartbeat(&world, &quiet).await;
        sweep(time::OffsetDateTime::now_utc()).await;
        // THEN its alert is closed, and the recovery is announced
        let alert = world
            .get(&format!("/alerts/{}", alerts[0]["id"].as_str().unwrap()))
            .await;
        assert_eq!(alert.body["status"], "closed", "{alert:?}");
        let summary = world.get("/alerts/summary").await;
        assert_eq!(summary.body["open"]["major"], 0, "{summary:?}");
        deliver().await;
        let got = receiver
            .wait_for("the recovery", PATIENCE, |r| r.len() == 2)
            .await;
        assert_eq!(got[1].json()["kind"], "sensor.recovered");
        // AND a sweep finding it quiet again raises a new alert
        sweep(
            time::OffsetDateTime::now_utc()
                + shared::model::DISCONNECTED_AFTER
                + time::Duration::seconds(1),
        )
        .await;
        let open: Vec<Value> = world
            .all("/alerts", 10)
            .await
            .into_iter()
            .filter(|a| a["status"] == "new")
            .collect();
        assert_eq!(open.len(), 1, "{open:#?}");
        assert_ne!(open[0]["id"], alerts[0]["id"]);
    }
);

vigil_tests::for_each_store!(
    escalation_fires_only_for_alerts_nobody_acknowledged_in_time,
    |backend: Backend| async move {
        let vigil = InProcess::start_on(backend).await;
        let table: std::sync::Arc<dyn functions::store::Table> = vigil.table.clone();
        let world = Fleet::on(vigil.api(), "owner@example.com").await;
        let sensor = world.site_with_a_sensor().await;
        let receiver = Receiver::start(0).await;
        let endpoint = world
            .post(
                "/webhook-endpoints",
                json!({"name": "On call", "url": receiver.url}),
            )
            .await;
        let endpoint = endpoint.body["endpoint"]["id"].as_str().unwrap().to_owned();
        let rule = |extra: Value| {
            let mut body = json!({"name": "Page on call", "endpoint_id": endpoint,
                "events": ["alert.unacknowledged"], "escalate_after_minutes": 10});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            body
        };
        // Bad escalation settings are refused naming the field
        for bad in [
            rule(json!({"escalate_after_minutes": null})),
            rule(json!({"escalate_after_minutes": 0})),
            rule(json!({"events": ["alert.created"]})),
        ] {
            let refused = world.post("/notification-rules", bad.clone()).await;
            assert_eq!(refused.status, 400, "{bad}: {refused:?}");
            assert!(
                refused.error_message().contains("escalate_after_minutes"),
                "{refused:?}"
            );
        }
        let made = world.post("/notification-rules", rule(json!({}))).await;
        assert_eq!(made.status, 201, "{made:?}");
        // GIVEN two new alerts, one of which an analyst acknowledges
        world
            .raise(
                &sensor,
                vec![alert("Left alone", "major"), alert("Taken", "major")],
            )
            .await;
        let alerts = world.all("/alerts", 10).await;
        let id_of = |title: &str| {
            alerts.iter().find(|a| a["title"] == title).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let taken = world
            .patch(
                &format!("/alerts/{}", id_of("Taken")),
                json!({"status": "active"}),
            )
            .await;
        assert_eq!(taken.status, 200, "{taken:?}");
        let cycle = |at: time::OffsetDateTime| {
            let table = table.clone();
            async move {
                functions::notifications::worker::cycle_at(
                    table.as_ref(),
                    shared::model::WebhookTargets::AnyAddress,
                    at,
                )
                .await
                .unwrap()
            }
        };
        // WHEN the worker looks before the delay is over, THEN nothing is sent
        let now = time::OffsetDateTime::now_utc();
        cycle(now + time::Duration::minutes(5)).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(receiver.received().is_empty());
        // WHEN it looks after the delay, twice
        cycle(now + time::Duration::minutes(11)).await;
        cycle(now + time::Duration::minutes(12)).await;
        // THEN only the alert nobody acknowledged is escalated, once
        let got = receiver
            .wait_for("the escalation", PATIENCE, |r| !r.is_empty())
            .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let got_all = receiver.received();
        assert_eq!(got_all.len(), 1, "{got_all:#?}");
        let event = got[0].json();
        assert_eq!(event["kind"], "alert.unacknowledged");
        assert_eq!(event["data"]["id"], id_of("Left alone").as_str());
        assert_eq!(event["data"]["status"], "new");
    }
);

vigil_tests::for_each_store!(
    a_sensor_reporting_itself_unhealthy_is_announced_once_and_again_when_healthy,
    |backend: Backend| async move {
        let vigil = InProcess::start_on(backend).await;
        let table: std::sync::Arc<dyn functions::store::Table> = vigil.table.clone();
        let world = Fleet::on(vigil.api(), "owner@example.com").await;
        let sensor = world.site_with_a_sensor().await;
        let receiver = Receiver::start(0).await;
        route_to(
            &world,
            &receiver.url,
            json!(["sensor.unhealthy", "sensor.recovered"]),
            json!({}),
        )
        .await;
        let report = |health: &'static str, issues: Value| {
            let (api, token) = (world.api.clone(), sensor.token.clone());
            async move {
                let beat = api
                    .post(
                        "/ingest/heartbeat",
                        Some(&token),
                        json!({"version": "23.1.3", "health": health, "issues": issues}),
                    )
                    .await;
                assert_eq!(beat.status, 200, "{beat:?}");
            }
        };
        let sweep_and_deliver = || {
            let table = table.clone();
            async move {
                let now = time::OffsetDateTime::now_utc();
                functions::alerts::offline::sweep(table.as_ref(), now)
                    .await
                    .unwrap();
                functions::notifications::worker::cycle(
                    table.as_ref(),
                    shared::model::WebhookTargets::AnyAddress,
                )
                .await
                .unwrap();
            }
        };
        // GIVEN a healthy sensor, WHEN it reports no traffic, over two sweeps
        report("healthy", json!([])).await;
        sweep_and_deliver().await;
        report("unhealthy", json!(["no_traffic_detected"])).await;
        sweep_and_deliver().await;
        sweep_and_deliver().await;
        // THEN one sensor.unhealthy arrives, naming why, and no alert is raised
        let got = receiver
            .wait_for("the unhealthy sensor", PATIENCE, |r| !r.is_empty())
            .await;
        let event = got[0].json();
        assert_eq!(event["kind"], "sensor.unhealthy");
        assert_eq!(event["data"]["sensor_id"], sensor.id.as_str());
        assert_eq!(event["data"]["condition"], "unhealthy");
        assert_eq!(event["data"]["findings"], json!(["no_traffic_detected"]));
        assert_eq!(world.all("/alerts", 10).await, Vec::<Value>::new());
        // WHEN it reports healthy again, THEN its recovery follows, once
        report("healthy", json!([])).await;
        sweep_and_deliver().await;
        sweep_and_deliver().await;
        let got = receiver
            .wait_for("the recovery", PATIENCE, |r| r.len() >= 2)
            .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(receiver.received().len(), 2, "{got:#?}");
        assert_eq!(got[1].json()["kind"], "sensor.recovered");
        assert_eq!(got[1].json()["data"]["condition"], "unhealthy");
    }
);

vigil_tests::for_each_store!(
    a_plan_going_over_its_committed_devices_is_announced_once,
    |backend: Backend| async move {
        let vigil = InProcess::start_on(backend).await;
        let table: std::sync::Arc<dyn functions::store::Table> = vigil.table.clone();
        let world = Fleet::on(vigil.api(), "owner@example.com").await;
        let sensor = world.site_with_a_sensor().await;
        let receiver = Receiver::start(0).await;
        route_to(
            &world,
            &receiver.url,
            json!(["plan.over_committed"]),
            json!({}),
        )
        .await;
        let plan = world
            .post(
                "/plans",
                json!({"kind": "ot", "commitment": "monthly", "committed_devices": 100}),
            )
            .await;
        assert_eq!(plan.status, 201, "{plan:?}");
        let cycle = |at: time::OffsetDateTime| {
            let table = table.clone();
            async move {
                functions::notifications::worker::cycle_at(
                    table.as_ref(),
                    shared::model::WebhookTargets::AnyAddress,
                    at,
                )
                .await
                .unwrap()
            }
        };
        // GIVEN the plan covers what is detected, THEN a look finds nothing to say
        let now = time::OffsetDateTime::now_utc();
        cycle(now).await;
        // WHEN the sensor reports 101 active devices
        let active = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let devices: Vec<Value> = (0..101)
            .map(|n| {
                json!({"ip": format!("10.7.{}.{}", n / 200, 1 + n % 200),
                    "mac": format!("02:00:00:00:{:02x}:{:02x}", n / 256, n % 256),
                    "name": null, "type": null, "vendor": null, "last_activity": active})
            })
            .collect();
        world.observe(&sensor, devices).await;
        let plans = world.get("/plans").await;
        assert_eq!(plans.body["items"][0]["over_committed"], true, "{plans:?}");
        // THEN the next looks (one within the check interval, two after it) announce it once
        cycle(now + time::Duration::minutes(1)).await;
        cycle(now + time::Duration::minutes(6)).await;
        cycle(now + time::Duration::minutes(12)).await;
        let got = receiver
            .wait_for("the over-commitment", PATIENCE, |r| !r.is_empty())
            .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(receiver.received().len(), 1, "{got:#?}");
        let event = got[0].json();
        assert_eq!(event["kind"], "plan.over_committed");
        assert_eq!(event["data"]["id"], plan.body["id"]);
        assert_eq!(event["data"]["detected_devices"], 101);
    }
);

vigil_tests::for_each_store!(
    a_new_alert_waits_in_the_outbox_until_a_worker_routes_it_and_is_sent_once,
    |backend: Backend| async move {
        // In process there is no worker: what ingest leaves is what a killed server leaves.
        let vigil = InProcess::start_on(backend).await;
        let table: std::sync::Arc<dyn functions::store::Table> = vigil.table.clone();
        let world = Fleet::on(vigil.api(), "owner@example.com").await;
        let sensor = world.site_with_a_sensor().await;
        let receiver = Receiver::start(0).await;
        route_to(&world, &receiver.url, json!(["alert.created"]), json!({})).await;
        world
            .raise(&sensor, vec![alert("Queued", "critical")])
            .await;
        // THEN the acknowledged batch left its event in the outbox, and nothing was sent
        let subscription = shared::model::SubscriptionId::parse(world.sub.as_str()).unwrap();
        let outbox = || {
            let table = table.clone();
            let query = functions::keys::outbox_query(&subscription, 10);
            async move { table.query(&query).await.unwrap().items.len() }
        };
        assert_eq!(outbox().await, 1);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(receiver.received().is_empty());
        // WHEN a worker runs, twice
        for _ in 0..2 {
            functions::notifications::worker::cycle(
                table.as_ref(),
                shared::model::WebhookTargets::AnyAddress,
            )
            .await
            .unwrap();
        }
        // THEN the event left the outbox and arrived once
        assert_eq!(outbox().await, 0);
        let got = receiver
            .wait_for("the alert", PATIENCE, |r| !r.is_empty())
            .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(receiver.received().len(), 1, "{got:#?}");
        assert_eq!(got[0].json()["data"]["title"], "Queued");
    }
);
