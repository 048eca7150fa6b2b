//! How `vigil serve` serves the console: compressed, with long-lived cache headers on
//! trunk's content-hashed file names and `no-cache` on index.html (also as the client
//! routes' fallback), and nothing of that on the API.
//!
//! Each test serves a small dist folder of its own (trunk's file name pattern, made-up
//! content), so none depends on a console build.

use std::io::{Read, Write};
use std::path::Path;

use vigil_tests::vigil::Vigil;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const INDEX: &str = "/index.html";
const WASM: &str = "/app-3f2a9c0d1e4b5a67_bg.wasm";
const JS: &str = "/app-3f2a9c0d1e4b5a67.js";
const CSS: &str = "/style-9c0d1e4b5a6701f2.css";

/// The files of a dist folder, by path, with their content type.
fn console_files() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let index = format!(
        "<!DOCTYPE html><html><head><title>Vigil</title>\
         <link rel=\"stylesheet\" href=\"{CSS}\"><script type=\"module\">import init from '{JS}';\
         init('{WASM}');</script></head><body></body></html>\n"
    );
    // Compressible like real output, not a run of one byte: wasm's magic and version,
    // then code-like bytes.
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    let mut state = 0x2545_f491_u32;
    while wasm.len() < 48 * 1024 {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        wasm.extend_from_slice(&[
            0x20,
            (state % 8) as u8,
            0x41,
            (state >> 24) as u8 % 16,
            0x6a,
        ]);
    }
    let js = "export default async function init(path) {\n  \
              const { instance } = await WebAssembly.instantiateStreaming(fetch(path), {});\n  \
              return instance.exports;\n}\n"
        .repeat(40);
    let css = "body { margin: 0; font-family: system-ui, sans-serif; }\n\
               .alert { color: #b00; padding: 0.25rem 0.5rem; }\n"
        .repeat(40);
    vec![
        (INDEX, "text/html", index.into_bytes()),
        (WASM, "application/wasm", wasm),
        (JS, "text/javascript", js.into_bytes()),
        (CSS, "text/css", css.into_bytes()),
    ]
}

fn write_dist(dist: &Path) {
    for (path, _, bytes) in console_files() {
        std::fs::write(dist.join(&path[1..]), bytes).expect("a dist file");
    }
}

/// The `.gz` and `.br` beside each file, as `cargo xtask spa` writes them.
fn precompress(dist: &Path) {
    for (path, _, bytes) in console_files() {
        let file = dist.join(&path[1..]);
        std::fs::write(format!("{}.gz", file.display()), gzip(&bytes)).expect("a .gz");
        std::fs::write(format!("{}.br", file.display()), brotli(&bytes)).expect("a .br");
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn brotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = brotli::CompressorWriter::new(&mut out, 4096, 11, 22);
        encoder.write_all(bytes).unwrap();
    }
    out
}

fn decode(encoding: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut decoded = Vec::new();
    match encoding {
        None => decoded.extend_from_slice(body),
        Some("gzip") => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut decoded)
                .expect("a gzip body");
        }
        Some("br") => {
            brotli::Decompressor::new(body, 4096)
                .read_to_end(&mut decoded)
                .expect("a brotli body");
        }
        Some(other) => panic!("unexpected Content-Encoding {other}"),
    }
    decoded
}

/// A client that neither asks for nor decodes compression by itself.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .no_zstd()
        .build()
        .expect("a client")
}

#[derive(Debug)]
struct Fetched {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Fetched {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("ASCII"))
    }

    /// The body as sent before compression.
    fn decoded(&self) -> Vec<u8> {
        decode(self.header("content-encoding"), &self.body)
    }

    fn varies_on_accept_encoding(&self) -> bool {
        self.headers
            .get_all("vary")
            .iter()
            .flat_map(|v| v.to_str().unwrap_or_default().split(','))
            .any(|v| v.trim().eq_ignore_ascii_case("accept-encoding"))
    }
}

