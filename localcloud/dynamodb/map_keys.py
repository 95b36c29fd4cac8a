"""DynamoDB returns a Map holding an empty key as it was stored; moto's response serializer does not.

moto serializes each Map entry under its key, and reads an empty key as "no key": the entry's
`{"S": ...}` lands inside the Map itself, the SDK cannot parse the answer, and every read of the item
(GetItem, Query, the transactions that read it) fails from then on. A record written with an empty
map key before the registry refused one must read back as DynamoDB returns it, key and all, so
the readers' tolerance of old records is what the local cloud tests.
"""

from __future__ import annotations

from typing import Any

from moto.core.serialize import BaseJSONSerializer

_EMPTY_KEY = "\x00empty-map-key"  # a stand-in no serialized shape name can equal
_original: list[Any] = []


def install() -> None:
    """Serialize an empty Map key as itself (idempotent)."""
    if _original:
        return
    original = BaseJSONSerializer._serialize_type_map
    _original.append(original)

    def serialize_map(self: BaseJSONSerializer, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if not isinstance(value, dict) or "" not in value:
            original(self, serialized, value, shape, key)
            return
        original(self, serialized, {(_EMPTY_KEY if k == "" else k): v for k, v in value.items()}, shape, key)
        name = self.get_serialized_name(shape, key)
        container = serialized.get(name, serialized)
        if _EMPTY_KEY in container:
            container[""] = container.pop(_EMPTY_KEY)

    BaseJSONSerializer._serialize_type_map = serialize_map  # type: ignore[method-assign]


def uninstall() -> None:
    if _original:
        BaseJSONSerializer._serialize_type_map = _original.pop()  # type: ignore[method-assign]
