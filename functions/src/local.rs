//! `vigil serve`: every function's routes and the built SPA in one process, on the
//! embedded store by default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::any;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tower_http::compression::CompressionLayer;
use tower_http::services::{ServeDir, ServeFile};

use crate::auth::{Authenticator, LOCAL_AUDIENCE, LOCAL_ISSUER};
use crate::http::{AppState, no_such_endpoint, with_common_layers};
use crate::store::Table;
use crate::store::access::{self, RecordingTable};
use crate::store::dynamodb::DynamoTable;
use crate::store::embedded::EmbeddedTable;
use crate::{alerts, demo, notifications, openapi, retention, sim};
use shared::model::WebhookTargets;

/// Which table `vigil serve` keeps its state in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// A durable embedded database under `--data`.
    Embedded,
    /// The DynamoDB table named by `TABLE_NAME`, at the standard AWS endpoint settings.
    Dynamodb,
}

/// Whether `POST /auth/dev-login` (password-less sign-in) is mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DevLogin {
    /// On when listening on a loopback address only.
    Auto,
    On,
    Off,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Folder for the embedded store and the signing key.
    #[arg(long, default_value = "vigil-data")]
    pub data: PathBuf,
    #[arg(long, value_enum, default_value_t = StoreKind::Embedded)]
    pub store: StoreKind,
    /// The built SPA (trunk's output).
    #[arg(long, default_value = "dist")]
    pub dist: PathBuf,
    #[arg(long, value_enum, default_value_t = DevLogin::Auto)]
    pub dev_login: DevLogin,
    /// Seed demo data (idempotent) so the console has something to show.
    #[arg(long)]
    pub demo: bool,
    /// An OpenID provider to sign in with (its issuer URL): the console then offers
    /// "Sign in with" it (authorization code with PKCE) and its ID tokens are accepted.
    #[arg(long, env = "VIGIL_OIDC_ISSUER", requires = "oidc_client_id")]
    pub oidc_issuer: Option<String>,
    /// The console's client id at that provider (a public client, redirect URI
    /// `<console origin>/sign-in/callback`); the audience of its ID tokens.
    #[arg(long, env = "VIGIL_OIDC_CLIENT_ID", requires = "oidc_issuer")]
    pub oidc_client_id: Option<String>,
    /// Let webhook endpoints name loopback, private and link-local addresses (a receiver
    /// on this machine or its network). Off by default, so a webhook cannot be turned
    /// against the host's own network.
    #[arg(long, env = "VIGIL_ALLOW_PRIVATE_WEBHOOKS")]
    pub allow_private_webhooks: bool,
    /// Record which DynamoDB actions each deployed function's code needs, into this JSON
    /// file (a test compares them with the template's policies).
    #[arg(long, hide = true)]
    pub record_table_access: Option<PathBuf>,
}

/// Secrets kept under `--data` so tokens and cursors survive a restart.
#[derive(Debug)]
pub struct Secrets {
    pub token_key: [u8; 32],
    pub cursor_key: [u8; 32],
}

const SECRET_FILE: &str = "vigil.key";

