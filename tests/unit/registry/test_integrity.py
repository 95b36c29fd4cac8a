"""Registry data can't be corrupted through the API (issue #17, item 3).

A fuzzer stored `{"tags": {"": "x"}}` with a 200, after which every read of that version and every
fresh predict container failed; a 450 KB tag value and a multipart body without a boundary answered
502. Here: the limits (DynamoDB's item size, AWS's tag rules, printable text), JSON-only bodies, old
corrupt records that reads tolerate, and a Hypothesis state machine that drives the registry API
with hostile values and checks after every step that every read route answers < 500 and a fresh
serving model set loads the champion. The handlers run in-process against moto, as in
tests/unit/handlers/test_hostile_input.py.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from moto import mock_aws

from localcloud.dynamodb import atomicity as dynamodb_atomicity
from localcloud.dynamodb import map_keys as dynamodb_map_keys
from mlops.registry.errors import RegistryError
from mlops.registry.keys import model_pk, table_definition, version_sk
from mlops.registry.limits import (
    MAX_ITEM_BYTES,
    item_size,
    readable_tags,
    tag_change,
    tag_problems,
    unprintable,
    value_size,
)
from mlops.registry.models import ModelRegistry
from mlops.serving.inputs import RequestError
from mlops.serving.models import ServedModels
from tests.unit.handlers.test_hostile_input import (
    AT,
    BUCKET,
    HANDLER_ENV,
    REGION,
    TABLE,
    Cloud,
    _assert_clean_error,
    _environment,
    _register,
    handlers_on,
    proxy_event,
)
from tests.unit.serving.support import churn

MODEL = "guarded"
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


# ------------------------------------------------------------------------ item size, as DynamoDB counts


def test_item_size_follows_dynamodbs_published_rules() -> None:
    """Worked from the rules in "DynamoDB item sizes and formats" (CapacityUnitCalculations.html)."""
    assert item_size({"name": "abc"}) == 4 + 3  # name bytes + UTF-8 bytes
    assert item_size({"é": "日本"}) == 2 + 6
    assert value_size(Decimal("12345")) == 3 + 1  # 1 byte per two significant digits, plus 1
    assert value_size(Decimal("1000000")) == value_size(1) == 2  # trailing zeroes trimmed
    assert value_size(Decimal("0.000123")) == 3  # leading zeroes trimmed: 123
    assert value_size(b"\x00\x01\x02") == 3  # raw bytes, not base64
    assert value_size(None) == value_size(True) == 1
    assert value_size({}) == value_size([]) == 3
    assert value_size({"ab": "xyz"}) == 3 + (2 + 3 + 1)  # map: 3, each element its name + value + 1
    assert value_size(["a", ["b"]]) == 3 + (1 + 1) + (3 + 1 + 1 + 1)
    assert item_size({"pk": "MODEL#m", "tags": {"k": "v"}}) == (2 + 7) + (4 + 3 + 1 + 1 + 1)


def test_the_limit_is_under_what_the_stores_refuse(registry_table: Any) -> None:
    """An item at the registry's limit is stored; one past DynamoDB's 409,600 bytes is refused by the
    local cloud too (so the check, not the store, is what answers)."""
    base = {"pk": "p", "sk": "s"}
    filler = MAX_ITEM_BYTES - item_size({**base, "x": ""})
    registry_table.put_item(Item={**base, "x": "a" * filler})
    assert item_size({**base, "x": "a" * filler}) == MAX_ITEM_BYTES
    with pytest.raises(registry_table.meta.client.exceptions.ClientError, match="size"):
        registry_table.put_item(Item={**base, "x": "a" * (400 * 1024)})


@pytest.mark.parametrize(
    "text",
    [
        "\x1b[31mred",
        "a\x00b",
        "zero\u200bwidth",
        "rtl\u202eoverride",
        "line\u2028sep",
        "\ud800",
        "\ue000",
        "\U000e0001",
    ],
)
def test_unprintable_characters_are_named(text: str) -> None:
    where = unprintable(text)
    assert where is not None and where.startswith("U+")


@pytest.mark.parametrize("text", ["plain", "café 日本 Ωμέγα", "emoji 🚀", "a b\tc"[:3], "x=1, y=[2]"])
def test_printable_text_passes(text: str) -> None:
    assert unprintable(text) is None


def test_tag_rules_name_each_problem() -> None:
    assert tag_problems({"team": "fraud", "stage:2": ""}) == []
    problems = tag_problems({"": "x", "ok": "\x07", "long": "v" * 257})
    assert len(problems) == 3 and "tag key ''" in problems[0]
    assert readable_tags({"": "x", "ok": "1"}) == {"ok": "1"}
    assert readable_tags("not a map") == {}


def test_a_tag_change_merges_drops_what_no_reader_accepts_and_says_so() -> None:
    """The rule ModelRegistry.tag applies, without the table."""
    change = tag_change("m", 2, {"": "x", "team": "fraud"}, {"stage": "prod"})
    assert (change.kept, change.merged) == ({"team": "fraud"}, {"team": "fraud", "stage": "prod"})
    assert change.reason == "tags changed; dropped stored tags no reader accepts: ''"
    not_a_map = tag_change("m", 2, "not-a-map", {"a": "1"})
    assert not_a_map.reason == "tags changed; replaced stored tags that were not a map"
    assert tag_change("m", 2, None, {"a": "1"}).reason == "tags changed"
    with pytest.raises(RegistryError, match="m v2 would hold 51 tags; a version holds at most 50 \\(it has 50\\)"):
        tag_change("m", 2, {f"k{i}": "v" for i in range(50)}, {"new": "v"})


# ------------------------------------------------------------------------------------------ the cloud


@pytest.fixture(scope="module")
def cloud() -> Iterator[Cloud]:
    """Bucket and table in moto holding the churn model's artifacts; the registry and predict handlers
    imported against them. Each test seeds the model it needs with `_seed`."""
    dynamodb_atomicity.install()
    dynamodb_map_keys.install()
    registered = churn()
    with _environment(HANDLER_ENV), mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        table = boto3.resource("dynamodb", region_name=REGION).create_table(**table_definition(TABLE))
        for key, body in registered.artifacts.items():
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        with handlers_on(table) as cloud:
            yield cloud


def _seed(cloud: Cloud) -> ModelRegistry:
    """An empty table, then MODEL with v1 and v2 registered (champion moved 1 -> 2) and v3 waiting
    for approval."""
    with cloud.table.batch_writer() as batch:
        for item in cloud.registry_state():
            batch.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
    registry = ModelRegistry(cloud.table)
    record = {k: v for k, v in churn().record.items() if k != "version"}  # the registry numbers them
    for run in ("run-1", "run-2"):
        version = _register(registry, MODEL, record, run)
        registry.set_alias(MODEL, "champion", version, reason="seeded", actor="test", at=AT)
    _register(registry, MODEL, {**record, "status": "pending_approval"}, "run-3")
    return registry


def _call(
    cloud: Cloud,
    method: str,
    path: str,
    body: Any = None,
    *,
    query: dict[str, str] | None = None,
    content_type: str | None = "application/json",
    raw: bytes | None = None,
    module: Any = None,
) -> tuple[int, Any]:
    """One request through the handler, routed as API Gateway routes it; the status and the JSON answer."""
    segments = path.strip("/").split("/")
    names = {2: "name", 4: "alias" if len(segments) > 4 and segments[3] == "aliases" else "version"}
    template = "/" + "/".join(
        f"{{{names[i]}}}" if i in names and i < len(segments) else s for i, s in enumerate(segments)
    )
    params = {names[i]: urllib.parse.unquote(segments[i]) for i in names if i < len(segments)}
    payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    event = proxy_event(
        method, path, template, params, payload, content_type, {k: [v] for k, v in (query or {}).items()}
    )
    response = cloud.call(module or cloud.registry_api, event)
    status = int(response["statusCode"])
    assert status < 500, (method, path, status, response.get("body", "")[:500])
    if status >= 300:
        _assert_clean_error(response)
    return status, json.loads(response["body"]) if response.get("body") else None


BODY_ROUTES = [
    (
        "PUT",
        f"/v1/models/{MODEL}/aliases/challenger",
        {"version": 2, "reason": "a canary", "rollout": {"mode": "shadow"}},
    ),
    ("POST", f"/v1/models/{MODEL}/rollback", {"reason": "it misbehaves"}),
    ("POST", f"/v1/models/{MODEL}/versions/3/approve", {"reason": "reviewed"}),
    ("POST", f"/v1/models/{MODEL}/versions/1/archive", {"reason": "retired"}),
    ("PUT", f"/v1/models/{MODEL}/versions/2/tags", {"tags": {"team": "fraud"}}),
]
NOT_JSON = [
    ("multipart/form-data", b"--x\r\n"),  # no boundary: Powertools raised ValueError("Missing boundary")
    (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="reason"\r\n\r\nbecause\r\n--x--\r\n',
    ),
    ("application/x-www-form-urlencoded", b"version=2&reason=because&tags=x"),
    ("text/plain", b'{"reason": "because"}'),
    ("application/jsonx", b'{"reason": "because"}'),
    ("application/xml", b"<reason>because</reason>"),
    ("", b'{"reason": "because"}'),
    (None, b'{"reason": "because"}'),
]


@pytest.mark.parametrize(("method", "path", "body"), BODY_ROUTES, ids=[r[1].rsplit("/", 1)[-1] for r in BODY_ROUTES])
@pytest.mark.parametrize(("content_type", "raw"), NOT_JSON, ids=[str(c) for c, _ in NOT_JSON])
def test_only_json_bodies_reach_the_registry(
    cloud: Cloud, method: str, path: str, body: Any, content_type: str | None, raw: bytes
) -> None:
    """Multipart (with or without a boundary), form and any other type: 415 in the error shape, and the
    registry as it was; a form body once went through the resolver's form parser to the route."""
    _seed(cloud)
    before = cloud.registry_state()
    status, answer = _call(cloud, method, path, raw=raw, content_type=content_type)
    assert status == 415, answer
    assert answer["error"]["code"] == "unsupported_media_type"
    assert cloud.registry_state() == before


