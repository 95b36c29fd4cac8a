"""Request ids are UUIDv7 (RFC 9562): the first 48 bits are the Unix time in milliseconds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from mlops.serving.request_ids import answered_at, canonical, new_request_id


def test_an_id_says_to_the_millisecond_when_it_was_issued_and_is_a_valid_uuid7() -> None:
    at = datetime(2026, 12, 5, 13, 59, 59, 999000, tzinfo=UTC)
    issued = new_request_id(int(at.timestamp() * 1000))
    parsed = uuid.UUID(issued)
    assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
    assert answered_at(issued) == at


def test_ids_issued_in_the_same_millisecond_differ_and_later_ids_sort_later() -> None:
    ids = {new_request_id(1_000) for _ in range(1000)}
    assert len(ids) == 1000
    assert max(ids) < new_request_id(1_001)


def test_anything_the_platform_did_not_issue_has_no_time() -> None:
    for other in (str(uuid.uuid4()), "req-1", "", "01a24647-abdb-7b3a-b735-16f7324921e4X", str(uuid.uuid1())):
        assert answered_at(other) is None
    issued = new_request_id()
    assert canonical(issued.upper()) == issued  # a client that upper-cased it still names the same request
    assert canonical("{" + issued + "}") is None and canonical(issued.replace("-", "")) is None