impl Secrets {
    /// Loads the master secret, creating it on first start, and derives one key per use
    /// so that a leaked cursor key can never sign tokens.
    pub fn load_or_create(data: &Path) -> std::io::Result<Self> {
        let path = data.join(SECRET_FILE);
        let master = match std::fs::read(&path) {
            Ok(bytes) if bytes.len() == 32 => bytes,
            Ok(_) => {
                return Err(std::io::Error::other(format!(
                    "{} is not a 32-byte key; remove it to start over",
                    path.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_secret(&path)?,
            Err(e) => return Err(e),
        };
        Ok(Self {
            token_key: derive(&master, b"vigil token signing"),
            cursor_key: derive(&master, b"vigil cursor signing"),
        })
    }
}

fn create_secret(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut secret = vec![0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| std::io::Error::other(e.to_string()))?;
    let temporary = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary)?;
    file.write_all(&secret)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    Ok(secret)
}

fn derive(master: &[u8], purpose: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(master).expect("HMAC takes any key length");
    mac.update(purpose);
    mac.finalize().into_bytes().into()
}

/// Opens the store, builds every router, and serves until Ctrl-C or SIGTERM.
pub async fn serve(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(&args.data)?;
    let secrets = Secrets::load_or_create(&args.data)?;
    let table: Arc<dyn Table> = match args.store {
        StoreKind::Embedded => Arc::new(EmbeddedTable::open(
            args.data.join("vigil.redb"),
            secrets.cursor_key,
        )?),
        StoreKind::Dynamodb => {
            let name =
                std::env::var("TABLE_NAME").map_err(|_| "--store dynamodb needs TABLE_NAME")?;
            let table = DynamoTable::from_env(&name, secrets.cursor_key).await;
            table.ensure_table().await?;
            Arc::new(table)
        }
    };
    let table: Arc<dyn Table> = match &args.record_table_access {
        Some(file) => Arc::new(RecordingTable::new(table, file.clone())),
        None => table,
    };
    let dev_login = match args.dev_login {
        DevLogin::On => {
            if !args.addr.ip().is_loopback() {
                tracing::warn!(
                    addr = %args.addr,
                    "DEV LOGIN IS ON AT A NON-LOOPBACK ADDRESS: anyone who can reach it can sign in as anyone"
                );
            }
            true
        }
        DevLogin::Off => false,
        DevLogin::Auto => args.addr.ip().is_loopback(),
    };
    let mut auth = Authenticator::hs256(&secrets.token_key, LOCAL_ISSUER, LOCAL_AUDIENCE);
    if let (Some(issuer), Some(client_id)) = (&args.oidc_issuer, &args.oidc_client_id) {
        auth = auth.with_oidc(issuer, client_id).await?;
    }
    let auth = Arc::new(auth);
    let webhooks = if args.allow_private_webhooks {
        WebhookTargets::AnyAddress
    } else {
        WebhookTargets::PublicOnly
    };
    let state = AppState {
        table: table.clone(),
        auth: auth.clone(),
        webhooks,
    };
    let app = app(state, dev_login, &args.dist);
    let demo_sensors = if args.demo {
        demo::start(&app, &auth).await?
    } else {
        Vec::new()
    };
    // Notifications leave from the outbox, never from the request that caused them; quiet
    // sensors are found without anyone loading a page. The work starts once the demo data
    // is in, so its first sweeps see it.
    let deliveries = background(notifications::worker::run(table.clone(), webhooks));
    let sweeps = background(alerts::offline::run(table.clone()));
    let retention = background(retention::run(table));
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let addr = listener.local_addr()?;
    println!("Vigil is running at http://{addr}");
    // The demo's sensors go on heartbeating and detecting, over HTTP like any sensor.
    let demo_fleet = (!demo_sensors.is_empty()).then(|| {
        let ip = match addr.ip() {
            ip if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
            ip => ip,
        };
        let origin = format!("http://{}", SocketAddr::new(ip, addr.port()));
        tokio::spawn(sim::drive_demo(origin, demo_sensors))
    });
    // On the signal: stop accepting, let the requests in flight finish (each write is one
    // atomic commit, so a request cut short changes all of a commit or nothing), at most
    // for `SHUTDOWN_GRACE`; then return, which closes the store cleanly.
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown_signal().await;
        let _ = stopping.send(());
    });
    tokio::select! {
        served = serving.into_future() => served?,
        () = async {
            let _ = stopped.await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::warn!(?SHUTDOWN_GRACE, "requests still in flight at shutdown were cut short");
        }
    }
    // What the worker had not sent stays in the outbox for the next start.
    for task in [deliveries, sweeps, retention]
        .into_iter()
        .chain(demo_fleet)
    {
        task.abort();
        let _ = task.await;
    }
    Ok(())
}

/// Runs `work` beside the server, as the deployed scheduled worker that does it there.
fn background(
    work: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(access::as_function(access::WORKER, work))
}

/// How long requests in flight at shutdown have to finish.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Every area's routes, `GET /api/openapi.json` with their document, and the console for
/// every other path.
pub fn app(state: AppState, dev_login: bool, dist: &Path) -> Router {
    // The console exchanges the provider's code for tokens itself (a public client).
    let provider = state
        .auth
        .known_oidc_sign_in()
        .and_then(|oidc| origin_of(&oidc.token_endpoint));
    let (routes, document) = openapi::routes(dev_login).split_for_parts();
    let routes = openapi::serving(routes, &openapi::linked(&document))
        .route("/api/{*rest}", any(no_such_endpoint))
        .with_state(state)
        .fallback_service(console(dist, provider));
    with_common_layers(routes)
}

/// The built console (trunk's output in `dist`), served like a product:
///
/// - compressed: the `.br` and `.gz` files that `cargo xtask spa`/`test` write beside each
///   file when the client accepts them (compressed once, at build time), else brotli or
///   gzip on the fly (a dist built by `trunk` alone, or the debug build of `cargo xtask dev`);
/// - trunk's content-hashed file names (`app-<hash>_bg.wasm`, `style-<hash>.css`) cached
///   for a year as immutable, everything else (index.html above all) revalidated on each
///   use, so a new release is picked up on the next load;
/// - index.html for every path that is no file: the console routes on the client.
fn console(dist: &Path, provider: Option<String>) -> Router {
    let index = ServeFile::new(dist.join("index.html"))
        .precompressed_br()
        .precompressed_gzip();
    let files = ServeDir::new(dist)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(index);
    // Never compresses what is already compressed (a precompressed file has its
    // Content-Encoding set); brotli at quality 4 and gzip at 6 on the fly.
    let index_path = dist.join("index.html");
    Router::new()
        .fallback_service(files)
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn(console_cache_headers))
        .layer(middleware::from_fn(move |request, next| {
            console_policy(index_path.clone(), provider.clone(), request, next)
        }))
}

