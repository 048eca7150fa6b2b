//! What the load drivers (`vigil-load`, `vigil-ingest`) share: the traffic they send,
//! the checks that every acknowledged alert is there, and `wrk`'s report.

use std::process::Command;

use serde_json::{Value, json};

use crate::fleet::Fleet;

/// `wrk`'s settings: one thread beside the server's two tokio workers on a 2-core machine.
const WRK_THREADS: &str = "1";
const WRK_CONNECTIONS: &str = "8";

/// The drivers' options: `--alerts N`, `--seconds S`, `--only PART`; `None` where not
/// given. Exits with `usage` on anything else.
#[derive(Debug, Default)]
pub struct Options {
    pub alerts: Option<usize>,
    pub seconds: Option<u32>,
    pub only: Option<String>,
}

impl Options {
    pub fn from_args(usage: &str) -> Self {
        let mut options = Self::default();
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let value = args.next().unwrap_or_default();
            let parsed = match arg.as_str() {
                "--alerts" => value.parse().map(|n| options.alerts = Some(n)).is_ok(),
                "--seconds" => value.parse().map(|n| options.seconds = Some(n)).is_ok(),
                "--only" => {
                    options.only = Some(value);
                    true
                }
                _ => false,
            };
            if !parsed {
                eprintln!("usage: {usage}");
                std::process::exit(2);
            }
        }
        options
    }
}

/// Detection `n` of the load: distinct from every other `n` below 2^24 (its source
/// address), of 64
/// titles, four severities and three engines, half of them learnable.
pub fn detection(n: usize) -> Value {
    const SEVERITIES: [&str; 4] = ["critical", "major", "minor", "warning"];
    const ENGINES: [&str; 3] = ["policy_violation", "anomaly", "protocol_violation"];
    json!({
        "title": format!("Unauthorized PLC programming #{}", n % 64),
        "severity": SEVERITIES[n % SEVERITIES.len()],
        "engine": ENGINES[n % ENGINES.len()],
        "source_ip": format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255),
        "destination_ip": "10.0.0.1",
        "protocol": "modbus",
        "learnable": n.is_multiple_of(2),
    })
}

/// How many alerts the subscription lists, walking every page.
pub async fn count_alerts(fleet: &Fleet) -> usize {
    let mut counted = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => fleet.path(&format!("/alerts?limit=500&cursor={cursor}")),
            None => fleet.path("/alerts?limit=500"),
        };
        let page = fleet.api.get(&path, Some(&fleet.owner)).await;
        assert_eq!(page.status, 200, "{page:?}");
        counted += page.body["items"].as_array().map_or(0, Vec::len);
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return counted,
        }
    }
}

/// The `p`-th percentile (0–100) of `samples`, by nearest rank.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// What `wrk --latency` reported.
pub struct WrkRun {
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Socket errors and non-2xx answers.
    pub errors: u64,
}

/// `wrk --latency` on `url` for `seconds`, with `header`.
pub fn wrk(url: &str, header: &str, seconds: u32) -> WrkRun {
    let output = Command::new("wrk")
        .args(["-t", WRK_THREADS, "-c", WRK_CONNECTIONS])
        .args(["-d", &format!("{seconds}s"), "--latency", "-H", header, url])
        .output()
        .expect("wrk runs (cargo xtask bootstrap installs it)");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed: {report}");
    let field = |prefix: &str| -> Option<&str> {
        report
            .lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(prefix))
            .map(str::trim)
    };
    let errors = report
        .lines()
        .map(str::trim)
        .filter_map(|line| {
            line.strip_prefix("Non-2xx or 3xx responses:")
                .or_else(|| line.strip_prefix("Socket errors:"))
        })
        .flat_map(|rest| rest.split(|c: char| !c.is_ascii_digit()))
        .filter_map(|n| n.parse::<u64>().ok())
        .sum();
    WrkRun {
        requests_per_second: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no Requests/sec in: {report}")),
        p50_ms: field("50%").map(milliseconds).expect("a p50"),
        p99_ms: field("99%").map(milliseconds).expect("a p99"),
        errors,
    }
}

/// wrk's durations: `812.00us`, `1.20ms`, `1.01s`.
fn milliseconds(text: &str) -> f64 {
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        panic!("a wrk duration: {text}")
    };
    number.parse::<f64>().expect("a number") * factor
}
