"""Time as CloudWatch states it: UTC, and its notification format."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def aws_time(moment: datetime) -> str:
    """CloudWatch's notification time format: `2022-09-25T18:50:37.811+0000`."""
    moment = utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"
