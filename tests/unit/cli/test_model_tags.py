"""`mlops models tag` and `--tag` as an operator uses them against a stand-in registry API: tags
refused before any call when the API would refuse them, the API's own 400 shown as it said it,
versions filtered by every tag given (across pages), tags shown where versions are."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from mlopsctl.api import ApiError
from mlopsctl.commands import EXIT_ERROR, EXIT_OK
from mlopsctl.main import main
from mlopsctl.target import Target


def _version(number: int, tags: dict[str, str]) -> dict[str, Any]:
    return {
        "version": number,
        "status": "registered",
        "created_at": "2026-12-05T10:00:00",
        "estimator": "logistic_regression",
        "metrics": {},
        "tags": tags,
    }


VERSIONS = [
    _version(3, {"owner": "ml", "stage": "beta"}),
    _version(2, {"owner": "ml"}),
    _version(1, {"owner": "ops", "stage": "beta"}),
]


@dataclass
class _Registry:
    """The registry API's answers: `cancer` with VERSIONS over two pages, `iris` with none tagged."""

    refuse: ApiError | None = None
    asked: list[tuple[str, str, Any, Any]] = field(default_factory=list)

    def call(self, target: Target, method: str, path: str, body: Any = None, query: Any = None) -> Any:
        self.asked.append((method, path, body, query))
        if self.refuse is not None:
            raise self.refuse
        if path == "/v1/models":
            return {"models": [{"model": "cancer", "latest_version": 3}, {"model": "iris", "latest_version": 1}]}
        if path == "/v1/models/cancer":
            return {"model": {"aliases": {"champion": {"version": 2}}, "latest_version": 3}}
        if path == "/v1/models/cancer/versions":
            if (query or {}).get("next_token") == "page-2":
                return {"versions": VERSIONS[2:], "next_token": None}
            return {"versions": VERSIONS[:2], "next_token": "page-2"}
        if path == "/v1/models/iris/versions":
            return {"versions": [_version(1, {})], "next_token": None}
        if method == "PUT":
            return {"version": {**VERSIONS[0], "tags": {**VERSIONS[0]["tags"], **body["tags"]}}}
        raise AssertionError(f"unexpected call {method} {path}")


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> _Registry:
    stand_in = _Registry()
    monkeypatch.setattr("mlopsctl.commands.models.deployment_target", lambda args: Target({"ApiUrl": "https://api/"}))
    monkeypatch.setattr("mlopsctl.api.call", stand_in.call)
    monkeypatch.setattr("mlopsctl.lifecycle.selection_metric", lambda target, version: None)
    return stand_in


def test_tag_sends_the_tags_and_shows_what_the_version_holds_after(
    registry: _Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "tag", "cancer", "3", "team=fraud", "note=a=b"]) == EXIT_OK
    assert registry.asked == [
        ("PUT", "/v1/models/cancer/versions/3/tags", {"tags": {"team": "fraud", "note": "a=b"}}, None)
    ]
    assert capsys.readouterr().out.strip() == "cancer v3 tags: note=a=b, owner=ml, stage=beta, team=fraud"


@pytest.mark.parametrize(
    ("argument", "said"),
    [
        ("owner", "tag 'owner': expected key=value"),
        ("=ml", "tag '=ml': the key is empty"),
        ("_owner=ml", "tag '_owner=ml': tag key '_owner': 1-128 characters, a letter or digit first"),
        ("own er=ml", "tag 'own er=ml': tag key 'own er': 1-128 characters"),
        ("k" * 129 + "=ml", "1-128 characters"),
        ("owner=" + "x" * 257, "the value must be text of at most 256 characters"),
        ("owner=m\x1bl", "a character that does not print (U+001B at 1)"),
    ],
)
def test_a_tag_the_api_would_refuse_is_refused_before_any_call_naming_it(
    registry: _Registry, capsys: pytest.CaptureFixture[str], argument: str, said: str
) -> None:
    assert main(["models", "tag", "cancer", "3", "team=fraud", argument]) == EXIT_ERROR
    assert registry.asked == []
    assert said in capsys.readouterr().err


def test_a_key_given_twice_and_a_bad_filter_are_refused_before_any_call(
    registry: _Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "tag", "cancer", "3", "owner=ml", "owner=ops"]) == EXIT_ERROR
    assert "owner is given twice" in capsys.readouterr().err
    assert main(["models", "list", "--tag", "owner"]) == EXIT_ERROR
    assert "tag 'owner': expected key=value" in capsys.readouterr().err
    assert main(["models", "show", "cancer", "--version", "3", "--tag", "owner=ml"]) == EXIT_ERROR
    assert "does not go with --version" in capsys.readouterr().err
    assert registry.asked == []


def test_the_apis_own_refusal_is_shown_as_it_said_it(registry: _Registry, capsys: pytest.CaptureFixture[str]) -> None:
    said = "cancer v3 would hold 51 tags; a version holds at most 50 (it has 50)"
    registry.refuse = ApiError(400, "invalid", said)
    assert main(["models", "tag", "cancer", "3", "one=more"]) == EXIT_ERROR
    assert capsys.readouterr().err.strip() == f"error: 400 invalid: {said}"


def test_list_with_tags_shows_the_versions_carrying_all_of_them_from_every_page(
    registry: _Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "list", "--tag", "stage=beta", "--tag", "owner=ml"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "cancer" and len(lines) == 2, "only v3 carries both; iris has none"
    assert lines[1].split()[0] == "v3" and lines[1].endswith("tags: owner=ml, stage=beta")
    pages = [query["next_token"] for _, path, _, query in registry.asked if path == "/v1/models/cancer/versions"]
    assert pages == [None, "page-2"]
    assert main(["models", "list", "--tag", "stage=beta"]) == EXIT_OK
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["cancer", "v3", "v1"]
    assert main(["models", "list", "--tag", "owner=nobody"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == "no version is tagged owner=nobody"


def test_show_lists_tags_and_filters_its_versions(registry: _Registry, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "show", "cancer"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["v3", "v2"], "the first page, unfiltered"
    assert lines[2].endswith("tags: owner=ml")
    assert main(["models", "show", "cancer", "--tag", "owner=ops"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["v1"]
    assert lines[1].endswith("tags: owner=ops, stage=beta")
