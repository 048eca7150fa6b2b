//! Sites and zones over HTTP, against the real `vigil` binary on both stores; and the
//! race-free creation of the Enterprise network site, against the embedded store.
//!
//! Role tests give roles to other users with `POST /subscriptions/{sub}/role-assignments`
//! (the RBAC area).

use std::sync::Arc;

use functions::records::SubscriptionRecord;
use functions::store::Query;
use reqwest::Method;
use serde_json::{Value, json};
use shared::api::AuditActor;
use shared::authz::{BuiltInRole, Permission, PrincipalRef, RoleAssignment, Scope};
use shared::model::{
    AssignmentId, ENTERPRISE_NETWORK_SITE_ID, ENTERPRISE_NETWORK_SITE_NAME, Email, SiteId,
    SubscriptionId,
};
use vigil_tests::embedded::{Competitor, InProcess};
use vigil_tests::fleet::{Fleet, detection, observation};
use vigil_tests::on_both_stores;
use vigil_tests::vigil::{Answer, Backend, Vigil, expect};

fn names(items: &[Value], field: &str) -> Vec<String> {
    items
        .iter()
        .map(|item| item[field].as_str().unwrap().to_owned())
        .collect()
}

on_both_stores!(
    a_created_site_is_returned_listed_and_readable_with_an_etag,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        // WHEN the owner creates a site with tags and owners
        let created = fleet
            .post(
                "/sites",
                json!({"display_name": " Plant North ", "tags": {"region": "north"},
                       "owners": ["Ops@Example.com", "ops@example.com", "bo@example.com"]}),
            )
            .await;
        // THEN it is 201 with its id and fields, normalised
        assert_eq!(created.status, 201, "{created:?}");
        let id = created.body["id"].as_str().unwrap().to_owned();
        assert_eq!(created.body["display_name"], "Plant North");
        assert_eq!(created.body["tags"], json!({"region": "north"}));
        assert_eq!(
            created.body["owners"],
            json!(["bo@example.com", "ops@example.com"])
        );
        assert!(created.etag.is_some());
        // AND it is listed
        let list = fleet.get("/sites").await;
        assert_eq!(list.status, 200);
        assert_eq!(list.body["items"], json!([created.body]));
        assert_eq!(list.body["next_cursor"], Value::Null);
        // AND readable alone with a strong quoted ETag, the one of the creation
        let read = fleet.get(&format!("/sites/{id}")).await;
        assert_eq!(read.status, 200);
        assert_eq!(read.body, created.body);
        let etag = read.etag.expect("an ETag");
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        assert_eq!(Some(etag), created.etag);
        // AND tags and owners may be left out
        let bare = fleet.post("/sites", json!({"display_name": "Bare"})).await;
        assert_eq!(bare.status, 201, "{bare:?}");
        assert_eq!(bare.body["tags"], json!({}));
        assert_eq!(bare.body["owners"], json!([]));
    }
);

on_both_stores!(
    sites_list_in_pages_in_a_stable_order,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        for n in 0..5 {
            fleet.site(&format!("Site {n}")).await;
        }
        // WHEN listing two at a time, twice
        let first = fleet.all("/sites", 2).await;
        let second = fleet.all("/sites", 2).await;
        // THEN every site is seen exactly once, in the same order (creation order)
        assert_eq!(
            names(&first, "display_name"),
            ["Site 0", "Site 1", "Site 2", "Site 3", "Site 4"]
        );
        assert_eq!(first, second);
    }
);

on_both_stores!(
    site_names_are_unique_in_a_subscription_ignoring_case,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        fleet.site("Plant North").await;
        // WHEN another site takes the same name in other case
        let duplicate = fleet
            .post("/sites", json!({"display_name": "PLANT north"}))
            .await;
        // THEN it is a conflict and nothing is created
        expect(&duplicate, 409, "conflict");
        assert_eq!(fleet.all("/sites", 50).await.len(), 1);
        // AND another subscription may use the name
        let other = Fleet::owned_by(&vigil, "bo@example.com").await;
        other.site("Plant North").await;
    }
);

on_both_stores!(
    the_enterprise_network_name_is_reserved_for_the_enterprise_iot_site,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        // WHEN a person creates a site with the reserved name, in any case
        let created = fleet
            .post("/sites", json!({"display_name": "enterprise NETWORK"}))
            .await;
        // THEN it is a conflict
        expect(&created, 409, "conflict");
        // AND no site may be renamed to it either
        let site = fleet.site("Plant").await;
        let renamed = fleet
            .patch(
                &format!("/sites/{site}"),
                json!({"display_name": ENTERPRISE_NETWORK_SITE_NAME}),
            )
            .await;
        expect(&renamed, 409, "conflict");
        assert_eq!(
            names(&fleet.all("/sites", 50).await, "display_name"),
            ["Plant"]
        );
    }
);

