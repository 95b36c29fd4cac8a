"""The training pipeline's steps as Step Functions runs them: each reads what the previous step stored
under the run's prefix in the artifacts bucket, does one thing with the training core, stores its
result and returns a small JSON payload (keys and figures, never data).

A run is named by its Step Functions execution, so a retried step writes the same keys again and a
redriven registration finds the version the first attempt registered.

One module past 500 lines on purpose: the steps hand each other their artifacts by key under the
run's prefix, and those keys are read against each other here, where a step's reader sits beside the
step that wrote it. A model imported with `mlops models import` takes the same steps (prepare makes
it the one candidate, fit loads it) rather than a second path.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops import __version__
from mlops.buckets import ArtifactsBucket, CuratedBucket
from mlops.datasets.records import DatasetRecords
from mlops.datasets.versioning import ColumnSchema, read_version_arrays, stored_version
from mlops.monitoring.profile import ReferenceProfile
from mlops.names import CHAMPION, CONFIGS_PREFIX, MODEL_FILE, PROFILE_FILE, SIGNATURE_FILE, run_prefix
from mlops.onnx_checks.champion_scores import CHAMPION_SCORES, FITTED_ROWS, TEST_ROWS, ChampionScores
from mlops.onnx_checks.parity import PARITY_ATTEMPTS, PARITY_INPUT
from mlops.registry.models import ModelRegistry
from mlops.registry.numbers import from_dynamo, to_dynamo
from mlops.registry.versions import TrainedVersion
from mlops.training.config import TrainingConfig, load_training_config
from mlops.training.data import (
    NAMED_IN_REQUEST,
    CombinedData,
    TrainingData,
    TrainingInputError,
    choose_versions,
    combine_versions,
    plan_versions,
)
from mlops.training.fit_placement import fargate_threads, fit_outcome, fit_records, imported_fit, place_fits
from mlops.training.gates import GateReport, gate_evaluation
from mlops.training.prepare import PreparedMeta, Splits, prepare
from mlops.training.search_space import Candidate
from mlops.training.signature import signature, signature_json
from mlops.training.start import (
    IMPORTED,
    IMPORTED_CANDIDATE,
    ImportedFile,
    TrainingRequest,
    TrainingRequestError,
    run_trigger,
)

if TYPE_CHECKING:
    from mlops.training.candidates import CandidateResult

DATA_RECORD = "data.json"  # which dataset versions the run used (mlops.training.data.TrainingData)
FARGATE_INPUTS = "fargate/"  # under the run's prefix: a Fargate fit's input payload, <candidate>.json


@dataclass
class TrainingServices:
    artifacts: ArtifactsBucket
    curated: CuratedBucket
    datasets: DatasetRecords
    models: ModelRegistry
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    code_asset_hash: str | None = None  # CDK's hash of the functions' code asset (CODE_ASSET_HASH)


@dataclass(frozen=True)
class RunRef:
    """What every step after prepare receives: where the run's artifacts live."""

    run_id: str
    model: str
    dataset: str
    dataset_version: str
    prefix: str

    @classmethod
    def from_event(cls, run: dict[str, Any]) -> RunRef:
        return cls(run["run_id"], run["model"], run["dataset"], run["dataset_version"], run["prefix"])

    def as_payload(self) -> dict[str, str]:
        return dict(self.__dict__)


# ---------------------------------------------------------------------------------------------
def _json(document: Any) -> bytes:
    return json.dumps(document, indent=2, sort_keys=True, default=str).encode()


def _read_json(services: TrainingServices, key: str) -> Any:
    return json.loads(services.artifacts.get(key))


def _config(services: TrainingServices, run: RunRef) -> TrainingConfig:
    return TrainingConfig.model_validate(_read_json(services, f"{run.prefix}config.json"))


def _splits(services: TrainingServices, run: RunRef) -> Splits:
    return Splits.from_bytes(services.artifacts.get(f"{run.prefix}splits.npz"))