@pytest.mark.parametrize("content_type", ["application/json", "APPLICATION/JSON", "application/json; charset=utf-8"])
def test_json_in_any_spelling_is_read(cloud: Cloud, content_type: str) -> None:
    _seed(cloud)
    status, answer = _call(
        cloud, "PUT", f"/v1/models/{MODEL}/versions/2/tags", {"tags": {"team": "fraud"}}, content_type=content_type
    )
    assert status == 200 and answer["version"]["tags"] == {"team": "fraud"}


def test_reads_need_no_content_type(cloud: Cloud) -> None:
    _seed(cloud)
    assert _call(cloud, "GET", f"/v1/models/{MODEL}/versions", content_type="multipart/form-data")[0] == 200
    status, _ = _call(
        cloud, "DELETE", f"/v1/models/{MODEL}/aliases/champion", query={"reason": "retire it"}, content_type=None
    )
    assert status == 200


HOSTILE_TEXT = {
    "escape": "\x1b]0;pwned\x07 ok",
    "nul": "a\x00b",
    "bidi": "safe\u202etxt.exe",
    "zero-width": "cham\u200bpion",
    "lone-surrogate": "\ud800 half",
    "private-use": "\ue000\ue001\ue002",
    "line-separator": "one\u2028two",
}


@pytest.mark.parametrize("text", HOSTILE_TEXT.values(), ids=HOSTILE_TEXT.keys())
def test_unprintable_text_never_reaches_the_registry(cloud: Cloud, text: str) -> None:
    """Tag values and reasons are shown in terminals and tables: control, format and unassigned
    characters are refused, in bodies and in the query string alike."""
    _seed(cloud)
    before = cloud.registry_state()
    requests: list[tuple[str, str, Any, dict[str, str] | None]] = [
        ("PUT", f"/v1/models/{MODEL}/versions/2/tags", {"tags": {"note": text}}, None),
        ("POST", f"/v1/models/{MODEL}/versions/3/approve", {"reason": text}, None),
        ("POST", f"/v1/models/{MODEL}/versions/1/archive", {"reason": text}, None),
        ("POST", f"/v1/models/{MODEL}/rollback", {"reason": text}, None),
        ("PUT", f"/v1/models/{MODEL}/aliases/champion", {"version": 1, "reason": text}, None),
        ("DELETE", f"/v1/models/{MODEL}/aliases/champion", None, {"reason": text}),
    ]
    for method, path, body, query in requests:
        status, answer = _call(cloud, method, path, body, query=query)
        assert status == 400, (path, answer)
        assert "print" in answer["error"]["message"] or "unicode" in answer["error"]["message"], answer
    assert cloud.registry_state() == before


