"""`mlops`: one command line over the platform.

Exit codes scripts can rely on: 0 success; 1 the platform said no (a rejected file, a failed check);
2 the command could not run (bad arguments, malformed input, no deployment found).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlopsctl.target import Target, TargetError, find_target

if TYPE_CHECKING:
    from mlopsctl.datasets import DatasetVersion

EXIT_OK, EXIT_REJECTED, EXIT_ERROR = 0, 1, 2


class CommandError(RuntimeError):
    """The command could not run; the message says why."""


def _emit(args: argparse.Namespace, document: dict[str, Any], text: str) -> None:
    print(json.dumps(document, indent=2, default=str) if args.json else text)


def _target(args: argparse.Namespace) -> Target:
    return find_target(args.outputs, args.stack, args.endpoint_url)


# -- contract ---------------------------------------------------------------------------------
def contract_draft(args: argparse.Namespace) -> int:
    from mlops.contracts import FileProblem, draft_contract, read_table, render_contract_yaml

    try:
        frame = read_table(args.file.read_bytes(), filename=args.file.name, contract=None)
    except FileProblem as problem:
        raise CommandError(f"{args.file}: {problem.message}") from problem
    contract = draft_contract(frame, dataset=args.dataset, label=args.label)
    text = render_contract_yaml(contract)
    if args.output:
        args.output.write_text(text)
    _emit(
        args,
        {"dataset": args.dataset, "columns": len(contract.columns), "output": str(args.output or "-")},
        text
        if not args.output
        else f"drafted {args.output} ({len(contract.columns)} columns): review it, then "
        f"`mlops contract deploy {args.output}`",
    )
    return EXIT_OK


def contract_check(args: argparse.Namespace) -> int:
    from mlops.contracts import FileProblem, load_contract, read_table, validate

    contract = load_contract(args.contract.read_bytes(), source=str(args.contract))
    if args.data is None:
        _emit(
            args,
            {"contract": str(args.contract), "valid": True},
            f"{args.contract}: a valid contract for dataset '{contract.dataset}' ({len(contract.columns)} columns)",
        )
        return EXIT_OK
    try:
        frame = read_table(args.data.read_bytes(), filename=args.data.name, contract=contract)
    except FileProblem as problem:
        _emit(
            args,
            {"accepted": False, "file_problem": {"code": problem.code, "message": problem.message}},
            f"REJECTED {args.data}: {problem.message}",
        )
        return EXIT_REJECTED
    report = validate(frame, contract, file_name=args.data.name)
    if report.accepted:
        # What ingestion does next: store the parsed values; a value it cannot keep rejects the upload there.
        from mlops.datasets.ingestion import stored_frame
        from mlops.datasets.versioning import ColumnBuildError, column_arrays

        try:
            column_arrays(stored_frame(frame, contract), {c.name: c.type.value for c in contract.columns})
        except ColumnBuildError as error:
            message = f"{error}; the file passes validation but this value cannot be kept in a dataset version"
            document = {
                **json.loads(report.to_json()),
                "accepted": False,
                "file_problem": {
                    "code": "unstorable_values",
                    "message": message,
                    "column": error.column,
                    "row": error.row,
                },
            }
            _emit(args, document, f"REJECTED {args.data}: unstorable_values: {message}")
            return EXIT_REJECTED
    _emit(args, json.loads(report.to_json()), report.summary())
    return EXIT_OK if report.accepted else EXIT_REJECTED


def contract_deploy(args: argparse.Namespace) -> int:
    from mlops.contracts import load_contract

    paths: list[Path] = args.paths or sorted(Path("contracts").glob("*.y*ml")) + sorted(
        Path("contracts").glob("*.json")
    )
    if not paths:
        raise CommandError("no contracts given and none in ./contracts")
    contracts = [(path, load_contract(path.read_bytes(), source=str(path))) for path in paths]  # all valid first
    target = _target(args)
    bucket = target.output("ArtifactsBucketName")
    deployed = []
    for path, contract in contracts:
        key = put_definition(target, "contracts", contract.dataset, path.suffix, path.read_bytes())
        deployed.append({"dataset": contract.dataset, "version": contract.version, "key": key})
    _emit(
        args,
        {"deployed": deployed},
        "\n".join(
            f"deployed contract v{d['version']} for '{d['dataset']}' to s3://{bucket}/{d['key']}" for d in deployed
        ),
    )
    return EXIT_OK


def config_deploy(args: argparse.Namespace) -> int:
    from mlops.training.config import load_training_config

    paths: list[Path] = args.paths or sorted(Path("configs").glob("*.y*ml"))
    if not paths:
        raise CommandError("no training configs given and none in ./configs")
    configs = [(path, load_training_config(path.read_text(), source=str(path))) for path in paths]
    target = _target(args)
    bucket = target.output("ArtifactsBucketName")
    problems = [
        f"{path}: {field}: {message}" for path, config in configs for field, message in _config_problems(target, config)
    ]
    if problems:  # nothing is uploaded while any config is wrong
        print("error: not deployed; fix these first:\n  " + "\n  ".join(problems), file=sys.stderr)
        return EXIT_REJECTED
    deployed: list[dict[str, Any]] = []
    for path, config in configs:
        key = put_definition(target, "configs", config.dataset, path.suffix, path.read_bytes())
        before, after = deploy_serving_policy(target, config.dataset, config.serving.model_dump(mode="json"), key)
        deployed.append({"dataset": config.dataset, "key": key, "serving": {"before": before, "after": after}})
    _emit(
        args,
        {"deployed": deployed, "config_cache": CONFIG_CACHE_NOTE},
        "\n".join(
            f"deployed training config for '{d['dataset']}' to s3://{bucket}/{d['key']}\n"
            f"  serving policy: {_policy_change(d['serving']['before'], d['serving']['after'])}; the live "
            f"version applies it {CONFIG_CACHE_NOTE} (audited: `mlops models audit {d['dataset']}`)"
            for d in deployed
        ),
    )
    return EXIT_OK


# The predict function re-reads a model's deployed serving policy this often (infra ServingSettings).
CONFIG_CACHE_NOTE = "within the predict function's policy cache time (serving.config_cache_seconds, 60 s by default)"
SERVING_FIELDS = ("out_of_range", "unseen_category", "capture_sample_rate")


def _policy_change(before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    if before is None:
        return "was each version's own (none deployed), now " + ", ".join(f"{k} {after.get(k)}" for k in SERVING_FIELDS)
    changed = [f"{k} {before.get(k)} -> {after.get(k)}" for k in SERVING_FIELDS if before.get(k) != after.get(k)]
    return ", ".join(changed) if changed else "unchanged"


def deploy_serving_policy(
    target: Target, model: str, serving: dict[str, Any], key: str
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The config's serving section becomes the live versions' policy through the registry API,
    which stores it with its audit event in one transaction: (before, after)."""
    from mlopsctl.api import ApiError, call

    body = {**{k: serving.get(k) for k in SERVING_FIELDS}, "source": key, "reason": f"mlops config deploy {key}"}
    try:
        answer = call(target, "PUT", f"/v1/models/{model}/serving-policy", body)
    except ApiError as error:
        raise CommandError(
            f"{key} was uploaded (training reads it), but its serving policy was not deployed: {error}; "
            "the live versions keep their policy until `mlops config deploy` succeeds"
        ) from error
    return answer.get("before"), answer["after"]


