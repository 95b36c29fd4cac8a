"""The cost benchmark's tables (bench/cost_tables.py): before and after from the same measurements,
each lever's share of the saving, and every front door and option with where it pays."""

from __future__ import annotations

import re

from bench import cost_model as cm
from bench import cost_tables
from tests.unit.bench.test_cost_model import _measured, _profile


def _measured_like_a_run() -> cm.Measured:
    return _measured(
        predict=_profile("predict", 1769, (1, 1, 2), log_bytes=400.0),
        access_log_bytes_per_request=272.0,
        alarms=14,
        custom_metrics=4,
    )


def test_before_and_after_share_one_set_of_lines_and_the_levers_explain_the_saving() -> None:
    table = cost_tables.before_after(_measured_like_a_run())
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines() if line.startswith("| ")}
    assert cm.FRONT_DOOR in rows and "**total**" in rows
    # at 1M: the REST API's $3.50 before, nothing through the function URL after
    assert rows[cm.FRONT_DOOR].split(" | ")[1:3] == ["$3.50", "$0.00"]
    shares = [
        [int(cell.split("%")[0]) for cell in re.findall(r"\d+% \(", line)]
        for lever, line in rows.items()
        if lever in cost_tables.LEVERS.values()
    ]
    assert len(shares) == len(cost_tables.LEVERS)
    for volume in range(len(cost_tables.VOLUMES)):
        # the levers move everything that moved (rounding aside): nothing else changed between the two
        assert 97 <= sum(column[volume] for column in shares) <= 103


def test_every_front_door_and_option_is_priced_and_the_function_url_is_cheapest() -> None:
    m = _measured_like_a_run()
    table = cost_tables.options_table(m)
    rows = [line for line in table.splitlines()[2:]]
    assert len(rows) == len(cost_tables.options()) == 9
    totals = {o.label: cm.platform_cost(m, 1_000_000, d=o.deployment).total for o in cost_tables.options()}
    assert min(totals, key=totals.__getitem__) == cm.FRONT_DOOR_NAMES[cm.FUNCTION_URL]
    # provisioned concurrency pays (if ever) only where one environment is busy most of the month
    warm_rows = [r for r in rows if "+ 1 provisioned" in r]
    assert all("one environment serves at most" in r for r in warm_rows)
    # SnapStart never costs less than on demand; against a provisioned environment it is the cheaper
    # cure for cold starts while one environment's snapshot restores cost less than keeping it warm
    snap_rows = [r for r in rows if "SnapStart" in r]
    assert len(snap_rows) == 3 and all("| never (cheaper than 1 provisioned environment" in r for r in snap_rows)
    url = cm.FRONT_DOOR_NAMES[cm.FUNCTION_URL]
    assert totals[f"{url} + SnapStart"] > totals[url]
    assert totals[f"{url} + SnapStart"] < totals[f"{url} + 1 provisioned environment"]