on_both_stores!(
    patching_a_site_replaces_the_given_fields_and_changes_its_etag,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        let created = fleet
            .post(
                "/sites",
                json!({"display_name": "Plant", "tags": {"a": "1", "b": "2"}, "owners": ["x@example.com"]}),
            )
            .await;
        let id = created.body["id"].as_str().unwrap();
        // WHEN the name and the tags are patched, with the current ETag
        let patched = fleet
            .api
            .send_if_match(
                Method::PATCH,
                &fleet.path(&format!("/sites/{id}")),
                Some(&fleet.owner),
                Some(json!({"display_name": "Plant South", "tags": {"c": "3"}})),
                created.etag.as_deref().unwrap(),
            )
            .await;
        // THEN they are replaced whole, the owners are kept, and the ETag changes
        assert_eq!(patched.status, 200, "{patched:?}");
        assert_eq!(patched.body["display_name"], "Plant South");
        assert_eq!(patched.body["tags"], json!({"c": "3"}));
        assert_eq!(patched.body["owners"], json!(["x@example.com"]));
        assert_ne!(patched.etag, created.etag);
        let read = fleet.get(&format!("/sites/{id}")).await;
        assert_eq!(read.body, patched.body);
        assert_eq!(read.etag, patched.etag);
        // AND the old name is free again, the new one taken
        fleet.site("Plant").await;
        let taken = fleet
            .post("/sites", json!({"display_name": "plant south"}))
            .await;
        expect(&taken, 409, "conflict");
        // AND renaming onto another site's name is a conflict that changes nothing
        let onto = fleet
            .patch(&format!("/sites/{id}"), json!({"display_name": "PLANT"}))
            .await;
        expect(&onto, 409, "conflict");
        assert_eq!(fleet.get(&format!("/sites/{id}")).await.body, patched.body);
        // AND a case-only rename of itself is allowed
        let recased = fleet
            .patch(
                &format!("/sites/{id}"),
                json!({"display_name": "PLANT SOUTH"}),
            )
            .await;
        assert_eq!(recased.status, 200, "{recased:?}");
    }
);

on_both_stores!(
    a_stale_if_match_is_refused_and_changes_nothing,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        let created = fleet.post("/sites", json!({"display_name": "Plant"})).await;
        let id = created.body["id"].as_str().unwrap().to_owned();
        let stale = created.etag.clone().unwrap();
        let path = fleet.path(&format!("/sites/{id}"));
        let changed = fleet
            .patch(&format!("/sites/{id}"), json!({"tags": {"k": "v"}}))
            .await;
        assert_eq!(changed.status, 200);
        // WHEN a PATCH and a DELETE carry the ETag read before that change
        for (method, body) in [
            (Method::PATCH, Some(json!({"display_name": "Other"}))),
            (Method::DELETE, None),
        ] {
            let answer = fleet
                .api
                .send_if_match(method, &path, Some(&fleet.owner), body, &stale)
                .await;
            // THEN each is 412
            expect(&answer, 412, "precondition_failed");
        }
        // AND an ETag we never issue never matches
        let garbage = fleet
            .api
            .send_if_match(Method::DELETE, &path, Some(&fleet.owner), None, "W/\"x\"")
            .await;
        expect(&garbage, 412, "precondition_failed");
        // AND nothing changed
        let read = fleet.get(&format!("/sites/{id}")).await;
        assert_eq!(read.body, changed.body);
        // AND the current ETag deletes it
        let deleted = fleet
            .api
            .send_if_match(
                Method::DELETE,
                &path,
                Some(&fleet.owner),
                None,
                read.etag.as_deref().unwrap(),
            )
            .await;
        assert_eq!(deleted.status, 204, "{deleted:?}");
    }
);

on_both_stores!(
    deleting_a_site_removes_it_with_its_zones_and_frees_its_name,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        let site = fleet.site("Plant").await;
        let kept = fleet.site("Kept").await;
        fleet.zone(&site, "Line 1").await;
        fleet.zone(&site, "Line 2").await;
        fleet.zone(&kept, "Line 1").await;
        // WHEN the site is deleted
        let deleted = fleet.delete(&format!("/sites/{site}")).await;
        // THEN it is 204 and the site and its zones are gone
        assert_eq!(deleted.status, 204, "{deleted:?}");
        expect(
            &fleet.get(&format!("/sites/{site}")).await,
            404,
            "not_found",
        );
        expect(
            &fleet.get(&format!("/sites/{site}/zones")).await,
            404,
            "not_found",
        );
        expect(
            &fleet.delete(&format!("/sites/{site}")).await,
            404,
            "not_found",
        );
        // AND the other site and its zone are untouched
        assert_eq!(
            names(&fleet.all("/sites", 50).await, "display_name"),
            ["Kept"]
        );
        assert_eq!(
            fleet.all(&format!("/sites/{kept}/zones"), 50).await.len(),
            1
        );
        // AND the name can be used again, with no zones left over
        let again = fleet.site("plant").await;
        assert!(
            fleet
                .all(&format!("/sites/{again}/zones"), 50)
                .await
                .is_empty()
        );
    }
);