# ---------------------------------------------------------------------------------------------
def prepare_step(
    event: Mapping[str, Any], run_id: str, execution_arn: str, services: TrainingServices
) -> dict[str, Any]:
    """The first step, on the execution's input: the training request."""
    try:
        request = TrainingRequest.from_event(event)
    except TrainingRequestError as error:  # a TrainingInputError, as every request the run cannot use
        raise TrainingInputError(str(error)) from None
    dataset = request.dataset
    found = services.artifacts.config_text(dataset)
    if found is None:
        raise TrainingInputError(
            f"no training config for dataset '{dataset}': upload one to {CONFIGS_PREFIX}{dataset}.yaml"
        )
    config_key, config_text = found
    config = load_training_config(config_text.decode(), source=config_key)
    combined = _training_data(services, dataset, config, request.dataset_version)
    prepared = prepare(combined.arrays, combined.columns, config)
    data = combined.data
    run = RunRef(run_id, config.dataset, dataset, data.newest, run_prefix(config.dataset, run_id))
    services.artifacts.put(f"{run.prefix}config.json", _json(config.model_dump(mode="json")), "application/json")
    services.artifacts.put(
        f"{run.prefix}meta.json", prepared.meta.model_dump_json(indent=2).encode(), "application/json"
    )
    services.artifacts.put(f"{run.prefix}splits.npz", prepared.splits_bytes, "application/octet-stream")
    services.artifacts.put(f"{run.prefix}{TEST_ROWS}", prepared.test_rows_bytes, "application/octet-stream")
    services.artifacts.put(f"{run.prefix}{FITTED_ROWS}", prepared.fitted_rows_bytes, "application/octet-stream")
    services.artifacts.put(
        f"{run.prefix}columns.json",
        _json([c.model_dump(mode="json") for c in combined.columns]),
        "application/json",
    )
    services.artifacts.put(f"{run.prefix}{DATA_RECORD}", data.model_dump_json(indent=2).encode(), "application/json")
    services.artifacts.put(
        f"{run.prefix}{PROFILE_FILE}", prepared.profile.model_dump_json().encode(), "application/json"
    )
    rows = prepared.meta.rows["train"] + prepared.meta.rows["validation"]
    features = int(prepared.splits.X_train.shape[1])
    imported = request.imported
    if imported is not None:  # a model trained elsewhere is the run's one candidate: nothing to fit
        candidates: list[dict[str, Any]] = [{"name": IMPORTED_CANDIDATE, "imported": imported.to_json()}]
        fits = [imported_fit(config.fargate, rows=rows, features=features)]
    else:
        candidates = [c.model_dump(mode="json") for c in config.candidates]
        fits = place_fits(
            config.candidates,
            config.fargate,
            rows=rows,
            features=features,
            split_bytes=len(prepared.splits_bytes),
            input_key=f"{run.prefix}{FARGATE_INPUTS}{{name}}.json",
        )
    for fit, candidate in zip(fits, candidates, strict=True):
        if fit.input_key is not None:  # RunTask's overrides carry this key, never the payload (8,192 characters)
            task_input = {"run": run.as_payload(), "candidate": candidate}
            services.artifacts.put(fit.input_key, _json(task_input), "application/json")
    services.models.start_run(
        run_id,
        {
            "dataset": dataset,
            "dataset_version": data.newest,
            "training_data": to_dynamo(data.summary()),
            "model": config.dataset,
            "started_at": services.now().isoformat(),
            "execution_arn": execution_arn,
            "reason": request.reason,
            "trigger": IMPORTED if imported is not None else run_trigger(request.reason),
            **({"cause": dict(request.cause)} if request.cause else {}),
            "prefix": run.prefix,
            "code_version": __version__,
            "code_asset_hash": services.code_asset_hash,
            # The config as deployed (`mlops config deploy`): its key and the digest of its bytes.
            "config": {"key": config_key, "sha256": hashlib.sha256(config_text).hexdigest()},
            **({"imported": imported.to_json()} if imported is not None else {}),
            "rows": to_dynamo(prepared.meta.rows),
            "fits": to_dynamo([f.model_dump(mode="json", exclude={"input_key"}) for f in fits]),
        },
    )
    return {
        **run.as_payload(),
        "candidates": candidates,
        "fits": [f.model_dump(mode="json") for f in fits],
        **({"imported": imported.to_json()} if imported is not None else {}),
    }


