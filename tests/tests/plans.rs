//! Plans and the committed-device estimate over HTTP, against the real `vigil` binary on
//! both stores; and, through the library with a controlled clock and inventory, trial
//! expiry and over-commitment.
//!
//! Role tests give roles to other users with `POST /subscriptions/{sub}/role-assignments`
//! (the RBAC area).

use std::sync::Arc;

use functions::store::{Condition, Table};
use reqwest::Method;
use serde_json::{Value, json};
use shared::api::{CreatePlan, Device, Site};
use shared::authz::{BuiltInRole, Permission};
use shared::model::{
    Commitment, CommittedDevices, ENTERPRISE_NETWORK_SITE_ID, Email, PlanKind, PlanStatus, SiteId,
    SubscriptionId,
};
use time::{Duration, OffsetDateTime};
use vigil_tests::fleet::Fleet;
use vigil_tests::on_both_stores;
use vigil_tests::vigil::{Answer, Backend, Vigil, expect};

/// Every plan of the subscription.
async fn plans(fleet: &Fleet) -> Vec<Value> {
    let list = fleet.get("/plans").await;
    assert_eq!(list.status, 200, "{list:?}");
    list.body["items"].as_array().unwrap().clone()
}

fn time(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(
        value.as_str().expect("a time"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339")
}

on_both_stores!(
    an_ot_trial_is_1000_devices_for_30_days,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        // WHEN the owner starts an OT trial without a device count
        let created = fleet
            .post("/plans", json!({"kind": "ot", "commitment": "trial"}))
            .await;
        // THEN it is a live plan of 1000 devices ending 30 days after its creation
        assert_eq!(created.status, 201, "{created:?}");
        let plan = &created.body;
        assert_eq!(plan["kind"], "ot");
        assert_eq!(plan["commitment"], "trial");
        assert_eq!(plan["committed_devices"], 1000);
        assert_eq!(plan["status"], "live");
        assert_eq!(plan["cancelled_at"], Value::Null);
        assert_eq!(
            time(&plan["expires_at"]) - time(&plan["created_at"]),
            Duration::days(30)
        );
        // AND with an empty inventory nothing is detected, so it is not over-committed
        assert_eq!(plan["detected_devices"], 0);
        assert_eq!(plan["over_committed"], false);
        // AND it is listed, and readable alone with the ETag of its creation
        assert_eq!(plans(&fleet).await, std::slice::from_ref(plan));
        let id = plan["id"].as_str().unwrap();
        let read = fleet.get(&format!("/plans/{id}")).await;
        assert_eq!(read.status, 200);
        assert_eq!(&read.body, plan);
        assert!(read.etag.is_some());
        assert_eq!(read.etag, created.etag);
        // AND a trial may also say 1000 devices explicitly (for the other kind here:
        // the owner may not add Enterprise IoT plans, so it is refused for that reason)
        let explicit = fleet
            .post(
                "/plans",
                json!({"kind": "enterprise_iot", "commitment": "trial", "committed_devices": 1000}),
            )
            .await;
        expect(&explicit, 403, "forbidden");
    }
);

on_both_stores!(
    trial_and_device_count_rules_refuse_bad_plans_and_create_nothing,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        let refused = [
            json!({"kind": "ot", "commitment": "trial", "committed_devices": 500}),
            json!({"kind": "ot", "commitment": "trial", "committed_devices": 2000}),
            json!({"kind": "ot", "commitment": "monthly"}),
            json!({"kind": "ot", "commitment": "annual", "committed_devices": 150}),
            json!({"kind": "ot", "commitment": "annual", "committed_devices": 0}),
            json!({"kind": "ot", "commitment": "monthly", "committed_devices": -100}),
            json!({"kind": "ot", "commitment": "monthly", "committed_devices": "1000"}),
            json!({"kind": "ot", "commitment": "monthly", "committed_devices": 1_000_100}),
            json!({"kind": "ot", "commitment": "weekly", "committed_devices": 100}),
            json!({"kind": "xdr", "commitment": "monthly", "committed_devices": 100}),
            json!({"commitment": "monthly", "committed_devices": 100}),
            json!({"kind": "ot", "committed_devices": 100}),
            json!({"kind": "ot", "commitment": "monthly", "committed_devices": 100, "seats": 1}),
            json!([]),
        ];
        for body in refused {
            let answer = fleet.post("/plans", body.clone()).await;
            expect(&answer, 400, "invalid");
            assert_ne!(answer.error_message(), "", "{body}");
        }
        let trial = fleet
            .post(
                "/plans",
                json!({"kind": "ot", "commitment": "trial", "committed_devices": 500}),
            )
            .await;
        assert!(
            trial.error_message().contains("committed_devices"),
            "names the field: {trial:?}"
        );
        let malformed = fleet
            .api
            .post_raw(
                &fleet.path("/plans"),
                Some(&fleet.owner),
                b"{\"kind\": ".to_vec(),
            )
            .await;
        expect(&malformed, 400, "invalid");
        // THEN no plan exists
        assert!(plans(&fleet).await.is_empty());
        // AND a paid plan of a multiple of 100 is accepted
        let monthly = fleet
            .post(
                "/plans",
                json!({"kind": "ot", "commitment": "monthly", "committed_devices": 1700}),
            )
            .await;
        assert_eq!(monthly.status, 201, "{monthly:?}");
        assert_eq!(monthly.body["committed_devices"], 1700);
        assert_eq!(monthly.body["expires_at"], Value::Null);
    }
);