/// The Content-Security-Policy of the console's pages, for the `index.html` trunk wrote:
/// scripts only from the console's origin plus trunk's inline loader (allowed by its
/// hash, so no other inline script runs), wasm compiled from them, requests only to the
/// console's origin (and the OpenID provider's, at `provider`, for the token exchange),
/// never framed. Styles allow inline `style` attributes: the console sets bar widths
/// with them.
pub fn console_csp(index_html: &str, provider: Option<&str>) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let mut hashes = String::new();
    let mut rest = index_html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let Some(tag_end) = after.find('>') else {
            break;
        };
        let tag = &after[..tag_end];
        let body = &after[tag_end + 1..];
        let Some(body_end) = body.find("</script>") else {
            break;
        };
        if !tag.contains(" src=") {
            let digest = Sha256::digest(&body.as_bytes()[..body_end]);
            let encoded = base64::engine::general_purpose::STANDARD.encode(digest);
            hashes.push_str(&format!(" 'sha256-{encoded}'"));
        }
        rest = &body[body_end..];
    }
    let provider = provider
        .map(|origin| format!(" {origin}"))
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; \
         connect-src 'self'{provider}; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// `scheme://host[:port]` of a URL, as a CSP source.
fn origin_of(url: &str) -> Option<String> {
    let origin = reqwest::Url::parse(url).ok()?.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// Sets [`console_csp`] on every answer of the console (read from the `index.html` on
/// disk, so a rebuilt console is served with its own loader's hash). Every answer, not
/// only HTML ones: a `304` revalidating `index.html` carries no content type, and its
/// headers replace the cached page's, policy included; on a script or wasm answer a CSP
/// does nothing.
async fn console_policy(
    index: PathBuf,
    provider: Option<String>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    if let Ok(page) = tokio::fs::read_to_string(&index).await
        && let Ok(policy) = HeaderValue::from_str(&console_csp(&page, provider.as_deref()))
    {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

async fn console_cache_headers(request: Request, next: Next) -> Response {
    let hashed = is_hashed_file_name(request.uri().path());
    let mut response = next.run(request).await;
    let status = response.status();
    let headers = response.headers_mut();
    // A missing hashed file answers with index.html (the fallback): never cache that.
    let html = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    let found = status.is_success() || status == StatusCode::NOT_MODIFIED;
    let policy = if hashed && found && !html {
        IMMUTABLE
    } else {
        NO_CACHE
    };
    headers.insert(header::CACHE_CONTROL, policy);
    // The body depends on Accept-Encoding whether it was compressed now or at build time.
    let varies = headers
        .get_all(header::VARY)
        .iter()
        .any(|v| v.as_bytes().eq_ignore_ascii_case(b"accept-encoding"));
    if !varies {
        headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

/// Whether the last segment of `path` is a file name with trunk's content hash in it:
/// trunk names files `<stem>-<hash>.<ext>` (`app-<hash>_bg.wasm`, `app-<hash>.js`) with
/// the hash a 64-bit seahash in lower-case hex (up to 16 digits; 8 or more is taken as a
/// hash, so a name like `favicon.ico` is not).
fn is_hashed_file_name(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    let Some((stem, _extension)) = name.split_once('.') else {
        return false;
    };
    stem.split(['-', '_']).skip(1).any(|part| {
        (8..=16).contains(&part.len())
            && part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::{Sha256, console_csp, is_hashed_file_name, origin_of};

    #[test]
    fn the_console_policy_allows_exactly_its_inline_loader() {
        use base64::Engine as _;
        use sha2::Digest as _;
        let loader = "\nimport init from '/app-1.js';\nawait init();\n";
        let page = format!(
            "<html><head><script type=\"module\">{loader}</script>\
             <script src=\"/other.js\"></script></head></html>"
        );
        let policy = console_csp(&page, None);
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(loader));
        assert!(
            policy.contains(&format!(
                "script-src 'self' 'wasm-unsafe-eval' 'sha256-{hash}';"
            )),
            "{policy}"
        );
        assert_eq!(policy.matches("'sha256-").count(), 1, "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        let scripts = policy
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .unwrap();
        assert!(!scripts.contains("unsafe-inline"), "{policy}");
    }

    #[test]
    fn the_console_may_reach_its_openid_provider_and_nothing_else() {
        let provider = origin_of("https://login.example.com:8443/oauth2/token?x=1").unwrap();
        assert_eq!(provider, "https://login.example.com:8443");
        let policy = console_csp("<html></html>", Some(&provider));
        assert!(
            policy.contains("connect-src 'self' https://login.example.com:8443;"),
            "{policy}"
        );
        assert!(
            console_csp("<html></html>", None).contains("connect-src 'self';"),
            "{policy}"
        );
    }

    #[test]
    fn trunk_hashed_names_are_recognised() {
        for hashed in [
            "/app-3f2a9c0d1e4b5a67_bg.wasm",
            "/app-3f2a9c0d1e4b5a67.js",
            "/style-9c0d1e4b5a67.css",
        ] {
            assert!(is_hashed_file_name(hashed), "{hashed}");
        }
        for plain in [
            "/",
            "/index.html",
            "/favicon.ico",
            "/s/abc/sites",
            "/app.js",
            "/app-3F2A9C0D1E4B5A67.js",
            "/app-3f2a9c.js",
            "/deadbeefcafe.js",
            "/app-3f2a9c0d1e4b5a67",
            // wasm-bindgen's snippet folders are named after the crate, not the content.
            "/snippets/app-0123abcd4567ef89/inline0.js",
        ] {
            assert!(!is_hashed_file_name(plain), "{plain}");
        }
    }
}
