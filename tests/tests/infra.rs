//! The deployable template: valid, and routing every contract endpoint to a function
//! that exists.

use std::process::Command;

use vigil_tests::contract::{ENDPOINTS, route_matches};
use vigil_tests::vigil::workspace_root;

fn template() -> String {
    std::fs::read_to_string(workspace_root().join("infra/template.yaml"))
        .expect("infra/template.yaml")
}

/// `(method, path)` of every `Type: HttpApi` event in the template.
fn routes(template: &str) -> Vec<(String, String)> {
    function_routes(template)
        .into_iter()
        .map(|(_, method, path)| (method, path))
        .collect()
}

/// `(function, method, path)` of every `Type: HttpApi` event in the template, the
/// function named by its binary (`Binary: <name>`, which comes before the function's
/// events).
fn function_routes(template: &str) -> Vec<(String, String, String)> {
    let mut routes = Vec::new();
    let mut function = String::new();
    let mut method = None;
    for line in template.lines().map(str::trim) {
        if let Some(binary) = line.strip_prefix("Binary: ") {
            function = binary.to_owned();
        } else if let Some(m) = line.strip_prefix("Method: ") {
            method = Some(m.to_owned());
        } else if let Some(path) = line.strip_prefix("Path: ") {
            let method = method.take().expect("Method before Path");
            routes.push((function.clone(), method, path.to_owned()));
        }
    }
    routes
}

/// `(METHOD, path)` of every operation an OpenAPI document lists.
fn documented(document: &serde_json::Value) -> Vec<(String, String)> {
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            operations.push((method.to_uppercase(), path.clone()));
        }
    }
    operations
}

#[test]
fn the_template_passes_cfn_lint() {
    let path = workspace_root().join("infra/template.yaml");
    let output = Command::new("python3")
        .args(["-c", "import sys; from cfnlint.runner import main; sys.argv = ['cfn-lint', sys.argv[1]]; sys.exit(main())"])
        .arg(&path)
        .output()
        .expect("python3 runs (cfn-lint is installed by `cargo xtask bootstrap`)");
    assert!(
        output.status.success(),
        "cfn-lint found problems:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_contract_endpoint_is_routed_except_the_local_dev_login() {
    let routes = routes(&template());
    for (method, path) in ENDPOINTS {
        let routed = routes
            .iter()
            .any(|(m, route)| (m == method || m == "ANY") && route_matches(route, path));
        if *path == "/api/auth/dev-login" {
            assert!(!routed, "dev-login must never be deployed");
        } else {
            assert!(
                routed,
                "{method} {path} is not routed by infra/template.yaml"
            );
        }
    }
}

#[test]
fn every_function_of_the_template_is_a_binary_of_the_functions_crate() {
    let template = template();
    let lines: Vec<&str> = template.lines().map(str::trim).collect();
    let binaries: Vec<&str> = lines
        .iter()
        .filter_map(|line| line.strip_prefix("Binary: "))
        .collect();
    assert!(!binaries.is_empty());
    // `sam build` runs `cargo lambda build --bin <name>` in `CodeUri` and takes
    // `target/lambda/<name>/bootstrap` from there: the workspace root, seen from infra/.
    let functions = lines
        .iter()
        .filter(|line| **line == "Type: AWS::Serverless::Function")
        .count();
    let at_the_root = lines.iter().filter(|line| **line == "CodeUri: ..").count();
    assert_eq!(binaries.len(), functions, "every function names its binary");
    assert_eq!(
        at_the_root, functions,
        "every function builds at the workspace root"
    );
    let bins = workspace_root().join("functions/src/bin");
    for name in &binaries {
        assert!(
            bins.join(format!("{name}.rs")).exists(),
            "no binary for function {name}"
        );
    }
    for entry in std::fs::read_dir(&bins).unwrap() {
        let name = entry
            .unwrap()
            .path()
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            name == "vigil" || binaries.contains(&name.as_str()),
            "binary {name} is not deployed by the template"
        );
    }
}

#[test]
fn route_matching_follows_api_gateway_rules() {
    assert!(route_matches(
        "/api/subscriptions/{sub}/sites/{proxy+}",
        "/api/subscriptions/{sub}/sites/{site}/zones"
    ));
    assert!(!route_matches(
        "/api/subscriptions/{sub}/sites/{proxy+}",
        "/api/subscriptions/{sub}/sites"
    ));
    assert!(route_matches("/api/me", "/api/me"));
    assert!(!route_matches("/api/me", "/api/me/too"));
}

