//! Developer workflows: `cargo xtask <bootstrap|dev|test|bench|fuzz|spa|sam-build>`.
//!
//! `bootstrap` installs everything the project needs on a fresh Debian machine and
//! is idempotent (a second run takes seconds); `dev` and `test` bootstrap first, so
//! the README's two commands work on a machine with nothing but rustup.

use std::env;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

mod publish;

const TRUNK_VERSION: &str = "0.21.14";
/// wasm-opt for trunk's release builds: npm's binaryen (Debian's binaryen 108 writes
/// modules that do not run). Must match `[tools] wasm_opt` in `Trunk.toml`.
const BINARYEN_VERSION: &str = "132";
/// The OpenID provider the sign-in tests start (npm `oidc-provider`), pinned.
const OIDC_PROVIDER_VERSION: &str = "9.13.3";
/// Where the bootstrap installs npm tools: inside `target/`, so git ignores it and
/// `cargo clean` removes it.
const NPM_TOOLS: &str = "target/tools";
/// The console's wasm, gzip-compressed at level 9 (as the `.gz` beside it), at most:
/// the budget of the console's conventions.
const WASM_GZIP_BUDGET: u64 = 250 * 1024;
/// What CI enforces while the console is over its budget (Console I measured 393 KB;
/// with Console II's pages 503 KB, with the alert counts and time filter 517 KB, with
/// the alert trail (assignee, comments, close reasons, timeline) 542 KB, with suppression
/// rules and the close-reason editor 574 KB, with device grouping 581 KB, with sign-in
/// through an OpenID provider (PKCE) 595 KB, with the API tokens of Users and roles
/// 611 KB, with the Notifications page (webhook endpoints, rules, delivery log) 642 KB,
/// with sensor settings (the form, bulk and per sensor, and their state) 664 KB, with
/// preparing for 22.x and sending diagnostics 672 KB; see BENCHMARKS.md): a ceiling that stops it
/// growing unnoticed until the work that brings it under the budget lands. The budget
/// itself is printed, unmet.
const WASM_GZIP_CEILING: u64 = 680 * 1024;
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
    // Generates requests from the served OpenAPI document (`tests/tests/schemathesis.rs`);
    // pinned, so a new release's new checks arrive by a change here, not overnight.
    ("schemathesis", "schemathesis==4.32.5"),
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
        Some("fuzz") => fuzz(&args[1..]),
        Some("spa") => bootstrap().and_then(|wasm| release_console(&wasm)),
        Some("sam-build") => sam_build(),
        Some("publish") => publish::publish(&args[1..], || {
            let wasm = bootstrap()?;
            release_console(&wasm)?;
            Ok(root().join("dist"))
        }),
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
  test        bootstrap, then every check and test: fmt, clippy (native and wasm32), the
              release SPA build and its size budget, unit, HTTP, store and browser tests
  bench       the benchmarks: criterion, then HTTP load against a release `vigil serve`
  fuzz        cargo-fuzz (libFuzzer) on the parsers, each target for a bounded time
              (--seconds N per target, default 120); installs cargo-fuzz if missing
  spa         bootstrap and build the SPA in release mode into dist/ (precompressed), and
              check its size budget
  sam-build   `sam build` of infra/template.yaml: every function cross-compiled for
              Lambda (arm64) by cargo lambda into infra/.aws-sam/, ready for `sam deploy`
  publish     the release console (or --dist DIR) to a deployed stack's bucket and
              distribution: --stack NAME, or --bucket B --distribution ID";

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
        // binaryen's wasm-opt (below) comes from npm.
        ("npm", "npm"),
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
    install_binaryen()?;
    install_oidc_provider()?;
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

fn npm_tools_bin() -> PathBuf {
    root().join(NPM_TOOLS).join("node_modules").join(".bin")
}

