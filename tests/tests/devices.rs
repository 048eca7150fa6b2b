//! The device inventory end to end against the real `vigil` binary, on both stores:
//! ingest and merge, reads, edits and deletes with `If-Match`, the CSV export, lists
//! across sites and pages, and who may do what.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};
use shared::api::DEVICE_EXPORT_COLUMNS;
use shared::authz::{BuiltInRole, Permission};
use vigil_tests::fleet::{Fleet, observation};
use vigil_tests::on_both_stores;
use vigil_tests::vigil::{Vigil, expect};

async fn list(fleet: &Fleet, token: &str, query: &str) -> Vec<Value> {
    fleet.list_all(token, &format!("/devices{query}"), 50).await
}

fn device_path(fleet: &Fleet, id: &str) -> String {
    fleet.path(&format!("/devices/{id}"))
}

fn find<'a>(devices: &'a [Value], ip: &str) -> &'a Value {
    devices
        .iter()
        .find(|d| d["ip"] == ip)
        .unwrap_or_else(|| panic!("no device with ip {ip} in {devices:?}"))
}

/// The export's rows (header first), parsed.
async fn export(
    fleet: &Fleet,
    token: &str,
    query: &str,
) -> (u16, Option<String>, Vec<Vec<String>>) {
    let raw = fleet
        .api
        .send_full(
            Method::GET,
            &fleet.path(&format!("/devices/export.csv{query}")),
            Some(token),
            None,
        )
        .await;
    let content_type = raw.header("content-type").map(str::to_owned);
    let rows = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(raw.text.as_bytes())
        .records()
        .map(|row| row.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (raw.status, content_type, rows)
}

on_both_stores!(
    observations_merge_into_one_device_per_zone_ip_and_mac,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let site = fleet.site("Plant").await;
        let line_1 = fleet.zone(&site, "Line 1").await;
        let line_2 = fleet.zone(&site, "Line 2").await;
        let first = fleet.sensor("s1", &site, Some(&line_1)).await;
        let second = fleet.sensor("s2", &site, Some(&line_1)).await;
        let elsewhere = fleet.sensor("s3", &site, Some(&line_2)).await;
        // GIVEN a device seen with a name by one sensor
        let mut named = observation("10.0.0.7", "00:1b:44:11:3a:b7");
        named["name"] = "plc-7".into();
        named["type"] = "PLC".into();
        fleet.observe(&first, vec![named]).await;
        // WHEN another sensor of the zone sees it later with a vendor (MAC written otherwise)
        let mut vendor = observation("10.0.0.7", "00-1B-44-11-3A-B7");
        vendor["vendor"] = "Siemens".into();
        vendor["last_activity"] = "2024-03-01T11:30:00Z".into();
        fleet.observe(&second, vec![vendor]).await;
        // THEN it is one device with both, last seen by the second sensor
        let devices = list(&fleet, &fleet.owner, "").await;
        assert_eq!(devices.len(), 1, "{devices:?}");
        let device = &devices[0];
        assert_eq!(device["name"], "plc-7");
        assert_eq!(device["type"], "PLC");
        assert_eq!(device["vendor"], "Siemens");
        assert_eq!(device["mac"], "00:1b:44:11:3a:b7");
        assert_eq!(device["site_id"], site.as_str());
        assert_eq!(device["zone_id"], line_1.as_str());
        assert_eq!(device["sensor_id"], second.id.as_str());
        assert_eq!(device["authorized"], false);
        assert_eq!(device["first_seen"], "2024-03-01T11:00:00Z");
        assert_eq!(device["last_activity"], "2024-03-01T11:30:00Z");
        // WHEN the same addresses are seen in another zone, and another device in a batch twice
        fleet
            .observe(
                &elsewhere,
                vec![
                    observation("10.0.0.7", "00:1b:44:11:3a:b7"),
                    observation("10.0.0.8", "00:1b:44:11:3a:b8"),
                    observation("10.0.0.8", "00:1b:44:11:3a:b8"),
                ],
            )
            .await;
        // THEN those are two more devices
        let devices = list(&fleet, &fleet.owner, "").await;
        assert_eq!(devices.len(), 3, "{devices:?}");
        let zones: BTreeSet<&str> = devices
            .iter()
            .filter(|d| d["ip"] == "10.0.0.7")
            .map(|d| d["zone_id"].as_str().unwrap())
            .collect();
        assert_eq!(zones, BTreeSet::from([line_1.as_str(), line_2.as_str()]));
        // AND each is readable by id with an ETag
        let id = device["id"].as_str().unwrap();
        let got = fleet
            .api
            .get(&device_path(&fleet, id), Some(&fleet.owner))
            .await;
        assert_eq!(got.status, 200, "{got:?}");
        assert_eq!(got.body["vendor"], "Siemens");
        assert!(got.etag.is_some());
    }
);

