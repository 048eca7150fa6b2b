//! Roles, role assignments, custom roles, device groups and the audit log, end to end
//! against the real `vigil` binary on both stores.

use serde_json::{Value, json};
use shared::authz::{BuiltInRole, Permission};
use vigil_tests::vigil::{Answer, Api, Vigil};

/// A subscription owned by `owner@example.com`.
struct World {
    api: Api,
    owner: String,
    sub: String,
}

impl World {
    async fn new(vigil: &Vigil) -> Self {
        let api = vigil.api();
        let owner = api.dev_login("owner@example.com").await;
        let created = api
            .post("/subscriptions", Some(&owner), json!({"name": "Plants"}))
            .await;
        assert_eq!(created.status, 201, "{created:?}");
        let sub = created.body["id"].as_str().expect("an id").to_owned();
        World { api, owner, sub }
    }

    fn path(&self, rest: &str) -> String {
        format!("/subscriptions/{}{rest}", self.sub)
    }

    async fn assign(&self, token: &str, body: Value) -> Answer {
        self.api
            .post(&self.path("/role-assignments"), Some(token), body)
            .await
    }

    /// Gives `email` the role at subscription scope (as the owner) and signs them in.
    async fn member(&self, email: &str, role: &str) -> String {
        let given = self
            .assign(
                &self.owner,
                json!({"principal": email, "role": role, "site_id": null}),
            )
            .await;
        assert_eq!(given.status, 201, "{given:?}");
        self.api.dev_login(email).await
    }

    async fn assignments(&self) -> Value {
        let list = self
            .api
            .get(&self.path("/role-assignments?limit=500"), Some(&self.owner))
            .await;
        assert_eq!(list.status, 200, "{list:?}");
        list.body["items"].clone()
    }

    async fn audit(&self) -> Value {
        let log = self
            .api
            .get(&self.path("/audit-log?limit=500"), Some(&self.owner))
            .await;
        assert_eq!(log.status, 200, "{log:?}");
        log.body["items"].clone()
    }
}

// ----- POST /role-assignments -----

vigil_tests::on_both_stores!(
    an_owner_gives_a_user_a_role_and_the_user_then_belongs_to_the_subscription,
    |vigil: Vigil| async move {
        let world = World::new(&vigil).await;
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
        assert!(
            all.as_array()
                .unwrap()
                .iter()
                .any(|a| a["id"] == id.as_str())
        );
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
        let world = World::new(&vigil).await;
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
        let world = World::new(&vigil).await;
        for role in BuiltInRole::ALL {
            // GIVEN a user holding the built-in role at subscription scope
            let email = format!("{}-holder@example.com", role.id());
            let token = world.member(&email, role.id()).await;
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
        let world = World::new(&vigil).await;
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
        let world = World::new(&vigil).await;
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