def _training_data(services: TrainingServices, dataset: str, config: TrainingConfig, named: str | None) -> CombinedData:
    """The versions the config's `data` policy chooses (or the one the request names), combined."""
    if named:
        record = services.datasets.get_dataset_version(dataset, named)
        if record is None:
            raise TrainingInputError(f"dataset '{dataset}' has no version {named}")
        records, policy = [record], NAMED_IN_REQUEST
    else:
        known = services.datasets.all_dataset_versions(dataset)
        chosen = set(choose_versions(config.data, known, dataset=dataset))
        records, policy = [r for r in known if r.version in chosen], config.data.describe()
    # Either layout: a partitioned version (issue #20) is read as its parts' npz copies, end to end.
    stored = {s.manifest.version: s for s in (stored_version(services.curated.read(r.manifest_key)) for r in records)}
    manifests = [s.manifest for s in stored.values()]
    used, skipped = plan_versions(config, manifests, strict=config.data.choice == "versions" and not named)
    parts = [(m, read_version_arrays(stored[m.version], services.curated.read)) for m in used]
    uploads = {version: s.sources for version, s in stored.items()}
    return combine_versions(dataset, policy, config.data.max_rows, parts, skipped, uploads)


def fit_step(
    run_payload: dict[str, Any], candidate: dict[str, Any], artifacts: ArtifactsBucket, *, on_fargate: bool = False
) -> dict[str, Any]:
    """Fit one candidate and store it: the fit Lambda's step, and what the Fargate task runs
    (`handlers.fit_task`) when the candidate does not fit the Lambda, with every vCPU of its task."""
    from mlops.training.candidates import fit_candidate

    run = RunRef.from_event(run_payload)
    config = TrainingConfig.model_validate(json.loads(artifacts.get(f"{run.prefix}config.json")))
    splits = Splits.from_bytes(artifacts.get(f"{run.prefix}splits.npz"))
    if candidate.get("imported") is not None:
        result = _imported_candidate(ImportedFile.from_event(candidate["imported"]), run, splits, artifacts)
    else:
        threads = fargate_threads(config.fargate) if on_fargate else 1
        result = fit_candidate(Candidate.model_validate(candidate), splits, config, threads=threads)
    base = f"{run.prefix}candidates/{result.name}"
    if result.model_bytes is not None:
        artifacts.put(f"{base}.model", result.model_bytes, "application/octet-stream")
    artifacts.put(f"{base}.json", _json(result.to_json()), "application/json")
    return fit_outcome(result.to_json())


def _imported_candidate(
    imported: ImportedFile, run: RunRef, splits: Splits, artifacts: ArtifactsBucket
) -> CandidateResult:
    """The uploaded file as the run's candidate, once its bytes are the ones the request named."""
    from mlops.training.imported import ImportRefusedError, import_candidate
    from mlops.training.onnx_export import sha256

    data = artifacts.get(imported.key)
    meta = PreparedMeta.model_validate(json.loads(artifacts.get(f"{run.prefix}meta.json")))
    if sha256(data) != imported.sha256:
        raise ImportRefusedError(f"{imported.key} is not the file the import named (sha256 {imported.sha256[:12]}...)")
    return import_candidate(data, imported.format, splits, meta.problem_type, meta.classes)


_TIMEOUT_ERRORS = ("Sandbox.Timedout", "States.Timeout")
_TIMED_OUT_AFTER = re.compile(r"timed out after ([0-9.]+) seconds", re.IGNORECASE)


def candidate_failure_reason(outcome: dict[str, Any]) -> str:
    """Why a candidate failed, for a person: the handler's own reason, or, when the Map's catch
    reported the invocation's error (its cause is Lambda's JSON error payload), what that payload says.
    A timeout reads "timed out after N s ..." rather than as the raw payload."""
    reason = str(outcome.get("reason") or "")
    error = str(outcome.get("error") or "")
    payload: Any = None
    if reason.startswith("{"):
        try:
            payload = json.loads(reason)
        except json.JSONDecodeError:
            payload = None
    if isinstance(payload, dict):
        error = str(payload.get("errorType") or error)
        reason = str(payload.get("errorMessage") or "")
    if error in _TIMEOUT_ERRORS or (reason and _TIMED_OUT_AFTER.search(reason)):
        match = _TIMED_OUT_AFTER.search(reason)
        limit = f" after {float(match.group(1)):g} s" if match else ""
        return (
            f"timed out{limit}: the fit did not finish within the fit function's timeout, "
            "and timed out again when retried (fit a smaller candidate, or raise the fit timeout)"
        )
    if reason and error and error not in reason:
        return f"{error}: {reason}"
    return reason or error or "failed"


