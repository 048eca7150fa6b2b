//! Alerts end to end against the real `vigil` binary, on both stores: sensor ingest
//! (dedupe, learn, PCAP), reads, status changes, lists across sites and pages, and who
//! may do what.

use std::collections::BTreeSet;

use base64::Engine as _;
use functions::keys;
use functions::store::dynamodb::INDEX_SHARDS;
use functions::store::{Index, Query, TableRead as _};
use reqwest::Method;
use serde_json::{Value, json};
use shared::authz::{BuiltInRole, Permission};
use shared::model::{AlertId, AlertStatus, SiteId, SubscriptionId};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use vigil_tests::fleet::{Fleet, Sensor, detection};
use vigil_tests::on_both_stores;
use vigil_tests::vigil::{Answer, Vigil, expect};

fn at(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(value.as_str().expect("a time"), &Rfc3339).expect("RFC 3339")
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|item| item["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// A fleet with one site, zone and sensor.
async fn one_sensor(vigil: &Vigil) -> (Fleet, Sensor) {
    let fleet = Fleet::new(vigil).await;
    let sensor = fleet.site_with_a_sensor().await;
    (fleet, sensor)
}

async fn list(fleet: &Fleet, token: &str, query: &str) -> Vec<Value> {
    fleet.list_all(token, &format!("/alerts{query}"), 50).await
}

async fn get(fleet: &Fleet, token: &str, id: &str) -> Answer {
    fleet
        .api
        .get(&fleet.path(&format!("/alerts/{id}")), Some(token))
        .await
}

async fn patch(fleet: &Fleet, token: &str, id: &str, body: Value) -> Answer {
    fleet
        .api
        .patch(&fleet.path(&format!("/alerts/{id}")), Some(token), body)
        .await
}

async fn learn(fleet: &Fleet, token: &str, id: &str) -> Answer {
    fleet
        .api
        .send(
            Method::POST,
            &fleet.path(&format!("/alerts/{id}/learn")),
            Some(token),
            None,
        )
        .await
}

/// Ingests `alerts` and answers the ids of the alerts listed afterwards, newest first.
async fn ingest(fleet: &Fleet, sensor: &Sensor, alerts: Vec<Value>) -> Vec<Value> {
    fleet.raise(sensor, alerts).await;
    list(fleet, &fleet.owner, "").await
}

// ----- Ingest, read, list -----

on_both_stores!(
    ingested_alerts_are_listed_newest_first_and_readable_by_id,
    |vigil: Vigil| async move {
        let (fleet, sensor) = one_sensor(&vigil).await;
        // WHEN a sensor sends three detections
        let listed = ingest(
            &fleet,
            &sensor,
            vec![
                detection("First", "10.0.0.1", true),
                detection("Second", "10.0.0.2", true),
                detection("Third", "10.0.0.3", false),
            ],
        )
        .await;
        // THEN they are listed newest first, placed at the sensor's site and zone
        let titles: Vec<&str> = listed
            .iter()
            .map(|a| a["title"].as_str().unwrap())
            .collect();
        assert_eq!(titles, ["Third", "Second", "First"]);
        let third = &listed[0];
        assert_eq!(third["status"], "new");
        assert_eq!(third["site_id"], sensor.site.as_str());
        assert_eq!(third["zone_id"], sensor.zone.as_deref().unwrap());
        assert_eq!(third["sensor_id"], sensor.id.as_str());
        assert_eq!(third["severity"], "major");
        assert_eq!(third["engine"], "policy_violation");
        assert_eq!(third["source_ip"], "10.0.0.3");
        assert_eq!(third["destination_ip"], "10.0.0.9");
        assert_eq!(third["protocol"], "Modbus/TCP");
        assert_eq!(third["learnable"], false);
        assert_eq!(third["first_detected"], third["last_detected"]);
        // AND each is readable by id, with an ETag
        let id = third["id"].as_str().unwrap();
        let got = get(&fleet, &fleet.owner, id).await;
        assert_eq!(got.status, 200, "{got:?}");
        assert_eq!(&got.body, third);
        assert!(got.etag.as_deref().is_some_and(|tag| tag.starts_with('"')));
    }
);

on_both_stores!(
    the_same_traffic_twice_is_one_alert_and_after_closing_a_new_one,
    |vigil: Vigil| async move {
        let (fleet, sensor) = one_sensor(&vigil).await;
        let first = ingest(&fleet, &sensor, vec![detection("Scan", "10.0.0.1", true)]).await;
        assert_eq!(first.len(), 1);
        // WHEN the same traffic is detected again (at another severity: not part of it)
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let mut again = detection("Scan", "10.0.0.1", true);
        again["severity"] = "critical".into();
        let listed = ingest(&fleet, &sensor, vec![again.clone(), again.clone()]).await;
        // THEN there is still one alert, detected later
        assert_eq!(ids(&listed), ids(&first));
        assert!(at(&listed[0]["last_detected"]) > at(&first[0]["last_detected"]));
        assert_eq!(listed[0]["first_detected"], first[0]["first_detected"]);
        // WHEN it is closed and the traffic comes again
        let id = listed[0]["id"].as_str().unwrap();
        let closed = patch(&fleet, &fleet.owner, id, json!({"status": "closed"})).await;
        assert_eq!(closed.status, 200, "{closed:?}");
        let listed = ingest(&fleet, &sensor, vec![again]).await;
        // THEN a new alert is raised next to the closed one
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0]["status"], "new");
        assert_eq!(listed[0]["severity"], "critical");
        assert_eq!(listed[1]["id"], id);
        assert_eq!(listed[1]["status"], "closed");
    }
);

on_both_stores!(
    learning_an_alert_stops_only_identical_traffic_from_its_sensor,
    |vigil: Vigil| async move {
        let (fleet, sensor) = one_sensor(&vigil).await;
        let other_sensor = fleet.sensor("s2", &sensor.site, None).await;
        let listed = ingest(
            &fleet,
            &sensor,
            vec![
                detection("Not learnable", "10.0.0.1", false),
                detection("Scan", "10.0.0.1", true),
            ],
        )
        .await;
        let (learnable, not_learnable) = (
            listed[0]["id"].as_str().unwrap().to_owned(),
            listed[1]["id"].as_str().unwrap().to_owned(),
        );
        // WHEN an alert that is not learnable is learned: 409, unchanged
        let refused = learn(&fleet, &fleet.owner, &not_learnable).await;
        expect(&refused, 409, "conflict");
        assert_eq!(
            get(&fleet, &fleet.owner, &not_learnable).await.body["status"],
            "new"
        );
        // WHEN the learnable one is learned
        let learned = learn(&fleet, &fleet.owner, &learnable).await;
        assert_eq!(learned.status, 200, "{learned:?}");
        assert_eq!(learned.body["status"], "closed");
        // THEN identical traffic from that sensor raises nothing
        let after = ingest(&fleet, &sensor, vec![detection("Scan", "10.0.0.1", true)]).await;
        assert_eq!(after.len(), 2);
        // BUT other traffic does, and the same traffic from another sensor does
        let after = ingest(&fleet, &sensor, vec![detection("Scan", "10.0.0.2", true)]).await;
        assert_eq!(after.len(), 3);
        assert_eq!(after[0]["source_ip"], "10.0.0.2");
        let accepted = fleet
            .ingest_alerts(&other_sensor, vec![detection("Scan", "10.0.0.1", true)])
            .await;
        assert_eq!(accepted.status, 202);
        let after = list(&fleet, &fleet.owner, "").await;
        assert_eq!(after.len(), 4);
        assert_eq!(after[0]["sensor_id"], other_sensor.id.as_str());
        // AND reopening the learned alert does not bring its traffic back
        let reopened = patch(
            &fleet,
            &fleet.owner,
            &learnable,
            json!({"status": "active"}),
        )
        .await;
        assert_eq!(reopened.status, 200);
        ingest(&fleet, &sensor, vec![detection("Scan", "10.0.0.1", true)]).await;
        assert_eq!(list(&fleet, &fleet.owner, "").await.len(), 4);
    }
);

on_both_stores!(
    a_packet_capture_is_kept_and_downloadable,
    |vigil: Vigil| async move {
        let (fleet, sensor) = one_sensor(&vigil).await;
        let capture: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
        let mut with_capture = detection("With capture", "10.0.0.1", true);
        with_capture["pcap_base64"] = base64::engine::general_purpose::STANDARD
            .encode(&capture)
            .into();
        let listed = ingest(
            &fleet,
            &sensor,
            vec![detection("Without", "10.0.0.2", true), with_capture],
        )
        .await;
        // WHEN the capture is downloaded
        let id = listed[0]["id"].as_str().unwrap();
        let response = fleet
            .api
            .client
            .get(format!(
                "{}{}",
                fleet.api.base,
                fleet.path(&format!("/alerts/{id}/pcap"))
            ))
            .bearer_auth(&fleet.owner)
            .send()
            .await
            .unwrap();
        // THEN it is the bytes sent, as a pcap
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "application/vnd.tcpdump.pcap"
        );
        assert_eq!(response.bytes().await.unwrap().as_ref(), capture.as_slice());
        // AND an alert without one has none
        let without = listed[1]["id"].as_str().unwrap();
        let none = fleet
            .api
            .get(
                &fleet.path(&format!("/alerts/{without}/pcap")),
                Some(&fleet.owner),
            )
            .await;
        expect(&none, 404, "not_found");
    }
);

