//! User tokens from a real OpenID provider, and attacks on them, over real HTTP: a
//! `vigil serve` that accepts the provider's ID tokens (found by discovery), and every
//! forged, stale or misplaced token answered `401` with nothing changed.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use vigil_tests::fleet::Fleet;
use vigil_tests::oidc::{OpenIdProvider, SigningKey};
use vigil_tests::vigil::{Vigil, expect, free_port};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// A `vigil serve` that accepts `provider`'s ID tokens (and, on loopback, dev-login).
async fn vigil_trusting(provider: &OpenIdProvider) -> Vigil {
    let issuer = provider.issuer();
    Vigil::start_with(&[
        "--oidc-issuer",
        &issuer,
        "--oidc-client-id",
        &provider.client_id,
    ])
    .await
}

/// The claims the provider puts in an ID token for `email`, valid for ten minutes.
fn id_token_claims(provider: &OpenIdProvider, email: &str) -> Value {
    let now = now();
    json!({
        "iss": provider.issuer(),
        "aud": provider.client_id,
        "sub": email,
        "email": email,
        "iat": now,
        "exp": now + 600,
    })
}

fn with(mut claims: Value, field: &str, value: Value) -> Value {
    claims[field] = value;
    claims
}

#[tokio::test]
async fn forged_stale_and_misplaced_tokens_are_refused_with_401_and_change_nothing() {
    let key = SigningKey::generate();
    let provider = OpenIdProvider::start(&key, &[]).await;
    let vigil = vigil_trusting(&provider).await;
    let fleet = Fleet::owned_by(&vigil, "owner@example.com").await;
    let sensor = fleet.site_with_a_sensor().await;
    let sites_before = fleet.get("/sites").await.body;
    let audit_before = fleet.audit().await.len();

    // GIVEN the provider's ID token for the owner: it is accepted (the control)
    let owner = id_token_claims(&provider, "owner@example.com");
    let genuine = key.sign(&owner);
    let me = vigil.api().get("/me", Some(&genuine)).await;
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.body["email"], "owner@example.com");
    assert_eq!(me.body["subscriptions"][0]["id"], fleet.sub.as_str());

    let payload = URL_SAFE_NO_PAD.encode(owner.to_string());
    let attacker = SigningKey::generate();
    let hs256 = |secret: &[u8], kid: &str| {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, &owner, &EncodingKey::from_secret(secret)).unwrap()
    };
    let attacks: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!(
                "{}.{payload}.",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#)
            ),
        ),
        (
            "HS256 signed with the issuer's public key",
            hs256(key.public_pem.as_bytes(), &key.kid),
        ),
        ("a key id that is not the issuer's", attacker.sign(&owner)),
        (
            "another key under the issuer's key id",
            attacker.sign_as(&key.kid, &owner),
        ),
        (
            "expired",
            key.sign(&with(owner.clone(), "exp", json!(now() - 120))),
        ),
        (
            "not yet valid",
            key.sign(&with(owner.clone(), "nbf", json!(now() + 600))),
        ),
        (
            "issued in the future",
            key.sign(&with(owner.clone(), "iat", json!(now() + 3600))),
        ),
        (
            "another issuer",
            key.sign(&with(owner.clone(), "iss", json!("http://127.0.0.1:9"))),
        ),
        (
            "another audience",
            key.sign(&with(owner.clone(), "aud", json!("someone-else"))),
        ),
        ("a sensor's token", sensor.token.clone()),
        (
            "the signature of another token",
            format!(
                "{}.{}",
                genuine.rsplit_once('.').unwrap().0,
                key.sign(&id_token_claims(&provider, "eve@example.com"))
                    .rsplit_once('.')
                    .unwrap()
                    .1
            ),
        ),
    ];
    for (attack, token) in &attacks {
        // WHEN the token is used to read, and to create a site in the owner's subscription
        let read = vigil.api().get("/me", Some(token)).await;
        let write = fleet
            .api
            .post(
                &fleet.path("/sites"),
                Some(token),
                json!({"name": "Forged"}),
            )
            .await;
        // THEN both are refused as unauthenticated
        assert_eq!(read.status, 401, "{attack}: {read:?}");
        assert_eq!(write.status, 401, "{attack}: {write:?}");
        expect(&write, 401, "unauthenticated");
    }

    // A genuine token anywhere but the Authorization header counts for nothing.
    let in_query = vigil
        .api()
        .get(&format!("/me?access_token={genuine}"), None)
        .await;
    expect(&in_query, 401, "unauthenticated");
    // A user's token is no sensor's: ingest refuses it.
    let on_ingest = vigil
        .api()
        .post("/ingest/heartbeat", Some(&genuine), json!({}))
        .await;
    expect(&on_ingest, 401, "unauthenticated");

    // AND nothing changed: the same sites, no audit entry
    assert_eq!(fleet.get("/sites").await.body, sites_before);
    assert_eq!(fleet.audit().await.len(), audit_before);
}

