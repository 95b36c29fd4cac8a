"""`mlops train` and `mlops runs`: start a training run and follow it; list runs, or show one with
its candidates and the states it went through."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from mlopsctl.commands import EXIT_OK, EXIT_REJECTED, CommandError, deployment_target, emit
from mlopsctl.datasets import used_version_line
from mlopsctl.target import Target, TargetError
from mlopsctl.training_runs import follow_training, start_run, training_outcome, training_succeeded

if TYPE_CHECKING:
    from mlops.registry.run_comparison import RunSearch
    from mlops.training.start import StartedRun


def train(args: argparse.Namespace) -> int:
    """Start the pipeline and follow it state by state until it ends."""
    target = deployment_target(args)
    require_training_config(target, args.dataset)
    version = resolve_dataset_version(target, args.dataset, args.dataset_version) if args.dataset_version else None
    run = start_run(target, args.dataset, args.reason, version)
    if not args.json:
        print(f"started training run {run.run_id} for dataset {args.dataset}")
    return follow_to_the_end(args, target, run)


def follow_to_the_end(args: argparse.Namespace, target: Target, run: StartedRun) -> int:
    """Follow a started run state by state (`--timeout`), print what it did, and answer its exit code."""
    on_state = None if args.json else (lambda label: print(f"  {time.strftime('%H:%M:%S')}  {label}"))
    execution = follow_training(
        target.client("stepfunctions"), run.execution_arn, timeout=args.timeout, on_state=on_state
    )
    if execution is None:
        raise CommandError(
            f"run {run.run_id} still running after {args.timeout:g} s; follow it with the AWS console or CLI"
        )
    document, text = training_outcome(target, execution, run.run_id)
    emit(args, document, text)
    return EXIT_OK if training_succeeded(document) else EXIT_REJECTED


def require_training_config(target: Target, dataset: str) -> None:
    """Refused before a run starts: a dataset without a deployed training config cannot be trained on,
    nor have a model imported for it (the config names its gates, approval and rollout)."""
    from mlops.names import CONFIGS_PREFIX, DEFINITION_SUFFIXES

    configs = [f"{CONFIGS_PREFIX}{dataset}{suffix}" for suffix in DEFINITION_SUFFIXES]
    listed = target.client("s3").list_objects_v2(
        Bucket=target.output("ArtifactsBucketName"), Prefix=f"{CONFIGS_PREFIX}{dataset}."
    )
    if not {o["Key"] for o in listed.get("Contents", [])} & set(configs):
        raise CommandError(
            f"dataset {dataset!r} has no training config: write one (see configs/breast-cancer.yaml) and "
            f"run `mlops config deploy configs/{dataset}.yaml` first"
        )


def resolve_dataset_version(target: Target, dataset: str, prefix: str) -> str:
    """The full hash of the one accepted version `prefix` names: checked before a run starts, so a
    wrong prefix is an error naming the candidates, not a failed run and a TrainingFailed alarm."""
    from mlops.datasets.records import DatasetRecords
    from mlopsctl.datasets import VersionPrefixError, resolve_version

    table = DatasetRecords(target.resource("dynamodb").Table(target.output("RegistryTableName")))
    known = [v.version for v in table.all_dataset_versions(dataset)]
    try:
        return resolve_version(dataset, prefix, known)
    except VersionPrefixError as error:
        raise CommandError(str(error)) from error


def runs(args: argparse.Namespace) -> int:
    from mlopsctl.runs_table import RunFilter, RunsQueryError, check_columns, metric_columns, runs_table, sort_rows

    target = deployment_target(args)
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
    emit(args, {"runs": rows}, "\n".join(runs_table(rows, metrics)) if rows else empty)
    return EXIT_OK


def _fit_place(fits: list[dict[str, Any]], name: Any) -> dict[str, Any]:
    """Where a candidate's fit ran (Lambda or a Fargate task) and why, from the run record's `fits`."""
    for fit in fits:
        if fit.get("name") == name:
            return {"runs_on": fit.get("runs_on"), "place_reason": fit.get("reason"), "task_arn": fit.get("task_arn")}
    return {}


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


def _add_version_metrics(target: Target, rows: list[dict[str, Any]]) -> None:
    """Each run's registered version's test metrics and the chosen hyperparameters (from the
    registry API, one listing per model)."""
    from mlopsctl.lifecycle import all_versions

    for model in sorted({str(r["model"]) for r in rows if r.get("model") and r.get("version") is not None}):
        try:
            versions = {int(v["version"]): v for v in all_versions(target, model)}
        except TargetError as error:  # the registry API cannot be reached from here: the runs still can
            print(f"note: no metric columns: {error}", file=sys.stderr)
            return
        for row in rows:
            if row.get("model") == model and row.get("version") is not None:
                version = versions.get(int(row["version"]), {})
                row["metrics"] = version.get("metrics") or {}
                row["hyperparameters"] = version.get("params") or {}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number_text(value: float) -> str:
    """Metrics come back from DynamoDB as int when whole (Decimal 1 -> 1): both print."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


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
    lines += [used_version_line(v) for v in versions]
    lines += [f"    {str(v['version'])[:12]}  skipped: {v['reason']}" for v in skipped]
    lines += [f"    column {c['column']}: {c['note']}" for c in data.get("columns", [])]
    return lines