async fn fetch(vigil: &Vigil, path: &str, accept_encoding: Option<&str>) -> Fetched {
    let mut request = client().get(format!("{}{path}", vigil.base));
    if let Some(accept) = accept_encoding {
        request = request.header("accept-encoding", accept);
    }
    let response = request.send().await.expect("vigil answers");
    Fetched {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.bytes().await.expect("a body").to_vec(),
    }
}

/// Every hashed asset, in each encoding, is compressed as asked, decodes to the file,
/// and is cached for a year.
async fn assert_assets_served(vigil: &Vigil, precompressed: bool) {
    for (path, content_type, original) in console_files() {
        if path == INDEX {
            continue;
        }
        for (accept, expected) in [
            ("gzip", Some("gzip")),
            ("br", Some("br")),
            ("gzip, deflate, br, zstd", None),
            ("identity", Some("identity")),
        ] {
            let answer = fetch(vigil, path, Some(accept)).await;
            let what = format!("{path} with Accept-Encoding: {accept}: {answer:?}");
            assert_eq!(answer.status, 200, "{what}");
            let encoding = answer.header("content-encoding");
            match expected {
                Some("identity") => assert_eq!(encoding, None, "{what}"),
                Some(expected) => assert_eq!(encoding, Some(expected), "{what}"),
                // A browser's list: either is right, but compressed it must be.
                None => assert!(matches!(encoding, Some("gzip" | "br")), "{what}"),
            }
            assert_eq!(answer.decoded(), original, "{what}: not the file's bytes");
            if encoding.is_some() {
                assert!(answer.body.len() < original.len(), "{what}: not smaller");
            }
            if precompressed && let Some(encoding) = encoding {
                let written = match encoding {
                    "gzip" => gzip(&original),
                    _ => brotli(&original),
                };
                assert_eq!(answer.body, written, "{what}: not the precompressed file");
            }
            let served_type = answer.header("content-type").unwrap_or_default();
            assert!(
                served_type.starts_with(content_type),
                "{what}: content type {served_type}, wanted {content_type}"
            );
            assert_eq!(answer.header("cache-control"), Some(IMMUTABLE), "{what}");
            assert!(answer.varies_on_accept_encoding(), "{what}: no Vary");
        }
        // No Accept-Encoding: the file as it is.
        let plain = fetch(vigil, path, None).await;
        assert_eq!(plain.status, 200, "{path}: {plain:?}");
        assert_eq!(plain.header("content-encoding"), None, "{path}: {plain:?}");
        assert_eq!(plain.body, original, "{path}");
        assert_eq!(plain.header("cache-control"), Some(IMMUTABLE), "{path}");
    }
}

#[tokio::test]
async fn hashed_assets_are_compressed_on_the_fly_and_immutable() {
    let dist = tempfile::tempdir().unwrap();
    write_dist(dist.path());
    let vigil = Vigil::start_serving(dist.path()).await;
    assert_assets_served(&vigil, false).await;
}

#[tokio::test]
async fn precompressed_files_are_served_as_written() {
    let dist = tempfile::tempdir().unwrap();
    write_dist(dist.path());
    precompress(dist.path());
    let vigil = Vigil::start_serving(dist.path()).await;
    assert_assets_served(&vigil, true).await;
}

#[tokio::test]
async fn index_and_client_routes_are_revalidated() {
    for precompressed in [false, true] {
        let dist = tempfile::tempdir().unwrap();
        write_dist(dist.path());
        if precompressed {
            precompress(dist.path());
        }
        let index = console_files().remove(0).2;
        let vigil = Vigil::start_serving(dist.path()).await;
        for path in [
            "/",
            INDEX,
            "/s/abc/sites",
            "/s/01JB8Y5V6Q/alerts?state=open",
            // A stale tab asking for an earlier build's file gets index.html: never cached.
            "/app-0123456789abcdef_bg.wasm",
        ] {
            for accept in [None, Some("gzip"), Some("br")] {
                let answer = fetch(&vigil, path, accept).await;
                let what =
                    format!("{path} ({accept:?}, precompressed: {precompressed}): {answer:?}");
                assert_eq!(answer.status, 200, "{what}");
                assert!(
                    answer
                        .header("content-type")
                        .is_some_and(|t| t.starts_with("text/html")),
                    "{what}"
                );
                assert_eq!(answer.header("cache-control"), Some("no-cache"), "{what}");
                assert_eq!(answer.header("content-encoding"), accept, "{what}");
                assert_eq!(answer.decoded(), index, "{what}");
            }
        }
    }
}