on_both_stores!(
    a_device_is_edited_and_deleted_with_if_match,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let site = fleet.site("Plant").await;
        let sensor = fleet.sensor("s1", &site, None).await;
        fleet
            .observe(&sensor, vec![observation("10.0.0.7", "00:1b:44:11:3a:b7")])
            .await;
        let id = list(&fleet, &fleet.owner, "").await[0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let path = device_path(&fleet, &id);
        let read = fleet.api.get(&path, Some(&fleet.owner)).await;
        let etag = read.etag.clone().unwrap();
        // WHEN it is edited with the ETag read
        let edited = fleet
            .api
            .send_if_match(
                Method::PATCH,
                &path,
                Some(&fleet.owner),
                Some(json!({"name": "Line PLC", "type": "PLC", "authorized": true})),
                &etag,
            )
            .await;
        assert_eq!(edited.status, 200, "{edited:?}");
        assert_eq!(edited.body["name"], "Line PLC");
        assert_eq!(edited.body["authorized"], true);
        let new_etag = edited.etag.clone().unwrap();
        assert_ne!(new_etag, etag);
        // THEN the old ETag is stale for an edit and a delete: 412, nothing changes
        let stale = fleet
            .api
            .send_if_match(
                Method::PATCH,
                &path,
                Some(&fleet.owner),
                Some(json!({"name": "Other"})),
                &etag,
            )
            .await;
        expect(&stale, 412, "precondition_failed");
        let stale = fleet
            .api
            .send_if_match(Method::DELETE, &path, Some(&fleet.owner), None, &etag)
            .await;
        expect(&stale, 412, "precondition_failed");
        assert_eq!(
            fleet.api.get(&path, Some(&fleet.owner)).await.body["name"],
            "Line PLC"
        );
        // AND a sensor seeing it again keeps what people set
        let mut renamed = observation("10.0.0.7", "00:1b:44:11:3a:b7");
        renamed["name"] = "sensor-name".into();
        fleet.observe(&sensor, vec![renamed]).await;
        let after = fleet.api.get(&path, Some(&fleet.owner)).await;
        assert_eq!(after.body["authorized"], true);
        // AND bad edits are 400 and change nothing
        for bad in [
            json!({"authorized": "yes"}),
            json!({"name": "x".repeat(101)}),
            json!({"ip": "10.0.0.8"}),
            json!({"name": 7}),
            json!("x"),
        ] {
            let refused = fleet.api.patch(&path, Some(&fleet.owner), bad).await;
            expect(&refused, 400, "invalid");
        }
        let malformed = fleet
            .api
            .send_raw_bytes(Method::PATCH, &path, Some(&fleet.owner), b"{".to_vec())
            .await;
        expect(&malformed, 400, "invalid");
        assert_eq!(
            fleet.api.get(&path, Some(&fleet.owner)).await.body,
            after.body
        );
        // WHEN it is deleted with the current ETag
        let current = fleet.api.get(&path, Some(&fleet.owner)).await.etag.unwrap();
        let deleted = fleet
            .api
            .send_if_match(Method::DELETE, &path, Some(&fleet.owner), None, &current)
            .await;
        assert_eq!(deleted.status, 204, "{deleted:?}");
        // THEN it is gone, and seen again it is a new, unauthorized device
        expect(
            &fleet.api.get(&path, Some(&fleet.owner)).await,
            404,
            "not_found",
        );
        expect(
            &fleet.api.delete(&path, Some(&fleet.owner)).await,
            404,
            "not_found",
        );
        fleet
            .observe(&sensor, vec![observation("10.0.0.7", "00:1b:44:11:3a:b7")])
            .await;
        let devices = list(&fleet, &fleet.owner, "").await;
        assert_eq!(devices.len(), 1);
        assert_ne!(devices[0]["id"], id.as_str());
        assert_eq!(devices[0]["authorized"], false);
        // AND the edit and the delete are audited
        let audit = fleet
            .api
            .get(&fleet.path("/audit-log"), Some(&fleet.owner))
            .await;
        let actions: Vec<&str> = audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|entry| entry["target"] == id.as_str())
            .map(|entry| entry["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["device.delete", "device.update"]);
    }
);

on_both_stores!(
    lists_and_the_export_show_only_permitted_sites_each_device_once,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let (north, south, at_north, at_south) = fleet.north_and_south().await;
        fleet
            .observe(
                &at_north,
                (0..5)
                    .map(|n| observation(&format!("10.1.0.{n}"), &format!("00:00:00:00:01:0{n}")))
                    .collect(),
            )
            .await;
        fleet
            .observe(
                &at_south,
                (0..4)
                    .map(|n| observation(&format!("10.2.0.{n}"), &format!("00:00:00:00:02:0{n}")))
                    .collect(),
            )
            .await;
        // the owner pages through every device once
        let ips = |items: &[Value]| -> Vec<String> {
            items
                .iter()
                .map(|d| d["ip"].as_str().unwrap().to_owned())
                .collect()
        };
        for limit in [1, 2, 4, 500] {
            let all = fleet.list_all(&fleet.owner, "/devices", limit).await;
            let unique: BTreeSet<String> = ips(&all).into_iter().collect();
            assert_eq!((all.len(), unique.len()), (9, 9), "limit {limit}");
        }
        let south_only = list(&fleet, &fleet.owner, &format!("?site_id={south}")).await;
        assert!(south_only.iter().all(|d| d["site_id"] == south.as_str()));
        assert_eq!(south_only.len(), 4);
        // a reader at North sees North's devices only, on every page and in the export
        let reader = fleet
            .member("reader@example.com", "security_reader", Some(&north))
            .await;
        let seen = fleet.list_all(&reader, "/devices", 2).await;
        assert_eq!(seen.len(), 5);
        assert!(seen.iter().all(|d| d["site_id"] == north.as_str()));
        // and their counts hold no trace of South; naming it is 403
        let counted = fleet
            .api
            .get(&fleet.path("/devices/counts"), Some(&reader))
            .await;
        assert_eq!(counted.body["total"], 5, "{counted:?}");
        assert_eq!(counted.body["by_site"], json!([{"key": north, "count": 5}]));
        let refused = fleet
            .api
            .get(
                &fleet.path(&format!("/devices/counts?site_id={south}")),
                Some(&reader),
            )
            .await;
        assert_eq!(refused.status, 403, "{refused:?}");
        let south_device = south_only[0]["id"].as_str().unwrap();
        expect(
            &fleet
                .api
                .get(&device_path(&fleet, south_device), Some(&reader))
                .await,
            404,
            "not_found",
        );
        expect(
            &fleet
                .api
                .get(
                    &fleet.path(&format!("/devices?site_id={south}")),
                    Some(&reader),
                )
                .await,
            403,
            "forbidden",
        );
        // THEN the export: a header, then one row per visible device
        let (status, content_type, rows) = export(&fleet, &reader, "").await;
        assert_eq!(status, 200);
        assert!(content_type.unwrap().starts_with("text/csv"));
        assert_eq!(rows[0], DEVICE_EXPORT_COLUMNS);
        assert_eq!(rows.len(), 1 + 5);
        let site_column = DEVICE_EXPORT_COLUMNS
            .iter()
            .position(|c| *c == "site")
            .unwrap();
        assert!(rows[1..].iter().all(|row| row[site_column] == north));
        let (_, _, rows) = export(&fleet, &fleet.owner, "").await;
        assert_eq!(rows.len(), 1 + 9);
        let ids: BTreeSet<&str> = rows[1..].iter().map(|row| row[0].as_str()).collect();
        assert_eq!(ids.len(), 9);
        let (status, _, _) = export(&fleet, &reader, &format!("?site_id={south}")).await;
        assert_eq!(status, 403);
        // AND bad query parameters are 400
        for query in [
            "?limit=0",
            "?limit=501",
            "?cursor=garbage",
            "?site_id=no%20way",
        ] {
            let refused = fleet
                .api
                .get(&fleet.path(&format!("/devices{query}")), Some(&fleet.owner))
                .await;
            expect(&refused, 400, "invalid");
        }
    }
);

