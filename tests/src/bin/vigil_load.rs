//! The HTTP figures of `BENCHMARKS.md`, measured against `vigil serve` on 127.0.0.1 with
//! the embedded store: batched alert ingest, the alerts list page under load (with `wrk`)
//! at 100k and at 1k stored alerts, and process start to first answer.
//!
//! It starts the `vigil` binary of its own build profile, so build both in release:
//!
//! ```text
//! cargo build --release -p functions --bin vigil
//! cargo run --release -p vigil-tests --bin vigil-load -- [--alerts N] [--seconds S]
//! ```
//!
//! Every figure is checked for what it claims (all batches `202`, every alert listed
//! afterwards, every measured answer the expected status) before it is printed.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vigil_tests::fleet::{Fleet, Sensor};
use vigil_tests::load::{Options, WrkRun, count_alerts, detection, wrk};
use vigil_tests::vigil::{Vigil, free_port, vigil_binary};

const BATCH: usize = 1_000;
const SENSORS: usize = 4;
const PAGE: u32 = 50;
const START_RUNS: usize = 20;

#[tokio::main]
async fn main() {
    let options = Options::from_args("vigil-load [--alerts N] [--seconds S]");
    let alerts = options.alerts.unwrap_or(100_000);
    let seconds = options.seconds.unwrap_or(10);
    println!(
        "vigil-load: {} ({}), {alerts} alerts, wrk for {seconds} s",
        vigil_binary().display(),
        std::env::consts::ARCH
    );

    let large = Loaded::fill(alerts, 0).await;
    let small = Loaded::fill(1_000, 0).await;
    let large_page = large.wrk_page(seconds);
    let small_page = small.wrk_page(seconds);
    let status_path = format!("/alerts?limit={PAGE}&status=new");
    let large_status_page = large.wrk(&large.fleet.path(&status_path), seconds);
    // The alerts page's filters: several statuses and a severity (a quarter of the
    // alerts match), and a text search (one title in 64), each at both sizes.
    let filtered_path = format!("/alerts?limit={PAGE}&status=new,active&severity=critical");
    let search_path = format!("/alerts?limit={PAGE}&q=programming%20%237");
    // The page's total and group counts for the same filters.
    let counts_path = "/alerts/counts?status=new,active&severity=critical".to_owned();
    let [
        large_filtered,
        small_filtered,
        large_search,
        small_search,
        large_counts,
        small_counts,
    ] = [
        (&large, &filtered_path),
        (&small, &filtered_path),
        (&large, &search_path),
        (&small, &search_path),
        (&large, &counts_path),
        (&small, &counts_path),
    ]
    .map(|(loaded, path)| loaded.wrk(&loaded.fleet.path(path), seconds));

    println!();
    println!("| what | figure |");
    println!("|---|---|");
    println!(
        "| ingest: {alerts} new alerts, batches of {BATCH}, {SENSORS} sensors at once | {:.0} alerts/s |",
        large.ingest_rate
    );
    for (label, run) in [
        (
            format!("page of {PAGE}, {alerts} alerts stored"),
            &large_page,
        ),
        (format!("page of {PAGE}, 1000 alerts stored"), &small_page),
        (
            format!("page of {PAGE} with `status=new`, {alerts} alerts stored"),
            &large_status_page,
        ),
        (
            format!("page with `status=new,active&severity=critical`, {alerts} alerts stored"),
            &large_filtered,
        ),
        (
            "page with `status=new,active&severity=critical`, 1000 alerts stored".to_owned(),
            &small_filtered,
        ),
        (
            format!("page with `q=programming #7`, {alerts} alerts stored"),
            &large_search,
        ),
        (
            "page with `q=programming #7`, 1000 alerts stored".to_owned(),
            &small_search,
        ),
        (
            format!("counts with `status=new,active&severity=critical`, {alerts} alerts stored"),
            &large_counts,
        ),
        (
            "counts with `status=new,active&severity=critical`, 1000 alerts stored".to_owned(),
            &small_counts,
        ),
    ] {
        println!(
            "| {label} | {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms |",
            run.requests_per_second, run.p50_ms, run.p99_ms
        );
    }
    println!(
        "| p99 ratio, {alerts} / 1000 alerts | {:.2} |",
        large_page.p99_ms / small_page.p99_ms
    );
    println!(
        "| throughput ratio, 1000 / {alerts} alerts | {:.2} |",
        small_page.requests_per_second / large_page.requests_per_second
    );
    for (label, large_run, small_run) in [
        ("filtered page", &large_filtered, &small_filtered),
        ("text search", &large_search, &small_search),
        ("group counts", &large_counts, &small_counts),
    ] {
        println!(
            "| p99 ratio, {label}, {alerts} / 1000 alerts | {:.2} |",
            large_run.p99_ms / small_run.p99_ms
        );
    }
    drop(small);

    // Ingest with 100 active suppression rules (none matching) against none, at the
    // same size: what matching every detection against the rules costs.
    // Alternated, twice each, so that neither side is always the first (colder) run.
    let ruled_alerts = 20_000;
    let mut rates = [Vec::new(), Vec::new()];
    for round in 0..4 {
        let rules = if round % 2 == 0 { 100 } else { 0 };
        let rate = Loaded::fill(ruled_alerts, rules).await.ingest_rate;
        rates[usize::from(rules == 0)].push(format!("{rate:.0}"));
    }
    println!(
        "| ingest: {ruled_alerts} new alerts, 100 active suppression rules (2 runs) | {} alerts/s |",
        rates[0].join(", ")
    );
    println!(
        "| ingest: {ruled_alerts} new alerts, no suppression rules (2 runs) | {} alerts/s |",
        rates[1].join(", ")
    );

    // `stop` kills the server (SIGKILL): the first start on its folder recovers the store.
    let data = large.vigil.stop();
    let recovering = start_to_first_answer(data.path());
    println!(
        "| start to first answer after kill -9, {alerts} alerts stored (store recovery) | {recovering:.1} ms |"
    );
    let empty = tempfile::tempdir().expect("a temp dir");
    for (label, folder) in [
        ("empty data folder".to_owned(), empty.path()),
        (format!("{alerts} alerts stored"), data.path()),
    ] {
        let mut runs: Vec<f64> = (0..START_RUNS)
            .map(|_| start_to_first_answer(folder))
            .collect();
        runs.sort_by(f64::total_cmp);
        println!(
            "| start to first answer, {label} ({START_RUNS} runs) | median {:.1} ms, max {:.1} ms |",
            runs[START_RUNS / 2],
            runs[START_RUNS - 1]
        );
    }
}

