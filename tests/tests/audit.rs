//! Audit completeness: every mutating operation of the OpenAPI document, called once over
//! real HTTP. Each success by a person writes exactly one audit entry — its action, the
//! person, the subscription and site, the resource before and after — and each refusal
//! writes none. An operation added to the document without a case here fails the test.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use vigil_tests::fleet::{Fleet, Sensor, detection, observation};
use vigil_tests::vigil::{Vigil, expect};

/// What an entry holds of the resource, by what the operation did to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Nothing before, the new resource after.
    Created,
    /// The resource before and after, and they differ.
    Changed,
    /// The resource before, nothing after.
    Removed,
}

/// Where an entry says the change was.
#[derive(Debug, Clone, PartialEq, Eq)]
enum At {
    /// The subscription as a whole (`site_id` null).
    Subscription,
    Site(String),
    /// The site the operation created.
    TheNewSite,
}

/// Why an operation writes no audit entry.
const NOT_AUDITED: [(&str, &str, &str); 6] = [
    ("POST", "/api/auth/dev-login", "signs in; changes nothing"),
    (
        "POST",
        "/api/subscriptions/{sub}/webhook-endpoints/{id}/test",
        "sends a greeting to a receiver; changes no setting (the delivery log shows it)",
    ),
    (
        "POST",
        "/api/subscriptions/{sub}/suppression-rules/preview",
        "reads what a rule would match; changes nothing",
    ),
    (
        "POST",
        "/api/ingest/heartbeat",
        "a sensor's report, kept on the sensor (last connected, health), not a person's change",
    ),
    (
        "POST",
        "/api/ingest/alerts",
        "a sensor's detections: the alerts themselves are the record",
    ),
    (
        "POST",
        "/api/ingest/devices",
        "a sensor's observations: the inventory itself is the record",
    ),
];

/// One mutating operation, called once.
struct Case<'a> {
    /// The operation as the document names it.
    operation: (&'a str, &'a str),
    path: String,
    body: Option<Value>,
    action: &'a str,
    /// The resource changed; `None`: the id the answer names (`id`, or `sensor.id`).
    target: Option<String>,
    at: At,
    shape: Shape,
}

fn in_a_day() -> String {
    (OffsetDateTime::now_utc() + Duration::days(1))
        .format(&Rfc3339)
        .unwrap()
}

async fn onboard(fleet: &Fleet, name: &str, kind: &str, site: &str) -> Sensor {
    let onboarded = fleet
        .post(
            "/sensors",
            json!({"name": name, "type": kind, "site_id": site}),
        )
        .await;
    assert_eq!(onboarded.status, 201, "{onboarded:?}");
    Sensor {
        id: onboarded.body["sensor"]["id"].as_str().unwrap().to_owned(),
        site: site.to_owned(),
        zone: None,
        token: onboarded.body["activation_file"]["token"]
            .as_str()
            .unwrap()
            .to_owned(),
    }
}

