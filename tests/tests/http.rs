//! The HTTP API end to end: the real `vigil` binary on 127.0.0.1, called over HTTP.

use serde_json::json;
use vigil_tests::vigil::Vigil;

#[tokio::test]
async fn a_new_user_signs_in_and_has_no_subscriptions() {
    let vigil = Vigil::start().await;
    let api = vigil.api();
    // GIVEN a token from dev-login
    let token = api.dev_login("Ada@Example.com").await;
    // WHEN the user asks who they are
    let me = api.get("/me", Some(&token)).await;
    // THEN the email is the normalised one, with no subscriptions yet
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.body["email"], "ada@example.com");
    assert_eq!(me.body["subscriptions"], json!([]));
}

vigil_tests::on_both_stores!(
    creating_a_subscription_makes_the_creator_its_owner,
    |vigil: Vigil| async move {
        let api = vigil.api();
        let token = api.dev_login("ada@example.com").await;
        // WHEN a subscription is created
        let created = api
            .post(
                "/subscriptions",
                Some(&token),
                json!({"name": "Plant North"}),
            )
            .await;
        // THEN it is 201 with an id and the name
        assert_eq!(created.status, 201, "{created:?}");
        let id = created.body["id"].as_str().expect("an id").to_owned();
        assert_eq!(created.body["name"], "Plant North");
        // AND it is listed
        let list = api.get("/subscriptions", Some(&token)).await;
        assert_eq!(list.status, 200);
        assert_eq!(
            list.body["items"],
            json!([{"id": id, "name": "Plant North"}])
        );
        assert_eq!(list.body["next_cursor"], json!(null));
        // AND the creator holds the owner role at subscription scope
        let me = api.get("/me", Some(&token)).await;
        let subscription = &me.body["subscriptions"][0];
        assert_eq!(subscription["id"], id.as_str());
        assert_eq!(subscription["assignments"][0]["role"], "owner");
        assert_eq!(subscription["assignments"][0]["site_id"], json!(null));
    }
);

#[tokio::test]
async fn a_user_sees_only_their_own_subscriptions() {
    let vigil = Vigil::start().await;
    let api = vigil.api();
    let ada = api.dev_login("ada@example.com").await;
    let bob = api.dev_login("bob@example.com").await;
    api.post("/subscriptions", Some(&ada), json!({"name": "Ada's"}))
        .await;
    // WHEN Bob lists subscriptions
    let list = api.get("/subscriptions", Some(&bob)).await;
    // THEN he sees none of Ada's
    assert_eq!(list.body["items"], json!([]));
}

vigil_tests::on_both_stores!(
    subscriptions_are_listed_in_pages_with_an_opaque_cursor,
    |vigil: Vigil| async move {
        let api = vigil.api();
        let token = api.dev_login("ada@example.com").await;
        for n in 0..5 {
            let created = api
                .post(
                    "/subscriptions",
                    Some(&token),
                    json!({"name": format!("S{n}")}),
                )
                .await;
            assert_eq!(created.status, 201);
        }
        // WHEN listing two at a time
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/subscriptions?limit=2&cursor={c}"),
                None => "/subscriptions?limit=2".to_owned(),
            };
            let page = api.get(&path, Some(&token)).await;
            assert_eq!(page.status, 200, "{page:?}");
            let items = page.body["items"].as_array().unwrap();
            assert!(items.len() <= 2);
            seen.extend(items.iter().map(|s| s["name"].as_str().unwrap().to_owned()));
            cursor = page.body["next_cursor"].as_str().map(str::to_owned);
            if cursor.is_none() {
                break;
            }
        }
        // THEN every subscription is seen exactly once
        seen.sort();
        assert_eq!(seen, ["S0", "S1", "S2", "S3", "S4"]);
    }
);