/// A `vigil serve` holding `count` alerts ingested through the API.
struct Loaded {
    vigil: Vigil,
    fleet: Fleet,
    ingest_rate: f64,
}

impl Loaded {
    /// With `rules` active suppression rules that match none of the traffic, so each
    /// detection is checked against all of them and still raised.
    async fn fill(count: usize, rules: usize) -> Self {
        let vigil = Vigil::start().await;
        let fleet = Fleet::new(&vigil).await;
        let expires_at = (time::OffsetDateTime::now_utc() + time::Duration::days(30))
            .format(&time::format_description::well_known::Rfc3339)
            .expect("a time");
        for k in 0..rules {
            let made = fleet
                .post(
                    "/suppression-rules",
                    json!({
                        "match": {"title": format!("Never sent #{k}"), "source": "192.0.2.0/24"},
                        "scope": {"kind": "subscription"},
                        "expires_at": expires_at,
                        "reason": "load test",
                    }),
                )
                .await;
            assert_eq!(made.status, 201, "{made:?}");
        }
        let site = fleet.site("Load").await;
        let zone = fleet.zone(&site, "Cell").await;
        let mut sensors = Vec::new();
        for n in 0..SENSORS {
            sensors.push(fleet.sensor(&format!("load-{n}"), &site, Some(&zone)).await);
        }

        let started = Instant::now();
        let tasks: Vec<_> = sensors
            .into_iter()
            .enumerate()
            .map(|(lane, sensor)| {
                let api = fleet.api.clone();
                tokio::spawn(async move { ingest_lane(api, sensor, lane, count).await })
            })
            .collect();
        for task in tasks {
            task.await.expect("an ingest lane");
        }
        let ingest_rate = count as f64 / started.elapsed().as_secs_f64();

        // Nothing acknowledged is lost: every alert is listed.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let counted = count_alerts(&fleet).await;
        assert_eq!(counted, count, "every acknowledged alert is listed");
        Self {
            vigil,
            fleet,
            ingest_rate,
        }
    }

    fn wrk_page(&self, seconds: u32) -> WrkRun {
        self.wrk(&self.fleet.path(&format!("/alerts?limit={PAGE}")), seconds)
    }

    /// `wrk` on one GET: a short warm-up, then the measured run.
    fn wrk(&self, path: &str, seconds: u32) -> WrkRun {
        let url = format!("{}/api{path}", self.vigil.base);
        let header = format!("Authorization: Bearer {}", self.fleet.owner);
        let _ = wrk(&url, &header, 2);
        let run = wrk(&url, &header, seconds);
        assert_eq!(
            run.errors, 0,
            "every measured answer is a 200 page of {PAGE}"
        );
        run
    }
}

/// One sensor's share of the alerts, in batches, each alert distinct (no two share a
/// fingerprint, so each is a new alert rather than a refresh).
async fn ingest_lane(api: vigil_tests::vigil::Api, sensor: Sensor, lane: usize, count: usize) {
    let mine: Vec<usize> = (0..count).filter(|n| n % SENSORS == lane).collect();
    for batch in mine.chunks(BATCH) {
        let alerts: Vec<Value> = batch.iter().map(|&n| detection(n)).collect();
        let answer = api
            .post(
                "/ingest/alerts",
                Some(&sensor.token),
                json!({ "alerts": alerts }),
            )
            .await;
        assert_eq!(answer.status, 202, "{answer:?}");
    }
}

/// Starts `vigil serve` on `data` and times it until the first complete HTTP answer (the
/// contract's `401` to an unauthenticated `GET /api/me`); then stops it with SIGTERM.
fn start_to_first_answer(data: &Path) -> f64 {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let mut child = Command::new(vigil_binary())
        .args(["serve", "--addr", &addr, "--data"])
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("vigil starts");
    let deadline = started + Duration::from_secs(10);
    let answer = loop {
        assert!(
            Instant::now() < deadline,
            "vigil did not answer within 10 s"
        );
        let Ok(mut stream) = TcpStream::connect(&addr) else {
            std::thread::sleep(Duration::from_micros(100));
            continue;
        };
        stream
            .write_all(b"GET /api/me HTTP/1.1\r\nHost: vigil\r\nConnection: close\r\n\r\n")
            .expect("a request");
        let mut answer = String::new();
        if stream.read_to_string(&mut answer).is_ok() && !answer.is_empty() {
            break answer;
        }
    };
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(stopped.success());
    child.wait().expect("vigil stops");
    elapsed
}
