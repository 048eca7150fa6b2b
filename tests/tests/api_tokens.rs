//! API tokens: service principals for scripts and SIEMs, end to end against the real
//! `vigil` binary on both stores — created with one role at one scope, the secret
//! shown once, authorized exactly as a user holding that role, revoked at once, never
//! valid past their expiry nor on ingest.

use functions::store::TableWrite;
use serde_json::{Value, json};
use shared::model::SubscriptionId;
use vigil_tests::embedded::InProcess;
use vigil_tests::fleet::{Fleet, detection};
use vigil_tests::vigil::{Backend, Vigil};

const DOMAIN: &str = "@api-tokens.vigil.invalid";

/// `POST /api-tokens` as the holder of `token`.
async fn create(world: &Fleet, token: &str, body: Value) -> vigil_tests::vigil::Answer {
    world
        .api
        .post(&world.path("/api-tokens"), Some(token), body)
        .await
}

/// A new token's id and secret, created by the owner.
async fn token(world: &Fleet, role: &str, site: Option<&str>) -> (String, String) {
    let created = create(
        world,
        &world.owner,
        json!({"name": format!("{role} script"), "role": role, "site_id": site, "expires_in_days": 30}),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    (
        created.body["token"]["id"]
            .as_str()
            .expect("an id")
            .to_owned(),
        created.body["secret"]
            .as_str()
            .expect("a secret")
            .to_owned(),
    )
}

async fn tokens(world: &Fleet) -> Vec<Value> {
    let list = world.get("/api-tokens").await;
    assert_eq!(list.status, 200, "{list:?}");
    list.body["items"].as_array().expect("items").clone()
}

vigil_tests::on_both_stores!(
    a_token_is_created_with_its_role_and_its_secret_is_shown_once,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        let north = world.site("North").await;
        // WHEN the owner creates a token reading Plant North for 30 days
        let created = create(
            &world,
            &world.owner,
            json!({"name": "SIEM export", "role": "security_reader", "site_id": north, "expires_in_days": 30}),
        )
        .await;
        // THEN it is 201 with the token and its secret
        assert_eq!(created.status, 201, "{created:?}");
        let secret = created.body["secret"].as_str().expect("a secret");
        assert!(secret.starts_with("vat_") && secret.len() > 40, "{secret}");
        let token = &created.body["token"];
        let id = token["id"].as_str().expect("an id");
        assert_eq!(token["name"], "SIEM export");
        assert_eq!(token["role"], "security_reader");
        assert_eq!(token["site_id"], north.as_str());
        assert_eq!(token["created_by"], "owner@example.com");
        assert_eq!(token["last_used_at"], json!(null));
        let principal = token["principal"].as_str().expect("a principal");
        assert_eq!(principal, format!("{id}{DOMAIN}").to_lowercase());
        let created_at = time::OffsetDateTime::parse(
            token["created_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let expires_at = time::OffsetDateTime::parse(
            token["expires_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert_eq!(expires_at - created_at, time::Duration::days(30));
        // AND the list shows it without the secret, and its role is an assignment at the site
        let listed = tokens(&world).await;
        assert_eq!(listed, vec![token.clone()]);
        assert!(!listed[0].to_string().contains(secret));
        let assignment = world.assignment_of(principal, "security_reader").await;
        let assignments = world.assignments().await;
        let held = assignments
            .iter()
            .find(|a| a["id"] == assignment.as_str())
            .unwrap();
        assert_eq!(held["site_id"], north.as_str());
        // AND the audit log records the token, never its secret
        let audit = world.audit().await;
        assert_eq!(audit[0]["action"], "api_token.create");
        assert_eq!(audit[0]["target"], id);
        assert_eq!(audit[0]["site_id"], north.as_str());
        assert_eq!(audit[0]["after"]["principal"], principal);
        assert!(!Value::Array(audit).to_string().contains(secret));
    }
);

vigil_tests::on_both_stores!(
    a_token_is_authorized_exactly_like_a_user_holding_its_role_at_its_scope,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        let (north, south, at_north, at_south) = world.north_and_south().await;
        world
            .raise(&at_north, vec![detection("north", "10.0.0.1", false)])
            .await;
        world
            .raise(&at_south, vec![detection("south", "10.0.0.2", false)])
            .await;
        let mut seen = std::collections::BTreeSet::new();
        for (role, site) in [
            ("security_reader", Some(north.as_str())),
            ("security_admin", Some(north.as_str())),
            ("contributor", None),
            ("security_reader", None),
        ] {
            // GIVEN a token and a person holding the same role at the same scope
            let (_, secret) = token(&world, role, site).await;
            let person = format!("{role}-{}@example.com", site.unwrap_or("all"));
            let user = world.member(&person, role, site).await;
            // WHEN both make the same requests
            let requests: Vec<(&str, String, Option<Value>)> = vec![
                ("GET", "/devices".into(), None),
                ("GET", "/sites".into(), None),
                ("GET", "/sensors".into(), None),
                ("GET", "/alerts".into(), None),
                ("GET", format!("/sites/{south}"), None),
                ("GET", "/role-assignments".into(), None),
                (
                    "PATCH",
                    format!("/sites/{north}"),
                    Some(json!({"tags": {"line": "a"}})),
                ),
                (
                    "PATCH",
                    format!("/sites/{south}"),
                    Some(json!({"tags": {"line": "b"}})),
                ),
                (
                    "POST",
                    "/sites".into(),
                    Some(json!({"display_name": "Plant"})),
                ),
            ];
            for (method, rest, body) in requests {
                let path = world.path(&rest);
                let send = |bearer: String, who: &str| {
                    let api = world.api.clone();
                    let path = path.clone();
                    // Each creates its own site: names are unique in a subscription.
                    let body = body.clone().map(|mut body| {
                        if method == "POST" {
                            body["display_name"] =
                                format!("{role} {} {who}", site.is_some()).into();
                        }
                        body
                    });
                    async move {
                        match method {
                            "GET" => api.get(&path, Some(&bearer)).await,
                            "PATCH" => api.patch(&path, Some(&bearer), body.unwrap()).await,
                            _ => api.post(&path, Some(&bearer), body.unwrap()).await,
                        }
                    }
                };
                let as_token = send(secret.clone(), "token").await;
                let as_user = send(user.clone(), "person").await;
                // THEN the token gets what the person gets
                assert_eq!(
                    as_token.status, as_user.status,
                    "{role} at {site:?}: {method} {rest}: token {as_token:?} user {as_user:?}"
                );
                seen.insert(as_user.status);
                if method == "GET" && as_user.status == 200 && rest.starts_with("/a") {
                    assert_eq!(
                        as_token.body["items"], as_user.body["items"],
                        "{method} {rest}"
                    );
                }
            }
        }
        assert!(
            [200, 201, 403].iter().all(|status| seen.contains(status)),
            "the requests should be allowed and refused in turn: {seen:?}"
        );
        // AND a site-scoped reader's token lists only that site's alerts
        let (_, reader) = token(&world, "security_reader", Some(&north)).await;
        let alerts = world.api.get(&world.path("/alerts"), Some(&reader)).await;
        assert_eq!(alerts.status, 200, "{alerts:?}");
        let titles: Vec<&Value> = alerts.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| &a["title"])
            .collect();
        assert_eq!(titles, vec!["north"]);
    }
);

vigil_tests::on_both_stores!(
    a_revoked_token_is_refused_at_once_and_its_role_goes_with_it,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        let (id, secret) = token(&world, "security_reader", None).await;
        let reads = world.api.get(&world.path("/sites"), Some(&secret)).await;
        assert_eq!(reads.status, 200, "{reads:?}");
        // WHEN the owner revokes it
        let revoked = world.delete(&format!("/api-tokens/{id}")).await;
        assert_eq!(revoked.status, 204, "{revoked:?}");
        // THEN its very next request is 401, and so is /me
        let refused = world.api.get(&world.path("/sites"), Some(&secret)).await;
        assert_eq!(refused.status, 401, "{refused:?}");
        assert_eq!(refused.error_code(), "unauthenticated");
        assert_eq!(world.api.get("/me", Some(&secret)).await.status, 401);
        // AND it is no longer listed, nor is its assignment, and the revocation is audited
        assert_eq!(tokens(&world).await, Vec::<Value>::new());
        let principal = format!("{id}{DOMAIN}").to_lowercase();
        assert!(
            !world
                .assignments()
                .await
                .iter()
                .any(|a| a["principal"] == principal.as_str()),
            "its assignment is gone"
        );
        let audit = world.audit().await;
        assert_eq!(audit[0]["action"], "api_token.delete");
        assert_eq!(audit[0]["target"], id.as_str());
        assert_eq!(audit[0]["before"]["principal"], principal.as_str());
        assert_eq!(audit[0]["after"], json!(null));
        // AND revoking it again is 404
        let again = world.delete(&format!("/api-tokens/{id}")).await;
        assert_eq!(again.status, 404, "{again:?}");
    }
);

