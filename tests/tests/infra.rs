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
    let mut routes = Vec::new();
    let mut method = None;
    for line in template.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("Method: ") {
            method = Some(m.to_owned());
        } else if let Some(path) = line.strip_prefix("Path: ") {
            routes.push((method.take().expect("Method before Path"), path.to_owned()));
        }
    }
    routes
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
    let code_uris: Vec<&str> = template
        .lines()
        .filter_map(|line| line.trim().strip_prefix("CodeUri: ../target/lambda/"))
        .map(|rest| rest.trim_end_matches('/'))
        .collect();
    assert!(!code_uris.is_empty());
    let bins = workspace_root().join("functions/src/bin");
    for name in &code_uris {
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
            name == "vigil" || code_uris.contains(&name.as_str()),
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
