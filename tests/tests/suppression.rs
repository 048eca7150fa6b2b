//! Suppression rules end to end against the real `vigil` binary, on both stores: made
//! with a preview, closing what they match, keeping ingest from raising matching
//! traffic (counted on the rule) only where they apply and only until they expire.

use reqwest::Method;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use vigil_tests::fleet::{Fleet, detection};
use vigil_tests::on_both_stores;
use vigil_tests::vigil::{Answer, Vigil, expect};

fn in_seconds(seconds: i64) -> String {
    (OffsetDateTime::now_utc() + Duration::seconds(seconds))
        .format(&Rfc3339)
        .unwrap()
}

fn rule(scope: Value, expires_at: &str) -> Value {
    json!({
        "match": {"title": "port scan", "destination": "10.9.0.0/16"},
        "scope": scope,
        "expires_at": expires_at,
        "reason": "Vulnerability scanner, weekly",
    })
}

async fn post_as(fleet: &Fleet, token: &str, rest: &str, body: Value) -> Answer {
    fleet.api.post(&fleet.path(rest), Some(token), body).await
}

fn scan(source: &str) -> Value {
    let mut alert = detection("Port scan", source, false);
    alert["destination_ip"] = "10.9.1.1".into();
    alert
}

on_both_stores!(
    a_rule_closes_what_it_previewed_then_suppresses_matching_traffic_where_it_applies_until_it_expires,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let (north, south, at_north, at_south) = fleet.north_and_south().await;
        // GIVEN open scans at both sites, and other traffic at North
        fleet
            .raise(
                &at_north,
                vec![
                    scan("10.1.0.1"),
                    scan("10.1.0.2"),
                    scan("10.1.0.3"),
                    detection("Modbus write", "10.1.0.4", false),
                ],
            )
            .await;
        fleet.raise(&at_south, vec![scan("10.2.0.1")]).await;
        let at_north_scope = json!({"kind": "site", "site_id": north});
        let expiry = in_seconds(4);
        // WHEN the owner previews a rule for North's scans
        let preview = fleet
            .post(
                "/suppression-rules/preview",
                rule(at_north_scope.clone(), &expiry),
            )
            .await;
        assert_eq!(preview.status, 200, "{preview:?}");
        assert_eq!(preview.body["open_matching"], 3);
        assert_eq!(preview.body["more_open_alerts"], false);
        // AND makes it, closing what it matches
        let mut body = rule(at_north_scope.clone(), &expiry);
        body["close_matching"] = true.into();
        let created = fleet.post("/suppression-rules", body).await;
        assert_eq!(created.status, 201, "{created:?}");
        // THEN exactly the previewed alerts are closed, as suppressed
        assert_eq!(created.body["closed"], preview.body["open_matching"]);
        let id = created.body["rule"]["id"].as_str().unwrap().to_owned();
        assert_eq!(created.body["rule"]["author"], "owner@example.com");
        let closed = fleet.all("/alerts?status=closed", 50).await;
        assert_eq!(closed.len(), 3);
        assert!(closed.iter().all(|a| a["close_reason"] == "suppressed"
            && a["site_id"] == north.as_str()
            && a["title"] == "Port scan"));
        // WHEN the same traffic comes again, from new sources, at both sites
        fleet
            .raise(&at_north, vec![scan("10.1.0.7"), scan("10.1.0.8")])
            .await;
        fleet.raise(&at_south, vec![scan("10.2.0.7")]).await;
        // THEN North raises nothing, South raises its scan, and the rule counts its hits
        let open = fleet.all("/alerts?status=new,active", 50).await;
        let titles_at = |site: &str| {
            open.iter()
                .filter(|a| a["site_id"] == site && a["title"] == "Port scan")
                .count()
        };
        assert_eq!((titles_at(&north), titles_at(&south)), (0, 2));
        let read = fleet.get(&format!("/suppression-rules/{id}")).await;
        assert_eq!(read.status, 200, "{read:?}");
        assert_eq!(read.body["hits"], 2);
        assert!(read.body["last_hit"].is_string(), "{read:?}");
        // WHEN it has expired, the same traffic raises again
        let left = OffsetDateTime::parse(&expiry, &Rfc3339).unwrap() - OffsetDateTime::now_utc();
        tokio::time::sleep(std::time::Duration::from_millis(
            u64::try_from(left.whole_milliseconds().max(0)).unwrap() + 200,
        ))
        .await;
        fleet.raise(&at_north, vec![scan("10.1.0.9")]).await;
        let open = fleet.all("/alerts?status=new,active", 50).await;
        assert_eq!(
            open.iter()
                .filter(|a| a["site_id"] == north.as_str() && a["title"] == "Port scan")
                .count(),
            1
        );
        assert_eq!(
            fleet.get(&format!("/suppression-rules/{id}")).await.body["hits"],
            2
        );
        // AND the audit log has its creation
        assert!(
            fleet
                .audit()
                .await
                .iter()
                .any(|e| e["action"] == "suppression_rule.create" && e["target"] == id.as_str())
        );
    }
);