on_both_stores!(
    device_permissions_follow_the_seed_table_and_the_site_scope,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let (north, _, at_north, at_south) = fleet.north_and_south().await;
        fleet
            .observe(
                &at_north,
                vec![observation("10.1.0.1", "00:00:00:00:01:01")],
            )
            .await;
        fleet
            .observe(
                &at_south,
                vec![observation("10.2.0.1", "00:00:00:00:02:01")],
            )
            .await;
        let all = list(&fleet, &fleet.owner, "").await;
        let north_device = find(&all, "10.1.0.1")["id"].as_str().unwrap().to_owned();
        let south_device = find(&all, "10.2.0.1")["id"].as_str().unwrap().to_owned();
        // each built-in role at subscription scope
        for role in BuiltInRole::ALL {
            let token = fleet
                .member(&format!("role-{}@example.com", role.id()), role.id(), None)
                .await;
            let view = role.grants(Permission::ViewDevices);
            let manage = role.grants(Permission::ManageDevices);
            let allowed = |yes: bool, ok: u16| if yes { ok } else { 403 };
            let listed = fleet.api.get(&fleet.path("/devices"), Some(&token)).await;
            assert_eq!(listed.status, allowed(view, 200), "{role:?}");
            let (exported, _, _) = export(&fleet, &token, "").await;
            assert_eq!(exported, allowed(view, 200), "{role:?}");
            let path = device_path(&fleet, &north_device);
            let read = fleet.api.get(&path, Some(&token)).await;
            assert_eq!(read.status, if view { 200 } else { 404 }, "{role:?}");
            let edited = fleet
                .api
                .patch(&path, Some(&token), json!({"name": role.id()}))
                .await;
            assert_eq!(edited.status, allowed(manage, 200), "{role:?} {edited:?}");
        }
        // a Security Admin at North manages North's devices only
        let admin = fleet
            .member("admin@example.com", "security_admin", Some(&north))
            .await;
        let edited = fleet
            .api
            .patch(
                &device_path(&fleet, &north_device),
                Some(&admin),
                json!({"authorized": true}),
            )
            .await;
        assert_eq!(edited.status, 200, "{edited:?}");
        for refused in [
            fleet
                .api
                .patch(
                    &device_path(&fleet, &south_device),
                    Some(&admin),
                    json!({"authorized": true}),
                )
                .await,
            fleet
                .api
                .delete(&device_path(&fleet, &south_device), Some(&admin))
                .await,
        ] {
            expect(&refused, 404, "not_found");
        }
        // a Security Reader at North may not edit (403 even with a bad body) nor delete
        let reader = fleet
            .member("reader@example.com", "security_reader", Some(&north))
            .await;
        let path = device_path(&fleet, &north_device);
        for body in [json!({"name": "x"}), json!({"name": 1})] {
            expect(
                &fleet.api.patch(&path, Some(&reader), body).await,
                403,
                "forbidden",
            );
        }
        expect(
            &fleet.api.delete(&path, Some(&reader)).await,
            403,
            "forbidden",
        );
        let deleted = fleet.api.delete(&path, Some(&admin)).await;
        assert_eq!(deleted.status, 204);
        // other subscriptions and strangers: 404
        let stranger = fleet.api.dev_login("stranger@example.com").await;
        for (token, sub) in [(&fleet.owner, "nope"), (&stranger, fleet.sub.as_str())] {
            for path in [
                format!("/subscriptions/{sub}/devices"),
                format!("/subscriptions/{sub}/devices/export.csv"),
                format!("/subscriptions/{sub}/devices/{south_device}"),
            ] {
                expect(&fleet.api.get(&path, Some(token)).await, 404, "not_found");
            }
        }
        expect(
            &fleet
                .api
                .get(&device_path(&fleet, "no%20such"), Some(&fleet.owner))
                .await,
            404,
            "not_found",
        );
    }
);

