//! Roles, role assignments, custom roles, device groups and the audit log, end to end
//! against the real `vigil` binary on both stores.

use serde_json::{Value, json};
use shared::authz::{BuiltInRole, Permission};
use vigil_tests::fleet::Fleet;
use vigil_tests::vigil::{Answer, Vigil};

// ----- POST /role-assignments -----

vigil_tests::on_both_stores!(
    an_owner_gives_a_user_a_role_and_the_user_then_belongs_to_the_subscription,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        let bob = world.api.dev_login("bob@example.com").await;
        // GIVEN Bob belongs to no subscription
        let none = world.api.get("/subscriptions", Some(&bob)).await;
        assert_eq!(none.body["items"], json!([]));
        // WHEN the owner makes him a Security Reader of the subscription
        let given = world
            .assign(
                &world.owner,
                json!({"principal": "Bob@Example.com", "role": "security_reader", "site_id": null}),
            )
            .await;
        // THEN it is 201 with the assignment
        assert_eq!(given.status, 201, "{given:?}");
        let id = given.body["id"].as_str().expect("an id").to_owned();
        assert_eq!(given.body["principal"], "bob@example.com");
        assert_eq!(given.body["role"], "security_reader");
        assert_eq!(given.body["site_id"], json!(null));
        // AND Bob lists the subscription and sees the assignment in /me
        let listed = world.api.get("/subscriptions", Some(&bob)).await;
        assert_eq!(
            listed.body["items"],
            json!([{"id": world.sub, "name": "Plants"}])
        );
        let me = world.api.get("/me", Some(&bob)).await;
        let mine = &me.body["subscriptions"][0];
        assert_eq!(mine["id"], world.sub.as_str());
        assert_eq!(mine["assignments"][0]["id"], id.as_str());
        assert_eq!(mine["assignments"][0]["role"], "security_reader");
        // AND the assignment is listed and audited with its state after
        let all = world.assignments().await;
        assert!(all.iter().any(|a| a["id"] == id.as_str()));
        let audit = world.audit().await;
        assert_eq!(audit[0]["action"], "role_assignment.create");
        assert_eq!(audit[0]["target"], id.as_str());
        assert_eq!(audit[0]["actor"]["email"], "owner@example.com");
        assert_eq!(audit[0]["before"], json!(null));
        assert_eq!(audit[0]["after"]["principal"], "bob@example.com");
    }
);

vigil_tests::on_both_stores!(
    the_same_role_for_the_same_principal_at_the_same_scope_is_a_conflict,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        let body = json!({"principal": "bob@example.com", "role": "contributor", "site_id": null});
        assert_eq!(world.assign(&world.owner, body.clone()).await.status, 201);
        let before = world.assignments().await;
        // WHEN the same assignment is made again
        let again = world.assign(&world.owner, body).await;
        // THEN it is 409 and nothing changes
        assert_eq!(again.status, 409, "{again:?}");
        assert_eq!(again.error_code(), "conflict");
        assert_eq!(world.assignments().await, before);
        // AND another role for the same user is fine
        let other = world
            .assign(
                &world.owner,
                json!({"principal": "bob@example.com", "role": "security_admin"}),
            )
            .await;
        assert_eq!(other.status, 201, "{other:?}");
    }
);

vigil_tests::on_both_stores!(
    only_a_subscription_owner_may_assign_roles_at_subscription_scope,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        for role in BuiltInRole::ALL {
            // GIVEN a user holding the built-in role at subscription scope
            let email = format!("{}-holder@example.com", role.id());
            let token = world.member(&email, role.id(), None).await;
            // WHEN they give someone a role
            let attempt = world
                .assign(
                    &token,
                    json!({"principal": format!("new-{}", email), "role": "security_reader"}),
                )
                .await;
            // THEN it is allowed exactly when the seed's table grants the permission
            if role.grants(Permission::GrantPermissions) {
                assert_eq!(attempt.status, 201, "{role:?}: {attempt:?}");
            } else {
                assert_eq!(attempt.status, 403, "{role:?}: {attempt:?}");
                assert_eq!(attempt.error_code(), "forbidden");
            }
        }
    }
);

vigil_tests::on_both_stores!(
    bad_assignment_requests_are_refused_naming_the_field_and_change_nothing,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        let before = world.assignments().await;
        let audit_before = world.audit().await;
        for (body, field) in [
            (
                json!({"principal": "not an email", "role": "owner"}),
                "principal",
            ),
            (json!({"principal": "a@b.co", "role": "emperor"}), "role"),
            (
                json!({"principal": "a@b.co", "role": "no such role"}),
                "role",
            ),
            (
                json!({"principal": "a@b.co", "role": "owner", "colour": 1}),
                "colour",
            ),
            (json!({"principal": "a@b.co", "role": 7}), "role"),
            (json!({"principal": "a@b.co"}), "role"),
            (
                json!({"principal": "a@b.co", "role": "owner", "site_id": "nowhere"}),
                "site_id",
            ),
            (
                json!({"principal": "a@b.co", "role": "owner", "device_group_id": "nope"}),
                "device_group_id",
            ),
            (json!({"principal": "group:", "role": "owner"}), "principal"),
        ] {
            let refused = world.assign(&world.owner, body.clone()).await;
            assert_eq!(refused.status, 400, "{body}: {refused:?}");
            assert_eq!(refused.error_code(), "invalid");
            assert!(
                refused.error_message().contains(field),
                "{body}: {}",
                refused.error_message()
            );
        }
        let malformed = world
            .api
            .post_raw(
                &world.path("/role-assignments"),
                Some(&world.owner),
                b"{\"principal\": ".to_vec(),
            )
            .await;
        assert_eq!(malformed.status, 400, "{malformed:?}");
        assert_eq!(malformed.error_code(), "invalid");
        assert_eq!(world.assignments().await, before);
        assert_eq!(world.audit().await, audit_before);
    }
);