def test_printable_unicode_is_stored_and_read_back(cloud: Cloud) -> None:
    _seed(cloud)
    tags = {"owner": "Zoë Ångström", "note": "模型 v2 🚀", "empty": ""}
    assert _call(cloud, "PUT", f"/v1/models/{MODEL}/versions/2/tags", {"tags": tags})[0] == 200
    status, answer = _call(cloud, "GET", f"/v1/models/{MODEL}/versions/2")
    assert status == 200 and answer["version"]["tags"] == tags and answer["model_card"]["tags"] == tags


def test_tags_merge_to_at_most_fifty(cloud: Cloud) -> None:
    """Each request holds at most 50 tags, and so does the version after merging them: 50 a request,
    merged without a bound, once grew a record until DynamoDB refused it (502)."""
    _seed(cloud)
    first = {f"a{i}": "v" * 256 for i in range(50)}
    assert _call(cloud, "PUT", f"/v1/models/{MODEL}/versions/2/tags", {"tags": first})[0] == 200
    before = cloud.registry_state()
    status, answer = _call(cloud, "PUT", f"/v1/models/{MODEL}/versions/2/tags", {"tags": {"b0": "x"}})
    assert status == 400 and "at most 50" in answer["error"]["message"]
    assert cloud.registry_state() == before
    replaced = {f"a{i}": "w" for i in range(50)}  # overwriting keys it holds stays within 50
    assert _call(cloud, "PUT", f"/v1/models/{MODEL}/versions/2/tags", {"tags": replaced})[0] == 200