/// The site-scope assignments at `site` in `assignments`.
fn at_site<'a>(assignments: &'a [Value], site: &str) -> Vec<&'a Value> {
    assignments
        .iter()
        .filter(|a| a["site_id"] == site)
        .collect()
}

on_both_stores!(
    deleting_a_site_removes_the_role_assignments_at_it_and_audits_them,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        let site = fleet.site("Plant").await;
        let kept = fleet.site("Kept").await;
        // GIVEN Bob holds a role at the site only, Carol there and at subscription
        // scope, and Dave at another site
        let bob = fleet
            .member("bob@example.com", "security_reader", Some(&site))
            .await;
        let carol = fleet
            .member("carol@example.com", "security_admin", Some(&site))
            .await;
        fleet
            .member("carol@example.com", "security_reader", None)
            .await;
        let dave = fleet
            .member("dave@example.com", "security_reader", Some(&kept))
            .await;
        let before = fleet.assignments().await;
        let removed: Vec<Value> = at_site(&before, &site).into_iter().cloned().collect();
        assert_eq!(removed.len(), 2, "{before:?}");
        // WHEN the owner deletes the site
        let deleted = fleet.delete(&format!("/sites/{site}")).await;
        assert_eq!(deleted.status, 204, "{deleted:?}");
        // THEN no assignment at it is listed, and every other one still is
        let after = fleet.assignments().await;
        assert!(at_site(&after, &site).is_empty(), "{after:?}");
        let others: Vec<&Value> = before
            .iter()
            .filter(|a| a["site_id"] != site.as_str())
            .collect();
        assert_eq!(after.iter().collect::<Vec<_>>(), others);
        assert!(
            fleet
                .get(&format!("/role-assignments?site_id={site}"))
                .await
                .body["items"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        // AND Bob, whose only assignment it was, no longer belongs to the subscription
        let api = &fleet.api;
        expect(
            &api.get(&fleet.path("/alerts"), Some(&bob)).await,
            404,
            "not_found",
        );
        assert_eq!(
            api.get("/subscriptions", Some(&bob)).await.body["items"],
            json!([])
        );
        assert_eq!(
            api.get("/me", Some(&bob)).await.body["subscriptions"],
            json!([])
        );
        // AND Carol keeps her subscription-scope role only, Dave his site role
        let me = api.get("/me", Some(&carol)).await;
        let mine = me.body["subscriptions"][0]["assignments"]
            .as_array()
            .unwrap();
        assert_eq!(mine.len(), 1, "{me:?}");
        assert_eq!(mine[0]["role"], "security_reader");
        assert_eq!(mine[0]["site_id"], Value::Null);
        let alerts = api.get(&fleet.path("/alerts"), Some(&dave)).await;
        assert_eq!(alerts.status, 200, "{alerts:?}");
        // AND the audit log shows the deletion with the assignments it removed
        let audit = fleet.audit().await;
        let entry = &audit[0];
        assert_eq!(entry["action"], "site.delete");
        assert_eq!(entry["target"], site.as_str());
        assert_eq!(entry["site_id"], site.as_str());
        assert_eq!(entry["actor"]["email"], "ada@example.com");
        assert_eq!(entry["before"]["id"], site.as_str());
        assert_eq!(entry["before"]["display_name"], "Plant");
        assert_eq!(entry["before"]["role_assignments"], json!(removed));
        assert_eq!(entry["after"], Value::Null);
    }
);

on_both_stores!(
    a_site_holding_a_device_cannot_be_deleted_and_nothing_changes,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        let site = fleet.site("Plant").await;
        fleet.zone(&site, "Line 1").await;
        fleet
            .member("bob@example.com", "security_reader", Some(&site))
            .await;
        // GIVEN a device seen at the site by a sensor since deleted
        let sensor = fleet.sensor("Sensor", &site, None).await;
        fleet
            .observe(&sensor, vec![observation("10.0.0.7", "00:1b:44:11:3a:b7")])
            .await;
        let gone = fleet.delete(&format!("/sensors/{}", sensor.id)).await;
        assert_eq!(gone.status, 204, "{gone:?}");
        let read = fleet.get(&format!("/sites/{site}")).await;
        let assignments = fleet.assignments().await;
        let audit = fleet.audit().await;
        // WHEN the owner deletes the site, with and without If-Match
        let refused = fleet.delete(&format!("/sites/{site}")).await;
        let refused_if_match = fleet
            .api
            .send_if_match(
                Method::DELETE,
                &fleet.path(&format!("/sites/{site}")),
                Some(&fleet.owner),
                None,
                read.etag.as_deref().unwrap(),
            )
            .await;
        // THEN both are 409 naming the devices
        for answer in [&refused, &refused_if_match] {
            expect(answer, 409, "conflict");
            assert!(answer.error_message().contains("device"), "{answer:?}");
        }
        // AND nothing changed: the site, its zone, its assignment, the audit log
        let again = fleet.get(&format!("/sites/{site}")).await;
        assert_eq!((again.body, again.etag), (read.body, read.etag));
        assert_eq!(
            fleet.all(&format!("/sites/{site}/zones"), 50).await.len(),
            1
        );
        assert_eq!(fleet.assignments().await, assignments);
        assert_eq!(fleet.audit().await, audit);
        // AND once the device is deleted, the site can be
        let devices = fleet.all("/devices", 50).await;
        let device = devices[0]["id"].as_str().unwrap();
        let removed = fleet.delete(&format!("/devices/{device}")).await;
        assert_eq!(removed.status, 204, "{removed:?}");
        let deleted = fleet.delete(&format!("/sites/{site}")).await;
        assert_eq!(deleted.status, 204, "{deleted:?}");
    }
);