on_both_stores!(
    one_live_plan_per_kind_and_cancelling_frees_the_kind,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        let trial = fleet
            .post("/plans", json!({"kind": "ot", "commitment": "trial"}))
            .await;
        let id = trial.body["id"].as_str().unwrap().to_owned();
        // WHEN a second OT plan is added while the trial is live
        let second = fleet
            .post(
                "/plans",
                json!({"kind": "ot", "commitment": "annual", "committed_devices": 100}),
            )
            .await;
        // THEN it is a conflict
        expect(&second, 409, "conflict");
        assert_eq!(plans(&fleet).await.len(), 1);
        // WHEN the trial is cancelled
        let cancelled = fleet.delete(&format!("/plans/{id}")).await;
        assert_eq!(cancelled.status, 204, "{cancelled:?}");
        // THEN it stays listed as cancelled
        let read = fleet.get(&format!("/plans/{id}")).await;
        assert_eq!(read.body["status"], "cancelled");
        assert!(read.body["cancelled_at"].is_string());
        // AND it can be neither cancelled again nor changed
        expect(
            &fleet.delete(&format!("/plans/{id}")).await,
            409,
            "conflict",
        );
        expect(
            &fleet
                .patch(
                    &format!("/plans/{id}"),
                    json!({"commitment": "monthly", "committed_devices": 100}),
                )
                .await,
            409,
            "conflict",
        );
        // AND a new OT plan may be added
        let next = fleet
            .post(
                "/plans",
                json!({"kind": "ot", "commitment": "annual", "committed_devices": 100}),
            )
            .await;
        assert_eq!(next.status, 201, "{next:?}");
        let statuses: Vec<&str> = Vec::from_iter(plans(&fleet).await.iter().map(|plan| {
            match plan["status"].as_str().unwrap() {
                "cancelled" => "cancelled",
                "live" => "live",
                other => panic!("{other}"),
            }
        }));
        assert_eq!(statuses, ["cancelled", "live"]);
    }
);

