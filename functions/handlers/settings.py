"""How every handler reads its settings and makes its AWS clients: once per container, on the first
invocation, never at import.

So importing a handler module reads no environment and makes no client (the OpenAPI generator and
the layer check import them bare), a missing variable fails the invocation with its name, and a test
puts fakes where a container would build clients (`services.replaced(fake)`).

Each handler declares one frozen dataclass of settings, `FunctionSettings`' subclass: a field is
the environment variable of its name in capitals (`registry_table` is `REGISTRY_TABLE`), converted
to its annotated type; a field with a default may be left out of the function's environment.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Generic, Self, TypeVar, get_type_hints

T = TypeVar("T")
S = TypeVar("S", bound="FunctionSettings")

_READERS: dict[Any, tuple[Callable[[str], Any], str]] = {
    str: (str, "text"),
    int: (int, "a whole number"),
    float: (float, "a number"),
}


class SettingError(RuntimeError):
    """The function's environment lacks a variable its settings need, or holds one it cannot read."""


def from_environment(cls: type[S], environ: Mapping[str, str]) -> S:
    """`cls` read from `environ`; SettingError names the first variable that is missing or unreadable."""
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        variable = field.name.upper()
        if variable not in environ:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise SettingError(f"the function's environment has no {variable} ({cls.__name__}.{field.name})")
            continue
        if hints[field.name] not in _READERS:
            raise TypeError(f"{cls.__name__}.{field.name}: a setting is str, int or float")
        read, kind = _READERS[hints[field.name]]
        try:
            values[field.name] = read(environ[variable])
        except ValueError:
            raise SettingError(f"{variable}={environ[variable]!r} is not {kind}") from None
    return cls(**values)


class FunctionSettings:
    """A handler's settings: subclasses are frozen dataclasses whose fields name environment variables."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Self:
        return from_environment(cls, environ)


class PerContainer(Generic[T]):
    """What a Lambda container builds on its first invocation and keeps: a handler's settings and
    clients, and the caches they feed. Built under a lock, so two first invocations side by side
    (the local cloud's threads) share one, and a build that fails is tried again on the next call."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._built: list[T] = []  # empty until built: T itself may be falsy
        self._lock = threading.Lock()

    def __call__(self) -> T:
        if not self._built:
            with self._lock:
                if not self._built:
                    self._built.append(self._build())
        return self._built[0]

    def built(self) -> T | None:
        """What this container has built so far, without building it."""
        return self._built[0] if self._built else None

    def forget(self) -> None:
        """The next call builds afresh, as a new container would."""
        with self._lock:
            self._built.clear()

    @contextmanager
    def replaced(self, value: T) -> Iterator[T]:
        """Tests: `value` stands for what the container would build, for the block."""
        with self._lock:
            saved = list(self._built)
            self._built[:] = [value]
        try:
            yield value
        finally:
            with self._lock:
                self._built[:] = saved
