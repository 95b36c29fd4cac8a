"""How many labelled rows the A/B check needs before it decides, for a pair of models on the demo's data.

`python -m bench.ab_labels` trains the demo's champion as `make demo` does (configs/breast-cancer.yaml:
its split, its candidates, the best by roc_auc, through mlops.training) and a few clearly worse
canaries, then replays traffic: breast-cancer rows drawn at random, each request sent to the canary
by serving's sticky key assignment at the canary's weight, every answer labelled with the row's
true class. After every `step` labelled rows the check (mlops.monitoring.ab_test.compare_canary,
with the config's ab_test defaults) runs on the rows so far; the first count at which it finds the
challenger worse is that replay's answer. Many seeded replays give the median and the 90th
percentile: the number the issue's closing note reports. The champion replayed as its own canary
shows the other side: how often repeated looks at a fixed-alpha test decide when nothing differs.

Not a `bench_*` module: it measures a count, not a speed against a baseline, so `make bench` does
not run it.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops.monitoring.ab_test import compare_canary
from mlops.monitoring.config import ABTestConfig, ABTestMetric
from mlops.monitoring.joined import JoinedHour, select
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
    """One seeded replay: the labelled rows (in all, and each side's) when the check first decided."""

    seed: int
    labelled: int | None  # None: no decision within the rows replayed
    champion_rows: int | None
    challenger_rows: int | None
    verdict: str | None


def traffic_window(
    champion: Answers,
    challenger: Answers,
    truth: NDArray[np.int64],
    classes: Sequence[str],
    *,
    weight: float,
    requests: int,
    seed: int,
) -> JoinedHour:
    """`requests` one-row requests of random data rows, answered by the canary for `weight` of the
    request keys (serving's assignment), as the join would write them (in answer order)."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, truth.size, requests)
    to_canary = np.array([key_share(f"replay-{seed}-{i}") < weight for i in range(requests)])
    names = np.asarray(classes, dtype=str)
    predictions = np.where(to_canary, challenger.predictions[rows], champion.predictions[rows])
    proba = np.where(to_canary[:, None], challenger.probabilities[rows], champion.probabilities[rows])
    ids = np.array([f"replay-{seed}-{i}" for i in range(requests)])
    return JoinedHour(
        model="replay",
        hour=datetime(2026, 12, 1, tzinfo=UTC),
        request_ids=ids,
        rows=np.zeros(requests, dtype=np.int64),
        versions=np.where(to_canary, 2, 1),
        variants=np.where(to_canary, "challenger", "champion"),
        predictions=names[predictions],
        probabilities=proba.astype(np.float32),
        labels=names[truth[rows]],
        answered_ms=np.arange(requests, dtype=np.int64),
        labelled_ms=np.arange(requests, dtype=np.int64),
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
    max_labelled: int = 5000,
    resamples: int = 500,
) -> list[Replay]:
    """For each seed, the fewest labelled rows (a multiple of `step`) at which the check decides."""
    replays = []
    for seed in seeds:
        window = traffic_window(champion, challenger, truth, classes, weight=weight, requests=max_labelled, seed=seed)
        to_canary = window.variants == "challenger"
        challenger_so_far = np.cumsum(to_canary)
        found = Replay(seed, None, None, None, None)
        for labelled in range(step, max_labelled + 1, step):
            challenger_rows = int(challenger_so_far[labelled - 1])
            if min(challenger_rows, labelled - challenger_rows) < config.min_labels:
                continue  # the check says insufficient_labels without looking: no need to ask it
            result = compare_canary(
                _first(window, labelled),
                champion=1,
                challenger=2,
                problem_type=problem_type,
                classes=list(classes),
                config=config,
                seed=seed,
                resamples=resamples,
            )
            if result.decided:
                found = Replay(seed, labelled, result.champion.labels, result.challenger.labels, result.verdict)
                break
        replays.append(found)
    return replays


def _first(window: JoinedHour, rows: int) -> JoinedHour:
    return select(window, np.arange(window.size) < rows)


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


def _percentile(values: list[int], q: float) -> str:
    return f"{np.percentile(values, q):.0f}" if values else "-"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--weights", type=float, nargs="+", default=[0.5, 0.2, 0.1], help="canary shares")
    parser.add_argument("--seeds", type=int, default=100, help="replays per pair and weight")
    parser.add_argument("--metric", default="accuracy", help="the A/B metric (the demo's default: accuracy)")
    parser.add_argument("--min-labels", type=int, nargs="+", default=[50], help="ab_test.min_labels (50 default)")
    parser.add_argument("--step", type=int, default=10, help="labelled rows between two looks of the check")
    parser.add_argument(
        "--canary-rows", type=int, default=1000, help="replay until the canary answered about this many rows"
    )
    args = parser.parse_args(argv)
    answers, truth, classes = demo_models()
    champion = answers[0]
    # The champion as its own canary: every decision is a false one (with a look every `step` rows).
    same = Answers("the champion itself (no difference)", champion.predictions, champion.probabilities)
    metric: ABTestMetric = args.metric
    print(
        "| challenger | accuracy (champion vs it) | canary weight | min_labels | labelled rows to decide: "
        "median | 90th percentile | challenger's rows (median) | verdicts |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for challenger in [*answers[1:], same]:
        for min_labels in args.min_labels:
            config = ABTestConfig(metric=metric, min_labels=min_labels)
            for weight in args.weights:
                replays = labels_to_decide(
                    champion,
                    challenger,
                    truth,
                    classes,
                    weight=weight,
                    config=config,
                    seeds=range(args.seeds),
                    step=args.step,
                    max_labelled=int(args.canary_rows / weight),
                )
                decided = [r.labelled for r in replays if r.labelled is not None]
                canary = [r.challenger_rows for r in replays if r.challenger_rows is not None]
                verdicts = Counter(r.verdict or "undecided" for r in replays)
                print(
                    f"| {challenger.name} | {champion.accuracy(truth):.3f} vs {challenger.accuracy(truth):.3f} "
                    f"| {weight:g} | {min_labels} | {_percentile(decided, 50)} | {_percentile(decided, 90)} "
                    f"| {_percentile(canary, 50)} | {dict(sorted(verdicts.items()))} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
