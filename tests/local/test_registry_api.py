"""The registry REST API and the `mlops` registry commands, through the local HTTP gateway with IAM-signed
requests, as an operator would use them."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from localcloud.cloud import LocalCloud
from localcloud.deploy import Synthesized
from mlops.registry.models import ModelRegistry
from mlopsctl.main import EXIT_OK, EXIT_REJECTED, main

MODEL = "churn"
AT = "2026-11-23T12:00:00+00:00"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def deployment(platform_synth: Synthesized, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    port = _free_port()
    with LocalCloud.server(port=port, inbox_path=tmp_path / "inbox.jsonl") as cloud:
        stack = cloud.deploy(platform_synth)
        api_id = stack.outputs["ApiUrl"].split("//", 1)[1].split(".", 1)[0]
        gateway = cloud.serve_api(api_id)
        function_urls = cloud.serve_stack_function_urls(stack)
        outputs = cloud.outputs_file(
            tmp_path / "outputs.json", api_url=gateway.url("prod") + "/", function_urls=function_urls
        )
        table = boto3.resource("dynamodb", endpoint_url=f"http://127.0.0.1:{port}").Table(
            stack.outputs["RegistryTableName"]
        )
        registry = ModelRegistry(table)  # the pipeline's own write path seeds three versions
        for run, status in (("run-1", "registered"), ("run-2", "registered"), ("run-3", "pending_approval")):
            registry.start_run(run, {"dataset": MODEL, "started_at": AT})
            registry.register_version(
                MODEL,
                {
                    "status": status,
                    "metrics": {"roc_auc": "0.9"},
                    "estimator": "random_forest",
                    "dataset": MODEL,
                    "dataset_version": "abc123",
                    "code_version": "0.1.0",
                },
                run_id=run,
                at=AT,
            )
        registry.set_alias(MODEL, "champion", 1, reason="first model", actor="pipeline", at=AT)
        yield outputs, json.loads(outputs.read_text())[stack.stack_name]


def _cli(capsys: pytest.CaptureFixture[str], outputs: Path, *argv: str) -> tuple[int, Any]:
    code = main([*argv, "--json", "--outputs", str(outputs)])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else captured.err


def _raw(
    url: str, method: str = "GET", headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=body)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_registry_routes_need_a_signed_request_not_a_prediction_key(
    deployment: tuple[Path, dict[str, str]],
) -> None:
    _, outputs = deployment
    url = outputs["ApiUrl"] + "v1/models"
    status, refused = _raw(url)
    assert (status, refused["error"]["code"]) == (401, "missing_authentication_token")
    assert "SigV4" in refused["error"]["message"]
    assert _raw(url, headers={"x-api-key": "a-prediction-key"})[0] == 401  # a key is no signature


def test_the_outputs_file_points_every_url_at_the_local_gateway(deployment: tuple[Path, dict[str, str]]) -> None:
    """The REST API at the local gateway, the predict function URL (and the template built on it)
    where the local cloud serves it."""
    _, outputs = deployment
    assert outputs["ApiUrl"].startswith("http://127.0.0.1:")
    assert outputs["PredictFunctionUrl"].startswith("http://127.0.0.1:") and outputs["PredictFunctionUrl"].endswith("/")
    assert outputs["PredictUrlTemplate"] == outputs["PredictFunctionUrl"] + "v1/models/{name}/predict"


def test_list_inspect_promote_rollback_approve_and_audit(
    deployment: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    outputs_file, _ = deployment
    code, listed = _cli(capsys, outputs_file, "models", "list")
    assert code == EXIT_OK and [m["model"] for m in listed["models"]] == [MODEL]
    code, shown = _cli(capsys, outputs_file, "models", "show", MODEL)
    assert shown["model"]["aliases"]["champion"]["version"] == 1
    assert [v["version"] for v in shown["versions"]] == [3, 2, 1]
    code, card = _cli(capsys, outputs_file, "models", "show", MODEL, "--version", "2")
    assert card["model_card"]["training_data"] == {"dataset": MODEL, "dataset_version": "abc123"}

    code, promoted = _cli(capsys, outputs_file, "promote", MODEL, "2", "--reason", "better on holdout")
    assert (code, promoted["alias"]["version"], promoted["alias"]["previous_version"]) == (EXIT_OK, 2, 1)
    code, rolled = _cli(capsys, outputs_file, "rollback", MODEL, "--reason", "v2 misbehaves in production")
    assert (code, rolled["alias"]["version"]) == (EXIT_OK, 1)

    code, error = _cli(capsys, outputs_file, "promote", MODEL, "3", "--reason", "not yet approved")
    # With --json a refusal is the API's own error body, on stdout.
    assert code == EXIT_REJECTED and error["status"] == 409 and "pending_approval" in error["error"]["message"]
    assert _cli(capsys, outputs_file, "models", "approve", MODEL, "3", "--reason", "risk review ok")[0] == EXIT_OK
    assert _cli(capsys, outputs_file, "promote", MODEL, "3", "--reason", "approved model")[0] == EXIT_OK
    code, error = _cli(capsys, outputs_file, "models", "archive", MODEL, "3", "--reason", "oops")
    assert code == EXIT_REJECTED and "champion" in error["error"]["message"]

    code, audit = _cli(capsys, outputs_file, "models", "audit", MODEL)
    steps = [(e["action"], e.get("after")) for e in reversed(audit["events"])]  # the API answers newest first
    assert steps[-5:] == [
        ("set_alias:champion", {"version": 1}),  # the seed
        ("set_alias:champion", {"version": 2}),
        ("set_alias:champion", {"version": 1}),  # the rollback
        ("approve", {"version": 3, "status": "registered"}),
        ("set_alias:champion", {"version": 3}),
    ]
    assert all(e["actor"] and e["reason"] for e in audit["events"])
    rollback = audit["events"][2]
    assert rollback["reason"] == "rollback: v2 misbehaves in production"


def test_errors_are_json_with_the_right_status(
    deployment: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    from mlopsctl.api import ApiError, call
    from mlopsctl.target import find_target

    outputs_file, _ = deployment
    target = find_target(outputs_file, None, None)
    cases = [
        ("GET", "/v1/models/nope", None, 404, "not_found"),
        ("GET", f"/v1/models/{MODEL}/versions/9", None, 404, "not_found"),
        ("PUT", f"/v1/models/{MODEL}/aliases/champion", {"version": 9, "reason": "missing"}, 404, "not_found"),
        ("PUT", f"/v1/models/{MODEL}/aliases/champion", {"version": "two", "reason": "x"}, 400, "invalid"),
        ("POST", "/v1/models/nope/rollback", {"reason": "nothing to roll back"}, 404, "not_found"),
    ]
    for method, path, body, status, code in cases:
        with pytest.raises(ApiError) as raised:
            call(target, method, path, body)
        assert (raised.value.status, raised.value.code) == (status, code), (path, raised.value.message)
    with pytest.raises(ApiError) as invalid:
        call(target, "PUT", f"/v1/models/{MODEL}/aliases/champion", {"version": "two", "reason": "x"})
    assert "version" in invalid.value.message and "reason" in invalid.value.message


def _champion_events(target: Any) -> list[dict[str, Any]]:
    from mlopsctl.api import call

    events = call(target, "GET", f"/v1/models/{MODEL}/audit")["events"]
    return [e for e in reversed(events) if e["action"] == "set_alias:champion"]  # oldest first


def test_two_racing_conditional_promotions_end_with_one_winner_and_a_409_saying_what_changed(
    deployment: tuple[Path, dict[str, str]],
) -> None:
    """Issue #9: a conditional-write conflict is reported, never lost. Both operators read champion
    v1 and promote at once, each naming v1 as what they expect to replace."""
    from concurrent.futures import ThreadPoolExecutor

    from mlopsctl.api import ApiError, call
    from mlopsctl.target import find_target

    outputs_file, _ = deployment
    target = find_target(outputs_file, None, None)
    call(target, "POST", f"/v1/models/{MODEL}/versions/3/approve", {"reason": "risk review ok"})
    before = _champion_events(target)

    def promote(version: int) -> tuple[int, str]:
        body = {"version": version, "reason": f"operator {version} promotes", "expected_version": 1}
        try:
            return 200, str(call(target, "PUT", f"/v1/models/{MODEL}/aliases/champion", body)["alias"]["version"])
        except ApiError as error:
            return error.status, error.message

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = dict(zip((2, 3), pool.map(promote, (2, 3)), strict=True))
    statuses = sorted(status for status, _ in outcomes.values())
    assert statuses == [200, 409], outcomes
    winner = next(v for v, (status, _) in outcomes.items() if status == 200)
    [(_, message)] = [o for o in outcomes.values() if o[0] == 409]
    assert f"champion of {MODEL} is version {winner}, not 1" in message
    champion = call(target, "GET", f"/v1/models/{MODEL}")["model"]["aliases"]["champion"]
    assert (champion["version"], champion["previous_version"]) == (winner, 1)
    events = _champion_events(target)
    assert len(events) == len(before) + 1, "exactly one promotion recorded"
    assert events[-1]["after"] == {"version": winner}


def test_a_repeated_promotion_and_a_retried_rollback_change_the_registry_once(
    deployment: tuple[Path, dict[str, str]],
) -> None:
    """The caller crashed after its write went through and sends the same request again: a repeated
    PUT of the alias is a no-op; a rollback that names the version it rolls back from is refused
    (409 naming the current version) instead of rolling back a second time."""
    from mlopsctl.api import ApiError, call
    from mlopsctl.target import find_target

    outputs_file, _ = deployment
    target = find_target(outputs_file, None, None)
    before = _champion_events(target)
    body = {"version": 2, "reason": "better on holdout"}
    first = call(target, "PUT", f"/v1/models/{MODEL}/aliases/champion", body)["alias"]
    again = call(target, "PUT", f"/v1/models/{MODEL}/aliases/champion", body)["alias"]
    keep = ("version", "previous_version", "history", "reason")
    assert (
        {k: again[k] for k in keep}
        == {k: first[k] for k in keep}
        == {
            "version": 2,
            "previous_version": 1,
            "history": [1],
            "reason": "better on holdout",
        }
    )
    assert len(_champion_events(target)) == len(before) + 1

    rollback = {"reason": "v2 misbehaves in production", "expected_version": 2}
    assert call(target, "POST", f"/v1/models/{MODEL}/rollback", rollback)["alias"]["version"] == 1
    with pytest.raises(ApiError) as retried:
        call(target, "POST", f"/v1/models/{MODEL}/rollback", rollback)
    assert (retried.value.status, retried.value.code) == (409, "conflict")
    assert f"champion of {MODEL} is version 1, not 2" in retried.value.message
    champion = call(target, "GET", f"/v1/models/{MODEL}")["model"]["aliases"]["champion"]
    assert champion["version"] == 1
    assert [e["after"] for e in _champion_events(target)[len(before) :]] == [{"version": 2}, {"version": 1}]
    with pytest.raises(ApiError) as invalid:
        call(target, "POST", f"/v1/models/{MODEL}/rollback", {"reason": "bad", "expected_version": 0})
    assert invalid.value.status == 400 and "expected_version" in invalid.value.message
