"""Which prediction a client's own key names (issue #19): a label may name its prediction by the
`x-request-key` the request carried, or by the id field `monitoring.performance.id_field` names in
each row, instead of the request id the answer carried.

A key says nothing about when its prediction was made, so it cannot be joined by hour as a request id
is: the predict function records, as each capture batch is written, which request id (and row) each
key was answered with, and a label's key is turned into that request id when the label arrives.
A key used by several requests names the latest one recorded before the label arrived (a client that
scores the same customer daily labels the prediction it acted on by its request id instead). Every
request of a model whose labels are joined is captured, but a key is recorded only once its batch
lands (up to the capture age later): a label sent by key sooner than that after a newer prediction
with the same key names the one before it.

One DynamoDB table: partition key `<model>#key#<request key>` or `<model>#id#<id>`, sort key the
request id (a UUIDv7, so sort order is answer order) with `#<row>` after it for an id, and
`expires_at` (DynamoDB's TTL) the model's label horizon after the answer. Keys and ids are text of at
most MAX_KEY_LENGTH characters; an id sent as a whole number is its decimal text. boto3's low-level
client only: the predict layer has no pydantic, and the client is shared by the resolving threads.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

MAX_KEY_LENGTH: Final = 256  # characters of a request key or id that is recorded (longer ones are not)
BATCH_WRITE_ITEMS: Final = 25  # DynamoDB's BatchWriteItem limit
WRITE_ATTEMPTS: Final = 5  # unprocessed items are sent again, with backoff, this many times in all
RESOLVING_THREADS: Final = 16  # queries in flight while a submission's keys are resolved
# PerformanceConfig.horizon_days' default, for a stored section without it (a test holds them equal;
# pydantic is not imported here: the predict function has none).
DEFAULT_HORIZON_DAYS: Final = 14.0
EXPIRY_ATTRIBUTE: Final = "expires_at"  # the table's TTL attribute (epoch seconds)

KeyKind = Literal["key", "id"]


@dataclass(frozen=True)
class PredictionKey:
    """What a label may name its prediction by instead of a request id."""

    kind: KeyKind  # "key": the request's x-request-key; "id": the row's id field
    value: str

    def partition(self, model: str) -> str:
        return f"{model}#{self.kind}#{self.value}"


@dataclass(frozen=True)
class KeyedPrediction:
    """One key a captured request was answered with: the request's key (row None), or a row's id."""

    key: PredictionKey
    request_id: str
    row: int | None


@dataclass(frozen=True)
class ResolvedKey:
    """The prediction a key names: its request id, the id's row (None for a request key: the label
    says which row), and whether the key named more than one prediction before the label arrived."""

    request_id: str
    row: int | None
    reused: bool


@dataclass(frozen=True)
class KeyPolicy:
    """Whether a model's predictions are recorded by key, from its champion's stored `monitoring`
    section: only a model whose labels are joined (`monitoring.performance`) records any."""

    id_field: str | None
    horizon: timedelta


def key_policy(monitoring: Mapping[str, Any] | None) -> KeyPolicy | None:
    performance = (monitoring or {}).get("performance")
    if not isinstance(performance, Mapping):
        return None
    id_field = performance.get("id_field")
    return KeyPolicy(
        id_field if isinstance(id_field, str) and id_field else None, _horizon(performance.get("horizon_days"))
    )


def _horizon(days: Any) -> timedelta:
    """`horizon_days` as stored (a number, or DynamoDB's Decimal); the default when absent or not positive."""
    try:
        value = float(days) if not isinstance(days, bool) else math.nan
    except (TypeError, ValueError, OverflowError):
        value = math.nan
    return timedelta(days=value if math.isfinite(value) and value > 0 else DEFAULT_HORIZON_DAYS)


def recordable(value: Any) -> str | None:
    """A request key or id as it is recorded and looked up: text, or a whole number as its decimal
    text (17 and 17.0 are "17": pandas turns an int column with a gap into floats); None for anything
    else (null, a boolean, a fraction, an object) or text past MAX_KEY_LENGTH."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        return None
    return text if 0 < len(text) <= MAX_KEY_LENGTH else None


def _issued_bound(at: datetime) -> str:
    """A sort key above every request id issued at or before `at` and below every later one: a UUIDv7's
    text starts with its 48-bit millisecond time in hex, and "~" sorts after every hex digit and "-"."""
    ms = (at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    digits = f"{ms:012x}"
    return f"{digits[:8]}-{digits[8:]}-~"


class PredictionKeys:
    """The table of keys captured predictions were answered with."""

    def __init__(self, client: Any, table: str, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self._table = table
        self._sleep = sleep

    def record(self, model: str, keyed: Sequence[KeyedPrediction], expires_at: datetime) -> None:
        """Write the keys of one capture batch (a rewrite of the same key, request and row is the
        same item: a retried batch adds nothing). Raises when DynamoDB keeps items unprocessed."""
        expires = str(int(expires_at.timestamp()))
        items: dict[tuple[str, str], dict[str, Any]] = {}
        for entry in keyed:
            sort = entry.request_id if entry.row is None else f"{entry.request_id}#{entry.row:05d}"
            item: dict[str, Any] = {
                "pk": {"S": entry.key.partition(model)},
                "sk": {"S": sort},
                "request_id": {"S": entry.request_id},
                EXPIRY_ATTRIBUTE: {"N": expires},
            }
            if entry.row is not None:
                item["row"] = {"N": str(entry.row)}
            items[(item["pk"]["S"], sort)] = item  # one write per item: a batch may not name one twice
        requests = [{"PutRequest": {"Item": item}} for item in items.values()]
        for start in range(0, len(requests), BATCH_WRITE_ITEMS):
            self._write(requests[start : start + BATCH_WRITE_ITEMS])

    def _write(self, requests: list[dict[str, Any]]) -> None:
        pending = requests
        for attempt in range(WRITE_ATTEMPTS):
            answer = self._client.batch_write_item(RequestItems={self._table: pending})
            pending = answer.get("UnprocessedItems", {}).get(self._table, [])
            if not pending:
                return
            self._sleep(0.05 * 2**attempt)  # throttled: AWS's advice is to back off exponentially
        raise RuntimeError(f"{len(pending)} prediction keys were left unprocessed after {WRITE_ATTEMPTS} attempts")

    def resolve(
        self, model: str, keys: Collection[PredictionKey], before: datetime
    ) -> dict[PredictionKey, ResolvedKey]:
        """The latest prediction each key named at or before `before`; a key that named none is left out."""
        bound = _issued_bound(before)
        distinct = list(dict.fromkeys(keys))
        if not distinct:
            return {}
        with ThreadPoolExecutor(max_workers=min(RESOLVING_THREADS, len(distinct))) as pool:
            found = pool.map(lambda key: self._latest(model, key, bound), distinct)
            return {key: resolved for key, resolved in zip(distinct, found, strict=True) if resolved is not None}

    def _latest(self, model: str, key: PredictionKey, bound: str) -> ResolvedKey | None:
        answer = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk < :bound",
            ExpressionAttributeValues={":pk": {"S": key.partition(model)}, ":bound": {"S": bound}},
            ScanIndexForward=False,  # newest first
            Limit=2,  # the latest, and whether there is another
            ConsistentRead=False,
        )
        items = answer.get("Items", [])
        if not items:
            return None
        latest = items[0]
        row = int(latest["row"]["N"]) if "row" in latest else None
        return ResolvedKey(latest["request_id"]["S"], row, len(items) > 1)
