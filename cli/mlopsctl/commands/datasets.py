"""`mlops upload` and `mlops datasets list|show|page`: data files in, accepted dataset versions and
validation report pages out."""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlopsctl.commands import EXIT_OK, EXIT_REJECTED, CommandError, deployment_target, emit
from mlopsctl.target import Target

if TYPE_CHECKING:
    from mlopsctl.datasets import DatasetVersion

PAGE_NAME_LIMIT = 120  # characters of a report page's default file name (file systems allow 255 bytes)


def upload_raw(target: Target, dataset: str, name: str, body: bytes) -> tuple[str, str, str | None]:
    """A data file under `raw/<dataset>/`, where the ingest function picks it up: (bucket, key, version id)."""
    bucket = target.output("RawBucketName")
    key = f"raw/{dataset}/{name}"
    response = target.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    return bucket, key, response.get("VersionId")


def wait_for_ingestion(
    target: Target, dataset: str, key: str, version_id: str | None, timeout: float
) -> dict[str, Any] | None:
    """The ingest function's verdict on one upload (its registry item), or None after `timeout` s."""
    if not version_id:
        raise CommandError(
            f"s3://{target.output('RawBucketName')} has versioning off: uploads cannot be told apart; enable it"
        )
    table = target.resource("dynamodb").Table(target.output("RegistryTableName"))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = table.get_item(Key={"pk": f"DATASET#{dataset}", "sk": f"UPLOAD#{key}#{version_id}"})
        if "Item" in item:
            return {k: (int(v) if hasattr(v, "as_integer_ratio") else v) for k, v in item["Item"].items()}
        time.sleep(0.5)
    return None


def upload(args: argparse.Namespace) -> int:
    target = deployment_target(args)
    bucket, key, version_id = upload_raw(target, args.dataset, args.file.name, args.file.read_bytes())
    if not args.wait:
        emit(args, {"bucket": bucket, "key": key, "version_id": version_id}, f"uploaded s3://{bucket}/{key}")
        return EXIT_OK
    outcome = wait_for_ingestion(target, args.dataset, key, version_id, args.timeout)
    if outcome is None:
        queue = target.outputs.get("DeadLetterQueueUrl", "the dead-letter queue")
        raise CommandError(
            f"no outcome for {key} after {args.timeout:g} s: the ingest function is still working on it, or it "
            f"failed every attempt and the S3 event waits in {queue} (its ErrorMessage attribute says why; the "
            "function's log group has the trace); a larger file may need a longer --timeout"
        )
    lines = [f"{outcome['status'].upper()} s3://{bucket}/{key}: {outcome.get('summary', '')}"]
    if outcome.get("report_key"):
        artifacts = target.output("ArtifactsBucketName")
        summary_key = outcome["report_key"].removesuffix(".json") + ".txt"
        try:
            summary = target.client("s3").get_object(Bucket=artifacts, Key=summary_key)["Body"].read()
            lines.append(summary.decode().rstrip())
        except Exception:  # the summary is a convenience; the report below is the record
            lines += [f"  - {failure}" for failure in outcome.get("first_failures", [])]
        lines.append(f"report: s3://{artifacts}/{outcome['report_key']}")
        page = report_page(target, artifacts, _page_key(outcome["report_key"]), args.page)
        outcome["report_page"] = page
        lines += page_lines(page, "--page FILE.html")
    emit(args, outcome, "\n".join(lines))
    return EXIT_REJECTED if outcome["status"] == "rejected" else EXIT_OK


def _page_key(report_key: str) -> str:
    from mlops.datasets.upload_outcome import report_page_key

    return report_page_key(report_key)


def report_page(target: Target, bucket: str, key: str, path: Path | None) -> dict[str, Any]:
    """Where a validation report page is (its S3 URI, what the mail names) and, when `path` is given,
    the page written there. A local file is what every reader can open: in any browser, offline, with
    no AWS credentials, KMS permission or expiring link, on AWS and on the local cloud alike."""
    found: dict[str, Any] = {"uri": f"s3://{bucket}/{key}"}
    if path is not None:
        from botocore.exceptions import ClientError

        try:
            body = target.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            raise CommandError(_unreadable_page(bucket, key, error)) from None
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        found["file"] = str(path)
    return found


def _unreadable_page(bucket: str, key: str, error: Exception) -> str:
    """S3's refusal of a report page in words naming the bucket and key (not a botocore traceback)."""
    detail = getattr(error, "response", {}).get("Error", {})
    code, message = detail.get("Code", ""), detail.get("Message", str(error))
    if code == "NoSuchBucket":
        return (
            f"no bucket {bucket!r}: cannot read s3://{bucket}/{key} "
            "(the page URI a rejection mail names is in the artifacts bucket)"
        )
    if code in ("NoSuchKey", "404"):
        return f"no report page at s3://{bucket}/{key}"
    return f"cannot read s3://{bucket}/{key}: {code} {message}".rstrip()


def page_file_name(key: str) -> str:
    """The default local name of a report page: its key below the validation reports prefix, with
    every character but [A-Za-z0-9._-] replaced by `_` (an upload's name is anyone's text:
    `<img src=x onerror=...>.csv`), no leading dot or dash, at most PAGE_NAME_LIMIT characters, ending `.html`."""
    from mlops.names import VALIDATION_REPORTS_PREFIX

    name = re.sub(r"[^A-Za-z0-9._-]", "_", key.removeprefix(VALIDATION_REPORTS_PREFIX).replace("/", "-"))
    stem, room = name.removesuffix(".html").lstrip(".-") or "report", PAGE_NAME_LIMIT - len(".html")
    if len(stem) > room:  # keep both ends: the dataset and file name, and the upload id that tells pages apart
        stem = f"{stem[: room // 2 - 1]}__{stem[-(room - room // 2 - 1) :]}"
    return stem + ".html"


