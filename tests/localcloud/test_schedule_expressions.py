"""EventBridge schedule expressions: rate and 6-field cron, as AWS documents them (all UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from localcloud.eventbridge.schedule_expressions import (
    CronSchedule,
    RateSchedule,
    ScheduleExpressionError,
    parse_schedule_expression,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fires(expression: str, start: str, count: int) -> list[str]:
    schedule = parse_schedule_expression(expression)
    out: list[str] = []
    moment: datetime | None = at(start)
    for _ in range(count):
        assert moment is not None
        moment = schedule.next_after(moment)
        if moment is None:
            break
        out.append(moment.strftime("%Y-%m-%d %H:%M %a"))
    return out


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(1 hour)", 3600),
        ("rate(12 hours)", 43200),
        ("rate(1 day)", 86400),
        ("rate(7 days)", 604800),
    ],
)
def test_rate_intervals(expression: str, seconds: int) -> None:
    schedule = parse_schedule_expression(expression)
    assert isinstance(schedule, RateSchedule)
    assert schedule.interval == timedelta(seconds=seconds)


def test_rate_keeps_its_grid_from_the_anchor() -> None:
    schedule = parse_schedule_expression("rate(5 minutes)")
    anchor = at("2025-01-01T10:02:30")
    assert schedule.next_after(at("2025-01-01T10:02:30"), anchor) == at("2025-01-01T10:07:30")
    assert schedule.next_after(at("2025-01-01T10:09:00"), anchor) == at("2025-01-01T10:12:30")
    assert schedule.next_after(at("2025-01-01T10:00:00"), anchor) == anchor


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(0 minutes)",
        "rate(5 weeks)",
        "rate(five minutes)",
        "cron(0 12 * * *)",
        "cron(0 12 * * * *)",
        "cron(0 12 ? * ? *)",
        "cron(60 12 * * ? *)",
        "cron(0 24 * * ? *)",
        "cron(0 12 32 * ? *)",
        "cron(0 12 ? * 8 *)",
        "cron(0 12 ? * MON#6 *)",
        "cron(0/0 * * * ? *)",
        "cron(5-1 * * * ? *)",
        "at(2025-01-01T00:00:00)",
    ],
)
def test_rejects_what_aws_rejects(expression: str) -> None:
    with pytest.raises(ScheduleExpressionError):
        parse_schedule_expression(expression)


def test_cron_daily_at_noon() -> None:
    assert fires("cron(0 12 * * ? *)", "2025-01-01T11:00:00", 3) == [
        "2025-01-01 12:00 Wed",
        "2025-01-02 12:00 Thu",
        "2025-01-03 12:00 Fri",
    ]
    # strictly after: at noon itself the next one is tomorrow
    assert fires("cron(0 12 * * ? *)", "2025-01-01T12:00:00", 1) == ["2025-01-02 12:00 Thu"]


def test_cron_steps_lists_and_ranges() -> None:
    assert fires("cron(0/15 * * * ? *)", "2025-01-01T10:01:00", 4) == [
        "2025-01-01 10:15 Wed",
        "2025-01-01 10:30 Wed",
        "2025-01-01 10:45 Wed",
        "2025-01-01 11:00 Wed",
    ]
    assert fires("cron(*/20 8-9 * * ? *)", "2025-01-01T00:00:00", 7) == [
        "2025-01-01 08:00 Wed",
        "2025-01-01 08:20 Wed",
        "2025-01-01 08:40 Wed",
        "2025-01-01 09:00 Wed",
        "2025-01-01 09:20 Wed",
        "2025-01-01 09:40 Wed",
        "2025-01-02 08:00 Thu",
    ]
    assert fires("cron(5,35 10 * * ? *)", "2025-01-01T10:06:00", 2) == [
        "2025-01-01 10:35 Wed",
        "2025-01-02 10:05 Thu",
    ]


def test_cron_weekdays_use_aws_numbering_and_names() -> None:
    # 2 = Monday and 6 = Friday in AWS's numbering (1 = Sunday)
    numeric = fires("cron(0 9 ? * 2-6 *)", "2025-01-03T10:00:00", 3)  # a Friday, after 09:00
    named = fires("cron(0 9 ? * MON-FRI *)", "2025-01-03T10:00:00", 3)
    assert numeric == named == ["2025-01-06 09:00 Mon", "2025-01-07 09:00 Tue", "2025-01-08 09:00 Wed"]
    assert fires("cron(30 6 ? * SUN *)", "2025-01-01T00:00:00", 2) == [
        "2025-01-05 06:30 Sun",
        "2025-01-12 06:30 Sun",
    ]


def test_cron_months_years_and_month_names() -> None:
    assert fires("cron(0 0 1 JAN,JUL ? 2025-2026)", "2025-01-01T00:00:00", 5) == [
        "2025-07-01 00:00 Tue",
        "2026-01-01 00:00 Thu",
        "2026-07-01 00:00 Wed",
    ]
    assert parse_schedule_expression("cron(0 0 1 1 ? 2020)").next_after(at("2025-01-01T00:00:00")) is None


def test_cron_last_weekday_nearest_and_nth() -> None:
    assert fires("cron(0 0 L * ? *)", "2024-01-15T00:00:00", 3) == [
        "2024-01-31 00:00 Wed",
        "2024-02-29 00:00 Thu",
        "2024-03-31 00:00 Sun",
    ]
    # 6L: the last Friday of the month
    assert fires("cron(0 18 ? * 6L *)", "2025-01-01T00:00:00", 2) == [
        "2025-01-31 18:00 Fri",
        "2025-02-28 18:00 Fri",
    ]
    # MON#1: the first Monday of the month
    assert fires("cron(0 8 ? * MON#1 *)", "2025-01-01T00:00:00", 2) == [
        "2025-01-06 08:00 Mon",
        "2025-02-03 08:00 Mon",
    ]
    # 15W: the weekday nearest the 15th (2025-02-15 is a Saturday -> Friday 14th)
    assert fires("cron(0 8 15W * ? *)", "2025-02-01T00:00:00", 1) == ["2025-02-14 08:00 Fri"]
    # 1W on a Saturday stays in the month: Monday the 3rd
    assert fires("cron(0 8 1W * ? *)", "2025-02-01T00:00:00", 1) == ["2025-02-03 08:00 Mon"]
    assert fires("cron(0 8 LW * ? *)", "2025-05-01T00:00:00", 1) == ["2025-05-30 08:00 Fri"]


def test_cron_is_utc_and_accepts_aware_times() -> None:
    schedule = parse_schedule_expression("cron(0 12 * * ? *)")
    assert isinstance(schedule, CronSchedule)
    from zoneinfo import ZoneInfo

    paris = datetime(2025, 6, 1, 13, 30, tzinfo=ZoneInfo("Europe/Paris"))  # 11:30 UTC
    assert schedule.next_after(paris) == at("2025-06-01T12:00:00")
    assert schedule.next_after(datetime(2025, 6, 1, 11, 30)) == at("2025-06-01T12:00:00")
