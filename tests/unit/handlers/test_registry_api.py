"""The registry API as an operator's client meets it: answers, the error shape for every refusal, and
the signature check before a canary or shadow starts. The registry is a fake that records what it
was asked; the versions' signatures are real ones in a dict bucket."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from mlops.buckets import ArtifactsBucket
from mlops.monitoring.performance_record import PerformanceSummary
from mlops.registry.errors import RegistryError
from mlops.registry.models import ModelRegistry
from tests.unit.handlers.support import QUIET, Context, FakeS3, loaded, rest_event
from tests.unit.monitoring.performance_support import assess, cancer_window
from tests.unit.serving.support import breast_cancer, churn

pytestmark = QUIET
BUCKET = "artifacts"
MODEL = "churn"
TESTER = "arn:aws:iam::123456789012:user/tester"


@pytest.fixture(scope="module")
def registry_api() -> Iterator[Any]:
    with loaded("handlers.registry_api") as module:
        yield module


@dataclass
class FakeRegistry:
    """A registry with churn v1 (champion), v2 (same inputs) and v3 (other inputs); every change is
    recorded, and a `refusal` is raised as the registry raises its own."""

    records: dict[int, dict[str, Any]]
    aliases: dict[str, dict[str, Any]] = field(default_factory=lambda: {"champion": {"version": 1}})
    changes: list[dict[str, Any]] = field(default_factory=list)
    refusal: RegistryError | None = None
    performance_rows: list[dict[str, Any]] = field(default_factory=list)  # as DynamoDB hands them back

    def list_models(self, *, limit: int = 50, next_token: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        return [{"model": MODEL, "aliases": self.aliases}][:limit], None

    def get_model(self, name: str) -> dict[str, Any]:
        if name != MODEL:
            raise RegistryError("not_found", f"no model named {name!r}")
        return {"model": MODEL, "aliases": self.aliases}

    def get_version(self, name: str, version: int) -> dict[str, Any] | None:
        return self.records.get(version) if name == MODEL else None

    def get_alias(self, name: str, alias: str) -> dict[str, Any] | None:
        return self.aliases.get(alias) if name == MODEL else None

    def performance_results(self, name: str, *, limit: int = 100) -> list[dict[str, Any]]:
        return self.performance_rows[:limit] if name == MODEL else []

    def set_alias(self, name: str, alias: str, version: int, **change: Any) -> dict[str, Any]:
        if self.refusal is not None:
            raise self.refusal
        self.changes.append({"model": name, "alias": alias, "version": version, **change})
        self.aliases[alias] = {"version": version, "rollout": change.get("rollout")}
        return {"model": name, "alias": alias, "version": version}


@dataclass
class Api:
    module: Any
    registry: FakeRegistry

    def call(self, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = self.module.handler(event, Context())
        return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def api(registry_api: Any) -> Iterator[Api]:
    s3 = FakeS3()
    records = {}
    for version, registered in ((1, churn()), (2, churn()), (3, breast_cancer())):
        for key, body in registered.artifacts.items():
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        records[version] = {**registered.record, "model": MODEL, "version": version}
    registry = FakeRegistry(records)
    services = registry_api.RegistryApiServices(cast(ModelRegistry, registry), ArtifactsBucket(s3, BUCKET))
    with registry_api.services.replaced(services):
        yield Api(registry_api, registry)


def _alias(alias: str, body: Any, **options: Any) -> dict[str, Any]:
    return rest_event(
        "PUT",
        f"/v1/models/{MODEL}/aliases/{alias}",
        "/v1/models/{name}/aliases/{alias}",
        {"name": MODEL, "alias": alias},
        body=body,
        **options,
    )


def test_models_are_listed(api: Api) -> None:
    status, body = api.call(rest_event("GET", "/v1/models", "/v1/models", {}, query={"limit": "10"}))
    assert status == 200, body
    assert body == {"models": [{"model": MODEL, "aliases": {"champion": {"version": 1}}}], "next_token": None}


def test_a_version_is_shown_with_its_model_card_and_an_unknown_one_is_a_404(api: Api) -> None:
    path = "/v1/models/{name}/versions/{version}"
    status, body = api.call(rest_event("GET", f"/v1/models/{MODEL}/versions/1", path, {"name": MODEL, "version": "1"}))
    assert status == 200, body
    assert body["version"]["version"] == 1 and body["model_card"]["version"] == 1
    status, body = api.call(rest_event("GET", f"/v1/models/{MODEL}/versions/9", path, {"name": MODEL, "version": "9"}))
    assert status == 404 and body["error"] == {"code": "not_found", "message": f"{MODEL} has no version 9"}


def test_a_promotion_is_made_by_the_caller_for_the_reason_given(api: Api) -> None:
    status, body = api.call(_alias("champion", {"version": 2, "reason": "better recall", "expected_version": 1}))
    assert status == 200, body
    assert body == {"alias": {"model": MODEL, "alias": "champion", "version": 2}}
    [change] = api.registry.changes
    assert (change["version"], change["reason"], change["actor"], change["expected_version"]) == (
        2,
        "better recall",
        TESTER,
        1,
    )


def test_a_canary_whose_inputs_differ_is_refused_unless_allowed(api: Api) -> None:
    canary = {"version": 3, "reason": "try it", "rollout": {"mode": "canary", "weight": 0.1}}
    status, body = api.call(_alias("challenger", canary))
    assert status == 409 and body["error"]["code"] == "conflict", body
    assert "would refuse requests the champion accepts" in body["error"]["message"]
    assert "A canary would fail its share of traffic" in body["error"]["message"]
    assert api.registry.changes == []
    status, body = api.call(_alias("challenger", {**canary, "allow_signature_change": True}))
    assert status == 200, body
    [change] = api.registry.changes
    assert change["reason"].startswith("try it [signature change allowed: ")
    assert change["rollout"] == {"mode": "canary", "weight": 0.1}


def test_a_shadow_with_the_same_inputs_starts_without_a_note(api: Api) -> None:
    shadow = {"version": 2, "reason": "same inputs", "rollout": {"mode": "shadow"}}
    status, body = api.call(_alias("challenger", shadow))
    assert status == 200, body
    assert api.registry.changes[0]["reason"] == "same inputs"


def test_what_the_registry_refuses_keeps_its_code_and_status(api: Api) -> None:
    api.registry.refusal = RegistryError("conflict", "churn version 2 is archived: it cannot be champion")
    status, body = api.call(_alias("champion", {"version": 2, "reason": "promote"}))
    assert status == 409
    assert body["error"] == {"code": "conflict", "message": "churn version 2 is archived: it cannot be champion"}


@pytest.mark.parametrize(
    ("body", "headers", "status", "words"),
    [
        ({"version": 2, "reason": "no"}, None, 400, "reason"),
        ({"version": 0, "reason": "promote"}, None, 400, "version"),
        ("version=2", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "application/json"),
        ('{"version": 2,', {"Content-Type": "application/json"}, 400, ""),
    ],
    ids=["short-reason", "version-0", "form-body", "broken-json"],
)
def test_a_request_the_routes_refuse_is_a_4xx_in_the_error_shape(
    api: Api, body: Any, headers: dict[str, str] | None, status: int, words: str
) -> None:
    answered, document = api.call(_alias("champion", body, headers=headers))
    assert answered == status, document
    assert words in document["error"]["message"]
    assert api.registry.changes == []


def test_a_body_that_is_not_utf8_is_refused(api: Api) -> None:
    event = _alias("champion", base64.b64encode(b'{"version": 2, "reason": "\xff\xfe"}').decode())
    event["isBase64Encoded"] = True
    event["headers"]["Content-Type"] = "application/json"
    status, body = api.call(event)
    assert status == 400 and body["error"]["code"] == "invalid"


def test_an_unknown_model_is_a_404(api: Api) -> None:
    path = "/v1/models/{name}"
    status, body = api.call(rest_event("GET", "/v1/models/nope", path, {"name": "nope"}))
    assert status == 404 and body["error"]["code"] == "not_found"


def test_performance_checks_are_listed_newest_first_as_plain_numbers(api: Api) -> None:
    """The rows hold Decimals (DynamoDB's numbers) and the table's keys; the answer is plain JSON."""
    summary = assess(cancer_window(), config={"floor": {"accuracy": 0.9}}, resamples=50).summary()
    for day in (3, 2, 1):
        checked_at = f"2026-12-0{day}T00:00:00+00:00"
        keys = {"pk": f"MODEL#{MODEL}", "sk": f"PERFORMANCE#{checked_at}"}
        api.registry.performance_rows.append({**summary.attributes(), **keys, "checked_at": checked_at})
    path = "/v1/models/{name}/performance"
    event = rest_event("GET", f"/v1/models/{MODEL}/performance", path, {"name": MODEL}, query={"limit": "2"})
    status, body = api.call(event)
    assert status == 200, body
    assert [c["checked_at"][:10] for c in body["checks"]] == ["2026-12-03", "2026-12-02"]
    [variant] = body["checks"][0]["variants"]
    accuracy = summary.variants[0].metrics["accuracy"]
    assert variant["metrics"]["accuracy"] == accuracy.model_dump() and "pk" not in body["checks"][0]
    assert PerformanceSummary.from_item(body["checks"][0]).variants == summary.variants


@pytest.mark.parametrize(("name", "limit", "status"), [("nope", "5", 404), (MODEL, "0", 400), (MODEL, "501", 400)])
def test_performance_of_an_unknown_model_or_with_a_bad_limit_is_refused(
    api: Api, name: str, limit: str, status: int
) -> None:
    path = "/v1/models/{name}/performance"
    event = rest_event("GET", f"/v1/models/{name}/performance", path, {"name": name}, query={"limit": limit})
    answered, body = api.call(event)
    assert answered == status and body["error"]["code"] in ("not_found", "invalid"), body
