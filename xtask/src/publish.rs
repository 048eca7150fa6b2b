//! `cargo xtask publish`: a console build into the stack's bucket, served by its
//! CloudFront distribution.
//!
//! The published `index.html` has no inline script: trunk's loader is moved into a file
//! of its own, so the distribution's Content-Security-Policy (a fixed header, unlike
//! `vigil serve`'s, which hashes the loader of the build it serves) allows scripts from
//! the console's origin only. `xtask/publish.py` (boto3) uploads what this stages.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, root, run};

/// One file to upload, with the headers S3 answers it with.
#[derive(Debug, PartialEq, Eq)]
pub struct Upload {
    pub key: String,
    pub content_type: &'static str,
    pub cache_control: &'static str,
}

/// `publish [--dist DIR] (--stack NAME | --bucket B --distribution ID)`.
pub fn publish(args: &[String], build: impl FnOnce() -> Result<PathBuf>) -> Result {
    let value = |name: &str| {
        args.iter()
            .position(|arg| arg == name)
            .and_then(|at| args.get(at + 1))
            .cloned()
    };
    let target = match (value("--stack"), value("--bucket"), value("--distribution")) {
        (Some(stack), None, None) => vec!["--stack".to_owned(), stack],
        (None, Some(bucket), Some(distribution)) => vec![
            "--bucket".to_owned(),
            bucket,
            "--distribution".to_owned(),
            distribution,
        ],
        _ => return Err(
            "usage: cargo xtask publish [--dist DIR] (--stack NAME | --bucket B --distribution ID)"
                .to_owned(),
        ),
    };
    let dist = match value("--dist") {
        Some(dist) => PathBuf::from(dist),
        None => build()?,
    };
    let staging = root().join("target/publish");
    let uploads = stage(&dist, &staging)?;
    let manifest = staging.join("manifest.tsv");
    let lines: Vec<String> = uploads
        .iter()
        .map(|u| format!("{}\t{}\t{}", u.key, u.content_type, u.cache_control))
        .collect();
    fs::write(&manifest, lines.join("\n")).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let script = root().join("xtask/publish.py");
    let mut upload = Command::new("python3");
    upload.arg(script).arg(&staging).args(target);
    run(upload)
}

/// Copies the build in `dist` to `staging` as it is published (the loader out of
/// `index.html`, no precompressed copies: CloudFront compresses) and answers what to
/// upload, `index.html` last.
pub fn stage(dist: &Path, staging: &Path) -> Result<Vec<Upload>> {
    let index = fs::read_to_string(dist.join("index.html")).map_err(|e| {
        format!(
            "{}: {e} (build the console first: cargo xtask spa)",
            dist.join("index.html").display()
        )
    })?;
    let _ = fs::remove_dir_all(staging);
    fs::create_dir_all(staging).map_err(|e| e.to_string())?;
    let mut uploads = Vec::new();
    let entries = fs::read_dir(dist).map_err(|e| e.to_string())?;
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "index.html" && !name.ends_with(".br") && !name.ends_with(".gz"))
        .collect();
    names.sort();
    for name in names {
        fs::copy(dist.join(&name), staging.join(&name)).map_err(|e| e.to_string())?;
        uploads.push(upload(name));
    }
    let (index, loaders) = without_inline_scripts(&index);
    for (name, body) in loaders {
        fs::write(staging.join(&name), body).map_err(|e| e.to_string())?;
        uploads.push(upload(name));
    }
    fs::write(staging.join("index.html"), index).map_err(|e| e.to_string())?;
    uploads.push(upload("index.html".to_owned()));
    Ok(uploads)
}

fn upload(key: String) -> Upload {
    let extension = key.rsplit_once('.').map_or("", |(_, extension)| extension);
    let content_type = match extension {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript",
        "wasm" => "application/wasm",
        "css" => "text/css",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    };
    let cache_control = if key == "index.html" {
        // Always revalidated, so a new build is seen on the next load.
        "no-cache"
    } else if content_hashed(&key) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    Upload {
        key,
        content_type,
        cache_control,
    }
}

