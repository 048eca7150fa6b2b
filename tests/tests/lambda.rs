//! Every Lambda function, run by `cargo lambda watch` on 127.0.0.1 against a local
//! DynamoDB-API server, answers a real request, with user tokens verified as deployed:
//! the keys of a real OpenID provider found through its discovery document.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vigil_tests::moto::Moto;
use vigil_tests::oidc::{OpenIdProvider, SigningKey};
use vigil_tests::vigil::{free_port, workspace_root};

const CURSOR_SECRET: [u8; 32] = [9; 32];

struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn every_function_answers_under_cargo_lambda_watch() {
    let moto = tokio::task::spawn_blocking(Moto::shared).await.unwrap();
    let table = format!("vigil-lambda-{}", functions::ids::new().to_lowercase());
    moto.table(&table, CURSOR_SECRET).await;
    let key = SigningKey::generate();
    let provider = OpenIdProvider::start(&key, &[]).await;
    let port = free_port();
    let settings = [
        ("TABLE_NAME", table.clone()),
        ("JWT_ISSUER", provider.issuer()),
        ("JWT_AUDIENCE", provider.client_id.clone()),
        ("CURSOR_SECRET", hex(&CURSOR_SECRET)),
    ];
    let mut env_vars: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
    env_vars.extend(moto.child_env().iter().map(|(k, v)| format!("{k}={v}")));
    let _watch = Watch(
        Command::new("cargo")
            .args([
                "lambda",
                "watch",
                "--package",
                "functions",
                "-A",
                "127.0.0.1",
                "-P",
            ])
            .arg(port.to_string())
            .arg("--env-vars")
            .arg(env_vars.join(","))
            .current_dir(workspace_root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cargo lambda runs (installed by `cargo xtask bootstrap`)"),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = key.sign(&serde_json::json!({
        "iss": provider.issuer(),
        "aud": provider.client_id,
        "sub": "ada",
        "email": "ada@example.com",
        "iat": now,
        "exp": now + 3600,
    }));
    // The first call to each function builds it: allow minutes.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}/lambda-url");
    let deadline = Instant::now() + Duration::from_secs(120);
    let created = loop {
        let attempt = client
            .post(format!("{base}/identity/api/subscriptions"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": "Lambda"}))
            .send()
            .await;
        match attempt {
            Ok(response) => break response,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            Err(error) => panic!("cargo lambda watch never answered: {error}"),
        }
    };
    assert_eq!(
        created.status(),
        201,
        "identity: {:?}",
        created.text().await
    );
    let subscription: serde_json::Value = created.json().await.unwrap();
    let sub = subscription["id"].as_str().unwrap();

    // The identity function serves the OpenAPI document of every deployed function,
    // without a token, and without the local binary's dev-login.
    let document = client
        .get(format!("{base}/identity/api/openapi.json"))
        .send()
        .await
        .unwrap();
    let status = document.status();
    let text = document.text().await.unwrap_or_default();
    assert_eq!(status, 200, "identity /api/openapi.json: {text}");
    let document: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(document["paths"]["/api/ingest/heartbeat"]["post"].is_object());
    assert!(document["paths"]["/api/subscriptions/{sub}/alerts"]["get"].is_object());
    assert!(document["paths"]["/api/auth/dev-login"].is_null());

    // One read per function, each against the table on moto, answering what is there:
    // the caller and their new subscription, the built-in roles, and empty lists.
    let empty = serde_json::json!([]);
    let reads = [
        (
            "identity",
            "/api/me".to_owned(),
            "/subscriptions/0/id",
            serde_json::json!(sub),
        ),
        (
            "rbac",
            "/api/roles".to_owned(),
            "/items/0/id",
            serde_json::json!("security_reader"),
        ),
        (
            "plans",
            format!("/api/subscriptions/{sub}/plans"),
            "/items",
            empty.clone(),
        ),
        (
            "sites",
            format!("/api/subscriptions/{sub}/sites"),
            "/items",
            empty.clone(),
        ),
        (
            "sensors",
            format!("/api/subscriptions/{sub}/sensors"),
            "/items",
            empty.clone(),
        ),
        (
            "alerts",
            format!("/api/subscriptions/{sub}/alerts"),
            "/items",
            empty.clone(),
        ),
        (
            "devices",
            format!("/api/subscriptions/{sub}/devices"),
            "/items",
            empty,
        ),
    ];
    for (function, path, pointer, expected) in reads {
        let response = client
            .get(format!("{base}/{function}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        assert_eq!(status, 200, "{function} {path}: {body}");
        assert_eq!(
            body.pointer(pointer),
            Some(&expected),
            "{function} {path}: {body}"
        );
    }
    // Ingest refuses a user token: the sensor-token check ran against the table.
    let ingest = client
        .post(format!("{base}/ingest/api/ingest/heartbeat"))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(ingest.status(), 401);
}