vigil_tests::on_both_stores!(
    assignments_in_a_subscription_the_caller_is_not_in_are_not_found,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        let stranger = world.api.dev_login("stranger@example.com").await;
        let attempt = world
            .assign(
                &stranger,
                json!({"principal": "stranger@example.com", "role": "owner"}),
            )
            .await;
        assert_eq!(attempt.status, 404, "{attempt:?}");
        let missing = world
            .api
            .post(
                "/subscriptions/nope/role-assignments",
                Some(&world.owner),
                json!({"principal": "a@b.co", "role": "owner"}),
            )
            .await;
        assert_eq!(missing.status, 404, "{missing:?}");
        let anonymous = world
            .api
            .post(
                &world.path("/role-assignments"),
                None,
                json!({"principal": "a@b.co", "role": "owner"}),
            )
            .await;
        assert_eq!(anonymous.status, 401, "{anonymous:?}");
    }
);

/// The role of each built-in role's holder at subscription scope on every RBAC endpoint:
/// `(endpoint, status)` for the holder of `token`.
async fn rbac_endpoints_as(world: &Fleet, token: &str, tag: &str) -> Vec<(String, u16)> {
    // Targets of the deletions, made by the owner.
    let victim = format!("victim-{tag}@example.com");
    world.member(&victim, "security_reader", None).await;
    let assignment = world.assignment_of(&victim, "security_reader").await;
    let role = world
        .api
        .post(
            &world.path("/roles"),
            Some(&world.owner),
            json!({"name": format!("Unused {tag}"), "permissions": ["view_alerts"]}),
        )
        .await;
    assert_eq!(role.status, 201, "{role:?}");
    let role = role.body["id"].as_str().unwrap().to_owned();
    let group = world
        .api
        .post(
            &world.path("/device-groups"),
            Some(&world.owner),
            json!({"name": format!("Unused {tag}"), "sites": {"tags": {"region": "emea"}}}),
        )
        .await;
    assert_eq!(group.status, 201, "{group:?}");
    let group = group.body["id"].as_str().unwrap().to_owned();

    let api = &world.api;
    let mut seen = Vec::new();
    let mut record = |name: &str, answer: Answer| seen.push((name.to_owned(), answer.status));
    record(
        "GET roles of the subscription",
        api.get(&world.path("/roles"), Some(token)).await,
    );
    record(
        "POST roles",
        api.post(
            &world.path("/roles"),
            Some(token),
            json!({"name": format!("New {tag}"), "permissions": ["view_devices"]}),
        )
        .await,
    );
    record(
        "DELETE roles/{role}",
        world.delete_as(token, &format!("/roles/{role}")).await,
    );
    record(
        "GET role-assignments",
        api.get(&world.path("/role-assignments"), Some(token)).await,
    );
    record(
        "POST role-assignments",
        world
            .assign(
                token,
                json!({"principal": format!("new-{tag}@example.com"), "role": "contributor"}),
            )
            .await,
    );
    record(
        "DELETE role-assignments/{id}",
        world
            .delete_as(token, &format!("/role-assignments/{assignment}"))
            .await,
    );
    record(
        "GET device-groups",
        api.get(&world.path("/device-groups"), Some(token)).await,
    );
    record(
        "POST device-groups",
        api.post(
            &world.path("/device-groups"),
            Some(token),
            json!({"name": format!("New {tag}"), "sites": {"tags": {"tier": "1"}}}),
        )
        .await,
    );
    record(
        "DELETE device-groups/{id}",
        world
            .delete_as(token, &format!("/device-groups/{group}"))
            .await,
    );
    record(
        "GET audit-log",
        api.get(&world.path("/audit-log"), Some(token)).await,
    );
    seen
}

vigil_tests::on_both_stores!(
    each_built_in_role_at_subscription_scope_is_allowed_on_rbac_endpoints_exactly_as_the_seed_table_says,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        for role in BuiltInRole::ALL {
            // GIVEN a holder of the role at subscription scope
            let token = world
                .member(&format!("holder-{}@example.com", role.id()), role.id(), None)
                .await;
            // WHEN they call every RBAC endpoint
            let seen = rbac_endpoints_as(&world, &token, role.id()).await;
            // THEN each answers as the seed's grant_permissions row says
            let allowed = role.grants(Permission::GrantPermissions);
            for (endpoint, status) in seen {
                let expected: &[u16] = if allowed { &[200, 201, 204] } else { &[403] };
                assert!(
                    expected.contains(&status),
                    "{role:?} on {endpoint}: {status}, expected {expected:?}"
                );
            }
        }
    }
);

vigil_tests::on_both_stores!(
    a_refused_caller_learns_403_even_for_an_invalid_body,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        let reader = world
            .member("reader@example.com", "security_reader", None)
            .await;
        for (path, body) in [
            ("/role-assignments", json!({"principal": "nope", "role": 1})),
            ("/roles", json!({"name": "", "permissions": ["fly"]})),
            ("/device-groups", json!({"colour": "red"})),
        ] {
            let refused = world.api.post(&world.path(path), Some(&reader), body).await;
            assert_eq!(refused.status, 403, "{path}: {refused:?}");
        }
        let malformed = world
            .api
            .post_raw(&world.path("/roles"), Some(&reader), b"{".to_vec())
            .await;
        assert_eq!(malformed.status, 403, "{malformed:?}");
    }
);

vigil_tests::on_both_stores!(
    every_rbac_endpoint_of_a_subscription_the_caller_is_not_in_is_not_found,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        // GIVEN a user holding no assignment in the subscription (but owning another)
        let stranger = world.api.dev_login("stranger@example.com").await;
        let own = world
            .api
            .post("/subscriptions", Some(&stranger), json!({"name": "Mine"}))
            .await;
        assert_eq!(own.status, 201);
        let audit_before = world.audit().await.len();
        // WHEN they call every RBAC endpoint of it
        let seen = rbac_endpoints_as(&world, &stranger, "stranger").await;
        // THEN each is 404, and none of their calls was a change
        for (endpoint, status) in seen {
            assert_eq!(status, 404, "{endpoint}");
        }
        // (the owner's setup made 3 changes: an assignment, a role, a device group)
        assert_eq!(world.audit().await.len(), audit_before + 3);
    }
);

// ----- GET /roles -----

