"""The Fargate fit task's container command: fetch the code, then run it. No image is built.

The task runs a public image that has Python and boto3 (`settings.fit_task_image`, AWS's Lambda base image for
Python 3.12, the Lambda runtime's own Python and boto3, so the layers built for the fit Lambda load
unchanged). This file's text is the container's command (`python3 -c <this file>`): it downloads
the code asset and the layer assets the fit Lambda uses (`FIT_ASSETS`: `s3://bucket/key` URLs, the
code first, from the CDK assets in the bootstrap bucket), extracts each into a temporary directory,
puts the code and each layer's `python/` directory on sys.path in that order, as Lambda does with
/var/task and /opt/python, and runs `FIT_ENTRY_MODULE` as `__main__`. Standard library and boto3 only.

Locally the same command runs with the local cloud's interpreter; the local layer assets are their
source directories, without `python/`, so the virtualenv's packages serve.
"""

from __future__ import annotations

import io
import os
import runpy
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any


def split_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/key` as (bucket, key)."""
    if not url.startswith("s3://") or "/" not in url[5:]:
        raise ValueError(f"not an s3://bucket/key URL: {url!r}")
    bucket, key = url[5:].split("/", 1)
    return bucket, key


def fetch_assets(s3: Any, urls: list[str], into: Path) -> list[str]:
    """Download and extract each asset zip; the directories to put on sys.path, in order."""
    entries = []
    for index, url in enumerate(urls):
        bucket, key = split_s3_url(url)
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        target = into / str(index)
        with zipfile.ZipFile(io.BytesIO(body)) as archive:  # CDK's own asset zips, from the bootstrap bucket
            archive.extractall(target)
        packages = target if index == 0 else target / "python"  # a layer's packages are under python/
        if packages.is_dir():
            entries.append(str(packages))
        print(f"fetched {url} ({len(body):,} bytes)", flush=True)
    return entries


def main(environ: dict[str, str] | os._Environ[str] = os.environ) -> None:
    import boto3

    urls = environ["FIT_ASSETS"].split()
    into = Path(tempfile.mkdtemp(prefix="fit-task-"))
    sys.path[:0] = fetch_assets(boto3.client("s3"), urls, into)
    runpy.run_module(environ["FIT_ENTRY_MODULE"], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
