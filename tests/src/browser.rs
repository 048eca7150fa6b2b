//! Real headless Chromium, driven over WebDriver through a chromedriver this harness
//! starts and stops itself, and the console helpers the browser tests share.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::vigil::{free_port, workspace_root};

/// How long a browser test waits for the console to show something.
pub const WAIT: Duration = Duration::from_secs(30);

/// A chromedriver process and a browser session on it; both end when dropped
/// (call [`Browser::close`] first to end the session cleanly).
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    downloads: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Self {
        // Two TLS stacks are linked in tests; pick one for the WebDriver connection.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = free_port();
        let driver = Command::new(chromedriver())
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts (run `cargo xtask bootstrap` to install it)");
        let profile = tempfile::tempdir().expect("a temp dir");
        let downloads = tempfile::tempdir().expect("a temp dir");
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": chromium(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.path().display().to_string(),
                    "download.prompt_for_download": false,
                }
            }
        });
        let capabilities = match capabilities {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("a JSON object literal"),
        };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let attempt = ClientBuilder::rustls()
                .expect("a WebDriver client")
                .capabilities(capabilities.clone())
                .connect(&url)
                .await;
            match attempt {
                Ok(client) => break client,
                Err(error) if Instant::now() > deadline => panic!("no browser session: {error}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        Self {
            client,
            driver,
            _profile: profile,
            downloads,
        }
    }

    pub async fn close(self) {
        let client = self.client.clone();
        let _ = client.close().await;
    }

    /// The bytes of the first finished download whose name ends with `suffix`.
    pub async fn downloaded(&self, suffix: &str) -> Vec<u8> {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = std::fs::read_dir(self.downloads.path())
                .expect("the download folder")
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .find(|path| path.to_string_lossy().ends_with(suffix));
            if let Some(path) = found {
                return std::fs::read(path).expect("a downloaded file");
            }
            assert!(
                Instant::now() < deadline,
                "no download ending in {suffix:?} arrived"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Signs in through the sign-in form and waits until the console has left it.
    pub async fn sign_in(&self, base: &str, email: &str) {
        let page = &self.client;
        page.goto(&format!("{base}/sign-in"))
            .await
            .expect("the console loads");
        let field = find(page, "#email").await;
        field.clear().await.unwrap();
        field.send_keys(email).await.unwrap();
        find(page, "#sign-in").await.click().await.unwrap();
        wait_until(page, "the console leaves the sign-in page", || async {
            page.current_url()
                .await
                .is_ok_and(|url| !url.path().starts_with("/sign-in"))
        })
        .await;
    }

    /// Saves a screenshot as `target/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let folder = workspace_root().join("target").join("screenshots");
        std::fs::create_dir_all(&folder).unwrap();
        let path = folder.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Waits for the first element matching `css`.
pub async fn find(page: &Client, css: &str) -> Element {
    page.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
}

/// An XPath literal for `text` (no test label holds a quote).
fn literal(text: &str) -> String {
    assert!(!text.contains('\''), "{text}");
    format!("'{text}'")
}

/// The first `<button>` named `label` under the element matching `scope` (an XPath
/// such as `//main` or `(//tr[@class='sensor'])[1]`).
pub async fn button_in(page: &Client, scope: &str, label: &str) -> Element {
    let xpath = format!("{scope}//button[normalize-space(.)={}]", literal(label));
    page.wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("no button {label:?} in {scope}: {e}"))
}

pub async fn button(page: &Client, label: &str) -> Element {
    button_in(page, "//body", label).await
}

/// Clicks the first element matching `css`.
pub async fn click(page: &Client, css: &str) {
    find(page, css).await.click().await.unwrap();
}

/// Types `text` into the first field matching `css`.
pub async fn type_into(page: &Client, css: &str, text: &str) {
    find(page, css).await.send_keys(text).await.unwrap();
}

/// Chooses the option of value `value` in the first `<select>` matching `css`.
pub async fn choose(page: &Client, css: &str, value: &str) {
    find(page, css).await.select_by_value(value).await.unwrap();
}

/// Clicks the button named `label` under `scope` (see [`button_in`]).
pub async fn press_in(page: &Client, scope: &str, label: &str) {
    button_in(page, scope, label).await.click().await.unwrap();
}

/// Clicks the first button named `label`.
pub async fn press(page: &Client, label: &str) {
    button(page, label).await.click().await.unwrap();
}

/// Whether an action is offered (`None`) or refused, with the reason it shows.
pub async fn refusal(action: &Element) -> Option<String> {
    match action
        .attr("aria-disabled")
        .await
        .expect("an attribute read")
    {
        Some(value) if value == "true" => Some(
            action
                .attr("title")
                .await
                .expect("an attribute read")
                .unwrap_or_default(),
        ),
        _ => None,
    }
}

/// Opens the `<details>` menu whose summary reads `label` under `scope`.
pub async fn open_menu(page: &Client, scope: &str, label: &str) {
    let xpath = format!(
        "{scope}//details[not(@open)]/summary[normalize-space(.)={}]",
        literal(label)
    );
    let summary = page
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("no closed menu {label:?} in {scope}: {e}"));
    summary.click().await.unwrap();
}

/// Waits until the text of the first element matching `css` satisfies `check`.
pub async fn wait_for_text(page: &Client, css: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + WAIT;
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(element) = page.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
        {
            if check(text.trim()) {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never showed the expected text (last seen: {last:?})");
}

/// Polls `check` until it holds, or fails naming `what`.
pub async fn wait_until<F, Fut>(page: &Client, what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = page
        .current_url()
        .await
        .map(|u| u.to_string())
        .unwrap_or_default();
    panic!("timed out waiting until {what} (at {url})");
}

fn chromedriver() -> String {
    std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into())
}

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}