on_both_stores!(
    rules_are_refused_when_bad_or_out_of_the_callers_reach_and_shown_only_where_they_apply,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let (north, south, _at_north, _at_south) = fleet.north_and_south().await;
        let south_admin = fleet
            .member("south-admin@example.com", "security_admin", Some(&south))
            .await;
        let reader = fleet
            .member("reader@example.com", "security_reader", None)
            .await;
        let at = |site: &str| json!({"kind": "site", "site_id": site});
        let later = in_seconds(3600);
        // bad rules: 400 naming the field, nothing made
        let mut nothing = rule(json!({"kind": "subscription"}), &later);
        nothing["match"] = json!({});
        let past = rule(json!({"kind": "subscription"}), &in_seconds(-5));
        let too_long = rule(json!({"kind": "subscription"}), &in_seconds(91 * 86_400));
        let mut bad_range = rule(json!({"kind": "subscription"}), &later);
        bad_range["match"]["source"] = "10.0.0.0/40".into();
        let no_site = rule(at("atlantis"), &later);
        let no_group = rule(
            json!({"kind": "device_group", "device_group_id": "nope"}),
            &later,
        );
        for (body, field) in [
            (nothing, "match"),
            (past, "expires_at"),
            (too_long, "expires_at"),
            (bad_range, "CIDR"),
            (no_site, "scope"),
            (no_group, "scope"),
        ] {
            for path in ["/suppression-rules", "/suppression-rules/preview"] {
                let refused = fleet.post(path, body.clone()).await;
                expect(&refused, 400, "invalid");
                assert!(
                    refused.error_message().contains(field),
                    "{path} {body}: {refused:?}"
                );
            }
        }
        // out of reach: 403
        for (token, scope) in [
            (&reader, json!({"kind": "subscription"})),
            (&south_admin, at(&north)),
            (&south_admin, json!({"kind": "subscription"})),
        ] {
            let refused = post_as(
                &fleet,
                token,
                "/suppression-rules",
                rule(scope.clone(), &later),
            )
            .await;
            assert_eq!(refused.status, 403, "{scope}: {refused:?}");
        }
        assert!(fleet.all("/suppression-rules", 50).await.is_empty());
        // a site admin makes one at their site; the owner one at North
        let mine = post_as(
            &fleet,
            &south_admin,
            "/suppression-rules",
            rule(at(&south), &later),
        )
        .await;
        assert_eq!(mine.status, 201, "{mine:?}");
        let north_rule = fleet
            .post("/suppression-rules", rule(at(&north), &later))
            .await;
        assert_eq!(north_rule.status, 201, "{north_rule:?}");
        let north_id = north_rule.body["rule"]["id"].as_str().unwrap().to_owned();
        // each sees the rules where they may view alerts
        let listed = |token: String| {
            let fleet = &fleet;
            async move {
                let list = fleet
                    .api
                    .get(&fleet.path("/suppression-rules"), Some(&token))
                    .await;
                assert_eq!(list.status, 200, "{list:?}");
                list.body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["scope"]["site_id"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            listed(fleet.owner.clone()).await,
            [south.clone(), north.clone()]
        );
        assert_eq!(listed(reader.clone()).await.len(), 2);
        assert_eq!(listed(south_admin.clone()).await, [south.as_str()]);
        let hidden = fleet
            .api
            .get(
                &fleet.path(&format!("/suppression-rules/{north_id}")),
                Some(&south_admin),
            )
            .await;
        assert_eq!(hidden.status, 404, "{hidden:?}");
        // deleting: a reader may not; the owner may, once
        let path = fleet.path(&format!("/suppression-rules/{north_id}"));
        let denied = fleet
            .api
            .send(Method::DELETE, &path, Some(&reader), None)
            .await;
        assert_eq!(denied.status, 403, "{denied:?}");
        let deleted = fleet
            .api
            .send(Method::DELETE, &path, Some(&fleet.owner), None)
            .await;
        assert_eq!(deleted.status, 204, "{deleted:?}");
        let again = fleet
            .api
            .send(Method::DELETE, &path, Some(&fleet.owner), None)
            .await;
        assert_eq!(again.status, 404, "{again:?}");
        assert_eq!(listed(fleet.owner.clone()).await, [south.as_str()]);
    }
);

on_both_stores!(
    a_rule_over_a_device_group_suppresses_at_its_sites_only,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let (north, _south, at_north, at_south) = fleet.north_and_south().await;
        let group = fleet
            .post(
                "/device-groups",
                json!({"name": "Northern plants", "sites": {"sites": [north]}}),
            )
            .await;
        assert_eq!(group.status, 201, "{group:?}");
        let scope = json!({"kind": "device_group", "device_group_id": group.body["id"]});
        let made = fleet
            .post("/suppression-rules", rule(scope, &in_seconds(3600)))
            .await;
        assert_eq!(made.status, 201, "{made:?}");
        fleet.raise(&at_north, vec![scan("10.1.0.1")]).await;
        fleet.raise(&at_south, vec![scan("10.2.0.1")]).await;
        let sites: Vec<Value> = fleet
            .all("/alerts", 50)
            .await
            .iter()
            .map(|a| a["site_id"].clone())
            .collect();
        assert_eq!(sites, [json!(at_south.site)]);
        let id = made.body["rule"]["id"].as_str().unwrap();
        assert_eq!(
            fleet.get(&format!("/suppression-rules/{id}")).await.body["hits"],
            1
        );
    }
);
