"""The predict function answers every recorded request exactly as the pre-#21 handler did: the same
status, headers and body bytes, and the same metrics (issue #21: "the same validation and the same
answers"). The answers were recorded from `bench/predict_before.py` by `predict_golden.py`. Changed
by hand since, on purpose: `huge-integer`'s message now says the integer is too large for a 64-bit
float rather than showing its first 40 digits; and every refusal's `RejectedRequests` metric line is
gone (its count is Lambda's free `Url4xxCount`, or API Gateway's `4XXError`), nothing else."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.handlers.predict_golden import GOLDEN, answer, cases, deployed

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
RECORDED: dict[str, Any] = json.loads(GOLDEN.read_text())
EVENTS = cases()


@pytest.fixture(scope="module")
def predict() -> Iterator[Any]:
    with deployed("handlers.predict") as module:
        yield module


def test_the_golden_file_covers_every_case() -> None:
    assert sorted(RECORDED) == sorted(EVENTS)


@pytest.mark.parametrize("case", sorted(EVENTS))
def test_the_answer_is_the_recorded_one_byte_for_byte(predict: Any, case: str) -> None:
    answered = answer(predict, EVENTS[case])
    recorded = RECORDED[case]
    assert answered["status"] == recorded["status"]
    assert answered["body"] == recorded["body"]
    assert answered["headers"] == recorded["headers"]
    assert answered["base64"] == recorded["base64"]
    assert answered["metrics"] == recorded["metrics"]
