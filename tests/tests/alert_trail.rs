//! An alert's trail end to end against the real `vigil` binary, on both stores:
//! assignee, comments, close reasons and the timeline recording them, and who may do
//! what.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use vigil_tests::fleet::{Fleet, detection};
use vigil_tests::on_both_stores;
use vigil_tests::vigil::{Answer, Vigil, expect};

async fn post_as(fleet: &Fleet, token: &str, rest: &str, body: Value) -> Answer {
    fleet.api.post(&fleet.path(rest), Some(token), body).await
}

async fn timeline(fleet: &Fleet, token: &str, id: &str) -> Vec<Value> {
    fleet
        .list_all(token, &format!("/alerts/{id}/timeline"), 7)
        .await
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["change"]["kind"].as_str().unwrap().to_owned())
        .collect()
}

on_both_stores!(
    an_alert_is_assigned_commented_and_closed_with_a_reason_and_its_timeline_says_so_in_order,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let (_north, south, at_north, _at_south) = fleet.north_and_south().await;
        fleet
            .raise(
                &at_north,
                vec![
                    detection("Modbus write", "10.1.0.1", false),
                    detection("Port scan", "10.1.0.2", true),
                ],
            )
            .await;
        let alerts = fleet.all("/alerts", 50).await;
        let id_of = |title: &str| {
            alerts
                .iter()
                .find(|a| a["title"] == title)
                .and_then(|a| a["id"].as_str())
                .unwrap()
                .to_owned()
        };
        let (write, scan) = (id_of("Modbus write"), id_of("Port scan"));
        assert_eq!(alerts[0]["assignee"], Value::Null);
        assert_eq!(alerts[0]["detections"], 1);
        let analyst = fleet
            .member("analyst@example.com", "security_admin", None)
            .await;
        let reader = fleet
            .member("reader@example.com", "security_reader", None)
            .await;
        fleet
            .member("south@example.com", "security_admin", Some(&south))
            .await;

        // WHEN the analyst takes the alert
        let taken = post_as(
            &fleet,
            &analyst,
            &format!("/alerts/{write}/assign"),
            json!({"assignee": "analyst@example.com"}),
        )
        .await;
        assert_eq!(taken.status, 200, "{taken:?}");
        assert_eq!(taken.body["assignee"], "analyst@example.com");
        // AND assignees who may not view alerts at its site are refused, naming why
        for nobody in ["south@example.com", "stranger@example.com", "group:nobody"] {
            let refused = post_as(
                &fleet,
                &analyst,
                &format!("/alerts/{write}/assign"),
                json!({ "assignee": nobody }),
            )
            .await;
            expect(&refused, 400, "invalid");
            assert!(
                refused.error_message().contains("assignee"),
                "{nobody}: {refused:?}"
            );
        }
        for bad in [json!({"assignee": "not an email"}), json!({"who": null})] {
            let refused = post_as(&fleet, &analyst, &format!("/alerts/{write}/assign"), bad).await;
            expect(&refused, 400, "invalid");
        }
        // AND comments: the analyst's is kept; an empty one and a reader's are refused
        let said = post_as(
            &fleet,
            &analyst,
            &format!("/alerts/{write}/comments"),
            json!({"text": "  Engineering laptop, checking with the plant.  "}),
        )
        .await;
        assert_eq!(said.status, 201, "{said:?}");
        assert_eq!(
            said.body["change"],
            json!({"kind": "comment", "text": "Engineering laptop, checking with the plant."})
        );
        assert_eq!(said.body["actor"]["email"], "analyst@example.com");
        let empty = post_as(
            &fleet,
            &analyst,
            &format!("/alerts/{write}/comments"),
            json!({"text": "   "}),
        )
        .await;
        expect(&empty, 400, "invalid");
        assert!(empty.error_message().contains("text"), "{empty:?}");
        let denied = post_as(
            &fleet,
            &reader,
            &format!("/alerts/{write}/comments"),
            json!({"text": "hello"}),
        )
        .await;
        assert_eq!(denied.status, 403, "{denied:?}");
        // AND closing takes only a listed reason, only on a close
        for (body, names) in [
            (
                json!({"status": "closed", "reason": "bogus"}),
                "false_positive",
            ),
            (
                json!({"status": "active", "reason": "duplicate"}),
                "only closing",
            ),
            (json!({"reason": "duplicate"}), "only closing"),
        ] {
            let refused = fleet.patch(&format!("/alerts/{write}"), body.clone()).await;
            expect(&refused, 400, "invalid");
            assert!(
                refused.error_message().contains("reason")
                    && refused.error_message().contains(names),
                "{body}: {refused:?}"
            );
        }
        let closed = fleet
            .api
            .patch(
                &fleet.path(&format!("/alerts/{write}")),
                Some(&analyst),
                json!({"status": "closed", "reason": "false_positive"}),
            )
            .await;
        assert_eq!(closed.status, 200, "{closed:?}");
        assert_eq!(closed.body["close_reason"], "false_positive");
        assert_eq!(closed.body["comments"], 1);

        // THEN the timeline holds exactly those changes, in order, with their authors
        let events = timeline(&fleet, &reader, &write).await;
        assert_eq!(
            kinds(&events),
            ["assigned", "comment", "status"],
            "{events:?}"
        );
        assert_eq!(
            events[0]["change"],
            json!({"kind": "assigned", "from": null, "to": "analyst@example.com"})
        );
        assert_eq!(
            events[2]["change"],
            json!({"kind": "status", "from": "new", "to": "closed", "reason": "false_positive"})
        );
        assert!(
            events
                .iter()
                .all(|e| e["actor"]["email"] == "analyst@example.com")
        );
        // AND the audit log has one entry per change
        let audit = fleet.audit().await;
        for action in ["alert.assign", "alert.comment", "alert.update"] {
            let entries = audit
                .iter()
                .filter(|e| e["action"] == action && e["target"] == write.as_str())
                .count();
            assert_eq!(entries, 1, "{action}");
        }

        // WHEN the learnable one is closed as expected (a reason that learns)
        let expected = fleet
            .patch(
                &format!("/alerts/{scan}"),
                json!({"status": "closed", "reason": "expected"}),
            )
            .await;
        assert_eq!(expected.status, 200, "{expected:?}");
        // THEN it is learned: on its timeline, and its traffic raises nothing new
        assert_eq!(
            kinds(&timeline(&fleet, &fleet.owner, &scan).await),
            ["status", "learned"]
        );
        fleet
            .raise(&at_north, vec![detection("Port scan", "10.1.0.2", true)])
            .await;
        assert_eq!(fleet.all("/alerts", 50).await.len(), 2);

        // AND the filters on assignee list what they say, for who asks
        let listed = |token: String, query: &'static str| {
            let fleet = &fleet;
            async move {
                let items = fleet
                    .list_all(&token, &format!("/alerts?assignee={query}"), 1)
                    .await;
                items
                    .iter()
                    .map(|a| a["id"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(listed(analyst.clone(), "me").await, [write.as_str()]);
        assert!(listed(reader.clone(), "me").await.is_empty());
        assert_eq!(listed(reader.clone(), "none").await, [scan.as_str()]);
        assert_eq!(
            listed(reader.clone(), "analyst@example.com").await,
            [write.as_str()]
        );
        let refused = fleet.get("/alerts?assignee=someone").await;
        expect(&refused, 400, "invalid");

        // AND a bulk assignment to nobody answers per alert
        let bulk = post_as(
            &fleet,
            &analyst,
            "/alerts/assign",
            json!({"alert_ids": [write, scan, "01NOSUCHALERT"], "assignee": null}),
        )
        .await;
        assert_eq!(bulk.status, 200, "{bulk:?}");
        let statuses: Vec<&Value> = bulk.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| &i["status"])
            .collect();
        assert_eq!(statuses, [200, 200, 404]);
        assert_eq!(listed(reader.clone(), "none").await.len(), 2);
        assert_eq!(
            kinds(&timeline(&fleet, &fleet.owner, &scan).await),
            ["status", "learned"],
            "unassigning the unassigned records nothing"
        );
    }
);

on_both_stores!(
    close_reasons_are_the_defaults_until_an_alert_admin_replaces_them,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let reader = fleet
            .member("reader@example.com", "security_reader", None)
            .await;
        let listed = fleet.get("/alerts/close-reasons").await;
        assert_eq!(listed.status, 200, "{listed:?}");
        let ids: Vec<&str> = listed.body["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["resolved", "false_positive", "expected", "duplicate"]);
        let etag = listed.etag.clone().expect("an ETag");
        let mine = json!({"reasons": [
            {"id": "resolved", "label": "Fixed at the plant", "learns": false},
            {"id": "maintenance", "label": "Planned maintenance", "learns": true},
        ]});
        // a reader may not change them; bad lists are refused
        let denied = fleet
            .api
            .send(
                Method::PUT,
                &fleet.path("/alerts/close-reasons"),
                Some(&reader),
                Some(mine.clone()),
            )
            .await;
        assert_eq!(denied.status, 403, "{denied:?}");
        for bad in [
            json!({"reasons": []}),
            json!({"reasons": [
                {"id": "a", "label": "A", "learns": false},
                {"id": "a", "label": "B", "learns": false},
            ]}),
            json!({"reasons": [{"id": "a", "label": " ", "learns": false}]}),
        ] {
            let refused = fleet
                .api
                .send(
                    Method::PUT,
                    &fleet.path("/alerts/close-reasons"),
                    Some(&fleet.owner),
                    Some(bad.clone()),
                )
                .await;
            expect(&refused, 400, "invalid");
        }
        let replaced = fleet
            .api
            .send_if_match(
                Method::PUT,
                &fleet.path("/alerts/close-reasons"),
                Some(&fleet.owner),
                Some(mine.clone()),
                &etag,
            )
            .await;
        assert_eq!(replaced.status, 200, "{replaced:?}");
        assert_eq!(fleet.get("/alerts/close-reasons").await.body, mine);
        // a stale version is 412 and changes nothing
        let stale = fleet
            .api
            .send_if_match(
                Method::PUT,
                &fleet.path("/alerts/close-reasons"),
                Some(&fleet.owner),
                Some(json!({"reasons": [{"id": "x", "label": "X", "learns": false}]})),
                &etag,
            )
            .await;
        assert_eq!(stale.status, 412, "{stale:?}");
        assert_eq!(fleet.get("/alerts/close-reasons").await.body, mine);
        // and closing now takes the new reasons only
        let sensor = fleet.site_with_a_sensor().await;
        fleet
            .raise(&sensor, vec![detection("Scan", "10.0.0.1", false)])
            .await;
        let id = fleet.all("/alerts", 5).await[0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let old = fleet
            .patch(
                &format!("/alerts/{id}"),
                json!({"status": "closed", "reason": "duplicate"}),
            )
            .await;
        expect(&old, 400, "invalid");
        assert!(old.error_message().contains("maintenance"), "{old:?}");
        let closed = fleet
            .patch(
                &format!("/alerts/{id}"),
                json!({"status": "closed", "reason": "maintenance"}),
            )
            .await;
        assert_eq!(closed.status, 200, "{closed:?}");
        assert_eq!(closed.body["close_reason"], "maintenance");
    }
);

on_both_stores!(
    twenty_concurrent_writers_on_one_alert_leave_a_timeline_of_exactly_their_changes_in_order,
    |vigil: Vigil| async move {
        let fleet = Arc::new(Fleet::new(&vigil).await);
        let sensor = fleet.site_with_a_sensor().await;
        fleet
            .raise(&sensor, vec![detection("Scan", "10.0.0.1", false)])
            .await;
        let id = fleet.all("/alerts", 5).await[0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let people = ["a@example.com", "b@example.com", "c@example.com"];
        for person in people {
            fleet.member(person, "security_admin", None).await;
        }
        // WHEN 10 comment and 10 reassign at once
        let mut running = tokio::task::JoinSet::new();
        for n in 0..20 {
            let fleet = Arc::clone(&fleet);
            let id = id.clone();
            running.spawn(async move {
                let (rest, body, status) = if n % 2 == 0 {
                    (
                        format!("/alerts/{id}/comments"),
                        json!({ "text": format!("note {n}") }),
                        201,
                    )
                } else {
                    (
                        format!("/alerts/{id}/assign"),
                        json!({ "assignee": people[n % 3] }),
                        200,
                    )
                };
                let answer = fleet.post(&rest, body.clone()).await;
                assert_eq!(answer.status, status, "{answer:?}");
                if status == 201 {
                    // each writer is answered its own entry, whoever else wrote meanwhile
                    assert_eq!(answer.body["change"]["text"], body["text"], "{answer:?}");
                }
            });
        }
        while let Some(done) = running.join_next().await {
            done.unwrap();
        }
        // THEN every comment is there once, and the assignments chain: each one's
        // `from` is the previous one's `to`, ending with the alert's assignee
        let events = timeline(&fleet, &fleet.owner, &id).await;
        let mut notes: Vec<String> = events
            .iter()
            .filter(|e| e["change"]["kind"] == "comment")
            .map(|e| e["change"]["text"].as_str().unwrap().to_owned())
            .collect();
        notes.sort();
        let mut sent: Vec<String> = (0..20).step_by(2).map(|n| format!("note {n}")).collect();
        sent.sort();
        assert_eq!(notes, sent);
        let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        let mut holder = Value::Null;
        for event in events.iter().filter(|e| e["change"]["kind"] == "assigned") {
            assert_eq!(event["change"]["from"], holder, "{events:?}");
            holder = event["change"]["to"].clone();
        }
        let alert = fleet.get(&format!("/alerts/{id}")).await;
        assert_eq!(alert.body["assignee"], holder);
        assert_eq!(alert.body["comments"], 10);
        assert!(
            events
                .iter()
                .filter(|e| e["change"]["kind"] == "assigned")
                .count()
                <= 10,
            "a reassignment to the same person records nothing"
        );
    }
);
