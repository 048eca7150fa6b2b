//! A real HTTP receiver of webhooks on 127.0.0.1: it records every request it gets and
//! answers `500` to the first `failures` of them, then `200`.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// What the receiver answered.
    pub status: u16,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct Log {
    failures_left: u32,
    received: Vec<Received>,
}

pub struct Receiver {
    pub url: String,
    log: Arc<Mutex<Log>>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Listens on a free loopback port; the webhook URL is `<url>` (path `/hook`).
    pub async fn start(failures: u32) -> Self {
        Self::start_at(crate::vigil::free_port(), failures).await
    }

    /// Listens on `port` of 127.0.0.1 (a port a webhook already names).
    pub async fn start_at(port: u16, failures: u32) -> Self {
        let log = Arc::new(Mutex::new(Log {
            failures_left: failures,
            received: Vec::new(),
        }));
        let shared = log.clone();
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let log = shared.clone();
                async move {
                    let mut log = log.lock().unwrap();
                    let status = if log.failures_left > 0 {
                        log.failures_left -= 1;
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    };
                    log.received.push(Received {
                        headers,
                        body,
                        status: status.as_u16(),
                    });
                    status
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { url, log, server }
    }

    pub fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().received.clone()
    }

    /// Waits until `check` holds for what has arrived, or panics naming `what`.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: std::time::Duration,
        check: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let received = self.received();
            if check(&received) {
                return received;
            }
            if std::time::Instant::now() > deadline {
                panic!("timed out waiting for {what}; received {received:#?}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Verifies a `Vigil-Signature` header the way docs/notifications.md tells a receiver
/// to: HMAC-SHA256 keyed with the secret over `<t>.<raw body>`, compared in constant
/// time, and `t` within five minutes of now.
pub fn verify_signature(secret: &str, header: &str, body: &[u8]) -> Result<(), String> {
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v1)) => signature = Some(v1),
            _ => {}
        }
    }
    let (timestamp, signature) = timestamp.zip(signature).ok_or("malformed header")?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if (now - timestamp).abs() > 300 {
        return Err(format!("timestamp {timestamp} is not recent"));
    }
    let expected: Vec<u8> = (0..signature.len() / 2)
        .map(|i| u8::from_str_radix(&signature[2 * i..2 * i + 2], 16))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| "signature mismatch".to_owned())
}
