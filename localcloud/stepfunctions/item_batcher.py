"""ItemBatcher: a Distributed Map's items grouped into the inputs of its child executions.

moto's grammar has no `ItemBatcher`; the local cloud reads it aside (`map_definition`) and groups the
items here, as Step Functions does: each child gets `{"BatchInput": ..., "Items": [...]}`, at most
`MaxItemsPerBatch` items and at most `MaxInputBytesPerBatch` bytes (never past the 256 KiB payload
limit), items kept in reading order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from moto.stepfunctions.parser.asl.utils.json_path import extract_json

PAYLOAD_LIMIT_BYTES = 256 * 1024  # Step Functions' limit on a state's input, hence on a batch


class BatchingError(ValueError):
    """The batcher's settings resolved to something Step Functions refuses, or an item fits no batch."""


@dataclass(frozen=True)
class ItemBatching:
    """The `ItemBatcher` field of one Distributed Map state, as written (paths not yet resolved)."""

    max_items: int | None = None
    max_items_path: str | None = None
    max_bytes: int | None = None
    max_bytes_path: str | None = None
    batch_input: Any = None

    @classmethod
    def from_definition(cls, field: Any) -> ItemBatching:
        """Read the field; AWS refuses a batcher that sets no limit, or sets one both ways."""
        if not isinstance(field, dict):
            raise BatchingError("ItemBatcher must be an object")
        known = {"MaxItemsPerBatch", "MaxItemsPerBatchPath", "MaxInputBytesPerBatch", "MaxInputBytesPerBatchPath"}
        unknown = set(field) - known - {"BatchInput"}
        if unknown:
            raise BatchingError(f"ItemBatcher has unknown fields: {', '.join(sorted(unknown))}")
        if not known & set(field):
            raise BatchingError("ItemBatcher must set MaxItemsPerBatch or MaxInputBytesPerBatch (or their Path)")
        for name in ("MaxItemsPerBatch", "MaxInputBytesPerBatch"):
            if name in field and f"{name}Path" in field:
                raise BatchingError(f"ItemBatcher sets both {name} and {name}Path")
        return cls(
            max_items=field.get("MaxItemsPerBatch"),
            max_items_path=field.get("MaxItemsPerBatchPath"),
            max_bytes=field.get("MaxInputBytesPerBatch"),
            max_bytes_path=field.get("MaxInputBytesPerBatchPath"),
            batch_input=field.get("BatchInput"),
        )

    def limits(self, state_input: Any) -> tuple[int | None, int]:
        """(items per batch or None, bytes per batch), the paths read from the Map state's input."""
        max_items = self.max_items
        if self.max_items_path is not None:
            max_items = _positive_int(extract_json(self.max_items_path, state_input), "MaxItemsPerBatchPath")
        max_bytes = self.max_bytes
        if self.max_bytes_path is not None:
            max_bytes = _positive_int(extract_json(self.max_bytes_path, state_input), "MaxInputBytesPerBatchPath")
        if max_items is not None:
            max_items = _positive_int(max_items, "MaxItemsPerBatch")
        if max_bytes is not None:
            max_bytes = min(_positive_int(max_bytes, "MaxInputBytesPerBatch"), PAYLOAD_LIMIT_BYTES)
        return max_items, max_bytes if max_bytes is not None else PAYLOAD_LIMIT_BYTES


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BatchingError(f"{name} must be a positive integer, got {json.dumps(value)}")
    return value


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def batch_items(items: list[Any], batching: ItemBatching, state_input: Any) -> list[dict[str, Any]]:
    """The child inputs for `items`: consecutive groups within both limits, in order."""
    max_items, max_bytes = batching.limits(state_input)
    head: dict[str, Any] = {} if batching.batch_input is None else {"BatchInput": batching.batch_input}
    empty_size = _size({**head, "Items": []})
    batches: list[dict[str, Any]] = []
    current: list[Any] = []
    current_size = empty_size
    for index, item in enumerate(items):
        item_size = _size(item) + (1 if current else 0)  # the comma before it
        if empty_size + _size(item) > max_bytes:
            raise BatchingError(
                f"item {index} is {_size(item)} bytes: with the batch's own fields it exceeds the "
                f"{max_bytes}-byte batch limit"
            )
        full = (max_items is not None and len(current) >= max_items) or current_size + item_size > max_bytes
        if current and full:
            batches.append({**head, "Items": current})
            current, current_size, item_size = [], empty_size, _size(item)
        current.append(item)
        current_size += item_size
    if current:
        batches.append({**head, "Items": current})
    return batches