// ----- Status changes -----

on_both_stores!(
    status_changes_follow_the_rules_and_honour_if_match,
    |vigil: Vigil| async move {
        let (fleet, sensor) = one_sensor(&vigil).await;
        let listed = ingest(&fleet, &sensor, vec![detection("Scan", "10.0.0.1", true)]).await;
        let id = listed[0]["id"].as_str().unwrap();
        let path = fleet.path(&format!("/alerts/{id}"));
        let read = get(&fleet, &fleet.owner, id).await;
        let etag = read.etag.clone().unwrap();
        // new → active
        let active = patch(&fleet, &fleet.owner, id, json!({"status": "active"})).await;
        assert_eq!(active.status, 200, "{active:?}");
        assert_eq!(active.body["status"], "active");
        assert_ne!(active.etag.as_deref(), Some(etag.as_str()));
        // active → new is illegal: 409, unchanged
        let back = patch(&fleet, &fleet.owner, id, json!({"status": "new"})).await;
        expect(&back, 409, "conflict");
        // a stale If-Match is 412 and changes nothing
        let stale = fleet
            .api
            .send_if_match(
                Method::PATCH,
                &path,
                Some(&fleet.owner),
                Some(json!({"status": "closed"})),
                &etag,
            )
            .await;
        expect(&stale, 412, "precondition_failed");
        assert_eq!(get(&fleet, &fleet.owner, id).await.body["status"], "active");
        // the current one is accepted
        let current = active.etag.clone().unwrap();
        let closed = fleet
            .api
            .send_if_match(
                Method::PATCH,
                &path,
                Some(&fleet.owner),
                Some(json!({"status": "closed"})),
                &current,
            )
            .await;
        assert_eq!(closed.status, 200, "{closed:?}");
        assert_eq!(closed.body["status"], "closed");
        // closed → active (reopen); the same status again changes nothing
        let reopened = patch(&fleet, &fleet.owner, id, json!({"status": "active"})).await;
        assert_eq!(reopened.body["status"], "active");
        let same = patch(&fleet, &fleet.owner, id, json!({"status": "active"})).await;
        assert_eq!(
            (same.status, same.etag.clone()),
            (200, reopened.etag.clone())
        );
        // bad bodies: 400, nothing changes
        for bad in [
            json!({"status": "done"}),
            json!({"status": 1}),
            json!({"status": "closed", "severity": "minor"}),
            json!([]),
        ] {
            expect(
                &patch(&fleet, &fleet.owner, id, bad.clone()).await,
                400,
                "invalid",
            );
        }
        let malformed = fleet
            .api
            .send_raw_bytes(
                Method::PATCH,
                &path,
                Some(&fleet.owner),
                b"{\"status\": ".to_vec(),
            )
            .await;
        expect(&malformed, 400, "invalid");
        assert_eq!(get(&fleet, &fleet.owner, id).await.body["status"], "active");
        // AND every change is in the audit log
        let audit = fleet
            .api
            .get(&fleet.path("/audit-log"), Some(&fleet.owner))
            .await;
        assert_eq!(audit.status, 200, "{audit:?}");
        let updates = audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|entry| entry["action"] == "alert.update" && entry["target"] == id)
            .count();
        assert_eq!(updates, 3, "{audit:?}");
    }
);

on_both_stores!(
    a_bulk_status_change_answers_for_each_alert,
    |vigil: Vigil| async move {
        let (fleet, sensor) = one_sensor(&vigil).await;
        let listed = ingest(
            &fleet,
            &sensor,
            vec![
                detection("One", "10.0.0.1", true),
                detection("Two", "10.0.0.2", true),
                detection("Three", "10.0.0.3", true),
            ],
        )
        .await;
        let all = ids(&listed);
        let closed = patch(&fleet, &fleet.owner, &all[2], json!({"status": "closed"})).await;
        assert_eq!(closed.status, 200);
        // WHEN two new alerts, an unknown one and one more are set active in bulk
        let bulk = fleet
            .api
            .post(
                &fleet.path("/alerts/status"),
                Some(&fleet.owner),
                json!({"alert_ids": [all[0], "01HQNOSUCHALERT00000000000", all[1], all[2]],
                       "status": "active"}),
            )
            .await;
        // THEN each gets its own answer
        assert_eq!(bulk.status, 200, "{bulk:?}");
        let results = bulk.body["items"].as_array().unwrap();
        let statuses: Vec<u64> = results
            .iter()
            .map(|r| r["status"].as_u64().unwrap())
            .collect();
        assert_eq!(statuses, [200, 404, 200, 200]);
        assert_eq!(results[0]["alert"]["status"], "active");
        assert_eq!(results[1]["error"]["code"], "not_found");
        // WHEN they are set back to new: every one is refused
        let bulk = fleet
            .api
            .post(
                &fleet.path("/alerts/status"),
                Some(&fleet.owner),
                json!({"alert_ids": all, "status": "new"}),
            )
            .await;
        let results = bulk.body["items"].as_array().unwrap();
        assert!(results.iter().all(|r| r["status"] == 409), "{bulk:?}");
        assert!(
            list(&fleet, &fleet.owner, "")
                .await
                .iter()
                .all(|a| a["status"] == "active")
        );
        // AND a bad bulk body is 400
        for bad in [
            json!({"alert_ids": [], "status": "closed"}),
            json!({"alert_ids": all, "status": "huge"}),
            json!({"alert_ids": "x", "status": "closed"}),
            json!({"status": "closed"}),
        ] {
            let refused = fleet
                .api
                .post(&fleet.path("/alerts/status"), Some(&fleet.owner), bad)
                .await;
            expect(&refused, 400, "invalid");
        }
    }
);

// ----- Lists: filters, pages, sites -----

on_both_stores!(
    lists_filter_and_page_across_sites_newest_first_each_alert_once,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let (north, south, at_north, at_south) = fleet.north_and_south().await;
        // GIVEN alerts at two sites, sent in turns, some critical, some closed
        let mut sent = Vec::new();
        for n in 0..9 {
            let (sensor, site) = if n % 3 == 0 {
                (&at_south, &south)
            } else {
                (&at_north, &north)
            };
            let mut alert = detection(&format!("Alert {n}"), "10.0.0.1", true);
            if n % 2 == 0 {
                alert["severity"] = "critical".into();
            }
            let accepted = fleet.ingest_alerts(sensor, vec![alert]).await;
            assert_eq!(accepted.status, 202);
            sent.push((format!("Alert {n}"), site.clone(), n % 2 == 0));
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
        let everything = list(&fleet, &fleet.owner, "").await;
        for alert in everything.iter().filter(|a| {
            let title = a["title"].as_str().unwrap();
            title == "Alert 1" || title == "Alert 4"
        }) {
            let id = alert["id"].as_str().unwrap();
            let closed = patch(&fleet, &fleet.owner, id, json!({"status": "closed"})).await;
            assert_eq!(closed.status, 200);
        }
        let titles = |items: &[Value]| -> Vec<String> {
            items
                .iter()
                .map(|a| a["title"].as_str().unwrap().to_owned())
                .collect()
        };
        let expected = |keep: &dyn Fn(usize) -> bool| -> Vec<String> {
            (0..9)
                .rev()
                .filter(|&n| keep(n))
                .map(|n| format!("Alert {n}"))
                .collect()
        };
        // WHEN listed two at a time: every alert once, newest first
        let paged = fleet.list_all(&fleet.owner, "/alerts", 2).await;
        assert_eq!(titles(&paged), expected(&|_| true));
        // AND each filter, alone and together, through pages too
        type Keep = Box<dyn Fn(usize) -> bool>;
        let cases: Vec<(String, Keep)> = vec![
            (format!("?site_id={south}"), Box::new(|n| n % 3 == 0)),
            (format!("?site_id={north}"), Box::new(|n| n % 3 != 0)),
            ("?status=closed".into(), Box::new(|n| n == 1 || n == 4)),
            ("?status=new".into(), Box::new(|n| n != 1 && n != 4)),
            ("?status=active".into(), Box::new(|_| false)),
            ("?severity=critical".into(), Box::new(|n| n % 2 == 0)),
            (
                format!("?site_id={north}&status=new&severity=critical"),
                Box::new(|n| n % 3 != 0 && n % 2 == 0 && n != 4),
            ),
            ("?status=closed&severity=major".into(), Box::new(|n| n == 1)),
        ];
        for (query, keep) in cases {
            for limit in [1, 2, 50] {
                let items = fleet
                    .list_all(&fleet.owner, &format!("/alerts{query}"), limit)
                    .await;
                assert_eq!(
                    titles(&items),
                    expected(keep.as_ref()),
                    "{query} limit {limit}"
                );
            }
        }
        // AND ids in the list never repeat
        let unique: BTreeSet<String> = ids(&paged).into_iter().collect();
        assert_eq!(unique.len(), 9);
        // AND bad query parameters are 400
        for query in [
            "?status=done",
            "?severity=huge",
            "?limit=0",
            "?limit=501",
            "?limit=x",
            "?cursor=garbage",
            "?site_id=no%20way",
        ] {
            let refused = fleet
                .api
                .get(&fleet.path(&format!("/alerts{query}")), Some(&fleet.owner))
                .await;
            expect(&refused, 400, "invalid");
        }
    }
);