def evaluate_step(
    run_payload: dict[str, Any], fitted: list[dict[str, Any]], services: TrainingServices, *, attempt: int = 0
) -> dict[str, Any]:
    """Rank the fitted candidates and test the one at `attempt` (0: the best; the pipeline comes back
    with 1, 2, … while the chosen candidate's ONNX export fails parity)."""
    from mlops.training.candidates import CandidateResult, load_model, rank
    from mlops.training.evaluation import evaluate
    from mlops.training.imported import ImportRefusedError

    run = RunRef.from_event(run_payload)
    config = _config(services, run)
    # A failed candidate's outcome (a crash, a timeout, a Fargate task) carries no estimator: the config names it.
    estimators = {c.name: c.estimator for c in config.candidates}
    results: list[CandidateResult] = []
    for outcome in fitted:
        if outcome.get("status") == "succeeded":
            stored = _read_json(services, f"{run.prefix}candidates/{outcome['name']}.json")
            results.append(CandidateResult.model_validate(stored))
        else:  # failed inside the handler, or the Map's catch reported a crash or a timeout
            results.append(
                CandidateResult(
                    name=str(outcome.get("name")),
                    estimator=estimators.get(str(outcome.get("name")), "unknown"),
                    status="failed",
                    error=candidate_failure_reason(outcome),
                )
            )
    if attempt == 0:
        fits = fit_records(run_payload.get("fits") or [], fitted)
        services.models.update_run(
            run.run_id,
            {
                "candidates": to_dynamo([r.to_json() for r in results]),
                "fits": to_dynamo([f.model_dump(mode="json") for f in fits]),
            },
        )
    refused = [r for r in results if r.name == IMPORTED_CANDIDATE and r.status == "failed"]
    if run_payload.get("imported") is not None and refused:
        raise ImportRefusedError(f"the imported model is refused: {refused[0].error}")
    ranked = rank(results, config.metric)
    if not 0 <= attempt < len(ranked):
        raise TrainingInputError(f"attempt {attempt} is past the {len(ranked)} ranked candidates")
    selected = ranked[attempt]
    stored_model = services.artifacts.get(f"{run.prefix}candidates/{selected.name}.model")
    model = load_model(stored_model, selected.model_sha256)
    meta = PreparedMeta.model_validate(_read_json(services, f"{run.prefix}meta.json"))
    # A run started before the score-champion step existed has no scores: no comparison, not a failure.
    scored = services.artifacts.get_first([f"{run.prefix}{CHAMPION_SCORES}"])
    champion = ChampionScores.from_bytes(scored[1]) if scored else None
    evaluation = evaluate(
        model,
        _splits(services, run),
        meta,
        champion=champion,
        selection_metric=config.metric,
        confidence=config.quality_gates.baseline_confidence,
    )
    profile = ReferenceProfile.model_validate(_read_json(services, f"{run.prefix}{PROFILE_FILE}"))
    profile = profile.with_prediction(evaluation.prediction_distribution)
    services.artifacts.put(f"{run.prefix}{PROFILE_FILE}", profile.model_dump_json().encode(), "application/json")
    services.artifacts.put(
        f"{run.prefix}evaluation.json", evaluation.model_dump_json(indent=2).encode(), "application/json"
    )
    services.artifacts.put(f"{run.prefix}selected.json", _json(selected.to_json()), "application/json")
    return {
        "selected": selected.name,
        "estimator": selected.estimator,
        "metrics": evaluation.metrics,
        "attempt": attempt,
        "ranked": [r.name for r in ranked],
    }