#[tokio::test]
async fn api_responses_are_not_cached_as_immutable() {
    let dist = tempfile::tempdir().unwrap();
    write_dist(dist.path());
    precompress(dist.path());
    let vigil = Vigil::start_serving(dist.path()).await;
    for (path, status) in [
        ("/api/me", 401),
        ("/api/openapi.json", 200),
        ("/api/no-such-thing", 404),
        ("/api/app-3f2a9c0d1e4b5a67_bg.wasm", 404),
    ] {
        let answer = fetch(&vigil, path, Some("gzip, br")).await;
        let what = format!("{path}: {answer:?}");
        assert_eq!(answer.status, status, "{what}");
        assert!(
            answer
                .header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "{what}"
        );
        let cache = answer.header("cache-control").unwrap_or_default();
        assert!(!cache.contains("immutable"), "{what}");
        assert!(!cache.contains("max-age=31536000"), "{what}");
        if status == 404 {
            let body: serde_json::Value =
                serde_json::from_slice(&answer.decoded()).expect("a JSON body");
            assert_eq!(body["error"]["code"], "not_found", "{what}");
        }
    }
}

#[tokio::test]
async fn pages_run_only_their_own_scripts_and_nothing_is_framed_sniffed_or_kept() {
    let dist = tempfile::tempdir().unwrap();
    write_dist(dist.path());
    let vigil = Vigil::start_serving(dist.path()).await;
    // the console's pages: scripts from the origin and the inline loader by its hash only
    let index = String::from_utf8(
        console_files()
            .into_iter()
            .find(|(path, _, _)| *path == INDEX)
            .unwrap()
            .2,
    )
    .unwrap();
    let loader = index
        .split("<script type=\"module\">")
        .nth(1)
        .and_then(|rest| rest.split("</script>").next())
        .unwrap();
    let hash = {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(loader))
    };
    for path in ["/", "/s/sub-1/alerts"] {
        let page = fetch(&vigil, path, None).await;
        let what = format!("{path}: {page:?}");
        let policy = page.header("content-security-policy").unwrap_or_default();
        assert!(
            policy.contains(&format!(
                "script-src 'self' 'wasm-unsafe-eval' 'sha256-{hash}';"
            )),
            "{what}"
        );
        assert!(policy.contains("frame-ancestors 'none'"), "{what}");
        assert!(policy.contains("connect-src 'self'"), "{what}");
        assert_eq!(
            page.header("x-content-type-options"),
            Some("nosniff"),
            "{what}"
        );
        assert_eq!(
            page.header("referrer-policy"),
            Some("no-referrer"),
            "{what}"
        );
        assert_eq!(page.header("cache-control"), Some("no-cache"), "{what}");
        // a revalidation's headers replace the cached page's: the same policy
        let etag = page.header("etag").or(page.header("last-modified"));
        let revalidated = client()
            .get(format!("{}{path}", vigil.base))
            .header(
                if page.header("etag").is_some() {
                    "if-none-match"
                } else {
                    "if-modified-since"
                },
                etag.expect("a validator"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(revalidated.status(), 304, "{what}");
        assert_eq!(
            revalidated
                .headers()
                .get("content-security-policy")
                .and_then(|v| v.to_str().ok()),
            Some(policy),
            "{what}: a 304 with another policy would blank the page"
        );
    }
    // the API: data, never a document, never cached
    for path in ["/api/me", "/api/openapi.json", "/api/no-such-thing"] {
        let answer = fetch(&vigil, path, None).await;
        let what = format!("{path}: {answer:?}");
        assert_eq!(
            answer.header("content-security-policy"),
            Some("default-src 'none'; frame-ancestors 'none'"),
            "{what}"
        );
        assert_eq!(answer.header("cache-control"), Some("no-store"), "{what}");
        assert_eq!(
            answer.header("x-content-type-options"),
            Some("nosniff"),
            "{what}"
        );
    }
}