on_both_stores!(
    lists_filter_by_several_values_engine_sensor_and_text_through_every_page,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let (north, south, at_north, at_south) = fleet.north_and_south().await;
        let also_north = fleet.sensor("pump-2", &north, None).await;
        let sensors = [&at_south, &at_north, &also_north];
        let severities = ["critical", "major", "minor", "warning"];
        let engines = [
            "malware",
            "anomaly",
            "policy_violation",
            "protocol_violation",
            "operational",
        ];
        // GIVEN 15 alerts over three sensors at two sites, of every severity and engine
        struct Sent {
            title: String,
            site: String,
            sensor: String,
            severity: &'static str,
            engine: &'static str,
            source: String,
            status: &'static str,
        }
        let mut sent = Vec::new();
        for n in 0..15_usize {
            let sensor = sensors[n % 3];
            let title = if n % 4 == 1 {
                format!("Modbus write {n}")
            } else {
                format!("Alert {n}")
            };
            let source = format!("10.0.{n}.1");
            let mut alert = detection(&title, &source, false);
            alert["severity"] = severities[n % 4].into();
            alert["engine"] = engines[n % 5].into();
            fleet.raise(sensor, vec![alert]).await;
            sent.push(Sent {
                title,
                site: sensor.site.clone(),
                sensor: sensor.id.clone(),
                severity: severities[n % 4],
                engine: engines[n % 5],
                source,
                status: "new",
            });
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
        // AND some of them closed or active
        let listed = list(&fleet, &fleet.owner, "").await;
        for (n, status) in [(2, "closed"), (5, "closed"), (3, "active"), (7, "active")] {
            let id = listed
                .iter()
                .find(|a| a["title"] == sent[n].title.as_str())
                .and_then(|a| a["id"].as_str())
                .unwrap();
            let changed = patch(&fleet, &fleet.owner, id, json!({ "status": status })).await;
            assert_eq!(changed.status, 200, "{changed:?}");
            sent[n].status = status;
        }
        let reader = fleet
            .member("south-reader@example.com", "security_reader", Some(&south))
            .await;
        let expected = |keep: &dyn Fn(&Sent) -> bool| -> Vec<String> {
            sent.iter()
                .rev()
                .filter(|a| keep(a))
                .map(|a| a.title.clone())
                .collect()
        };
        let titles = |items: &[Value]| -> Vec<String> {
            items
                .iter()
                .map(|a| a["title"].as_str().unwrap().to_owned())
                .collect()
        };
        type Keep<'a> = Box<dyn Fn(&Sent) -> bool + 'a>;
        let cases: Vec<(String, &str, Keep)> = vec![
            (
                "?status=new,active".into(),
                &fleet.owner,
                Box::new(|a| a.status != "closed"),
            ),
            (
                "?status=closed,active,closed".into(),
                &fleet.owner,
                Box::new(|a| a.status != "new"),
            ),
            (
                "?severity=critical,major".into(),
                &fleet.owner,
                Box::new(|a| a.severity == "critical" || a.severity == "major"),
            ),
            (
                "?engine=malware,anomaly".into(),
                &fleet.owner,
                Box::new(|a| a.engine == "malware" || a.engine == "anomaly"),
            ),
            (
                format!("?sensor_id={}", also_north.id),
                &fleet.owner,
                Box::new(|a| a.sensor == also_north.id),
            ),
            (
                "?q=MODBUS".into(),
                &fleet.owner,
                Box::new(|a| a.title.starts_with("Modbus")),
            ),
            (
                "?q=10.0.7.".into(),
                &fleet.owner,
                Box::new(|a| a.source == "10.0.7.1"),
            ),
            ("?q=10.0.0.9".into(), &fleet.owner, Box::new(|_| true)),
            (
                "?q=nothing%20like%20it".into(),
                &fleet.owner,
                Box::new(|_| false),
            ),
            (
                format!(
                    "?site_id={north}&status=new,active&severity=critical,minor&engine=malware,policy_violation"
                ),
                &fleet.owner,
                Box::new(|a| {
                    a.site == north
                        && a.status != "closed"
                        && (a.severity == "critical" || a.severity == "minor")
                        && (a.engine == "malware" || a.engine == "policy_violation")
                }),
            ),
            // a site-scoped reader: a sensor or text elsewhere shows nothing of it
            (
                format!("?sensor_id={}", at_north.id),
                &reader,
                Box::new(|_| false),
            ),
            (
                "?q=modbus".into(),
                &reader,
                Box::new(|a| a.site == south && a.title.starts_with("Modbus")),
            ),
            (
                "?status=new,active".into(),
                &reader,
                Box::new(|a| a.site == south && a.status != "closed"),
            ),
        ];
        // a time window on the last detection: the 6th to the 10th alert sent
        let last_detected: std::collections::BTreeMap<String, String> = listed
            .iter()
            .map(|a| {
                let title = a["title"].as_str().unwrap().to_owned();
                (title, a["last_detected"].as_str().unwrap().to_owned())
            })
            .collect();
        let (since, until) = (
            &last_detected[&sent[5].title],
            &last_detected[&sent[10].title],
        );
        let in_window = |a: &Sent| {
            let last = at(&Value::from(last_detected[&a.title].as_str()));
            at(&Value::from(since.as_str())) <= last && last < at(&Value::from(until.as_str()))
        };
        let windowed: Vec<(String, &str, Keep)> = vec![
            (
                format!("?since={since}&until={until}"),
                &fleet.owner,
                Box::new(in_window),
            ),
            (
                format!("?since={since}&severity=critical"),
                &fleet.owner,
                Box::new(|a| {
                    at(&Value::from(last_detected[&a.title].as_str()))
                        >= at(&Value::from(since.as_str()))
                        && a.severity == "critical"
                }),
            ),
            (
                format!("?since={until}&until={since}"),
                &fleet.owner,
                Box::new(|_| false),
            ),
        ];
        for (query, token, keep) in cases.into_iter().chain(windowed) {
            let want = expected(keep.as_ref());
            for limit in [1, 3, 50] {
                let items = fleet
                    .list_all(token, &format!("/alerts{query}"), limit)
                    .await;
                assert_eq!(titles(&items), want, "{query} limit {limit}");
                let unique: BTreeSet<String> = ids(&items).into_iter().collect();
                assert_eq!(unique.len(), items.len(), "{query}: an alert twice");
            }
            // AND the counts of the same filters are those of what is listed, per group,
            // most first; text and time are named as not counted
            let counted = fleet
                .api
                .get(&fleet.path(&format!("/alerts/counts{query}")), Some(token))
                .await;
            assert_eq!(counted.status, 200, "{query}: {counted:?}");
            if query.contains("since=") && query.contains("until=") && want.is_empty() {
                // an empty window: nothing, exactly
                assert_eq!(counted.body["total"], 0, "{query}");
                assert_eq!(counted.body["uncounted"], json!([]), "{query}");
                continue;
            }
            let uncounted: Vec<&str> = ["q", "since", "until"]
                .into_iter()
                .filter(|name| query.contains(&format!("{name}=")))
                .collect();
            assert_eq!(counted.body["uncounted"], json!(uncounted), "{query}");
            if !uncounted.is_empty() {
                let total = counted.body["total"].as_u64().unwrap();
                assert!(
                    total >= want.len() as u64,
                    "{query}: {total} below what is listed"
                );
                continue;
            }
            let kept: Vec<&Sent> = sent.iter().filter(|a| keep(a)).collect();
            assert_eq!(counted.body["total"], kept.len(), "{query}");
            type Key = fn(&Sent) -> String;
            let splits: [(&str, Key); 6] = [
                ("by_status", |a| a.status.to_owned()),
                ("by_severity", |a| a.severity.to_owned()),
                ("by_engine", |a| a.engine.to_owned()),
                ("by_site", |a| a.site.clone()),
                ("by_sensor", |a| a.sensor.clone()),
                ("by_title", |a| a.title.clone()),
            ];
            for (split, key) in splits {
                let mut want: std::collections::BTreeMap<String, u64> = Default::default();
                for a in &kept {
                    *want.entry(key(a)).or_default() += 1;
                }
                let groups = counted.body[split].as_array().unwrap();
                let got: std::collections::BTreeMap<String, u64> = groups
                    .iter()
                    .map(|g| {
                        (
                            g["key"].as_str().unwrap().to_owned(),
                            g["count"].as_u64().unwrap(),
                        )
                    })
                    .collect();
                assert_eq!(got, want, "{query} {split}");
                assert_eq!(got.len(), groups.len(), "{query} {split}: a group twice");
                let order: Vec<u64> = groups
                    .iter()
                    .map(|g| g["count"].as_u64().unwrap())
                    .collect();
                assert!(
                    order.windows(2).all(|w| w[0] >= w[1]),
                    "{query} {split}: {order:?}"
                );
            }
        }
        // AND bad values are 400 naming what is wrong, whatever else is given, on the
        // list and the counts alike
        let long = "x".repeat(101);
        for (query, names) in [
            ("?status=new,done", "done"),
            ("?status=new,,active", "\"\""),
            ("?severity=", "\"\""),
            ("?engine=toaster", "toaster"),
            ("?q=%20%20", "search text"),
            (&format!("?q={long}") as &str, "100"),
            ("?sensor_id=no%20way", "sensor"),
            ("?since=yesterday", "since"),
            ("?until=2026-13-01T00:00:00Z", "until"),
        ] {
            for path in ["/alerts", "/alerts/counts"] {
                let refused = fleet
                    .api
                    .get(&fleet.path(&format!("{path}{query}")), Some(&fleet.owner))
                    .await;
                expect(&refused, 400, "invalid");
                assert!(
                    refused.error_message().contains(names),
                    "{path}{query}: {}",
                    refused.error_message()
                );
            }
        }
        // AND a site reader's counts show no trace of another site; naming it is 403
        let counted = fleet
            .api
            .get(&fleet.path("/alerts/counts"), Some(&reader))
            .await;
        assert_eq!(counted.status, 200, "{counted:?}");
        let at_south = sent.iter().filter(|a| a.site == south).count();
        assert_eq!(counted.body["total"], at_south);
        assert_eq!(
            counted.body["by_site"],
            json!([{"key": south, "count": at_south}])
        );
        let refused = fleet
            .api
            .get(
                &fleet.path(&format!("/alerts/counts?site_id={north}")),
                Some(&reader),
            )
            .await;
        assert_eq!(refused.status, 403, "{refused:?}");
    }
);

