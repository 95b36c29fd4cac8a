"""The ledger of checks made, per principal and action: the figures the README and closing notes quote.

`LOCALCLOUD_IAM_LEDGER=<path>` makes each local cloud add its counts to that JSON file when it stops
(e.g. to count the calls a test run checked per function).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class _Ledger:
    """What was checked, per principal: the figures the README and closing notes quote."""

    allowed: Counter[tuple[str, str]] = field(default_factory=Counter)
    denied: Counter[tuple[str, str]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, principal: str, action: str, ok: bool) -> None:
        with self.lock:
            (self.allowed if ok else self.denied)[(principal, action)] += 1


ledger = _Ledger()


def write_ledger(path: str) -> None:
    """Add this process's checks to a JSON file: {principal: {action: [allowed, denied]}}."""
    import fcntl

    with ledger.lock:
        counts: dict[str, dict[str, list[int]]] = {}
        for (principal, action), n in ledger.allowed.items():
            counts.setdefault(principal, {}).setdefault(action, [0, 0])[0] += n
        for (principal, action), n in ledger.denied.items():
            counts.setdefault(principal, {}).setdefault(action, [0, 0])[1] += n
        ledger.allowed.clear()
        ledger.denied.clear()
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        text = handle.read()
        merged: dict[str, dict[str, list[int]]] = json.loads(text) if text.strip() else {}
        for principal, actions in counts.items():
            for action, (allowed, denied) in actions.items():
                pair = merged.setdefault(principal, {}).setdefault(action, [0, 0])
                pair[0] += allowed
                pair[1] += denied
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(merged, indent=1, sort_keys=True))
