"""Uploads a console staged by `cargo xtask publish` and invalidates its index.

Usage: publish.py STAGING (--stack NAME | --bucket BUCKET --distribution ID)

STAGING holds the files and manifest.tsv (key, content type, cache control; the index
last, so no page names a file not yet uploaded). Keys of the bucket not in the manifest
are deleted afterwards: a browser still holding the previous index loads its files until
then. Credentials, region and endpoint come from the usual AWS settings.
"""

import argparse
import pathlib
import sys
import time

import boto3


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("staging", type=pathlib.Path)
    parser.add_argument("--stack")
    parser.add_argument("--bucket")
    parser.add_argument("--distribution")
    args = parser.parse_args()
    bucket, distribution = args.bucket, args.distribution
    if args.stack:
        stacks = boto3.client("cloudformation").describe_stacks(StackName=args.stack)
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks["Stacks"][0]["Outputs"]}
        bucket, distribution = outputs["ConsoleBucket"], outputs["ConsoleDistributionId"]
    s3 = boto3.client("s3")
    manifest = (args.staging / "manifest.tsv").read_text().splitlines()
    published = set()
    for line in manifest:
        key, content_type, cache_control = line.split("\t")
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=(args.staging / key).read_bytes(),
            ContentType=content_type,
            CacheControl=cache_control,
        )
        published.add(key)
        print(f"uploaded {key} ({content_type}; {cache_control})")
    stale = [
        {"Key": item["Key"]}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for item in page.get("Contents", [])
        if item["Key"] not in published
    ]
    for start in range(0, len(stale), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": stale[start : start + 1000]})
    print(f"deleted {len(stale)} files of the previous build")
    # The index is cached under its own path and under "/" (the default root object);
    # every console route is answered with it, under the rewritten URI /index.html.
    invalidation = boto3.client("cloudfront").create_invalidation(
        DistributionId=distribution,
        InvalidationBatch={
            "Paths": {"Quantity": 2, "Items": ["/index.html", "/"]},
            "CallerReference": f"vigil-publish-{time.time_ns()}",
        },
    )
    print(f"invalidation {invalidation['Invalidation']['Id']} of {distribution} started")
    return 0


if __name__ == "__main__":
    sys.exit(main())