def test_a_write_past_dynamodbs_item_limit_is_a_400_before_anything_is_written(cloud: Cloud) -> None:
    """A version whose record is already near 400 KB: tagging it would pass the limit, and is refused
    with the sizes named, not sent to DynamoDB to fail as a 502."""
    registry = _seed(cloud)
    record = registry.get_version(MODEL, 2)
    assert record is not None
    room = MAX_ITEM_BYTES - item_size({**record, "notes": ""}) - 1_000
    cloud.table.update_item(
        Key={"pk": model_pk(MODEL), "sk": version_sk(2)},
        UpdateExpression="SET notes = :n",
        ExpressionAttributeValues={":n": "n" * room},
    )
    before = cloud.registry_state()
    tags = {f"k{i}": "🚀" * 64 for i in range(10)}  # 10 x 256 UTF-8 bytes: past the room left
    status, answer = _call(cloud, "PUT", f"/v1/models/{MODEL}/versions/2/tags", {"tags": tags})
    assert status == 400 and "400,000" in answer["error"]["message"], answer
    assert cloud.registry_state() == before
    assert _call(cloud, "PUT", f"/v1/models/{MODEL}/versions/2/tags", {"tags": {"k": "small"}})[0] == 200


def test_an_oversized_registration_is_refused_before_the_write(cloud: Cloud) -> None:
    registry = _seed(cloud)
    registry.start_run("run-huge", {"dataset": "churn", "started_at": AT})
    with pytest.raises(RegistryError, match="400,000") as refused:
        registry.register_version(MODEL, {**churn().record, "notes": "n" * MAX_ITEM_BYTES}, run_id="run-huge", at=AT)
    assert refused.value.code == "invalid"
    assert registry.get_version(MODEL, 4) is None