on_both_stores!(
    bad_device_ingest_is_refused_and_changes_nothing,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let site = fleet.site("Plant").await;
        let sensor = fleet.sensor("s1", &site, None).await;
        let good = observation("10.0.0.7", "00:1b:44:11:3a:b7");
        let with = |field: &str, value: Value| {
            let mut device = good.clone();
            device[field] = value;
            json!({"devices": [good.clone(), device]})
        };
        for (body, field) in [
            (with("ip", "10.0.0.256".into()), "devices[1].ip"),
            (with("mac", "00:1b:44:11:3a".into()), "devices[1].mac"),
            (with("mac", "zz:1b:44:11:3a:b7".into()), "devices[1].mac"),
            (
                with("last_activity", "yesterday".into()),
                "devices[1].last_activity",
            ),
            (with("name", "x".repeat(101).into()), "devices[1].name"),
            (with("serial", "123".into()), "devices[1]"),
            (json!({"devices": {}}), "devices"),
            (json!({}), ""),
        ] {
            let refused = fleet
                .api
                .post("/ingest/devices", Some(&sensor.token), body)
                .await;
            expect(&refused, 400, "invalid");
            assert!(
                refused.error_message().contains(field),
                "{field}: {refused:?}"
            );
        }
        let malformed = fleet
            .api
            .post_raw(
                "/ingest/devices",
                Some(&sensor.token),
                b"{\"devices\": [".to_vec(),
            )
            .await;
        expect(&malformed, 400, "invalid");
        // a user token, none, or a made-up one: 401
        for token in [Some(fleet.owner.as_str()), None, Some("vst_nope")] {
            let refused = fleet
                .api
                .post("/ingest/devices", token, json!({"devices": [good.clone()]}))
                .await;
            expect(&refused, 401, "unauthenticated");
        }
        // THEN the inventory is still empty
        assert!(list(&fleet, &fleet.owner, "").await.is_empty());
    }
);