/// How many index entries each of `partitions` holds, on the DynamoDB table of `vigil`
/// (`None` on the embedded store).
async fn index_entries(vigil: &Vigil, index: Index, partitions: Vec<String>) -> Option<Vec<usize>> {
    let table = vigil.dynamodb_table().await?;
    let mut counts = Vec::new();
    for pk in partitions {
        let page = table
            .query(&Query {
                index: Some(index),
                limit: 1_000,
                ..Query::partition(pk)
            })
            .await
            .expect("an index query");
        assert!(page.next_cursor.is_none());
        counts.push(page.items.len());
    }
    Some(counts)
}

on_both_stores!(
    new_alerts_spread_over_shards_list_once_newest_first_and_move_with_their_status,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let (north, south, at_north, at_south) = fleet.north_and_south().await;
        // GIVEN 36 new alerts in three batches, north, south, north again
        let mut sent: Vec<(String, String)> = Vec::new();
        for (batch, (sensor, site)) in [
            (&at_north, &north),
            (&at_south, &south),
            (&at_north, &north),
        ]
        .into_iter()
        .enumerate()
        {
            let titles: Vec<String> = (0..12).map(|n| format!("Alert {batch}-{n:02}")).collect();
            let alerts = titles
                .iter()
                .map(|title| detection(title, "10.0.0.1", true))
                .collect();
            fleet.raise(sensor, alerts).await;
            sent.extend(titles.into_iter().map(|title| (title, site.clone())));
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let newest_first = |keep: &dyn Fn(&str, &str) -> bool| -> Vec<String> {
            sent.iter()
                .rev()
                .filter(|(title, site)| keep(title, site))
                .map(|(title, _)| title.clone())
                .collect()
        };
        let titles = |items: &[Value]| -> Vec<String> {
            items
                .iter()
                .map(|a| a["title"].as_str().unwrap().to_owned())
                .collect()
        };
        // THEN on DynamoDB they fill every shard of `new`, subscription-wide and per site
        let sub = SubscriptionId::parse(fleet.sub.as_str()).unwrap();
        let shards = INDEX_SHARDS;
        let new_everywhere = keys::alerts_by_status(&sub, AlertStatus::New, shards);
        let new_at = |site: &str| {
            keys::alerts_by_site_status(
                &sub,
                &SiteId::parse(site).unwrap(),
                AlertStatus::New,
                shards,
            )
        };
        // (each alert's shard is a hash of its id, so the expected count of every shard
        // comes from the ids the API returned; 36 alerts all hashing to one shard would
        // be a broken hash, not bad luck)
        let listed = list(&fleet, &fleet.owner, "").await;
        let per_shard = |keep: &dyn Fn(&str) -> bool| -> Vec<usize> {
            let mut counts = vec![0; usize::from(shards.get())];
            for alert in listed
                .iter()
                .filter(|a| keep(a["site_id"].as_str().unwrap()))
            {
                let id = AlertId::parse(alert["id"].as_str().unwrap()).unwrap();
                counts[usize::from(keys::alert_shard(AlertStatus::New, &id, shards))] += 1;
            }
            counts
        };
        let everywhere = per_shard(&|_| true);
        assert!(
            everywhere.iter().filter(|&&n| n > 0).count() > 1,
            "{everywhere:?}"
        );
        if let Some(counts) = index_entries(&vigil, Index::Gsi1, new_everywhere.clone()).await {
            assert_eq!(counts, everywhere);
            for (site, expected) in [(&north, 24), (&south, 12)] {
                let counts = index_entries(&vigil, Index::Gsi2, new_at(site))
                    .await
                    .unwrap();
                assert_eq!(counts, per_shard(&|s| s == site.as_str()), "{site}");
                assert_eq!(counts.iter().sum::<usize>(), expected);
            }
        }
        // AND every list shows each alert once, newest first, through pages of any size
        let reader = fleet
            .member("reader@example.com", "security_reader", Some(&south))
            .await;
        let check_lists = |expect_new: Vec<String>| {
            let fleet = &fleet;
            let (north, south, reader) = (&north, &south, &reader);
            async move {
                let all = newest_first(&|_, _| true);
                let in_new = |title: &str| expect_new.iter().any(|t| t == title);
                let cases: Vec<(String, &str, Vec<String>)> = vec![
                    (String::new(), &fleet.owner, all.clone()),
                    (
                        "?status=new".into(),
                        &fleet.owner,
                        newest_first(&|t, _| in_new(t)),
                    ),
                    (
                        format!("?site_id={north}"),
                        &fleet.owner,
                        newest_first(&|_, s| s == north),
                    ),
                    (
                        format!("?site_id={south}&status=new"),
                        &fleet.owner,
                        newest_first(&|t, s| s == south && in_new(t)),
                    ),
                    // a site-scoped reader: every shard of their one site
                    (String::new(), reader, newest_first(&|_, s| s == south)),
                    (
                        "?status=new".into(),
                        reader,
                        newest_first(&|t, s| s == south && in_new(t)),
                    ),
                ];
                for (query, token, expected) in cases {
                    for limit in [1, 5, 50] {
                        let items = fleet
                            .list_all(token, &format!("/alerts{query}"), limit)
                            .await;
                        assert_eq!(titles(&items), expected, "{query} limit {limit}");
                        let unique: BTreeSet<String> = ids(&items).into_iter().collect();
                        assert_eq!(unique.len(), items.len(), "{query}: an alert twice");
                    }
                }
            }
        };
        check_lists(newest_first(&|_, _| true)).await;

        // WHEN some are closed one by one, some set active in bulk, one learned
        let id_of = |title: &str| -> String {
            listed
                .iter()
                .find(|a| a["title"] == title)
                .and_then(|a| a["id"].as_str())
                .unwrap()
                .to_owned()
        };
        let closed_titles = ["Alert 0-03", "Alert 1-07", "Alert 2-11"];
        for title in closed_titles {
            let closed = patch(
                &fleet,
                &fleet.owner,
                &id_of(title),
                json!({"status": "closed"}),
            )
            .await;
            assert_eq!(closed.status, 200, "{closed:?}");
        }
        let active_titles = ["Alert 0-00", "Alert 1-01", "Alert 1-02", "Alert 2-05"];
        let bulk = fleet
            .post(
                "/alerts/status",
                json!({"alert_ids": active_titles.iter().map(|t| id_of(t)).collect::<Vec<_>>(),
                       "status": "active"}),
            )
            .await;
        assert_eq!(bulk.status, 200, "{bulk:?}");
        assert!(
            bulk.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|i| i["status"] == 200)
        );
        let learned = learn(&fleet, &fleet.owner, &id_of("Alert 2-00")).await;
        assert_eq!(learned.status, 200, "{learned:?}");
        assert_eq!(learned.body["status"], "closed");
        let closed_titles = [closed_titles.as_slice(), &["Alert 2-00"]].concat();

        // THEN each is listed under its new status only, the rest still new
        let by_status = |status: &str, keep: &[&str]| {
            let keep: Vec<String> = keep.iter().map(|t| t.to_string()).collect();
            let fleet = &fleet;
            let status = status.to_owned();
            async move {
                let items = list(fleet, &fleet.owner, &format!("?status={status}")).await;
                assert_eq!(
                    titles(&items),
                    newest_first(&|t, _| keep.iter().any(|k| k == t))
                );
                assert!(items.iter().all(|a| a["status"] == status.as_str()));
            }
        };
        by_status("closed", &closed_titles).await;
        by_status("active", &active_titles).await;
        let moved = |title: &str| closed_titles.contains(&title) || active_titles.contains(&title);
        check_lists(newest_first(&|t, _| !moved(t))).await;
        // AND on DynamoDB their entries left the shards of `new`
        if let Some(counts) = index_entries(&vigil, Index::Gsi1, new_everywhere).await {
            assert_eq!(counts.iter().sum::<usize>(), 36 - 8);
            let closed = keys::alerts_by_status(&sub, AlertStatus::Closed, shards);
            let counts = index_entries(&vigil, Index::Gsi1, closed).await.unwrap();
            assert_eq!(counts, [4]);
        }
    }
);