@pytest.mark.parametrize("weight", [1e-200, 5e-324, 0.123456789012345678, 1.0, 0.0])
def test_any_canary_weight_in_range_is_stored_to_a_millionth(cloud: Cloud, weight: float) -> None:
    """1e-200 is a valid float from 0 to 1 that DynamoDB's numbers cannot hold (their floor is 1e-130):
    it once failed the write as a 5xx."""
    _seed(cloud)
    body = {"version": 1, "reason": "canary", "rollout": {"mode": "canary", "weight": weight}}
    status, answer = _call(cloud, "PUT", f"/v1/models/{MODEL}/aliases/challenger", body)
    assert status == 200, answer
    assert answer["alias"]["rollout"]["weight"] == round(weight, 6)


# ------------------------------------------------------------------------- corrupt records from before


def _plant(cloud: Cloud, version: int, tags: Any) -> None:
    """Write a version's tags directly, as a write from before tags were checked stored them."""
    cloud.table.update_item(
        Key={"pk": model_pk(MODEL), "sk": version_sk(version)},
        UpdateExpression="SET tags = :t",
        ExpressionAttributeValues={":t": tags},
    )


def _reads(cloud: Cloud) -> dict[str, Any]:
    """Every read route, each asserted < 500 by `_call`; what they answered."""
    answers: dict[str, Any] = {}
    for path in (
        f"/v1/models/{MODEL}",
        f"/v1/models/{MODEL}/versions",
        f"/v1/models/{MODEL}/audit",
        *(f"/v1/models/{MODEL}/versions/{v}" for v in (1, 2, 3)),
    ):
        answers[path] = _call(cloud, "GET", path)
    answers["tag filter"] = _call(cloud, "GET", f"/v1/models/{MODEL}/versions", query={"tag": "team=fraud"})
    cloud.predict.services.forget()  # a fresh container: nothing cached
    answers["signature"] = _call(cloud, "GET", f"/v1/models/{MODEL}/signature", module=cloud.predict)
    return answers


def _fresh_models(cloud: Cloud) -> ServedModels:
    s3 = boto3.client("s3", region_name=REGION)
    return ServedModels(
        registry=ModelRegistry(cloud.table),
        read_artifact=lambda key: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read(),
    )