def _config_problems(target: Target, config: Any) -> list[tuple[str, str]]:
    """The config against its dataset's deployed contract, and its parameters against scikit-learn."""
    from mlops.buckets import ArtifactsBucket
    from mlops.contracts import load_contract
    from mlops.training.candidates import parameter_problems
    from mlops.training.config import contract_problems

    found = ArtifactsBucket(target.client("s3"), target.output("ArtifactsBucketName")).contract_text(config.dataset)
    problems = parameter_problems(config)
    if found is None:
        return [
            ("dataset", f"no contract deployed for {config.dataset!r}: run `mlops contract deploy` first"),
            *problems,
        ]
    key, text = found
    contract = load_contract(text, source=key)
    columns = {column.name: column.type.value for column in contract.columns}
    allowed = {c.name: list(c.allowed_values.value) for c in contract.columns if c.allowed_values is not None}
    unique = {c.name for c in contract.columns if c.unique is not None and c.unique.value}
    found_problems = contract_problems(config, columns, dataset=contract.dataset, allowed_values=allowed, unique=unique)
    return found_problems + _version_problems(target, config) + problems


def _version_problems(target: Target, config: Any) -> list[tuple[str, str]]:
    """`data.versions` against the dataset's accepted versions: each must name exactly one."""
    from mlops.registry.table import RegistryTable
    from mlops.training.config import match_versions

    if config.data.versions is None:
        return []
    table = RegistryTable(target.resource("dynamodb").Table(target.output("RegistryTableName")))
    known = [str(v["version"]) for v in table.all_dataset_versions(config.dataset)]
    return match_versions(config.data.versions, known)[1]


def put_definition(target: Target, folder: str, dataset: str, suffix: str, body: bytes) -> str:
    """A contract (`contracts/`) or training config (`configs/`) where the functions look for it; its key."""
    key = f"{folder}/{dataset}{suffix}"
    s3, bucket = target.client("s3"), target.output("ArtifactsBucketName")
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/yaml")
    # The functions read .yaml, then .yml, then .json: a copy under another suffix would shadow this one.
    from mlops.names import DEFINITION_SUFFIXES

    others = [f"{folder}/{dataset}{other}" for other in DEFINITION_SUFFIXES if other != suffix]
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in others], "Quiet": True})
    return key


# -- upload -----------------------------------------------------------------------------------
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
    target = _target(args)
    bucket, key, version_id = upload_raw(target, args.dataset, args.file.name, args.file.read_bytes())
    if not args.wait:
        _emit(args, {"bucket": bucket, "key": key, "version_id": version_id}, f"uploaded s3://{bucket}/{key}")
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
    _emit(args, outcome, "\n".join(lines))
    return EXIT_REJECTED if outcome["status"] == "rejected" else EXIT_OK


# -- train ------------------------------------------------------------------------------------
def train(args: argparse.Namespace) -> int:
    """Start the pipeline and follow it state by state until it ends."""
    target = _target(args)
    s3 = target.client("s3")
    from mlops.names import DEFINITION_SUFFIXES

    configs = [f"configs/{args.dataset}{suffix}" for suffix in DEFINITION_SUFFIXES]
    listed = s3.list_objects_v2(Bucket=target.output("ArtifactsBucketName"), Prefix=f"configs/{args.dataset}.")
    if not {o["Key"] for o in listed.get("Contents", [])} & set(configs):
        raise CommandError(
            f"dataset {args.dataset!r} has no training config: write one (see configs/breast-cancer.yaml) and "
            f"run `mlops config deploy configs/{args.dataset}.yaml` first"
        )
    version = resolve_dataset_version(target, args.dataset, args.dataset_version) if args.dataset_version else None
    name, execution_arn = start_training(target, args.dataset, args.reason, version)
    if not args.json:
        print(f"started training run {name} for dataset {args.dataset}")
    on_state = None if args.json else (lambda label: print(f"  {time.strftime('%H:%M:%S')}  {label}"))
    execution = follow_training(target, execution_arn, args.timeout, on_state)
    if execution is None:
        raise CommandError(f"run {name} still running after {args.timeout:g} s; follow it with the AWS console or CLI")
    document, text = training_outcome(target, execution, name)
    _emit(args, document, text)
    return EXIT_OK if training_succeeded(document) else EXIT_REJECTED


def resolve_dataset_version(target: Target, dataset: str, prefix: str) -> str:
    """The full hash of the one accepted version `prefix` names: checked before a run starts, so a
    wrong prefix is an error naming the candidates, not a failed run and a TrainingFailed alarm."""
    from mlops.registry.table import RegistryTable
    from mlopsctl.datasets import VersionPrefixError, resolve_version

    table = RegistryTable(target.resource("dynamodb").Table(target.output("RegistryTableName")))
    known = [str(v["version"]) for v in table.all_dataset_versions(dataset)]
    try:
        return resolve_version(dataset, prefix, known)
    except VersionPrefixError as error:
        raise CommandError(str(error)) from error


def start_training(target: Target, dataset: str, reason: str, dataset_version: str | None = None) -> tuple[str, str]:
    """Start one execution of the training pipeline: (run id, execution ARN). The run id is the
    execution's name, which the registry's run record is keyed by."""
    import re
    import uuid

    request: dict[str, Any] = {"dataset": dataset, "reason": reason}
    if dataset_version:
        request["dataset_version"] = dataset_version
    name = re.sub(r"[^A-Za-z0-9_-]", "-", f"{dataset}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}")[:80]
    execution_arn = target.client("stepfunctions").start_execution(
        stateMachineArn=target.output("TrainingStateMachineArn"), name=name, input=json.dumps(request)
    )["executionArn"]
    return name, str(execution_arn)


def follow_training(
    target: Target, execution_arn: str, timeout: float, on_state: Callable[[str], None] | None = None
) -> dict[str, Any] | None:
    """Poll the execution until it ends (its description), calling `on_state` with each state it
    enters; None when it still runs after `timeout` s."""
    sfn = target.client("stepfunctions")
    seen = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        for event in history[seen:]:
            entered = event.get("stateEnteredEventDetails")
            if entered and on_state is not None:
                on_state(state_label(entered))
        seen = len(history)
        execution: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if execution["status"] != "RUNNING":
            return execution
        time.sleep(1.0)
    return None


