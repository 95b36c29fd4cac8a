"""Issue #9's fault cases for training, through the real state machine in the local cloud: a candidate
that times out is retried then reported, and a crash between the register step's writes leaves nothing
half-done in sight and is completed by the step's retry.

The local cloud runs Lambda handlers in this process, so a crash is injected by patching the core code
a handler calls, as tests/local/test_ingestion.py does for ingestion."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from localcloud.cloud import LocalCloud
from localcloud.deploy import DeployedStack
from mlops.registry.models import ModelRegistry
from tests.local.test_training import DATASET, Platform, _config, _item, _train

FIT_TIMEOUT_S = 3
# Takes far longer than FIT_TIMEOUT_S on the 569 rows of the breast-cancer set (a Python loop over the
# trees, so the local runtime's timeout interrupts it between two trees).
SLOW_FOREST = {"name": "huge-forest", "estimator": "random_forest", "params": {"n_estimators": 20000}}
LOGISTIC = {"name": "logistic", "estimator": "logistic_regression", "params": {"C": 1.0, "max_iter": 500}}


def _fit_timeout(stack: DeployedStack, seconds: int) -> str:
    """Give the deployed fit function a short timeout, through the Lambda API as an operator would."""
    name = stack.function_name("TrainingFitCandidateFunction")
    # Lambda runs a handler module's imports in its init phase, outside the invocation's timeout; the
    # local runtime counts them in the first invocation, so load the module first (an empty event:
    # the handler imports, then refuses it).
    warm = boto3.client("lambda").invoke(FunctionName=name, Payload=b"{}")
    assert "FunctionError" in warm and b"KeyError" in warm["Payload"].read()
    boto3.client("lambda").update_function_configuration(FunctionName=name, Timeout=seconds)
    assert boto3.client("lambda").get_function_configuration(FunctionName=name)["Timeout"] == seconds
    return name


def _history(execution: dict[str, Any]) -> list[dict[str, Any]]:
    sfn = boto3.client("stepfunctions")
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution["executionArn"], "maxResults": 1000}
    while True:
        page: dict[str, Any] = dict(sfn.get_execution_history(**kwargs))
        events += page["events"]
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def _fit_attempts(history: list[dict[str, Any]], function: str, candidate: str) -> list[str]:
    """How each invocation of the fit function for `candidate` ended, in order."""
    scheduled = {
        e["id"]
        for e in history
        if e["type"] == "LambdaFunctionScheduled"
        and e["lambdaFunctionScheduledEventDetails"]["resource"].endswith(f":{function}")
        and json.loads(e["lambdaFunctionScheduledEventDetails"]["input"])["candidate"]["name"] == candidate
    }
    started = {e["id"] for e in history if e["type"] == "LambdaFunctionStarted" and e["previousEventId"] in scheduled}
    return [
        str(e.get("lambdaFunctionFailedEventDetails", {}).get("error", e["type"]))
        for e in history
        if e.get("previousEventId") in started and e["type"] != "LambdaFunctionStarted"
    ]


def _mails(cloud: LocalCloud, *, subject: str) -> list[Any]:
    return [m for m in cloud.inbox.messages() if m.to == "ml-team@example.com" and subject in m.subject]


def test_a_candidate_that_times_out_is_retried_then_reported_and_the_run_goes_on(
    breast_cancer_platform: Platform,
) -> None:
    _, stack = breast_cancer_platform
    fit = _fit_timeout(stack, FIT_TIMEOUT_S)
    execution = _train(stack, _config(candidates=[SLOW_FOREST, LOGISTIC]), "slow-candidate")
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    history = _history(execution)
    assert _fit_attempts(history, fit, "huge-forest") == ["Sandbox.Timedout", "Sandbox.Timedout"]
    assert _fit_attempts(history, fit, "logistic") == ["LambdaFunctionSucceeded"]
    run = _item(stack, "RUN#slow-candidate", "META")
    assert run is not None and run["status"] == "succeeded"
    by_name = {c["name"]: c for c in run["candidates"]}
    assert by_name["huge-forest"]["status"] == "failed"
    reason = by_name["huge-forest"]["error"]
    assert reason.startswith(f"timed out after {FIT_TIMEOUT_S} s"), reason
    assert "{" not in reason and "RequestId" not in reason, "a sentence, not Lambda's raw error payload"
    assert by_name["logistic"]["status"] == "succeeded"
    version = _item(stack, f"MODEL#{DATASET}", "VERSION#000000001")
    assert version is not None and version["tags"]["selected_candidate"] == "logistic"


def test_when_every_candidate_times_out_the_run_fails_saying_why_and_the_team_is_told(
    breast_cancer_platform: Platform,
) -> None:
    cloud, stack = breast_cancer_platform
    fit = _fit_timeout(stack, 2)
    other = {**SLOW_FOREST, "name": "huger-forest"}
    execution = _train(stack, _config(candidates=[SLOW_FOREST, other]), "all-slow")
    assert execution["status"] == "FAILED"
    history = _history(execution)
    for name in ("huge-forest", "huger-forest"):
        assert _fit_attempts(history, fit, name) == ["Sandbox.Timedout", "Sandbox.Timedout"]
    run = _item(stack, "RUN#all-slow", "META")
    assert run is not None and run["status"] == "failed"
    assert "no candidate" in run["failure_reason"]
    assert "huge-forest: timed out after 2 s" in run["failure_reason"]
    assert "huger-forest: timed out after 2 s" in run["failure_reason"]
    assert [c["status"] for c in run["candidates"]] == ["failed", "failed"]
    assert _item(stack, f"MODEL#{DATASET}", "VERSION#000000001") is None, "nothing registered"
    [mail] = _mails(cloud, subject="Training failed")
    assert "all-slow" in mail.body and "huge-forest: timed out after 2 s" in mail.body


# ---------------------------------------------------------------------------------------------
# A crash between the register step's writes
# ---------------------------------------------------------------------------------------------
def _registry(stack: DeployedStack) -> ModelRegistry:
    return ModelRegistry(boto3.resource("dynamodb").Table(stack.outputs["RegistryTableName"]))


def _dangling(stack: DeployedStack) -> list[str]:
    """Whatever a reader could follow to something that is not there: an alias to a missing or
    unservable version, a version naming an artifact missing from S3."""
    registry = _registry(stack)
    s3 = boto3.client("s3")
    bucket = stack.outputs["ArtifactsBucketName"]
    problems: list[str] = []
    versions = {int(v["version"]): v for v in registry.list_versions(DATASET, limit=100)[0]}
    for alias, item in registry.aliases(DATASET).items():
        target = versions.get(int(item["version"]))
        if target is None or target["status"] != "registered":
            problems.append(f"{alias} -> version {item['version']}, which is not a registered version")
    for number, version in versions.items():
        for name, artifact in version["artifacts"].items():
            listed = s3.list_objects_v2(Bucket=bucket, Prefix=artifact["key"]).get("Contents", [])
            if not any(o["Key"] == artifact["key"] for o in listed):
                problems.append(f"version {number} names {name} at {artifact['key']}, which is missing")
    return problems


def _crash(
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    *,
    after_write: bool,
    times: int,
    when: Callable[[tuple[Any, ...], dict[str, Any]], bool] = lambda args, kwargs: True,
    seen: Callable[[], None] = lambda: None,
) -> list[int]:
    """Make ModelRegistry.<method> crash (before or after its write) its first `times` matching calls;
    `seen` runs at each crash, to look at what is visible then. Returns the crash counter."""
    real = getattr(ModelRegistry, method)
    crashes = [0]

    def crashing(self: ModelRegistry, *args: Any, **kwargs: Any) -> Any:
        if crashes[0] >= times or not when(args, kwargs):
            return real(self, *args, **kwargs)
        crashes[0] += 1
        result = real(self, *args, **kwargs) if after_write else None
        seen()
        raise ConnectionError(f"simulated crash {'after' if after_write else 'before'} {method}")
        return result  # pragma: no cover

    monkeypatch.setattr(ModelRegistry, method, crashing)
    return crashes


def _is_outcome(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """The register step's update_run (not evaluate's candidate list, nor the failure record)."""
    return args[1].get("status") in ("succeeded", "rejected")


BOUNDARIES = {
    "after the S3 artifacts, before register_version": ("register_version", False, lambda a, k: True),
    "after register_version, before the run record": ("register_version", True, lambda a, k: True),
    "after the run record, before set_alias": ("update_run", True, _is_outcome),
    "after set_alias, before the step returns": ("set_alias", True, lambda a, k: True),
}


def _register_attempts(history: list[dict[str, Any]], stack: DeployedStack) -> list[str]:
    register = stack.function_name("TrainingRegisterFunction")
    scheduled = {
        e["id"]
        for e in history
        if e["type"] == "LambdaFunctionScheduled"
        and e["lambdaFunctionScheduledEventDetails"]["resource"].endswith(f":{register}")
    }
    started = {e["id"] for e in history if e["type"] == "LambdaFunctionStarted" and e["previousEventId"] in scheduled}
    return [
        str(e.get("lambdaFunctionFailedEventDetails", {}).get("error", e["type"]))
        for e in history
        if e.get("previousEventId") in started and e["type"] != "LambdaFunctionStarted"
    ]


@pytest.mark.parametrize("boundary", list(BOUNDARIES))
def test_a_crash_between_the_register_writes_is_retried_and_completes_once(
    breast_cancer_platform: Platform, monkeypatch: pytest.MonkeyPatch, boundary: str
) -> None:
    cloud, stack = breast_cancer_platform
    method, after_write, when = BOUNDARIES[boundary]
    visible: list[list[str]] = []
    crashes = _crash(
        monkeypatch, method, after_write=after_write, times=1, when=when, seen=lambda: visible.append(_dangling(stack))
    )
    execution = _train(stack, _config(), "crash-run")
    assert crashes == [1], "the crash was injected"
    assert visible == [[]], f"at the crash a reader could see: {visible}"
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert _register_attempts(_history(execution), stack) == ["ConnectionError", "LambdaFunctionSucceeded"]
    registry = _registry(stack)
    versions = registry.list_versions(DATASET)[0]
    assert [(int(v["version"]), v["run_id"], v["status"]) for v in versions] == [(1, "crash-run", "registered")]
    champion = registry.get_alias(DATASET, "champion")
    assert champion is not None and int(champion["version"]) == 1
    actions = [e["action"] for e in registry.audit(DATASET)]
    assert sorted(actions) == ["register", "set_alias:champion"]
    run = registry.get_run("crash-run")
    assert run is not None and run["status"] == "succeeded" and int(run["version"]) == 1
    assert "failure_reason" not in run
    assert len(_mails(cloud, subject=f"Model {DATASET} v")) == 1
    assert _mails(cloud, subject="Training failed") == []
    assert _dangling(stack) == []


@pytest.mark.parametrize(
    "boundary",
    [
        "after register_version, before the run record",
        "after the run record, before set_alias",
    ],
)
def test_a_register_step_that_crashes_every_time_fails_the_run_leaving_the_champion_alone(
    breast_cancer_platform: Platform, monkeypatch: pytest.MonkeyPatch, boundary: str
) -> None:
    """The run is recorded failed and the champion stays the earlier model: the champion moves last,
    so no failed run's model is ever serving."""
    cloud, stack = breast_cancer_platform
    method, after_write, when = BOUNDARIES[boundary]
    assert _train(stack, _config(), "champion-run")["status"] == "SUCCEEDED"
    crashes = _crash(monkeypatch, method, after_write=after_write, times=100, when=when)
    execution = _train(stack, _config(), "doomed-run")
    assert execution["status"] == "FAILED"
    assert _register_attempts(_history(execution), stack) == ["ConnectionError"] * 3
    assert crashes == [3]
    registry = _registry(stack)
    run = registry.get_run("doomed-run")
    assert run is not None and run["status"] == "failed"
    assert run["failure_reason"] == f"ConnectionError: simulated crash {'after' if after_write else 'before'} {method}"
    champion = registry.get_alias(DATASET, "champion")
    assert champion is not None and int(champion["version"]) == 1, "the champion stays the earlier run's model"
    assert [e["action"] for e in registry.audit(DATASET)].count("set_alias:champion") == 1
    assert _dangling(stack) == []
    [failure] = _mails(cloud, subject="Training failed")
    assert "doomed-run" in failure.body and "simulated crash" in failure.body
    # Its version was written before the crashes: the failure says so, rather than reading as "nothing changed".
    said = f"the run registered {DATASET} version 2 (registered); it is not the champion"
    assert said in failure.body and said in run["registered_before_failure"]