@pytest.mark.parametrize(
    "stored",
    [{"": "x", "team": "fraud"}, {"": {"nested": ""}}, {"bad key\n": "\x1b[2J"}, "not-a-map", ["a", "b"]],
    ids=["empty-key", "empty-key-map", "control", "string", "list"],
)
def test_reads_tolerate_tags_stored_before_they_were_checked(cloud: Cloud, stored: Any) -> None:
    """A version whose tags no write accepts now (an empty key from before this fix): every read
    route answers, the model set loads, the version can still be approved, archived and promoted,
    and the next tag write drops the unreadable keys and says so in the audit trail."""
    _seed(cloud)
    _plant(cloud, 2, stored)
    _plant(cloud, 3, stored)
    answers = _reads(cloud)
    assert answers[f"/v1/models/{MODEL}/versions/2"][0] == 200
    assert answers["signature"][0] == 200 and answers["signature"][1]["version"] == 2
    served = _fresh_models(cloud).rollout(MODEL)
    assert served.champion.version == 2
    assert _call(cloud, "POST", f"/v1/models/{MODEL}/versions/3/approve", {"reason": "reviewed"})[0] == 200
    assert _call(cloud, "PUT", f"/v1/models/{MODEL}/aliases/champion", {"version": 3, "reason": "newer"})[0] == 200
    assert _call(cloud, "POST", f"/v1/models/{MODEL}/rollback", {"reason": "back"})[0] == 200
    status, answer = _call(cloud, "PUT", f"/v1/models/{MODEL}/versions/3/tags", {"tags": {"fixed": "yes"}})
    assert status == 200, answer
    kept = readable_tags(stored)
    assert answer["version"]["tags"] == {**kept, "fixed": "yes"}
    events = _call(cloud, "GET", f"/v1/models/{MODEL}/audit")[1]["events"]
    assert events[0]["action"] == "tag" and ("dropped" in events[0]["reason"] or "not a map" in events[0]["reason"])
    assert _call(cloud, "POST", f"/v1/models/{MODEL}/versions/1/archive", {"reason": "retired"})[0] == 200
    _reads(cloud)


# --------------------------------------------------------------------------- the stateful test