/// The ids of the alerts (or devices) listed at `rest`, in list order.
async fn ids(fleet: &Fleet, rest: &str) -> Vec<String> {
    fleet
        .all(rest, 100)
        .await
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

fn documented_mutations(document: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in ["post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

#[tokio::test]
async fn every_mutation_writes_one_complete_audit_entry_and_every_refusal_none() {
    let vigil = Vigil::start().await;
    let fleet = Fleet::new(&vigil).await;
    let owner = "owner@example.com";
    let reader = fleet
        .member("reader@example.com", "security_reader", None)
        .await;
    let sub = fleet.sub.clone();
    let at = |rest: &str| format!("/subscriptions/{sub}{rest}");

    // What the cases act on: a site with a zone; sensors; alerts; devices; a plan.
    let site = fleet.site("North").await;
    let doomed_site = fleet.site("Closing").await;
    let sensor = fleet.sensor("n1", &site, None).await;
    let doomed_sensor = fleet.sensor("n2", &site, None).await;
    let manual = onboard(&fleet, "n3", "ot_locally_managed", &site).await;
    let legacy = onboard(&fleet, "n5", "ot_locally_managed", &site).await;
    for (token, version, ti) in [
        (&sensor.token, "23.1.3", "2024.03.01"),
        (&manual.token, "23.1.3", "2024.01.01"),
        (&legacy.token, "10.5.3", "2024.01.01"),
    ] {
        let beat = fleet
            .api
            .post(
                "/ingest/heartbeat",
                Some(token),
                json!({"version": version, "ti_version": ti, "health": "healthy"}),
            )
            .await;
        assert_eq!(beat.status, 200, "{beat:?}");
    }
    fleet
        .raise(
            &sensor,
            vec![
                detection("Modbus write", "10.0.0.1", false),
                detection("Unauthorized PLC program", "10.0.0.2", false),
                detection("New asset", "10.0.0.3", true),
            ],
        )
        .await;
    let alerts = ids(&fleet, "/alerts").await;
    let learnable = fleet
        .all("/alerts", 100)
        .await
        .iter()
        .find(|alert| alert["learnable"] == true)
        .map(|alert| alert["id"].as_str().unwrap().to_owned())
        .expect("a learnable alert");
    let unlearnable: Vec<&String> = alerts.iter().filter(|id| **id != learnable).collect();
    fleet
        .observe(
            &sensor,
            ["10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.4"]
                .iter()
                .enumerate()
                .map(|(n, ip)| observation(ip, &format!("02:00:00:00:00:0{n}")))
                .collect(),
        )
        .await;
    let devices = ids(&fleet, "/devices").await;
    let plan = fleet
        .post(
            "/plans",
            json!({"kind": "ot", "commitment": "monthly", "committed_devices": 100}),
        )
        .await;
    assert_eq!(plan.status, 201, "{plan:?}");
    let plan = plan.body["id"].as_str().unwrap().to_owned();
    let role = fleet
        .post(
            "/roles",
            json!({"name": "Unused", "permissions": ["view_alerts"]}),
        )
        .await;
    let role = role.body["id"].as_str().unwrap().to_owned();
    let group = fleet
        .post(
            "/device-groups",
            json!({"name": "Unused", "sites": {"tags": {"region": "emea"}}}),
        )
        .await;
    let group = group.body["id"].as_str().unwrap().to_owned();
    let carol = fleet
        .assign(
            &fleet.owner,
            json!({"principal": "carol@example.com", "role": "security_reader"}),
        )
        .await;
    let carol = carol.body["id"].as_str().unwrap().to_owned();
    let script = fleet
        .post(
            "/api-tokens",
            json!({"name": "Export", "role": "security_reader", "expires_in_days": 30}),
        )
        .await;
    let script = script.body["token"]["id"].as_str().unwrap().to_owned();
    // Webhooks to a public address nothing here routes to: a site where nothing happens.
    let quiet = fleet.site("Quiet").await;
    let endpoint = |name: &str| {
        fleet.post(
            "/webhook-endpoints",
            json!({"name": name, "url": "https://8.8.8.8/hook"}),
        )
    };
    let unused_endpoint = endpoint("Unused").await.body["endpoint"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let routed = endpoint("Routed").await.body["endpoint"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let quiet_rule = json!({
        "name": "Quiet site", "endpoint_id": routed, "events": ["alert.created"],
        "filter": {"site_id": quiet},
    });
    let notify = fleet.post("/notification-rules", quiet_rule.clone()).await;
    let notify = notify.body["id"].as_str().unwrap().to_owned();
    let rule = fleet
        .post(
            "/suppression-rules",
            json!({
                "match": {"title": "port scan"},
                "scope": {"kind": "site", "site_id": site},
                "expires_at": in_a_day(),
                "reason": "Scanner",
            }),
        )
        .await;
    assert_eq!(rule.status, 201, "{rule:?}");
    let rule = rule.body["rule"]["id"].as_str().unwrap().to_owned();

    let case = |operation: (&'static str, &'static str),
                path: String,
                body: Option<Value>,
                action: &'static str,
                target: Option<&str>,
                at: At,
                shape: Shape| Case {
        operation,
        path,
        body,
        action,
        target: target.map(str::to_owned),
        at,
        shape,
    };
    let s = At::Site(site.clone());
    let cases = vec![
        case(
            ("POST", "/api/subscriptions/{sub}/sites"),
            at("/sites"),
            Some(json!({"display_name": "South", "tags": {}})),
            "site.create",
            None,
            At::TheNewSite,
            Shape::Created,
        ),
        case(
            ("PATCH", "/api/subscriptions/{sub}/sites/{site}"),
            at(&format!("/sites/{site}")),
            Some(json!({"display_name": "North plant"})),
            "site.update",
            Some(&site),
            s.clone(),
            Shape::Changed,
        ),
        case(
            ("POST", "/api/subscriptions/{sub}/sites/{site}/zones"),
            at(&format!("/sites/{site}/zones")),
            Some(json!({"name": "Line 1"})),
            "zone.create",
            None,
            s.clone(),
            Shape::Created,
        ),
        case(
            ("DELETE", "/api/subscriptions/{sub}/sites/{site}"),
            at(&format!("/sites/{doomed_site}")),
            None,
            "site.delete",
            Some(&doomed_site),
            At::Site(doomed_site.clone()),
            Shape::Removed,
        ),
        case(
            ("PATCH", "/api/subscriptions/{sub}/plans/{plan}"),
            at(&format!("/plans/{plan}")),
            Some(json!({"committed_devices": 200})),
            "plan.update",
            Some(&plan),
            At::Subscription,
            Shape::Changed,
        ),
        case(
            ("DELETE", "/api/subscriptions/{sub}/plans/{plan}"),
            at(&format!("/plans/{plan}")),
            None,
            "plan.cancel",
            Some(&plan),
            At::Subscription,
            Shape::Changed,
        ),
        case(
            // The kind is free again once its plan is cancelled.
            ("POST", "/api/subscriptions/{sub}/plans"),
            at("/plans"),
            Some(json!({"kind": "ot", "commitment": "monthly", "committed_devices": 100})),
            "plan.create",
            None,
            At::Subscription,
            Shape::Created,
        ),
        case(
            ("POST", "/api/subscriptions/{sub}/sensors"),
            at("/sensors"),
            Some(json!({"name": "n4", "type": "ot_cloud_connected", "site_id": site})),
            "sensor.onboard",
            None,
            s.clone(),
            Shape::Created,
        ),
        case(
            ("PATCH", "/api/subscriptions/{sub}/sensors/{id}"),
            at(&format!("/sensors/{}", sensor.id)),
            Some(json!({"name": "n1 renamed"})),
            "sensor.update",
            Some(&sensor.id),
            s.clone(),
            Shape::Changed,
        ),
        case(
            ("POST", "/api/subscriptions/{sub}/sensors/{id}/reactivate"),
            at(&format!("/sensors/{}/reactivate", sensor.id)),
            Some(json!({})),
            "sensor.reactivate",
            Some(&sensor.id),
            s.clone(),
            Shape::Changed,
        ),
        case(
            (
                "POST",
                "/api/subscriptions/{sub}/sensors/{id}/software-update",
            ),
            at(&format!("/sensors/{}/software-update", sensor.id)),
            Some(json!({"version": "24.1.2"})),
            "sensor.software_update",
            Some(&sensor.id),
            s.clone(),
            Shape::Changed,
        ),
        case(
            (
                "POST",
                "/api/subscriptions/{sub}/sensors/{id}/prepare-update",
            ),
            at(&format!("/sensors/{}/prepare-update", legacy.id)),
            Some(json!({})),
            "sensor.prepare_update",
            Some(&legacy.id),
            s.clone(),
            Shape::Changed,
        ),
        case(
            ("PUT", "/api/subscriptions/{sub}/sensors/{id}/diagnostics"),
            at(&format!("/sensors/{}/diagnostics", manual.id)),
            // Sent as JSON text: the archive is whatever bytes the body holds.
            Some(json!("sensor.log: all quiet")),
            "sensor.diagnostics",
            Some(&manual.id),
            s.clone(),
            Shape::Changed,
        ),
        case(
            ("PUT", "/api/subscriptions/{sub}/sensors/{id}/settings"),
            at(&format!("/sensors/{}/settings", sensor.id)),
            Some(json!({"bandwidth_cap_kbps": 2000, "subnets": ["10.0.0.0/8"]})),
            "sensor.settings",
            Some(&sensor.id),
            s.clone(),
            Shape::Changed,
        ),
        case(
            ("POST", "/api/subscriptions/{sub}/sensors/ti-update"),
            at("/sensors/ti-update"),
            Some(json!({"sensor_ids": [manual.id]})),
            "sensor.ti_push",
            Some(&manual.id),
            s.clone(),
            Shape::Changed,
        ),
        case(
            ("DELETE", "/api/subscriptions/{sub}/sensors/{id}"),
            at(&format!("/sensors/{}", doomed_sensor.id)),
            None,
            "sensor.delete",
            Some(&doomed_sensor.id),
            s.clone(),
            Shape::Removed,
        ),
        case(
            ("POST", "/api/subscriptions/{sub}/console-password-recovery"),
            at("/console-password-recovery"),
            Some(json!({"secret_identifier": "A1B2-C3D4"})),
            "console.password_recovery",
            None,
            At::Subscription,
            Shape::Created,
        ),
        case(
            ("PATCH", "/api/subscriptions/{sub}/alerts/{id}"),
            at(&format!("/alerts/{}", unlearnable[0])),
            Some(json!({"status": "active"})),
            "alert.update",
            Some(unlearnable[0]),
            s.clone(),
            Shape::Changed,
        ),
        case(
            ("POST", "/api/subscriptions/{sub}/alerts/status"),
            at("/alerts/status"),
            Some(json!({"alert_ids": [unlearnable[1]], "status": "active"})),
            "alert.update",
            Some(unlearnable[1]),
            s.clone(),
            Shape::Changed,
        ),
        case(
            ("POST", "/api/subscriptions/{sub}/alerts/{id}/assign"),
            at(&format!("/alerts/{}/assign", unlearnable[0])),
            Some(json!({"assignee": owner})),
            "alert.assign",
            Some(unlearnable[0]),
            s.clone(),
            Shape::Changed,
        ),
        case(
            ("POST", "/api/subscriptions/{sub}/alerts/assign"),
            at("/alerts/assign"),
            Some(json!({"alert_ids": [unlearnable[1]], "assignee": owner})),
            "alert.assign",
            Some(unlearnable[1]),
            s.clone(),
            Shape::Changed,
        ),
        case(
            ("POST", "/api/subscriptions/{sub}/alerts/{id}/comments"),
            at(&format!("/alerts/{}/comments", unlearnable[0])),
            Some(json!({"text": "Checking with the plant."})),
            "alert.comment",
            Some(unlearnable[0]),
            s.clone(),
            Shape::Changed,
        ),
        case(
            ("POST", "/api/subscriptions/{sub}/alerts/{id}/learn"),
            at(&format!("/alerts/{learnable}/learn")),
            None,
            "alert.learn",
            Some(&learnable),
            s.clone(),
            Shape::Changed,
        ),
        case(
            ("PUT", "/api/subscriptions/{sub}/alerts/close-reasons"),
            at("/alerts/close-reasons"),
            Some(
                json!({"reasons": [{"id": "scanner", "label": "Known scanner", "learns": false}]}),
            ),
            "alert.close_reasons",
            None,
            At::Subscription,
            Shape::Changed,
        ),
        case(
            ("POST", "/api/subscriptions/{sub}/suppression-rules"),
            at("/suppression-rules"),
            Some(json!({
                "match": {"title": "Modbus write"},
                "scope": {"kind": "subscription"},
                "expires_at": in_a_day(),
                "reason": "Engineering window",
            })),
            "suppression_rule.create",
            None,
            At::Subscription,
            Shape::Created,
        ),
        case(
            ("DELETE", "/api/subscriptions/{sub}/suppression-rules/{id}"),
            at(&format!("/suppression-rules/{rule}")),
            None,
            "suppression_rule.delete",
            Some(&rule),
            s.clone(),
            Shape::Removed,
        ),
        case(
            ("PATCH", "/api/subscriptions/{sub}/devices/{id}"),
            at(&format!("/devices/{}", devices[0])),
            Some(json!({"name": "Line PLC", "authorized": true})),
            "device.update",
            Some(&devices[0]),
            s.clone(),
            Shape::Changed,
        ),
        case(
            ("POST", "/api/subscriptions/{sub}/devices/merge"),
            at("/devices/merge"),
            Some(json!({"device_ids": [devices[1], devices[2]], "survivor_id": devices[1]})),
            "device.merge",
            Some(&devices[1]),
            s.clone(),
            Shape::Changed,
        ),
        case(
            ("DELETE", "/api/subscriptions/{sub}/devices/{id}"),
            at(&format!("/devices/{}", devices[3])),
            None,
            "device.delete",
            Some(&devices[3]),
            s.clone(),
            Shape::Removed,
        ),
        case(
            ("POST", "/api/subscriptions/{sub}/roles"),
            at("/roles"),
            Some(json!({"name": "Alert viewer", "permissions": ["view_alerts"]})),
            "role.create",
            None,
            At::Subscription,
            Shape::Created,
        ),
        case(
            ("DELETE", "/api/subscriptions/{sub}/roles/{role}"),
            at(&format!("/roles/{role}")),
            None,
            "role.delete",
            Some(&role),
            At::Subscription,
            Shape::Removed,
        ),
        case(
            ("POST", "/api/subscriptions/{sub}/role-assignments"),
            at("/role-assignments"),
            Some(
                json!({"principal": "dave@example.com", "role": "security_reader", "site_id": site}),
            ),
            "role_assignment.create",
            None,
            s.clone(),
            Shape::Created,
        ),
        case(
            ("DELETE", "/api/subscriptions/{sub}/role-assignments/{id}"),
            at(&format!("/role-assignments/{carol}")),
            None,
            "role_assignment.delete",
            Some(&carol),
            At::Subscription,
            Shape::Removed,
        ),
        case(
            ("POST", "/api/subscriptions/{sub}/api-tokens"),
            at("/api-tokens"),
            Some(
                json!({"name": "SIEM", "role": "security_reader", "site_id": site, "expires_in_days": 90}),
            ),
            "api_token.create",
            None,
            s.clone(),
            Shape::Created,
        ),
        case(
            ("DELETE", "/api/subscriptions/{sub}/api-tokens/{id}"),
            at(&format!("/api-tokens/{script}")),
            None,
            "api_token.delete",
            Some(&script),
            At::Subscription,
            Shape::Removed,
        ),
        case(
            ("POST", "/api/subscriptions/{sub}/webhook-endpoints"),
            at("/webhook-endpoints"),
            Some(json!({"name": "SIEM", "url": "https://8.8.4.4/in"})),
            "webhook_endpoint.create",
            None,
            At::Subscription,
            Shape::Created,
        ),
        case(
            ("DELETE", "/api/subscriptions/{sub}/webhook-endpoints/{id}"),
            at(&format!("/webhook-endpoints/{unused_endpoint}")),
            None,
            "webhook_endpoint.delete",
            Some(&unused_endpoint),
            At::Subscription,
            Shape::Removed,
        ),
        case(
            ("POST", "/api/subscriptions/{sub}/notification-rules"),
            at("/notification-rules"),
            Some(quiet_rule),
            "notification_rule.create",
            None,
            At::Subscription,
            Shape::Created,
        ),
        case(
            ("DELETE", "/api/subscriptions/{sub}/notification-rules/{id}"),
            at(&format!("/notification-rules/{notify}")),
            None,
            "notification_rule.delete",
            Some(&notify),
            At::Subscription,
            Shape::Removed,
        ),
        case(
            ("POST", "/api/subscriptions/{sub}/device-groups"),
            at("/device-groups"),
            Some(json!({"name": "APAC", "sites": {"tags": {"region": "apac"}}})),
            "device_group.create",
            None,
            At::Subscription,
            Shape::Created,
        ),
        case(
            ("DELETE", "/api/subscriptions/{sub}/device-groups/{id}"),
            at(&format!("/device-groups/{group}")),
            None,
            "device_group.delete",
            Some(&group),
            At::Subscription,
            Shape::Removed,
        ),
    ];

    // Every mutating operation is a case here, or not audited for a stated reason.
    let document = vigil.api().get("/openapi.json", None).await.body;
    let mut covered: BTreeSet<(String, String)> = cases
        .iter()
        .map(|case| (case.operation.0.to_owned(), case.operation.1.to_owned()))
        .collect();
    covered.insert(("POST".to_owned(), "/api/subscriptions".to_owned()));
    covered.extend(
        NOT_AUDITED
            .iter()
            .map(|(method, path, _)| (method.to_string(), path.to_string())),
    );
    assert_eq!(documented_mutations(&document), covered);

    for case in &cases {
        let name = format!("{} {}", case.operation.0, case.operation.1);
        let method = Method::from_bytes(case.operation.0.as_bytes()).unwrap();
        let before = fleet.audit().await;
        // WHEN a reader tries it, THEN it is refused and nothing is audited
        let refused = fleet
            .api
            .send(method.clone(), &case.path, Some(&reader), case.body.clone())
            .await;
        assert_eq!(refused.status, 403, "{name} as a reader: {refused:?}");
        assert_eq!(fleet.audit().await, before, "{name}: a refusal was audited");
        // WHEN the owner does it, THEN it succeeds with exactly one entry, complete
        let done = fleet
            .api
            .send(method, &case.path, Some(&fleet.owner), case.body.clone())
            .await;
        assert!((200..300).contains(&done.status), "{name}: {done:?}");
        let after = fleet.audit().await;
        assert_eq!(after.len(), before.len() + 1, "{name}: {:#?}", &after[..2]);
        assert_eq!(after[1..], before[..], "{name}: older entries untouched");
        let entry = &after[0];
        // The target: as the case names it, else the id the answer gives the new
        // resource; an entry always names one.
        let answered = ["/id", "/sensor/id", "/rule/id", "/token/id", "/endpoint/id"]
            .iter()
            .find_map(|pointer| done.body.pointer(pointer).and_then(Value::as_str));
        let target = case.target.as_deref().or(answered).map(str::to_owned);
        match &target {
            Some(target) => assert_eq!(entry["target"], target.as_str(), "{name}: {entry:#}"),
            None => assert!(
                entry["target"].as_str().is_some_and(|t| !t.is_empty()),
                "{name}: {entry:#}"
            ),
        }
        assert_eq!(entry["action"], case.action, "{name}: {entry:#}");
        assert_eq!(
            entry["actor"],
            json!({"kind": "user", "email": owner}),
            "{name}"
        );
        assert_eq!(entry["subscription_id"], sub.as_str(), "{name}");
        let site = match &case.at {
            At::Subscription => Value::Null,
            At::Site(site) => json!(site),
            At::TheNewSite => json!(target),
        };
        assert_eq!(entry["site_id"], site, "{name}: {entry:#}");
        let (was, is) = (&entry["before"], &entry["after"]);
        match case.shape {
            Shape::Created => assert!(was.is_null() && is.is_object(), "{name}: {entry:#}"),
            Shape::Removed => assert!(was.is_object() && is.is_null(), "{name}: {entry:#}"),
            Shape::Changed => assert!(
                !was.is_null() && !is.is_null() && was != is,
                "{name}: {entry:#}"
            ),
        }
    }

    // A subscription's creation is the first entry of its own log.
    let created = fleet
        .api
        .post(
            "/subscriptions",
            Some(&fleet.owner),
            json!({"name": "Second"}),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let second = created.body["id"].as_str().unwrap();
    let log = fleet
        .api
        .get(
            &format!("/subscriptions/{second}/audit-log"),
            Some(&fleet.owner),
        )
        .await;
    let entries = log.body["items"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{log:?}");
    assert_eq!(entries[0]["action"], "subscription.create");
    assert_eq!(entries[0]["target"], second);
    assert!(entries[0]["before"].is_null() && entries[0]["after"].is_object());
    // AND an anonymous attempt at it is refused and creates nothing
    let anonymous = fleet
        .api
        .post("/subscriptions", None, json!({"name": "Third"}))
        .await;
    expect(&anonymous, 401, "unauthenticated");
}

vigil_tests::for_each_store!(
    retention_removes_audit_entries_older_than_a_year_and_keeps_the_rest,
    |backend: vigil_tests::vigil::Backend| async move {
        let vigil = vigil_tests::embedded::InProcess::start_on(backend).await;
        let fleet = Fleet::on(vigil.api(), "owner@example.com").await;
        // GIVEN a subscription with a sensor and a few changes in its audit log
        fleet.site_with_a_sensor().await;
        let logged = fleet.audit().await;
        assert!(logged.len() >= 3, "{logged:#?}");
        let newest = OffsetDateTime::parse(logged[0]["at"].as_str().unwrap(), &Rfc3339).unwrap();
        let oldest =
            OffsetDateTime::parse(logged.last().unwrap()["at"].as_str().unwrap(), &Rfc3339)
                .unwrap();
        let table: std::sync::Arc<dyn functions::store::Table> = vigil.table.clone();
        let retention = shared::api::AUDIT_RETENTION;
        // WHEN retention sweeps on the day before the oldest entry is a year old
        functions::retention::sweep(table.as_ref(), oldest + retention - Duration::days(1))
            .await
            .unwrap();
        // THEN every entry is kept
        assert_eq!(fleet.audit().await, logged);
        // WHEN it sweeps once the newest entry is a year old
        functions::retention::sweep(table.as_ref(), newest + retention + Duration::seconds(1))
            .await
            .unwrap();
        // THEN the log is empty, and what was logged still works
        assert_eq!(fleet.audit().await, Vec::<Value>::new());
        assert_eq!(
            fleet.get("/sites").await.body["items"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }
);