on_both_stores!(
    a_deleted_sites_alerts_stay_for_subscription_readers_only,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        let site = fleet.site("Plant").await;
        let reader = fleet
            .member("reader@example.com", "security_reader", None)
            .await;
        let local = fleet
            .member("local@example.com", "security_reader", Some(&site))
            .await;
        // GIVEN an alert raised at the site by a sensor since deleted
        let sensor = fleet.sensor("Sensor", &site, None).await;
        fleet
            .raise(
                &sensor,
                vec![detection("Unauthorized write", "10.0.0.1", true)],
            )
            .await;
        let alerts = fleet.all("/alerts", 50).await;
        let alert = alerts[0]["id"].as_str().unwrap().to_owned();
        assert_eq!(
            fleet
                .delete(&format!("/sensors/{}", sensor.id))
                .await
                .status,
            204
        );
        // WHEN the site is deleted
        assert_eq!(fleet.delete(&format!("/sites/{site}")).await.status, 204);
        // THEN a subscription-scope reader still lists and reads the alert, at its site
        let listed = fleet.list_all(&reader, "/alerts", 50).await;
        assert_eq!(listed, alerts);
        let read = fleet
            .api
            .get(&fleet.path(&format!("/alerts/{alert}")), Some(&reader))
            .await;
        assert_eq!(read.status, 200, "{read:?}");
        assert_eq!(read.body["site_id"], site.as_str());
        // AND the owner may still change it
        let closed = fleet
            .patch(&format!("/alerts/{alert}"), json!({"status": "closed"}))
            .await;
        assert_eq!(closed.status, 200, "{closed:?}");
        // AND the reader who held a role at that site only is out of the subscription
        expect(
            &fleet
                .api
                .get(&fleet.path(&format!("/alerts/{alert}")), Some(&local))
                .await,
            404,
            "not_found",
        );
    }
);

on_both_stores!(
    an_assignment_made_at_a_site_while_it_is_deleted_never_outlives_it,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        let site = fleet.site("Plant").await;
        // WHEN ten assignments at the site race with its deletion
        let assigning: Vec<_> = (0..10)
            .map(|n| {
                let (api, token) = (fleet.api.clone(), fleet.owner.clone());
                let (path, site) = (fleet.path("/role-assignments"), site.clone());
                tokio::spawn(async move {
                    let body = json!({"principal": format!("user{n}@example.com"),
                                      "role": "security_reader", "site_id": site});
                    api.post(&path, Some(&token), body).await
                })
            })
            .collect();
        let deleted = fleet.delete(&format!("/sites/{site}")).await;
        // THEN the site is deleted, each assignment was made (201) or refused as
        // naming no site (400)
        assert_eq!(deleted.status, 204, "{deleted:?}");
        for assigning in assigning {
            let answer = assigning.await.unwrap();
            if answer.status != 201 {
                expect(&answer, 400, "invalid");
            }
        }
        // AND none is left at the deleted site
        let after = fleet.assignments().await;
        assert!(at_site(&after, &site).is_empty(), "{after:?}");
        assert_eq!(after.len(), 1, "only the owner's: {after:?}");
    }
);