def mostly(valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Valid values three times in four, so sequences reach promotions, canaries and rollbacks."""
    return st.integers(0, 3).flatmap(lambda i: hostile if i == 0 else valid)


VERSIONS = mostly(st.integers(1, 3), st.integers(0, 5))
ALIASES = st.sampled_from(["champion", "challenger", "champion", "challenger", "shadow-1"])
valid_reasons = st.sampled_from(["because", "rolling out v2", "reviewed by ops", "émoji 🚀 ok", "'; DROP TABLE x"])
hostile_text = st.one_of(
    st.sampled_from(["", "ok", "x" * 501, *HOSTILE_TEXT.values()]),
    st.text(max_size=40),
)
reasons = mostly(valid_reasons, hostile_text)
valid_tags = st.dictionaries(
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:/=+@-]{0,20}", fullmatch=True),
    st.one_of(valid_reasons, st.just(""), st.just("🚀" * 256), st.text(st.characters(codec="utf-8"), max_size=20)),
    min_size=1,
    max_size=6,
)
hostile_tags = st.one_of(
    st.dictionaries(
        st.one_of(st.sampled_from(["", " ", "k" * 129, "bad\nkey", "ключ", "🚀"]), st.text(max_size=10)),
        st.one_of(hostile_text, st.just("v" * 257)),
        max_size=4,
    ),
    st.builds(lambda n: {f"k{i}": "v" * 256 for i in range(n)}, st.integers(1, 60)),
)
tag_maps = mostly(valid_tags, hostile_tags)
weights = st.one_of(
    st.floats(min_value=0, max_value=1),
    st.sampled_from([1e-200, 5e-324, 0.1 + 0.2, 1.0000000000000002, 2.0, -0.1]),
    st.floats(allow_nan=True, allow_infinity=True),
)
rollouts = mostly(
    st.one_of(
        st.none(),
        st.builds(lambda w: {"mode": "canary", "weight": w}, st.floats(min_value=0, max_value=1)),
        st.just({"mode": "shadow"}),
    ),
    st.one_of(
        st.builds(lambda w: {"mode": "canary", "weight": w}, weights),
        st.builds(lambda w: {"mode": "shadow", "weight": w}, weights),
        st.just({"mode": "blue"}),
    ),
)
NOT_JSON_TYPES = st.sampled_from([c for c, _ in NOT_JSON])


class RegistryAPI(RuleBasedStateMachine):
    """Any sequence of registry calls with hostile values; after each, every read answers < 500, a
    refused call changed nothing, and a fresh serving model set loads the champion."""

    cloud: Cloud

    def __init__(self) -> None:
        super().__init__()
        self.registry = _seed(self.cloud)

    def _write(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> int:
        before = self.cloud.registry_state()
        status, _ = _call(self.cloud, method, path, body, query=query)
        if status >= 400:
            assert self.cloud.registry_state() == before, f"a refused {method} {path} changed the registry"
        return status

    @rule(version=VERSIONS, tags=tag_maps)
    def tag(self, version: int, tags: dict[str, str]) -> None:
        status = self._write("PUT", f"/v1/models/{MODEL}/versions/{version}/tags", {"tags": tags})
        if status == 200:
            assert not tag_problems(tags)

    @rule(version=VERSIONS, reason=reasons)
    def approve(self, version: int, reason: str) -> None:
        self._write("POST", f"/v1/models/{MODEL}/versions/{version}/approve", {"reason": reason})

    @rule(version=VERSIONS, reason=reasons)
    def archive(self, version: int, reason: str) -> None:
        self._write("POST", f"/v1/models/{MODEL}/versions/{version}/archive", {"reason": reason})

    @rule(
        alias=ALIASES,
        version=VERSIONS,
        reason=reasons,
        rollout=rollouts,
        expected=st.one_of(st.none(), VERSIONS),
        allow=st.booleans(),
    )
    def set_alias(self, alias: str, version: int, reason: str, rollout: Any, expected: int | None, allow: bool) -> None:
        body: dict[str, Any] = {"version": version, "reason": reason, "allow_signature_change": allow}
        if rollout is not None:
            body["rollout"] = rollout
        if expected is not None:
            body["expected_version"] = expected
        self._write("PUT", f"/v1/models/{MODEL}/aliases/{alias}", body)

    @rule(alias=ALIASES, reason=reasons)
    def remove_alias(self, alias: str, reason: str) -> None:
        self._write("DELETE", f"/v1/models/{MODEL}/aliases/{alias}", query={"reason": reason})

    @rule(alias=ALIASES, reason=reasons, expected=st.one_of(st.none(), VERSIONS))
    def rollback(self, alias: str, reason: str, expected: int | None) -> None:
        body: dict[str, Any] = {"reason": reason, "alias": alias}
        if expected is not None:
            body["expected_version"] = expected
        self._write("POST", f"/v1/models/{MODEL}/rollback", body)

    @rule(content_type=NOT_JSON_TYPES, version=VERSIONS)
    def not_json(self, content_type: str | None, version: int) -> None:
        before = self.cloud.registry_state()
        status, _ = _call(
            self.cloud,
            "PUT",
            f"/v1/models/{MODEL}/versions/{version}/tags",
            raw=b"tags=x",
            content_type=content_type,
        )
        assert status == 415 and self.cloud.registry_state() == before

    @rule(version=st.integers(1, 3), stored=st.sampled_from([{"": "x"}, {"": "x", "ok": "1"}, "text"]))
    def legacy_record(self, version: int, stored: Any) -> None:
        """A record written before tags were checked (directly, as an old write did)."""
        _plant(self.cloud, version, stored)

    @invariant()
    def every_read_answers_and_the_champion_loads(self) -> None:
        answers = _reads(self.cloud)
        model = answers[f"/v1/models/{MODEL}"][1]["model"]
        for v in (1, 2, 3):
            status, answer = answers[f"/v1/models/{MODEL}/versions/{v}"]
            assert status == 200 and answer["model_card"]["version"] == v
        champion = model["aliases"].get("champion")
        try:
            served = self.cloud.predict.services().serving.models.rollout(MODEL)  # the fresh set `_reads` used
        except RequestError as error:
            assert champion is None and error.status == 404, error
            return
        assert champion is not None and served.champion.version == champion["version"]
        assert answers["signature"][1]["version"] == champion["version"]


def test_no_sequence_of_api_calls_makes_a_stored_version_unreadable(cloud: Cloud) -> None:
    RegistryAPI.cloud = cloud
    run_state_machine_as_test(
        RegistryAPI,
        settings=settings(
            max_examples=15,
            stateful_step_count=10,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