vigil_tests::on_both_stores!(
    any_signed_in_user_lists_the_built_in_roles_with_their_permissions,
    |vigil: Vigil| async move {
        let api = vigil.api();
        let nobody = api.dev_login("nobody@example.com").await;
        let roles = api.get("/roles", Some(&nobody)).await;
        assert_eq!(roles.status, 200, "{roles:?}");
        assert_eq!(roles.body["next_cursor"], json!(null));
        let items = roles.body["items"].as_array().unwrap();
        assert_eq!(items.len(), BuiltInRole::ALL.len());
        for (item, role) in items.iter().zip(BuiltInRole::ALL) {
            assert_eq!(item["id"], role.id());
            assert_eq!(item["name"], role.display_name());
            assert_eq!(item["built_in"], true);
            let expected: Vec<&str> = Permission::ALL
                .into_iter()
                .filter(|p| role.grants(*p))
                .map(Permission::as_str)
                .collect();
            assert_eq!(item["permissions"], json!(expected), "{role:?}");
        }
        assert_eq!(items[3]["id"], "owner");
        assert_eq!(items[3]["name"], "Owner");
        // AND without a token it is 401
        assert_eq!(api.get("/roles", None).await.status, 401);
        // AND it pages like every list
        let first = api.get("/roles?limit=3", Some(&nobody)).await;
        assert_eq!(first.body["items"].as_array().unwrap().len(), 3);
        let cursor = first.body["next_cursor"]
            .as_str()
            .expect("a cursor")
            .to_owned();
        let rest = api
            .get(&format!("/roles?limit=3&cursor={cursor}"), Some(&nobody))
            .await;
        assert_eq!(rest.body["items"][0]["id"], "owner");
        assert_eq!(rest.body["next_cursor"], json!(null));
        assert_eq!(api.get("/roles?limit=0", Some(&nobody)).await.status, 400);
    }
);

// ----- Custom roles -----

vigil_tests::on_both_stores!(
    an_owner_creates_a_custom_role_listed_after_the_built_in_ones,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        // WHEN the owner creates a custom role
        let created = world
            .api
            .post(
                &world.path("/roles"),
                Some(&world.owner),
                json!({"name": "Tier 1", "permissions": ["modify_alerts", "view_alerts"]}),
            )
            .await;
        // THEN it is 201, not built in, with its permissions in table order
        assert_eq!(created.status, 201, "{created:?}");
        assert_eq!(created.body["name"], "Tier 1");
        assert_eq!(created.body["built_in"], false);
        assert_eq!(
            created.body["permissions"],
            json!(["view_alerts", "modify_alerts"])
        );
        let id = created.body["id"].as_str().unwrap().to_owned();
        // AND the subscription's roles are the built-in ones, then it
        let roles = world
            .api
            .get(&world.path("/roles"), Some(&world.owner))
            .await;
        assert_eq!(roles.status, 200, "{roles:?}");
        let items = roles.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 5);
        assert_eq!(items[4]["id"], id.as_str());
        assert_eq!(items[0]["id"], "security_reader");
        // AND it is audited
        let audit = world.audit().await;
        assert_eq!(audit[0]["action"], "role.create");
        assert_eq!(audit[0]["after"]["name"], "Tier 1");
        // AND a second role of the same name (any case) is a conflict
        let again = world
            .api
            .post(
                &world.path("/roles"),
                Some(&world.owner),
                json!({"name": "TIER 1", "permissions": ["view_alerts"]}),
            )
            .await;
        assert_eq!(again.status, 409, "{again:?}");
        let built_in_name = world
            .api
            .post(
                &world.path("/roles"),
                Some(&world.owner),
                json!({"name": "Owner", "permissions": ["view_alerts"]}),
            )
            .await;
        assert_eq!(built_in_name.status, 409, "{built_in_name:?}");
    }
);

vigil_tests::on_both_stores!(
    bad_custom_roles_are_refused_naming_the_field_and_change_nothing,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        let audit_before = world.audit().await;
        for (body, field) in [
            (json!({"name": "X", "permissions": ["fly"]}), "permissions"),
            (json!({"name": "X", "permissions": []}), "permissions"),
            (
                json!({"name": "X", "permissions": "view_alerts"}),
                "permissions",
            ),
            (json!({"name": "X"}), "permissions"),
            (json!({"permissions": ["view_alerts"]}), "name"),
            (json!({"name": "", "permissions": ["view_alerts"]}), "name"),
            (
                json!({"name": "X", "permissions": ["view_alerts"], "colour": 1}),
                "colour",
            ),
        ] {
            let refused = world
                .api
                .post(&world.path("/roles"), Some(&world.owner), body.clone())
                .await;
            assert_eq!(refused.status, 400, "{body}: {refused:?}");
            assert_eq!(refused.error_code(), "invalid");
            assert!(
                refused.error_message().contains(field),
                "{body}: {}",
                refused.error_message()
            );
        }
        let malformed = world
            .api
            .post_raw(&world.path("/roles"), Some(&world.owner), b"[1,".to_vec())
            .await;
        assert_eq!(malformed.status, 400, "{malformed:?}");
        let roles = world
            .api
            .get(&world.path("/roles"), Some(&world.owner))
            .await;
        assert_eq!(roles.body["items"].as_array().unwrap().len(), 4);
        assert_eq!(world.audit().await, audit_before);
    }
);

vigil_tests::on_both_stores!(
    a_custom_role_grants_its_holder_exactly_its_permissions,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        let role = world
            .api
            .post(
                &world.path("/roles"),
                Some(&world.owner),
                json!({"name": "Alert viewer", "permissions": ["view_alerts"]}),
            )
            .await;
        let role = role.body["id"].as_str().unwrap().to_owned();
        // GIVEN Carol holds only the custom role
        let carol = world.member("carol@example.com", &role, None).await;
        // THEN /me gives her exactly view_alerts, subscription-wide
        let me = world.api.get("/me", Some(&carol)).await;
        let assignment = &me.body["subscriptions"][0]["assignments"][0];
        assert_eq!(assignment["role"], role.as_str());
        assert_eq!(assignment["permissions"], json!(["view_alerts"]));
        assert_eq!(assignment["reach"], json!("whole_subscription"));
        // AND she may not administer roles
        let seen = rbac_endpoints_as(&world, &carol, "carol").await;
        for (endpoint, status) in seen {
            assert_eq!(status, 403, "{endpoint}");
        }
        // AND a role granting grant_permissions makes its holder an administrator
        let granter = world
            .api
            .post(
                &world.path("/roles"),
                Some(&world.owner),
                json!({"name": "Granter", "permissions": ["grant_permissions"]}),
            )
            .await;
        let granter = granter.body["id"].as_str().unwrap().to_owned();
        let dave = world.member("dave@example.com", &granter, None).await;
        let listed = world
            .api
            .get(&world.path("/role-assignments"), Some(&dave))
            .await;
        assert_eq!(listed.status, 200, "{listed:?}");
    }
);