on_both_stores!(
    a_site_scoped_user_sees_and_changes_only_their_sites_alerts,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let (north, south, at_north, at_south) = fleet.north_and_south().await;
        let mut with_capture = detection("North 2", "10.0.0.2", true);
        with_capture["pcap_base64"] = "1MOyoQ==".into();
        fleet
            .ingest_alerts(
                &at_north,
                vec![detection("North 1", "10.0.0.1", true), with_capture],
            )
            .await;
        fleet
            .ingest_alerts(&at_south, vec![detection("South 1", "10.0.0.1", true)])
            .await;
        let all = list(&fleet, &fleet.owner, "").await;
        let id_of = |title: &str| {
            all.iter()
                .find(|a| a["title"] == title)
                .and_then(|a| a["id"].as_str())
                .unwrap()
                .to_owned()
        };
        let (north_1, north_2, south_1) = (id_of("North 1"), id_of("North 2"), id_of("South 1"));
        // GIVEN a Security Reader and a Security Admin at the North site only
        let reader = fleet
            .member("reader@example.com", "security_reader", Some(&north))
            .await;
        let admin = fleet
            .member("admin@example.com", "security_admin", Some(&north))
            .await;
        for token in [&reader, &admin] {
            // THEN they list only North's alerts, on every page
            let seen = fleet.list_all(token, "/alerts", 1).await;
            let titles: BTreeSet<&str> =
                seen.iter().map(|a| a["title"].as_str().unwrap()).collect();
            assert_eq!(titles, BTreeSet::from(["North 1", "North 2"]));
            // AND asking for South's is 403, reading a South alert is 404
            let south_list = fleet
                .api
                .get(
                    &fleet.path(&format!("/alerts?site_id={south}")),
                    Some(token),
                )
                .await;
            expect(&south_list, 403, "forbidden");
            expect(&get(&fleet, token, &south_1).await, 404, "not_found");
            assert_eq!(get(&fleet, token, &north_1).await.status, 200);
            // AND changing a South alert is 404, whatever the body
            expect(
                &patch(&fleet, token, &south_1, json!({"status": "closed"})).await,
                404,
                "not_found",
            );
            expect(&learn(&fleet, token, &south_1).await, 404, "not_found");
        }
        // THEN the reader may not change, learn or download at North (403, even with a bad body)
        expect(
            &patch(&fleet, &reader, &north_1, json!({"status": "closed"})).await,
            403,
            "forbidden",
        );
        expect(
            &patch(&fleet, &reader, &north_1, json!({"status": "huge"})).await,
            403,
            "forbidden",
        );
        expect(&learn(&fleet, &reader, &north_1).await, 403, "forbidden");
        let pcap = format!("/alerts/{north_2}/pcap");
        expect(
            &fleet.api.get(&fleet.path(&pcap), Some(&reader)).await,
            403,
            "forbidden",
        );
        let bulk = fleet
            .api
            .post(
                &fleet.path("/alerts/status"),
                Some(&reader),
                json!({"alert_ids": [north_1], "status": "closed"}),
            )
            .await;
        expect(&bulk, 403, "forbidden");
        // AND the admin may, at North only
        let changed = patch(&fleet, &admin, &north_1, json!({"status": "active"})).await;
        assert_eq!(changed.status, 200, "{changed:?}");
        let raw = fleet
            .api
            .send_full(Method::GET, &fleet.path(&pcap), Some(&admin), None)
            .await;
        assert_eq!(raw.status, 200);
        let bulk = fleet
            .api
            .post(
                &fleet.path("/alerts/status"),
                Some(&admin),
                json!({"alert_ids": [north_1, south_1], "status": "closed"}),
            )
            .await;
        let statuses: Vec<u64> = bulk.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["status"].as_u64().unwrap())
            .collect();
        assert_eq!(statuses, [200, 404]);
        assert_eq!(
            get(&fleet, &fleet.owner, &south_1).await.body["status"],
            "new"
        );
    }
);

on_both_stores!(
    each_built_in_role_at_subscription_scope_gets_exactly_its_seed_permissions,
    |vigil: Vigil| async move {
        let (fleet, sensor) = one_sensor(&vigil).await;
        let mut with_capture = detection("Scan", "10.0.0.1", true);
        with_capture["pcap_base64"] = "1MOyoQ==".into();
        let listed = ingest(&fleet, &sensor, vec![with_capture]).await;
        let id = listed[0]["id"].as_str().unwrap().to_owned();
        for role in BuiltInRole::ALL {
            let email = format!("role-{}@example.com", role.id().replace('_', "-"));
            let token = fleet.member(&email, role.id(), None).await;
            let view = role.grants(Permission::ViewAlerts);
            let modify = role.grants(Permission::ModifyAlerts);
            let allowed = |yes: bool, ok: u16| if yes { ok } else { 403 };
            let listed = fleet.api.get(&fleet.path("/alerts"), Some(&token)).await;
            assert_eq!(listed.status, allowed(view, 200), "{role:?} list");
            let read = get(&fleet, &token, &id).await;
            assert_eq!(read.status, if view { 200 } else { 404 }, "{role:?} get");
            let pcap = fleet
                .api
                .send_full(
                    Method::GET,
                    &fleet.path(&format!("/alerts/{id}/pcap")),
                    Some(&token),
                    None,
                )
                .await;
            assert_eq!(pcap.status, allowed(modify, 200), "{role:?} pcap");
            let changed = patch(&fleet, &token, &id, json!({"status": "active"})).await;
            assert_eq!(changed.status, allowed(modify, 200), "{role:?} patch");
            let bulk = fleet
                .api
                .post(
                    &fleet.path("/alerts/status"),
                    Some(&token),
                    json!({"alert_ids": [id], "status": "active"}),
                )
                .await;
            assert_eq!(bulk.status, allowed(modify, 200), "{role:?} bulk");
        }
        // learn last: it closes the alert
        let reader = fleet
            .api
            .dev_login("role-security-reader@example.com")
            .await;
        expect(&learn(&fleet, &reader, &id).await, 403, "forbidden");
        let admin = fleet.api.dev_login("role-security-admin@example.com").await;
        assert_eq!(learn(&fleet, &admin, &id).await.status, 200);
    }
);

// ----- Who may ingest, and bad input -----

