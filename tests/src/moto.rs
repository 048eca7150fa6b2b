//! A DynamoDB-API server (moto) that the tests start and stop themselves.
//!
//! moto is installed by the project's bootstrap (`pip install 'moto[server]'`). If it cannot
//! be started, the test that asked for it fails and says so: it is never skipped.
//!
//! `python -m moto.server` serves requests on several threads without locking its tables, so
//! two conditional writes to one item can both pass their condition. DynamoDB applies each
//! write atomically, and the store's race tests rely on it; so the harness runs moto's own
//! application with one thread, one request at a time.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::NamedTempFile;

/// How long moto may take to answer after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Tries with a fresh port, in case another process took the free one first.
const START_ATTEMPTS: usize = 3;
/// moto's server (what `python -m moto.server` runs), single-threaded; it also exits when its
/// stdin closes, so it cannot outlive the test process even if that is killed.
const MOTO_SERVER: &str = "
import os, sys, threading
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
run_simple('127.0.0.1', int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), threaded=False)
";

/// A running moto server on 127.0.0.1; killed when dropped.
pub struct Moto {
    child: Child,
    /// Held open while the server should run.
    _stdin: ChildStdin,
    port: u16,
    /// moto's output, read back only to explain a failed start.
    log: NamedTempFile,
}

impl Moto {
    /// Starts moto on a free port and waits until it accepts connections.
    ///
    /// # Panics
    /// If moto cannot be started, with a message that says how to install it.
    pub fn start() -> Self {
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match Self::try_start() {
                Ok(moto) => return moto,
                Err(failure) => failures.push(failure),
            }
        }
        panic!(
            "could not start moto, the DynamoDB-API server the store tests run against \
             (python3 with the `moto` package). Run the project's bootstrap, which installs it \
             with `pip install 'moto[server]'`.\n{}",
            failures.join("\n")
        );
    }

    /// One moto server for every test running at the same time: started by the first,
    /// killed when the last one drops its handle.
    pub fn shared() -> Arc<Self> {
        static SHARED: Mutex<Weak<Moto>> = Mutex::new(Weak::new());
        let mut shared = SHARED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(moto) = shared.upgrade() {
            return moto;
        }
        let moto = Arc::new(Self::start());
        *shared = Arc::downgrade(&moto);
        moto
    }

    /// The endpoint URL, e.g. for `AWS_ENDPOINT_URL_DYNAMODB`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment a child process (e.g. `vigil serve --store dynamodb`) needs to
    /// use this server: endpoint, region and static test credentials.
    pub fn child_env(&self) -> [(&'static str, String); 4] {
        [
            ("AWS_ENDPOINT_URL_DYNAMODB", self.endpoint()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ]
    }

    /// A client of table `name` on this server, creating the table if it is missing.
    pub async fn table(
        &self,
        name: &str,
        cursor_key: [u8; 32],
    ) -> functions::store::dynamodb::DynamoTable {
        let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(aws_config::Region::new("us-east-1"))
            .test_credentials();
        let table =
            functions::store::dynamodb::DynamoTable::from_loader(loader, name, cursor_key).await;
        table
            .ensure_table()
            .await
            .expect("create the table on moto");
        table
    }

    fn try_start() -> Result<Self, String> {
        let port = free_port().map_err(|error| format!("no free port: {error}"))?;
        let log = NamedTempFile::new().map_err(|error| format!("no log file: {error}"))?;
        let output = |log: &NamedTempFile| -> Result<File, String> {
            log.reopen()
                .map_err(|error| format!("no log file: {error}"))
        };
        let mut child = Command::new("python3")
            .args(["-c", MOTO_SERVER, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(output(&log)?)
            .stderr(output(&log)?)
            .spawn()
            .map_err(|error| format!("could not run python3: {error}"))?;
        let stdin = child.stdin.take().ok_or("no stdin for moto")?;
        let mut moto = Self {
            child,
            _stdin: stdin,
            port,
            log,
        };
        moto.wait_until_listening()?;
        Ok(moto)
    }

    fn wait_until_listening(&mut self) -> Result<(), String> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("moto exited ({status}):\n{}", self.output()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "moto did not answer within {START_TIMEOUT:?}:\n{}",
                    self.output()
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Already exited is fine; the wait reaps it either way.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}
