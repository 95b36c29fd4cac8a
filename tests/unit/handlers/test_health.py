"""GET /v1/health as a prediction client meets it: the platform answers, naming its version and
the stack that serves it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from mlops import __version__
from tests.unit.handlers.support import QUIET, Context, loaded, rest_event

pytestmark = QUIET


@pytest.fixture(scope="module")
def health() -> Iterator[Any]:
    with loaded("handlers.health") as module:
        yield module


def _call(health: Any) -> tuple[int, dict[str, Any]]:
    response = health.handler(rest_event("GET", "/v1/health", "/v1/health", {}), Context())
    return response["statusCode"], json.loads(response["body"])


def test_the_platform_answers_with_its_version_and_stack(health: Any) -> None:
    with health.settings.replaced(health.HealthSettings(platform_stack_name="ServerlessMlops")):
        assert _call(health) == (200, {"status": "ok", "platform_version": __version__, "stack": "ServerlessMlops"})


def test_the_stack_is_read_from_the_functions_environment_once(health: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORM_STACK_NAME", "Staging")
    health.settings.forget()
    assert _call(health)[1]["stack"] == "Staging"
    monkeypatch.setenv("PLATFORM_STACK_NAME", "Elsewhere")  # a container keeps what it read
    assert _call(health)[1]["stack"] == "Staging"
    monkeypatch.delenv("PLATFORM_STACK_NAME")
    health.settings.forget()
    assert _call(health)[1]["stack"] == "unknown"
