"""How many labelled rows the A/B check needs before it decides, for a pair of models on the demo's
data, and how often it decides wrongly over a canary's life when nothing differs.

`python -m bench.ab_labels` trains the demo's champion as `make demo` does (configs/breast-cancer.yaml:
its split, its candidates, the best by roc_auc, through mlops.training) and two clearly worse
canaries (one trained on shuffled labels, one on a single feature), then replays traffic:
breast-cancer rows drawn at random, each request sent to the canary by serving's sticky key
assignment at the canary's weight, every answer labelled with the row's true class, in answer order
or (`--label-delays`) after a random delay, so labels arrive out of order.
After every `step` labelled rows the check (mlops.monitoring.ab_test.compare_canary) runs on the rows
so far, as the hourly check would: the canary's life ends at its first significant verdict (the
check would promote or roll back), or `after_final` looks after a final `no_difference` (a person
decides). Many seeded replays give the labelled rows at the decision (median, 90th percentile) and
the verdicts. The champion replayed as its own canary counts the wrong decisions over a canary's
life: every significant verdict then is one.

The check decides only at its planned sample size (mlops.monitoring.ab_test), so how often it looks
does not change what it decides: every look after the plan tests the same rows. Before that design
the check tested every look at alpha, and the champion as its own canary "decided" in 17 to 34 % of
200 replays (a look every 10 or 100 labelled rows, weights 0.5 to 0.1, until the canary answered
1000 labelled rows). Measured with it (alpha 0.05, power 0.8, min_labels 50; 1000 replays per
setting): 3.2 to 5.6 % for min_effect 0.02, 0.05 and 0.1 at weights 0.5, 0.2 and 0.1, the same
replays deciding the same for a look every 10 or every 100 labelled rows; with labels a mean 1000
or 3000 requests late, 3.0 to 6.0 % (min_effect 0.05, weights 0.5 and 0.2, 400 replays each, a
life of 100 looks past the plan), where the first rows answered instead of labelled decided in 8.7
to 16.3 %.

Not a `bench_*` module: it measures a count, not a speed against a baseline, so `make bench` does
not run it.
"""

from __future__ import annotations

import argparse
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import product
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops.monitoring.ab_test import ABComparison, compare_canary
from mlops.monitoring.config import ABTestConfig, ABTestMetric
from mlops.monitoring.joined import JoinedHour
from mlops.monitoring.performance import ProblemType
from mlops.serving.rollout import key_share


@dataclass(frozen=True)
class Answers:
    """A model's answers to every row of the data: class indices and probabilities (rows x classes)."""

    name: str
    predictions: NDArray[np.int64]
    probabilities: NDArray[np.float64]

    def accuracy(self, truth: NDArray[np.int64]) -> float:
        return float(np.mean(self.predictions == truth))


@dataclass(frozen=True)
class Replay:
    """One seeded replay of a canary's life, looked at every `step` labelled rows."""

    seed: int
    labelled: int | None  # labelled rows in all at the first final verdict (None: none within the replay)
    champion_rows: int | None  # each side's labelled rows then
    challenger_rows: int | None
    verdict: str | None  # that first final verdict: challenger_better | challenger_worse | no_difference
    planned: int | None  # the plan's labelled rows per variant (None: no plan within the replay)
    looks: int  # checks run on the replay (a side short of min_labels is not looked at)
    changed: bool  # a look after the first final verdict found another (must not: later labels are not tested)
    peeked: bool  # a look's p-value was below alpha: a check testing every look would have decided
    acted: str | None = None  # the significant verdict that ended the life, at the first final look or later

    @property
    def decided(self) -> bool:
        """The check found a significant difference at some look: end_canary would promote or roll back."""
        return self.acted is not None