/// npm `binaryen@BINARYEN_VERSION` into the project-local tools folder (once).
fn install_binaryen() -> Result {
    let wasm_opt = npm_tools_bin().join("wasm-opt");
    let wanted = format!("version {BINARYEN_VERSION} ");
    let installed = |path: &Path| {
        output(&path.to_string_lossy(), &["--version"]).is_some_and(|v| v.contains(&wanted))
    };
    if installed(&wasm_opt) {
        return Ok(());
    }
    let spec = format!("binaryen@{BINARYEN_VERSION}");
    npm_install(&spec)?;
    if installed(&wasm_opt) {
        Ok(())
    } else {
        Err(format!(
            "{spec} installed, but {} --version does not say version {BINARYEN_VERSION}",
            wasm_opt.display()
        ))
    }
}

/// npm `oidc-provider@OIDC_PROVIDER_VERSION` into the tools folder (once), for the tests
/// that sign in through a real OpenID provider (`tests/oidc/provider.mjs`).
fn install_oidc_provider() -> Result {
    let manifest = root()
        .join(NPM_TOOLS)
        .join("node_modules/oidc-provider/package.json");
    let wanted = format!("\"version\": \"{OIDC_PROVIDER_VERSION}\"");
    let installed = || std::fs::read_to_string(&manifest).is_ok_and(|m| m.contains(&wanted));
    if installed() {
        return Ok(());
    }
    let spec = format!("oidc-provider@{OIDC_PROVIDER_VERSION}");
    npm_install(&spec)?;
    if installed() {
        Ok(())
    } else {
        Err(format!(
            "{spec} installed, but {} does not say so",
            manifest.display()
        ))
    }
}

/// `npm install <spec>` into the project-local tools folder.
fn npm_install(spec: &str) -> Result {
    let folder = root().join(NPM_TOOLS);
    std::fs::create_dir_all(&folder)
        .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    let mut npm = cmd(
        "npm",
        &["install", "--no-audit", "--no-fund", "--prefix", NPM_TOOLS],
    );
    npm.arg(spec);
    run(npm)
}

/// PATH with the project's npm tools first: trunk runs the `wasm-opt` it finds there.
fn tools_path() -> OsString {
    let mut paths = vec![npm_tools_bin()];
    paths.extend(env::split_paths(&env::var_os("PATH").unwrap_or_default()));
    env::join_paths(paths).expect("no ':' in the tools folder")
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
        // `[profile.wasm-release]` and `wasm-opt -Oz`: see `app/index.html`.
        command.arg("--release");
    }
    command.envs(wasm.env()).env("PATH", tools_path());
    run(command)
}

/// The console as it ships: the release build, `.gz` and `.br` beside each file for
/// `vigil serve`, and the wasm's size against its budget.
fn release_console(wasm: &WasmRoute) -> Result {
    let started = Instant::now();
    build_spa(wasm, true)?;
    eprintln!("xtask: release console built in {:.0?}", started.elapsed());
    let dist = root().join("dist");
    precompress(&dist)?;
    check_console_size(&dist, WASM_GZIP_BUDGET, WASM_GZIP_CEILING)
}

/// What `vigil serve` may send compressed.
const COMPRESSIBLE: &[&str] = &["wasm", "js", "css", "html", "svg", "json", "txt"];

/// Writes `<file>.gz` (gzip level 9) and `<file>.br` (brotli quality 11) beside every
/// compressible file under `dist`, once per build: trunk empties `dist/` on each build,
/// so none is ever stale. `vigil serve` compresses on the fly what has none.
fn precompress(dist: &Path) -> Result {
    let started = Instant::now();
    let mut written = 0;
    for file in files_under(dist)? {
        let compressible = file
            .extension()
            .is_some_and(|e| COMPRESSIBLE.iter().any(|c| e == *c));
        if !compressible {
            continue;
        }
        let bytes = read(&file)?;
        for (extension, compressed) in [("gz", gzip(&bytes)), ("br", brotli(&bytes))] {
            let mut name = file.clone().into_os_string();
            name.push(".");
            name.push(extension);
            let target = PathBuf::from(name);
            std::fs::write(&target, compressed)
                .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
            written += 1;
        }
    }
    eprintln!(
        "xtask: {written} precompressed files (.gz, .br) in {}, in {:.1?}",
        dist.display(),
        started.elapsed()
    );
    Ok(())
}