vigil_tests::on_both_stores!(
    a_custom_role_in_use_cannot_be_deleted_and_an_unused_one_can,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        let role = world
            .api
            .post(
                &world.path("/roles"),
                Some(&world.owner),
                json!({"name": "Alert viewer", "permissions": ["view_alerts"]}),
            )
            .await;
        let role = role.body["id"].as_str().unwrap().to_owned();
        world.member("carol@example.com", &role, None).await;
        // WHEN the owner deletes the role while Carol holds it
        let refused = world
            .delete_as(&world.owner, &format!("/roles/{role}"))
            .await;
        // THEN it is 409
        assert_eq!(refused.status, 409, "{refused:?}");
        // AND once her assignment is gone it can be deleted
        let assignment = world.assignment_of("carol@example.com", &role).await;
        let removed = world
            .delete_as(&world.owner, &format!("/role-assignments/{assignment}"))
            .await;
        assert_eq!(removed.status, 204, "{removed:?}");
        let deleted = world
            .delete_as(&world.owner, &format!("/roles/{role}"))
            .await;
        assert_eq!(deleted.status, 204, "{deleted:?}");
        let audit = world.audit().await;
        assert_eq!(audit[0]["action"], "role.delete");
        assert_eq!(audit[0]["before"]["name"], "Alert viewer");
        assert_eq!(audit[0]["after"], json!(null));
        // AND it is gone: deleting again is 404, assigning it is 400
        let again = world
            .delete_as(&world.owner, &format!("/roles/{role}"))
            .await;
        assert_eq!(again.status, 404, "{again:?}");
        let assign = world
            .assign(
                &world.owner,
                json!({"principal": "e@example.com", "role": role}),
            )
            .await;
        assert_eq!(assign.status, 400, "{assign:?}");
        // AND built-in roles cannot be deleted
        let built_in = world.delete_as(&world.owner, "/roles/owner").await;
        assert_eq!(built_in.status, 409, "{built_in:?}");
        let bad_id = world.delete_as(&world.owner, "/roles/not%20an%20id").await;
        assert_eq!(bad_id.status, 404, "{bad_id:?}");
    }
);

// ----- Listing and deleting assignments -----

vigil_tests::on_both_stores!(
    assignments_are_listed_in_pages_with_the_policy_version_as_etag,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        for n in 0..4 {
            world
                .member(&format!("user{n}@example.com"), "security_reader", None)
                .await;
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => world.path(&format!("/role-assignments?limit=2&cursor={c}")),
                None => world.path("/role-assignments?limit=2"),
            };
            let page = world.api.get(&path, Some(&world.owner)).await;
            assert_eq!(page.status, 200, "{page:?}");
            let items = page.body["items"].as_array().unwrap();
            assert!(items.len() <= 2);
            seen.extend(items.iter().cloned());
            match page.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, world.assignments().await);
        assert_eq!(seen.len(), 5);
        let bad = world
            .api
            .get(
                &world.path("/role-assignments?cursor=garbage"),
                Some(&world.owner),
            )
            .await;
        assert_eq!(bad.status, 400, "{bad:?}");
        let bad_limit = world
            .api
            .get(
                &world.path("/role-assignments?limit=501"),
                Some(&world.owner),
            )
            .await;
        assert_eq!(bad_limit.status, 400, "{bad_limit:?}");
        let bad_site = world
            .api
            .get(
                &world.path("/role-assignments?site_id=no%20way"),
                Some(&world.owner),
            )
            .await;
        assert_eq!(bad_site.status, 400, "{bad_site:?}");
    }
);

vigil_tests::on_both_stores!(
    deleting_an_assignment_with_a_stale_if_match_is_412_and_changes_nothing,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        world.member("bob@example.com", "contributor", None).await;
        let id = world.assignment_of("bob@example.com", "contributor").await;
        let listed = world
            .api
            .send_with_headers(
                reqwest::Method::GET,
                &world.path("/role-assignments"),
                Some(&world.owner),
                None,
                &[],
            )
            .await;
        assert_eq!(listed.status, 200);
        // GIVEN the version read, then another change of the policy
        let etag = world.etag("/role-assignments").await;
        world.member("carol@example.com", "contributor", None).await;
        // WHEN the owner deletes with the stale version
        let stale = world
            .api
            .send_with_headers(
                reqwest::Method::DELETE,
                &world.path(&format!("/role-assignments/{id}")),
                Some(&world.owner),
                None,
                &[("if-match", &etag)],
            )
            .await;
        // THEN it is 412 and Bob keeps his role
        assert_eq!(stale.status, 412, "{stale:?}");
        assert_eq!(stale.error_code(), "precondition_failed");
        world.assignment_of("bob@example.com", "contributor").await;
        // AND with the current version it is 204
        let fresh = world.etag("/role-assignments").await;
        let deleted = world
            .api
            .send_with_headers(
                reqwest::Method::DELETE,
                &world.path(&format!("/role-assignments/{id}")),
                Some(&world.owner),
                None,
                &[("if-match", &fresh)],
            )
            .await;
        assert_eq!(deleted.status, 204, "{deleted:?}");
    }
);

vigil_tests::on_both_stores!(
    removing_a_users_last_assignment_removes_them_from_the_subscription,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        let bob = world
            .member("bob@example.com", "security_admin", None)
            .await;
        let id = world
            .assignment_of("bob@example.com", "security_admin")
            .await;
        // WHEN the owner deletes Bob's only assignment
        let deleted = world
            .delete_as(&world.owner, &format!("/role-assignments/{id}"))
            .await;
        // THEN it is 204, audited, and Bob no longer sees the subscription
        assert_eq!(deleted.status, 204, "{deleted:?}");
        assert_eq!(deleted.body, json!(null));
        let audit = world.audit().await;
        assert_eq!(audit[0]["action"], "role_assignment.delete");
        assert_eq!(audit[0]["before"]["principal"], "bob@example.com");
        assert_eq!(audit[0]["after"], json!(null));
        let listed = world.api.get("/subscriptions", Some(&bob)).await;
        assert_eq!(listed.body["items"], json!([]));
        let me = world.api.get("/me", Some(&bob)).await;
        assert_eq!(me.body["subscriptions"], json!([]));
        let roles = world.api.get(&world.path("/roles"), Some(&bob)).await;
        assert_eq!(roles.status, 404, "{roles:?}");
        // AND deleting it again is 404
        let again = world
            .delete_as(&world.owner, &format!("/role-assignments/{id}"))
            .await;
        assert_eq!(again.status, 404, "{again:?}");
    }
);