on_both_stores!(
    ten_concurrent_plans_of_one_kind_create_exactly_one,
    |vigil: Vigil| async move {
        let fleet = Arc::new(Fleet::owned_by(&vigil, "ada@example.com").await);
        // WHEN ten POSTs of an OT plan race
        let racers: Vec<_> = (0..10)
            .map(|n| {
                let fleet = fleet.clone();
                tokio::spawn(async move {
                    fleet
                        .post(
                            "/plans",
                            json!({"kind": "ot", "commitment": "monthly", "committed_devices": 100 * (n + 1)}),
                        )
                        .await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for racer in racers {
            answers.push(racer.await.unwrap());
        }
        // THEN exactly one is 201, the rest 409
        let created: Vec<&Answer> = answers.iter().filter(|a| a.status == 201).collect();
        assert_eq!(created.len(), 1, "{answers:?}");
        assert!(
            answers
                .iter()
                .all(|a| a.status == 201 || a.error_code() == "conflict"),
            "{answers:?}"
        );
        // AND exactly that plan exists
        assert_eq!(plans(&fleet).await, [created[0].body.clone()]);
    }
);

on_both_stores!(
    changing_a_trial_to_monthly_drops_its_end_and_never_goes_back,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        let trial = fleet
            .post("/plans", json!({"kind": "ot", "commitment": "trial"}))
            .await;
        let path = format!("/plans/{}", trial.body["id"].as_str().unwrap());
        // WHEN a trial is given another device count
        let recounted = fleet.patch(&path, json!({"committed_devices": 2000})).await;
        // THEN it is invalid
        expect(&recounted, 400, "invalid");
        // WHEN it becomes monthly with the current ETag
        let monthly = fleet
            .api
            .send_if_match(
                Method::PATCH,
                &fleet.path(&path),
                Some(&fleet.owner),
                Some(json!({"commitment": "monthly", "committed_devices": 1700})),
                trial.etag.as_deref().unwrap(),
            )
            .await;
        // THEN it keeps its id, loses its end date and gets a new ETag
        assert_eq!(monthly.status, 200, "{monthly:?}");
        assert_eq!(monthly.body["id"], trial.body["id"]);
        assert_eq!(monthly.body["commitment"], "monthly");
        assert_eq!(monthly.body["committed_devices"], 1700);
        assert_eq!(monthly.body["expires_at"], Value::Null);
        assert_ne!(monthly.etag, trial.etag);
        // AND it cannot go back to trial
        expect(
            &fleet.patch(&path, json!({"commitment": "trial"})).await,
            409,
            "conflict",
        );
        // AND bad bodies are invalid
        for body in [
            json!({"committed_devices": 150}),
            json!({"commitment": "weekly"}),
            json!({"kind": "enterprise_iot"}),
            json!("monthly"),
        ] {
            expect(&fleet.patch(&path, body).await, 400, "invalid");
        }
        // AND the plan is as the successful PATCH left it
        assert_eq!(fleet.get(&path).await.body, monthly.body);
    }
);

on_both_stores!(
    a_stale_if_match_on_a_plan_is_refused_and_changes_nothing,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        let created = fleet
            .post(
                "/plans",
                json!({"kind": "ot", "commitment": "monthly", "committed_devices": 100}),
            )
            .await;
        let path = format!("/plans/{}", created.body["id"].as_str().unwrap());
        let changed = fleet.patch(&path, json!({"committed_devices": 200})).await;
        assert_eq!(changed.status, 200, "{changed:?}");
        // WHEN a PATCH and a DELETE carry the ETag read before that change
        let stale = created.etag.unwrap();
        for (method, body) in [
            (Method::PATCH, Some(json!({"committed_devices": 300}))),
            (Method::DELETE, None),
        ] {
            let answer = fleet
                .api
                .send_if_match(method, &fleet.path(&path), Some(&fleet.owner), body, &stale)
                .await;
            // THEN each is 412
            expect(&answer, 412, "precondition_failed");
        }
        // AND the plan is unchanged and live
        let read = fleet.get(&path).await;
        assert_eq!(read.body, changed.body);
        assert_eq!(read.etag, changed.etag);
    }
);

on_both_stores!(
    the_estimate_of_an_empty_inventory_is_zero,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        let site = fleet.post("/sites", json!({"display_name": "Plant"})).await;
        assert_eq!(site.status, 201);
        // WHEN the estimate is asked for the whole inventory and for each kind
        for query in ["", "?kind=ot", "?kind=enterprise_iot"] {
            let estimate = fleet.get(&format!("/plans/committed-devices{query}")).await;
            // THEN it is zero, with nothing excluded
            assert_eq!(estimate.status, 200, "{estimate:?}");
            assert_eq!(
                estimate.body,
                json!({"committed_devices": 0, "counted_devices": 0, "excluded": {
                    "multicast": 0, "broadcast": 0, "public_internet": 0,
                    "inactive": 0, "endpoint_managed": 0}})
            );
        }
        // AND a bad filter is invalid
        for query in ["?kind=xdr", "?size=1"] {
            expect(
                &fleet.get(&format!("/plans/committed-devices{query}")).await,
                400,
                "invalid",
            );
        }
    }
);

on_both_stores!(
    bad_plan_ids_and_lists_are_refused,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        for bad in ["no-such-plan", "bad%20id", &"p".repeat(65)] {
            expect(&fleet.get(&format!("/plans/{bad}")).await, 404, "not_found");
            expect(
                &fleet
                    .patch(&format!("/plans/{bad}"), json!({"committed_devices": 100}))
                    .await,
                404,
                "not_found",
            );
            expect(
                &fleet.delete(&format!("/plans/{bad}")).await,
                404,
                "not_found",
            );
        }
        for query in ["?limit=0", "?limit=501", "?cursor=AAAA"] {
            expect(&fleet.get(&format!("/plans{query}")).await, 400, "invalid");
        }
        // AND plans list in pages, each once
        let created = fleet
            .post("/plans", json!({"kind": "ot", "commitment": "trial"}))
            .await;
        let page = fleet.get("/plans?limit=1").await;
        assert_eq!(page.body["items"], json!([created.body]));
        assert_eq!(page.body["next_cursor"], Value::Null);
    }
);