def traffic_window(
    champion: Answers,
    challenger: Answers,
    truth: NDArray[np.int64],
    classes: Sequence[str],
    *,
    weight: float,
    requests: int,
    seed: int,
    label_delay: float = 0.0,
) -> JoinedHour:
    """`requests` one-row requests of random data rows, one a millisecond, answered by the canary for
    `weight` of the request keys (serving's assignment), each labelled after an exponential delay of
    mean `label_delay` milliseconds (0: at once), the rows in the order their labels arrived, so the
    first k are what the join holds when k labels have arrived."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, truth.size, requests)
    to_canary = np.array([key_share(f"replay-{seed}-{i}") < weight for i in range(requests)])
    names = np.asarray(classes, dtype=str)
    predictions = np.where(to_canary, challenger.predictions[rows], champion.predictions[rows])
    proba = np.where(to_canary[:, None], challenger.probabilities[rows], champion.probabilities[rows])
    ids = np.array([f"replay-{seed}-{i}" for i in range(requests)])
    answered = np.arange(requests, dtype=np.int64)
    delays = np.random.default_rng([seed, 1]).exponential(label_delay, requests) if label_delay else 0.0
    labelled = answered + np.round(delays).astype(np.int64)
    order = np.lexsort((answered, labelled))
    return JoinedHour(
        model="replay",
        hour=datetime(2026, 12, 1, tzinfo=UTC),
        request_ids=ids[order],
        rows=np.zeros(requests, dtype=np.int64),
        versions=np.where(to_canary, 2, 1)[order],
        variants=np.where(to_canary, "challenger", "champion")[order],
        predictions=names[predictions][order],
        probabilities=proba.astype(np.float32)[order],
        labels=names[truth[rows]][order],
        answered_ms=answered[order],
        labelled_ms=labelled[order],
        classes=list(classes),
        fields={},
        inputs={},
        missing={},
    )


def labels_to_decide(
    champion: Answers,
    challenger: Answers,
    truth: NDArray[np.int64],
    classes: Sequence[str],
    *,
    weight: float,
    config: ABTestConfig,
    seeds: Sequence[int],
    problem_type: ProblemType = "binary",
    step: int = 10,
    max_labelled: int | None = None,
    after_final: int = 10,
    resamples: int = 500,
    label_delay: float = 0.0,
) -> list[Replay]:
    """For each seed, a canary's life looked at every `step` labelled rows: the first final verdict
    and the labelled rows then. The life ends at a significant verdict, `after_final` looks after a
    no_difference, or at `max_labelled` rows (default: enough for a plan at max_labels). Labels
    arrive after `label_delay` requests' time on average (exponential; 0: in answer order)."""
    smaller = min(weight, 1 - weight)
    limit = max_labelled or math.ceil((config.max_labels + config.min_labels) / smaller * 1.2) + after_final * step
    return [
        _replay(
            traffic_window(
                champion, challenger, truth, classes, weight=weight, requests=limit, seed=seed, label_delay=label_delay
            ),
            seed,
            problem_type,
            list(classes),
            config,
            step=step,
            after_final=after_final,
            resamples=resamples,
        )
        for seed in seeds
    ]


def _replay(
    window: JoinedHour,
    seed: int,
    problem_type: ProblemType,
    classes: list[str],
    config: ABTestConfig,
    *,
    step: int,
    after_final: int,
    resamples: int,
) -> Replay:
    challenger_so_far = np.cumsum(window.variants == "challenger")
    final: ABComparison | None = None
    at: tuple[int, int, int] | None = None  # labelled rows in all and each side's at the first final verdict
    planned, looks, after, changed, peeked = None, 0, 0, False, False
    acted: str | None = None
    for labelled in range(step, window.size + 1, step):
        challenger_rows = int(challenger_so_far[labelled - 1])
        if min(challenger_rows, labelled - challenger_rows) < config.min_labels:
            continue  # the check says insufficient_labels without a plan or a test: no need to ask it
        result = compare_canary(
            _first(window, labelled),
            champion=1,
            challenger=2,
            problem_type=problem_type,
            classes=classes,
            config=config,
            resamples=resamples,
        )
        looks += 1
        planned = result.plan.labels if result.plan else planned
        peeked = peeked or (result.p_value is not None and result.p_value < config.alpha)
        if final is None and result.final:
            final, at = result, (labelled, result.champion.labels, result.challenger.labels)
        elif final is not None:
            after += 1
            changed = changed or result.verdict != final.verdict
        if result.decided:
            acted = result.verdict
        if result.decided or (final is not None and after >= after_final):
            break  # the canary ended (promoted or rolled back), or a person has the final verdict
    return Replay(
        seed,
        at[0] if at else None,
        at[1] if at else None,
        at[2] if at else None,
        final.verdict if final else None,
        planned,
        looks,
        changed,
        peeked,
        acted,
    )