vigil_tests::on_both_stores!(
    a_user_with_two_assignments_stays_a_member_until_both_are_gone,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        let bob = world
            .member("bob@example.com", "security_reader", None)
            .await;
        world.member("bob@example.com", "contributor", None).await;
        let reader = world
            .assignment_of("bob@example.com", "security_reader")
            .await;
        assert_eq!(
            world
                .delete_as(&world.owner, &format!("/role-assignments/{reader}"))
                .await
                .status,
            204
        );
        let listed = world.api.get("/subscriptions", Some(&bob)).await;
        assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
        let me = world.api.get("/me", Some(&bob)).await;
        assert_eq!(
            me.body["subscriptions"][0]["assignments"][0]["role"],
            "contributor"
        );
    }
);

// ----- Last owner -----

vigil_tests::on_both_stores!(
    the_last_subscription_owner_cannot_be_removed,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        let own = world.assignment_of("owner@example.com", "owner").await;
        // GIVEN a group also holds owner (groups can be emptied outside Vigil)
        let group = world
            .assign(
                &world.owner,
                json!({"principal": "group:admins", "role": "owner"}),
            )
            .await;
        assert_eq!(group.status, 201, "{group:?}");
        // WHEN the only user owner removes their own assignment
        let refused = world
            .delete_as(&world.owner, &format!("/role-assignments/{own}"))
            .await;
        // THEN it is 409 and they remain owner
        assert_eq!(refused.status, 409, "{refused:?}");
        assert_eq!(refused.error_code(), "conflict");
        world.assignment_of("owner@example.com", "owner").await;
        // AND with a second user owner, one of them can go
        world.member("second@example.com", "owner", None).await;
        let removed = world
            .delete_as(&world.owner, &format!("/role-assignments/{own}"))
            .await;
        assert_eq!(removed.status, 204, "{removed:?}");
        let second = world.api.dev_login("second@example.com").await;
        let last = world
            .assign(
                &second,
                json!({"principal": "x@example.com", "role": "owner", "site_id": null}),
            )
            .await;
        assert_eq!(last.status, 201, "{last:?}");
    }
);

vigil_tests::on_both_stores!(
    twenty_owners_removing_themselves_at_once_leave_exactly_one,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        // GIVEN 20 user owners (the creator and 19 more)
        let mut owners = vec![("owner@example.com".to_owned(), world.owner.clone())];
        for n in 1..20 {
            let email = format!("owner{n}@example.com");
            let token = world.member(&email, "owner", None).await;
            owners.push((email, token));
        }
        let ids: Vec<String> = {
            let all = world.assignments().await;
            owners
                .iter()
                .map(|(email, _)| {
                    all.iter()
                        .find(|a| a["principal"] == email.as_str())
                        .unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect()
        };
        // WHEN each removes their own owner assignment at the same time
        let mut tasks = Vec::new();
        for ((_, token), id) in owners.iter().zip(&ids) {
            let api = world.api.clone();
            let path = world.path(&format!("/role-assignments/{id}"));
            let token = token.clone();
            tasks.push(tokio::spawn(async move {
                api.delete(&path, Some(&token)).await.status
            }));
        }
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.unwrap());
        }
        // THEN 19 succeed and the last one is refused
        let removed = statuses.iter().filter(|s| **s == 204).count();
        let refused = statuses.iter().filter(|s| **s == 409).count();
        assert_eq!((removed, refused), (19, 1), "{statuses:?}");
        // AND exactly one owner is left, who still administers the subscription
        let survivor = owners
            .iter()
            .zip(&statuses)
            .find(|(_, status)| **status == 409)
            .map(|((_, token), _)| token.clone())
            .unwrap();
        let list = world
            .api
            .get(&world.path("/role-assignments"), Some(&survivor))
            .await;
        assert_eq!(list.status, 200, "{list:?}");
        let owners_left: Vec<&Value> = list.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["role"] == "owner")
            .collect();
        assert_eq!(owners_left.len(), 1, "{owners_left:?}");
    }
);

// ----- Groups -----

vigil_tests::on_both_stores!(
    a_role_given_to_a_group_applies_to_its_members,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        // GIVEN the group tier-1 holds owner
        let given = world
            .assign(
                &world.owner,
                json!({"principal": "group:tier-1", "role": "owner"}),
            )
            .await;
        assert_eq!(given.status, 201, "{given:?}");
        assert_eq!(given.body["principal"], "group:tier-1");
        // WHEN a member of the group signs in
        let member = world
            .api
            .dev_login_with_groups("gina@example.com", &["tier-1", "other"])
            .await;
        // THEN she sees the subscription and administers it
        let listed = world.api.get("/subscriptions", Some(&member)).await;
        assert_eq!(
            listed.body["items"],
            json!([{"id": world.sub, "name": "Plants"}])
        );
        let me = world.api.get("/me", Some(&member)).await;
        assert_eq!(
            me.body["subscriptions"][0]["assignments"][0]["role"],
            "owner"
        );
        let assigned = world
            .assign(
                &member,
                json!({"principal": "hal@example.com", "role": "security_reader"}),
            )
            .await;
        assert_eq!(assigned.status, 201, "{assigned:?}");
        // AND a user outside the group does not see it
        let outsider = world
            .api
            .dev_login_with_groups("ivan@example.com", &["tier-2"])
            .await;
        let hidden = world
            .api
            .get(&world.path("/role-assignments"), Some(&outsider))
            .await;
        assert_eq!(hidden.status, 404, "{hidden:?}");
        // AND once the group's assignment is gone, neither does the member
        let id = world.assignment_of("group:tier-1", "owner").await;
        assert_eq!(
            world
                .delete_as(&world.owner, &format!("/role-assignments/{id}"))
                .await
                .status,
            204
        );
        let gone = world.api.get("/subscriptions", Some(&member)).await;
        assert_eq!(gone.body["items"], json!([]));
    }
);