on_both_stores!(
    ingested_devices_count_in_the_committed_devices_estimate,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let site = fleet.site("Plant").await;
        let sensor = fleet.sensor("s1", &site, None).await;
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let seen = |ip: &str, mac: &str| {
            let mut device = observation(ip, mac);
            device["last_activity"] = now.clone().into();
            device
        };
        // GIVEN three active private devices, one public, one multicast, one long inactive
        fleet
            .observe(
                &sensor,
                vec![
                    seen("10.0.0.1", "00:00:00:00:00:01"),
                    seen("10.0.0.2", "00:00:00:00:00:02"),
                    seen("192.168.1.3", "00:00:00:00:00:03"),
                    seen("8.8.8.8", "00:00:00:00:00:04"),
                    seen("224.0.0.5", "00:00:00:00:00:05"),
                    observation("10.0.0.6", "00:00:00:00:00:06"),
                ],
            )
            .await;
        // WHEN the estimate is asked for
        let estimate = fleet
            .api
            .get(&fleet.path("/plans/committed-devices"), Some(&fleet.owner))
            .await;
        // THEN it counts the inventory by the seed's rules
        assert_eq!(estimate.status, 200, "{estimate:?}");
        assert_eq!(estimate.body["counted_devices"], 3, "{estimate:?}");
        assert_eq!(estimate.body["committed_devices"], 100);
        assert_eq!(estimate.body["excluded"]["public_internet"], 1);
        assert_eq!(estimate.body["excluded"]["multicast"], 1);
        assert_eq!(estimate.body["excluded"]["inactive"], 1);
    }
);

