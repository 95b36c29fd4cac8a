"""DynamoDB's per-request atomicity, which moto's in-memory backend lacks under concurrency.

DynamoDB applies each request (and each transaction) atomically; moto's backend mutates shared
dicts without a lock, so two threads running `TransactWriteItems` can both pass their conditions or
crash with "dictionary changed size during iteration". One lock around every backend operation
restores what callers rely on: racing conditional writes end with one winner.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend

_OPERATIONS = (
    "put_item",
    "get_item",
    "query",
    "scan",
    "update_item",
    "delete_item",
    "transact_write_items",
    "batch_get_item",
    "batch_write_item",
    "transact_get_items",
)
_lock = threading.RLock()
_originals: dict[str, Callable[..., Any]] = {}


def install() -> None:
    """Serialize moto's DynamoDB operations (idempotent)."""
    if _originals:
        return
    for name in _OPERATIONS:
        original = getattr(DynamoDBBackend, name)
        _originals[name] = original

        @functools.wraps(original)
        def atomic(self: DynamoDBBackend, *args: Any, __original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            with _lock:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, atomic)


def uninstall() -> None:
    for name, original in _originals.items():
        setattr(DynamoDBBackend, name, original)
    _originals.clear()