def state_label(entered: dict[str, Any]) -> str:
    """A state as a person follows a run: `Fit candidate: forest`, not four identical lines."""
    candidate = _candidate_name(entered.get("input"))
    return f"{entered['name']}: {candidate}" if candidate else str(entered["name"])


def _candidate_name(state_input: Any) -> str | None:
    """The candidate a Map iteration works on: its input is {"run": ..., "candidate": {"name": ...}}
    (or the Lambda payload wrapping it)."""
    try:
        document = json.loads(state_input) if isinstance(state_input, str) else state_input
    except ValueError:
        return None
    for holder in (document, document.get("Payload") if isinstance(document, dict) else None):
        candidate = holder.get("candidate") if isinstance(holder, dict) else None
        if isinstance(candidate, dict) and isinstance(candidate.get("name"), str):
            return str(candidate["name"])
    return None


def _quality_gates(target: Target, run: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's gate results (gates.json next to its artifacts); none when it stopped before the gates."""
    prefix = run.get("prefix")
    if not prefix:
        return []
    try:
        body = target.client("s3").get_object(Bucket=target.output("ArtifactsBucketName"), Key=f"{prefix}gates.json")
    except Exception:  # a run that failed before gating has no gates.json
        return []
    results = json.loads(body["Body"].read()).get("results", [])
    return [
        {"name": g.get("name"), "passed": bool(g.get("passed")), "detail": g.get("message") or g.get("detail")}
        for g in results
    ]


def training_outcome(target: Target, execution: dict[str, Any], run_id: str) -> tuple[dict[str, Any], str]:
    """What a finished run did, from the registry's run record and the pipeline's output: (document, text)."""
    table = target.resource("dynamodb").Table(target.output("RegistryTableName"))
    run = table.get_item(Key={"pk": f"RUN#{run_id}", "sk": "META"}).get("Item", {})
    document = {
        "run_id": run_id,
        "execution_status": execution["status"],
        "run_status": run.get("status"),
        "model": run.get("model"),
        "version": int(run["version"]) if run.get("version") is not None else None,
        "failure_reason": run.get("failure_reason"),
    }
    if execution["status"] == "SUCCEEDED":
        output = json.loads(execution.get("output") or "{}")
        registration = output.get("registration", {})
        document.update({"status": registration.get("status"), "promoted": registration.get("promoted")})
        text = registration.get("message", f"run {run_id} succeeded")
        gates = _quality_gates(target, run)
        document["quality_gates"] = gates
        text += "".join(f"\n  {'✓' if g['passed'] else '✗'} {g['detail']}" for g in gates)
    else:
        text = f"run {run_id} {execution['status']}: {run.get('failure_reason') or execution.get('cause', '')}"
    return document, text


def training_succeeded(document: dict[str, Any]) -> bool:
    """A run that ended and registered a version the gates did not reject."""
    return document["execution_status"] == "SUCCEEDED" and document.get("status") != "rejected"


# -- datasets ---------------------------------------------------------------------------------
def datasets(args: argparse.Namespace) -> int:
    """Accepted dataset versions, read from the registry table (as `upload --wait` and `runs` do)."""
    from mlops.registry.table import ModelRegistry, RegistryTable
    from mlopsctl.datasets import VERSIONS_HEADER, dataset_versions, resolve_version, version_line

    target = _target(args)
    table = target.resource("dynamodb").Table(target.output("RegistryTableName"))
    names = [args.name] if args.datasets_command == "show" else _deployed_datasets(target)
    registry, runs = RegistryTable(table), ModelRegistry(table)
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
        _emit(args, {"datasets": summaries}, "\n".join(lines) if names else "no datasets yet: deploy a contract first")
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
        _emit(args, one.as_document(), "\n".join(lines))
        return EXIT_OK
    _emit(
        args,
        {"dataset": args.name, "versions": [v.as_document() for v in versions]},
        "\n".join([VERSIONS_HEADER, *(version_line(v) for v in versions)]),
    )
    return EXIT_OK


def _deployed_datasets(target: Target) -> list[str]:
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


# -- registry ---------------------------------------------------------------------------------
def _state(value: dict[str, Any] | None) -> str:
    from mlops.registry.views import audit_state

    return audit_state(value)


def _metrics_text(metrics: dict[str, Any], metric: str | None) -> str:
    """The selection metric first, then the rest by name (the registry's map has no order)."""
    from mlops.registry.views import ordered_metrics

    return ", ".join(
        f"{k}={metrics[k]:.4g}" if isinstance(metrics[k], float) else f"{k}={metrics[k]}"
        for k in ordered_metrics(metrics, metric)
        if metrics[k] is not None
    )


def _version_line(v: dict[str, Any], metric: str | None = None) -> str:
    metrics = _metrics_text(v.get("metrics") or {}, metric)
    return f"  v{v['version']:<4} {v['status']:<17} {v.get('created_at', '')[:19]}  {v.get('estimator', '')}  {metrics}"


def models(args: argparse.Namespace) -> int:
    from mlopsctl.api import call

    target = _target(args)
    if args.models_command == "list":
        document = call(target, "GET", "/v1/models")
        lines = [f"{m['model']:<24} latest v{m.get('latest_version')}" for m in document["models"]] or ["no models yet"]
    elif args.models_command == "show":
        if args.version:
            from mlopsctl.lifecycle import selection_metric

            document = call(target, "GET", f"/v1/models/{args.name}/versions/{args.version}")
            card = document["model_card"]
            metric = selection_metric(target, document["version"])
            lines = [
                f"{card['model']} v{card['version']} ({card['status']}), {card['estimator']}",
                f"  data: {card['training_data']['dataset']} @ {str(card['training_data']['dataset_version'])[:12]}",
                *[_dataset_version_line(v) for v in card["lineage"].get("dataset_versions", [])],
                f"  run: {card['lineage']['training_run']}, code {card['lineage']['code_version']}",
                "  metrics: " + _metrics_text(card["evaluation"], metric),
                *[f"  {'✓' if g['passed'] else '✗'} {g['detail']}" for g in card["quality_gates"]],
            ]
        else:
            document = call(target, "GET", f"/v1/models/{args.name}")
            model = document["model"]
            from mlopsctl.lifecycle import selection_metric

            versions = call(target, "GET", f"/v1/models/{args.name}/versions", query={"limit": 20})["versions"]
            aliases = ", ".join(f"{a}=v{item['version']}" for a, item in model["aliases"].items()) or "none"
            metric = selection_metric(target, max(versions, key=lambda v: int(v["version"]))) if versions else None
            lines = [
                f"{args.name}: latest v{model.get('latest_version')}; aliases: {aliases}",
                *[_version_line(v, metric) for v in versions],
            ]
            document["versions"] = versions
    elif args.models_command == "approve":
        document = call(
            target, "POST", f"/v1/models/{args.name}/versions/{args.version}/approve", {"reason": args.reason}
        )
        lines = [f"{args.name} v{args.version} approved: now registered"]
    elif args.models_command == "archive":
        document = call(
            target, "POST", f"/v1/models/{args.name}/versions/{args.version}/archive", {"reason": args.reason}
        )
        lines = [f"{args.name} v{args.version} archived"]
    else:  # audit
        document = call(target, "GET", f"/v1/models/{args.name}/audit")
        lines = [
            f"{e['at'][:19]}  {e['actor'][-28:]:<28} {e['action']:<20} {_state(e.get('before'))} -> "
            f"{_state(e.get('after'))}  {e['reason']}"
            for e in document["events"]
        ]
    _emit(args, document, "\n".join(lines))
    return EXIT_OK


def drift(args: argparse.Namespace) -> int:
    from mlopsctl.api import call

    target = _target(args)
    if args.run_now:  # the scheduled check, now, for this model (due or not)
        response = target.client("lambda").invoke(
            FunctionName=target.output("DriftFunctionName"),
            Payload=json.dumps({"models": [args.name], "force": True}).encode(),
        )
        if response.get("FunctionError"):
            raise CommandError(f"the drift check failed: {response['Payload'].read().decode()[:500]}")
    document = call(target, "GET", f"/v1/models/{args.name}/drift", query={"limit": args.limit})
    bucket = target.output("ArtifactsBucketName")
    lines = []
    for check in document["checks"]:
        share = check.get("drift_share")
        lines.append(
            f"{check['checked_at'][:19]}  v{check['version']}  rows {check['rows']:>8}  "
            f"share {float(share) if share is not None else float('nan'):.2f}  "
            + _drift_verdict(check, _drift_report(target, bucket, check.get("report_key")))
        )
        if check.get("refused_rows"):  # requests the serving policy refused: 400s, captured all the same
            reasons = ", ".join(f"{why} {int(n)}" for why, n in (check.get("refused_by_reason") or {}).items())
            alarm = " (at its alarm level)" if check.get("refused_share_exceeded") else ""
            lines.append(
                f"    refused by the serving policy: {int(check['refused_rows'])} rows, "
                f"{float(check.get('refused_share') or 0):.1%}{alarm}" + (f"; {reasons}" if reasons else "")
            )
        retraining = check.get("retraining") or {}
        if retraining.get("reason"):
            lines.append(f"    retraining: {'started' if retraining.get('started') else 'no'} ({retraining['reason']})")
        if check.get("report_page"):
            lines.append(f"    report: s3://{bucket}/{check['report_page']}")
    _emit(args, document, "\n".join(lines) or f"{args.name}: no drift checks yet")
    drifted = bool(document["checks"]) and bool(document["checks"][0].get("dataset_drift"))
    return EXIT_REJECTED if drifted else EXIT_OK


def _drift_report(target: Target, bucket: str, key: str | None) -> dict[str, Any] | None:
    """The check's full report (how many features were compared, the threshold, the prediction)."""
    if not key:
        return None
    try:
        return dict(json.loads(target.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()))
    except Exception:  # the line below is still right without it, only less precise
        return None


def _drift_verdict(check: dict[str, Any], report: dict[str, Any] | None) -> str:
    """`ok (3 of 31 features drifted, below the dataset-drift share 0.5): a, b, c`: the status
    with the numbers that explain it, so drifted features under an `ok` read as no contradiction."""
    status = str(check["status"])
    drifted = list(check.get("drifted_features") or [])
    if status not in ("ok", "drift"):
        return status + (f": {', '.join(drifted[:6])}" if drifted else "")
    if report is None:
        return f"{status} ({len(drifted)} features drifted)" + (f": {', '.join(drifted[:6])}" if drifted else "")
    config = report.get("config") or {}
    prediction = report.get("prediction")
    counted = bool(config.get("prediction_drift", True)) and prediction is not None
    if counted and isinstance(prediction, dict) and prediction.get("drifted"):
        drifted.insert(0, "the prediction")  # first: the list is cut at six
    compared = len(report.get("features") or []) + int(counted)
    threshold = config.get("dataset_drift_share", 0.5)
    side = "at least" if status == "drift" else "below"
    listed = ", ".join(drifted[:6]) + (f", … ({len(drifted) - 6} more)" if len(drifted) > 6 else "")
    return f"{status} ({len(drifted)} of {compared} features drifted, {side} the dataset-drift share {threshold:g})" + (
        f": {listed}" if drifted else ""
    )


def promote(args: argparse.Namespace) -> int:
    from mlopsctl.api import call

    body: dict[str, Any] = {"version": args.version, "reason": args.reason}
    if args.expected_version is not None:
        body["expected_version"] = args.expected_version
    alias_name = args.alias
    if args.canary is not None or args.shadow:
        alias_name = args.alias if args.alias != "champion" else "challenger"
        body["rollout"] = {"mode": "shadow"} if args.shadow else {"mode": "canary", "weight": args.canary}
        if args.allow_signature_change:
            body["allow_signature_change"] = True
    target = _target(args)
    held = call(target, "GET", f"/v1/models/{args.name}")["model"].get("aliases", {}).get(alias_name)
    document = call(target, "PUT", f"/v1/models/{args.name}/aliases/{alias_name}", body)
    alias = document["alias"]
    # The registry answers a promotion already in place with the alias as it was, writing nothing:
    # the same version and the same last change mean this command changed nothing.
    unchanged = held is not None and all(held.get(k) == alias.get(k) for k in ("version", "updated_at", "rollout"))
    document["changed"] = not unchanged
    if unchanged:
        _emit(
            args,
            document,
            f"{args.name} {alias_name}: already v{alias['version']}; nothing changed (no audit event written)",
        )
        return EXIT_OK
    before = alias.get("previous_version")
    rollout = alias.get("rollout")
    how = ""
    if rollout:
        how = (
            " (shadow: scored, never answers)"
            if rollout["mode"] == "shadow"
            else f" (canary: {rollout['weight']} of requests)"
        )
    _emit(
        args, document, f"{args.name} {alias_name}: {f'v{before}' if before else '(none)'} -> v{alias['version']}{how}"
    )
    return EXIT_OK


def predict(args: argparse.Namespace) -> int:
    from mlopsctl.api import call, prediction_key
    from mlopsctl.prediction_input import PredictionInputError, field_types, input_form, read_prediction_input

    text = Path(args.file).read_text() if args.file not in (None, "-") else sys.stdin.read()
    form = args.format or input_form(args.file, text)
    target = _target(args)
    key = prediction_key(target)
    headers = {"x-request-key": args.request_key} if args.request_key else None
    # CSV cells are text: the signature says which fields are numbers, and which columns to leave out.
    types = (
        field_types(call(target, "GET", f"/v1/models/{args.name}/signature", api_key=key)) if form == "csv" else None
    )
    try:
        prepared = read_prediction_input(text, form, types)
    except PredictionInputError as problem:
        raise CommandError(f"{args.file or 'stdin'}: {problem} (read as {form}; --format chooses)") from problem
    if prepared.left_out and not args.json:
        print(f"left out column(s) the model does not take: {', '.join(prepared.left_out)}", file=sys.stderr)
    document = call(target, "POST", f"/v1/models/{args.name}/predict", prepared.body, api_key=key, headers=headers)
    lines = [f"{args.name} v{document['version']} ({document['variant']}), request {document['request_id']}"]
    probabilities = document.get("probabilities")
    for i, value in enumerate(document["predictions"]):
        extra = ""
        if probabilities is not None:
            extra = "  " + " ".join(f"{c}={p:.3f}" for c, p in zip(document["classes"], probabilities[i], strict=True))
        lines.append(f"  row {i}: {value}{extra}")
    lines += [f"  warning row {w.get('row')} {w.get('field')}: {w['message']}" for w in document.get("warnings", [])]
    _emit(args, document, "\n".join(lines))
    return EXIT_OK


def rollback(args: argparse.Namespace) -> int:
    from mlopsctl.api import call

    body: dict[str, Any] = {"reason": args.reason, "alias": args.alias}
    if args.expected_version is not None:
        body["expected_version"] = args.expected_version
    document = call(_target(args), "POST", f"/v1/models/{args.name}/rollback", body)
    alias = document["alias"]
    _emit(
        args, document, f"{args.name} {args.alias} rolled back: v{alias.get('previous_version')} -> v{alias['version']}"
    )
    return EXIT_OK


# -- report, runs -----------------------------------------------------------------------------
def report(args: argparse.Namespace) -> int:
    """One self-contained HTML page for the model's whole lifecycle."""
    from mlopsctl.api import ApiError
    from mlopsctl.lifecycle import write_lifecycle_report

    target = _target(args)
    path: Path = args.output or Path("reports") / f"{args.name}.html"
    try:
        written = write_lifecycle_report(target, args.name, path)
    except ApiError as error:
        if error.status == 404:
            raise CommandError(
                f"no model named {args.name!r} in the registry (`mlops models list` shows those there are)"
            ) from error
        raise
    document = written.as_document()
    _emit(
        args,
        document,
        f"wrote {path} ({document['versions']} version(s), {document['drift_checks']} drift check(s), "
        f"{document['audit_events']} audit event(s))",
    )
    return EXIT_OK


def _seconds(start: Any, stop: Any) -> float | None:
    if start is None:
        return None
    from datetime import UTC, datetime

    return round(float(((stop or datetime.now(UTC)) - start).total_seconds()), 1)


def _run_row(execution: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """A run as Step Functions and the registry know it (the run item holds the platform's view)."""
    from mlops.registry.views import plain

    record = plain(item)
    version = record.get("version", record.get("registered_version"))
    return {
        "run_id": execution["name"],
        "execution_status": execution["status"],
        "status": record.get("status") or execution["status"].lower(),
        "dataset": record.get("dataset"),
        "dataset_version": record.get("dataset_version"),
        "model": record.get("model"),
        "started_at": execution["startDate"].isoformat(),
        "duration_seconds": _seconds(execution["startDate"], execution.get("stopDate")),
        "version": version,
        "reason": record.get("reason"),
        "failure_reason": record.get("failure_reason"),
    }


def runs(args: argparse.Namespace) -> int:
    from mlopsctl.runs_table import RunFilter, RunsQueryError, check_columns, metric_columns, runs_table, sort_rows

    target = _target(args)
    sfn = target.client("stepfunctions")
    table = target.resource("dynamodb").Table(target.output("RegistryTableName"))
    if args.run_id:
        return _run_details(args, target, sfn, table)
    try:
        filters = [RunFilter.parse(text) for text in args.filter or []]
    except RunsQueryError as error:
        raise CommandError(str(error)) from error
    executions: list[dict[str, Any]] = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=target.output("TrainingStateMachineArn")):
        executions += page["executions"]
    executions.sort(key=lambda e: e["startDate"], reverse=True)
    every = bool(args.sort or filters)  # sorting or filtering on a column needs every run; else the newest --limit
    rows: list[dict[str, Any]] = []
    for execution in executions:
        if len(rows) >= args.limit and not every:
            break
        item = table.get_item(Key={"pk": f"RUN#{execution['name']}", "sk": "META"}).get("Item", {})
        row = _run_row(execution, item)
        if args.dataset and row["dataset"] is None:  # failed before the run was recorded: ask its input
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            row["dataset"] = json.loads(described.get("input") or "{}").get("dataset")
        if args.dataset and row["dataset"] != args.dataset:
            continue
        rows.append(row)
    _add_version_metrics(target, rows)
    # `--sort=-roc_auc` (the leading - flips the order, as --reverse does; argparse needs the `=`).
    sort, reverse = (
        (args.sort[1:], not args.reverse)
        if args.sort and args.sort.startswith("-")
        else (
            args.sort,
            args.reverse,
        )
    )
    recorded = len(rows)
    try:
        check_columns([f.column for f in filters] + ([sort] if sort else []), rows)
        rows = [row for row in rows if all(f.keeps(row) for f in filters)]
        if sort:
            rows = sort_rows(rows, sort, reverse=reverse)
    except RunsQueryError as error:
        raise CommandError(str(error)) from error
    rows = rows[: args.limit]
    metrics = metric_columns(rows, args.metrics.split(",") if args.metrics else None)
    matched = f"no run matches {' and '.join(args.filter or [])} (of {recorded} run(s))"
    empty = matched if filters and recorded else "no training runs yet"
    _emit(args, {"runs": rows}, "\n".join(runs_table(rows, metrics)) if rows else empty)
    return EXIT_OK


def _add_version_metrics(target: Target, rows: list[dict[str, Any]]) -> None:
    """Each run's registered version's test metrics (from the registry API, one listing per model)."""
    from mlopsctl.lifecycle import all_versions

    for model in sorted({str(r["model"]) for r in rows if r.get("model") and r.get("version") is not None}):
        try:
            metrics = {int(v["version"]): v.get("metrics") or {} for v in all_versions(target, model)}
        except TargetError as error:  # the registry API cannot be reached from here: the runs still can
            print(f"note: no metric columns: {error}", file=sys.stderr)
            return
        for row in rows:
            if row.get("model") == model and row.get("version") is not None:
                row["metrics"] = metrics.get(int(row["version"]), {})


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number_text(value: float) -> str:
    """Metrics come back from DynamoDB as int when whole (Decimal 1 -> 1): both print."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _dataset_version_line(used: dict[str, Any]) -> str:
    """A dataset version a run used: its id, its rows and those dropped as already in an older one."""
    return f"    {str(used['version'])[:12]}  {used['rows']:>9,} rows  {used.get('duplicates', 0):>7,} duplicates"


def _training_data_lines(data: dict[str, Any] | None) -> list[str]:
    """Which dataset versions a run combined, one line each (runs from before it was recorded: none)."""
    if not data:
        return []
    lines = [
        f"  data ({data.get('policy')}): {data.get('rows', 0):,} rows, {data.get('duplicates', 0):,} duplicates dropped"
    ]
    versions, skipped = data.get("versions", []), data.get("skipped", [])
    older = int(data.get("versions_total", len(versions))) - len(versions)
    lines += [f"    (+{older} older versions: the run's data.json lists every one)"] if older > 0 else []
    lines += [_dataset_version_line(v) for v in versions]
    lines += [f"    {str(v['version'])[:12]}  skipped: {v['reason']}" for v in skipped]
    lines += [f"    column {c['column']}: {c['note']}" for c in data.get("columns", [])]
    return lines


def _run_details(args: argparse.Namespace, target: Target, sfn: Any, table: Any) -> int:
    """One run: its record, each candidate, and the states it went through."""
    from mlops.registry.views import plain

    machine = target.output("TrainingStateMachineArn")
    arn = machine.replace(":stateMachine:", ":execution:", 1) + f":{args.run_id}"
    try:
        execution = sfn.describe_execution(executionArn=arn)
    except sfn.exceptions.ExecutionDoesNotExist:
        raise CommandError(f"no training run {args.run_id!r} (`mlops runs` lists them)") from None
    item = table.get_item(Key={"pk": f"RUN#{args.run_id}", "sk": "META"}).get("Item", {})
    document = _run_row(execution, item)
    record = plain(item)
    metric = None
    selected = record.get("selected") or record.get("selected_candidate")
    if record.get("prefix"):
        from mlopsctl.lifecycle import selection_metric

        metric = selection_metric(
            target, {"artifacts": {"evaluation.json": {"key": f"{record['prefix']}evaluation.json"}}}
        )
        if not selected:  # the evaluate step writes the chosen candidate to selected.json
            try:
                body = target.client("s3").get_object(
                    Bucket=target.output("ArtifactsBucketName"), Key=f"{record['prefix']}selected.json"
                )["Body"]
                selected = json.loads(body.read()).get("name")
            except Exception:  # a run that failed before the evaluate step selected nothing
                selected = None
    candidates = [
        {
            "name": c.get("name"),
            "selected": selected is not None and c.get("name") == selected,
            "estimator": c.get("estimator"),
            "status": c.get("status"),
            "metric": metric,
            "value": (c.get("validation_metrics") or {}).get(metric) if metric else None,
            "fit_seconds": c.get("fit_seconds"),
            "error": c.get("error"),
        }
        for c in record.get("candidates", [])
    ]
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    states = [
        {"state": e["stateEnteredEventDetails"]["name"], "entered_at": e["timestamp"].isoformat()}
        for e in events
        if e.get("stateEnteredEventDetails")
    ]
    document.update(
        {
            "input": json.loads(execution.get("input") or "{}"),
            "training_data": record.get("training_data"),
            "candidates": candidates,
            "states": states,
        }
    )
    lines = [
        f"run {document['run_id']}: {document['status']} ({document['execution_status']})",
        f"  dataset {document['dataset'] or '-'} @ {str(document['dataset_version'] or '-')[:12]}, "
        f"started {document['started_at'][:19]}, {document['duration_seconds']} s",
        *_training_data_lines(record.get("training_data")),
        f"  version: {'v' + str(document['version']) if document['version'] is not None else '-'}",
    ]
    if document["failure_reason"]:
        lines.append(f"  failure: {document['failure_reason']}")
    if candidates:
        lines.append("  candidates:")
        for c in candidates:
            value = f"{c['metric']}={_number_text(c['value'])}" if _is_number(c["value"]) else ""
            mark = "*" if c["selected"] else " "
            lines.append(f"  {mark} {c['name']:<20} {c['status']:<10} {value}  {c['error'] or ''}".rstrip())
        if any(c["selected"] for c in candidates):
            lines.append("    (* selected)")
    lines.append("  states: " + " -> ".join(s["state"] for s in states))
    _emit(args, document, "\n".join(lines))
    failed = execution["status"] not in ("SUCCEEDED", "RUNNING") or document["status"] == "rejected"
    return EXIT_REJECTED if failed else EXIT_OK


# -- smoke test -------------------------------------------------------------------------------
def smoke_test(args: argparse.Namespace) -> int:
    """After `cdk deploy` (or `make up`): every step once against the deployment; exit 0 only if all pass."""
    from mlopsctl.smoke import SmokeTest, summary_document

    target = _target(args)
    # With --json, stdout holds one document; the step lines still go out as they happen, on stderr.
    out = sys.stderr if args.json else sys.stdout
    test = SmokeTest(
        target,
        say=lambda line: print(line, file=out, flush=True),
        alarm_name=args.alarm,
        train_timeout=args.train_timeout,
        notify_timeout=args.notify_timeout,
    )
    started = time.perf_counter()
    results = test.run()
    document = summary_document(results, time.perf_counter() - started, test.run_id)
    if args.json:
        print(json.dumps(document, indent=2, default=str))
    return EXIT_OK if document["passed"] else EXIT_REJECTED


# -- up, bench ----------------------------------------------------------------------------------
BASELINE_PACKAGES = {"ingestion": ("pandera", "great_expectations")}  # bench_ingestion's baselines


def up(args: argparse.Namespace) -> int:
    """The long-lived local cloud, in the foreground, as `make up` runs it."""
    from localcloud.__main__ import configure_logging
    from localcloud.__main__ import up as run_local_cloud
    from localcloud.apigateway import GatewayError
    from localcloud.cloud import LocalCloudError
    from localcloud.deploy import DeployError

    configure_logging()
    try:
        return run_local_cloud(args)
    except (LocalCloudError, DeployError, GatewayError) as error:
        raise CommandError(str(error)) from error


def bench(args: argparse.Namespace) -> int:
    """The benchmarks in this environment; those that compare against pandera or Great
    Expectations need the bench environment `make bench` builds."""
    import contextlib
    import importlib.util

    from bench.__main__ import RESULTS_DIR, discover
    from bench.__main__ import main as run_benchmarks

    known = [name.removeprefix("bench_") for name in discover()]
    names = [name.removeprefix("bench_") for name in args.names] or known
    unknown = [name for name in names if name not in known]
    if unknown:
        raise CommandError(f"no benchmark {', '.join(unknown)}; there are: {', '.join(known)}")
    for name in names:
        missing = [p for p in BASELINE_PACKAGES.get(name, ()) if importlib.util.find_spec(p) is None]
        if missing:
            raise CommandError(
                f"benchmark {name!r} compares against {' and '.join(missing)}, which this environment lacks: "
                "run `make bench` (it builds .venv-bench with them), or leave it out"
            )
    out: Path = args.out or RESULTS_DIR
    argv = [*names, "--out", str(out), *(["--quick"] if args.quick else [])]
    try:
        with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
            code = run_benchmarks(argv)
    except ModuleNotFoundError as error:
        raise CommandError(
            f"{error}: the benchmarks' baselines live in the bench environment; run `make bench`"
        ) from error
    if args.json:
        print((out / "results.json").read_text())
    else:
        print(f"results: {out / 'results.md'} and {out / 'results.json'}")
    return code


EXPECTED_VERSION_HELP = (
    "only if the alias holds version V now: a retried or stale command is refused (exit 1) instead of applied twice"
)


# -- wiring -----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    deployment = argparse.ArgumentParser(add_help=False)
    deployment.add_argument(
        "--outputs", type=Path, help="stack outputs file (default: $MLOPS_OUTPUTS, else .local/outputs.json)"
    )
    deployment.add_argument("--stack", help="look the stack up by name instead of an outputs file")
    deployment.add_argument("--endpoint-url", help="AWS endpoint (default: $AWS_ENDPOINT_URL or the local cloud's)")

    parser = argparse.ArgumentParser(
        prog="mlops", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    # Its own dest: a subcommand's `--json` default (False) would overwrite a shared one; main() merges them.
    parser.add_argument("--json", dest="json_first", action="store_true", help="machine-readable output")
    commands = parser.add_subparsers(dest="command", required=True)

    contract = commands.add_parser("contract", help="draft, check and deploy data contracts")
    contract_commands = contract.add_subparsers(dest="contract_command", required=True)
    draft = contract_commands.add_parser("draft", parents=[common], help="draft a contract from a sample file")
    draft.add_argument("file", type=Path, help="a CSV (optionally .gz) or Parquet sample")
    draft.add_argument("--dataset", required=True)
    draft.add_argument("--label", help="the label column")
    draft.add_argument("-o", "--output", type=Path, help="write the YAML here (default: print it)")
    draft.set_defaults(run=contract_draft)
    check = contract_commands.add_parser(
        "check", parents=[common], help="check a contract, and optionally a data file against it"
    )
    check.add_argument("contract", type=Path)
    check.add_argument("data", type=Path, nargs="?")
    check.set_defaults(run=contract_check)
    deploy = contract_commands.add_parser(
        "deploy", parents=[common, deployment], help="upload contracts (default ./contracts/*) to the artifacts bucket"
    )
    deploy.add_argument("paths", type=Path, nargs="*")
    deploy.set_defaults(run=contract_deploy)

    config = commands.add_parser("config", help="deploy training configs")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    config_deployer = config_commands.add_parser(
        "deploy", parents=[common, deployment], help="upload training configs (default ./configs/*) after checking them"
    )
    config_deployer.add_argument("paths", type=Path, nargs="*")
    config_deployer.set_defaults(run=config_deploy)

    uploader = commands.add_parser("upload", parents=[common, deployment], help="upload a data file for a dataset")
    uploader.add_argument("file", type=Path)
    uploader.add_argument("--dataset", required=True)
    uploader.add_argument("--wait", action="store_true", help="wait for the validation outcome and print it")
    uploader.add_argument("--timeout", type=float, default=120.0)
    uploader.set_defaults(run=upload)

    trainer = commands.add_parser(
        "train", parents=[common, deployment], help="start the training pipeline for a dataset and follow it to the end"
    )
    trainer.add_argument("--dataset", required=True)
    trainer.add_argument(
        "--dataset-version",
        help="train on this dataset version alone (its hash or any unique prefix; `mlops datasets show D` lists "
        "them), whatever the config's data policy says "
        "(default: the versions the config's data section chooses, every accepted one unless it says otherwise)",
    )
    trainer.add_argument("--reason", default="requested from the command line")
    trainer.add_argument("--timeout", type=float, default=900.0)
    trainer.set_defaults(run=train)

    data = commands.add_parser("datasets", help="accepted dataset versions: rows, contract, what trained on them")
    data_commands = data.add_subparsers(dest="datasets_command", required=True)
    data_commands.add_parser(
        "list", parents=[common, deployment], help="every dataset with a deployed contract: versions, rows, latest"
    ).set_defaults(run=datasets)
    data_show = data_commands.add_parser(
        "show",
        parents=[common, deployment],
        help="a dataset's versions (rows, contract version, the model versions trained on each), or one version",
    )
    data_show.add_argument("name")
    data_show.add_argument("--version", help="one version: its hash or any unique prefix of it")
    data_show.set_defaults(run=datasets)

    registry = commands.add_parser("models", help="the model registry: list, show, approve, archive, audit")
    registry_commands = registry.add_subparsers(dest="models_command", required=True)
    registry_commands.add_parser("list", parents=[common, deployment], help="every model").set_defaults(run=models)
    show = registry_commands.add_parser(
        "show", parents=[common, deployment], help="a model's aliases and versions, or one version's model card"
    )
    show.add_argument("name")
    show.add_argument("--version", type=int)
    show.set_defaults(run=models)
    for verb in ("approve", "archive"):
        sub = registry_commands.add_parser(verb, parents=[common, deployment], help=f"{verb} a version")
        sub.add_argument("name")
        sub.add_argument("version", type=int)
        sub.add_argument("--reason", required=True, help="why (3 to 500 characters); kept in the audit trail")
        sub.set_defaults(run=models)
    history = registry_commands.add_parser("audit", parents=[common, deployment], help="who changed what, and why")
    history.add_argument("name")
    history.set_defaults(run=models)

    promoter = commands.add_parser("promote", parents=[common, deployment], help="point an alias at a version")
    promoter.add_argument("name")
    promoter.add_argument("version", type=int)
    promoter.add_argument("--alias", default="champion")
    promoter.add_argument("--reason", required=True)
    promoter.add_argument("--expected-version", type=int, metavar="V", help=EXPECTED_VERSION_HELP)
    rollout = promoter.add_mutually_exclusive_group()
    rollout.add_argument(
        "--canary", type=float, metavar="WEIGHT", help="as challenger, answer this share (0-1) of requests"
    )
    rollout.add_argument("--shadow", action="store_true", help="as challenger, score every request; never answer")
    promoter.add_argument(
        "--allow-signature-change",
        action="store_true",
        help="with --canary/--shadow: roll out even if the version refuses requests the champion accepts "
        "(otherwise refused, naming the differing fields); the audit trail records the differences",
    )
    promoter.set_defaults(run=promote)
    predictor = commands.add_parser(
        "predict", parents=[common, deployment], help="ask the predict API (with the prediction key)"
    )
    predictor.add_argument("name")
    predictor.add_argument(
        "file",
        nargs="?",
        help='JSON ({"instances": [...]}, {"columns": [...], "data": [...]} or a list of rows), JSON Lines (one '
        "row object a line) or CSV (a header, then rows; typed by the model's signature, columns it does not take "
        "left out); - or none for stdin",
    )
    predictor.add_argument(
        "--format", choices=["json", "jsonl", "csv"], help="how to read FILE (default: by its extension or content)"
    )
    predictor.add_argument("--request-key", help="sticky canary assignment: the same key, the same side")
    predictor.set_defaults(run=predict)
    drifter = commands.add_parser(
        "drift", parents=[common, deployment], help="drift checks of a model (exit 1 if the newest found drift)"
    )
    drifter.add_argument("name")
    drifter.add_argument("--run", dest="run_now", action="store_true", help="run a check now, due or not")
    drifter.add_argument("--limit", type=int, default=10)
    drifter.set_defaults(run=drift)
    roller = commands.add_parser(
        "rollback", parents=[common, deployment], help="point an alias back at the version it replaced"
    )
    roller.add_argument("name")
    roller.add_argument("--alias", default="champion")
    roller.add_argument("--reason", required=True)
    roller.add_argument("--expected-version", type=int, metavar="V", help=EXPECTED_VERSION_HELP)
    roller.set_defaults(run=rollback)

    reporter = commands.add_parser(
        "report", parents=[common, deployment], help="write a model's lifecycle report: one self-contained HTML page"
    )
    reporter.add_argument("name")
    reporter.add_argument("-o", "--output", type=Path, help="where to write it (default reports/NAME.html)")
    reporter.set_defaults(run=report)
    runner = commands.add_parser(
        "runs",
        parents=[common, deployment],
        help="training runs, newest first; with RUN_ID, one run's candidates and states (exit 1 if it failed)",
    )
    runner.add_argument("run_id", nargs="?", metavar="RUN_ID")
    runner.add_argument("--dataset", help="only this dataset's runs")
    runner.add_argument("--limit", type=int, default=20)
    runner.add_argument(
        "--sort",
        metavar="COLUMN",
        help="status, dataset, started, took, version or a metric (e.g. roc_auc): metrics best first, "
        "started/took/version highest first; a leading - flips it (write --sort=-roc_auc)",
    )
    runner.add_argument("--reverse", action="store_true", help="with --sort: the other way round")
    runner.add_argument(
        "--filter",
        action="append",
        metavar="EXPR",
        help="COLUMN OP VALUE with = != > >= < <=, e.g. status=failed, roc_auc>=0.95 (repeat: all must hold)",
    )
    runner.add_argument(
        "--metrics", metavar="NAMES", help="comma-separated metric columns (default: every metric of the runs shown)"
    )
    runner.set_defaults(run=runs)

    smoker = commands.add_parser(
        "smoke-test",
        parents=[common, deployment],
        help="after cdk deploy: upload, train, predict and fire a test alarm, each step timed (exit 0: all passed)",
    )
    smoker.add_argument(
        "--alarm", metavar="NAME", help="the alarm to fire (default: the dead-letters alarm, or another in OK)"
    )
    smoker.add_argument(
        "--train-timeout", type=float, default=900.0, metavar="S", help="seconds the training run may take"
    )
    smoker.add_argument(
        "--notify-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds to wait for the alarm's notification (default 60)",
    )
    smoker.set_defaults(run=smoke_test)

    from localcloud.__main__ import add_up_arguments

    starter = commands.add_parser(
        "up", parents=[common], help="run the local cloud in the foreground until Ctrl-C (as `make up`)"
    )
    add_up_arguments(starter)
    starter.set_defaults(run=up)
    bencher = commands.add_parser(
        "bench", parents=[common], help="run the benchmarks (pandera / Great Expectations baselines need `make bench`)"
    )
    bencher.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    bencher.add_argument("--quick", action="store_true", help="small data: checks the harness, not the figures")
    bencher.add_argument("--out", type=Path, help="results directory (default bench/results)")
    bencher.set_defaults(run=bench)
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with `--json` taken before the command (`mlops --json drift x`) or after it."""
    args = build_parser().parse_args(argv)
    args.json = bool(getattr(args, "json", False) or args.json_first)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)  # first: `--help` and usage errors need no pandas or botocore
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at interpreter exit
    except BrokenPipeError:
        # The reader (`| head -1`) has gone: stop quietly, as the Python docs recommend for SIGPIPE,
        # pointing stdout at devnull so the interpreter's final flush does not fail again.
        import contextlib
        import os

        with contextlib.suppress(OSError, ValueError):  # a stdout without a descriptor (tests) needs none of this
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a pipeline stage killed by it
    return code