def _first(window: JoinedHour, rows: int) -> JoinedHour:
    """The window's first `rows` rows: those labelled so far (a view, not a copy)."""
    head = slice(0, rows)
    return replace(
        window,
        request_ids=window.request_ids[head],
        rows=window.rows[head],
        versions=window.versions[head],
        variants=window.variants[head],
        predictions=window.predictions[head],
        probabilities=None if window.probabilities is None else window.probabilities[head],
        labels=window.labels[head],
        answered_ms=window.answered_ms[head],
        labelled_ms=window.labelled_ms[head],
    )


# ----------------------------------------------------------------------------- the demo's models
def demo_models(seed: int = 0) -> tuple[list[Answers], NDArray[np.int64], list[str]]:
    """The demo's champion (trained from configs/breast-cancer.yaml as the pipeline trains it) and
    clearly worse canaries, each answering every breast-cancer row; the true classes; the classes."""
    from pathlib import Path

    from sklearn.base import clone
    from sklearn.datasets import load_breast_cancer

    from mlops.datasets.versioning import ColumnSchema
    from mlops.training.candidates import fit_candidate, load_model, rank
    from mlops.training.config import load_training_config
    from mlops.training.prepare import Splits, prepare

    config = load_training_config(
        (Path(__file__).resolve().parent.parent / "configs" / "breast-cancer.yaml").read_text()
    )
    bunch = load_breast_cancer()
    arrays: dict[str, NDArray[Any]] = {
        str(name).replace(" ", "_"): bunch.data[:, i].astype(np.float64) for i, name in enumerate(bunch.feature_names)
    }
    arrays["target"] = bunch.target.astype(np.int64)
    columns = [ColumnSchema(name=name, type="float", dtype="<f8") for name in arrays if name != "target"]
    columns.append(ColumnSchema(name="target", type="int", dtype="<i8"))
    prepared = prepare(arrays, columns, config)
    splits = Splits.from_bytes(prepared.splits_bytes)
    results = [fit_candidate(candidate, splits, config) for candidate in config.candidates]
    stored = {r.name: r.model_bytes for r in results if r.model_bytes is not None}
    best = rank([r.to_json() for r in results], config.metric)[0]
    model = load_model(stored[best.name] or b"", best.model_sha256)

    x = np.concatenate([splits.X_train, splits.X_validation, splits.X_test])
    truth = np.concatenate([splits.y_train, splits.y_validation, splits.y_test]).astype(np.int64)
    rng = np.random.default_rng(seed)
    shuffled = clone(model).fit(splits.X_train, rng.permutation(splits.y_train))
    # A weak candidate: the champion's estimator on the single most telling feature alone.
    spread = [abs(np.corrcoef(splits.X_train[:, j], splits.y_train)[0, 1]) for j in range(x.shape[1])]
    best_feature = [int(np.argmax(spread))]
    weak = clone(model).fit(splits.X_train[:, best_feature], splits.y_train)
    answers = [
        _answers(f"champion ({best.name})", model, x),
        _answers("trained on shuffled labels", shuffled, x),
        _answers(f"one feature ({splits.feature_names[best_feature[0]]})", weak, x[:, best_feature]),
    ]
    classes = [str(c) for c in prepared.meta.classes or []]
    return answers, truth, classes