on_both_stores!(
    devices_filter_by_zone_type_vendor_authorization_inactivity_and_text_in_list_and_export,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let site = fleet.site("Plant").await;
        let line = fleet.zone(&site, "Line 1").await;
        let in_line = fleet.sensor("line-sensor", &site, Some(&line)).await;
        let elsewhere = fleet.sensor("yard-sensor", &site, None).await;
        let old = "2020-01-01T00:00:00Z";
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        // GIVEN eight devices of two types and vendors, in a zone or not, some long inactive
        for n in 0..8_u8 {
            let mut device = observation(&format!("10.9.0.{n}"), &format!("02:00:00:00:00:0{n}"));
            device["name"] = format!("dev-{n}").into();
            device["type"] = if n % 2 == 0 { "PLC" } else { "HMI workstation" }.into();
            device["vendor"] = if n < 4 { "Siemens" } else { "Rockwell" }.into();
            device["last_activity"] = if n % 3 == 0 {
                old.to_owned()
            } else {
                now.clone()
            }
            .into();
            let sensor = if n < 5 { &in_line } else { &elsewhere };
            fleet.observe(sensor, vec![device]).await;
        }
        // AND two of them authorized by hand
        let all = list(&fleet, &fleet.owner, "").await;
        for ip in ["10.9.0.1", "10.9.0.6"] {
            let id = find(&all, ip)["id"].as_str().unwrap();
            let done = fleet
                .api
                .patch(
                    &device_path(&fleet, id),
                    Some(&fleet.owner),
                    json!({"authorized": true}),
                )
                .await;
            assert_eq!(done.status, 200, "{done:?}");
        }
        let name_set = |devices: &[Value]| -> BTreeSet<String> {
            devices
                .iter()
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .collect()
        };
        let named =
            |ns: &[u8]| -> BTreeSet<String> { ns.iter().map(|n| format!("dev-{n}")).collect() };
        // WHEN filtered: exactly the matching devices, through pages of any size, and the
        // export holds the same ones
        for (query, expected) in [
            (format!("?zone_id={line}"), named(&[0, 1, 2, 3, 4])),
            ("?type=plc".to_owned(), named(&[0, 2, 4, 6])),
            ("?vendor=ROCK".to_owned(), named(&[4, 5, 6, 7])),
            ("?authorized=true".to_owned(), named(&[1, 6])),
            (
                "?authorized=false&vendor=siemens".to_owned(),
                named(&[0, 2, 3]),
            ),
            ("?inactive=true".to_owned(), named(&[0, 3, 6])),
            ("?inactive=false&type=hmi".to_owned(), named(&[1, 5, 7])),
            ("?q=10.9.0.7".to_owned(), named(&[7])),
            ("?q=02:00:00:00:00:05".to_owned(), named(&[5])),
            ("?q=DEV-2".to_owned(), named(&[2])),
            (format!("?site_id={site}&q=nothing"), named(&[])),
        ] {
            for limit in [1, 3, 50] {
                let found = fleet
                    .list_all(&fleet.owner, &format!("/devices{query}"), limit)
                    .await;
                assert_eq!(name_set(&found), expected, "{query} limit {limit}");
                assert_eq!(found.len(), expected.len(), "{query}: a device twice");
            }
            let (status, _, rows) = export(&fleet, &fleet.owner, &query).await;
            assert_eq!(status, 200, "{query}");
            let exported: BTreeSet<String> = rows[1..].iter().map(|row| row[1].clone()).collect();
            assert_eq!(exported, expected, "export {query}");
            // AND the counts of the same filters are those of what is listed, per group
            let found = fleet.all(&format!("/devices{query}"), 50).await;
            let counted = fleet.get(&format!("/devices/counts{query}")).await;
            assert_eq!(counted.status, 200, "{query}: {counted:?}");
            assert_eq!(counted.body["total"], expected.len(), "{query}");
            for (split, key) in [
                ("by_site", "site_id"),
                ("by_zone", "zone_id"),
                ("by_type", "type"),
                ("by_vendor", "vendor"),
                ("by_authorized", "authorized"),
            ] {
                let mut want: std::collections::BTreeMap<String, u64> = Default::default();
                for device in &found {
                    let value = match &device[key] {
                        Value::String(text) => text.clone(),
                        Value::Bool(flag) => flag.to_string(),
                        _ => String::new(),
                    };
                    *want.entry(value).or_default() += 1;
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
                assert_eq!(got, want, "{query} {split}");
            }
        }
        // AND bad filters are 400 naming the field
        for (query, field) in [
            ("?authorized=maybe", "authorized"),
            ("?inactive=1x", "inactive"),
            ("?zone_id=no%20way", "zone_id"),
            ("?type=%20", "type"),
            ("?q=%20", "q"),
        ] {
            for path in ["/devices", "/devices/counts"] {
                let bad = fleet
                    .api
                    .get(&fleet.path(&format!("{path}{query}")), Some(&fleet.owner))
                    .await;
                expect(&bad, 400, "invalid");
                assert!(
                    bad.error_message().contains(field),
                    "{path}{query}: {}",
                    bad.error_message()
                );
            }
        }
    }
);

