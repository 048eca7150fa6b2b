//! The sensor simulator (`vigil sensor-sim`) against `vigil serve` on both stores, over
//! real HTTP, for a bounded run: what it reports Vigil acknowledged is what the API then
//! lists, and it follows the updates Vigil pushes like a sensor would.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::{Value, json};
use shared::model::{SoftwareRelease, latest_ti_package};
use vigil_tests::fleet::Fleet;
use vigil_tests::on_both_stores;
use vigil_tests::vigil::{Vigil, vigil_binary};

const OLD_TI: &str = "2024.01.01";
const OLD_VERSION: &str = "23.2.0";

on_both_stores!(
    what_the_simulator_reports_sending_is_what_vigil_lists,
    |vigil: Vigil| async move {
        let fleet = Fleet::new(&vigil).await;
        let site = fleet.site("Plant 1").await;
        let zone = fleet.zone(&site, "Line 1").await;
        // GIVEN two sensors onboarded here, whose activation files the simulator reads,
        // one of them with a software update queued
        let files = tempfile::tempdir().expect("a temp dir");
        let mut given = Vec::new();
        for name in ["given-1", "given-2"] {
            let sensor = fleet.sensor(name, &site, Some(&zone)).await;
            let file = fleet
                .get(&format!("/sensors/{}/activation-file", sensor.id))
                .await;
            assert_eq!(file.status, 200, "{file:?}");
            let path = files.path().join(format!("{name}.json"));
            std::fs::write(&path, file.body.to_string()).expect("an activation file written");
            given.push((sensor.id, path));
        }
        let latest = SoftwareRelease::latest().version().to_string();
        let updated = &given[0].0;
        let queued = fleet
            .post(
                &format!("/sensors/{updated}/software-update"),
                json!({"version": latest}),
            )
            .await;
        assert_eq!(queued.status, 200, "{queued:?}");
        let configured = &given[1].0;
        let settings = json!({"bandwidth_cap_kbps": 5000, "subnets": ["10.7.0.0/16"]});
        let defined = fleet
            .api
            .send(
                reqwest::Method::PUT,
                &fleet.path(&format!("/sensors/{configured}/settings")),
                Some(&fleet.owner),
                Some(settings),
            )
            .await;
        assert_eq!(defined.status, 200, "{defined:?}");

        // WHEN the simulator drives them and two it onboards itself, for a bounded run,
        // reporting an old TI package and an old software version
        let mut run = Command::new(vigil_binary());
        run.args([
            "sensor-sim",
            "--url",
            &vigil.base,
            "--json",
            "--seconds",
            "6",
        ])
        .args([
            "--onboard",
            "2",
            "--subscription",
            &fleet.sub,
            "--site",
            &site,
        ])
        .args(["--token", &fleet.owner])
        .args(["--heartbeat-seconds", "1.5", "--batch-seconds", "0.5"])
        .args(["--alerts-per-minute", "600", "--repeats", "0.4"])
        .args(["--devices-per-sensor", "30", "--seed", "7"])
        .args(["--ti-version", OLD_TI, "--version", OLD_VERSION]);
        for (_, path) in &given {
            run.arg("--activation-file").arg(path);
        }
        let output = run.output().expect("the simulator runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let summary: Value = serde_json::from_slice(&output.stdout).expect("a JSON summary");
        let number = |field: &str| summary[field].as_u64().expect(field);

        // THEN every request was acknowledged, repeats were among the detections,
        assert_eq!(number("sensors"), 4, "{summary}");
        assert_eq!(number("failed_requests"), 0, "{summary}");
        assert!(
            number("alerts_sent") > number("distinct_alerts") && number("distinct_alerts") > 0,
            "{summary}"
        );
        // the alerts listed are the distinct detections, the devices the distinct devices,
        let alerts = fleet.all("/alerts", 500).await;
        assert_eq!(alerts.len() as u64, number("distinct_alerts"), "{summary}");
        let devices = fleet.all("/devices", 500).await;
        assert_eq!(
            devices.len() as u64,
            number("distinct_devices"),
            "{summary}"
        );
        assert_eq!(number("distinct_devices"), 4 * 30, "{summary}");
        let kinds: BTreeSet<&str> = alerts
            .iter()
            .filter_map(|alert| alert["engine"].as_str())
            .collect();
        assert!(kinds.len() >= 3, "engines seen: {kinds:?}");

        // and each sensor heartbeated, sent alerts, and installed what Vigil pushed: the
        // latest TI package on every one (automatic mode), the software update on one,
        // the settings on another (reported applied by its next heartbeat).
        let sensors = fleet.all("/sensors", 500).await;
        assert_eq!(sensors.len(), 4);
        let alerts_by_sensor: BTreeMap<&str, usize> =
            alerts.iter().fold(BTreeMap::new(), |mut counts, alert| {
                *counts
                    .entry(alert["sensor_id"].as_str().expect("a sensor id"))
                    .or_default() += 1;
                counts
            });
        let latest_ti = latest_ti_package().to_string();
        for sensor in &sensors {
            let id = sensor["id"].as_str().expect("an id");
            assert!(sensor["last_connected"].is_string(), "{sensor}");
            assert!(alerts_by_sensor.get(id).is_some_and(|n| *n > 0), "{sensor}");
            assert_eq!(sensor["ti_version"], latest_ti.as_str(), "{sensor}");
            assert_eq!(sensor["ti_update_status"], "ok", "{sensor}");
            let expected = if id == updated { &latest } else { OLD_VERSION };
            assert_eq!(sensor["version"], expected, "{sensor}");
            let settings = if id == configured { "applied" } else { "none" };
            let state = sensor["settings"]["status"]["state"]
                .as_str()
                .unwrap_or("none");
            assert_eq!(state, settings, "{sensor}");
        }
        assert_eq!(number("settings_applied"), 1, "{summary}");
        assert_eq!(number("ti_updates_installed"), 4, "{summary}");
        assert_eq!(number("software_updates_installed"), 1, "{summary}");
    }
);

#[test]
fn the_simulator_says_what_is_missing() {
    let output = Command::new(vigil_binary())
        .args(["sensor-sim", "--onboard", "2", "--seconds", "1"])
        .output()
        .expect("the simulator runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--onboard needs --url, --token, --subscription and --site"),
        "{stderr}"
    );
}
