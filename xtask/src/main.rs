//! Developer workflows: `cargo xtask <bootstrap|dev|test|bench>`.
//!
//! `bootstrap` installs everything the project needs on a fresh Debian machine and
//! is idempotent (a second run takes seconds); `dev` and `test` bootstrap first, so
//! the README's two commands work on a machine with nothing but rustup.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

const TRUNK_VERSION: &str = "0.21.14";
const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// Name under which Debian's wasm-capable toolchain is linked into rustup.
const DEBIAN_TOOLCHAIN: &str = "debian-web";
/// Debian packages of the wasm route: a newer rustc whose std can be built for wasm32.
const DEBIAN_WASM_PACKAGES: &[&str] = &[
    "rustc-web",
    "cargo-web",
    "rust-web-src",
    "libstd-rust-web-dev",
    "rust-web-llvm",
    "rust-web-clippy",
    "lld-22",
];
/// Python tools the tests start: a DynamoDB-API server, the template linter, cargo lambda,
/// the OpenAPI specification's validator (for the served document).
const PIP_PACKAGES: &[(&str, &str)] = &[
    ("moto", "moto[server]"),
    ("cfn-lint", "cfn-lint"),
    ("cargo-lambda", "cargo-lambda"),
    ("openapi-spec-validator", "openapi-spec-validator"),
];

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let started = Instant::now();
    let outcome = match args.first().map(String::as_str) {
        Some("bootstrap") => bootstrap().map(|_| ()),
        Some("dev") => dev(&args[1..]),
        Some("test") => test(),
        Some("bench") => bench(),
        Some("spa") => bootstrap().and_then(|wasm| build_spa(&wasm, true)),
        _ => Err(USAGE.to_owned()),
    };
    match outcome {
        Ok(()) => {
            eprintln!("xtask: done in {:.0?}", started.elapsed());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <command>
  bootstrap   install what the project needs (idempotent)
  dev         bootstrap, build the SPA and run Vigil on http://127.0.0.1:8080 with demo data
              (--addr ADDR, --data DIR to change where)
  test        bootstrap, then every check and test: fmt, clippy (native and wasm32), the SPA
              build, unit, HTTP, store and browser tests
  bench       the benchmarks: criterion, then HTTP load against a release `vigil serve`
  spa         bootstrap and build the SPA in release mode into dist/";

/// How to build for wasm32 on this machine.
#[derive(Debug, Clone)]
enum WasmRoute {
    /// rustup has the target: plain cargo.
    Rustup,
    /// Debian's rustc-web with std built from source (no wasm32 std from rustup here).
    DebianBuildStd,
}

impl WasmRoute {
    /// Environment for a cargo (or trunk) run that builds for wasm32.
    fn env(&self) -> Vec<(&'static str, &'static str)> {
        match self {
            WasmRoute::Rustup => vec![],
            WasmRoute::DebianBuildStd => vec![
                ("RUSTUP_TOOLCHAIN", DEBIAN_TOOLCHAIN),
                ("RUSTC_BOOTSTRAP", "1"),
                ("CARGO_UNSTABLE_BUILD_STD", "std,panic_abort"),
            ],
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn cmd(program: &str, args: &[&str]) -> Command {
    let mut command = Command::new(program);
    command.args(args).current_dir(root());
    command
}

fn run(mut command: Command) -> Result {
    eprintln!("xtask: $ {}", describe(&command));
    let status = command
        .status()
        .map_err(|e| format!("cannot start {}: {e}", describe(&command)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("failed ({status}): {}", describe(&command)))
    }
}

/// Runs quietly and says whether it succeeded (for probes like `trunk --version`).
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn describe(command: &Command) -> String {
    let mut text = String::new();
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            text.push_str(&format!(
                "{}={} ",
                key.to_string_lossy(),
                value.to_string_lossy()
            ));
        }
    }
    text.push_str(&command.get_program().to_string_lossy());
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

fn bootstrap() -> Result<WasmRoute> {
    let mut apt_packages: Vec<&str> = Vec::new();
    let wasm = wasm_route(&mut apt_packages);
    for (binary, package) in [
        ("chromium", "chromium"),
        ("chromedriver", "chromium-driver"),
        // The HTTP load figures (`bench`).
        ("wrk", "wrk"),
    ] {
        if output("which", &[binary]).is_none() {
            apt_packages.push(package);
        }
    }
    if !apt_packages.is_empty() {
        apt_install(&apt_packages)?;
    }
    if let WasmRoute::DebianBuildStd = wasm {
        let linked = output("rustup", &["toolchain", "list"])
            .is_some_and(|list| list.lines().any(|l| l.starts_with(DEBIAN_TOOLCHAIN)));
        if !linked {
            run(cmd(
                "rustup",
                &["toolchain", "link", DEBIAN_TOOLCHAIN, "/usr"],
            ))?;
        }
    }
    let trunk_ok = output("trunk", &["--version"]).is_some_and(|v| v.contains(TRUNK_VERSION));
    if !trunk_ok {
        let spec = format!("trunk@{TRUNK_VERSION}");
        run(cmd("cargo", &["install", "--locked", &spec]))?;
    }
    // trunk runs the wasm-bindgen on PATH only when it is exactly the version in Cargo.lock.
    let bindgen = locked_version("wasm-bindgen")?;
    let bindgen_ok = output("wasm-bindgen", &["--version"]).is_some_and(|v| v.contains(&bindgen));
    if !bindgen_ok {
        let spec = format!("wasm-bindgen-cli@{bindgen}");
        run(cmd("cargo", &["install", &spec]))?;
    }
    let missing: Vec<&str> = PIP_PACKAGES
        .iter()
        .filter(|(name, _)| output("python3", &["-m", "pip", "show", "-q", name]).is_none())
        .map(|(_, spec)| *spec)
        .collect();
    if !missing.is_empty() {
        let mut args = vec!["-m", "pip", "install", "--quiet"];
        args.extend(missing);
        run(cmd("python3", &args))?;
    }
    Ok(wasm)
}

/// Prefers rustup's wasm32 target (a normal laptop); falls back to Debian's rustc-web.
fn wasm_route(apt_packages: &mut Vec<&'static str>) -> WasmRoute {
    let installed =
        |list: Option<String>| list.is_some_and(|l| l.lines().any(|t| t == WASM_TARGET));
    if installed(output("rustup", &["target", "list", "--installed"])) {
        return WasmRoute::Rustup;
    }
    // Bounded: where rustup's download server is unreachable it may wait a long time.
    if output("timeout", &["300", "rustup", "target", "add", WASM_TARGET]).is_some() {
        return WasmRoute::Rustup;
    }
    eprintln!(
        "xtask: rustup cannot add {WASM_TARGET} here; using Debian's rustc-web with build-std"
    );
    let have_std_source = Path::new("/usr/lib/rustlib/src/rust/library").is_dir();
    let have_linker = Path::new("/usr/bin/rust-lld").exists();
    let have_clippy = Path::new("/usr/bin/cargo-clippy").exists();
    if !(have_std_source && have_linker && have_clippy) {
        apt_packages.extend(DEBIAN_WASM_PACKAGES);
    }
    WasmRoute::DebianBuildStd
}

fn apt_install(packages: &[&str]) -> Result {
    if output("which", &["apt-get"]).is_none() {
        return Err(format!(
            "please install {} with your system's package manager",
            packages.join(" ")
        ));
    }
    let sudo = output("id", &["-u"]).is_some_and(|uid| uid.trim() != "0");
    let apt = |args: &[&str]| {
        let mut command = if sudo {
            cmd("sudo", &["apt-get"])
        } else {
            cmd("apt-get", &[])
        };
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        command
    };
    run(apt(&["update", "-qq"]))?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(packages);
    run(apt(&args))
}

/// The version of `package` that Cargo.lock pins.
fn locked_version(package: &str) -> Result<String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock"))
        .map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    let needle = format!("name = \"{package}\"\nversion = \"");
    let start = lock
        .find(&needle)
        .ok_or_else(|| format!("{package} is not in Cargo.lock"))?
        + needle.len();
    let end = lock[start..].find('"').ok_or("malformed Cargo.lock")?;
    Ok(lock[start..start + end].to_owned())
}

fn build_spa(wasm: &WasmRoute, release: bool) -> Result {
    let mut command = cmd("trunk", &["build"]);
    if release {
        command.arg("--release");
    }
    command.envs(wasm.env());
    run(command)
}

fn dev(args: &[String]) -> Result {
    let wasm = bootstrap()?;
    // Debug builds, as `test` makes them: a first run takes minutes, not a full LTO build.
    build_spa(&wasm, false)?;
    let mut serve = cmd(
        "cargo",
        &[
            "run",
            "--package",
            "functions",
            "--bin",
            "vigil",
            "--",
            "serve",
        ],
    );
    let has = |flag: &str| args.iter().any(|a| a == flag);
    if !has("--addr") {
        serve.args(["--addr", "127.0.0.1:8080"]);
    }
    if !has("--data") {
        serve.args(["--data", "vigil-data"]);
    }
    serve.args(["--dist", "dist", "--demo"]).args(args);
    run(serve)
}

fn test() -> Result {
    let wasm = bootstrap()?;
    run(cmd("cargo", &["fmt", "--all", "--", "--check"]))?;
    // The app is linted for wasm32 below, where it runs.
    run(cmd(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--exclude",
            "app",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    ))?;
    let mut wasm_clippy = cmd(
        "cargo",
        &[
            "clippy",
            "--package",
            "shared",
            "--package",
            "app",
            "--target",
            WASM_TARGET,
            "--",
            "-D",
            "warnings",
        ],
    );
    wasm_clippy.envs(wasm.env());
    run(wasm_clippy)?;
    build_spa(&wasm, false)?;
    // The HTTP and browser tests start the real binary: build it before they run,
    // with the same workspace-wide features as the tests so nothing builds twice.
    run(cmd(
        "cargo",
        &["build", "--workspace", "--exclude", "app", "--bins"],
    ))?;
    run(cmd(
        "cargo",
        &["test", "--workspace", "--exclude", "app", "--no-fail-fast"],
    ))
}

/// The criterion benchmarks, then the HTTP load figures against a release `vigil serve`.
fn bench() -> Result {
    bootstrap()?;
    run(cmd("cargo", &["bench", "--workspace"]))?;
    run(cmd(
        "cargo",
        &["build", "--release", "-p", "functions", "--bin", "vigil"],
    ))?;
    run(cmd(
        "cargo",
        &[
            "run",
            "--release",
            "-p",
            "vigil-tests",
            "--bin",
            "vigil-load",
        ],
    ))
}
