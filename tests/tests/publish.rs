//! `cargo xtask publish` against the S3 and CloudFront APIs of moto (the DynamoDB-API
//! server the store tests use serves them too): the console build lands in the bucket
//! with its content types and cache headers, without inline scripts, the previous
//! build's files go, and the index is invalidated.

use std::process::Command;

use serde_json::Value;
use vigil_tests::moto::Moto;
use vigil_tests::vigil::{workspace_binary, workspace_root};

/// Runs `script` with boto3 against `moto`, printing one JSON value, and reads it.
fn boto3(moto: &Moto, script: &str) -> Value {
    let output = Command::new("python3")
        .args(["-c", script])
        .envs(aws_env(moto))
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("a JSON answer")
}

fn aws_env(moto: &Moto) -> [(&'static str, String); 4] {
    [
        ("AWS_ENDPOINT_URL", moto.endpoint()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
    ]
}

#[test]
fn publish_uploads_the_console_without_inline_scripts_and_invalidates_its_index() {
    let dist = workspace_root().join("dist");
    assert!(
        dist.join("index.html").exists(),
        "dist/ is missing: build the console first (`cargo xtask spa`; `cargo xtask test` does)"
    );
    let moto = Moto::shared();
    // GIVEN a bucket holding a previous build's file, and a distribution
    let bucket = format!("vigil-console-{}", functions::ids::new().to_lowercase());
    let created = boto3(
        &moto,
        &format!(
            r#"
import boto3, json
s3 = boto3.client("s3")
s3.create_bucket(Bucket="{bucket}")
s3.put_object(Bucket="{bucket}", Key="app-00000000deadbeef_bg.wasm", Body=b"old")
d = boto3.client("cloudfront").create_distribution(DistributionConfig={{
    "CallerReference": "{bucket}", "Comment": "", "Enabled": True,
    "Origins": {{"Quantity": 1, "Items": [{{"Id": "console", "DomainName": "{bucket}.s3.amazonaws.com",
        "S3OriginConfig": {{"OriginAccessIdentity": ""}}}}]}},
    "DefaultCacheBehavior": {{"TargetOriginId": "console", "ViewerProtocolPolicy": "redirect-to-https",
        "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"}}}})
print(json.dumps({{"id": d["Distribution"]["Id"]}}))
"#
        ),
    );
    let distribution = created["id"]
        .as_str()
        .expect("a distribution id")
        .to_owned();

    // WHEN the build is published
    let xtask = workspace_binary("xtask", "run it once: `cargo xtask test` does");
    let published = Command::new(xtask)
        .current_dir(workspace_root())
        .args(["publish", "--dist"])
        .arg(&dist)
        .args(["--bucket", &bucket, "--distribution", &distribution])
        .envs(aws_env(&moto))
        .output()
        .expect("cargo xtask publish runs");
    assert!(
        published.status.success(),
        "{}{}",
        String::from_utf8_lossy(&published.stdout),
        String::from_utf8_lossy(&published.stderr)
    );

    // THEN the bucket holds exactly the build (no precompressed copies), typed and cached
    let state = boto3(
        &moto,
        &format!(
            r#"
import boto3, json
s3 = boto3.client("s3")
objects = {{}}
for item in s3.list_objects_v2(Bucket="{bucket}").get("Contents", []):
    head = s3.head_object(Bucket="{bucket}", Key=item["Key"])
    objects[item["Key"]] = {{"type": head["ContentType"], "cache": head.get("CacheControl")}}
index = s3.get_object(Bucket="{bucket}", Key="index.html")["Body"].read().decode()
paths = [p for i in boto3.client("cloudfront").list_invalidations(DistributionId="{distribution}")["InvalidationList"].get("Items", [])
         for p in boto3.client("cloudfront").get_invalidation(DistributionId="{distribution}", Id=i["Id"])["Invalidation"]["InvalidationBatch"]["Paths"]["Items"]]
print(json.dumps({{"objects": objects, "index": index, "invalidated": paths}}))
"#
        ),
    );
    let objects = state["objects"].as_object().expect("objects");
    assert!(
        !objects.contains_key("app-00000000deadbeef_bg.wasm"),
        "the previous build's file stays"
    );
    assert!(
        objects
            .keys()
            .all(|key| !key.ends_with(".br") && !key.ends_with(".gz"))
    );
    assert_eq!(objects["index.html"]["cache"], "no-cache");
    assert_eq!(objects["index.html"]["type"], "text/html; charset=utf-8");
    let wasm: Vec<_> = objects
        .iter()
        .filter(|(key, _)| key.ends_with(".wasm"))
        .collect();
    assert_eq!(wasm.len(), 1, "{objects:?}");
    assert_eq!(wasm[0].1["type"], "application/wasm");
    assert_eq!(wasm[0].1["cache"], "public, max-age=31536000, immutable");
    // AND its index runs no inline script: the loader is a file the CSP's 'self' allows
    let index = state["index"].as_str().expect("the index");
    let scripts: Vec<&str> = index.split("<script").skip(1).collect();
    assert!(!scripts.is_empty(), "{index}");
    for script in scripts {
        let tag = &script[..script.find('>').expect("a tag")];
        let src = tag.split("src=\"/").nth(1).expect("every script has a src");
        let file = &src[..src.find('"').expect("a quoted src")];
        assert!(objects.contains_key(file), "{file} is not published");
        assert!(
            script[tag.len() + 1..].starts_with("</script>"),
            "an inline script: {script}"
        );
    }
    // AND the index is invalidated
    let invalidated: Vec<&str> = state["invalidated"]
        .as_array()
        .expect("paths")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(invalidated.contains(&"/index.html"), "{invalidated:?}");
}