vigil_tests::for_each_store!(
    an_assignment_committed_between_a_site_deletions_read_and_write_goes_with_the_site,
    |backend: Backend| async move {
        let vigil = InProcess::start_on(backend).await;
        let fleet = Fleet::on(vigil.api(), "ada@example.com").await;
        let site = fleet.site("Plant").await;
        let subscription = SubscriptionId::parse(fleet.sub.as_str()).unwrap();
        let site_id = SiteId::parse(site.as_str()).unwrap();
        // GIVEN the policy as it will be once another request assigned Bob a role at the site
        let policy_key = functions::keys::subscription(&subscription);
        let stored = vigil.table.item(&policy_key).await.unwrap();
        let mut policy: SubscriptionRecord = functions::records::decode(&stored).unwrap();
        policy.assignments.push(RoleAssignment {
            id: AssignmentId::parse("late-assignment").unwrap(),
            principal: PrincipalRef::parse("bob@example.com").unwrap(),
            role: BuiltInRole::SecurityReader.into(),
            scope: Scope::Site(site_id.clone()),
        });
        let late = functions::access::policy_writes(&policy, Some(stored.version)).unwrap();
        // WHEN that request commits after the deletion read the policy, before it writes
        vigil.table.arm(
            functions::keys::site(&subscription, &site_id),
            Competitor::Commit(late.into()),
        );
        let deleted = fleet.delete(&format!("/sites/{site}")).await;
        // THEN the deletion still succeeds, and takes the late assignment with it
        assert!(!vigil.table.is_armed());
        assert_eq!(deleted.status, 204, "{deleted:?}");
        let after = fleet.assignments().await;
        assert!(at_site(&after, &site).is_empty(), "{after:?}");
        let audit = fleet.audit().await;
        assert_eq!(audit[0]["action"], "site.delete");
        assert_eq!(
            audit[0]["before"]["role_assignments"][0]["id"],
            "late-assignment"
        );
    }
);

on_both_stores!(
    zones_are_created_listed_and_unique_by_name_within_a_site,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        let site = fleet.site("Plant").await;
        let other = fleet.site("Other").await;
        // WHEN zones are created
        let created = fleet
            .post(&format!("/sites/{site}/zones"), json!({"name": "Line 1"}))
            .await;
        // THEN each is 201 with its id, site and name
        assert_eq!(created.status, 201, "{created:?}");
        assert_eq!(created.body["site_id"], site.as_str());
        assert_eq!(created.body["name"], "Line 1");
        assert!(created.body["id"].is_string());
        for n in 2..=5 {
            fleet.zone(&site, &format!("Line {n}")).await;
        }
        // AND they list in pages, each once, in creation order
        let zones = fleet.all(&format!("/sites/{site}/zones"), 2).await;
        assert_eq!(
            names(&zones, "name"),
            ["Line 1", "Line 2", "Line 3", "Line 4", "Line 5"]
        );
        assert_eq!(zones[0], created.body);
        // AND a repeated name in the site is a conflict, in any case
        let duplicate = fleet
            .post(&format!("/sites/{site}/zones"), json!({"name": "LINE 1"}))
            .await;
        expect(&duplicate, 409, "conflict");
        assert_eq!(
            fleet.all(&format!("/sites/{site}/zones"), 50).await.len(),
            5
        );
        // AND another site may use it
        fleet.zone(&other, "Line 1").await;
        assert_eq!(
            fleet.all(&format!("/sites/{other}/zones"), 50).await.len(),
            1
        );
    }
);