// ----- Audit log -----

vigil_tests::on_both_stores!(
    the_audit_log_lists_every_policy_change_newest_first_in_pages,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        world.member("a@example.com", "security_reader", None).await;
        world.member("b@example.com", "contributor", None).await;
        let role = world
            .api
            .post(
                &world.path("/roles"),
                Some(&world.owner),
                json!({"name": "Viewer", "permissions": ["view_devices"]}),
            )
            .await;
        assert_eq!(role.status, 201);
        let id = world
            .assignment_of("a@example.com", "security_reader")
            .await;
        world
            .delete_as(&world.owner, &format!("/role-assignments/{id}"))
            .await;
        // WHEN the owner reads the log two entries at a time
        let mut entries = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => world.path(&format!("/audit-log?limit=2&cursor={c}")),
                None => world.path("/audit-log?limit=2"),
            };
            let page = world.api.get(&path, Some(&world.owner)).await;
            assert_eq!(page.status, 200, "{page:?}");
            entries.extend(page.body["items"].as_array().unwrap().iter().cloned());
            match page.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        // THEN every write is there, newest first
        let actions: Vec<&str> = entries
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            [
                "role_assignment.delete",
                "role.create",
                "role_assignment.create",
                "role_assignment.create",
                "subscription.create"
            ]
        );
        let times: Vec<&str> = entries.iter().map(|e| e["at"].as_str().unwrap()).collect();
        let mut sorted = times.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(times, sorted);
        assert_eq!(entries[0]["before"]["principal"], "a@example.com");
        assert_eq!(entries[2]["after"]["principal"], "b@example.com");
        assert!(
            entries
                .iter()
                .all(|e| e["subscription_id"] == world.sub.as_str())
        );
        // AND bad paging is 400
        for query in ["limit=0", "limit=abc", "cursor=forged"] {
            let bad = world
                .api
                .get(
                    &world.path(&format!("/audit-log?{query}")),
                    Some(&world.owner),
                )
                .await;
            assert_eq!(bad.status, 400, "{query}: {bad:?}");
        }
    }
);

vigil_tests::on_both_stores!(
    the_audit_log_filters_by_actor_kind_of_change_and_time_through_every_page,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        // GIVEN changes by the owner and by an admin, of sites and of assignments
        let admin = world.member("admin@example.com", "contributor", None).await;
        world.site("Plant North").await;
        let site = world
            .api
            .post(
                &world.path("/sites"),
                Some(&admin),
                json!({"display_name": "Plant South"}),
            )
            .await;
        assert_eq!(site.status, 201, "{site:?}");
        let everything = world.list_all(&world.owner, "/audit-log", 50).await;
        let at = |n: usize| everything[n]["at"].as_str().unwrap().to_owned();
        let actions = |entries: &[Value]| -> Vec<String> {
            entries
                .iter()
                .map(|e| {
                    format!(
                        "{} {}",
                        e["action"].as_str().unwrap(),
                        e["actor"]["email"].as_str().unwrap_or("-")
                    )
                })
                .collect()
        };
        let all = actions(&everything);
        assert_eq!(
            all,
            [
                "site.create admin@example.com",
                "site.create owner@example.com",
                "role_assignment.create owner@example.com",
                "subscription.create owner@example.com",
            ]
        );
        // WHEN filtered, through pages of any size: exactly the matching entries, in order
        let newest = at(0);
        let second = at(1);
        let encode = |t: &str| t.replace('+', "%2B").replace(':', "%3A");
        for (query, expected) in [
            ("?actor=ADMIN@".to_owned(), vec![all[0].clone()]),
            ("?action=site".to_owned(), all[..2].to_vec()),
            (
                "?action=role_assignment.create".to_owned(),
                vec![all[2].clone()],
            ),
            ("?action=site.delete".to_owned(), vec![]),
            (format!("?since={}", encode(&second)), all[..2].to_vec()),
            (format!("?until={}", encode(&second)), all[2..].to_vec()),
            (
                format!("?actor=owner&action=site&since={}", encode(&second)),
                vec![all[1].clone()],
            ),
            (
                format!("?until={}&since={}", encode(&second), encode(&newest)),
                vec![],
            ),
        ] {
            for limit in [1, 2, 50] {
                let entries = world
                    .list_all(&world.owner, &format!("/audit-log{query}"), limit)
                    .await;
                assert_eq!(actions(&entries), expected, "{query} limit {limit}");
            }
        }
        // AND bad filters are 400 naming the field
        for (query, field) in [
            ("?action=sites", "action"),
            ("?action=site.", "action"),
            ("?since=yesterday", "since"),
            ("?until=2026-13-01T00:00:00Z", "until"),
            ("?actor=%20", "actor"),
        ] {
            let bad = world
                .api
                .get(
                    &world.path(&format!("/audit-log{query}")),
                    Some(&world.owner),
                )
                .await;
            assert_eq!(bad.status, 400, "{query}: {bad:?}");
            assert!(
                bad.error_message().contains(field),
                "{query}: {}",
                bad.error_message()
            );
        }
    }
);

// ----- Device groups (tag-based without sites) -----

vigil_tests::on_both_stores!(
    bad_device_groups_are_refused_naming_the_field_and_change_nothing,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        let audit_before = world.audit().await;
        for (body, field) in [
            (json!({"name": "G", "sites": {"sites": []}}), "sites"),
            (json!({"name": "G", "sites": {"tags": {}}}), "sites"),
            (
                json!({"name": "G", "sites": {"sites": ["nowhere"]}}),
                "sites",
            ),
            (json!({"name": "G", "sites": {"everything": true}}), "sites"),
            (
                json!({"name": "G", "sites": {"sites": ["a"], "tags": {"k": "v"}}}),
                "sites",
            ),
            (
                json!({"name": "G", "sites": {"tags": {"bad key": "v"}}}),
                "sites",
            ),
            (json!({"sites": {"tags": {"k": "v"}}}), "name"),
            (
                json!({"name": "G", "sites": {"tags": {"k": "v"}}, "colour": 1}),
                "colour",
            ),
        ] {
            let refused = world
                .api
                .post(
                    &world.path("/device-groups"),
                    Some(&world.owner),
                    body.clone(),
                )
                .await;
            assert_eq!(refused.status, 400, "{body}: {refused:?}");
            assert_eq!(refused.error_code(), "invalid");
            assert!(
                refused.error_message().contains(field),
                "{body}: {}",
                refused.error_message()
            );
        }
        let listed = world
            .api
            .get(&world.path("/device-groups"), Some(&world.owner))
            .await;
        assert_eq!(listed.body["items"], json!([]));
        assert_eq!(world.audit().await, audit_before);
    }
);