def export_step(run_payload: dict[str, Any], services: TrainingServices) -> dict[str, Any]:
    """The selected model as ONNX, and scikit-learn's answers on the test split for the parity step
    (which runs ONNX on the inference layer: no layer holds both scikit-learn and onnxruntime)."""
    from mlops.training.candidates import CandidateResult, load_model
    from mlops.training.explain_export import write_explanation
    from mlops.training.imported import ImportedOnnxModel
    from mlops.training.onnx_export import export_onnx, scikit_learn_outputs, sha256

    run = RunRef.from_event(run_payload)
    config = _config(services, run)
    selected = CandidateResult.model_validate(_read_json(services, f"{run.prefix}selected.json"))
    model = load_model(services.artifacts.get(f"{run.prefix}candidates/{selected.name}.model"), selected.model_sha256)
    splits = _splits(services, run)
    try:
        # An imported ONNX model is ONNX already: parity checks onnxruntime against its evaluated answers.
        if isinstance(model, ImportedOnnxModel):
            onnx_bytes = model.onnx_bytes
        else:
            onnx_bytes = export_onnx(model, splits.X_train.shape[1], splits.feature_names)
    except Exception as error:  # a model skl2onnx cannot convert: the next-ranked candidate may be
        return {"onnx_sha256": None, "error": f"{type(error).__name__}: {error}"[:1000]}
    reference = scikit_learn_outputs(model, splits.X_test, config.parity, row_ids=splits.rows_test)
    services.artifacts.put(f"{run.prefix}{MODEL_FILE}", onnx_bytes, "application/octet-stream")
    meta = PreparedMeta.model_validate(_read_json(services, f"{run.prefix}meta.json"))
    write_explanation(services.artifacts, run.prefix, model, meta.feature_spec, splits.X_train, selected.model_sha256)
    services.artifacts.put(f"{run.prefix}{PARITY_INPUT}", reference.to_bytes(), "application/octet-stream")
    return {"onnx_sha256": sha256(onnx_bytes), "error": None}


def _champion_metrics(services: TrainingServices, model: str) -> tuple[int | None, dict[str, Any] | None]:
    alias = services.models.get_alias(model, CHAMPION)
    if alias is None:
        return None, None
    version = services.models.model_version(model, int(alias["version"]))
    if version is None:
        return None, None
    return int(alias["version"]), {k: (float(v) if v is not None else None) for k, v in version.metrics.items()}


def gate_step(run_payload: dict[str, Any], services: TrainingServices) -> dict[str, Any]:
    from mlops.training.evaluation import Evaluation

    run = RunRef.from_event(run_payload)
    config = _config(services, run)
    evaluation = Evaluation.model_validate(_read_json(services, f"{run.prefix}evaluation.json"))
    latency = _read_json(services, f"{run.prefix}latency.json")
    champion_version, champion_metrics = _champion_metrics(services, run.model)
    report = gate_evaluation(evaluation, latency, config, champion_metrics, champion_version=champion_version)
    services.artifacts.put(f"{run.prefix}gates.json", report.model_dump_json(indent=2).encode(), "application/json")
    # The version this run was compared with: its parent in the lineage (the register step reads it
    # here, not the champion of its own moment, which another run may have moved meanwhile).
    services.models.update_run(run.run_id, {"parent_version": champion_version})
    return {
        "passed": report.passed,
        "champion_version": champion_version,
        "failures": [r.message for r in report.failures],
    }


def _compared_with(services: TrainingServices, run: RunRef, run_record: Mapping[str, Any]) -> int | None:
    """The version the run's gate compared it with (its lineage's parent); a run gated before the gate
    step recorded it gets the champion of now."""
    if "parent_version" in run_record:
        parent = run_record["parent_version"]
        return int(parent) if parent is not None else None
    return _champion_metrics(services, run.model)[0]


def _data_line(data: TrainingData) -> str:
    """The run's data in one line, e.g. '3 versions (newest 0123456789ab), 1,200 rows, 300 duplicates dropped'."""
    count = len(data.versions)
    text = f"{'version' if count == 1 else f'{count} versions (newest'} {data.newest[:12]}{')' if count > 1 else ''}"
    text += f", {data.rows:,} rows"
    if data.duplicates:
        text += f", {data.duplicates:,} duplicates dropped"
    if data.skipped:
        text += f", {len(data.skipped)} versions skipped"
    return text