# Errors a command's input can raise, by the module that defines them. They are caught only if that
# module was loaded: importing pandas (contracts) to catch an error nobody raised would cost a
# read-only command more than a second of start-up.
INPUT_ERRORS = (("mlops.contracts.model", "ContractError"), ("mlops.training.config", "ConfigError"))


def input_errors() -> tuple[type[Exception], ...]:
    """CommandError, TargetError, OSError, and the input errors of the modules this run loaded."""
    loaded = [getattr(sys.modules[module], name) for module, name in INPUT_ERRORS if module in sys.modules]
    return (CommandError, TargetError, OSError, *loaded)


def _dispatch(args: argparse.Namespace) -> int:
    import urllib.error

    from botocore.exceptions import EndpointConnectionError, NoCredentialsError

    from mlopsctl.api import ApiError

    try:
        return int(args.run(args))
    except ApiError as error:
        if args.json:  # the API's whole error body: a script gets every problem, by row and field
            print(json.dumps({"status": error.status, **error.body}, indent=2, default=str))
        from mlopsctl.prediction_input import problem_lines

        print("\n".join([f"error: {error}", *problem_lines(error.problems, error.problem_count)]), file=sys.stderr)
        return EXIT_REJECTED if error.status == 409 else EXIT_ERROR
    except (NoCredentialsError, EndpointConnectionError, urllib.error.URLError) as error:
        print(
            f"error: {error}\nhint: is the local cloud running (`make up`), and are the AWS_* variables it printed "
            "exported in this shell?",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except BrokenPipeError:
        raise  # main() ends quietly: the reader went away
    except Exception as error:
        if not isinstance(error, input_errors()):
            raise
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