on_both_stores!(
    plans_of_another_subscription_are_not_found,
    |vigil: Vigil| async move {
        let ada = Fleet::owned_by(&vigil, "ada@example.com").await;
        let plan = ada
            .post("/plans", json!({"kind": "ot", "commitment": "trial"}))
            .await;
        let id = plan.body["id"].as_str().unwrap().to_owned();
        let bo = Fleet::owned_by(&vigil, "bo@example.com").await;
        let foreign = |rest: &str| format!("/subscriptions/{}{rest}", ada.sub);
        let token = Some(bo.owner.as_str());
        let api = &bo.api;
        // WHEN Bo uses Ada's subscription, or Ada's plan id in his own
        let answers = [
            api.get(&foreign("/plans"), token).await,
            api.post(
                &foreign("/plans"),
                token,
                json!({"kind": "ot", "commitment": "trial"}),
            )
            .await,
            api.get(&foreign(&format!("/plans/{id}")), token).await,
            api.patch(&foreign(&format!("/plans/{id}")), token, json!({}))
                .await,
            api.delete(&foreign(&format!("/plans/{id}")), token).await,
            api.get(&foreign("/plans/committed-devices"), token).await,
            api.get(&bo.path(&format!("/plans/{id}")), token).await,
            api.delete(&bo.path(&format!("/plans/{id}")), token).await,
        ];
        // THEN every answer is 404 and Ada's plan is untouched
        for answer in &answers {
            expect(answer, 404, "not_found");
        }
        assert_eq!(plans(&ada).await, std::slice::from_ref(&plan.body));
        assert!(plans(&bo).await.is_empty());
        expect(
            &api.get(&foreign("/plans"), None).await,
            401,
            "unauthenticated",
        );
    }
);

on_both_stores!(
    enterprise_iot_plans_are_refused_to_the_owner_before_the_body_is_read,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        // WHEN the owner (who lacks onboard_enterprise_iot_plan) adds an Enterprise IoT
        // plan, with a valid body and with an invalid one
        for body in [
            json!({"kind": "enterprise_iot", "commitment": "trial"}),
            json!({"kind": "enterprise_iot", "commitment": "trial", "committed_devices": 7}),
            json!({"kind": "enterprise_iot", "bogus": true}),
        ] {
            // THEN each is 403: the permission is decided before validation
            expect(&fleet.post("/plans", body).await, 403, "forbidden");
        }
        assert!(plans(&fleet).await.is_empty());
    }
);