def _run_details(args: argparse.Namespace, target: Target, sfn: Any, table: Any) -> int:
    """One run: its record, each candidate, and the states it went through."""
    from mlops.registry.views import plain
    from mlops.training.start import execution_arn, no_params_text
    from mlopsctl.runs_table import params_text

    arn = execution_arn(target.output("TrainingStateMachineArn"), args.run_id)
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
            **_fit_place(record.get("fits") or [], c.get("name")),
        }
        for c in record.get("candidates", [])
    ]
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    states = [
        {"state": e["stateEnteredEventDetails"]["name"], "entered_at": e["timestamp"].isoformat()}
        for e in events
        if e.get("stateEnteredEventDetails")
    ]
    chosen: dict[str, Any] = next(
        (c for c in record.get("candidates", []) if selected and c.get("name") == selected), {}
    )
    document.update(
        {
            "input": json.loads(execution.get("input") or "{}"),
            "training_data": record.get("training_data"),
            "hyperparameters": chosen.get("params") or {},
            "searched": sorted(chosen.get("best_params") or {}),
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
    if chosen:
        searched = f" (searched: {', '.join(document['searched'])})" if document["searched"] else ""
        params = params_text(document["hyperparameters"]) or no_params_text(chosen.get("estimator"))
        lines.append(f"  chosen: {chosen.get('name')} ({chosen.get('estimator')}): {params}{searched}")
    if document["failure_reason"]:
        lines.append(f"  failure: {document['failure_reason']}")
    if candidates:
        lines.append("  candidates:")
        for c in candidates:
            value = f"{c['metric']}={_number_text(c['value'])}" if _is_number(c["value"]) else ""
            mark = "*" if c["selected"] else " "
            place = f"[{c['runs_on']}]" if c.get("runs_on") else ""
            lines.append(f"  {mark} {c['name']:<20} {c['status']:<10} {place:<10} {value}  {c['error'] or ''}".rstrip())
            if c.get("runs_on") == "fargate":
                lines.append(f"      fargate: {c['place_reason']}; task {c.get('task_arn') or '-'}")
        if any(c["selected"] for c in candidates):
            lines.append("    (* selected)")
    lines.append("  states: " + " -> ".join(s["state"] for s in states))
    emit(args, document, "\n".join(lines))
    failed = execution["status"] not in ("SUCCEEDED", "RUNNING") or document["status"] == "rejected"
    return EXIT_REJECTED if failed else EXIT_OK


def runs_compare(args: argparse.Namespace) -> int:
    """Two runs side by side through the registry API (GET /v1/runs/{a}/compare/{b}), every
    difference marked; a note on top when they trained on different datasets."""
    from urllib.parse import quote

    from mlopsctl.api import call
    from mlopsctl.runs_table import comparison_lines

    target = deployment_target(args)
    document = call(target, "GET", f"/v1/runs/{quote(args.run_a, safe='')}/compare/{quote(args.run_b, safe='')}")
    emit(args, document, "\n".join(comparison_lines(document, only_differences=args.differences)))
    return EXIT_OK


def runs_search(args: argparse.Namespace) -> int:
    """A dataset's runs by metric and hyperparameter through the registry API (GET /v1/runs). The
    expressions are checked here first, by the parser the API uses, so a malformed one is named
    before any call."""
    from mlops.registry.run_comparison import RunSearch
    from mlops.registry.run_query import RunsQueryError, metric_filter, param_filter
    from mlopsctl.api import call
    from mlopsctl.runs_table import metric_columns, runs_table, search_row

    try:
        search = RunSearch(
            args.dataset,
            metrics=tuple(metric_filter(m) for m in args.metric or []),
            params=tuple(param_filter(p) for p in args.param or []),
            sort=args.sort,
        )
    except RunsQueryError as error:
        raise CommandError(str(error)) from error
    target = deployment_target(args)
    query = {"dataset": args.dataset, "metric": args.metric, "param": args.param, "sort": args.sort}
    found = call(target, "GET", "/v1/runs", query={**query, "limit": args.limit})["runs"]
    rows = [search_row(run) for run in found]
    text = (
        "\n".join([f"{len(rows)} run(s) of {args.dataset}, {search.order}", *runs_table(rows, metric_columns(rows))])
        if rows
        else _why_no_run(args, target, search)
    )
    emit(args, {"runs": found}, text)
    return EXIT_OK


def _why_no_run(args: argparse.Namespace, target: Target, search: RunSearch) -> str:
    """What an empty search means: a named metric none of the dataset's runs has (a regression metric
    on a classifier's runs), a dataset with no run yet, or one that is not deployed at all. One more
    call, the dataset's runs unfiltered, made only when nothing matched."""
    from mlops.registry.run_comparison import MAX_SEARCH_LIMIT, absent_metrics
    from mlopsctl.api import call

    asked = " and ".join([*(args.metric or []), *(args.param or [])])
    every = call(target, "GET", "/v1/runs", query={"dataset": args.dataset, "limit": MAX_SEARCH_LIMIT})["runs"]
    if every:
        absent = absent_metrics(args.dataset, search.metrics, [run.get("metrics") or {} for run in every])
        return f"no run of {args.dataset} matches {asked}" + (f": {absent}" if absent else "")
    try:
        from mlopsctl.commands.datasets import deployed_datasets

        deployed = args.dataset in deployed_datasets(target)
    except Exception:  # the contracts cannot be listed from here: the empty answer stands as it is
        return f"no recorded run of {args.dataset}"
    if deployed:
        return f"no recorded run of {args.dataset} yet (`mlops train --dataset {args.dataset}` starts one)"
    listed = "`mlops datasets list` names them"
    return f"no recorded run of {args.dataset}: no dataset {args.dataset!r} is deployed ({listed})"