#[tokio::test]
async fn bad_input_is_refused_in_the_contracts_format_and_changes_nothing() {
    let vigil = Vigil::start().await;
    let api = vigil.api();
    let token = api.dev_login("ada@example.com").await;

    let malformed = api
        .post_raw("/subscriptions", Some(&token), b"{\"name\": ".to_vec())
        .await;
    assert_eq!(
        (malformed.status, malformed.error_code()),
        (400, "invalid"),
        "{malformed:?}"
    );

    let empty = api
        .post("/subscriptions", Some(&token), json!({"name": "   "}))
        .await;
    assert_eq!((empty.status, empty.error_code()), (400, "invalid"));
    assert!(
        empty.error_message().contains("name"),
        "names the field: {empty:?}"
    );

    let wrong_type = api
        .post("/subscriptions", Some(&token), json!({"name": 7}))
        .await;
    assert_eq!(
        (wrong_type.status, wrong_type.error_code()),
        (400, "invalid")
    );

    let unknown_field = api
        .post(
            "/subscriptions",
            Some(&token),
            json!({"name": "x", "owner": "y"}),
        )
        .await;
    assert_eq!(
        (unknown_field.status, unknown_field.error_code()),
        (400, "invalid")
    );

    let bad_email = api
        .post("/auth/dev-login", None, json!({"email": "not-an-email"}))
        .await;
    assert_eq!((bad_email.status, bad_email.error_code()), (400, "invalid"));
    assert!(bad_email.error_message().contains("email"), "{bad_email:?}");

    let bad_limit = api.get("/subscriptions?limit=0", Some(&token)).await;
    assert_eq!((bad_limit.status, bad_limit.error_code()), (400, "invalid"));

    let forged_cursor = api.get("/subscriptions?cursor=AAAA", Some(&token)).await;
    assert_eq!(
        (forged_cursor.status, forged_cursor.error_code()),
        (400, "invalid")
    );

    // AND nothing was created by any of them
    let list = api.get("/subscriptions", Some(&token)).await;
    assert_eq!(list.body["items"], json!([]));
}

#[tokio::test]
async fn missing_malformed_and_forged_tokens_are_unauthenticated() {
    let vigil = Vigil::start().await;
    let other = Vigil::start().await;
    let api = vigil.api();
    // A token signed by another Vigil (another key) is forged here.
    let forged = other.api().dev_login("ada@example.com").await;
    let cases = [
        ("no token", None),
        ("garbage", Some("not-a-jwt")),
        ("forged", Some(forged.as_str())),
    ];
    for (case, token) in cases {
        for answer in [
            api.get("/me", token).await,
            api.get("/subscriptions", token).await,
            api.post("/subscriptions", token, json!({"name": "x"}))
                .await,
        ] {
            assert_eq!(
                (answer.status, answer.error_code()),
                (401, "unauthenticated"),
                "{case}: {answer:?}"
            );
        }
    }
    // AND a forged token created nothing
    let token = api.dev_login("ada@example.com").await;
    assert_eq!(
        api.get("/subscriptions", Some(&token)).await.body["items"],
        json!([])
    );
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_too_large() {
    let vigil = Vigil::start().await;
    let api = vigil.api();
    let token = api.dev_login("ada@example.com").await;
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(1024 * 1024 + 1));
    let answer = api
        .post_raw("/subscriptions", Some(&token), huge.into_bytes())
        .await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (413, "too_large"),
        "{answer:?}"
    );
    assert!(answer.error_message().contains("1 MiB"));
}

#[tokio::test]
async fn unknown_api_paths_are_not_found_in_the_contracts_format() {
    let vigil = Vigil::start().await;
    let answer = vigil.api().get("/no-such-thing", None).await;
    assert_eq!((answer.status, answer.error_code()), (404, "not_found"));
}

#[tokio::test]
async fn the_spa_is_served_for_any_other_path() {
    let vigil = Vigil::start().await;
    for path in ["/", "/some/client/route"] {
        let response = reqwest::get(format!("{}{path}", vigil.base)).await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let html = response.text().await.unwrap();
        assert!(
            html.contains("<title>Vigil</title>"),
            "{path} serves index.html"
        );
    }
}