vigil_tests::on_both_stores!(
    a_token_is_never_valid_on_ingest_and_a_sensor_token_is_no_api_token,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        let sensor = world.site_with_a_sensor().await;
        let (_, secret) = token(&world, "owner", None).await;
        // WHEN an owner's API token posts alerts to ingest
        let ingest = world
            .api
            .post(
                "/ingest/alerts",
                Some(&secret),
                json!({"alerts": [detection("x", "10.0.0.9", false)]}),
            )
            .await;
        // THEN it is 401 and nothing is raised
        assert_eq!(ingest.status, 401, "{ingest:?}");
        assert_eq!(world.get("/alerts").await.body["items"], json!([]));
        // AND a sensor token shaped like an API token is refused on the user API
        let forged = format!("vat_{}", &sensor.token[4..]);
        let refused = world.api.get(&world.path("/sites"), Some(&forged)).await;
        assert_eq!(refused.status, 401, "{refused:?}");
    }
);

vigil_tests::on_both_stores!(
    only_holders_of_grant_permissions_at_the_scope_create_or_revoke_tokens,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        let (north, south, _, _) = world.north_and_south().await;
        let body = |site: Option<&str>| json!({"name": "script", "role": "security_reader", "site_id": site, "expires_in_days": 7});
        // GIVEN a Security Admin of the subscription, and an Owner of Plant North
        let admin = world
            .member("admin@example.com", "security_admin", None)
            .await;
        let north_owner = world
            .member("north@example.com", "owner", Some(&north))
            .await;
        // THEN the admin (no grant_permissions) may create none
        for site in [None, Some(north.as_str())] {
            let attempt = create(&world, &admin, body(site)).await;
            assert_eq!(attempt.status, 403, "{attempt:?}");
            assert_eq!(attempt.error_code(), "forbidden");
        }
        // AND the site owner creates one at North, but none at South or subscription-wide
        let at_north = create(&world, &north_owner, body(Some(&north))).await;
        assert_eq!(at_north.status, 201, "{at_north:?}");
        for site in [None, Some(south.as_str())] {
            let attempt = create(&world, &north_owner, body(site)).await;
            assert_eq!(attempt.status, 403, "{site:?}: {attempt:?}");
        }
        // AND lists North's tokens only when asking for North
        let own = world
            .api
            .get(
                &world.path(&format!("/api-tokens?site_id={north}")),
                Some(&north_owner),
            )
            .await;
        assert_eq!(own.status, 200, "{own:?}");
        assert_eq!(own.body["items"].as_array().unwrap().len(), 1);
        let all = world
            .api
            .get(&world.path("/api-tokens"), Some(&north_owner))
            .await;
        assert_eq!(all.status, 403, "{all:?}");
        // AND a subscription-wide token is revoked only by a subscription-wide granter
        let (wide, _) = token(&world, "security_reader", None).await;
        let attempt = world
            .delete_as(&north_owner, &format!("/api-tokens/{wide}"))
            .await;
        assert_eq!(attempt.status, 403, "{attempt:?}");
        assert_eq!(tokens(&world).await.len(), 2);
        let north_token = at_north.body["token"]["id"].as_str().unwrap();
        let own = world
            .delete_as(&north_owner, &format!("/api-tokens/{north_token}"))
            .await;
        assert_eq!(own.status, 204, "{own:?}");
    }
);