on_both_stores!(
    each_built_in_role_at_subscription_scope_is_allowed_exactly_as_the_seed_table,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        for role in BuiltInRole::ALL {
            // GIVEN a user holding only this role at subscription scope
            let email = format!("{}@example.com", role.id());
            let token = fleet.member(&email, role.id(), None).await;
            let token = Some(token.as_str());
            let api = &fleet.api;
            let view = role.grants(Permission::ViewPlans);
            let modify = role.grants(Permission::ModifyPlans);
            let enterprise_iot = modify && role.grants(Permission::OnboardEnterpriseIotPlan);
            let allowed = |answer: &Answer, granted: bool, ok: u16| {
                let expected = if granted { ok } else { 403 };
                assert_eq!(answer.status, expected, "{}: {answer:?}", role.id());
            };
            // WHEN they use every endpoint THEN the seed table decides
            allowed(&api.get(&fleet.path("/plans"), token).await, view, 200);
            allowed(
                &api.get(&fleet.path("/plans/committed-devices"), token)
                    .await,
                view,
                200,
            );
            for (kind, granted) in [("ot", modify), ("enterprise_iot", enterprise_iot)] {
                let created = api
                    .post(
                        &fleet.path("/plans"),
                        token,
                        json!({"kind": kind, "commitment": "trial"}),
                    )
                    .await;
                allowed(&created, granted, 201);
                // The owner's plan of the kind (or the one just made) for PATCH/DELETE.
                let plan = if granted {
                    created.body["id"].as_str().unwrap().to_owned()
                } else if kind == "ot" {
                    let made = fleet
                        .post("/plans", json!({"kind": "ot", "commitment": "trial"}))
                        .await;
                    assert_eq!(made.status, 201, "{made:?}");
                    made.body["id"].as_str().unwrap().to_owned()
                } else {
                    continue; // nobody else may make an Enterprise IoT plan
                };
                allowed(
                    &api.get(&fleet.path(&format!("/plans/{plan}")), token).await,
                    view,
                    200,
                );
                allowed(
                    &api.patch(
                        &fleet.path(&format!("/plans/{plan}")),
                        token,
                        json!({"commitment": "monthly", "committed_devices": 1000}),
                    )
                    .await,
                    granted,
                    200,
                );
                allowed(
                    &api.delete(&fleet.path(&format!("/plans/{plan}")), token)
                        .await,
                    granted,
                    204,
                );
                if !granted {
                    // free the kind for the next role
                    let cancelled = fleet.delete(&format!("/plans/{plan}")).await;
                    assert_eq!(cancelled.status, 204, "{cancelled:?}");
                }
            }
        }
    }
);

on_both_stores!(
    only_a_security_admin_adds_an_enterprise_iot_plan,
    |vigil: Vigil| async move {
        let fleet = Fleet::owned_by(&vigil, "ada@example.com").await;
        let admin = fleet
            .member("admin@example.com", "security_admin", None)
            .await;
        let contributor = fleet
            .member("contrib@example.com", "contributor", None)
            .await;
        let plans = fleet.path("/plans");
        let body = json!({"kind": "enterprise_iot", "commitment": "trial"});
        // WHEN a contributor and an owner try THEN both are 403
        for token in [&contributor, &fleet.owner] {
            expect(
                &fleet.api.post(&plans, Some(token), body.clone()).await,
                403,
                "forbidden",
            );
        }
        // WHEN a security admin sends a bad trial THEN it is 400 (authorized, then validated)
        let bad = fleet
            .api
            .post(
                &plans,
                Some(&admin),
                json!({"kind": "enterprise_iot", "commitment": "trial", "committed_devices": 7}),
            )
            .await;
        expect(&bad, 400, "invalid");
        // AND a good one is 201, and a second is 409
        let created = fleet.api.post(&plans, Some(&admin), body.clone()).await;
        assert_eq!(created.status, 201, "{created:?}");
        assert_eq!(created.body["kind"], "enterprise_iot");
        expect(
            &fleet.api.post(&plans, Some(&admin), body).await,
            409,
            "conflict",
        );
        // AND an OT plan is independent of it
        let ot = fleet
            .post("/plans", json!({"kind": "ot", "commitment": "trial"}))
            .await;
        assert_eq!(ot.status, 201, "{ot:?}");
    }
);