fn files_under(folder: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut folders = vec![folder.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder)
            .map_err(|e| format!("cannot list {}: {e}", folder.display()))?;
        for entry in entries {
            let path = entry
                .map_err(|e| format!("cannot list {}: {e}", folder.display()))?
                .path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

fn brotli(bytes: &[u8]) -> Vec<u8> {
    let mut compressed = Vec::new();
    {
        // Quality 11 (the best), a 4 MiB window.
        let mut encoder = brotli::CompressorWriter::new(&mut compressed, 64 * 1024, 11, 22);
        encoder.write_all(bytes).expect("writing to memory");
    }
    compressed
}

fn kb(bytes: u64) -> String {
    format!("{:.1} KB", bytes as f64 / 1024.0)
}

/// Prints the wasm's and the JS glue's sizes against `budget`, and fails when the
/// wasm's gzip size is over `ceiling` (KB = 1024 bytes; gzip at level 9, as served).
fn check_console_size(dist: &Path, budget: u64, ceiling: u64) -> Result {
    let top: Vec<PathBuf> = files_under(dist)?
        .into_iter()
        .filter(|f| f.parent() == Some(dist))
        .collect();
    let only = |extension: &str| -> Result<PathBuf> {
        let found: Vec<&PathBuf> = top
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == extension))
            .collect();
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            _ => Err(format!(
                "expected one .{extension} in {}, found {}",
                dist.display(),
                found.len()
            )),
        }
    };
    // The files as served: the original and the `.gz`/`.br` that `precompress` wrote.
    let sizes = |path: &Path| -> Result<(u64, u64, u64)> {
        let size = |extension: &str| {
            let mut name = path.as_os_str().to_owned();
            name.push(extension);
            std::fs::metadata(&name)
                .map(|m| m.len())
                .map_err(|e| format!("cannot read {}: {e}", Path::new(&name).display()))
        };
        Ok((size("")?, size(".gz")?, size(".br")?))
    };
    let (wasm_raw, wasm_gzip, wasm_br) = sizes(&only("wasm")?)?;
    let (js_raw, js_gzip, js_br) = sizes(&only("js")?)?;
    let verdict = if wasm_gzip > budget {
        format!("OVER by {}", kb(wasm_gzip - budget))
    } else {
        "within".to_owned()
    };
    let line = format!(
        "console wasm: {} raw, {} gzip (budget {} KB: {verdict}; CI ceiling {} KB)",
        kb(wasm_raw),
        kb(wasm_gzip),
        budget / 1024,
        ceiling / 1024
    );
    println!("{line}");
    println!(
        "console wasm brotli: {}; JS glue: {} raw, {} gzip, {} brotli",
        kb(wasm_br),
        kb(js_raw),
        kb(js_gzip),
        kb(js_br)
    );
    if wasm_gzip > ceiling {
        return Err(format!(
            "the console's wasm is over its CI ceiling by {}: {line}",
            kb(wasm_gzip - ceiling)
        ));
    }
    Ok(())
}

fn dev(args: &[String]) -> Result {
    let wasm = bootstrap()?;
    // A debug build: faster to rebuild than the release one `test` makes (no LTO, no
    // wasm-opt); `vigil serve` compresses it on the fly.
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
    // The console as it ships (the browser tests below run against it), over budget fails.
    release_console(&wasm)?;
    // The HTTP and browser tests start the real binary: build it before they run,
    // with the same workspace-wide features as the tests so nothing builds twice.
    run(cmd(
        "cargo",
        &["build", "--workspace", "--exclude", "app", "--bins"],
    ))?;
    run(cmd(
        "cargo",
        &["test", "--workspace", "--exclude", "app", "--no-fail-fast"],
    ))?;
    // The console's logic that renders nothing, tested natively.
    run(cmd("cargo", &["test", "--package", "app", "--lib"]))
}