vigil_tests::on_both_stores!(
    a_device_group_in_use_cannot_be_deleted_and_an_unused_one_can,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        let created = world
            .api
            .post(
                &world.path("/device-groups"),
                Some(&world.owner),
                json!({"name": "EMEA", "sites": {"tags": {"region": "emea"}}}),
            )
            .await;
        assert_eq!(created.status, 201, "{created:?}");
        assert_eq!(created.body["sites"], json!({"tags": {"region": "emea"}}));
        let group = created.body["id"].as_str().unwrap().to_owned();
        let duplicate = world
            .api
            .post(
                &world.path("/device-groups"),
                Some(&world.owner),
                json!({"name": "emea", "sites": {"tags": {"region": "x"}}}),
            )
            .await;
        assert_eq!(duplicate.status, 409, "{duplicate:?}");
        let assigned = world
            .assign(
                &world.owner,
                json!({"principal": "bob@example.com", "role": "security_reader",
                       "device_group_id": group}),
            )
            .await;
        assert_eq!(assigned.status, 201, "{assigned:?}");
        assert_eq!(assigned.body["device_group_id"], group.as_str());
        assert_eq!(assigned.body["site_id"], json!(null));
        let refused = world
            .delete_as(&world.owner, &format!("/device-groups/{group}"))
            .await;
        assert_eq!(refused.status, 409, "{refused:?}");
        let id = assigned.body["id"].as_str().unwrap();
        assert_eq!(
            world
                .delete_as(&world.owner, &format!("/role-assignments/{id}"))
                .await
                .status,
            204
        );
        let deleted = world
            .delete_as(&world.owner, &format!("/device-groups/{group}"))
            .await;
        assert_eq!(deleted.status, 204, "{deleted:?}");
        let audit = world.audit().await;
        assert_eq!(audit[0]["action"], "device_group.delete");
        assert_eq!(audit[0]["before"]["name"], "EMEA");
        let again = world
            .delete_as(&world.owner, &format!("/device-groups/{group}"))
            .await;
        assert_eq!(again.status, 404, "{again:?}");
    }
);

/// Tests that create sites through `POST /subscriptions/{sub}/sites` (the sites area).
/// On a branch without that endpoint they fail at the site's creation; run the rest
/// with `-- --skip needs_sites`.
mod needs_sites {
    use super::*;

    // needs sites
    vigil_tests::on_both_stores!(
        each_built_in_role_at_a_site_may_grant_only_if_owner_and_only_at_that_site,
        |vigil: Vigil| async move {
            let world = Fleet::new(&vigil).await;
            let here = world.tagged_site("Here", json!({})).await;
            let there = world.tagged_site("There", json!({})).await;
            // A site-scope assignment at each site, to list and delete.
            for role in BuiltInRole::ALL {
                // GIVEN a holder of the role at site `here`
                let email = format!("site-{}@example.com", role.id());
                let given = world
                    .assign(
                        &world.owner,
                        json!({"principal": email, "role": role.id(), "site_id": here}),
                    )
                    .await;
                assert_eq!(given.status, 201, "{given:?}");
                assert_eq!(given.body["site_id"], here.as_str());
                let token = world.api.dev_login(&email).await;
                let owner = role.grants(Permission::GrantPermissions);
                let victim_here = world
                    .assign(
                        &world.owner,
                        json!({"principal": format!("v-{email}"), "role": "security_reader", "site_id": here}),
                    )
                    .await;
                let victim_there = world
                    .assign(
                        &world.owner,
                        json!({"principal": format!("v-{email}"), "role": "security_reader", "site_id": there}),
                    )
                    .await;
                // Allowed: the exact success status (its effect is checked below).
                let expect = |allowed: Option<u16>, answer: &Answer, what: &str| {
                    let wanted = allowed.unwrap_or(403);
                    assert_eq!(
                        answer.status, wanted,
                        "{role:?} at a site, {what}: {answer:?}"
                    );
                };
                let granted = |status: u16| owner.then_some(status);
                // WHEN they grant at their site, at another site, and subscription-wide
                let at_here = world
                    .assign(&token, json!({"principal": format!("n-{email}"), "role": "security_reader", "site_id": here}))
                    .await;
                expect(granted(201), &at_here, "assign at its site");
                let new_here = |all: &[Value]| {
                    all.iter().any(|a| {
                        a["principal"] == format!("n-{email}").as_str()
                            && a["site_id"] == here.as_str()
                    })
                };
                assert_eq!(
                    new_here(&world.assignments().await),
                    owner,
                    "{role:?}: assigned"
                );
                let at_there = world
                    .assign(&token, json!({"principal": format!("n-{email}"), "role": "security_reader", "site_id": there}))
                    .await;
                expect(None, &at_there, "assign at another site");
                let at_sub = world
                    .assign(
                        &token,
                        json!({"principal": format!("n-{email}"), "role": "security_reader"}),
                    )
                    .await;
                expect(None, &at_sub, "assign subscription-wide");
                // THEN listing follows the same rule
                let list_here = world
                    .api
                    .get(
                        &world.path(&format!("/role-assignments?site_id={here}")),
                        Some(&token),
                    )
                    .await;
                expect(granted(200), &list_here, "list its site");
                if owner {
                    let items = list_here.body["items"].as_array().unwrap();
                    assert!(
                        items.iter().all(|a| a["site_id"] == here.as_str()),
                        "{items:?}"
                    );
                }
                let list_there = world
                    .api
                    .get(
                        &world.path(&format!("/role-assignments?site_id={there}")),
                        Some(&token),
                    )
                    .await;
                expect(None, &list_there, "list another site");
                let list_all = world
                    .api
                    .get(&world.path("/role-assignments"), Some(&token))
                    .await;
                expect(None, &list_all, "list everything");
                for rest in ["/audit-log", "/roles", "/device-groups"] {
                    let answer = world.api.get(&world.path(rest), Some(&token)).await;
                    expect(None, &answer, rest);
                }
                // AND so does deleting
                let there_id = victim_there.body["id"].as_str().unwrap();
                let delete_there = world
                    .delete_as(&token, &format!("/role-assignments/{there_id}"))
                    .await;
                expect(None, &delete_there, "delete at another site");
                let here_id = victim_here.body["id"].as_str().unwrap();
                let delete_here = world
                    .delete_as(&token, &format!("/role-assignments/{here_id}"))
                    .await;
                expect(granted(204), &delete_here, "delete at its site");
                let listed = world.assignments().await;
                assert_eq!(
                    listed.iter().any(|a| a["id"] == here_id),
                    !owner,
                    "{role:?}: deleted only if allowed"
                );
                assert!(listed.iter().any(|a| a["id"] == there_id), "{role:?}: kept");
            }
        }
    );