on_both_stores!(
    merged_devices_become_the_survivor_and_their_addresses_keep_landing_on_it,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let north = fleet.site("North").await;
        let south = fleet.site("South").await;
        let at_north = fleet.sensor("n1", &north, None).await;
        let at_south = fleet.sensor("s1", &south, None).await;
        // GIVEN three devices at North (one machine seen under three addresses) and one at South
        let seen = |ip: &str, mac: &str, at: &str| {
            let mut device = observation(ip, mac);
            device["last_activity"] = at.into();
            device
        };
        fleet
            .observe(
                &at_north,
                vec![
                    seen("10.0.0.1", "02:00:00:00:00:01", "2026-01-01T00:00:00Z"),
                    seen("10.0.0.2", "02:00:00:00:00:02", "2026-02-01T00:00:00Z"),
                    seen("10.0.0.3", "02:00:00:00:00:03", "2026-03-01T00:00:00Z"),
                ],
            )
            .await;
        fleet
            .observe(
                &at_south,
                vec![seen(
                    "10.1.0.1",
                    "02:00:00:00:01:01",
                    "2026-01-01T00:00:00Z",
                )],
            )
            .await;
        let all = list(&fleet, &fleet.owner, "").await;
        let id = |ip: &str| find(&all, ip)["id"].as_str().unwrap().to_owned();
        let (first, second, third, elsewhere) = (
            id("10.0.0.1"),
            id("10.0.0.2"),
            id("10.0.0.3"),
            id("10.1.0.1"),
        );
        let merge = |token: String, body: Value| {
            let fleet = &fleet;
            async move {
                fleet
                    .api
                    .post(&fleet.path("/devices/merge"), Some(&token), body)
                    .await
            }
        };
        let reader = fleet
            .member("reader@example.com", "security_reader", None)
            .await;
        let audit_before = fleet.audit().await.len();
        // WHEN the request is wrong, THEN it is refused naming the field, and nothing changes
        for (body, field) in [
            (
                json!({"device_ids": [first, elsewhere], "survivor_id": first}),
                "device_ids",
            ),
            (
                json!({"device_ids": [first, second], "survivor_id": third}),
                "survivor_id",
            ),
            (
                json!({"device_ids": [first, first], "survivor_id": first}),
                "device_ids",
            ),
            (
                json!({"device_ids": [first, second], "survivor_id": first, "colour": "red"}),
                "colour",
            ),
            (
                json!({"device_ids": [first, second], "survivor_id": first, "name": ""}),
                "name",
            ),
        ] {
            let refused = merge(fleet.owner.clone(), body.clone()).await;
            expect(&refused, 400, "invalid");
            assert!(
                refused.error_message().contains(field),
                "{body}: {}",
                refused.error_message()
            );
        }
        let denied = merge(
            reader,
            json!({"device_ids": [first, second], "survivor_id": first}),
        )
        .await;
        assert_eq!(denied.status, 403, "{denied:?}");
        assert_eq!(list(&fleet, &fleet.owner, "").await.len(), 4);
        assert_eq!(fleet.audit().await.len(), audit_before);
        // WHEN the owner merges the three into the second, naming it and authorizing it
        let merged = merge(
            fleet.owner.clone(),
            json!({"device_ids": [first, second, third], "survivor_id": second,
                   "name": "Press PLC", "authorized": true}),
        )
        .await;
        assert_eq!(merged.status, 200, "{merged:?}");
        // THEN one device remains at North, with the chosen fields and the widest activity
        let north_now = list(&fleet, &fleet.owner, &format!("?site_id={north}")).await;
        assert_eq!(north_now.len(), 1, "{north_now:?}");
        let survivor = &north_now[0];
        assert_eq!(survivor["id"], second.as_str());
        assert_eq!(survivor["name"], "Press PLC");
        assert_eq!(survivor["authorized"], true);
        assert_eq!(survivor["last_activity"], "2026-03-01T00:00:00Z");
        for gone in [&first, &third] {
            let read = fleet
                .api
                .get(&device_path(&fleet, gone), Some(&fleet.owner))
                .await;
            assert_eq!(read.status, 404, "{gone}");
        }
        assert_eq!(
            list(&fleet, &fleet.owner, &format!("?site_id={south}"))
                .await
                .len(),
            1
        );
        // AND one audit entry holds every device before and the survivor after
        let audit = fleet.audit().await;
        assert_eq!(audit.len(), audit_before + 1);
        assert_eq!(audit[0]["action"], "device.merge");
        assert_eq!(audit[0]["before"].as_array().map(Vec::len), Some(3));
        assert_eq!(audit[0]["after"]["name"], "Press PLC");
        // WHEN a merged address is seen again
        fleet
            .observe(
                &at_north,
                vec![seen(
                    "10.0.0.1",
                    "02:00:00:00:00:01",
                    "2026-04-01T00:00:00Z",
                )],
            )
            .await;
        // THEN it lands on the survivor: no new device
        let north_after = list(&fleet, &fleet.owner, &format!("?site_id={north}")).await;
        assert_eq!(north_after.len(), 1, "{north_after:?}");
        assert_eq!(north_after[0]["id"], second.as_str());
        assert_eq!(north_after[0]["last_activity"], "2026-04-01T00:00:00Z");
        assert_eq!(north_after[0]["name"], "Press PLC");
    }
);

