"""The hook into moto's put_events: every event moto would hand a rule goes through `targets` instead.

`install()` / `uninstall()` (or `with installed():`) replace moto's `Rule.send_to_targets`, so
`put_events`, S3's EventBridge notifications and replays are matched with EventBridge's pattern
semantics, reach disabled rules never and schedule-only rules never, and are delivered to every
target kind. With `asynchronous=True` delivery happens on one background thread (`drain()` waits).
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.events.models import Rule

from localcloud.eventbridge.targets import MOTO_SEND_TO_TARGETS, deliver_if_matching

log = logging.getLogger(__name__)

_install_lock = threading.Lock()
_installed = False
_async_queue: queue.Queue[tuple[Rule, dict[str, Any]] | None] | None = None
_async_worker: threading.Thread | None = None


def _hooked_send_to_targets(self: Rule, original_event: Any, transform_input: bool = True) -> None:
    """Replaces `moto.events.models.Rule.send_to_targets` while installed."""
    del transform_input  # AWS applies a target's input settings to every event, replays included
    event = copy.deepcopy(dict(original_event))
    if _async_queue is not None:
        _async_queue.put((self, event))
        return
    deliver_if_matching(self, event)


def _async_loop(work: queue.Queue[tuple[Rule, dict[str, Any]] | None]) -> None:
    while True:
        item = work.get()
        try:
            if item is None:
                return
            deliver_if_matching(*item)
        except Exception:  # keep the worker alive
            log.exception("asynchronous EventBridge delivery failed")
        finally:
            work.task_done()


def install(*, asynchronous: bool = False) -> None:
    """Route moto's `put_events` (and S3→EventBridge notifications, replays) through this module.

    With `asynchronous=True` deliveries happen on one background thread, so `put_events` returns
    before targets run, as on AWS (use `drain()` to wait); the default delivers before returning,
    which keeps tests deterministic. Idempotent.
    """
    global _installed, _async_queue, _async_worker
    with _install_lock:
        if _installed:
            return
        if asynchronous:
            _async_queue = queue.Queue()
            _async_worker = threading.Thread(
                target=_async_loop, args=(_async_queue,), name="localcloud-events", daemon=True
            )
            _async_worker.start()
        Rule.send_to_targets = _hooked_send_to_targets  # type: ignore[method-assign]
        _installed = True


def uninstall() -> None:
    """Restore moto's own `Rule.send_to_targets`; waits for queued asynchronous deliveries."""
    global _installed, _async_queue, _async_worker
    with _install_lock:
        if not _installed:
            return
        Rule.send_to_targets = MOTO_SEND_TO_TARGETS  # type: ignore[method-assign]
        if _async_queue is not None:
            _async_queue.put(None)
            if _async_worker is not None:
                _async_worker.join(timeout=30)
        _async_queue, _async_worker = None, None
        _installed = False


def is_installed() -> bool:
    return _installed


def drain(timeout: float = 30.0) -> bool:
    """Wait until queued asynchronous deliveries are done; True if the queue emptied in time."""
    work = _async_queue
    if work is None:
        return True
    deadline = time.monotonic() + timeout
    while work.unfinished_tasks:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@contextmanager
def installed(*, asynchronous: bool = False) -> Iterator[None]:
    """`with installed():` — the put_events hook for the duration of the block."""
    install(asynchronous=asynchronous)
    try:
        yield
    finally:
        uninstall()