#[tokio::test]
async fn tokens_and_data_survive_kill_9() {
    let vigil = Vigil::start().await;
    let api = vigil.api();
    let token = api.dev_login("ada@example.com").await;
    let created = api
        .post("/subscriptions", Some(&token), json!({"name": "Durable"}))
        .await;
    assert_eq!(created.status, 201);
    // WHEN the process is killed with SIGKILL right after the acknowledgement
    let vigil = vigil.kill_and_restart().await;
    // THEN the old token still works and the subscription is there
    let list = vigil.api().get("/subscriptions", Some(&token)).await;
    assert_eq!(list.status, 200, "{list:?}");
    assert_eq!(list.body["items"][0]["id"], created.body["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_stream_finishes_what_it_acknowledged_and_half_applies_nothing() {
    let vigil = Vigil::start().await;
    let fleet = vigil_tests::fleet::Fleet::new(&vigil).await;
    let sensor = fleet.site_with_a_sensor().await;
    // GIVEN three writers with one sensor's token streaming batches of 10 new alerts, each
    // batch's alerts titled by the batch
    const WRITERS: usize = 3;
    const PER_BATCH: usize = 10;
    let url = format!("{}/api/ingest/alerts", vigil.base);
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (url, token) = (url.clone(), sensor.token.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let (mut acknowledged, mut unanswered) = (Vec::new(), Vec::new());
                for n in 0.. {
                    let batch = format!("w{writer}b{n}");
                    let alerts: Vec<_> = (0..PER_BATCH)
                        .map(|i| {
                            vigil_tests::fleet::detection(
                                &format!("Batch {batch}"),
                                &format!("10.{writer}.{}.{i}", n % 250),
                                false,
                            )
                        })
                        .collect();
                    let sent = client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&json!({ "alerts": alerts }))
                        .send()
                        .await;
                    match sent {
                        Ok(answer) if answer.status() == 202 => acknowledged.push(batch),
                        // Refused or cut off: the server is going; stop after this one.
                        _ => {
                            unanswered.push(batch);
                            return (acknowledged, unanswered);
                        }
                    }
                }
                unreachable!()
            })
        })
        .collect();
    // WHEN the server gets SIGTERM in the middle of the stream
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let (exited, vigil) = vigil.terminate_and_restart().await;
    let mut acknowledged = Vec::new();
    let mut unanswered = Vec::new();
    for writer in writers {
        let (acked, not) = writer.await.unwrap();
        acknowledged.extend(acked);
        unanswered.extend(not);
    }
    // THEN it exited 0, after acknowledging a stream of writes
    assert!(exited.success(), "{exited:?}");
    assert!(acknowledged.len() >= 10, "{}", acknowledged.len());
    // AND after the restart every acknowledged batch is there whole, and each other
    // batch whole or absent
    let listed = vigil_tests::fleet::Fleet {
        api: vigil.api(),
        owner: fleet.owner.clone(),
        sub: fleet.sub.clone(),
    }
    .all("/alerts", 500)
    .await;
    let count = |batch: &str| {
        let title = format!("Batch {batch}");
        listed
            .iter()
            .filter(|alert| alert["title"] == title.as_str())
            .count()
    };
    for batch in &acknowledged {
        assert_eq!(count(batch), PER_BATCH, "acknowledged batch {batch}");
    }
    for batch in &unanswered {
        assert!(
            [0, PER_BATCH].contains(&count(batch)),
            "batch {batch}: {}",
            count(batch)
        );
    }
    assert_eq!(
        listed.len(),
        PER_BATCH * (acknowledged.len() + unanswered.iter().filter(|b| count(b) > 0).count()),
        "nothing else was written"
    );
}

#[tokio::test]
async fn dev_login_can_be_turned_off() {
    let vigil = Vigil::start_with(&["--dev-login", "off"]).await;
    let answer = vigil
        .api()
        .post("/auth/dev-login", None, json!({"email": "ada@example.com"}))
        .await;
    assert_eq!((answer.status, answer.error_code()), (404, "not_found"));
}