/// Whether trunk (or [`without_inline_scripts`]) put a content hash in the name:
/// `<stem>-<hex>…`, 8 to 16 lower-case hex digits.
fn content_hashed(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or_default();
    stem.split(['-', '_']).skip(1).any(|part| {
        (8..=16).contains(&part.len())
            && part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// `index_html` with each inline `<script>` turned into one loading `loader-<hash>.js`,
/// and those files' names and bodies.
fn without_inline_scripts(index_html: &str) -> (String, Vec<(String, String)>) {
    let mut out = String::new();
    let mut files = Vec::new();
    let mut rest = index_html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let (Some(tag_end), Some(close)) = (after.find('>'), after.find("</script>")) else {
            break;
        };
        let tag = &after[..tag_end];
        out.push_str(&rest[..start]);
        if tag.contains(" src=") {
            out.push_str(&after[..close]);
        } else {
            let body = &after[tag_end + 1..close];
            let mut hasher = DefaultHasher::new();
            body.hash(&mut hasher);
            let name = format!("loader-{:016x}.js", hasher.finish());
            out.push_str(&format!("{tag} src=\"/{name}\">"));
            files.push((name, body.to_owned()));
        }
        rest = &after[close..];
    }
    out.push_str(rest);
    (out, files)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRUNK_INDEX: &str = r#"<!DOCTYPE html><html><head><link rel="modulepreload" href="/app-0123456789abcdef.js">
<script type="module">import init from '/app-0123456789abcdef.js'; await init({ module_or_path: '/app-0123456789abcdef_bg.wasm' });</script>
<script src="/other-89abcdef.js"></script></head><body></body></html>"#;

    #[test]
    fn the_inline_loader_becomes_a_hashed_module_file_and_nothing_else_changes() {
        let (index, files) = without_inline_scripts(TRUNK_INDEX);
        assert_eq!(files.len(), 1);
        let (name, body) = &files[0];
        assert!(content_hashed(name), "{name}");
        assert!(body.starts_with("import init from '/app-0123456789abcdef.js';"));
        assert_eq!(
            index,
            TRUNK_INDEX.replace(
                &format!("<script type=\"module\">{body}</script>"),
                &format!("<script type=\"module\" src=\"/{name}\"></script>")
            )
        );
        assert!(index.contains(r#"<script src="/other-89abcdef.js"></script>"#));
    }

    #[test]
    fn hashed_files_are_immutable_the_index_always_revalidated() {
        let of = |key: &str| upload(key.to_owned());
        assert_eq!(of("index.html").cache_control, "no-cache");
        assert_eq!(of("index.html").content_type, "text/html; charset=utf-8");
        let wasm = of("app-0123456789abcdef_bg.wasm");
        assert_eq!(wasm.content_type, "application/wasm");
        assert_eq!(wasm.cache_control, "public, max-age=31536000, immutable");
        assert_eq!(of("favicon.ico").cache_control, "public, max-age=300");
        assert_eq!(of("style-1a2b3c4d.css").content_type, "text/css");
    }

    #[test]
    fn staging_leaves_out_precompressed_copies_and_puts_the_index_last() {
        let dist = std::env::temp_dir().join(format!("vigil-publish-dist-{}", std::process::id()));
        let staging = dist.with_extension("staged");
        fs::create_dir_all(&dist).unwrap();
        fs::write(dist.join("index.html"), TRUNK_INDEX).unwrap();
        for name in [
            "app-0123456789abcdef_bg.wasm",
            "app-0123456789abcdef_bg.wasm.br",
            "app-0123456789abcdef.js.gz",
        ] {
            fs::write(dist.join(name), b"x").unwrap();
        }
        let uploads = stage(&dist, &staging).unwrap();
        let keys: Vec<&str> = uploads.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(keys.len(), 3, "{keys:?}");
        assert_eq!(keys[0], "app-0123456789abcdef_bg.wasm");
        assert!(keys[1].starts_with("loader-"));
        assert_eq!(keys[2], "index.html");
        let staged = fs::read_to_string(staging.join("index.html")).unwrap();
        assert!(!staged.contains("await init"));
        let _ = fs::remove_dir_all(&dist);
        let _ = fs::remove_dir_all(&staging);
    }
}
