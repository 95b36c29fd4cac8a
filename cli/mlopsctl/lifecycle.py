"""Gathering a model's lifecycle for its report: the registry API (model, versions, drift checks,
audit trail) and the artifacts bucket (the evaluation, the run's config for its selection metric,
each drift check's full report for per-feature scores). Shared by `mlops report` and the demo."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.training.metric_names import DEFAULT_SELECTION_METRIC
from mlopsctl import api
from mlopsctl.target import Target

if TYPE_CHECKING:  # the report module loads the training package (scikit-learn): only `mlops report` needs it
    from mlops.reports.lifecycle import ModelLifecycle


@dataclass(frozen=True)
class WrittenReport:
    path: Path
    lifecycle: ModelLifecycle

    def as_document(self) -> dict[str, Any]:
        champion = next((a.version for a in self.lifecycle.aliases if a.name == "champion"), None)
        return {
            "model": self.lifecycle.model,
            "path": str(self.path),
            "versions": len(self.lifecycle.versions),
            "drift_checks": len(self.lifecycle.drift_checks),
            "audit_events": len(self.lifecycle.audit),
            "champion": champion,
            "evaluation_version": self.lifecycle.evaluation_version,
        }


def _read_json(target: Target, key: str) -> Any:
    """An artifact's JSON, or None when it is gone (a report is still worth having without it)."""
    s3 = target.client("s3")
    try:
        body = s3.get_object(Bucket=target.output("ArtifactsBucketName"), Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return json.loads(body)


def all_versions(target: Target, name: str) -> list[dict[str, Any]]:
    versions: list[dict[str, Any]] = []
    token = None
    while True:
        page = api.call(target, "GET", f"/v1/models/{name}/versions", query={"limit": 100, "next_token": token})
        versions += page["versions"]
        token = page.get("next_token")
        if not token:
            return versions


def selection_metric(target: Target, version: dict[str, Any]) -> str | None:
    """The metric the version's run selected on, from the run's stored config (the version record
    does not repeat it): read as plain data, so printing a table loads no training code."""
    key = ((version.get("artifacts") or {}).get("evaluation.json") or {}).get("key")
    if not key:
        return None
    config = _read_json(target, key.removesuffix("evaluation.json") + "config.json")
    if not isinstance(config, dict):
        return None
    named = config.get("selection_metric") or DEFAULT_SELECTION_METRIC.get(str(config.get("problem_type")))  # type: ignore[call-overload]
    return str(named) if named else None


def copy_run_reports(target: Target, versions: list[dict[str, Any]], page: Path) -> dict[int, str]:
    """Each version's run report (the training report.html in the artifacts bucket) written into a
    folder beside the page, `<page>-runs/<run>.html`, so the page links every version to its run
    offline; version -> link relative to the page. A report gone from the bucket is no link."""
    s3 = target.client("s3")
    folder = page.parent / f"{page.stem}-runs"
    links: dict[int, str] = {}
    for version in versions:
        key = ((version.get("artifacts") or {}).get("report.html") or {}).get("key")
        run = str(version.get("run_id") or f"v{version['version']}")
        if not key:
            continue
        try:
            body = s3.get_object(Bucket=target.output("ArtifactsBucketName"), Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{run}.html").write_bytes(body)
        links[int(version["version"])] = f"{folder.name}/{run}.html"
    return links


def gather_lifecycle(target: Target, name: str, *, page: Path | None = None) -> ModelLifecycle:
    """The model's lifecycle; with `page` (where it will be written), each run's report copied beside it."""
    from mlops.reports.lifecycle import MAX_DRIFT_COLUMNS, ModelLifecycle

    model = api.call(target, "GET", f"/v1/models/{name}")["model"]
    versions = all_versions(target, name)
    run_reports = copy_run_reports(target, versions, page) if page is not None else {}
    champion = (model.get("aliases") or {}).get("champion")
    shown_version = int(champion["version"]) if champion else max((int(v["version"]) for v in versions), default=None)
    shown = next((v for v in versions if int(v["version"]) == shown_version), None)
    evaluation = None
    metric = None
    if shown is not None:
        key = ((shown.get("artifacts") or {}).get("evaluation.json") or {}).get("key")
        evaluation = _read_json(target, key) if key else None
        metric = selection_metric(target, shown)
    checks = api.call(target, "GET", f"/v1/models/{name}/drift", query={"limit": 100})["checks"]
    reports = {}
    for check in checks[:MAX_DRIFT_COLUMNS]:
        if check.get("report_key"):
            report = _read_json(target, str(check["report_key"]))
            if report is not None:
                reports[str(check["checked_at"])] = report
    performance = api.call(target, "GET", f"/v1/models/{name}/performance", query={"limit": 100})["checks"]
    events = api.call(target, "GET", f"/v1/models/{name}/audit", query={"limit": 500})["events"]
    return ModelLifecycle.from_records(
        model={"model": name, **model},
        versions=versions,
        generated_at=datetime.now(UTC).isoformat(),
        evaluation=evaluation,
        evaluation_version=shown_version,
        selection_metric=metric,
        drift_checks=checks,
        drift_reports=reports,
        performance_checks=performance,
        audit=events,
        source=f"{target.output('ApiUrl')} and s3://{target.output('ArtifactsBucketName')}",
        run_reports=run_reports,
    )


def write_lifecycle_report(target: Target, name: str, path: Path) -> WrittenReport:
    from mlops.reports.lifecycle import lifecycle_report_html

    lifecycle = gather_lifecycle(target, name, page=path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(lifecycle_report_html(lifecycle), encoding="utf-8")
    return WrittenReport(path, lifecycle)
