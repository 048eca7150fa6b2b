//! The ingest figures of `BENCHMARKS.md` ("Ingest at scale"), against `vigil serve` on
//! 127.0.0.1 with the embedded store: the shape of a long ingest (alerts/s for each tenth
//! of the run, so a cost growing with history shows as a falling curve), from one sensor,
//! from 50, and with half of the detections repeats; the alerts page with that many
//! alerts stored; and people's requests while sensors flood.
//!
//! It starts the `vigil` binary of its own build profile, so build both in release:
//!
//! ```text
//! cargo build --release -p functions --bin vigil
//! cargo run --release -p vigil-tests --bin vigil-ingest -- [--alerts N] [--seconds S]
//! ```
//!
//! Every figure is checked for what it claims before it is printed: every batch answered
//! `202`, every acknowledged alert listed afterwards (all pages walked), repeats
//! deduplicated exactly, every measured page and edit a `200`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vigil_tests::fleet::{Fleet, Sensor};
use vigil_tests::load::{Options, count_alerts, detection, percentile, wrk};
use vigil_tests::vigil::{Api, Vigil, vigil_binary};

const BATCH: usize = 500;
const PAGE: u32 = 50;
/// The flood's sensors, each posting batches of [`BATCH`] back to back.
const FLOOD_SENSORS: usize = 4;

#[tokio::main]
async fn main() {
    let options = Options::from_args(
        "vigil-ingest [--alerts N] [--seconds S] [--only one|spread|repeats|people]",
    );
    let alerts = options.alerts.unwrap_or(1_000_000);
    let seconds = options.seconds.unwrap_or(20);
    let only = options.only;
    let wanted = |part: &str| only.as_deref().is_none_or(|only| only == part);
    println!(
        "vigil-ingest: {} ({}), {alerts} alerts, batches of {BATCH}, flood for {seconds} s",
        vigil_binary().display(),
        std::env::consts::ARCH
    );
    println!();
    println!("| what | figure |");
    println!("|---|---|");

    // One sensor, every detection new; then the alerts page with all of them stored.
    if wanted("one") {
        one_sensor(alerts).await;
    }
    // The same spread over 50 sensors at once; then one sensor with half repeats.
    if wanted("spread") {
        let (_, spread) = run(alerts, 50, 0).await;
        spread.print(&format!("{alerts} new alerts, 50 sensors at once"));
    }
    if wanted("repeats") {
        let (_, repeats) = run(alerts, 1, 50).await;
        repeats.print(&format!(
            "{alerts} detections, one sensor, 50% repeats ({} distinct)",
            repeats.distinct
        ));
    }
    if wanted("people") {
        people_figures(seconds).await;
    }
}

/// One sensor sends `alerts` new detections; then the alerts page with all of them stored.
async fn one_sensor(alerts: usize) {
    let (one, single) = run(alerts, 1, 0).await;
    single.print(&format!("{alerts} new alerts, one sensor"));
    let header = format!("Authorization: Bearer {}", one.fleet.owner);
    for (label, path) in [
        ("page of 50", format!("/alerts?limit={PAGE}")),
        (
            "page with `status=new,active&severity=critical`",
            format!("/alerts?limit={PAGE}&status=new,active&severity=critical"),
        ),
        (
            "counts with `status=new,active&severity=critical`",
            "/alerts/counts?status=new,active&severity=critical".to_owned(),
        ),
    ] {
        let url = format!("{}/api{}", one.vigil.base, one.fleet.path(&path));
        let _ = wrk(&url, &header, 2);
        let page = wrk(&url, &header, 10);
        assert_eq!(page.errors, 0, "every measured answer is a 200");
        println!(
            "| {label}, {alerts} alerts stored | {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms |",
            page.requests_per_second, page.p50_ms, page.p99_ms
        );
    }
}

/// People's requests, quiet and while sensors flood.
async fn people_figures(seconds: u32) {
    let quiet = people(None, seconds / 2).await;
    let flooded = people(Some(FLOOD_SENSORS), seconds).await;
    for (label, figures) in [("quiet", &quiet), ("4 sensors flooding", &flooded)] {
        println!(
            "| site edit (`PATCH …/sites/{{id}}`), {label} | p50 {:.2} ms, p99 {:.2} ms ({} edits) |",
            percentile(&figures.edits, 50.0),
            percentile(&figures.edits, 99.0),
            figures.edits.len()
        );
        println!(
            "| page of 50, {label} | p50 {:.2} ms, p99 {:.2} ms ({} pages) |",
            percentile(&figures.pages, 50.0),
            percentile(&figures.pages, 99.0),
            figures.pages.len()
        );
        if figures.flood_rate > 0.0 {
            println!(
                "| the flood meanwhile ({FLOOD_SENSORS} sensors, batches of {BATCH}) | {:.0} alerts/s |",
                figures.flood_rate
            );
        }
    }
}

