"""Request ids that say when the request was answered: UUID version 7 (RFC 9562), whose first 48
bits are the Unix time in milliseconds.

A label sent back days later names only its request id; the id alone then says which hour of
captured predictions it is about, so labels are stored, and joined, by that hour without an index.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime


def new_request_id(now_ms: int | None = None, random_bytes: bytes | None = None) -> str:
    """A fresh UUIDv7: 48 bits of milliseconds, the version, 74 random bits and the variant."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    tail = bytearray(random_bytes if random_bytes is not None else os.urandom(10))
    if len(tail) != 10:
        raise ValueError("a UUIDv7 takes 10 random bytes")
    raw = bytearray(ms.to_bytes(6, "big")) + tail
    raw[6] = 0x70 | (raw[6] & 0x0F)  # version 7
    raw[8] = 0x80 | (raw[8] & 0x3F)  # RFC 9562 variant
    text = raw.hex()  # str(uuid.UUID(bytes=raw)), without building the UUID
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def canonical(request_id: str) -> str | None:
    """A request id as `new_request_id` wrote it (lowercase, hyphenated), whatever case a client sent
    back; None when it is no UUIDv7 (an id this platform never gave out, a UUIDv4)."""
    if not isinstance(request_id, str) or len(request_id) != 36:
        return None
    try:
        parsed = uuid.UUID(request_id)
    except ValueError:
        return None
    if parsed.version != 7 or parsed.variant != uuid.RFC_4122 or str(parsed) != request_id.lower():
        return None
    return str(parsed)


def answered_at(request_id: str) -> datetime | None:
    """When a request id from `new_request_id` was issued; None for anything `canonical` refuses."""
    issued = canonical(request_id)
    if issued is None:
        return None
    ms = int.from_bytes(uuid.UUID(issued).bytes[:6], "big")
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
