//! Starts the real `vigil` binary on 127.0.0.1 and talks to it over HTTP.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::moto::Moto;

/// The workspace root, where `dist/` (the built SPA) lives.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf()
}

/// The `vigil` binary of the same build as this process (target/<profile>/vigil).
pub fn vigil_binary() -> PathBuf {
    workspace_binary(
        "vigil",
        "build it first with `cargo build -p functions --bins` (`cargo xtask test` does)",
    )
}

/// The binary `name` of the same build as this process (target/<profile>/<name>);
/// `missing` says how to build it.
pub fn workspace_binary(name: &str, missing: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the process knows its own path");
    // Tests run from target/<profile>/deps, binaries (the load driver) from target/<profile>.
    let mut profile_dir = exe.parent().expect("an executable's folder");
    if profile_dir.ends_with("deps") {
        profile_dir = profile_dir.parent().expect("target/<profile>");
    }
    let binary = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: {missing}",
        binary.display()
    );
    binary
}

/// A free port on 127.0.0.1 (the kernel picks; we release it for the child to bind).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

/// Which store a `vigil serve` under test keeps its state in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    /// A fresh table on a moto server shared by the tests running at the same time.
    Dynamodb,
}

/// Runs an async test body against `vigil serve` on each store:
/// `on_both_stores!(name, |vigil| async move { ... });` makes `name::embedded` and
/// `name::dynamodb`.
///
/// Attributes before the name go on both tests, e.g.
/// `on_both_stores!(#[ignore = "why"] name, |vigil| ...)`.
#[macro_export]
macro_rules! on_both_stores {
    ($(#[$attr:meta])* $name:ident, $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test]
            $(#[$attr])*
            async fn embedded() {
                let vigil = $crate::vigil::Vigil::start_on($crate::vigil::Backend::Embedded).await;
                ($body)(vigil).await;
            }

            #[tokio::test]
            $(#[$attr])*
            async fn dynamodb() {
                let vigil = $crate::vigil::Vigil::start_on($crate::vigil::Backend::Dynamodb).await;
                ($body)(vigil).await;
            }
        }
    };
}

/// A running `vigil serve`, killed when dropped.
pub struct Vigil {
    child: Child,
    pub base: String,
    port: u16,
    data: PathBuf,
    /// The console it serves: the workspace's `dist/` unless a test brings its own.
    dist: PathBuf,
    extra_args: Vec<String>,
    moto: Option<(Arc<Moto>, String)>,
    _data_guard: Option<tempfile::TempDir>,
}

impl Vigil {
    /// Starts on a fresh data folder with the embedded store.
    pub async fn start() -> Self {
        Self::start_on(Backend::Embedded).await
    }

    /// Starts on a fresh data folder (and, for DynamoDB, a fresh table).
    pub async fn start_on(backend: Backend) -> Self {
        match backend {
            Backend::Embedded => Self::start_with(&[]).await,
            Backend::Dynamodb => {
                let moto = Moto::shared();
                let table = format!("vigil-test-{}", functions::ids::new().to_lowercase());
                Self::fresh(
                    vec!["--store".into(), "dynamodb".into()],
                    Some((moto, table)),
                )
                .await
            }
        }
    }

    /// Starts on the embedded store with extra `serve` arguments.
    pub async fn start_with(args: &[&str]) -> Self {
        Self::fresh(args.iter().map(|a| a.to_string()).collect(), None).await
    }

    /// Starts on the embedded store at `port` (picked ahead, e.g. with [`free_port`], by a
    /// test that must name the console's address to another process first).
    pub async fn start_at(port: u16, args: &[&str]) -> Self {
        let data = tempfile::tempdir().expect("a temp dir");
        let args = args.iter().map(|a| a.to_string()).collect();
        let dist = workspace_root().join("dist");
        let mut vigil = Self::spawn(port, data.path().to_path_buf(), dist, args, None).await;
        vigil._data_guard = Some(data);
        vigil
    }

    /// Starts on the embedded store, serving the console files in `dist`.
    pub async fn start_serving(dist: &Path) -> Self {
        Self::fresh_with_dist(dist.to_path_buf(), Vec::new(), None).await
    }

    async fn fresh(args: Vec<String>, moto: Option<(Arc<Moto>, String)>) -> Self {
        Self::fresh_with_dist(workspace_root().join("dist"), args, moto).await
    }

    async fn fresh_with_dist(
        dist: PathBuf,
        args: Vec<String>,
        moto: Option<(Arc<Moto>, String)>,
    ) -> Self {
        let data = tempfile::tempdir().expect("a temp dir");
        let path = data.path().to_path_buf();
        let mut vigil = Self::spawn(free_port(), path, dist, args, moto).await;
        vigil._data_guard = Some(data);
        vigil
    }

    async fn spawn(
        port: u16,
        data: PathBuf,
        dist: PathBuf,
        extra_args: Vec<String>,
        moto: Option<(Arc<Moto>, String)>,
    ) -> Self {
        let mut command = Command::new(vigil_binary());
        if let Some((server, table)) = &moto {
            command.env("TABLE_NAME", table).envs(server.child_env());
        }
        let child = command
            .arg("serve")
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .arg("--data")
            .arg(&data)
            .arg("--dist")
            .arg(&dist)
            .args(&extra_args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("vigil starts");
        let vigil = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            port,
            data,
            dist,
            extra_args,
            moto,
            _data_guard: None,
        };
        vigil.wait_until_ready().await;
        vigil
    }

    async fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = reqwest::Client::new();
        while Instant::now() < deadline {
            if let Ok(response) = client.get(format!("{}/api/me", self.base)).send().await {
                // Up: an unauthenticated call is refused with the contract's 401.
                assert_eq!(response.status(), 401);
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("vigil did not answer on {} within 30 s", self.base);
    }

    /// On DynamoDB, a client of the table this server keeps its state in, to look at
    /// how things are stored (its cursors are not the server's); `None` on the embedded
    /// store.
    pub async fn dynamodb_table(&self) -> Option<functions::store::dynamodb::DynamoTable> {
        match &self.moto {
            Some((moto, table)) => Some(moto.table(table, [9; 32]).await),
            None => None,
        }
    }

    /// `kill -9`, then start again on the same port and data: what was acknowledged
    /// before must still be there.
    pub async fn kill_and_restart(mut self) -> Self {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
        self.start_again().await
    }

    /// Starts a new process on this one's port, data and arguments (this one has exited).
    async fn start_again(mut self) -> Self {
        let guard = self._data_guard.take();
        let mut restarted = Self::spawn(
            self.port,
            self.data.clone(),
            self.dist.clone(),
            self.extra_args.clone(),
            self.moto.clone(),
        )
        .await;
        restarted._data_guard = guard;
        restarted
    }

    /// SIGTERM, waits for the process to exit (at most 30 s), then starts again on the same
    /// port and data: how it exited, and the restarted server.
    pub async fn terminate_and_restart(mut self) -> (std::process::ExitStatus, Self) {
        let signalled = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(signalled.success(), "SIGTERM sent");
        let deadline = Instant::now() + Duration::from_secs(30);
        let exited = loop {
            if let Some(status) = self.child.try_wait().expect("the child's state") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "vigil did not exit within 30 s of SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        (exited, self.start_again().await)
    }

    /// Stops the server and hands over its data folder (the caller keeps it alive).
    pub fn stop(mut self) -> tempfile::TempDir {
        let data = self._data_guard.take().expect("a data folder of its own");
        drop(self);
        data
    }

    pub fn api(&self) -> Api {
        Api {
            base: format!("{}/api", self.base),
            client: reqwest::Client::new(),
        }
    }
}

impl Drop for Vigil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal client of the API that returns status and JSON, for assertions.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
}

/// A response: status and parsed JSON body (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    /// The `ETag` header, when there is one.
    pub etag: Option<String>,
}

impl Answer {
    /// The contract's error code, when this is an error.
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or("<no error code>")
    }

    pub fn error_message(&self) -> &str {
        self.body["error"]["message"]
            .as_str()
            .unwrap_or("<no error message>")
    }
}

/// Asserts an error answer: its status, and the contract's error body with `code`
/// (`{"error": {"code", "message"}}` and nothing else, with a message to read).
pub fn expect(answer: &Answer, status: u16, code: &str) {
    assert_eq!(
        (answer.status, answer.error_code()),
        (status, code),
        "{answer:?}"
    );
    let shape = answer.body.as_object().map(|body| {
        let detail = body.get("error").and_then(Value::as_object);
        (
            body.len(),
            detail.map(serde_json::Map::len),
            detail
                .and_then(|d| d.get("message"))
                .and_then(Value::as_str)
                .map(str::is_empty),
        )
    });
    assert_eq!(
        shape,
        Some((1, Some(2), Some(false))),
        "not the contract's error body: {answer:?}"
    );
}

impl Api {
    pub async fn dev_login(&self, email: &str) -> String {
        let answer = self
            .send(
                reqwest::Method::POST,
                "/auth/dev-login",
                None,
                Some(serde_json::json!({ "email": email })),
            )
            .await;
        assert_eq!(answer.status, 200, "dev-login of {email}: {answer:?}");
        answer.body["token"].as_str().expect("a token").to_owned()
    }

    /// A token whose `groups` claim names `groups`, as the identity provider would.
    pub async fn dev_login_with_groups(&self, email: &str, groups: &[&str]) -> String {
        let answer = self
            .send(
                reqwest::Method::POST,
                "/auth/dev-login",
                None,
                Some(serde_json::json!({ "email": email, "groups": groups })),
            )
            .await;
        assert_eq!(answer.status, 200, "dev-login of {email}: {answer:?}");
        answer.body["token"].as_str().expect("a token").to_owned()
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Answer {
        self.send(reqwest::Method::DELETE, path, token, None).await
    }

    /// A request with extra headers (e.g. `If-Match`).
    pub async fn send_with_headers(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.send(reqwest::Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.send(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.send(reqwest::Method::PATCH, path, token, Some(body))
            .await
    }

    /// Like `send`, with an `If-Match` header.
    pub async fn send_if_match(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        if_match: &str,
    ) -> Answer {
        self.send_with_headers(method, path, token, body, &[("if-match", if_match)])
            .await
    }

    /// Sends a raw body with any method, for malformed inputs.
    pub async fn send_raw_bytes(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        answer(request).await
    }

    /// Sends a raw body, for malformed and oversized inputs.
    pub async fn post_raw(&self, path: &str, token: Option<&str>, body: Vec<u8>) -> Answer {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        answer(request).await
    }
}

/// A response kept whole: status, headers and the body as text (CSV, ETags).
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl RawAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

impl Api {
    /// A binary upload (`Content-Type: application/octet-stream`).
    pub async fn put_bytes(&self, path: &str, token: Option<&str>, body: Vec<u8>) -> Answer {
        let mut request = self
            .client
            .put(format!("{}{path}", self.base))
            .header("content-type", "application/octet-stream")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        answer(request).await
    }

    /// A binary download: the status and the body as sent.
    pub async fn get_bytes(&self, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the request reaches vigil");
        let status = response.status().as_u16();
        (status, response.bytes().await.unwrap_or_default().to_vec())
    }

    /// Any request, answered with its headers and raw body (e.g. a CSV download).
    pub async fn send_full(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> RawAnswer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the request reaches vigil");
        RawAnswer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap_or_default(),
        }
    }
}

async fn answer(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("the request reaches vigil");
    let status = response.status().as_u16();
    let etag = response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = response.bytes().await.unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer { status, body, etag }
}