on_both_stores!(
    concurrent_zones_of_one_name_create_exactly_one,
    |vigil: Vigil| async move {
        let fleet = Arc::new(Fleet::owned_by(&vigil, "ada@example.com").await);
        let site = fleet.site("Plant").await;
        // WHEN 10 requests create the same zone name at once
        let racers: Vec<_> = (0..10)
            .map(|_| {
                let fleet = fleet.clone();
                let site = site.clone();
                tokio::spawn(async move {
                    fleet
                        .post(&format!("/sites/{site}/zones"), json!({"name": "Line 1"}))
                        .await
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for racer in racers {
            statuses.push(racer.await.unwrap().status);
        }
        // THEN exactly one is created, the others conflict
        statuses.sort();
        assert_eq!(statuses[0], 201, "{statuses:?}");
        assert!(statuses[1..].iter().all(|s| *s == 409), "{statuses:?}");
        assert_eq!(
            fleet.all(&format!("/sites/{site}/zones"), 50).await.len(),
            1
        );
    }
);

on_both_stores!(
    bad_input_on_every_site_endpoint_is_invalid_and_changes_nothing,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        let site = fleet.site("Plant").await;
        let before_site = fleet.get(&format!("/sites/{site}")).await;
        let sites = fleet.path("/sites");
        let one = fleet.path(&format!("/sites/{site}"));
        let zones = fleet.path(&format!("/sites/{site}/zones"));
        let too_many_owners: Vec<String> = (0..21).map(|n| format!("o{n}@example.com")).collect();
        let bad_bodies = [
            (Method::POST, &sites, json!({})),
            (Method::POST, &sites, json!({"display_name": ""})),
            (Method::POST, &sites, json!({"display_name": 7})),
            (
                Method::POST,
                &sites,
                json!({"display_name": "x".repeat(101)}),
            ),
            (
                Method::POST,
                &sites,
                json!({"display_name": "A", "colour": "red"}),
            ),
            (
                Method::POST,
                &sites,
                json!({"display_name": "A", "tags": ["k"]}),
            ),
            (
                Method::POST,
                &sites,
                json!({"display_name": "A", "tags": {"bad key": "v"}}),
            ),
            (
                Method::POST,
                &sites,
                json!({"display_name": "A", "owners": ["not-an-email"]}),
            ),
            (
                Method::POST,
                &sites,
                json!({"display_name": "A", "owners": too_many_owners}),
            ),
            (Method::PATCH, &one, json!({"display_name": "  "})),
            (Method::PATCH, &one, json!({"tags": {"k": 1}})),
            (Method::PATCH, &one, json!({"id": "other"})),
            (Method::PATCH, &one, json!("tags")),
            (Method::POST, &zones, json!({})),
            (Method::POST, &zones, json!({"name": "line\n2"})),
            (Method::POST, &zones, json!({"name": "Z", "site_id": "x"})),
        ];
        for (method, path, body) in bad_bodies {
            let answer = fleet
                .api
                .send(method.clone(), path, Some(&fleet.owner), Some(body.clone()))
                .await;
            expect(&answer, 400, "invalid");
            assert_ne!(answer.error_message(), "", "{method} {body}");
        }
        for (method, path) in [
            (Method::POST, &sites),
            (Method::PATCH, &one),
            (Method::POST, &zones),
        ] {
            let malformed = fleet
                .api
                .send_raw_bytes(
                    method,
                    path,
                    Some(&fleet.owner),
                    b"{\"display_name\": ".to_vec(),
                )
                .await;
            expect(&malformed, 400, "invalid");
        }
        for query in ["?limit=0", "?limit=501", "?limit=x", "?cursor=AAAA"] {
            expect(&fleet.get(&format!("/sites{query}")).await, 400, "invalid");
            expect(
                &fleet.get(&format!("/sites/{site}/zones{query}")).await,
                400,
                "invalid",
            );
        }
        // AND bad or unknown site ids are no such site
        for bad in ["no-such-site", "bad%20id", &"x".repeat(65)] {
            expect(&fleet.get(&format!("/sites/{bad}")).await, 404, "not_found");
            expect(
                &fleet.patch(&format!("/sites/{bad}"), json!({})).await,
                404,
                "not_found",
            );
            expect(
                &fleet.delete(&format!("/sites/{bad}")).await,
                404,
                "not_found",
            );
            expect(
                &fleet.get(&format!("/sites/{bad}/zones")).await,
                404,
                "not_found",
            );
            expect(
                &fleet
                    .post(&format!("/sites/{bad}/zones"), json!({"name": "Z"}))
                    .await,
                404,
                "not_found",
            );
        }
        // THEN nothing changed
        let after_sites = fleet.all("/sites", 50).await;
        assert_eq!(after_sites, std::slice::from_ref(&before_site.body));
        let after_site = fleet.get(&format!("/sites/{site}")).await;
        assert_eq!(after_site.etag, before_site.etag);
        assert!(
            fleet
                .all(&format!("/sites/{site}/zones"), 50)
                .await
                .is_empty()
        );
    }
);

on_both_stores!(
    sites_of_another_subscription_are_not_found,
    |vigil: Vigil| async move {
        let ada = Fleet::owned_by(&vigil, "ada@example.com").await;
        let site = ada.site("Plant").await;
        let bo = Fleet::owned_by(&vigil, "bo@example.com").await;
        // WHEN Bo uses Ada's subscription, or Ada's site id in his own subscription
        let foreign = |rest: &str| format!("/subscriptions/{}{rest}", ada.sub);
        let mine = |rest: &str| bo.path(rest);
        let token = Some(bo.owner.as_str());
        let api = &bo.api;
        let answers = [
            api.get(&foreign("/sites"), token).await,
            api.post(&foreign("/sites"), token, json!({"display_name": "X"}))
                .await,
            api.get(&foreign(&format!("/sites/{site}")), token).await,
            api.patch(&foreign(&format!("/sites/{site}")), token, json!({}))
                .await,
            api.delete(&foreign(&format!("/sites/{site}")), token).await,
            api.get(&foreign(&format!("/sites/{site}/zones")), token)
                .await,
            api.post(
                &foreign(&format!("/sites/{site}/zones")),
                token,
                json!({"name": "Z"}),
            )
            .await,
            api.get(&mine(&format!("/sites/{site}")), token).await,
            api.delete(&mine(&format!("/sites/{site}")), token).await,
            api.post(
                &mine(&format!("/sites/{site}/zones")),
                token,
                json!({"name": "Z"}),
            )
            .await,
            api.get("/subscriptions/no-such-sub/sites", token).await,
        ];
        // THEN every answer is 404
        for answer in &answers {
            expect(answer, 404, "not_found");
        }
        // AND Ada's site is untouched
        assert_eq!(ada.all("/sites", 50).await.len(), 1);
        assert!(
            ada.all(&format!("/sites/{site}/zones"), 50)
                .await
                .is_empty()
        );
        // AND without a token every endpoint is 401
        expect(
            &api.get(&foreign("/sites"), None).await,
            401,
            "unauthenticated",
        );
        expect(
            &api.post(&foreign("/sites"), None, json!({"display_name": "X"}))
                .await,
            401,
            "unauthenticated",
        );
    }
);

on_both_stores!(
    each_built_in_role_at_subscription_scope_is_allowed_exactly_as_the_seed_table,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        let site = fleet.site("Plant").await;
        for role in BuiltInRole::ALL {
            // GIVEN a user holding only this role at subscription scope
            let email = format!("{}@example.com", role.id());
            let token = fleet.member(&email, role.id(), None).await;
            let token = Some(token.as_str());
            let api = &fleet.api;
            let view = role.grants(Permission::ViewSitesAndSensors);
            let modify = role.grants(Permission::ModifySitesAndSensors);
            let allowed = |answer: &Answer, granted: bool, ok: u16| {
                let expected = if granted { ok } else { 403 };
                assert_eq!(answer.status, expected, "{} : {answer:?}", role.id());
                if !granted {
                    assert_eq!(answer.error_code(), "forbidden");
                }
            };
            // WHEN they use every endpoint THEN the seed table decides
            allowed(&api.get(&fleet.path("/sites"), token).await, view, 200);
            allowed(
                &api.get(&fleet.path(&format!("/sites/{site}")), token).await,
                view,
                200,
            );
            allowed(
                &api.get(&fleet.path(&format!("/sites/{site}/zones")), token)
                    .await,
                view,
                200,
            );
            let name = format!("{} site", role.id());
            let created = api
                .post(&fleet.path("/sites"), token, json!({"display_name": name}))
                .await;
            allowed(&created, modify, 201);
            allowed(
                &api.patch(
                    &fleet.path(&format!("/sites/{site}")),
                    token,
                    json!({"tags": {"by": role.id()}}),
                )
                .await,
                modify,
                200,
            );
            allowed(
                &api.post(
                    &fleet.path(&format!("/sites/{site}/zones")),
                    token,
                    json!({"name": role.id()}),
                )
                .await,
                modify,
                201,
            );
            // A caller without the permission learns 403, never whether the body is valid.
            if !modify {
                allowed(
                    &api.post(&fleet.path("/sites"), token, json!({"bad": 1}))
                        .await,
                    false,
                    400,
                );
            }
            let doomed = fleet.site(&format!("{} doomed", role.id())).await;
            allowed(
                &api.delete(&fleet.path(&format!("/sites/{doomed}")), token)
                    .await,
                modify,
                204,
            );
        }
    }
);

on_both_stores!(
    site_scope_assignments_are_forbidden_on_sites_and_zones,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        let site = fleet.site("Plant").await;
        for role in BuiltInRole::ALL {
            // GIVEN a user holding this role at the site only
            let email = format!("site-{}@example.com", role.id());
            let token = fleet.member(&email, role.id(), Some(&site)).await;
            let token = Some(token.as_str());
            let api = &fleet.api;
            // WHEN they use the site endpoints THEN every answer is 403
            let answers = [
                api.get(&fleet.path("/sites"), token).await,
                api.post(&fleet.path("/sites"), token, json!({"display_name": "X"}))
                    .await,
                api.get(&fleet.path(&format!("/sites/{site}")), token).await,
                api.patch(&fleet.path(&format!("/sites/{site}")), token, json!({}))
                    .await,
                api.delete(&fleet.path(&format!("/sites/{site}")), token)
                    .await,
                api.get(&fleet.path(&format!("/sites/{site}/zones")), token)
                    .await,
                api.post(
                    &fleet.path(&format!("/sites/{site}/zones")),
                    token,
                    json!({"name": "Z"}),
                )
                .await,
            ];
            for answer in &answers {
                expect(answer, 403, "forbidden");
            }
        }
        // AND the site is untouched
        assert_eq!(fleet.all("/sites", 50).await.len(), 1);
        assert!(
            fleet
                .all(&format!("/sites/{site}/zones"), 50)
                .await
                .is_empty()
        );
    }
);

// ----- The Enterprise network site, through the library (the sensors area calls it) -----

vigil_tests::for_each_store!(
    concurrent_first_enterprise_iot_onboardings_create_one_enterprise_network_site,
    |backend: Backend| async move {
        let (table, _home) = vigil_tests::embedded::table_on(backend).await;
        let subscription = SubscriptionId::parse("sub-1").unwrap();
        let actor = AuditActor::User {
            email: Email::parse("ada@example.com").unwrap(),
        };
        // WHEN ten requests ensure the site at once
        let racers: Vec<_> = (0..10)
            .map(|_| {
                let (table, subscription, actor) =
                    (table.clone(), subscription.clone(), actor.clone());
                tokio::spawn(async move {
                    functions::sites::ensure_enterprise_network_site(
                        table.as_ref(),
                        &subscription,
                        actor,
                    )
                    .await
                    .expect("the site")
                })
            })
            .collect();
        let mut sites = Vec::new();
        for racer in racers {
            sites.push(racer.await.unwrap());
        }
        // THEN all get the same site, with the fixed id and the reserved name
        assert!(sites.iter().all(|site| *site == sites[0]));
        assert_eq!(
            sites[0].id,
            SiteId::parse(ENTERPRISE_NETWORK_SITE_ID).unwrap()
        );
        assert_eq!(sites[0].display_name.as_str(), ENTERPRISE_NETWORK_SITE_NAME);
        // AND exactly one site exists, created with exactly one audit entry
        let stored = table
            .query(&functions::keys::sites_query(&subscription, 100))
            .await
            .unwrap();
        assert_eq!(stored.items.len(), 1);
        let audit = table
            .query(&Query::partition(functions::keys::audit_partition(
                &subscription,
            )))
            .await
            .unwrap();
        assert_eq!(audit.items.len(), 1);
        let entry: Value = serde_json::from_slice(&audit.items[0].body).unwrap();
        assert_eq!(entry["action"], "site.create");
        assert_eq!(entry["target"], ENTERPRISE_NETWORK_SITE_ID);
        // AND a later call returns it without writing again
        let again =
            functions::sites::ensure_enterprise_network_site(table.as_ref(), &subscription, actor)
                .await
                .unwrap();
        assert_eq!(again, sites[0]);
        let audit = table
            .query(&Query::partition(functions::keys::audit_partition(
                &subscription,
            )))
            .await
            .unwrap();
        assert_eq!(audit.items.len(), 1);
    }
);

vigil_tests::for_each_store!(
    sensor_count_writes_need_the_site_and_guard_the_count,
    |backend: Backend| async move {
        use functions::sites::{SensorCountChange, sensor_count_writes};
        let (table, _home) = vigil_tests::embedded::table_on(backend).await;
        let subscription = SubscriptionId::parse("sub-1").unwrap();
        let missing = SiteId::parse("no-such-site").unwrap();
        // GIVEN no such site: adding a sensor there is 404
        let refused = sensor_count_writes(
            table.as_ref(),
            &subscription,
            &missing,
            SensorCountChange::Added,
        )
        .await;
        assert!(
            matches!(refused, Err(functions::http::error::ApiError::NotFound(_))),
            "{refused:?}"
        );
        // GIVEN the Enterprise network site
        let actor = AuditActor::User {
            email: Email::parse("ada@example.com").unwrap(),
        };
        let site =
            functions::sites::ensure_enterprise_network_site(table.as_ref(), &subscription, actor)
                .await
                .unwrap();
        // WHEN two requests read the count and write at once
        let first = sensor_count_writes(
            table.as_ref(),
            &subscription,
            &site.id,
            SensorCountChange::Added,
        )
        .await
        .unwrap();
        let second = sensor_count_writes(
            table.as_ref(),
            &subscription,
            &site.id,
            SensorCountChange::Added,
        )
        .await
        .unwrap();
        // THEN the first commits and the second, built on the same read, fails
        table.transact(first).await.expect("the first commits");
        assert!(table.transact(second).await.is_err());
        let usage = table
            .get(&functions::keys::site_usage(&subscription, &site.id))
            .await
            .unwrap()
            .expect("the usage item");
        let usage: Value = serde_json::from_slice(&usage.body).unwrap();
        assert_eq!(usage["sensors"], 1);
    }
);