// ----- Through the library: a controlled clock and inventory -----

fn request(kind: PlanKind, commitment: Commitment, devices: Option<u64>) -> CreatePlan {
    CreatePlan {
        kind,
        commitment,
        committed_devices: devices.map(|n| CommittedDevices::new(n).unwrap()),
    }
}

vigil_tests::for_each_store!(
    an_expired_trial_does_not_block_a_new_plan_of_its_kind,
    |backend: Backend| async move {
        let (table, _home) = vigil_tests::embedded::table_on(backend).await;
        let subscription = SubscriptionId::parse("sub-1").unwrap();
        let ada = Email::parse("ada@example.com").unwrap();
        let now = OffsetDateTime::now_utc();
        // GIVEN an OT trial started 31 days ago (so expired a day ago)
        let (trial, _) = functions::plans::create_plan(
            table.as_ref(),
            &subscription,
            &ada,
            &request(PlanKind::Ot, Commitment::Trial, None),
            now - Duration::days(31),
        )
        .await
        .expect("the trial");
        // AND while it was live, a second OT plan was refused
        let refused = functions::plans::create_plan(
            table.as_ref(),
            &subscription,
            &ada,
            &request(PlanKind::Ot, Commitment::Monthly, Some(100)),
            now - Duration::days(2),
        )
        .await;
        assert!(
            matches!(refused, Err(functions::http::error::ApiError::Conflict(_))),
            "{refused:?}"
        );
        // WHEN a monthly OT plan is added now
        let (monthly, _) = functions::plans::create_plan(
            table.as_ref(),
            &subscription,
            &ada,
            &request(PlanKind::Ot, Commitment::Monthly, Some(100)),
            now,
        )
        .await
        .expect("an expired trial does not block");
        // THEN both are listed: the trial expired, the new plan live
        let page = functions::plans::list_plans(table.as_ref(), &subscription, 50, None, now)
            .await
            .unwrap();
        let statuses: Vec<_> = page
            .items
            .iter()
            .map(|p| (p.id.clone(), p.status))
            .collect();
        assert_eq!(
            statuses,
            [
                (trial.id.clone(), PlanStatus::Expired),
                (monthly.id.clone(), PlanStatus::Live)
            ]
        );
        // AND the new plan now holds the kind: a third is refused
        let third = functions::plans::create_plan(
            table.as_ref(),
            &subscription,
            &ada,
            &request(PlanKind::Ot, Commitment::Annual, Some(100)),
            now,
        )
        .await;
        assert!(
            matches!(third, Err(functions::http::error::ApiError::Conflict(_))),
            "{third:?}"
        );
    }
);

async fn put_site(table: &dyn Table, subscription: &SubscriptionId, id: &str) -> SiteId {
    let site: Site = serde_json::from_value(json!({
        "id": id, "display_name": id, "tags": {}, "owners": []
    }))
    .unwrap();
    let item =
        functions::records::item(functions::keys::site(subscription, &site.id), &site).unwrap();
    table.put(item, Condition::MustNotExist).await.unwrap();
    site.id
}

async fn put_devices(
    table: &dyn Table,
    subscription: &SubscriptionId,
    site: &SiteId,
    devices: &[(&str, Duration, bool)],
    now: OffsetDateTime,
) {
    for (n, (ip, idle, managed)) in devices.iter().enumerate() {
        let last_activity = (now - *idle)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let device: Device = serde_json::from_value(json!({
            "id": format!("{site}-d{n}"), "site_id": site.as_str(), "zone_id": null,
            "sensor_id": "s1", "ip": ip, "mac": format!("00:00:00:00:{:02x}:{:02x}", n / 256, n % 256),
            "name": null, "type": null, "vendor": null, "authorized": false,
            "endpoint_managed": managed, "first_seen": last_activity, "last_activity": last_activity
        }))
        .unwrap();
        let item = functions::records::item(
            functions::keys::device(subscription, site, &device.id),
            &device,
        )
        .unwrap();
        table.put(item, Condition::MustNotExist).await.unwrap();
    }
}

