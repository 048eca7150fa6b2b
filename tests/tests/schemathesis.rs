//! The served OpenAPI document against the server that serves it, by an outside tool:
//! schemathesis generates requests from `/api/openapi.json` (every phase: examples,
//! coverage, fuzzing and stateful sequences over the document's links) and runs every
//! check on the answers. A request the document declares valid must not be refused
//! with `400`, one it declares invalid must not be accepted, no answer may be a server
//! error or differ from its documented schema.
//!
//! It runs against `vigil serve --demo` as the subscription Owner, as a site-scoped
//! Security Reader and with a sensor's token, each twice: with a fixed seed, so a
//! failure is reproducible, and with a new one, printed, so every run looks somewhere
//! new. The few refusals no schema of one request can state (what is stored, fields that
//! go together) are listed, with their reason, in `tests/schemathesis/vigil_hooks.py`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use vigil_tests::vigil::{Api, Vigil, workspace_root};

/// The fixed seed: a failure it finds fails every run until it is mended.
const FIXED_SEED: u64 = 20_261_202;
/// How long one run generates requests for.
const SECONDS_PER_RUN: u32 = 40;

/// Who the requests are sent as.
struct Caller {
    name: &'static str,
    token: String,
    /// Only the operations this caller is for (a sensor token is taken by ingest only,
    /// whose operations link to nothing, so there is no stateful phase for it).
    ingest_only: bool,
}

/// The `st` script pip installed beside the interpreter that has schemathesis.
fn schemathesis_command() -> PathBuf {
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .expect("python3 runs");
    let folder = String::from_utf8(scripts.stdout).expect("a path");
    let st = Path::new(folder.trim()).join("st");
    assert!(
        st.exists(),
        "schemathesis is not installed ({} is missing): run `cargo xtask bootstrap`",
        st.display()
    );
    st
}

/// A seed no earlier run used (close enough): the clock's nanoseconds.
fn new_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .subsec_nanos()
        .into()
}

/// The callers, with the demo subscription's id.
async fn callers(api: &Api) -> (String, Vec<Caller>) {
    let owner = api.dev_login("owner@vigil.demo").await;
    let me = api.get("/me", Some(&owner)).await;
    let sub = me.body["subscriptions"][0]["id"]
        .as_str()
        .expect("the demo subscription")
        .to_owned();
    let sites = api
        .get(&format!("/subscriptions/{sub}/sites"), Some(&owner))
        .await;
    let site = sites.body["items"][0]["id"].as_str().expect("a demo site");
    let onboarded = api
        .post(
            &format!("/subscriptions/{sub}/sensors"),
            Some(&owner),
            json!({"name": "fuzzed-sensor", "type": "ot_cloud_connected", "site_id": site}),
        )
        .await;
    assert_eq!(onboarded.status, 201, "{onboarded:?}");
    let sensor = onboarded.body["activation_file"]["token"]
        .as_str()
        .expect("a sensor token")
        .to_owned();
    let reader = api.dev_login("north.reader@vigil.demo").await;
    let callers = vec![
        Caller {
            name: "subscription owner",
            token: owner,
            ingest_only: false,
        },
        Caller {
            name: "site reader",
            token: reader,
            ingest_only: false,
        },
        Caller {
            name: "sensor",
            token: sensor,
            ingest_only: true,
        },
    ];
    (sub, callers)
}

/// One schemathesis run; its summary is printed, and its exit status returned.
fn run(vigil: &Vigil, sub: &str, caller: &Caller, seed: u64, folder: &Path) -> bool {
    let config = folder.join(format!("{}-{seed}.toml", caller.name.replace(' ', "-")));
    // 412 answers a random If-Match, which no document can make current.
    let settings = format!(
        "headers = {{ Authorization = \"Bearer {token}\" }}\n\
         [parameters]\nsub = \"{sub}\"\n\
         [checks.positive_data_acceptance]\n\
         expected-statuses = [\"2xx\", \"401\", \"403\", \"404\", \"409\", \"412\"]\n",
        token = caller.token,
    );
    std::fs::write(&config, settings).expect("the config is written");
    let document = format!("{}/api/openapi.json", vigil.base);
    let seed_text = seed.to_string();
    let max_time = SECONDS_PER_RUN.to_string();
    let mut st = Command::new(schemathesis_command());
    st.current_dir(folder)
        .env("PYTHONPATH", workspace_root().join("tests/schemathesis"))
        .env("SCHEMATHESIS_HOOKS", "vigil_hooks")
        .arg("--config-file")
        .arg(&config)
        .args(["run", &document, "--url", &vigil.base])
        // Every check; the two data checks through the hooks' versions of them.
        .args(["--checks", "all"])
        .args([
            "--exclude-checks",
            "positive_data_acceptance,negative_data_rejection",
        ])
        .args(["--seed", &seed_text, "--max-time", &max_time])
        .args(["--no-color", "--suppress-health-check", "all"]);
    if caller.ingest_only {
        st.args(["--include-path-regex", "^/api/ingest/"])
            .args(["--phases", "examples,coverage,fuzzing"]);
    }
    let output = st.output().expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout
        .find("SUMMARY")
        .map_or(stdout.as_ref(), |at| &stdout[at..]);
    let shown = if output.status.success() {
        summary
    } else {
        stdout.as_ref()
    };
    println!(
        "--- schemathesis as the {} (seed {seed}) ---\n{shown}\n{}",
        caller.name,
        String::from_utf8_lossy(&output.stderr)
    );
    output.status.success()
}

#[tokio::test]
async fn generated_requests_find_no_failure_as_owner_site_reader_and_sensor() {
    let vigil = Vigil::start_with(&["--demo"]).await;
    let (sub, callers) = callers(&vigil.api()).await;
    let folder = tempfile::tempdir().expect("a temp dir");
    let random_seed = new_seed();
    println!("schemathesis seeds: fixed {FIXED_SEED}, random {random_seed}");
    let mut failed = Vec::new();
    for caller in &callers {
        for seed in [FIXED_SEED, random_seed] {
            if !run(&vigil, &sub, caller, seed, folder.path()) {
                failed.push(format!("{} (seed {seed})", caller.name));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "schemathesis found failures as: {} (output above)",
        failed.join(", ")
    );
}
