"""The project's lock (requirements/dev.lock): the exact pins a layer must match, and the dependency
graph its "# via" comments record, from which a layer's closure is read."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra.paths import PROJECT_ROOT

LOCK_FILE: Final = PROJECT_ROOT / "requirements" / "dev.lock"
_VIA_PARENT = re.compile(r"^\s*#\s+(?:via\s+)?([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class Lock:
    """Pins of requirements/dev.lock and, per package, the packages that depend on it."""

    pins: Mapping[str, str]
    parents: Mapping[str, frozenset[str]]

    @classmethod
    def read(cls, path: Path) -> Lock:
        return cls.parse(path.read_text())

    @classmethod
    def parse(cls, text: str) -> Lock:
        pins: dict[str, str] = {}
        parents: dict[str, set[str]] = {}
        current: str | None = None
        for raw in text.splitlines():
            line = raw.rstrip(" \\")
            if line and not line[0].isspace() and not line.startswith(("#", "-")):
                requirement = Requirement(line.split(";")[0].strip())
                current = canonicalize_name(requirement.name)
                pins[current] = next(iter(requirement.specifier)).version
                parents.setdefault(current, set())
                continue
            match = _VIA_PARENT.match(line)
            if current and match and match.group(1) not in {"via", "-r", "-c"}:
                parents[current].add(canonicalize_name(match.group(1)))
        return cls(pins=pins, parents={name: frozenset(p) for name, p in parents.items()})

    def closure(self, roots: Iterable[str], *, stop: Iterable[str] = ()) -> set[str]:
        """Packages installing `roots` pulls in according to the lock, not descending into `stop`."""
        children: dict[str, set[str]] = {}
        for child, parents in self.parents.items():
            for parent in parents:
                children.setdefault(parent, set()).add(child)
        blocked = {canonicalize_name(name) for name in stop}
        todo: list[str] = [canonicalize_name(name) for name in roots]
        seen: set[str] = set()
        while todo:
            name = todo.pop()
            if name in seen or name in blocked:
                continue
            seen.add(name)
            todo.extend(children.get(name, ()))
        return {name for name in seen if name in self.pins}


@functools.lru_cache(maxsize=8)
def parse_lock(text: str) -> Lock:
    """The lock in `text`, parsed once per process (every layer of a synth reads the same lock)."""
    return Lock.parse(text)