vigil_tests::for_each_store!(
    the_estimate_and_over_commitment_follow_the_seed_rules_per_kind,
    |backend: Backend| async move {
        let (table, _home) = vigil_tests::embedded::table_on(backend).await;
        let subscription = SubscriptionId::parse("sub-1").unwrap();
        let now = OffsetDateTime::now_utc();
        let active = Duration::hours(1);
        // GIVEN an OT site with 150 countable devices and one of each excluded kind
        let plant = put_site(table.as_ref(), &subscription, "plant").await;
        let mut devices: Vec<(String, Duration, bool)> = (0..150)
            .map(|n| (format!("10.0.{}.{}", n / 200, n % 200 + 1), active, false))
            .collect();
        devices.extend([
            ("8.8.8.8".to_owned(), active, false),
            ("224.0.0.251".to_owned(), active, false),
            ("255.255.255.255".to_owned(), active, false),
            ("10.9.9.9".to_owned(), Duration::days(31), false),
            ("10.9.9.10".to_owned(), active, true),
        ]);
        let devices: Vec<(&str, Duration, bool)> = devices
            .iter()
            .map(|(ip, idle, managed)| (ip.as_str(), *idle, *managed))
            .collect();
        put_devices(table.as_ref(), &subscription, &plant, &devices, now).await;
        // AND the Enterprise network site with 3 countable devices
        let enterprise = put_site(table.as_ref(), &subscription, ENTERPRISE_NETWORK_SITE_ID).await;
        put_devices(
            table.as_ref(),
            &subscription,
            &enterprise,
            &[
                ("192.168.1.1", active, false),
                ("192.168.1.2", active, false),
                ("192.168.1.3", active, false),
            ],
            now,
        )
        .await;
        // WHEN estimating
        let all = functions::plans::inventory_estimate(table.as_ref(), &subscription, None, now)
            .await
            .unwrap();
        let ot = functions::plans::inventory_estimate(
            table.as_ref(),
            &subscription,
            Some(PlanKind::Ot),
            now,
        )
        .await
        .unwrap();
        let eiot = functions::plans::inventory_estimate(
            table.as_ref(),
            &subscription,
            Some(PlanKind::EnterpriseIot),
            now,
        )
        .await
        .unwrap();
        // THEN each exclusion removes its device and the count rounds up to 100s
        assert_eq!((all.counted_devices, all.committed_devices), (153, 200));
        assert_eq!((ot.counted_devices, ot.committed_devices), (150, 200));
        assert_eq!((eiot.counted_devices, eiot.committed_devices), (3, 100));
        let excluded = serde_json::to_value(ot.excluded).unwrap();
        assert_eq!(
            excluded,
            json!({"multicast": 1, "broadcast": 1, "public_internet": 1, "inactive": 1, "endpoint_managed": 1})
        );
        // WHEN an OT plan commits to 100 devices and an Enterprise IoT one to 100
        let ada = Email::parse("ada@example.com").unwrap();
        for kind in PlanKind::ALL {
            functions::plans::create_plan(
                table.as_ref(),
                &subscription,
                &ada,
                &request(kind, Commitment::Monthly, Some(100)),
                now,
            )
            .await
            .unwrap();
        }
        let page = functions::plans::list_plans(table.as_ref(), &subscription, 50, None, now)
            .await
            .unwrap();
        // THEN the OT plan is over-committed (150 > 100), the Enterprise IoT one not (3)
        let flags: Vec<_> = page
            .items
            .iter()
            .map(|p| (p.kind, p.detected_devices, p.over_committed))
            .collect();
        assert_eq!(
            flags,
            [
                (PlanKind::Ot, 150, true),
                (PlanKind::EnterpriseIot, 3, false)
            ]
        );
    }
);