/// The fuzz targets of `fuzz/` (ingest bodies, page cursors, the CSV export), each run
/// by libFuzzer for `--seconds`; fails on the first crash, which libFuzzer saves under
/// `fuzz/artifacts/<target>/` with the input that caused it.
fn fuzz(args: &[String]) -> Result {
    const TARGETS: [&str; 3] = ["ingest_bodies", "cursor", "csv_export"];
    let seconds = match args {
        [] => 120,
        [flag, value] if flag == "--seconds" => value
            .parse::<u64>()
            .map_err(|_| format!("--seconds takes a number, not {value:?}"))?,
        _ => return Err("usage: cargo xtask fuzz [--seconds N]".to_owned()),
    };
    if output("cargo", &["fuzz", "--version"]).is_none() {
        run(cmd("cargo", &["install", "--locked", "cargo-fuzz"]))?;
    }
    for target in TARGETS {
        let started = Instant::now();
        let max_time = format!("-max_total_time={seconds}");
        // Leak detection off: a target keeps its store open in a static for speed, which
        // LeakSanitizer reports at exit; AddressSanitizer still checks every access.
        let mut fuzz = cmd(
            "cargo",
            &["fuzz", "run", target, "--", &max_time, "-detect_leaks=0"],
        );
        fuzz.env("ASAN_OPTIONS", "detect_leaks=0");
        // cargo-fuzz passes the sanitizer and coverage flags that only a nightly compiler
        // takes; the machine's stable one takes them too when told it may.
        fuzz.env("RUSTC_BOOTSTRAP", "1");
        let ran = fuzz
            .output()
            .map_err(|e| format!("cargo fuzz could not start: {e}"))?;
        let log = String::from_utf8_lossy(&ran.stderr);
        let done = log
            .lines()
            .rev()
            .find(|line| line.starts_with("Done "))
            .unwrap_or("no summary");
        if !ran.status.success() {
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(format!("fuzz target {target} failed:\n{}", tail.join("\n")));
        }
        eprintln!(
            "xtask: fuzz {target}: clean, {done} ({:.0?} with the build)",
            started.elapsed()
        );
    }
    Ok(())
}

/// The tools `sam build` needs, in a virtual environment of their own under `target/`:
/// aws-sam-cli pins its own versions of libraries the test tools also use.
const SAM_TOOLS: &[&str] = &["aws-sam-cli==1.170.0", "cargo-lambda==1.9.2"];
/// Lambda's arm64 (Graviton) target, which cargo lambda cross-compiles to with zig.
const LAMBDA_TARGET: &str = "aarch64-unknown-linux-gnu";

/// `sam build` of the template, as a deployment runs it (`sam deploy` follows).
///
/// SAM runs `cargo lambda build --release --arm64 --bin <function>` once per function;
/// the release profile's whole-program LTO would then optimise the same dependency graph
/// ten times over, so the functions are built with thin LTO instead (the release
/// profile stays as it is for `vigil serve` and the benchmarks).
fn sam_build() -> Result {
    let venv = root().join("target/sam-tools");
    let bin = venv.join("bin");
    if !SAM_TOOLS.iter().all(|spec| {
        let (name, version) = spec.split_once("==").expect("pinned");
        output(
            &bin.join("python").to_string_lossy(),
            &["-m", "pip", "show", name],
        )
        .is_some_and(|shown| shown.contains(&format!("Version: {version}")))
    }) {
        run(cmd("python3", &["-m", "venv", &venv.to_string_lossy()]))?;
        let python = bin.join("python");
        let mut install = vec!["-m", "pip", "install", "--quiet"];
        install.extend(SAM_TOOLS);
        run(cmd(&python.to_string_lossy(), &install))?;
    }
    let targets = output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if !targets.lines().any(|target| target == LAMBDA_TARGET) {
        run(cmd("rustup", &["target", "add", LAMBDA_TARGET]))?;
    }
    let mut path = OsString::from(&bin);
    path.push(":");
    path.push(env::var_os("PATH").unwrap_or_default());
    let mut build = cmd(&bin.join("sam").to_string_lossy(), &["build"]);
    build
        .current_dir(root().join("infra"))
        .env("PATH", path)
        .env("SAM_CLI_TELEMETRY", "0")
        .env("CARGO_PROFILE_RELEASE_LTO", "thin")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16");
    let started = Instant::now();
    run(build)?;
    let built = root().join("infra/.aws-sam/build");
    let functions = files_under(&built)?
        .into_iter()
        .filter(|file| file.file_name().is_some_and(|name| name == "bootstrap"))
        .count();
    eprintln!(
        "xtask: sam build: {functions} functions in {} ({:.0?})",
        built.display(),
        started.elapsed()
    );
    Ok(())
}

