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
//!
//! The same traffic, every operation many times over, shows what each deployed function
//! does to the table: the server records it (`--record-table-access`), and each function's
//! policy in `infra/template.yaml` must grant all of it, and no index it never queried.

use std::collections::{BTreeMap, BTreeSet};
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
        // Every check; three through the hooks' versions of them.
        .args(["--checks", "all"])
        .args([
            "--exclude-checks",
            "positive_data_acceptance,negative_data_rejection,ensure_resource_availability",
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

/// `"<action> on <resource>"` (resource `table` or `index/<name>`), per function binary.
type Grants = BTreeMap<String, BTreeSet<String>>;

/// What each function's policy in the template grants on the table: every action of a
/// statement on every resource of it.
fn granted(template: &str) -> Grants {
    let mut grants = Grants::new();
    let mut function = String::new();
    let mut statements: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    let mut flush = |function: &str, statements: &mut Vec<(Vec<String>, Vec<String>)>| {
        for (actions, resources) in statements.drain(..) {
            for action in &actions {
                for resource in &resources {
                    grants
                        .entry(function.to_owned())
                        .or_default()
                        .insert(format!("{action} on {resource}"));
                }
            }
        }
    };
    for line in template.lines().map(str::trim) {
        if let Some(binary) = line.strip_prefix("Binary: ") {
            flush(&function, &mut statements);
            function = binary.to_owned();
        } else if line == "- Effect: Allow" {
            statements.push((Vec::new(), Vec::new()));
        } else if let Some(statement) = statements.last_mut() {
            if let Some(action) = line.strip_prefix("- dynamodb:") {
                statement.0.push(action.to_owned());
            } else if line == "- !GetAtt Table.Arn" {
                statement.1.push("table".to_owned());
            } else if let Some(index) = line.strip_prefix("- !Sub \"${Table.Arn}/") {
                statement.1.push(index.trim_end_matches('"').to_owned());
            }
        }
    }
    flush(&function, &mut statements);
    grants
}

/// What the server recorded each function doing, as [`Grants`].
fn used(file: &Path) -> Grants {
    let json = std::fs::read(file).expect("the server recorded its table calls");
    let accesses: functions::store::access::Accesses =
        serde_json::from_slice(&json).expect("recorded accesses");
    accesses
        .into_iter()
        .map(|(function, actions)| {
            let uses = actions
                .into_iter()
                .flat_map(|(action, resources)| {
                    resources
                        .into_iter()
                        .map(move |resource| format!("{action} on {resource}"))
                })
                .collect();
            (function, uses)
        })
        .collect()
}

/// Each function's policy against what it was seen to do: the differences, named. An
/// unused grant on the table itself is not one: generated requests with made-up ids reach
/// few of the writes some functions make (a device's edit, an API token's use), so only
/// the indexes, which few code paths query, are held to exactly what was seen.
fn policy_differences(granted: &Grants, used: &Grants) -> Vec<String> {
    let functions: BTreeSet<&String> = granted.keys().chain(used.keys()).collect();
    let empty = BTreeSet::new();
    let mut differences = Vec::new();
    for function in functions {
        let grants = granted.get(function).unwrap_or(&empty);
        let uses = used.get(function).unwrap_or(&empty);
        for missing in uses.difference(grants) {
            differences.push(format!(
                "{function} uses {missing}, which it is not granted"
            ));
        }
        for unused in grants
            .difference(uses)
            .filter(|grant| grant.contains(" on index/"))
        {
            differences.push(format!(
                "{function} is granted {unused}, which it never used"
            ));
        }
    }
    differences
}

#[test]
fn a_policy_difference_is_named_either_way() {
    let template = "\
        Binary: sites\n\
        - Effect: Allow\n  - dynamodb:GetItem\n  - dynamodb:Query\n  - !GetAtt Table.Arn\n\
        - Effect: Allow\n  - dynamodb:Query\n  - !Sub \"${Table.Arn}/index/gsi1\"\n";
    let granted = granted(template);
    let mut used = granted.clone();
    assert!(policy_differences(&granted, &used).is_empty());
    let sites = used.get_mut("sites").expect("sites is granted");
    sites.remove("Query on index/gsi1");
    sites.remove("Query on table");
    sites.insert("Query on index/gsi2".to_owned());
    assert_eq!(
        policy_differences(&granted, &used),
        [
            "sites uses Query on index/gsi2, which it is not granted",
            "sites is granted Query on index/gsi1, which it never used",
        ]
    );
}

#[tokio::test]
async fn generated_requests_find_no_failure_as_owner_site_reader_and_sensor() {
    let folder = tempfile::tempdir().expect("a temp dir");
    let accesses = folder.path().join("table-accesses.json");
    let vigil = Vigil::start_with(&[
        "--demo",
        "--record-table-access",
        accesses.to_str().expect("a UTF-8 path"),
    ])
    .await;
    let (sub, callers) = callers(&vigil.api()).await;
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
    let template = std::fs::read_to_string(workspace_root().join("infra/template.yaml"))
        .expect("infra/template.yaml");
    let differences = policy_differences(&granted(&template), &used(&accesses));
    assert!(
        differences.is_empty(),
        "the template's table policies are not what the functions do:\n{}",
        differences.join("\n")
    );
}