def page_lines(page: dict[str, Any], hint: str) -> list[str]:
    if page.get("file"):
        return [f"page:   {page['uri']}", f"        written to {page['file']}"]
    return [f"page:   {page['uri']}", f"        ({hint} writes it to a file to open)"]


def datasets_page(args: argparse.Namespace) -> int:
    """A validation report page (the S3 URI a rejection mail or `upload --wait` names) written to a file."""
    target = deployment_target(args)
    bucket, _, key = str(args.page).removeprefix("s3://").partition("/")
    if not str(args.page).startswith("s3://") or not key:
        bucket, key = target.output("ArtifactsBucketName"), str(args.page)
    key = _page_key(key) if key.endswith(".json") else key
    if not key.endswith(".html"):
        raise CommandError(f"{args.page} is not a report page: give the .html (or .json) URI the mail names")
    from mlops.names import VALIDATION_REPORTS_PREFIX

    if not key.startswith(VALIDATION_REPORTS_PREFIX):
        raise CommandError(
            f"{args.page} is not a validation report page: those are under {VALIDATION_REPORTS_PREFIX} "
            "(the URI a rejection mail or `mlops upload --wait` names); nothing written"
        )
    path = args.output or Path("reports") / page_file_name(key)
    page = report_page(target, bucket, key, path)
    emit(args, page, "\n".join(page_lines(page, "-o FILE.html")))
    return EXIT_OK


def datasets(args: argparse.Namespace) -> int:
    """Accepted dataset versions, read from the registry table (as `upload --wait` and `runs` do)."""
    from mlops.datasets.records import DatasetRecords
    from mlops.registry.models import ModelRegistry
    from mlopsctl.datasets import VERSIONS_HEADER, dataset_versions, resolve_version, version_line

    target = deployment_target(args)
    table = target.resource("dynamodb").Table(target.output("RegistryTableName"))
    names = [args.name] if args.datasets_command == "show" else deployed_datasets(target)
    registry, runs = DatasetRecords(table), ModelRegistry(table)
    found = {
        name: dataset_versions(name, registry.all_dataset_versions(name), runs.runs_for_dataset(name, limit=500))
        for name in names
    }
    if args.datasets_command == "list":
        summaries = [
            {
                "dataset": name,
                "versions": len(versions),
                "rows": sum(v.rows or 0 for v in versions),
                "latest": versions[0].as_document() if versions else None,
            }
            for name, versions in found.items()
        ]
        lines = [f"{'DATASET':<24} {'VERSIONS':>8} {'ROWS':>10}  LATEST"] + [
            f"{name:<24} {len(versions):>8} {sum(v.rows or 0 for v in versions):>10,}  "
            + (f"{versions[0].version[:12]}  {versions[0].created_at[:19]}" if versions else "-")
            for name, versions in found.items()
        ]
        emit(args, {"datasets": summaries}, "\n".join(lines) if names else "no datasets yet: deploy a contract first")
        return EXIT_OK
    versions = [_with_contract_version(target, v) for v in found[args.name]]
    if not versions:
        raise CommandError(
            f"dataset {args.name!r} has no accepted versions (`mlops upload FILE --dataset {args.name} --wait`)"
        )
    if args.version:
        try:
            full = resolve_version(args.name, args.version, [v.version for v in versions])
        except ValueError as error:
            raise CommandError(str(error)) from error
        (one,) = [v for v in versions if v.version == full]
        lines = [
            f"{one.dataset} @ {one.version}",
            f"  created {one.created_at[:19]}, {one.rows if one.rows is not None else '-'} rows, "
            f"contract v{one.contract_version if one.contract_version is not None else '-'}",
            f"  source: s3://{target.output('RawBucketName')}/{one.source_key}",
            f"  manifest: s3://{target.output('CuratedBucketName')}/{one.manifest_key}",
            "  trained on it:" if one.trained_on else "  trained on it: nothing yet",
            *[
                f"    {t.run_id}  {t.status:<10} "
                + (f"{t.model} v{t.model_version}" if t.model_version is not None else "no model version")
                for t in one.trained_on
            ],
        ]
        emit(args, one.as_document(), "\n".join(lines))
        return EXIT_OK
    emit(
        args,
        {"dataset": args.name, "versions": [v.as_document() for v in versions]},
        "\n".join([VERSIONS_HEADER, *(version_line(v) for v in versions)]),
    )
    return EXIT_OK


def deployed_datasets(target: Target) -> list[str]:
    """The datasets with a deployed contract (the registry keeps no list of datasets)."""
    s3 = target.client("s3")
    names: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=target.output("ArtifactsBucketName"), Prefix="contracts/"
    ):
        for item in page.get("Contents", []):
            name = item["Key"].removeprefix("contracts/")
            if "/" not in name and "." in name:
                names.add(name.rsplit(".", 1)[0])
    return sorted(names)


def _with_contract_version(target: Target, version: DatasetVersion) -> DatasetVersion:
    """Versions accepted before the registry recorded their contract version: read it from the manifest."""
    import dataclasses

    if version.contract_version is not None or not version.manifest_key:
        return version
    try:
        body = target.client("s3").get_object(Bucket=target.output("CuratedBucketName"), Key=version.manifest_key)
        contract_version = json.loads(body["Body"].read()).get("contract_version")
    except Exception:  # shown as "-": the rest of the line is still right
        return version
    return dataclasses.replace(version, contract_version=contract_version)