#[test]
fn every_documented_operation_is_routed_to_the_function_that_serves_it() {
    use functions::{
        alerts, devices, identity, ingest, notifications, plans, rbac, sensors, sites,
    };
    // GIVEN each deployed function's routes, as its binary mounts them
    let functions = [
        ("identity", identity::routes(false)),
        ("rbac", rbac::routes()),
        ("plans", plans::routes()),
        ("sites", sites::routes()),
        ("sensors", sensors::routes()),
        ("alerts", alerts::routes()),
        ("devices", devices::routes()),
        ("ingest", ingest::routes()),
        ("notifications", notifications::routes()),
    ];
    let template = function_routes(&template());
    let deployed: std::collections::BTreeSet<&str> = template
        .iter()
        .map(|(function, _, _)| function.as_str())
        .collect();
    assert_eq!(
        deployed,
        functions.iter().map(|(name, _)| *name).collect(),
        "the functions of the template are not those listed here"
    );
    for (function, routes) in functions {
        let document = serde_json::to_value(routes.into_openapi()).unwrap();
        for (method, path) in documented(&document) {
            // THEN the API gateway sends each operation to that function, and only there
            let targets: std::collections::BTreeSet<&str> = template
                .iter()
                .filter(|(_, m, route)| (*m == method || m == "ANY") && route_matches(route, &path))
                .map(|(f, _, _)| f.as_str())
                .collect();
            assert_eq!(
                targets,
                [function].into_iter().collect(),
                "{method} {path} is served by the {function} function"
            );
        }
    }
}

#[test]
fn no_gateway_authorizer_stands_before_the_functions_own_verification() {
    // API tokens are no JWTs: a gateway JWT authorizer would refuse them, so every
    // function verifies its caller itself (tests/tokens.rs, tests/api_tokens.rs), the
    // public routes (the document, the sign-in configuration, ingest) included.
    let template = template();
    for needle in ["DefaultAuthorizer", "JwtConfiguration", "Authorizers:"] {
        assert!(
            !template.contains(needle),
            "the template configures {needle}"
        );
    }
    let routes = routes(&template);
    for path in [
        "/api/openapi.json",
        "/api/auth/config",
        "/api/ingest/{proxy+}",
    ] {
        assert!(
            routes.iter().any(|(_, routed)| routed == path),
            "the template routes {path}"
        );
    }
}

#[test]
fn a_table_call_gives_up_before_the_function_times_out() {
    let template = template();
    let timeout: u64 = template
        .lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix("Timeout: "))
        .and_then(|seconds| seconds.parse().ok())
        .expect("the functions' Timeout in Globals");
    let operation = functions::cloud::TABLE_OPERATION_TIMEOUT;
    assert!(
        operation.as_secs() * 2 <= timeout,
        "a DynamoDB call may take {operation:?}, the function {timeout} s: leave it room to answer"
    );
}

/// The logical ids of the template's functions.
fn function_ids(template: &str) -> std::collections::BTreeSet<String> {
    let lines: Vec<&str> = template.lines().collect();
    lines
        .windows(2)
        .filter(|pair| pair[1].trim() == "Type: AWS::Serverless::Function")
        .filter_map(|pair| pair[0].trim().strip_suffix(':').map(String::from))
        .collect()
}

/// The collection of the `Fn::ForEach::<name>` loop (its one-line flow list).
fn loop_collection(template: &str, name: &str) -> Vec<String> {
    let mut lines = template.lines().map(str::trim);
    lines
        .find(|line| line.trim_start_matches("- ") == format!("Fn::ForEach::{name}:"))
        .unwrap_or_else(|| panic!("no Fn::ForEach::{name} loop"));
    lines.next().expect("the loop's identifier");
    let collection = lines.next().expect("the loop's collection");
    collection
        .trim_start_matches("- ")
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|entry| entry.trim().to_owned())
        .collect()
}

