"""The cost benchmark's tables, from one run's measurements: the default deployment against the
platform before issue #21 line by line (each lever's share of the saving), and every front door and
option at 1M, 10M and 100M predictions with the volume at which each pays. Pure: no AWS."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench import cost_model as cm

VOLUMES = (1_000_000, 10_000_000, 100_000_000)
# Which lever moved each line between BEFORE_ISSUE_21 and the default deployment.
LEVERS = {
    cm.FRONT_DOOR: "front door: function URL instead of the REST API",
    cm.XRAY: "X-Ray: no Lambda default sampling on the prediction path",
    cm.LOGS: "logs: JSON, no platform lines, no REST access log",
    cm.METRICS: "custom metrics: a handful per model, none while idle",
    cm.ALARMS: "alarms: one pair on every function's errors and throttles",
}


@dataclass(frozen=True)
class Option:
    """One way to deploy prediction serving, priced by the model."""

    label: str
    deployment: cm.Deployment


def options() -> tuple[Option, ...]:
    """Each front door on demand, with one provisioned environment (the predict memory), and with SnapStart."""
    found = []
    for door in (cm.FUNCTION_URL, cm.HTTP_API, cm.REST_API):
        name = cm.FRONT_DOOR_NAMES[door]
        found.append(Option(name, cm.Deployment(front_door=door)))
        found.append(
            Option(f"{name} + 1 provisioned environment", cm.Deployment(front_door=door, provisioned_environments=1))
        )
        found.append(Option(f"{name} + SnapStart", cm.Deployment(front_door=door, snapstart=True)))
    return tuple(found)


def _money(dollars: float) -> str:
    return f"${dollars:,.2f}" if dollars >= 0.1 or dollars == 0 else f"${dollars:,.3f}"


def _volume(predictions: float | None) -> str:
    if predictions is None:
        return "never"
    return f"{predictions / 1e6:,.1f}M" if predictions >= 1e6 else f"{predictions / 1e3:,.0f}k"


def before_after(m: cm.Measured, before: cm.Deployment = cm.BEFORE_ISSUE_21) -> str:
    """Every line before and after at each volume, then the totals and each lever's share of the saving."""
    now = cm.Deployment()
    parts = {(v, d): cm.platform_cost(m, v, d=d) for v in VOLUMES for d in (before, now)}
    lines = list(dict.fromkeys([*parts[(VOLUMES[-1], before)].lines, *parts[(VOLUMES[-1], now)].lines]))
    header = "| line | " + " | ".join(f"{v // 1_000_000}M before | {v // 1_000_000}M after" for v in VOLUMES) + " |"
    rows = [header, "| --- |" + " ---: | ---: |" * len(VOLUMES)]
    for line in lines:
        cells = " | ".join(
            f"{_money(parts[(v, before)].lines.get(line, 0.0))} | {_money(parts[(v, now)].lines.get(line, 0.0))}"
            for v in VOLUMES
        )
        rows.append(f"| {line} | {cells} |")
    totals = " | ".join(
        f"**{_money(parts[(v, before)].total)}** | **{_money(parts[(v, now)].total)}**" for v in VOLUMES
    )
    rows.append(f"| **total** | {totals} |")
    idle_before, idle_now = cm.fixed_cost(m, d=before).total, cm.fixed_cost(m).total
    rows.append(f"| idle month | {_money(idle_before)} | {_money(idle_now)} |" + " | |" * 2)
    rows.append("")
    rows.append("| lever | " + " | ".join(f"share of the saving at {v // 1_000_000}M" for v in VOLUMES) + " |")
    rows.append("| --- |" + " ---: |" * len(VOLUMES))
    for line, lever in LEVERS.items():
        shares = []
        for v in VOLUMES:
            saving = parts[(v, before)].total - parts[(v, now)].total
            moved = parts[(v, before)].lines.get(line, 0.0) - parts[(v, now)].lines.get(line, 0.0)
            shares.append(f"{moved / saving:.0%} ({_money(moved)})" if saving else "")
        rows.append(f"| {lever} | " + " | ".join(shares) + " |")
    return "\n".join(rows)


def options_table(m: cm.Measured) -> str:
    """Each front door and option at every volume, and where each pays: against an always-on
    ml.t2.medium endpoint, (provisioned) against the same front door on demand, and (SnapStart, which
    never costs less than on demand) against one provisioned environment, the other cure for cold starts."""
    prices = cm.Prices()
    sagemaker = cm.sagemaker_always_on(prices.sagemaker_ml_t2_medium_hour)
    rows = [
        "| front door, option | "
        + " | ".join(f"{v // 1_000_000}M" for v in VOLUMES)
        + " | cheaper than an always-on ml.t2.medium below | pays against on demand from |",
        "| --- |" + " ---: |" * len(VOLUMES) + " ---: | ---: |",
    ]
    for option in options():
        d = option.deployment
        totals = " | ".join(_money(cm.platform_cost(m, v, d=d).total) for v in VOLUMES)
        below = cm.crossover(_difference(m, d, against_dollars=sagemaker))
        pays_text = ""
        if d.provisioned_environments:
            pays = cm.crossover(_difference(m, d, against=cm.Deployment(front_door=d.front_door)))
            capacity = cm.warm_capacity(m, d.provisioned_environments)
            if pays is not None and pays > capacity:
                pays = None
            pays_text = f"{_volume(pays)} (one environment serves at most {_volume(capacity)})"
        if d.snapstart:
            warm = cm.Deployment(front_door=d.front_door, provisioned_environments=1)
            dearer_warm = _difference(m, warm, against=d)
            cheaper_below = cm.crossover(dearer_warm)
            if cheaper_below is not None:
                versus = f"cheaper than 1 provisioned environment below {_volume(cheaper_below)}"
            elif dearer_warm(1.0) > 0:
                versus = "cheaper than 1 provisioned environment at every volume"
            else:
                versus = "dearer than 1 provisioned environment at every volume"
            pays_text = f"never ({versus})"
        rows.append(f"| {option.label} | {totals} | {_volume(below)} | {pays_text} |")
    return "\n".join(rows)


def _difference(
    m: cm.Measured, d: cm.Deployment, *, against: cm.Deployment | None = None, against_dollars: float | None = None
) -> Callable[[float], float]:
    """Volume -> how much more `d` costs than the alternative (a fixed monthly figure, or another
    deployment), negated for a fixed figure so that the difference falls as volume grows."""

    def difference(volume: float) -> float:
        mine = cm.platform_cost(m, volume, d=d).total
        if against_dollars is not None:
            return against_dollars - mine
        assert against is not None
        return mine - cm.platform_cost(m, volume, d=against).total

    return difference
