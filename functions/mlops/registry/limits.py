"""What the registry accepts from callers, checked before anything is written.

A write DynamoDB refuses (an item past 400 KB) surfaces as a server error, and a record the API
cannot read back (an empty tag key, a control character shown in a terminal) stays broken for every
later reader: both are refused up front, as a caller's mistake with a message that names it.

Item sizes follow DynamoDB's published rules ("DynamoDB item sizes and formats",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html):
an attribute is its name's UTF-8 bytes plus its value; a string is its UTF-8 bytes; a number is
1 byte per two significant digits plus 1; a binary is its raw bytes; null and Boolean are 1 byte;
a List or Map is 3 bytes plus its elements, each element 1 byte more (a Map's keys count as names).
The item limit, 400 KB, includes the names (https://docs.aws.amazon.com/amazondynamodb/latest/
developerguide/Constraints.html#limits-items). DynamoDB counts 1 KB as 1024 bytes (409,600); the
local cloud (moto) refuses past 405,000 by its own count; the registry holds items to 400,000, under
both, with room for the number rule being approximate.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mlops.registry.errors import RegistryError

MAX_ITEM_BYTES = 400_000

# AWS's own tag limits (a key of 1-128 characters, a value of at most 256, 50 tags per resource).
MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
TAG_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/=+@-]*$"

# Unicode categories that print nothing a reader can see or that rewrite what follows: control
# (Cc: escape sequences in a terminal), format (Cf: zero-width and bidirectional overrides),
# surrogate (Cs: not UTF-8 at all), private use (Co), unassigned (Cn), line and paragraph separators.
_UNPRINTABLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def unprintable(text: str) -> str | None:
    """The first character a reader could not see as written (`U+001B at 3`), or None."""
    for index, char in enumerate(text):
        if unicodedata.category(char) in _UNPRINTABLE:
            return f"U+{ord(char):04X} at {index}"
    return None


def tag_problems(tags: Mapping[Any, Any]) -> list[str]:
    """Why these tags cannot be stored (empty when they can): the same rules the API's schema holds."""
    problems: list[str] = []
    if len(tags) > MAX_TAGS:
        problems.append(f"{len(tags)} tags; a version holds at most {MAX_TAGS}")
    for key, value in tags.items():
        if not isinstance(key, str) or not re.match(TAG_KEY_PATTERN, key) or len(key) > MAX_TAG_KEY:
            problems.append(
                f"tag key {key!r}: 1-{MAX_TAG_KEY} characters, a letter or digit first, then letters, digits "
                "and _.:/=+@-"
            )
        elif not isinstance(value, str) or len(value) > MAX_TAG_VALUE:
            problems.append(f"tag {key}: the value must be text of at most {MAX_TAG_VALUE} characters")
        elif (where := unprintable(value)) is not None:
            problems.append(f"tag {key}: the value holds a character that does not print ({where})")
    return problems


def readable_tags(tags: Any) -> dict[str, str]:
    """The stored tags a reader can use: a record written before tags were checked may hold a map
    that is not one, or keys and values no write accepts now; those are left out, never an error."""
    if not isinstance(tags, Mapping):
        return {}
    return {k: v for k, v in tags.items() if not tag_problems({k: v})}


@dataclass(frozen=True)
class TagChange:
    """Tags merged into a version's: what it held that a reader can use (`kept`), what it holds
    after (`merged`), and the audit event's reason."""

    kept: dict[str, str]
    merged: dict[str, str]
    reason: str


def check_tags(tags: Mapping[Any, Any]) -> None:
    problems = tag_problems(tags)
    if problems:
        raise RegistryError("invalid", "; ".join(problems))


def tag_change(name: str, version: int, stored: Any, tags: Mapping[str, str]) -> TagChange:
    """Merge `tags` into the version's `stored` ones (at most MAX_TAGS in all). Stored tags no write
    accepts now (an empty key from before tags were checked) are dropped, and the reason names them:
    carried over, they would fail the write as they fail every read."""
    kept = readable_tags(stored)
    dropped = [repr(k)[:40] for k in (stored if isinstance(stored, Mapping) else {}) if k not in kept]
    merged = {**kept, **tags}
    if len(merged) > MAX_TAGS:
        raise RegistryError(
            "invalid",
            f"{name} v{version} would hold {len(merged)} tags; a version holds at most {MAX_TAGS} (it has {len(kept)})",
        )
    reason = "tags changed"
    if dropped:
        reason += f"; dropped stored tags no reader accepts: {', '.join(dropped)}"
    elif stored is not None and not isinstance(stored, Mapping):
        reason += "; replaced stored tags that were not a map"
    return TagChange(kept, merged, reason)


def _utf8(text: str) -> int:
    return len(text.encode("utf-8", errors="surrogatepass"))


def value_size(value: Any) -> int:
    """The bytes DynamoDB counts for one attribute value (its name not included)."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return _utf8(value)
    if isinstance(value, int | float | Decimal):
        digits = Decimal(str(value)).normalize().as_tuple().digits  # leading and trailing zeroes trimmed
        return math.ceil(len(digits) / 2) + 1
    if isinstance(value, bytes | bytearray):
        return len(value)
    if hasattr(value, "value") and isinstance(value.value, bytes | bytearray):  # boto3's Binary
        return len(value.value)
    if isinstance(value, Mapping):
        return 3 + sum(_utf8(str(k)) + value_size(v) + 1 for k, v in value.items())
    if isinstance(value, list | tuple):
        return 3 + sum(value_size(v) + 1 for v in value)
    if isinstance(value, set | frozenset):  # string, number and binary sets: their elements
        return sum(value_size(v) for v in value)
    raise TypeError(f"DynamoDB stores no {type(value).__name__}")


def item_size(item: Mapping[str, Any]) -> int:
    """The item's size as DynamoDB counts it against its 400 KB limit."""
    return sum(_utf8(name) + value_size(value) for name, value in item.items())


def too_large(item: Mapping[str, Any]) -> int | None:
    """The item's size when DynamoDB would refuse it, else None."""
    size = item_size(item)
    return size if size > MAX_ITEM_BYTES else None


def check_fits(item: Mapping[str, Any], what: str) -> None:
    """Refuse, before the write, an item DynamoDB would refuse: its error would be the caller's 5xx."""
    size = too_large(item)
    if size is not None:
        raise RegistryError(
            "invalid", f"{what} would be {size:,} bytes; DynamoDB stores at most {MAX_ITEM_BYTES:,} in one item"
        )
