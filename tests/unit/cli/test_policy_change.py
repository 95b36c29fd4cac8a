"""How `mlops config deploy` words the serving policy it deployed: a field the config leaves out is
the deployment's default, not `None` (a stranger read `capture_sample_rate None` as capture off)."""

from __future__ import annotations

from mlopsctl.commands.config import _policy_change


def test_a_field_left_out_reads_default() -> None:
    after = {"out_of_range": "reject", "unseen_category": "warn", "capture_sample_rate": None}
    assert _policy_change(None, after) == (
        "was each version's own (none deployed), now out_of_range reject, unseen_category warn, "
        "capture_sample_rate default"
    )
    before = {**after, "capture_sample_rate": 0.5}
    assert _policy_change(before, after) == "capture_sample_rate 0.5 -> default"
    assert _policy_change(after, after) == "unchanged"