#[test]
fn every_function_is_alarmed_on_errors_and_throttles_traced_and_logged_with_retention() {
    let template = template();
    // GIVEN the template's functions
    let functions = function_ids(&template);
    assert!(functions.len() >= 10, "{functions:?}");
    // THEN each has an alarm of each kind
    let alarmed: std::collections::BTreeSet<String> = loop_collection(&template, "FunctionAlarms")
        .into_iter()
        .map(|function| format!("{function}Function"))
        .collect();
    assert_eq!(
        alarmed, functions,
        "the functions alarmed are not the functions"
    );
    assert_eq!(
        loop_collection(&template, "FunctionMetrics"),
        ["Errors", "Throttles"]
    );
    // AND every function is traced and logs as JSON into a group that expires
    for needle in [
        "Tracing: Active",
        "LogFormat: JSON",
        "ApplicationLogLevel: !Ref LogLevel",
        "LogGroup: !Ref FunctionLogs",
    ] {
        assert!(template.contains(needle), "the Globals lack {needle}");
    }
    let groups = template.matches("Type: AWS::Logs::LogGroup").count();
    let expiring = template
        .matches("RetentionInDays: !Ref LogRetentionDays")
        .count();
    assert!(groups >= 2, "the functions' logs and the API's access logs");
    assert_eq!(groups, expiring, "every log group has a retention");
    // AND the API logs its requests, alarms on 5xx and bounds the ingest route on its own
    assert!(template.contains("DestinationArn: !GetAtt ApiAccessLogs.Arn"));
    assert!(template.contains("MetricName: 5xx"));
    let ingest = routes(&template)
        .into_iter()
        .find(|(_, path)| path.starts_with("/api/ingest/"))
        .expect("the ingest route");
    assert!(
        template.contains(&format!("\"{} {}\":", ingest.0, ingest.1)),
        "the ingest route {ingest:?} has its own throttling"
    );
}

/// The indented block of the resource `id` (its lines up to the next resource).
fn resource<'a>(template: &'a str, id: &str) -> &'a str {
    let start = template
        .find(&format!("\n  {id}:\n"))
        .unwrap_or_else(|| panic!("no resource {id}"))
        + 1;
    let rest = &template[start..];
    let end = rest[1..]
        .find("\n  # ")
        .into_iter()
        .chain(rest[1..].find("\n\n  "))
        .min()
        .map_or(rest.len(), |end| end + 1);
    &rest[..end]
}

#[test]
fn the_console_is_served_from_a_private_bucket_with_the_api_on_its_origin() {
    let template = template();
    // GIVEN the bucket: private, reachable only through the distribution
    let bucket = resource(&template, "ConsoleBucket");
    for flag in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert!(bucket.contains(&format!("{flag}: true")), "{flag}");
    }
    let policy = resource(&template, "ConsoleBucketPolicy");
    assert!(policy.contains("Service: cloudfront.amazonaws.com"));
    assert!(policy.contains("distribution/${ConsoleDistribution}"));
    assert!(policy.contains("aws:SecureTransport: false"));
    let distribution = resource(&template, "ConsoleDistribution");
    assert!(distribution.contains("OriginAccessControlId: !GetAtt ConsoleOriginAccess.Id"));
    // THEN /api/* goes to the HTTP API with every method, nothing cached and every
    // header but Host passed on
    let api = &distribution[distribution
        .find("- PathPattern: /api/*")
        .expect("an /api/* behaviour")..];
    assert!(api.contains("TargetOriginId: api"));
    assert!(api.contains("AllowedMethods: [GET, HEAD, OPTIONS, PUT, PATCH, POST, DELETE]"));
    assert!(api.contains("CachePolicyId: 4135ea2d-6df8-44a3-9df3-4b5a84be39ad"));
    assert!(api.contains("OriginRequestPolicyId: b689b0a8-53d0-40ab-baf2-68738e2966ac"));
    assert!(distribution.contains("${Api}.execute-api."));
    // AND every other path is the console's, its routes answered with index.html
    assert!(
        distribution.contains("FunctionARN: !GetAtt ConsoleRoutes.FunctionMetadata.FunctionARN")
    );
    assert!(distribution.contains("ResponseHeadersPolicyId: !Ref ConsoleHeaders"));
    let routes = resource(&template, "ConsoleRoutes");
    assert!(routes.contains("request.uri = '/index.html'"));
}

#[test]
fn the_cloud_console_policy_is_the_one_vigil_serve_sends_for_a_build_without_inline_scripts() {
    let template = template();
    let headers = resource(&template, "ConsoleHeaders");
    let line = headers
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("- \"default-src"))
        .expect("the CSP line");
    let provider = "https://sign-in.example";
    let cloud = line
        .trim_start_matches("- \"")
        .trim_end_matches('"')
        .replace("${Provider}", provider);
    // `cargo xtask publish` moves trunk's loader into a file, so there is nothing to hash
    let published =
        r#"<html><head><script type="module" src="/loader-1a2b.js"></script></head></html>"#;
    assert_eq!(
        cloud,
        functions::local::console_csp(published, Some(provider))
    );
    for header in [
        "ContentTypeOptions",
        "FrameOptions",
        "ReferrerPolicy",
        "StrictTransportSecurity",
    ] {
        assert!(headers.contains(header), "{header}");
    }
}