def _answers(name: str, model: Any, x: NDArray[Any]) -> Answers:
    proba = np.asarray(model.predict_proba(x), dtype=np.float64)
    return Answers(name, proba.argmax(axis=1).astype(np.int64), proba)


def _percentile(values: Sequence[int | None], q: float) -> str:
    known = [v for v in values if v is not None]
    return f"{np.percentile(known, q):.0f}" if known else "-"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--weights", type=float, nargs="+", default=[0.5, 0.2, 0.1], help="canary shares")
    parser.add_argument("--seeds", type=int, default=100, help="replays per pair, setting and weight")
    parser.add_argument("--metric", default="accuracy", help="the A/B metric (the demo's default: accuracy)")
    parser.add_argument("--min-labels", type=int, default=50, help="ab_test.min_labels (50 default)")
    parser.add_argument("--min-effect", type=float, nargs="+", default=[0.02, 0.05, 0.1], help="ab_test.min_effect")
    parser.add_argument("--max-labels", type=int, default=5000, help="ab_test.max_labels (5000 default)")
    parser.add_argument("--steps", type=int, nargs="+", default=[10], help="labelled rows between two looks")
    parser.add_argument("--after-final", type=int, default=10, help="looks after a final no_difference")
    parser.add_argument(
        "--label-delays",
        type=float,
        nargs="+",
        default=[0.0],
        help="mean delay of a label, in requests answered meanwhile (exponential; 0: labels in answer order)",
    )
    parser.add_argument(
        "--canaries",
        nargs="+",
        default=["shuffled", "one-feature", "identical"],
        choices=["shuffled", "one-feature", "identical"],
        help="which canaries to replay (identical: the champion itself; every decision is a wrong one)",
    )
    args = parser.parse_args(argv)
    answers, truth, classes = demo_models()
    champion = answers[0]
    same = Answers("the champion itself (no difference)", champion.predictions, champion.probabilities)
    canaries = {"shuffled": answers[1], "one-feature": answers[2], "identical": same}
    metric: ABTestMetric = args.metric
    print(
        "| challenger | accuracy (champion vs it) | min_effect | canary weight | look every | label delay "
        "| planned rows per variant: median | labelled rows at the decision: median | 90th percentile "
        "| challenger's rows (median) | significant (at any look) | first final verdicts | changed after final "
        "| a look's p < alpha (what testing every look decides) |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
    settings = product(args.canaries, args.min_effect, args.weights, args.steps, args.label_delays)
    for name, min_effect, weight, step, delay in settings:
        challenger = canaries[name]
        config = ABTestConfig(
            metric=metric, min_labels=args.min_labels, min_effect=min_effect, max_labels=args.max_labels
        )
        replays = labels_to_decide(
            champion,
            challenger,
            truth,
            classes,
            weight=weight,
            config=config,
            seeds=range(args.seeds),
            step=step,
            after_final=args.after_final,
            label_delay=delay,
        )
        verdicts = Counter(r.verdict or "undecided" for r in replays)
        print(
            f"| {challenger.name} | {champion.accuracy(truth):.3f} vs {challenger.accuracy(truth):.3f} "
            f"| {min_effect:g} | {weight:g} | {step} | {delay:g} | {_percentile([r.planned for r in replays], 50)} "
            f"| {_percentile([r.labelled for r in replays], 50)} | {_percentile([r.labelled for r in replays], 90)} "
            f"| {_percentile([r.challenger_rows for r in replays], 50)} "
            f"| {sum(r.decided for r in replays) / len(replays):.3f} | {dict(sorted(verdicts.items()))} "
            f"| {sum(r.changed for r in replays)} | {sum(r.peeked for r in replays) / len(replays):.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