on_both_stores!(
    names_that_spreadsheets_would_run_are_exported_as_text,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let sensor = fleet.site_with_a_sensor().await;
        // GIVEN a sensor reports a device whose name and vendor are formulas
        let mut device = observation("10.0.0.9", "00:1b:44:11:3a:c9");
        device["name"] = "=cmd|' /C calc'!A0".into();
        device["vendor"] = "@SUM(1+1)".into();
        device["type"] = "-2+3".into();
        fleet.observe(&sensor, vec![device]).await;
        // WHEN the inventory is exported
        let (status, _, rows) = export(&fleet, &fleet.owner, "").await;
        assert_eq!(status, 200);
        // THEN each such cell starts with a quote, which spreadsheets show as text
        let column = |name: &str| {
            DEVICE_EXPORT_COLUMNS
                .iter()
                .position(|c| *c == name)
                .unwrap()
        };
        let row = &rows[1];
        assert_eq!(row[column("name")], "'=cmd|' /C calc'!A0");
        assert_eq!(row[column("vendor")], "'@SUM(1+1)");
        assert_eq!(row[column("type")], "'-2+3");
        // AND the API still answers the name as it was reported
        let listed = list(&fleet, &fleet.owner, "").await;
        assert_eq!(listed[0]["name"], "=cmd|' /C calc'!A0");
    }
);

vigil_tests::for_each_store!(
    retention_removes_devices_inactive_past_ninety_days_and_audits_it_as_vigil,
    |backend: vigil_tests::vigil::Backend| async move {
        let vigil = vigil_tests::embedded::InProcess::start_on(backend).await;
        let world = Fleet::on(vigil.api(), "owner@example.com").await;
        let sensor = world.site_with_a_sensor().await;
        let now = time::OffsetDateTime::now_utc();
        let ago = |days: i64| {
            (now - time::Duration::days(days))
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        };
        let observed = |ip: &str, mac: &str, days: i64| {
            let mut device = observation(ip, mac);
            device["last_activity"] = ago(days).into();
            device
        };
        // GIVEN a device active today, one quiet for 60 days, one for 100 days
        world
            .observe(
                &sensor,
                vec![
                    observed("10.9.0.1", "02:00:00:00:09:01", 0),
                    observed("10.9.0.2", "02:00:00:00:09:02", 60),
                    observed("10.9.0.3", "02:00:00:00:09:03", 100),
                ],
            )
            .await;
        let before = world.all("/devices", 10).await;
        assert_eq!(before.len(), 3);
        let inactive = world.all("/devices?inactive=true", 10).await;
        assert_eq!(inactive.len(), 2, "{inactive:#?}");
        // WHEN retention sweeps
        let table: std::sync::Arc<dyn functions::store::Table> = vigil.table.clone();
        functions::retention::sweep(table.as_ref(), now)
            .await
            .unwrap();
        // THEN only the device past the retention period is gone, audited as Vigil's
        let after = world.all("/devices", 10).await;
        let ips: Vec<&str> = after.iter().map(|d| d["ip"].as_str().unwrap()).collect();
        assert_eq!(ips.len(), 2, "{after:#?}");
        assert!(!ips.contains(&"10.9.0.3"), "{ips:?}");
        let audit = world.audit().await;
        assert_eq!(audit[0]["action"], "device.delete");
        assert_eq!(audit[0]["actor"], json!({"kind": "system"}));
        assert_eq!(audit[0]["before"]["ip"], "10.9.0.3");
        // AND its next observation makes it anew
        world
            .observe(&sensor, vec![observed("10.9.0.3", "02:00:00:00:09:03", 0)])
            .await;
        assert_eq!(world.all("/devices", 10).await.len(), 3);
    }
);
