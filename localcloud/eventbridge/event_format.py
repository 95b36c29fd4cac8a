"""What an event looks like: EventBridge's time format, and a PutEvents entry made a full event."""

from __future__ import annotations

import copy
import json
import os
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def default_region() -> str:
    """The region a caller that names none means: the environment's, as boto3 reads it."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def iso_time(moment: datetime) -> str:
    """EventBridge's event time format: second precision, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_time(value: Any) -> str:
    """An event's `time` as EventBridge writes it, whatever moto or a caller stored (datetime, epoch, text)."""
    if value is None or value == "":
        return iso_time(datetime.now(UTC))
    if isinstance(value, datetime):
        return iso_time(value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, (int, float)):
        return iso_time(datetime.fromtimestamp(float(value), UTC))
    return str(value)


def unix_time(text: str) -> float:
    """An event's ISO time as seconds since the epoch (moto's own targets take that); now if unparsable."""
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return time.time()


def entry_to_event(entry: Mapping[str, Any], account_id: str, region: str) -> dict[str, Any]:
    """A PutEvents entry (`Source`, `DetailType`, `Detail` as text) as the event rules see; a full event as is."""
    if "detail-type" in entry or "source" in entry:
        event = dict(entry)
    else:
        detail = entry.get("Detail", "{}")
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": entry.get("DetailType"),
            "source": entry.get("Source"),
            "account": account_id,
            "time": entry.get("Time"),
            "region": region,
            "resources": list(entry.get("Resources") or []),
            "detail": json.loads(detail) if isinstance(detail, str) else detail,
        }
    event.setdefault("version", "0")
    event.setdefault("id", str(uuid.uuid4()))
    event.setdefault("account", account_id)
    event.setdefault("region", region)
    event.setdefault("resources", [])
    event.setdefault("detail", {})
    return event


def normalise(raw: Mapping[str, Any]) -> tuple[dict[str, Any], float]:
    """An event as a target sees it (ISO time, no moto-internal fields) and its ingestion time."""
    event = copy.deepcopy(dict(raw))
    ingestion = float(event.pop("ingestion-time", None) or time.time())
    event["time"] = event_time(event.get("time"))
    return event, ingestion