vigil_tests::on_both_stores!(
    bad_token_requests_are_refused_naming_the_field_and_change_nothing,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        let valid = json!({"name": "script", "role": "security_reader", "site_id": null, "expires_in_days": 30});
        let with = |field: &str, value: Value| {
            let mut body = valid.clone();
            body[field] = value;
            body
        };
        let before = (world.assignments().await, world.audit().await);
        for (body, field) in [
            (with("name", json!("")), "name"),
            (with("role", json!("emperor")), "role"),
            (with("role", json!("no-such-custom-role")), "role"),
            (with("site_id", json!("no-such-site")), "site_id"),
            (with("expires_in_days", json!(0)), "expires_in_days"),
            (with("expires_in_days", json!(366)), "expires_in_days"),
            (with("expires_in_days", json!("30")), "expires_in_days"),
            (with("secret", json!("mine")), "secret"),
            (
                json!({"name": "script", "role": "security_reader"}),
                "expires_in_days",
            ),
        ] {
            let refused = create(&world, &world.owner, body.clone()).await;
            assert_eq!(refused.status, 400, "{body}: {refused:?}");
            assert_eq!(refused.error_code(), "invalid");
            assert!(
                refused.error_message().contains(field),
                "{body}: {} should name {field}",
                refused.error_message()
            );
        }
        assert_eq!((world.assignments().await, world.audit().await), before);
        assert_eq!(tokens(&world).await, Vec::<Value>::new());
    }
);