on_both_stores!(
    only_a_sensor_token_may_ingest_and_only_ingest,
    |vigil: Vigil| async move {
        let (fleet, sensor) = one_sensor(&vigil).await;
        let body = json!({"alerts": [detection("Scan", "10.0.0.1", true)]});
        for token in [Some(fleet.owner.as_str()), None, Some("vst_not-a-token")] {
            let refused = fleet.api.post("/ingest/alerts", token, body.clone()).await;
            expect(&refused, 401, "unauthenticated");
        }
        // a user token with a bad body is still 401 first
        let refused = fleet
            .api
            .post_raw("/ingest/alerts", Some(&fleet.owner), b"{".to_vec())
            .await;
        expect(&refused, 401, "unauthenticated");
        // a sensor token is no user token
        let refused = fleet
            .api
            .get(&fleet.path("/alerts"), Some(&sensor.token))
            .await;
        expect(&refused, 401, "unauthenticated");
        assert!(list(&fleet, &fleet.owner, "").await.is_empty());
        // a deleted sensor's token stops working at once
        let deleted = fleet
            .api
            .delete(
                &fleet.path(&format!("/sensors/{}", sensor.id)),
                Some(&fleet.owner),
            )
            .await;
        assert_eq!(deleted.status, 204, "{deleted:?}");
        let refused = fleet
            .api
            .post("/ingest/alerts", Some(&sensor.token), body)
            .await;
        expect(&refused, 401, "unauthenticated");
    }
);

on_both_stores!(
    bad_ingest_input_is_refused_and_changes_nothing,
    |vigil: Vigil| async move {
        let (fleet, sensor) = one_sensor(&vigil).await;
        let good = detection("Scan", "10.0.0.1", true);
        let with = |field: &str, value: Value| {
            let mut alert = good.clone();
            alert[field] = value;
            json!({"alerts": [good.clone(), alert]})
        };
        let oversized = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 256 * 1024 + 1]);
        let cases = [
            (with("severity", "huge".into()), "alerts[1].severity"),
            (with("engine", "magic".into()), "alerts[1].engine"),
            (
                with("source_ip", "10.0.0.300".into()),
                "alerts[1].source_ip",
            ),
            (
                with("destination_ip", "".into()),
                "alerts[1].destination_ip",
            ),
            (with("title", "".into()), "alerts[1].title"),
            (with("title", "x".repeat(201).into()), "alerts[1].title"),
            (with("protocol", json!(7)), "alerts[1].protocol"),
            (with("learnable", "yes".into()), "alerts[1].learnable"),
            (
                with("pcap_base64", "not base64!".into()),
                "alerts[1].pcap_base64",
            ),
            (
                with("pcap_base64", oversized.into()),
                "alerts[1].pcap_base64",
            ),
            (with("colour", "red".into()), "alerts[1]"),
            (json!({"alerts": "x"}), "alerts"),
            (json!({"alert": []}), ""),
            (json!([]), ""),
        ];
        for (body, field) in cases {
            let refused = fleet
                .api
                .post("/ingest/alerts", Some(&sensor.token), body.clone())
                .await;
            expect(&refused, 400, "invalid");
            assert!(
                refused.error_message().contains(field),
                "{field}: {}",
                refused.error_message()
            );
        }
        let missing = json!({"alerts": [{"title": "t", "severity": "minor"}]});
        let refused = fleet
            .api
            .post("/ingest/alerts", Some(&sensor.token), missing)
            .await;
        expect(&refused, 400, "invalid");
        let malformed = fleet
            .api
            .post_raw(
                "/ingest/alerts",
                Some(&sensor.token),
                b"{\"alerts\": [".to_vec(),
            )
            .await;
        expect(&malformed, 400, "invalid");
        // THEN nothing was raised, not even the good alert of a refused batch
        assert!(list(&fleet, &fleet.owner, "").await.is_empty());
        // AND an empty batch is accepted
        let empty = fleet.ingest_alerts(&sensor, vec![]).await;
        assert_eq!(
            (empty.status, empty.body.clone()),
            (202, json!({"accepted": 0}))
        );
    }
);

on_both_stores!(
    unknown_alerts_and_other_subscriptions_are_not_found,
    |vigil: Vigil| async move {
        let (fleet, sensor) = one_sensor(&vigil).await;
        let listed = ingest(&fleet, &sensor, vec![detection("Scan", "10.0.0.1", true)]).await;
        let id = listed[0]["id"].as_str().unwrap();
        // an id that is not an id, or names nothing
        for missing in ["01HQNOSUCHALERT00000000000", "not%20an%20id", "x"] {
            expect(&get(&fleet, &fleet.owner, missing).await, 404, "not_found");
            expect(
                &patch(&fleet, &fleet.owner, missing, json!({"status": "closed"})).await,
                404,
                "not_found",
            );
            expect(
                &learn(&fleet, &fleet.owner, missing).await,
                404,
                "not_found",
            );
        }
        // another subscription, or one the caller is not in
        let stranger = fleet.api.dev_login("stranger@example.com").await;
        for (token, sub) in [(&fleet.owner, "nope"), (&stranger, fleet.sub.as_str())] {
            for path in [
                format!("/subscriptions/{sub}/alerts"),
                format!("/subscriptions/{sub}/alerts/{id}"),
                format!("/subscriptions/{sub}/alerts/{id}/pcap"),
            ] {
                expect(&fleet.api.get(&path, Some(token)).await, 404, "not_found");
            }
            let learned = fleet
                .api
                .send(
                    Method::POST,
                    &format!("/subscriptions/{sub}/alerts/{id}/learn"),
                    Some(token),
                    None,
                )
                .await;
            expect(&learned, 404, "not_found");
        }
        // the stranger's own subscription does not reach this alert either
        let theirs = fleet
            .api
            .post("/subscriptions", Some(&stranger), json!({"name": "Theirs"}))
            .await;
        let theirs = theirs.body["id"].as_str().unwrap();
        let read = fleet
            .api
            .get(
                &format!("/subscriptions/{theirs}/alerts/{id}"),
                Some(&stranger),
            )
            .await;
        expect(&read, 404, "not_found");
        assert_eq!(get(&fleet, &fleet.owner, id).await.body["status"], "new");
    }
);

// ----- The summary -----

/// `GET …/alerts/summary` as the holder of `token`, which must answer 200.
async fn summary(fleet: &Fleet, token: &str) -> Value {
    let answer = fleet
        .api
        .get(&fleet.path("/alerts/summary"), Some(token))
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body
}

/// Counts per severity as the summary writes them.
fn counts(critical: u64, major: u64, minor: u64, warning: u64) -> Value {
    json!({"critical": critical, "major": major, "minor": minor, "warning": warning})
}

/// A detection of `severity`.
fn of_severity(title: &str, severity: &str) -> Value {
    let mut detected = detection(title, "10.0.0.1", true);
    detected["severity"] = severity.into();
    detected
}

