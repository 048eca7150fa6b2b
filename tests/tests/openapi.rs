//! The OpenAPI document the real `vigil` binary serves at `/api/openapi.json`: public,
//! valid OpenAPI 3, holding every contract endpoint, and describing only what is
//! really routed.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;
use vigil_tests::contract::ENDPOINTS;
use vigil_tests::vigil::Vigil;

/// The document, fetched without a token.
async fn served_document(vigil: &Vigil) -> Value {
    let response = reqwest::get(format!("{}/api/openapi.json", vigil.base))
        .await
        .expect("vigil answers");
    assert_eq!(response.status(), 200, "the document is public");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    response.json().await.expect("the document is JSON")
}

/// `(METHOD, path template)` of every operation of a document.
fn operations(document: &Value) -> Vec<(String, String)> {
    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            if METHODS.contains(&method.as_str()) {
                found.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    found
}

/// Every `$ref` in a JSON value.
fn references(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(target)) => {
                        found.insert(target.clone());
                    }
                    _ => references(inner, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, found)),
        _ => {}
    }
}

/// Follows a local JSON pointer (`#/components/schemas/Site`).
fn resolve<'a>(document: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    document.pointer(pointer)
}

#[tokio::test]
async fn the_document_is_public_valid_openapi_3() {
    // GIVEN a running vigil
    let vigil = Vigil::start().await;
    // WHEN the document is fetched without a token
    let document = served_document(&vigil).await;
    // THEN it is an OpenAPI 3 document of this API
    let version = document["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3."), "openapi: {version:?}");
    assert_eq!(document["info"]["title"], "Vigil API");
    assert!(document["info"]["version"].is_string());
    // AND the reference validator of the OpenAPI specification accepts it
    let file = tempfile::NamedTempFile::new().expect("a temp file");
    std::fs::write(file.path(), serde_json::to_vec(&document).unwrap()).unwrap();
    let output = Command::new("python3")
        .args([
            "-c",
            "import json, sys\n\
             from openapi_spec_validator import validate\n\
             validate(json.load(open(sys.argv[1])))",
        ])
        .arg(file.path())
        .output()
        .expect("python3 runs (openapi-spec-validator is installed by `cargo xtask bootstrap`)");
    assert!(
        output.status.success(),
        "openapi-spec-validator refused the document:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn every_contract_endpoint_is_in_the_document() {
    let vigil = Vigil::start().await;
    let document = served_document(&vigil).await;
    let documented: BTreeSet<(String, String)> = operations(&document).into_iter().collect();
    for (method, path) in ENDPOINTS {
        assert!(
            documented.contains(&(method.to_string(), path.to_string())),
            "{method} {path} is not in /api/openapi.json"
        );
    }
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    // GIVEN a running vigil and a user token
    let vigil = Vigil::start().await;
    let token = vigil.api().dev_login("ada@example.com").await;
    let document = served_document(&vigil).await;
    let documented = operations(&document);
    assert!(documented.len() >= ENDPOINTS.len());
    let client = reqwest::Client::new();
    for (method, template) in documented {
        // WHEN each documented operation is called with placeholder ids
        let path: String = template
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "placeholder"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = client
            .request(method.clone(), format!("{}{path}", vigil.base))
            .bearer_auth(&token)
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("vigil answers");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        // THEN a handler answered it, not the router's refusal of an unknown endpoint
        assert_ne!(
            status, 405,
            "{method} {template} is documented but not routed"
        );
        let unknown =
            status == 404 && body["error"]["message"].as_str() == Some("no such endpoint");
        assert!(
            !unknown,
            "{method} {template} is documented but not routed: {body}"
        );
    }
}

#[tokio::test]
async fn an_unknown_endpoint_is_told_apart_from_a_missing_resource() {
    // The check above relies on the router's answer for a path no route serves.
    let vigil = Vigil::start().await;
    let token = vigil.api().dev_login("ada@example.com").await;
    let unknown = vigil
        .api()
        .get("/subscriptions/placeholder/no-such-thing", Some(&token))
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.error_message(), "no such endpoint");
    let missing = vigil
        .api()
        .get("/subscriptions/placeholder/sites", Some(&token))
        .await;
    assert_eq!(missing.status, 404);
    assert_ne!(missing.error_message(), "no such endpoint");
}

#[tokio::test]
async fn every_reference_in_the_document_resolves() {
    let vigil = Vigil::start().await;
    let document = served_document(&vigil).await;
    let mut found = BTreeSet::new();
    references(&document, &mut found);
    // The bodies are components, so a document without references would be wrong too.
    assert!(
        found.contains("#/components/schemas/ErrorBody"),
        "{found:?}"
    );
    assert!(
        found.contains("#/components/responses/NotFound"),
        "{found:?}"
    );
    for reference in &found {
        assert!(
            resolve(&document, reference).is_some(),
            "{reference} does not resolve in the document"
        );
    }
}

#[tokio::test]
async fn the_document_lists_dev_login_only_when_it_is_on() {
    // GIVEN vigil serve with dev-login off
    let vigil = Vigil::start_with(&["--dev-login", "off"]).await;
    // WHEN the document is fetched
    let document = served_document(&vigil).await;
    // THEN it does not list dev-login, which is not routed
    let documented = operations(&document);
    assert!(
        !documented
            .iter()
            .any(|(_, path)| path == "/api/auth/dev-login"),
        "dev-login is off but documented"
    );
    let answer = vigil
        .api()
        .post_raw("/auth/dev-login", None, br#"{"email":"a@b.co"}"#.to_vec())
        .await;
    assert_eq!(answer.status, 404);
    // AND everything else is still there
    assert!(
        documented
            .iter()
            .any(|(method, path)| method == "GET" && path == "/api/me")
    );
}

#[tokio::test]
async fn the_alert_summary_is_documented_with_the_shapes_the_console_reads() {
    // GIVEN the served document
    let vigil = Vigil::start().await;
    let document = served_document(&vigil).await;
    // THEN the summary is a GET of the alerts area answering an AlertSummary
    let operation = &document["paths"]["/api/subscriptions/{sub}/alerts/summary"]["get"];
    assert!(operation.is_object(), "the summary is not documented");
    assert_eq!(operation["tags"], serde_json::json!(["alerts"]));
    assert_eq!(
        operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/AlertSummary"
    );
    for status in ["401", "403", "404"] {
        assert!(
            operation["responses"][status].is_object(),
            "{status} is not documented"
        );
    }
    // AND its schemas have exactly the fields the console is written against
    let properties = |name: &str| -> BTreeSet<String> {
        document["components"]["schemas"][name]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("no schema {name}"))
            .keys()
            .cloned()
            .collect()
    };
    let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(properties("AlertSummary"), set(&["open", "daily"]));
    assert_eq!(properties("DailyAlertCount"), set(&["date", "counts"]));
    assert_eq!(
        properties("SeverityCounts"),
        set(&["critical", "major", "minor", "warning"])
    );
}