    // needs sites
    vigil_tests::on_both_stores!(
        a_role_granting_nothing_at_a_site_cannot_be_assigned_there,
        |vigil: Vigil| async move {
            let world = Fleet::new(&vigil).await;
            let site = world.tagged_site("Plant", json!({})).await;
            let role = world
                .api
                .post(
                    &world.path("/roles"),
                    Some(&world.owner),
                    json!({"name": "Planner", "permissions": ["view_plans", "modify_plans"]}),
                )
                .await;
            let role = role.body["id"].as_str().unwrap().to_owned();
            let refused = world
                .assign(
                    &world.owner,
                    json!({"principal": "p@example.com", "role": role, "site_id": site}),
                )
                .await;
            assert_eq!(refused.status, 400, "{refused:?}");
            assert!(refused.error_message().contains("role"), "{refused:?}");
            let subscription_wide = world
                .assign(
                    &world.owner,
                    json!({"principal": "p@example.com", "role": role}),
                )
                .await;
            assert_eq!(subscription_wide.status, 201, "{subscription_wide:?}");
        }
    );

    // needs sites
    vigil_tests::on_both_stores!(
        a_site_scope_custom_role_grants_only_its_site_grantable_permissions_at_that_site,
        |vigil: Vigil| async move {
            let world = Fleet::new(&vigil).await;
            let site = world.tagged_site("Plant", json!({})).await;
            let role = world
                .api
                .post(
                    &world.path("/roles"),
                    Some(&world.owner),
                    json!({"name": "Mixed", "permissions": ["view_alerts", "view_plans"]}),
                )
                .await;
            let role = role.body["id"].as_str().unwrap().to_owned();
            let given = world
                .assign(
                    &world.owner,
                    json!({"principal": "m@example.com", "role": role, "site_id": site}),
                )
                .await;
            assert_eq!(given.status, 201, "{given:?}");
            let token = world.api.dev_login("m@example.com").await;
            let me = world.api.get("/me", Some(&token)).await;
            let assignment = &me.body["subscriptions"][0]["assignments"][0];
            assert_eq!(assignment["site_id"], site.as_str());
            assert_eq!(assignment["reach"], json!({"sites": [site]}));
        }
    );

    // needs sites
    vigil_tests::on_both_stores!(
        device_groups_by_sites_and_by_tags_reach_exactly_their_sites,
        |vigil: Vigil| async move {
            let world = Fleet::new(&vigil).await;
            let north = world.tagged_site("North", json!({"region": "emea"})).await;
            let south = world.tagged_site("South", json!({"region": "us"})).await;
            let east = world
                .tagged_site("East", json!({"region": "emea", "tier": "1"}))
                .await;
            let by_sites = world
                .api
                .post(
                    &world.path("/device-groups"),
                    Some(&world.owner),
                    json!({"name": "Listed", "sites": {"sites": [south]}}),
                )
                .await;
            assert_eq!(by_sites.status, 201, "{by_sites:?}");
            let by_tags = world
                .api
                .post(
                    &world.path("/device-groups"),
                    Some(&world.owner),
                    json!({"name": "EMEA", "sites": {"tags": {"region": "emea"}}}),
                )
                .await;
            assert_eq!(by_tags.status, 201, "{by_tags:?}");
            let listed = world
                .api
                .get(&world.path("/device-groups"), Some(&world.owner))
                .await;
            assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);
            // GIVEN Olga owns the EMEA group and Lev reads the listed one
            for (who, role, group) in [
                ("olga@example.com", "owner", &by_tags),
                ("lev@example.com", "security_reader", &by_sites),
            ] {
                let given = world
                    .assign(
                        &world.owner,
                        json!({"principal": who, "role": role, "device_group_id": group.body["id"]}),
                    )
                    .await;
                assert_eq!(given.status, 201, "{given:?}");
            }
            // THEN /me resolves their reach to exactly the group's sites
            let olga = world.api.dev_login("olga@example.com").await;
            let me = world.api.get("/me", Some(&olga)).await;
            let mut emea = vec![north.clone(), east.clone()];
            emea.sort();
            assert_eq!(
                me.body["subscriptions"][0]["assignments"][0]["reach"],
                json!({"sites": emea})
            );
            let lev = world.api.dev_login("lev@example.com").await;
            let me = world.api.get("/me", Some(&lev)).await;
            assert_eq!(
                me.body["subscriptions"][0]["assignments"][0]["reach"],
                json!({"sites": [south]})
            );
            // AND Olga holds grant_permissions at exactly the EMEA sites
            for (site, allowed) in [(&north, true), (&east, true), (&south, false)] {
                let list = world
                    .api
                    .get(
                        &world.path(&format!("/role-assignments?site_id={site}")),
                        Some(&olga),
                    )
                    .await;
                assert_eq!(
                    list.status,
                    if allowed { 200 } else { 403 },
                    "{site}: {list:?}"
                );
                let grant = world
                    .assign(&olga, json!({"principal": "p@example.com", "role": "security_reader", "site_id": site}))
                    .await;
                assert_eq!(
                    grant.status,
                    if allowed { 201 } else { 403 },
                    "{site}: {grant:?}"
                );
            }
            // AND assigning over a device group needs subscription scope
            let over_group = world
                .assign(
                    &olga,
                    json!({"principal": "q@example.com", "role": "security_reader",
                    "device_group_id": by_tags.body["id"]}),
                )
                .await;
            assert_eq!(over_group.status, 403, "{over_group:?}");
        }
    );
}