#[tokio::test]
async fn a_groups_claim_grants_nothing_once_the_groups_assignment_is_deleted() {
    let key = SigningKey::generate();
    let provider = OpenIdProvider::start(&key, &[]).await;
    let vigil = vigil_trusting(&provider).await;
    let fleet = Fleet::owned_by(&vigil, "owner@example.com").await;
    let assigned = fleet
        .assign(
            &fleet.owner,
            json!({"principal": "group:tier-1", "role": "security_reader"}),
        )
        .await;
    assert_eq!(assigned.status, 201, "{assigned:?}");
    let assignment = assigned.body["id"].as_str().unwrap().to_owned();
    // GIVEN bob's ID token says he is in tier-1: he reads the subscription's sites
    let claims = with(
        id_token_claims(&provider, "bob@example.com"),
        "groups",
        json!(["tier-1"]),
    );
    let bob = key.sign(&claims);
    let path = fleet.path("/sites");
    assert_eq!(fleet.api.get(&path, Some(&bob)).await.status, 200);
    // WHEN the group's assignment is deleted (the token, still unexpired, is reused)
    let deleted = fleet
        .delete(&format!("/role-assignments/{assignment}"))
        .await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    // THEN the claim reaches nothing at once: the subscription is not even visible
    let after = fleet.api.get(&path, Some(&bob)).await;
    expect(&after, 404, "not_found");
    let me = vigil.api().get("/me", Some(&bob)).await;
    assert_eq!(me.body["subscriptions"], json!([]), "{me:?}");
}

#[tokio::test]
async fn a_rotated_provider_key_is_fetched_on_first_use_and_the_retired_one_refused() {
    let first = SigningKey::generate();
    let mut provider = OpenIdProvider::start(&first, &[]).await;
    let vigil = vigil_trusting(&provider).await;
    let claims = id_token_claims(&provider, "ada@example.com");
    let before = vigil.api().get("/me", Some(&first.sign(&claims))).await;
    assert_eq!(before.status, 200, "{before:?}");

    // WHEN the provider rotates to a new key (Vigil has only seen the first)
    let second = SigningKey::generate();
    provider.rotate_to(&second).await;
    // THEN a token signed with it is accepted at once, without a restart of Vigil
    let after = vigil.api().get("/me", Some(&second.sign(&claims))).await;
    assert_eq!(after.status, 200, "{after:?}");
    assert_eq!(after.body["email"], "ada@example.com");
    // AND the retired key, no longer published, signs nothing
    let retired = vigil.api().get("/me", Some(&first.sign(&claims))).await;
    expect(&retired, 401, "unauthenticated");
}

#[tokio::test]
async fn the_sign_in_configuration_names_the_provider_found_by_discovery() {
    let key = SigningKey::generate();
    let provider = OpenIdProvider::start(&key, &[]).await;
    let vigil = vigil_trusting(&provider).await;
    let config = vigil.api().get("/auth/config", None).await;
    assert_eq!(config.status, 200, "{config:?}");
    assert_eq!(config.body["dev_login"], true);
    let oidc = &config.body["oidc"];
    assert_eq!(oidc["issuer"], provider.issuer().as_str());
    assert_eq!(oidc["client_id"], "vigil-console");
    assert_eq!(
        oidc["authorization_endpoint"],
        format!("{}/auth", provider.issuer())
    );
    assert_eq!(
        oidc["token_endpoint"],
        format!("{}/token", provider.issuer())
    );
    assert_eq!(oidc["scope"], "openid email");

    // Without a provider, only dev-login is offered; with dev-login off, nothing.
    let plain = Vigil::start_with(&["--dev-login", "off"]).await;
    let config = plain.api().get("/auth/config", None).await;
    assert_eq!(config.body, json!({"dev_login": false, "oidc": null}));
}

#[tokio::test]
async fn a_provider_that_cannot_be_reached_stops_vigil_from_starting() {
    let vigil = std::process::Command::new(vigil_tests::vigil::vigil_binary())
        .args(["serve", "--addr", "127.0.0.1:0", "--dist", "dist"])
        .args([
            "--oidc-issuer",
            "http://127.0.0.1:9",
            "--oidc-client-id",
            "c",
        ])
        .arg("--data")
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(!vigil.status.success());
    let stderr = String::from_utf8_lossy(&vigil.stderr);
    assert!(
        stderr.contains("OpenID provider http://127.0.0.1:9"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_deployed_function_starts_without_its_provider_and_accepts_its_tokens_once_it_answers() {
    use functions::auth::{Authenticator, DISCOVERY_RETRY_INTERVAL};
    // GIVEN a deployed function's verifier, started while its provider does not answer
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let auth = Authenticator::oidc(&issuer, "vigil-console")
        .await
        .expect("a function starts without its provider");
    assert!(
        auth.oidc_sign_in().await.is_err(),
        "no sign-in settings yet"
    );

    // WHEN the provider comes up, and the retry interval has passed
    let key = SigningKey::generate();
    let provider = OpenIdProvider::start_on(port, &key, &[]).await;
    tokio::time::sleep(DISCOVERY_RETRY_INTERVAL).await;

    // THEN its tokens are accepted and the sign-in settings name it, without a restart
    let token = key.sign(&id_token_claims(&provider, "ada@example.com"));
    let principal = auth.verify(&token).await.expect("the provider's token");
    assert_eq!(principal.email.to_string(), "ada@example.com");
    let sign_in = auth
        .oidc_sign_in()
        .await
        .expect("discovered")
        .expect("a provider");
    assert_eq!(sign_in.issuer, issuer);
    assert_eq!(sign_in.token_endpoint, format!("{issuer}/token"));
}