/// Today's UTC date as the summary writes it.
fn today() -> String {
    let day = OffsetDateTime::now_utc().date();
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// The summary's `open`, and its entry for today (which must be its last).
fn open_and_today(summary: &Value) -> (Value, Value) {
    let daily = summary["daily"].as_array().expect("daily");
    assert_eq!(daily.len(), 30, "{summary}");
    let last = &daily[29];
    assert_eq!(last["date"], today(), "{summary}");
    (summary["open"].clone(), last["counts"].clone())
}

/// What a summary must show, counted from the alerts the owner lists: open ones (new or
/// active) per severity, and those first detected today per severity.
fn counted_from(alerts: &[Value]) -> (Value, Value) {
    let mut open = json!({"critical": 0, "major": 0, "minor": 0, "warning": 0});
    let mut first_today = open.clone();
    for alert in alerts {
        let severity = alert["severity"].as_str().unwrap();
        if alert["status"] != "closed" {
            open[severity] = (open[severity].as_u64().unwrap() + 1).into();
        }
        if alert["first_detected"]
            .as_str()
            .unwrap()
            .starts_with(&today())
        {
            first_today[severity] = (first_today[severity].as_u64().unwrap() + 1).into();
        }
    }
    (open, first_today)
}

on_both_stores!(
    the_summary_counts_open_alerts_per_severity_and_today_s_first_detections,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        // GIVEN a fleet without alerts: thirty zero days, oldest first, today last
        let empty = summary(&fleet, &fleet.owner).await;
        let (open, first_today) = open_and_today(&empty);
        assert_eq!(open, counts(0, 0, 0, 0));
        assert_eq!(first_today, counts(0, 0, 0, 0));
        let dates: Vec<&str> = empty["daily"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["date"].as_str().unwrap())
            .collect();
        let mut sorted = dates.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, dates, "thirty distinct days, oldest first");
        let oldest = OffsetDateTime::now_utc().date() - time::Duration::days(29);
        assert_eq!(
            dates[0],
            format!(
                "{:04}-{:02}-{:02}",
                oldest.year(),
                u8::from(oldest.month()),
                oldest.day()
            )
        );
        // WHEN alerts of several severities are raised at two sites
        let (_north, _south, at_north, at_south) = fleet.north_and_south().await;
        fleet
            .raise(
                &at_north,
                vec![
                    of_severity("N critical 1", "critical"),
                    of_severity("N critical 2", "critical"),
                    of_severity("N major", "major"),
                    of_severity("N warning", "warning"),
                ],
            )
            .await;
        fleet
            .raise(
                &at_south,
                vec![
                    of_severity("S minor", "minor"),
                    of_severity("S critical", "critical"),
                ],
            )
            .await;
        // THEN the summary counts each open, and first detected today
        let (open, first_today) = open_and_today(&summary(&fleet, &fleet.owner).await);
        assert_eq!(open, counts(3, 1, 1, 1));
        assert_eq!(first_today, counts(3, 1, 1, 1));
        // WHEN the same traffic comes again (refreshes, at another severity too)
        fleet
            .raise(
                &at_north,
                vec![
                    of_severity("N critical 1", "critical"),
                    of_severity("N major", "warning"),
                ],
            )
            .await;
        // THEN nothing more is counted
        let (open, first_today) = open_and_today(&summary(&fleet, &fleet.owner).await);
        assert_eq!(open, counts(3, 1, 1, 1));
        assert_eq!(first_today, counts(3, 1, 1, 1));

        let listed = list(&fleet, &fleet.owner, "").await;
        let id_of = |title: &str| -> String {
            listed
                .iter()
                .find(|a| a["title"] == title)
                .and_then(|a| a["id"].as_str())
                .unwrap()
                .to_owned()
        };
        // WHEN one critical is closed, another made active (still open)
        let closed = patch(
            &fleet,
            &fleet.owner,
            &id_of("N critical 1"),
            json!({"status": "closed"}),
        )
        .await;
        assert_eq!(closed.status, 200, "{closed:?}");
        let active = patch(
            &fleet,
            &fleet.owner,
            &id_of("N critical 2"),
            json!({"status": "active"}),
        )
        .await;
        assert_eq!(active.status, 200, "{active:?}");
        // THEN one critical fewer is open; the day's counts stay
        let (open, first_today) = open_and_today(&summary(&fleet, &fleet.owner).await);
        assert_eq!(open, counts(2, 1, 1, 1));
        assert_eq!(first_today, counts(3, 1, 1, 1));
        // WHEN the major and the minor are closed in bulk (with the closed one again)
        let bulk = fleet
            .post(
                "/alerts/status",
                json!({"alert_ids": [id_of("N major"), id_of("S minor"), id_of("N critical 1")],
                       "status": "closed"}),
            )
            .await;
        assert_eq!(bulk.status, 200, "{bulk:?}");
        assert!(
            bulk.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|i| i["status"] == 200),
            "{bulk:?}"
        );
        let (open, _) = open_and_today(&summary(&fleet, &fleet.owner).await);
        assert_eq!(open, counts(2, 0, 0, 1));
        // WHEN the warning is learned, and learned again
        for _ in 0..2 {
            let learned = learn(&fleet, &fleet.owner, &id_of("N warning")).await;
            assert_eq!(learned.status, 200, "{learned:?}");
        }
        let (open, _) = open_and_today(&summary(&fleet, &fleet.owner).await);
        assert_eq!(open, counts(2, 0, 0, 0));
        // WHEN a closed alert is reopened, and the traffic of another closed one comes again
        let reopened = patch(
            &fleet,
            &fleet.owner,
            &id_of("N critical 1"),
            json!({"status": "active"}),
        )
        .await;
        assert_eq!(reopened.status, 200, "{reopened:?}");
        fleet
            .raise(&at_south, vec![of_severity("S minor", "minor")])
            .await;
        // THEN both are open again, and the new alert is a first detection of today
        let now = summary(&fleet, &fleet.owner).await;
        let (open, first_today) = open_and_today(&now);
        assert_eq!(open, counts(3, 0, 1, 0));
        assert_eq!(first_today, counts(3, 1, 2, 1));
        // AND the summary agrees with the alerts listed; no other day counts anything
        let all = list(&fleet, &fleet.owner, "").await;
        assert_eq!(all.len(), 7);
        assert_eq!(counted_from(&all), (open, first_today));
        let earlier: u64 = now["daily"].as_array().unwrap()[..29]
            .iter()
            .map(|d| {
                ["critical", "major", "minor", "warning"]
                    .iter()
                    .map(|s| d["counts"][s].as_u64().unwrap())
                    .sum::<u64>()
            })
            .sum();
        assert_eq!(earlier, 0);
    }
);

on_both_stores!(
    a_site_scoped_reader_sees_only_their_sites_counts_and_others_are_refused,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let (north, south, at_north, at_south) = fleet.north_and_south().await;
        fleet
            .raise(
                &at_north,
                vec![
                    of_severity("N critical", "critical"),
                    of_severity("N major", "major"),
                ],
            )
            .await;
        fleet
            .raise(
                &at_south,
                vec![
                    of_severity("S minor", "minor"),
                    of_severity("S warning", "warning"),
                    of_severity("S warning 2", "warning"),
                ],
            )
            .await;
        // GIVEN readers at North only, at South only, and at subscription scope
        let at_north_only = fleet
            .member("north@example.com", "security_reader", Some(&north))
            .await;
        let at_south_only = fleet
            .member("south@example.com", "security_admin", Some(&south))
            .await;
        let everywhere = fleet
            .member("reader@example.com", "security_reader", None)
            .await;
        // THEN each sees the counts of their sites only
        for (token, expected) in [
            (&at_north_only, counts(1, 1, 0, 0)),
            (&at_south_only, counts(0, 0, 1, 2)),
            (&everywhere, counts(1, 1, 1, 2)),
            (&fleet.owner, counts(1, 1, 1, 2)),
        ] {
            let (open, first_today) = open_and_today(&summary(&fleet, token).await);
            assert_eq!(open, expected);
            assert_eq!(first_today, expected);
        }
        // WHEN the North reader also reads South through a second assignment
        let both = fleet
            .member("north@example.com", "security_reader", Some(&south))
            .await;
        let (open, _) = open_and_today(&summary(&fleet, &both).await);
        assert_eq!(open, counts(1, 1, 1, 2));
        // GIVEN a member whose only role does not grant view_alerts
        let role = fleet
            .post(
                "/roles",
                json!({"name": "Devices only", "permissions": ["view_devices"]}),
            )
            .await;
        assert_eq!(role.status, 201, "{role:?}");
        let role = role.body["id"].as_str().unwrap().to_owned();
        let devices_only = fleet.member("devices@example.com", &role, None).await;
        let at_site = fleet
            .member("devices-north@example.com", &role, Some(&north))
            .await;
        for token in [&devices_only, &at_site] {
            // THEN the summary is 403, as the list is
            let refused = fleet
                .api
                .get(&fleet.path("/alerts/summary"), Some(token))
                .await;
            expect(&refused, 403, "forbidden");
            let listed = fleet.api.get(&fleet.path("/alerts"), Some(token)).await;
            assert_eq!(listed.status, 403, "{listed:?}");
        }
        // AND without an assignment, or in no such subscription, it is 404
        let stranger = fleet.api.dev_login("stranger@example.com").await;
        for (token, sub) in [(&stranger, fleet.sub.as_str()), (&fleet.owner, "nope")] {
            let missing = fleet
                .api
                .get(&format!("/subscriptions/{sub}/alerts/summary"), Some(token))
                .await;
            expect(&missing, 404, "not_found");
        }
        let anonymous = fleet.api.get(&fleet.path("/alerts/summary"), None).await;
        assert_eq!(anonymous.status, 401, "{anonymous:?}");
    }
);

on_both_stores!(
    a_deleted_sites_counts_stay_with_its_alerts_for_who_still_sees_them,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        // GIVEN a site with alerts, and a reader scoped to it
        let doomed = fleet.site("Doomed").await;
        let sensor = fleet.sensor("d1", &doomed, None).await;
        fleet
            .raise(&sensor, vec![of_severity("Scan", "critical")])
            .await;
        let reader = fleet
            .member("reader@example.com", "security_reader", Some(&doomed))
            .await;
        assert_eq!(
            open_and_today(&summary(&fleet, &reader).await).0,
            counts(1, 0, 0, 0)
        );
        // WHEN its sensor and then the site are deleted
        let removed = fleet.delete(&format!("/sensors/{}", sensor.id)).await;
        assert_eq!(removed.status, 204, "{removed:?}");
        let deleted = fleet.delete(&format!("/sites/{doomed}")).await;
        assert_eq!(deleted.status, 204, "{deleted:?}");
        // THEN the alert stays counted for the owner, as it stays listed
        let (open, first_today) = open_and_today(&summary(&fleet, &fleet.owner).await);
        assert_eq!(open, counts(1, 0, 0, 0));
        assert_eq!(first_today, counts(1, 0, 0, 0));
        assert_eq!(list(&fleet, &fleet.owner, "").await.len(), 1);
        // AND the site-scoped reader, whose assignment went with the site, sees nothing
        let gone = fleet
            .api
            .get(&fleet.path("/alerts/summary"), Some(&reader))
            .await;
        assert_eq!(gone.status, 404, "{gone:?}");
        // AND closing the alert still moves the count
        let id = list(&fleet, &fleet.owner, "").await[0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let closed = patch(&fleet, &fleet.owner, &id, json!({"status": "closed"})).await;
        assert_eq!(closed.status, 200, "{closed:?}");
        let (open, first_today) = open_and_today(&summary(&fleet, &fleet.owner).await);
        assert_eq!(open, counts(0, 0, 0, 0));
        assert_eq!(first_today, counts(1, 0, 0, 0));
    }
);

