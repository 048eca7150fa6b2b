//! Every endpoint of the HTTP contract (method, path template), as the contract
//! writes them, for the tests that check the deployable template and the OpenAPI
//! document cover all of them.

pub const ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/api/auth/dev-login"),
    ("GET", "/api/me"),
    ("GET", "/api/roles"),
    ("GET", "/api/subscriptions/{sub}/roles"),
    ("POST", "/api/subscriptions/{sub}/roles"),
    ("GET", "/api/subscriptions/{sub}/role-assignments"),
    ("POST", "/api/subscriptions/{sub}/role-assignments"),
    ("DELETE", "/api/subscriptions/{sub}/role-assignments/{id}"),
    ("POST", "/api/subscriptions"),
    ("GET", "/api/subscriptions"),
    ("GET", "/api/subscriptions/{sub}/plans"),
    ("POST", "/api/subscriptions/{sub}/plans"),
    ("PATCH", "/api/subscriptions/{sub}/plans/{plan}"),
    ("DELETE", "/api/subscriptions/{sub}/plans/{plan}"),
    ("GET", "/api/subscriptions/{sub}/plans/committed-devices"),
    ("GET", "/api/subscriptions/{sub}/sites"),
    ("POST", "/api/subscriptions/{sub}/sites"),
    ("GET", "/api/subscriptions/{sub}/sites/{site}"),
    ("PATCH", "/api/subscriptions/{sub}/sites/{site}"),
    ("DELETE", "/api/subscriptions/{sub}/sites/{site}"),
    ("GET", "/api/subscriptions/{sub}/sites/{site}/zones"),
    ("POST", "/api/subscriptions/{sub}/sites/{site}/zones"),
    ("GET", "/api/subscriptions/{sub}/sensors"),
    ("POST", "/api/subscriptions/{sub}/sensors"),
    ("GET", "/api/subscriptions/{sub}/sensors/{id}"),
    ("PATCH", "/api/subscriptions/{sub}/sensors/{id}"),
    ("DELETE", "/api/subscriptions/{sub}/sensors/{id}"),
    (
        "GET",
        "/api/subscriptions/{sub}/sensors/{id}/activation-file",
    ),
    ("POST", "/api/subscriptions/{sub}/sensors/{id}/reactivate"),
    ("POST", "/api/subscriptions/{sub}/sensors/ti-update"),
    ("GET", "/api/subscriptions/{sub}/sensors/export.csv"),
    ("GET", "/api/subscriptions/{sub}/alerts"),
    ("GET", "/api/subscriptions/{sub}/alerts/{id}"),
    ("PATCH", "/api/subscriptions/{sub}/alerts/{id}"),
    ("POST", "/api/subscriptions/{sub}/alerts/{id}/learn"),
    ("GET", "/api/subscriptions/{sub}/alerts/{id}/pcap"),
    ("GET", "/api/subscriptions/{sub}/devices"),
    ("GET", "/api/subscriptions/{sub}/devices/{id}"),
    ("PATCH", "/api/subscriptions/{sub}/devices/{id}"),
    ("DELETE", "/api/subscriptions/{sub}/devices/{id}"),
    ("POST", "/api/ingest/heartbeat"),
    ("POST", "/api/ingest/alerts"),
    ("POST", "/api/ingest/devices"),
    ("GET", "/api/subscriptions/{sub}/audit-log"),
];

/// Whether `route` (an API Gateway route path, where `{x}` is one segment and
/// `{x+}` any rest) matches the contract path `path`.
pub fn route_matches(route: &str, path: &str) -> bool {
    let route: Vec<&str> = route.trim_matches('/').split('/').collect();
    let path: Vec<&str> = path.trim_matches('/').split('/').collect();
    for (index, segment) in route.iter().enumerate() {
        if segment.ends_with("+}") {
            return path.len() > index;
        }
        let Some(actual) = path.get(index) else {
            return false;
        };
        let is_variable = |s: &str| s.starts_with('{') && s.ends_with('}');
        if !(is_variable(segment) && is_variable(actual)) && segment != actual {
            return false;
        }
    }
    route.len() == path.len()
}