vigil_tests::on_both_stores!(
    a_token_principal_is_reachable_only_through_its_secret,
    |vigil: Vigil| async move {
        let world = Fleet::new(&vigil).await;
        let (id, _) = token(&world, "owner", None).await;
        let principal = format!("{id}{DOMAIN}").to_lowercase();
        // THEN nobody signs in as it
        let login = world
            .api
            .post("/auth/dev-login", None, json!({"email": principal}))
            .await;
        assert_eq!(login.status, 400, "{login:?}");
        assert!(login.error_message().contains("email"), "{login:?}");
        // AND no assignment can be given to it, nor its own taken from it
        let given = world
            .assign(
                &world.owner,
                json!({"principal": principal, "role": "contributor"}),
            )
            .await;
        assert_eq!(given.status, 400, "{given:?}");
        assert!(given.error_message().contains("principal"), "{given:?}");
        let own = world.assignment_of(&principal, "owner").await;
        let removed = world.delete(&format!("/role-assignments/{own}")).await;
        assert_eq!(removed.status, 409, "{removed:?}");
        // AND an owner token does not count as the subscription's last owner
        let person = world.assignment_of("owner@example.com", "owner").await;
        let last = world.delete(&format!("/role-assignments/{person}")).await;
        assert_eq!(last.status, 409, "{last:?}");
        assert!(last.error_message().contains("last owner"), "{last:?}");
    }
);

vigil_tests::for_each_store!(
    an_expired_token_is_refused_and_a_used_one_says_when,
    |backend: Backend| async move {
        let vigil = InProcess::start_on(backend).await;
        let world = Fleet::on(vigil.api(), "owner@example.com").await;
        let (_, secret) = token(&world, "security_reader", None).await;
        // WHEN the token is used
        let used = world.api.get(&world.path("/sites"), Some(&secret)).await;
        assert_eq!(used.status, 200, "{used:?}");
        // THEN the list says when, to the minute at most
        let listed = tokens(&world).await;
        let last_used = time::OffsetDateTime::parse(
            listed[0]["last_used_at"].as_str().expect("a last use"),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert!((time::OffsetDateTime::now_utc() - last_used).abs() < time::Duration::minutes(1));
        // GIVEN its record as it will be once its expiry has passed
        let key = functions::keys::api_token(&functions::http::sensor::token_hash(&secret));
        let stored = vigil.table.item(&key).await.expect("the token's record");
        let mut record: functions::records::ApiTokenRecord =
            functions::records::decode(&stored).unwrap();
        assert_eq!(
            record.subscription_id,
            SubscriptionId::parse(world.sub.as_str()).unwrap()
        );
        record.token.expires_at = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
        vigil
            .table
            .put(
                functions::records::item(key, &record).unwrap(),
                functions::store::Condition::Always,
            )
            .await
            .unwrap();
        // THEN it is 401, saying it expired
        let expired = world.api.get(&world.path("/sites"), Some(&secret)).await;
        assert_eq!(expired.status, 401, "{expired:?}");
        assert!(expired.error_message().contains("expired"), "{expired:?}");
    }
);