/// A server with its subscription, one site and the sensors.
struct Loaded {
    vigil: Vigil,
    fleet: Fleet,
    sensors: Vec<Sensor>,
}

impl Loaded {
    async fn start(sensors: usize) -> Self {
        let vigil = Vigil::start().await;
        let fleet = Fleet::new(&vigil).await;
        let site = fleet.site("Load").await;
        let zone = fleet.zone(&site, "Cell").await;
        let mut onboarded = Vec::new();
        for n in 0..sensors {
            onboarded.push(fleet.sensor(&format!("load-{n}"), &site, Some(&zone)).await);
        }
        Self {
            vigil,
            fleet,
            sensors: onboarded,
        }
    }
}

/// Each batch as it was answered: when (since the start) and how long it took.
struct Shape {
    alerts: usize,
    /// Distinct detections among them: the alerts raised.
    distinct: usize,
    wall: Duration,
    /// `(answered at, latency)` of every batch, in order of answer.
    batches: Vec<(Duration, Duration)>,
}

impl Shape {
    fn print(&self, label: &str) {
        let rate = self.alerts as f64 / self.wall.as_secs_f64();
        let latencies: Vec<f64> = self.batches.iter().map(|(_, l)| ms(*l)).collect();
        // Tenths of the run by batches answered; each tenth's rate is its alerts over the
        // time from the previous tenth's last answer to its own.
        let tenth = self.batches.len().div_ceil(10);
        let mut rates = Vec::new();
        let mut means = Vec::new();
        let mut since = Duration::ZERO;
        for part in self.batches.chunks(tenth) {
            let until = part.last().map_or(since, |(at, _)| *at);
            let alerts = self.alerts as f64 * part.len() as f64 / self.batches.len() as f64;
            rates.push(alerts / (until - since).as_secs_f64());
            means.push(part.iter().map(|(_, l)| ms(*l)).sum::<f64>() / part.len() as f64);
            since = until;
        }
        println!("| ingest: {label} | {rate:.0} alerts/s |");
        println!(
            "| … alerts/s in each tenth | {} |",
            rates
                .iter()
                .map(|r| format!("{:.0}k", r / 1000.0))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!(
            "| … batch latency: mean per tenth (first → last), p50, p99 | {} ms; p50 {:.1} ms, p99 {:.1} ms |",
            means
                .iter()
                .map(|m| format!("{m:.1}"))
                .collect::<Vec<_>>()
                .join(", "),
            percentile(&latencies, 50.0),
            percentile(&latencies, 99.0),
        );
        println!(
            "| … last tenth / first tenth, mean batch latency | {:.2} |",
            means.last().unwrap_or(&f64::NAN) / means.first().unwrap_or(&f64::NAN)
        );
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Sends `count` detections from `sensors` sensors at once, each its share in batches of
/// [`BATCH`] back to back; `repeat_percent` of each batch repeats detections the sensor
/// sent before (its alerts still open: each is a refresh, not a new alert). Checks that
/// the alerts listed are exactly the distinct detections sent.
async fn run(count: usize, sensors: usize, repeat_percent: usize) -> (Loaded, Shape) {
    let loaded = Loaded::start(sensors).await;
    // The bodies are made before the clock starts: the driver shares the server's cores.
    let per_sensor = count / sensors;
    let repeats_per_batch = BATCH * repeat_percent / 100;
    let mut bodies: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut distinct = 0;
    for lane in 0..sensors {
        let mut next = lane * per_sensor;
        let mut sent: Vec<usize> = Vec::new();
        let mut lane_bodies = Vec::new();
        let mut left = per_sensor;
        while left > 0 {
            let size = left.min(BATCH);
            let repeats = if sent.len() >= repeats_per_batch {
                repeats_per_batch.min(size)
            } else {
                0
            };
            let mut batch: Vec<Value> = Vec::with_capacity(size);
            // Repeats of the previous batch's new detections, spread through the batch.
            let earlier = sent.len() - repeats.min(sent.len());
            for &n in &sent[earlier..] {
                batch.push(detection(n));
            }
            for _ in repeats..size {
                batch.push(detection(next));
                sent.push(next);
                next += 1;
                distinct += 1;
            }
            lane_bodies.push(serde_json::to_vec(&json!({ "alerts": batch })).expect("json"));
            left -= size;
        }
        bodies.push(lane_bodies);
    }

    let started = Instant::now();
    let lanes: Vec<_> = loaded
        .sensors
        .iter()
        .cloned()
        .zip(bodies)
        .map(|(sensor, bodies)| {
            let api = loaded.fleet.api.clone();
            tokio::spawn(async move {
                let mut answered = Vec::with_capacity(bodies.len());
                for body in bodies {
                    let sent = Instant::now();
                    let answer = api
                        .post_raw("/ingest/alerts", Some(&sensor.token), body)
                        .await;
                    assert_eq!(answer.status, 202, "{answer:?}");
                    answered.push((started.elapsed(), sent.elapsed()));
                }
                answered
            })
        })
        .collect();
    let mut batches = Vec::new();
    for lane in lanes {
        batches.extend(lane.await.expect("an ingest lane"));
    }
    let wall = started.elapsed();
    batches.sort_by_key(|(at, _)| *at);
    let sent = count - count % sensors;
    // Nothing acknowledged is lost, and the repeats made no alert.
    let listed = count_alerts(&loaded.fleet).await;
    assert_eq!(
        listed, distinct,
        "every distinct detection is one listed alert"
    );
    (
        loaded,
        Shape {
            alerts: sent,
            distinct,
            wall,
            batches,
        },
    )
}

/// Latencies of people's requests (ms): site edits and alerts pages.
struct People {
    edits: Vec<f64>,
    pages: Vec<f64>,
    /// The flood's alerts/s over the same time (0 without one).
    flood_rate: f64,
}

/// For `seconds`, a person editing a site every 20 ms and another reading the first
/// alerts page every 10 ms, each waiting for its answer, while `flood` sensors (if any)
/// post batches of [`BATCH`] new detections back to back.
async fn people(flood: Option<usize>, seconds: u32) -> People {
    let loaded = Loaded::start(flood.unwrap_or(1)).await;
    // Some alerts to page through.
    let first: Vec<Value> = (0..BATCH).map(|n| detection(n + 900_000_000)).collect();
    let answer = loaded.fleet.ingest_alerts(&loaded.sensors[0], first).await;
    assert_eq!(answer.status, 202, "{answer:?}");
    let site = loaded.sensors[0].site.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();

    let flooding: Vec<_> = match flood {
        None => Vec::new(),
        Some(_) => loaded
            .sensors
            .iter()
            .cloned()
            .enumerate()
            .map(|(lane, sensor)| {
                let (api, stop) = (loaded.fleet.api.clone(), Arc::clone(&stop));
                tokio::spawn(async move {
                    let mut sent = 0;
                    let mut next = lane * 10_000_000;
                    while !stop.load(Ordering::Relaxed) {
                        let batch: Vec<Value> = (next..next + BATCH).map(detection).collect();
                        next += BATCH;
                        let body = serde_json::to_vec(&json!({ "alerts": batch })).expect("json");
                        let answer = api
                            .post_raw("/ingest/alerts", Some(&sensor.token), body)
                            .await;
                        assert_eq!(answer.status, 202, "{answer:?}");
                        sent += BATCH;
                    }
                    sent
                })
            })
            .collect(),
    };
    let edits = {
        let (api, owner, stop) = (
            loaded.fleet.api.clone(),
            loaded.fleet.owner.clone(),
            Arc::clone(&stop),
        );
        let path = loaded.fleet.path(&format!("/sites/{site}"));
        tokio::spawn(async move {
            let mut edits = 0;
            repeat(&stop, 20, || {
                edits += 1;
                edit(&api, &owner, &path, edits)
            })
            .await
        })
    };
    let pages = {
        let (api, owner, stop) = (
            loaded.fleet.api.clone(),
            loaded.fleet.owner.clone(),
            Arc::clone(&stop),
        );
        let path = loaded.fleet.path(&format!("/alerts?limit={PAGE}"));
        tokio::spawn(async move { repeat(&stop, 10, || page(&api, &owner, &path)).await })
    };
    tokio::time::sleep(Duration::from_secs(u64::from(seconds))).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let mut flooded = 0;
    for lane in flooding {
        flooded += lane.await.expect("a flood lane");
    }
    People {
        edits: edits.await.expect("the editor"),
        pages: pages.await.expect("the reader"),
        flood_rate: flooded as f64 / elapsed.as_secs_f64(),
    }
}

/// Runs `request` every `every_ms` until `stop`, returning each one's latency in ms.
async fn repeat<F, Fut>(stop: &AtomicBool, every_ms: u64, mut request: F) -> Vec<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut latencies = Vec::new();
    let mut ticks = tokio::time::interval(Duration::from_millis(every_ms));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(Ordering::Relaxed) {
        ticks.tick().await;
        let sent = Instant::now();
        request().await;
        latencies.push(ms(sent.elapsed()));
    }
    latencies
}

/// A site edit that changes something each time (its display name).
async fn edit(api: &Api, owner: &str, path: &str, n: usize) {
    let answer = api
        .patch(
            path,
            Some(owner),
            json!({"display_name": format!("Load {n}")}),
        )
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
}

async fn page(api: &Api, owner: &str, path: &str) {
    let answer = api.get(path, Some(owner)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
}