on_both_stores!(
    concurrent_ingests_and_status_changes_leave_exact_counts,
    |vigil: Vigil| async move {
        let fleet = std::sync::Arc::new(Fleet::new(&vigil).await);
        let north = fleet.site("North").await;
        let south = fleet.site("South").await;
        let mut sensors = Vec::new();
        for (n, site) in [&north, &north, &north, &south].into_iter().enumerate() {
            sensors.push(fleet.sensor(&format!("s{n}"), site, None).await);
        }
        const SEVERITIES: [&str; 4] = ["critical", "major", "minor", "warning"];
        // GIVEN alerts already raised at both sites
        for (n, sensor) in sensors.iter().enumerate() {
            let batch = (0..6)
                .map(|k| of_severity(&format!("Old {n}-{k}"), SEVERITIES[k % 4]))
                .collect();
            fleet.raise(sensor, batch).await;
        }
        let old = list(&fleet, &fleet.owner, "").await;
        assert_eq!(old.len(), 24);
        // WHEN every sensor sends batches at once (new traffic, traffic shared by the
        // sensors' own batches, and the old traffic again), while old alerts are closed
        // one by one and in bulk, made active, and learned
        let mut running = tokio::task::JoinSet::new();
        for (n, sensor) in sensors.iter().enumerate() {
            for round in 0..4 {
                let fleet = std::sync::Arc::clone(&fleet);
                let sensor = sensor.clone();
                running.spawn(async move {
                    let mut batch: Vec<Value> = (0..5)
                        .map(|k| {
                            of_severity(&format!("New {n}-{round}-{k}"), SEVERITIES[(k + n) % 4])
                        })
                        .collect();
                    batch.push(of_severity(&format!("Shared {n}"), "critical"));
                    batch.push(of_severity(&format!("Old {n}-{round}"), "major"));
                    fleet.raise(&sensor, batch).await;
                });
            }
        }
        let ids_of = |keep: &dyn Fn(usize) -> bool| -> Vec<String> {
            old.iter()
                .enumerate()
                .filter(|(i, _)| keep(*i))
                .map(|(_, a)| a["id"].as_str().unwrap().to_owned())
                .collect()
        };
        for (n, id) in ids_of(&|i| i % 3 == 0).into_iter().enumerate() {
            let fleet = std::sync::Arc::clone(&fleet);
            running.spawn(async move {
                let status = if n % 2 == 0 { "closed" } else { "active" };
                let changed = patch(&fleet, &fleet.owner, &id, json!({ "status": status })).await;
                assert_eq!(changed.status, 200, "{changed:?}");
            });
        }
        for chunk in ids_of(&|i| i % 3 == 1).chunks(3) {
            let fleet = std::sync::Arc::clone(&fleet);
            let ids = chunk.to_vec();
            running.spawn(async move {
                let bulk = fleet
                    .post(
                        "/alerts/status",
                        json!({"alert_ids": ids, "status": "closed"}),
                    )
                    .await;
                assert_eq!(bulk.status, 200, "{bulk:?}");
                assert!(
                    bulk.body["items"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|i| i["status"] == 200),
                    "{bulk:?}"
                );
            });
        }
        for id in ids_of(&|i| i % 6 == 2) {
            let fleet = std::sync::Arc::clone(&fleet);
            running.spawn(async move {
                let learned = learn(&fleet, &fleet.owner, &id).await;
                assert_eq!(learned.status, 200, "{learned:?}");
            });
        }
        while let Some(done) = running.join_next().await {
            done.unwrap();
        }
        // THEN the summary counts exactly the alerts stored, per site and everywhere
        let all = list(&fleet, &fleet.owner, "").await;
        assert!(all.len() > 24 + 80, "{}", all.len());
        let unique: BTreeSet<String> = ids(&all).into_iter().collect();
        assert_eq!(unique.len(), all.len());
        assert_eq!(
            open_and_today(&summary(&fleet, &fleet.owner).await),
            counted_from(&all)
        );
        // AND so do the group counts
        let counted = fleet
            .api
            .get(&fleet.path("/alerts/counts"), Some(&fleet.owner))
            .await;
        assert_eq!(counted.body["total"], all.len(), "{counted:?}");
        for (split, field) in [
            ("by_status", "status"),
            ("by_severity", "severity"),
            ("by_site", "site_id"),
            ("by_sensor", "sensor_id"),
            ("by_title", "title"),
        ] {
            let mut want: std::collections::BTreeMap<String, u64> = Default::default();
            for alert in &all {
                *want
                    .entry(alert[field].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
            let got: std::collections::BTreeMap<String, u64> = counted.body[split]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| {
                    (
                        g["key"].as_str().unwrap().to_owned(),
                        g["count"].as_u64().unwrap(),
                    )
                })
                .collect();
            assert_eq!(got, want, "{split}");
        }
        for site in [&north, &south] {
            let reader = fleet
                .member(
                    &format!("reader-{site}@example.com"),
                    "security_reader",
                    Some(site),
                )
                .await;
            let at_site: Vec<Value> = all
                .iter()
                .filter(|a| a["site_id"] == site.as_str())
                .cloned()
                .collect();
            assert_eq!(
                open_and_today(&summary(&fleet, &reader).await),
                counted_from(&at_site),
                "{site}"
            );
        }
    }
);

// ----- Retention -----

vigil_tests::for_each_store!(
    retention_removes_alerts_not_detected_for_ninety_days_with_their_counts_and_timeline,
    |backend: vigil_tests::vigil::Backend| async move {
        let vigil = vigil_tests::embedded::InProcess::start_on(backend).await;
        let fleet = Fleet::on(vigil.api(), "owner@example.com").await;
        let sensor = fleet.site_with_a_sensor().await;
        let traffic = || {
            vec![
                detection("Open", "10.0.0.1", false),
                detection("Baseline", "10.0.0.2", true),
            ]
        };
        // GIVEN an open alert with a comment, and a learned one (a baseline)
        let raised = ingest(&fleet, &sensor, traffic()).await;
        let id_of = |title: &str| {
            raised.iter().find(|a| a["title"] == title).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let (open, baseline) = (id_of("Open"), id_of("Baseline"));
        let commented = fleet
            .post(&format!("/alerts/{open}/comments"), json!({"text": "seen"}))
            .await;
        assert_eq!(commented.status, 201, "{commented:?}");
        assert_eq!(learn(&fleet, &fleet.owner, &baseline).await.status, 200);
        let table: std::sync::Arc<dyn functions::store::Table> = vigil.table.clone();
        let now = OffsetDateTime::now_utc();
        let retention = shared::model::ALERT_RETENTION;
        // WHEN retention sweeps a day before they are 90 days old
        functions::retention::sweep(table.as_ref(), now + retention - time::Duration::days(1))
            .await
            .unwrap();
        // THEN both are kept
        assert_eq!(list(&fleet, &fleet.owner, "").await.len(), 2);
        // WHEN it sweeps a day after
        functions::retention::sweep(table.as_ref(), now + retention + time::Duration::days(1))
            .await
            .unwrap();
        // THEN both are gone, with their timelines and counts
        assert_eq!(list(&fleet, &fleet.owner, "").await, Vec::<Value>::new());
        for id in [&open, &baseline] {
            expect(&get(&fleet, &fleet.owner, id).await, 404, "not_found");
            let events = table
                .query(&keys::alert_events_query(
                    &SubscriptionId::parse(fleet.sub.as_str()).unwrap(),
                    &AlertId::parse(id.as_str()).unwrap(),
                    10,
                ))
                .await
                .unwrap();
            assert_eq!(events.items, vec![], "the timeline of {id} is left");
        }
        let counted = fleet.get("/alerts/counts").await;
        assert_eq!(counted.body["total"], 0, "{counted:?}");
        assert_eq!(
            summary(&fleet, &fleet.owner).await["open"],
            counts(0, 0, 0, 0)
        );
        // AND the open alert's traffic raises a new alert, the baseline's stays expected
        let again = ingest(&fleet, &sensor, traffic()).await;
        assert_eq!(again.len(), 1, "{again:#?}");
        assert_eq!(again[0]["title"], "Open");
        assert_ne!(again[0]["id"], open.as_str());
        assert_eq!(again[0]["detections"], 1);
    }
);