def imported_approval_note(model: str, version: int, dataset_version: str) -> str:
    """Why an imported version waits for a person whatever the config's approval setting says."""
    return (
        "Imported: its test figures cannot be checked against the rows it was fitted on, so it is not "
        f"promoted automatically; approve it with `mlops models approve {model} {version} --reason ...` once you "
        f"know it never saw dataset version {dataset_version[:12]}'s test split."
    )


def register_step(run_payload: dict[str, Any], services: TrainingServices) -> dict[str, Any]:
    from mlops.training.candidates import CandidateResult
    from mlops.training.evaluation import Evaluation
    from mlops.training.explain_export import registered_explanation
    from mlops.training.onnx_export import sha256
    from mlops.training.report import training_report_html

    run = RunRef.from_event(run_payload)
    imported = ImportedFile.from_event(run_payload["imported"]) if run_payload.get("imported") else None
    config = _config(services, run)
    meta = PreparedMeta.model_validate(_read_json(services, f"{run.prefix}meta.json"))
    evaluation = Evaluation.model_validate(_read_json(services, f"{run.prefix}evaluation.json"))
    gates = GateReport.model_validate(_read_json(services, f"{run.prefix}gates.json"))
    selected = CandidateResult.model_validate(_read_json(services, f"{run.prefix}selected.json"))
    parity = _read_json(services, f"{run.prefix}parity.json")
    attempts = _read_json(services, f"{run.prefix}{PARITY_ATTEMPTS}")
    latency = _read_json(services, f"{run.prefix}latency.json")
    onnx_bytes = services.artifacts.get(f"{run.prefix}{MODEL_FILE}")
    splits = _splits(services, run)
    run_record = services.models.get_run(run.run_id) or {}
    candidates = [CandidateResult.model_validate(c) for c in from_dynamo(run_record.get("candidates", []))]
    columns = [ColumnSchema.model_validate(c) for c in _read_json(services, f"{run.prefix}columns.json")]
    data = TrainingData.model_validate(_read_json(services, f"{run.prefix}{DATA_RECORD}"))
    sig = signature(config, meta.feature_spec, splits.X_train, meta.classes, columns)
    html = training_report_html(
        config=config,
        meta=meta,
        candidates=candidates,
        selected=selected,
        evaluation=evaluation,
        parity=parity,
        gates=gates,
        onnx_sha256=sha256(onnx_bytes),
        latency=latency,
        parity_attempts=attempts,
        data=data,
        imported=imported,
    )
    signature_bytes, report_bytes = _json(signature_json(sig)), html.encode()
    services.artifacts.put(f"{run.prefix}{SIGNATURE_FILE}", signature_bytes, "application/json")
    services.artifacts.put(f"{run.prefix}report.html", report_bytes, "text/html; charset=utf-8")
    parent_version = _compared_with(services, run, run_record)
    if not gates.passed:
        status = "rejected"
    elif config.promotion == "manual" or imported is not None:
        # An imported model may have been fitted on the very test rows it is scored on (the platform
        # cannot see what it was fitted on), so its figures never move the champion by themselves.
        status = "pending_approval"
    else:
        status = "registered"
    # Each file's digest, so a download can prove it got the bytes registered (mlops models download).
    artifacts = {
        name: {"key": f"{run.prefix}{name}", "sha256": digest}
        for name, digest in (
            (MODEL_FILE, sha256(onnx_bytes)),
            (SIGNATURE_FILE, sha256(signature_bytes)),
            (PROFILE_FILE, sha256(services.artifacts.get(f"{run.prefix}{PROFILE_FILE}"))),
            ("report.html", sha256(report_bytes)),
            ("evaluation.json", sha256(services.artifacts.get(f"{run.prefix}evaluation.json"))),
            (FITTED_ROWS, None),
        )
    }
    artifacts.update(registered_explanation(services.artifacts, run.prefix, selected.model_sha256))
    artifacts[f"candidates/{selected.name}.model"] = {
        "key": f"{run.prefix}candidates/{selected.name}.model",
        "sha256": selected.model_sha256,
    }
    at = services.now().isoformat()
    trained = TrainedVersion(
        status=status,
        metrics=evaluation.metrics,
        gates=gates.model_dump(mode="json"),
        parity={
            **{
                k: parity.get(k) for k in ("passed", "max_abs_probability_diff", "label_agreement", "max_relative_diff")
            },
            "candidates_tried": [{k: a[k] for k in ("rank", "candidate", "estimator", "passed")} for a in attempts],
        },
        latency_ms=latency,
        params=selected.params,
        estimator=selected.estimator,
        artifacts=artifacts,
        onnx_sha256=sha256(onnx_bytes),
        signature_key=f"{run.prefix}{SIGNATURE_FILE}",
        serving=config.serving.model_dump(mode="json"),
        retraining=config.retraining.model_dump(mode="json") if config.retraining else None,
        monitoring=config.monitoring.model_dump(mode="json"),
        profile_key=f"{run.prefix}{PROFILE_FILE}",
        dataset=run.dataset,
        dataset_version=run.dataset_version,
        training_data=data.summary(),
        code_version=__version__,
        code_asset_hash=run_record.get("code_asset_hash") or services.code_asset_hash,
        config_key=(run_record.get("config") or {}).get("key"),
        config_sha256=(run_record.get("config") or {}).get("sha256"),
        split_rows=meta.rows,
        parent_version=parent_version,
        tags={"selected_candidate": selected.name},
        # What started the run, in its own words; an imported model's says which file (issue #22 item 2).
        reason=f"imported {imported.file_name} (run {run.run_id})"
        if imported
        else str(run_record.get("reason") or f"training run {run.run_id}"),
        trigger=IMPORTED
        if imported
        else str(run_record.get("trigger") or run_trigger(str(run_record.get("reason") or ""))),
        feature_importance=evaluation.feature_importance.model_dump(mode="json")
        if evaluation.feature_importance
        else None,
        origin="imported" if imported is not None else "trained",
        imported_file=imported.to_json() if imported is not None else None,
    )
    version = services.models.register_version(run.model, trained.attributes(), run_id=run.run_id, at=at)
    # The run is recorded before the champion moves: moving the champion is the one write serving
    # sees, so it comes last. A crash before it leaves a registered, not yet promoted version (a
    # state the registry has anyway) and a retry promotes it; a run that keeps failing here is then
    # recorded failed with the champion unchanged, never failed with its model already serving.
    services.models.update_run(
        run.run_id,
        {"status": "rejected" if status == "rejected" else "succeeded", "finished_at": at, "version": version},
    )
    promoted = False
    if status == "registered":
        current = services.models.get_alias(run.model, CHAMPION)
        if current is None or int(current["version"]) != version:
            services.models.set_alias(
                run.model,
                CHAMPION,
                version,
                reason=f"auto promotion: every quality gate passed (run {run.run_id})",
                actor="training-pipeline",
                at=at,
            )
        promoted = True
    outcome = {
        "rejected": "REJECTED by its quality gates",
        "pending_approval": "pending_approval: awaiting a person's approval (mlops models approve)",
        "registered": "registered and promoted to champion",
    }[status]
    lines = [
        f"Model {run.model} version {version}: {outcome}.",
        f"Dataset {run.dataset}: {_data_line(data)}, run {run.run_id}.",
        f"Selected candidate: {selected.name} ({selected.estimator})."
        if imported is None
        else f"Imported {imported.file_name} ({selected.estimator}, sha256 {imported.sha256[:12]}).",
        "Metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in evaluation.metrics.items() if isinstance(v, float)),
    ]
    lines += [
        f"Passed over: {a['candidate']} ({a['estimator']}), its ONNX export does not match scikit-learn."
        for a in attempts
        if not a["passed"]
    ]
    lines += [f"Gate failed: {r.message}" for r in gates.failures]
    if imported is not None and status == "pending_approval":
        lines.append(imported_approval_note(run.model, version, run.dataset_version))
    return {
        "version": version,
        "status": status,
        "promoted": promoted,
        "subject": f"Model {run.model} v{version}: {status.replace('_', ' ')}"[:100],
        "message": "\n".join(lines),
    }