/// The criterion benchmarks, then the HTTP load figures against a release `vigil serve`:
/// the API under load, then ingest at scale.
fn bench() -> Result {
    bootstrap()?;
    run(cmd("cargo", &["bench", "--workspace"]))?;
    run(cmd(
        "cargo",
        &["build", "--release", "-p", "functions", "--bin", "vigil"],
    ))?;
    for driver in ["vigil-load", "vigil-ingest"] {
        run(cmd(
            "cargo",
            &["run", "--release", "-p", "vigil-tests", "--bin", driver],
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dist folder with a wasm of `size` bytes that gzip cannot shrink, and its JS.
    fn fake_dist(name: &str, size: usize) -> PathBuf {
        let dist = env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dist);
        std::fs::create_dir_all(&dist).unwrap();
        let mut state = 0x9e37_79b9_u32;
        let wasm: Vec<u8> = (0..size)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 24) as u8
            })
            .collect();
        std::fs::write(dist.join("app-3f2a9c0d1e4b5a67_bg.wasm"), wasm).unwrap();
        std::fs::write(
            dist.join("app-3f2a9c0d1e4b5a67.js"),
            "export {};\n".repeat(50),
        )
        .unwrap();
        std::fs::write(dist.join("index.html"), "<!DOCTYPE html>").unwrap();
        dist
    }

    #[test]
    fn a_wasm_over_its_ceiling_fails_and_one_under_passes_with_the_budget_reported() {
        let dist = fake_dist("budget", 64 * 1024);
        precompress(&dist).unwrap();
        for extension in [".gz", ".br"] {
            let mut name = dist.join("app-3f2a9c0d1e4b5a67_bg.wasm").into_os_string();
            name.push(extension);
            assert!(Path::new(&name).exists(), "{name:?}");
        }
        let error = check_console_size(&dist, 16 * 1024, 32 * 1024).unwrap_err();
        assert!(error.contains("(budget 16 KB: OVER by"), "{error}");
        assert!(error.contains("CI ceiling 32 KB"), "{error}");
        assert!(error.contains("console wasm: 64.0 KB raw"), "{error}");
        check_console_size(&dist, 16 * 1024, 128 * 1024).unwrap();
        std::fs::remove_dir_all(&dist).unwrap();
    }

    #[test]
    fn precompressed_files_decode_to_the_original() {
        let dist = fake_dist("decode", 4096);
        precompress(&dist).unwrap();
        let js = dist.join("app-3f2a9c0d1e4b5a67.js");
        let original = std::fs::read(&js).unwrap();
        let gz = std::fs::read(format!("{}.gz", js.display())).unwrap();
        let mut decoded = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut decoded)
            .unwrap();
        assert_eq!(decoded, original);
        let br = std::fs::read(format!("{}.br", js.display())).unwrap();
        let mut decoded = Vec::new();
        std::io::Read::read_to_end(&mut brotli::Decompressor::new(&br[..], 4096), &mut decoded)
            .unwrap();
        assert_eq!(decoded, original);
        std::fs::remove_dir_all(&dist).unwrap();
    }
}
